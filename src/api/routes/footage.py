"""Footage: a camera's segments by time, one segment, its video and its thumbnail."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from flask import Blueprint, Response

from spectare.api.context import services
from spectare.api.errors import JSON, ApiError, json_response
from spectare.api.media import VIDEO_TYPES, mimetype_for, send_media
from spectare.api.params import FootageQuery, check_range, query
from spectare.api.routes.common import JPEG, NOT_FOUND, require_camera
from spectare.api.schemas import Error, FootageOut, FootagePage
from spectare.api.snapshots import thumbnail as make_thumbnail
from spectare.api.spec import Body, Reply, operation
from spectare.layout import resolve
from spectare.logs import get_logger
from spectare.store import Footage
from spectare.store.records import decode_cursor

log = get_logger(__name__)
bp = Blueprint("footage", __name__)

_VIDEO = Body(
    {kind: {"type": "string", "contentMediaType": kind} for kind in VIDEO_TYPES},
    "The segment's file, as recorded.",
)


def _next_url(name: str, q: FootageQuery, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params: dict[str, str | int | float] = {"limit": q.limit, "order": q.order, "cursor": cursor}
    if q.from_ is not None:
        params["from"] = q.from_
    if q.to is not None:
        params["to"] = q.to
    return f"/api/v1/cameras/{name}/footage?{urlencode(params)}"


@operation(
    bp,
    "/api/v1/cameras/<name>/footage",
    summary="A camera's footage by time",
    description="Segments overlapping [from, to), by start time, one page at a time: "
    "follow ``cursor`` (or ``links.next``) until it is null. ``order=desc&limit=1`` is "
    "the newest segment.",
    tag="footage",
    access="read",
    query=FootageQuery,
    replies={200: Reply("One page of segments.", FootagePage), 404: NOT_FOUND},
)
def camera_footage(name: str) -> Response:
    """One page of a camera's segments."""
    q = query(FootageQuery)
    check_range(q.from_, q.to)
    if q.cursor is not None:
        try:
            decode_cursor(q.cursor)
        except ValueError:
            raise ApiError(
                400, "bad parameter cursor: pass the cursor of the previous page unchanged"
            ) from None
    store = services().store
    page = store.footage_range(
        name, q.from_, q.to, limit=q.limit, cursor=q.cursor, descending=q.order == "desc"
    )
    if not page.items:
        require_camera(store, name)  # an empty page of a camera that exists is fine
    return Response(FootagePage.encode(page, _next_url(name, q, page.cursor)), mimetype=JSON)


def _footage(footage_id: str) -> Footage:
    footage = services().store.get_footage(footage_id)
    if footage is None:
        raise ApiError(
            404, f"no footage {footage_id!r}: it never existed or retention has deleted it"
        )
    return footage


def _file(relpath: str) -> Path:
    try:
        return resolve(services().footage_root, relpath)
    except ValueError:
        # Only a corrupt or forged index row can get here; never serve outside the root.
        log.warning("api.footage_path_outside_root", path=relpath)
        raise ApiError(
            404, "the indexed path of this footage is outside the footage root"
        ) from None


@operation(
    bp,
    "/api/v1/footage/<footage_id>",
    summary="One segment's metadata",
    tag="footage",
    access="read",
    replies={200: Reply("The segment.", FootageOut), 404: NOT_FOUND},
)
def get_footage(footage_id: str) -> Response:
    """One segment."""
    return json_response(FootageOut.of(_footage(footage_id)))


@operation(
    bp,
    "/api/v1/footage/<footage_id>/video",
    summary="One segment's video",
    description="The file as recorded. Supports HTTP Range (206 with Content-Range); "
    "without Range the whole file (200). Browsers seek with Range.",
    tag="footage",
    access="read",
    headers={
        "Range": {"type": "string", "description": "bytes=first-last, bytes=first- or bytes=-n"}
    },
    replies={
        200: Reply("The whole file.", body=_VIDEO, headers={"Accept-Ranges": "bytes"}),
        206: Reply(
            "The range asked for.",
            body=_VIDEO,
            headers={"Content-Range": "bytes first-last/size", "Accept-Ranges": "bytes"},
        ),
        304: Reply("Not modified since the ETag given in If-None-Match."),
        404: NOT_FOUND,
        416: Reply(
            "The range is malformed or outside the file.",
            Error,
            headers={"Content-Range": "bytes */size"},
        ),
    },
)
def video(footage_id: str) -> Response:
    """A segment's file, whole or a byte range of it."""
    footage = _footage(footage_id)
    return send_media(
        _file(footage.path), mimetype_for(footage.path, footage.container), immutable=True
    )


@operation(
    bp,
    "/api/v1/footage/<footage_id>/thumbnail",
    summary="One segment's thumbnail",
    description="Its first keyframe, made when first asked for and kept.",
    tag="footage",
    access="read",
    replies={
        200: Reply("The thumbnail.", body=JPEG),
        304: Reply("Not modified since the ETag given in If-None-Match."),
        404: NOT_FOUND,
    },
)
def thumbnail(footage_id: str) -> Response:
    """A segment's thumbnail."""
    footage = _footage(footage_id)
    if not footage.thumbnail:
        raise ApiError(404, f"footage {footage_id!r} has no thumbnail")
    segment = _file(footage.path)
    path = make_thumbnail(
        services().settings.ffmpeg, services().footage_root, segment, _file(footage.thumbnail)
    )
    if path is None:
        gone = "is gone from disk" if not segment.is_file() else "has no picture to show"
        raise ApiError(404, f"footage {footage_id!r} {gone}")
    return send_media(path, "image/jpeg", immutable=True)
