"""Streamed video: a camera live, and any time range of its footage as one MP4."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app

from spectare.api.context import services
from spectare.api.errors import ApiError
from spectare.api.export import ExportFailed, ExportStream, plan
from spectare.api.params import ExportQuery, query
from spectare.api.routes.common import NOT_FOUND, require_camera
from spectare.api.schemas import Error
from spectare.api.spec import Body, Reply, operation
from spectare.api.streams import Closing, Streams, streams_of
from spectare.live.feed import LiveFeed, Viewer
from spectare.live.hub import NoSource
from spectare.logs import get_logger
from spectare.store import Footage, Store

log = get_logger(__name__)
bp = Blueprint("streams", __name__)

#: How long a new live view waits for the camera's first picture.
START_SECONDS = 15.0
#: A live view with no new fragment for this long ends (the browser reconnects).
IDLE_SECONDS = 20.0

_MP4 = Body({"video/mp4": {"type": "string", "contentMediaType": "video/mp4"}}, "MP4 video.")
_BUSY = Reply("Every stream slot is taken, or the stream is unknown here; retry later.", Error)


def _slot(streams: Streams) -> None:
    if not streams.take_slot():
        raise ApiError(
            503,
            "too many live views and exports are running on this server; retry shortly",
            {"Retry-After": "10"},
        )


@operation(
    bp,
    "/api/v1/cameras/<name>/live",
    summary="The camera live",
    description="Fragmented MP4 of the camera's video as it arrives, never re-encoded, for "
    "Media Source Extensions (the Content-Type names the codec). Every viewer of a camera "
    "shares one connection to it, closed when the last viewer leaves.",
    tag="cameras",
    access="read",
    replies={
        200: Reply("An endless stream: init segment, then fragments.", body=_MP4),
        404: NOT_FOUND,
        409: Reply("The camera is disabled.", Error),
        502: Reply("The camera refused or dropped the stream.", Error),
        503: _BUSY,
        504: Reply("The camera sent no video in time.", Error),
    },
)
def live(name: str) -> Response:
    """Join (or start) the camera's live feed."""
    camera = require_camera(services().store, name)
    if camera is not None and not camera.enabled:
        raise ApiError(409, f"camera {name!r} is disabled (enabled: false in its spec)")
    streams = streams_of(current_app)
    _slot(streams)
    try:
        feed, viewer = streams.hub.watch(name)
    except (NoSource, RuntimeError) as exc:
        streams.release_slot()
        raise ApiError(503, f"no live view of camera {name!r}: {exc}") from None
    if not feed.ready.wait(START_SECONDS) or feed.init is None:
        feed.leave(viewer)
        streams.release_slot()
        if feed.error:
            raise ApiError(502, f"camera {name!r} could not be streamed: {feed.error}")
        raise ApiError(504, f"camera {name!r} sent no video within {START_SECONDS:g} s")
    log.info("live.viewer_joined", camera=name, viewers=feed.viewer_count())

    def leave() -> None:
        feed.leave(viewer)
        streams.release_slot()
        log.info("live.viewer_left", camera=name, dropped=viewer.dropped)

    response = Response(Closing(_fragments(feed, viewer), leave))
    response.headers["Content-Type"] = f'video/mp4; codecs="{feed.codec or "avc1"}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _fragments(feed: LiveFeed, viewer: Viewer) -> Iterator[bytes]:
    assert feed.init is not None
    yield feed.init
    while (fragment := viewer.next(IDLE_SECONDS)) is not None:
        yield fragment


def _segments(store: Store, name: str, start: float, end: float) -> Iterator[Footage]:
    cursor = None
    while True:
        page = store.footage_range(name, start, end, limit=1000, cursor=cursor)
        yield from page.items
        if page.cursor is None:
            return
        cursor = page.cursor


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y%m%dT%H%M%SZ")


@operation(
    bp,
    "/api/v1/cameras/<name>/export",
    summary="A time range as one MP4",
    description="The camera's footage from ``from`` to ``to`` across segments, by stream "
    "copy, as one fragmented MP4 with the moov first (it plays while it downloads). It "
    "starts at the keyframe at or before ``from``; gaps in the footage are skipped.",
    tag="footage",
    access="read",
    query=ExportQuery,
    replies={
        200: Reply(
            "The MP4, streamed.",
            body=_MP4,
            headers={"Content-Disposition": "attachment; filename=<camera>-<from>-<to>.mp4"},
        ),
        404: Reply("Unknown camera, or no footage in the range.", Error),
        422: Reply("from is not before to, or the range is longer than allowed.", Error),
        503: _BUSY,
    },
)
def export(name: str) -> Response:
    """Stream one MP4 of the range."""
    q = query(ExportQuery)
    ctx = services()
    if q.from_ >= q.to:
        raise ApiError(422, "bad range: from must be before to")
    limit = ctx.settings.api_export_max_seconds
    if q.to - q.from_ > limit:
        raise ApiError(
            422,
            f"the range is {q.to - q.from_:g} s, longer than the {limit:g} s an export may "
            "cover (SPECTARE_API_EXPORT_MAX_SECONDS); export it in parts",
        )
    store = ctx.store
    require_camera(store, name)
    pieces = plan(_segments(store, name, q.from_, q.to), q.from_, q.to, ctx.footage_root)
    if not pieces:
        raise ApiError(404, f"camera {name!r} has no footage between {q.from_:g} and {q.to:g}")
    streams = streams_of(current_app)
    _slot(streams)
    try:
        stream = ExportStream(ctx.settings.ffmpeg, pieces)
    except OSError as exc:
        streams.release_slot()
        raise ApiError(503, f"exports need ffmpeg, which cannot run here ({exc})") from None
    streams.add_export(stream)

    def finish() -> None:
        stream.close()
        streams.drop_export(stream)
        streams.release_slot()

    try:
        stream.begin()
    except ExportFailed as exc:
        finish()
        log.error("export.failed", camera=name, error=str(exc))
        raise ApiError(500, f"the export failed: {exc}") from None
    log.info("export.started", camera=name, start=q.from_, end=q.to, files=len(pieces))
    filename = f"{name}-{_stamp(q.from_)}-{_stamp(q.to)}.mp4"
    response = Response(Closing(iter(stream), finish), mimetype="video/mp4")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
