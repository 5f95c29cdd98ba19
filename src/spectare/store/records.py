"""Records kept in the footage store. Times are epoch seconds (UTC)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

#: Footage overlapping a time range is found by an index scan on start that reaches
#: back by the longest possible segment (segmentSeconds <= 3600, plus slack).
MAX_SEGMENT_SECONDS = 3700.0


@dataclass(frozen=True)
class CameraInfo:
    """What the pool or operator mirrors from a Camera spec; never credentials."""

    id: str
    display_name: str
    enabled: bool = True
    url: str = ""  # masked
    segment_seconds: int = 300


@dataclass(frozen=True)
class CameraRecord:
    """A camera's row: spec mirror, hold, state and counters kept up to date on write."""

    id: str
    display_name: str = ""
    enabled: bool = True
    url: str = ""
    segment_seconds: int = 300
    worker: str | None = None
    grabbed_at: float | None = None
    heartbeat: float | None = None
    phase: str = "Pending"
    message: str | None = None
    restarts: int = 0
    reconnects: int = 0
    segments: int = 0
    bytes: int = 0
    seconds: float = 0.0
    oldest_start: float | None = None
    newest_end: float | None = None
    last_segment_at: float | None = None


@dataclass(frozen=True)
class Footage:
    """One recorded segment; ``id`` is its UUIDv7, ``path`` relative to the footage root."""

    id: str
    camera: str
    path: str
    start: float
    end: float
    duration: float
    bytes: int
    container: str
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    motion: float | None = None
    thumbnail: str | None = None


@dataclass(frozen=True)
class Event:
    """A motion event, tied to the segment it was seen in."""

    id: str
    camera: str
    footage_id: str
    start: float
    end: float
    score: float


@dataclass(frozen=True)
class Page:
    """One page of footage and the cursor of the next, if any."""

    items: list[Footage] = field(default_factory=list)
    cursor: str | None = None


def encode_cursor(item: Footage) -> str:
    """An opaque cursor positioned just past ``item``."""
    raw = f"{item.start!r}|{item.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """(start, id) of a cursor; ValueError when it was not made by ``encode_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        start, ident = raw.split("|", 1)
        return float(start), ident
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("invalid cursor") from exc
