"""Footage and events in RethinkDB, counted so that a crash can never make counters drift.

A footage row and its camera's counters are two documents, and RethinkDB has no
transaction spanning them, so counting is made safe against a crash between them:
a footage row is inserted *pending* (it carries the ``pending`` field), counted,
then marked done; deleting footage first marks the camera ``recount_needed``.
Whoever later meets a pending row or the mark (a retried ``add_footage``, the next
count, a worker's recovery through ``reconcile``) recomputes that camera's counters
from its rows, which is exact however often it is repeated. Footage of a camera is
written by the one worker that holds it (``grab``), so a recount never races
another counting write of the camera.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rethinkdb import r

from spectare.store.base import StoreError
from spectare.store.records import Event, Footage, Page, decode_cursor, encode_cursor
from spectare.store.rethink_core import RethinkCore
from spectare.store.rethink_query import (
    PENDING,
    Doc,
    Term,
    at_least_zero,
    camera_footage,
    event_doc,
    event_record,
    footage_doc,
    footage_record,
    greatest,
    least,
    overlapping,
    set_unless_moved,
    totals,
)

#: How often recomputing ``oldest_start`` or the counters retries when footage of that
#: camera is added or removed between its read and its write.
REFRESH_ATTEMPTS = 5
#: Ids per query when asking which segments are indexed.
PRESENT_BATCH = 1000
#: How much wider than back-to-back segments the window of a last page is.
WINDOW_SLACK = 1.25


class RethinkFootage(RethinkCore):
    """Footage (crash-safe counting) and events."""

    def add_footage(self, footage: Footage, now: float) -> bool:
        # 1. The row goes in pending. Repeating the insert is harmless: a repeat that
        #    meets the row finishes its counting below.
        doc = {**footage_doc(footage), PENDING: footage.camera}
        if not self._insert_once("footage", doc, retry=True):
            stored = self._run(self._table("footage").get(footage.id))
            if stored is None or PENDING not in stored:
                return False  # indexed and counted before
            # An earlier add stopped between its writes: count by recounting (exact).
            self._recount(footage.camera)
            return True

        def count(row: Term) -> Term:
            return row.merge(
                {
                    "segments": row["segments"] + 1,
                    "bytes": row["bytes"] + footage.bytes,
                    "seconds": row["seconds"] + float(footage.duration),
                    "oldest_start": least(row["oldest_start"], float(footage.start)),
                    "newest_end": greatest(row["newest_end"], float(footage.end)),
                    "last_segment_at": now,
                    "footage_rev": row["footage_rev"] + 1,
                }
            )

        # 2. Count. Not repeated after a lost reply (it would count twice); if this
        #    fails, the row stays pending and the next look at it recounts.
        _, new = self._swap(footage.camera, count, create=True, retry=False)
        if new is not None and new.get("recount_needed"):
            self._recount(footage.camera)  # an earlier delete was interrupted
        # 3. Done: the row is no longer pending.
        self._done([footage.id])
        return True

    def _done(self, ids: Sequence[str]) -> None:
        """Mark footage rows counted."""
        # One row at a time: there is one, except when a recount finishes several.
        for footage_id in ids:
            self._write(
                self._table("footage")
                .get(footage_id)
                .replace(lambda row: r.branch(row.eq(None), None, row.without(PENDING))),
                retry=True,
            )

    def reconcile(self, camera: str) -> bool:
        """Recount ``camera`` if an interrupted write left its counters unsure."""
        record = self._run(self._table("cameras").get(camera))
        pending = self._rows(self._table("footage").get_all(camera, index=PENDING).limit(1))
        if not pending and not (record or {}).get("recount_needed"):
            return False
        self._recount(camera)
        return True

    def _recount(self, camera: str) -> None:
        """Set the camera's counters to what its footage rows say, then mark its pending
        rows counted. Exact and idempotent: a crash anywhere in it is mended by
        running it again."""
        for _ in range(REFRESH_ATTEMPTS):
            current = self._run(self._table("cameras").get(camera))
            pending = [
                row["id"]
                for row in self._rows(
                    self._table("footage").get_all(camera, index=PENDING).pluck("id")
                )
            ]
            values = self._run(totals(camera_footage(self._table("footage"), camera)))
            values["oldest_start"] = self._oldest_start(camera)
            values["recount_needed"] = False
            if current is None:
                self._swap(camera, _merging(values), create=True, retry=True)
                self._done(pending)
                return
            rev = int(current["footage_rev"])
            old, _ = self._swap(camera, set_unless_moved(rev, values), create=False, retry=True)
            if old is None or old["footage_rev"] == rev:
                self._done(pending)
                return
        raise StoreError(f"could not recount camera {camera}: its footage kept changing")

    def get_footage(self, footage_id: str) -> Footage | None:
        doc = self._run(self._table("footage").get(footage_id))
        return footage_record(doc) if doc is not None else None

    def footage_present(self, ids: Sequence[str]) -> set[str]:
        present: set[str] = set()
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), PRESENT_BATCH):
            batch = unique[i : i + PRESENT_BATCH]
            present.update(
                row["id"] for row in self._rows(self._table("footage").get_all(*batch).pluck("id"))
            )
        return present

    def footage_range(
        self,
        camera: str,
        start: float | None = None,
        end: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
        descending: bool = False,
    ) -> Page:
        after = decode_cursor(cursor) if cursor is not None else None
        rows = None
        if descending and start is None:
            rows = self._newest_rows(camera, end, limit, after)
        if rows is None:
            rows = self._rows(
                overlapping(
                    self._table("footage"), "camera_start", [camera], start, end, descending, after
                ).limit(limit + 1)  # one more than asked tells whether a next page exists
            )
        items = [footage_record(doc) for doc in rows[:limit]]
        more = len(rows) > limit and bool(items)
        return Page(items, encode_cursor(items[-1]) if more else None)

    def _newest_rows(
        self, camera: str, end: float | None, limit: int, after: tuple[float, str] | None
    ) -> list[Doc] | None:
        """The newest ``limit + 1`` rows before ``end`` (or the cursor), read from a window
        of the index just wide enough for them; None when the window holds fewer.

        An ordered read with a limit makes each of the table's internal shards read up
        to the limit, so an open-ended "last page" reads the limit many times over. The
        camera's newest footage and segment length (its row, read by the same query)
        bound the window instead. Any row outside the window starts before every row
        in it, so a full window gives exactly the rows the open-ended read would.
        """
        known = [x for x in (end, after[0] if after else None) if x is not None]
        row = self._table("cameras").get(camera)
        newest = row["newest_end"]
        top = least(newest, min(known)) if known else newest
        floor = r.branch(
            row.eq(None),
            r.maxval,  # no camera, no footage: an empty window, and the open-ended read
            r.branch(
                newest.eq(None), r.maxval, top - row["segment_seconds"] * (limit + 1) * WINDOW_SLACK
            ),
        )
        scan = overlapping(
            self._table("footage"), "camera_start", [camera], None, end, True, after, floor
        )
        rows = self._rows(scan.limit(limit + 1))
        return rows if len(rows) > limit else None

    def delete_footage(self, ids: Sequence[str]) -> int:
        unique = list(dict.fromkeys(ids))
        if not unique:
            return 0
        cameras = {
            row["camera"]
            for row in self._rows(self._table("footage").get_all(*unique).pluck("camera"))
        }
        # 1. Mark the cameras: until they are uncounted below, their counters are unsure.
        marked = {}
        for camera in cameras:
            old, _ = self._swap(camera, lambda row: row.merge({"recount_needed": True}),
                                create=False, retry=True)  # fmt: skip
            marked[camera] = bool(old and old.get("recount_needed"))
        # 2. The changes say which rows THIS call removed: a concurrent delete of the same
        #    ids must not make both callers uncount them.
        result = self._write(
            self._table("footage").get_all(*unique).delete(return_changes=True), retry=False
        )
        removed = [c["old_val"] for c in result.get("changes") or [] if c.get("old_val")]
        if removed:
            self._write(
                self._table("events").get_all(*[d["id"] for d in removed], index="footage_id")
                .delete(),
                retry=True,
            )  # fmt: skip
        by_camera: dict[str, list[Doc]] = {camera: [] for camera in cameras}
        for doc in removed:
            by_camera.setdefault(doc["camera"], []).append(doc)
        # 3. Uncount, or recount when an earlier write left the counters unsure.
        for camera, docs in by_camera.items():
            if marked.get(camera) or any(PENDING in d for d in docs):
                self._recount(camera)
            else:
                self._uncount(camera, docs)
        return len(removed)

    def _uncount(self, camera: str, docs: list[Doc]) -> None:
        """Take removed segments off a camera's counters, then recompute oldest_start."""
        gone = len(docs)
        size = sum(int(d["bytes"]) for d in docs)
        seconds = sum(float(d["duration"]) for d in docs)

        def uncount(row: Term) -> Term:
            left = row["segments"] - gone
            return row.merge(
                {
                    "segments": left,
                    "bytes": row["bytes"] - size,
                    "seconds": at_least_zero(row["seconds"] - seconds),
                    "newest_end": r.branch(left.le(0), None, row["newest_end"]),
                    "footage_rev": row["footage_rev"] + 1,
                    "recount_needed": False,
                }
            )

        self._swap(camera, uncount, create=False, retry=False)
        self._refresh_oldest(camera)

    def _oldest_start(self, camera: str) -> float | None:
        """The earliest start of a camera's footage: the first key of one index scan."""
        rows = self._rows(
            overlapping(self._table("footage"), "camera_start", [camera], None, None)
            .limit(1)
            .pluck("start")
        )
        return float(rows[0]["start"]) if rows else None

    def _refresh_oldest(self, camera: str) -> None:
        """Set oldest_start to what the index says, unless footage of the camera was
        added or removed between reading the index and writing the row.

        footage_rev is read before the index and compared inside the write: if it moved,
        the value read may be stale and the whole step is repeated. (An add that lands
        after the write is fine: it only ever lowers oldest_start, relative to the row.)
        """
        for _ in range(REFRESH_ATTEMPTS):
            current = self._run(self._table("cameras").get(camera))
            if current is None:
                return
            rev = current["footage_rev"]
            oldest = {"oldest_start": self._oldest_start(camera)}
            old, _ = self._swap(camera, set_unless_moved(rev, oldest), create=False, retry=True)
            if old is None or old["footage_rev"] == rev:
                return

    # -- events ----------------------------------------------------------------------------

    def add_event(self, event: Event) -> None:
        self._insert_once("events", event_doc(event), retry=True)

    def list_events(
        self,
        camera: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 500,
    ) -> list[Event]:
        # Equal keys come out in primary-key order: the server appends the primary key
        # to every secondary index key, so this matches SQLite's ORDER BY start, id.
        table = self._table("events")
        if camera is None:
            query = overlapping(table, "start", [], start, end)
        else:
            query = overlapping(table, "camera_start", [camera], start, end)
        return [event_record(doc) for doc in self._rows(query.limit(limit))]


def _merging(values: Doc) -> Callable[[Term], Term]:
    """A row change merging ``values`` (a real lambda: the driver reads its arity)."""
    return lambda row: row.merge(values)
