"""Response bodies of the API, as pydantic models: one source for JSON and OpenAPI.

Times are epoch seconds (UTC, fractional). Every model marks all its fields as
required in the serialised schema (they are always present, ``null`` when unknown),
so clients and the schema conformance tests can rely on them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from spectare.api.stats import FootageSummary, is_orphaned
from spectare.redact import mask_url, scrub
from spectare.store.records import CameraRecord, Event, Footage, Page

#: Serialises plain data (dicts, lists, numbers) to JSON bytes in Rust.
_ANY: TypeAdapter[Any] = TypeAdapter(Any)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)


class Error(_Out):
    """Every error: the HTTP status, its name, and what to do about it."""

    status: int = Field(description="The HTTP status code, repeated.")
    error: str = Field(description="The status's name, e.g. Not Found.")
    message: str = Field(description="What went wrong and, where it helps, what to do next.")


class Health(_Out):
    """Liveness or readiness."""

    status: Literal["ok", "ready", "unavailable"]
    message: str | None = Field(default=None, description="Why not ready, if not.")


class CameraLinks(_Out):
    """Where to find more about a camera."""

    self: str
    footage: str
    snapshot: str
    page: str = Field(description="The camera's page in the web UI.")


class CameraOut(_Out):
    """A camera: spec mirror (URL masked), hold, state, counters and footage summary."""

    id: str
    display_name: str
    enabled: bool
    url: str = Field(description="Stream URL, password masked.")
    segment_seconds: int
    phase: str = Field(description="Pending, Queued, Starting, Recording, Reconnecting, ...")
    message: str | None
    worker: str | None = Field(description="The worker holding the camera, if any.")
    grabbed_at: float | None
    heartbeat: float | None
    orphaned: bool = Field(description="Held, but the holder's heartbeat is stale.")
    restarts: int
    reconnects: int
    last_segment_at: float | None = Field(description="When the newest segment was indexed.")
    footage: FootageSummary
    links: CameraLinks

    @classmethod
    def of(cls, camera: CameraRecord, now: float, stale_seconds: float) -> CameraOut:
        """The public view of a camera's row; URL and message are masked again here."""
        return cls(
            id=camera.id,
            display_name=scrub(camera.display_name or camera.id),
            enabled=camera.enabled,
            url=mask_url(camera.url),
            segment_seconds=camera.segment_seconds,
            phase=camera.phase,
            message=None if camera.message is None else scrub(camera.message),
            worker=camera.worker,
            grabbed_at=camera.grabbed_at,
            heartbeat=camera.heartbeat,
            orphaned=is_orphaned(camera, now, stale_seconds),
            restarts=camera.restarts,
            reconnects=camera.reconnects,
            last_segment_at=camera.last_segment_at,
            footage=FootageSummary.of(camera),
            links=CameraLinks(
                self=f"/api/v1/cameras/{camera.id}",
                footage=f"/api/v1/cameras/{camera.id}/footage",
                snapshot=f"/api/v1/cameras/{camera.id}/snapshot",
                page=f"/cameras/{camera.id}",
            ),
        )


class CameraList(_Out):
    """Every camera, by id."""

    items: list[CameraOut]


class FootageLinks(_Out):
    """Where a segment's media is served."""

    self: str
    video: str
    thumbnail: str | None = Field(description="null when the segment has no thumbnail.")


class FootageOut(_Out):
    """One recorded segment."""

    id: str = Field(description="The segment's UUIDv7, also its file name.")
    camera: str
    path: str = Field(description="File path relative to the footage root.")
    start: float
    end: float
    duration: float
    bytes: int
    container: str
    codec: str | None
    width: int | None
    height: int | None
    motion: float | None = Field(description="Motion score of the segment, 0..1.")
    thumbnail: str | None = Field(description="Thumbnail path relative to the footage root.")
    links: FootageLinks

    @classmethod
    def of(cls, footage: Footage) -> FootageOut:
        """The public view of a footage row."""
        return cls.model_validate(footage_row(footage))


def footage_row(footage: Footage) -> dict[str, Any]:
    """A footage row as JSON-ready data in the shape of :class:`FootageOut`.

    Pages of up to a thousand rows are serialised from these directly: validating a
    model per row would cost several times the query. The tests hold the two equal.
    """
    base = f"/api/v1/footage/{footage.id}"
    return {
        **vars(footage),
        "links": {
            "self": base,
            "video": f"{base}/video",
            "thumbnail": f"{base}/thumbnail" if footage.thumbnail else None,
        },
    }


class PageLinks(_Out):
    """The next page, if there is one."""

    next: str | None = Field(description="URL of the next page; null on the last page.")


class FootagePage(_Out):
    """One page of a camera's segments, ordered by start; follow ``cursor`` for more."""

    items: list[FootageOut]
    cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end.")
    links: PageLinks

    @staticmethod
    def encode(page: Page, next_url: str | None) -> bytes:
        """A store page as this model's JSON, without a model per row (see footage_row)."""
        return _ANY.dump_json(
            {
                "items": [footage_row(item) for item in page.items],
                "cursor": page.cursor,
                "links": {"next": next_url},
            }
        )


class EventOut(_Out):
    """A motion event, seen in one segment."""

    id: str
    camera: str
    footage_id: str
    start: float
    end: float
    score: float
    video: str = Field(description="URL of the segment the event was seen in.")

    @classmethod
    def of(cls, event: Event) -> EventOut:
        """The public view of an event row."""
        return cls.model_validate(event_row(event))


def event_row(event: Event) -> dict[str, Any]:
    """An event as JSON-ready data in the shape of :class:`EventOut` (as footage_row)."""
    return {**vars(event), "video": f"/api/v1/footage/{event.footage_id}/video"}


class EventList(_Out):
    """Events overlapping the range, oldest first."""

    items: list[EventOut]
    truncated: bool = Field(description="True when ``limit`` cut the list short.")

    @staticmethod
    def encode(events: list[Event], truncated: bool) -> bytes:
        """Events as this model's JSON, without a model per event."""
        return _ANY.dump_json({"items": [event_row(e) for e in events], "truncated": truncated})


class Released(_Out):
    """The outcome of a force-release."""

    camera: str
    released: bool = Field(description="False when no worker held the camera.")
    worker: str | None = Field(description="The worker that held the camera before.")
