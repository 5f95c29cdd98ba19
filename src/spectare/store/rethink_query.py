"""ReQL building blocks of the RethinkDB store: documents, conditions, index keys, scans.

Pure functions of their arguments (no connection): the store composes them into the
single queries it sends. Times are stored as plain floats (epoch seconds), as in the
SQLite backend, so the compound indexes sort them numerically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from typing import Any

from rethinkdb import r

from spectare.store.records import MAX_SEGMENT_SECONDS, CameraRecord, Event, Footage

#: A ReQL term (query or expression), e.g. the document inside a write function.
Term = Any
Doc = dict[str, Any]

#: The field a footage row carries while its counting is unfinished (the camera's id,
#: so that one index lookup finds a camera's unfinished rows).
PENDING = "pending"

_CAMERA_FLOATS = ("grabbed_at", "heartbeat", "seconds", "oldest_start", "newest_end",
                  "last_segment_at")  # fmt: skip
_FOOTAGE_FLOATS = ("start", "end", "duration", "motion")
_EVENT_FLOATS = ("start", "end", "score")


def footage_by_camera_start(row: Term) -> Term:
    """The footage index key; the id breaks ties so that (start, id) is a total order
    for the cursor."""
    return [row["camera"], row["start"], row["id"]]


def events_by_camera_start(row: Term) -> Term:
    """The events index key."""
    return [row["camera"], row["start"]]


# -- documents ----------------------------------------------------------------------------


def floats(values: Doc, names: Sequence[str]) -> Doc:
    """``values`` with ``names`` as floats: the server prints integral numbers without
    a fraction, which json reads back as int."""
    return {k: float(v) if k in names and v is not None else v for k, v in values.items()}


def new_camera(camera: str) -> Doc:
    """A whole camera row with every field at its default; rows are only ever created
    whole, so write functions can read any field without ``default()``."""
    # footage_rev counts the writes that add or remove footage, so that recomputing
    # oldest_start or the counters can tell whether it raced one. recount_needed marks
    # counters that an interrupted write may have left wrong.
    return {
        **asdict(CameraRecord(id=camera, display_name=camera)),
        "footage_rev": 0,
        "recount_needed": False,
    }


def camera_record(doc: Doc) -> CameraRecord:
    """A camera row as the record the interface returns."""
    names = {f.name for f in fields(CameraRecord)}
    return CameraRecord(**floats({k: v for k, v in doc.items() if k in names}, _CAMERA_FLOATS))


def footage_doc(footage: Footage) -> Doc:
    """The row of a finished, counted segment."""
    return floats(asdict(footage), _FOOTAGE_FLOATS)


def footage_record(doc: Doc) -> Footage:
    """A footage row as the record the interface returns."""
    return Footage(**floats({f.name: doc.get(f.name) for f in fields(Footage)}, _FOOTAGE_FLOATS))


def event_doc(event: Event) -> Doc:
    """An event's row."""
    return floats(asdict(event), _EVENT_FLOATS)


def event_record(doc: Doc) -> Event:
    """An event row as the record the interface returns."""
    return Event(**floats({f.name: doc[f.name] for f in fields(Event)}, _EVENT_FLOATS))


# -- conditions ---------------------------------------------------------------------------
# Conditions that may meet null are written with r.branch, which evaluates lazily.


def older_than(value: Term, cutoff: float) -> Term:
    """``value`` (a heartbeat) is missing or before ``cutoff``."""
    return r.branch(value.eq(None), True, value.lt(cutoff))


def free_or_stale(row: Term, cutoff: float) -> Term:
    """Nobody holds the camera, or its holder's heartbeat is stale."""
    return row["worker"].eq(None) | older_than(row["heartbeat"], cutoff)


def least(value: Term, other: float) -> Term:
    """min(value, other), value possibly null."""
    return r.branch(value.eq(None), other, r.branch(value.lt(other), value, other))


def greatest(value: Term, other: float) -> Term:
    """max(value, other), value possibly null."""
    return r.branch(value.eq(None), other, r.branch(value.gt(other), value, other))


def at_least_zero(value: Term) -> Term:
    """max(value, 0)."""
    return r.branch(value.gt(0), value, 0)


def was_freed(old: Doc | None, new: Doc | None) -> bool:
    """A write took the hold off a row that had one."""
    return (
        old is not None
        and old.get("worker") is not None
        and new is not None
        and new.get("worker") is None
    )


def set_unless_moved(rev: int, values: Doc) -> Callable[[Term], Term]:
    """A row change merging ``values``, only while footage_rev is still ``rev``."""
    return lambda row: r.branch(row["footage_rev"].eq(rev), row.merge(values), row)


# -- index scans --------------------------------------------------------------------------


def index_key(prefix: list[Any], value: Any) -> Any:
    """An index key: ``value`` after the compound index's leading fields, if any."""
    return [*prefix, value] if prefix else value


def start_range(start: float | None, end: float | None) -> tuple[Any, Any]:
    """Bounds [lo, hi) on ``start`` of rows that may overlap [start, end).

    A row overlapping ``start`` began at most MAX_SEGMENT_SECONDS before it; the exact
    condition (its end after ``start``) is filtered after the index scan.
    """
    lo = r.minval if start is None else start - MAX_SEGMENT_SECONDS
    hi = r.maxval if end is None else end
    return lo, hi


def overlapping(
    table: Term,
    index: str,
    prefix: list[Any],
    start: float | None,
    end: float | None,
    descending: bool = False,
    after: tuple[float, str] | None = None,
    floor: float | Term | None = None,
) -> Term:
    """Rows overlapping the time range [start, end), in index order: ONE range scan of
    ``index``, whose keys are ``prefix`` followed by start (and, for footage, id).

    ``after`` is a (start, id) cursor position to continue past, in either
    direction; it is folded into the scan's bounds, not filtered. ``floor`` (with no
    ``start``) is a lowest start to read from.
    """
    lo, hi = start_range(start, end)
    if start is None and floor is not None:
        lo = floor
    lower, upper, left_bound = index_key(prefix, lo), index_key(prefix, hi), "closed"
    # [*prefix, x] sorts before every [*prefix, x, id], so the bounds above include
    # start == lo and exclude start == hi whatever follows start in the key.
    if after is not None and not descending and (start is None or after[0] >= lo):
        lower, left_bound = [*prefix, *after], "open"
    if after is not None and descending and (end is None or after[0] < hi):
        upper = [*prefix, *after]
    query = table.between(
        lower, upper, index=index, left_bound=left_bound, right_bound="open"
    ).order_by(index=r.desc(index) if descending else index)
    if start is not None:
        query = query.filter(lambda row: row["end"] > start)
    return query


def camera_footage(footage: Term, camera: str) -> Term:
    """Every footage row of ``camera``: one range of the camera_start index."""
    return footage.between([camera, r.minval], [camera, r.maxval], index="camera_start")


def totals(rows: Term) -> Term:
    """What a camera's counters must say about ``rows`` (its footage), computed by the
    server in one query."""
    return r.expr(
        {
            "segments": rows.count(),
            "bytes": rows.sum("bytes"),
            "seconds": rows.sum("duration"),
            "newest_end": r.branch(rows.is_empty(), None, rows.max("end")["end"]),
        }
    )
