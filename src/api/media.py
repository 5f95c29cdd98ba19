"""Serving footage files: videos with HTTP Range, thumbnails and snapshots.

Werkzeug streams the file (through the server's ``wsgi.file_wrapper``) and handles
ETag, ``If-None-Match`` and ``If-Range``. The Range header itself is resolved here
first, by RFC 9110, because browsers seek with it and werkzeug refuses a suffix
longer than the file (which must return the whole file) and answers multi-range
requests with 416 (they are served whole here, which the RFC allows).
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Response, request, send_file

from spectare.api.errors import ApiError
from spectare.logs import get_logger

log = get_logger(__name__)

_MIMETYPES = {
    "mp4": "video/mp4",
    "m4s": "video/mp4",
    "ts": "video/mp2t",
    "mkv": "video/x-matroska",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
}
VIDEO_TYPES = ("video/mp4", "video/mp2t", "video/x-matroska", "application/octet-stream")

_INT_RANGE = re.compile(r"^(\d+)-(\d*)$")
_SUFFIX_RANGE = re.compile(r"^-(\d+)$")


class RangeNotSatisfiable(ValueError):
    """The Range header is for bytes but invalid or outside the file."""


def mimetype_for(path: str, container: str | None = None) -> str:
    """The media type of a footage file, by its container or else its suffix."""
    for key in (container, Path(path).suffix.lstrip(".")):
        if key and key.lower() in _MIMETYPES:
            return _MIMETYPES[key.lower()]
    return "application/octet-stream"


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range [first, last] a Range header asks of ``size`` bytes.

    None when the header is to be ignored (another unit, or several ranges: the
    whole file is sent). RangeNotSatisfiable when it is a bytes range that is
    malformed or does not overlap the file.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs = [part.strip() for part in spec.split(",")]
    if len(specs) > 1 and all(specs):
        return None
    text = specs[0]
    if match := _INT_RANGE.match(text):
        first = int(match[1])
        last = int(match[2]) if match[2] else size - 1
        if match[2] and last < first:
            raise RangeNotSatisfiable(f"range {text!r} ends before it starts")
        if first >= size:
            raise RangeNotSatisfiable(f"range {text!r} starts beyond the {size} bytes")
        return first, min(last, size - 1)
    if match := _SUFFIX_RANGE.match(text):
        length = int(match[1])
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(f"range {text!r} selects nothing")
        return max(0, size - length), size - 1
    raise RangeNotSatisfiable(f"range {text!r} is not first-last, first- or -suffix")


def send_media(path: Path, mimetype: str, *, immutable: bool) -> Response:
    """``path`` as a (possibly partial) response; 404 if the file is gone, 416 if the range is bad.

    ``immutable``: the file never changes under its name (segments, thumbnails), so
    clients may keep it; otherwise (the latest snapshot) they must revalidate.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ApiError(404, f"no file {path.name}: it was indexed but is gone from disk") from None
    header = request.headers.get("Range")
    if header is not None:
        try:
            wanted = byte_range(header, size)
        except RangeNotSatisfiable as exc:
            raise ApiError(416, f"bad range: {exc}", {"Content-Range": f"bytes */{size}"}) from None
        # Hand werkzeug a canonical single range, or none at all.
        if wanted is None:
            request.environ.pop("HTTP_RANGE", None)
        else:
            request.environ["HTTP_RANGE"] = f"bytes={wanted[0]}-{wanted[1]}"
    response = send_file(
        path, mimetype=mimetype, conditional=True, etag=True, max_age=86400 if immutable else None
    )
    if immutable:
        # private: with read auth on, shared caches must not keep what a token unlocked.
        response.cache_control.public = False
        response.cache_control.private = True
    return response
