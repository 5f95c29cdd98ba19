"""Reading fragmented MP4 at the level of its boxes: pure functions, no I/O of their own.

The live view cuts ffmpeg's fragmented MP4 into the init segment (``ftyp`` + ``moov``)
and media fragments (``moof`` + ``mdat``), and must know which fragments open with a
keyframe (a viewer may start only there) and which codec the stream carries (a browser
asks for it before it accepts the first byte).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: A box bigger than this is not a live fragment: the stream is refused rather than buffered.
MAX_BOX_BYTES = 64 * 1024 * 1024
#: ``sample_is_non_sync_sample`` of ISO/IEC 14496-12 sample flags.
_NON_SYNC = 0x00010000
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex"}


class Mp4Error(ValueError):
    """The bytes are not the fragmented MP4 expected."""


@dataclass(frozen=True)
class Box:
    """One top-level box: its type and all its bytes, header included."""

    kind: bytes
    data: bytes


def read_boxes(read: Callable[[int], bytes]) -> Iterator[Box]:
    """Top-level boxes from ``read(n)`` (a pipe's ``read``), until a clean end of stream."""
    while True:
        header = _read_exactly(read, 8, allow_eof=True)
        if not header:
            return
        size, kind = struct.unpack(">I4s", header)
        if size == 1:
            extended = _read_exactly(read, 8)
            header += extended
            (size,) = struct.unpack(">Q", extended)
        if size < len(header) or size > MAX_BOX_BYTES:
            raise Mp4Error(f"box {kind!r} of {size} bytes cannot be a live fragment")
        yield Box(kind, header + _read_exactly(read, size - len(header)))


def _read_exactly(read: Callable[[int], bytes], count: int, allow_eof: bool = False) -> bytes:
    parts, missing = [], count
    while missing:
        chunk = read(missing)
        if not chunk:
            if allow_eof and missing == count:
                return b""
            raise Mp4Error(f"the stream ended inside a box ({count - missing}/{count} bytes)")
        parts.append(chunk)
        missing -= len(chunk)
    return b"".join(parts)


def children(payload: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each box inside ``payload``."""
    offset = 0
    while offset + 8 <= len(payload):
        size, kind = struct.unpack_from(">I4s", payload, offset)
        start = offset + 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", payload, start)
            start += 8
        elif size == 0:
            size = len(payload) - offset
        if size < start - offset or offset + size > len(payload):
            raise Mp4Error(f"box {kind!r} overruns its parent")
        yield kind, payload[start : offset + size]
        offset += size


def find(payload: bytes, path: list[bytes]) -> bytes | None:
    """The payload of the first box along ``path`` (e.g. ``[b"trak", b"mdia"]``)."""
    for kind, inner in children(payload):
        if kind == path[0]:
            return inner if len(path) == 1 else find(inner, path[1:])
    return None


def _payload(box: Box) -> bytes:
    (size,) = struct.unpack_from(">I", box.data)
    return box.data[16:] if size == 1 else box.data[8:]


def starts_with_keyframe(moof: Box, default_flags: int | None = None) -> bool:
    """Whether a ``moof``'s first sample is a sync sample (a keyframe).

    The flags come from ``trun``'s first-sample flags, else its first sample's own,
    else ``tfhd``'s default, else ``default_flags`` (the ``trex`` of the init segment).
    """
    traf = find(_payload(moof), [b"traf"])
    if traf is None:
        return False
    flags = default_flags
    tfhd = find(traf, [b"tfhd"])
    if tfhd is not None and len(tfhd) >= 8:
        tf_flags = int.from_bytes(tfhd[1:4], "big")
        offset = 8 + (8 if tf_flags & 0x1 else 0)
        offset += sum(4 for bit in (0x2, 0x8, 0x10) if tf_flags & bit)
        if tf_flags & 0x20 and len(tfhd) >= offset + 4:
            (flags,) = struct.unpack_from(">I", tfhd, offset)
    trun = find(traf, [b"trun"])
    if trun is not None and len(trun) >= 8:
        tr_flags = int.from_bytes(trun[1:4], "big")
        (count,) = struct.unpack_from(">I", trun, 4)
        offset = 8 + (4 if tr_flags & 0x1 else 0)
        if tr_flags & 0x4:
            (flags,) = struct.unpack_from(">I", trun, offset)
        elif tr_flags & 0x400 and count:
            offset += sum(4 for bit in (0x100, 0x200) if tr_flags & bit)
            (flags,) = struct.unpack_from(">I", trun, offset)
    return flags is not None and not flags & _NON_SYNC


def trex_default_flags(moov: Box) -> int | None:
    """The default sample flags of the first track's ``trex``, if the init segment has one."""
    trex = find(_payload(moov), [b"mvex", b"trex"])
    if trex is None or len(trex) < 24:
        return None
    (flags,) = struct.unpack_from(">I", trex, 20)
    return int(flags)


def codec_of(moov: Box) -> str | None:
    """The RFC 6381 codec of the first track (``avc1.64001f``), as MSE wants it."""
    stsd = find(_payload(moov), [b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    if stsd is None or len(stsd) < 16:
        return None
    entry = stsd[8:]
    size, kind = struct.unpack_from(">I4s", entry)
    name = str(kind.decode("latin-1"))
    if kind in (b"avc1", b"avc3"):
        # A visual sample entry's fixed part is 78 bytes; its boxes (avcC) follow.
        avcc = find(entry[8 + 78 : size], [b"avcC"])
        if avcc is not None and len(avcc) >= 4:
            return f"{name}.{avcc[1]:02x}{avcc[2]:02x}{avcc[3]:02x}"
    return name
