"""Motion events, by camera and time."""

from __future__ import annotations

from flask import Blueprint, Response

from spectare.api.context import services
from spectare.api.errors import JSON
from spectare.api.params import EventQuery, check_range, query
from spectare.api.routes.common import NOT_FOUND, require_camera
from spectare.api.schemas import EventList
from spectare.api.spec import Reply, operation

bp = Blueprint("events", __name__)


@operation(
    bp,
    "/api/v1/events",
    summary="Motion events",
    description="Events overlapping [from, to), oldest first, of one camera or all.",
    tag="events",
    access="read",
    query=EventQuery,
    replies={200: Reply("The events.", EventList), 404: NOT_FOUND},
)
def list_events() -> Response:
    """Motion events."""
    q = query(EventQuery)
    check_range(q.from_, q.to)
    store = services().store
    # One more than asked tells whether the list was cut short.
    events = store.list_events(q.camera, q.from_, q.to, limit=q.limit + 1)
    if q.camera is not None and not events:
        require_camera(store, q.camera)
    body = EventList.encode(events[: q.limit], truncated=len(events) > q.limit)
    return Response(body, mimetype=JSON)
