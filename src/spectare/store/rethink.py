"""The production store: RethinkDB 2.4, reached with the official synchronous driver.

Every operation is one query, or a few when RethinkDB has no multi-document
transaction to offer, and each write that must not race is a single atomic
read-modify-write of one document (``get(id).replace(function)``), which the
server applies atomically per document. Values of "now" come from the caller, so
write functions stay deterministic and never need ``non_atomic``.

The parts: connections, deadlines and retries (``rethink_conn``); set-up under a lock
and repair (``rethink_schema``); ReQL building blocks (``rethink_query``); the query
runner and shared write shapes (``rethink_core``); footage and events with
crash-safe counting (``rethink_footage``); cameras, here.
"""

from __future__ import annotations

from rethinkdb import r

from spectare.store.base import Counter
from spectare.store.records import CameraInfo, CameraRecord
from spectare.store.rethink_conn import RethinkTarget, open_connection
from spectare.store.rethink_footage import RethinkFootage
from spectare.store.rethink_query import (
    Term,
    camera_record,
    footage_doc,
    free_or_stale,
    older_than,
    was_freed,
)

__all__ = ["RethinkStore", "RethinkTarget", "footage_doc", "open_connection"]


class RethinkStore(RethinkFootage):
    """Store in a RethinkDB database: cameras, footage and events (see the module doc)."""

    def repair(self) -> list[str]:
        """Merge duplicate tables, create what is missing, recount every camera."""
        done = self.schema.repair()
        for row in self._rows(self._table("cameras").pluck("id")):
            self._recount(row["id"])
        return done

    # -- cameras ---------------------------------------------------------------------------

    def upsert_camera(self, info: CameraInfo) -> None:
        spec = {k: v for k, v in vars(info).items() if k != "id"}
        self._swap(info.id, lambda row: row.merge(spec), create=True, retry=True)

    def remove_camera(self, camera: str) -> None:
        self._write(self._table("cameras").get(camera).delete(), retry=True)

    def get_camera(self, camera: str) -> CameraRecord | None:
        doc = self._run(self._table("cameras").get(camera))
        return camera_record(doc) if doc is not None else None

    def list_cameras(self) -> list[CameraRecord]:
        return [camera_record(d) for d in self._rows(self._table("cameras").order_by(index="id"))]

    def grab(self, camera: str, worker: str, now: float, stale_seconds: float) -> bool:
        cutoff = now - stale_seconds
        take = {"worker": worker, "heartbeat": now, "grabbed_at": now, "phase": "Starting",
                "message": None}  # fmt: skip

        def change(row: Term) -> Term:
            return r.branch(
                row["worker"].eq(worker),
                row.merge({"heartbeat": now}),  # already ours: keep grabbed_at and phase
                r.branch(free_or_stale(row, cutoff), row.merge(take), row),
            )

        # Repeating a grab is harmless: the second one finds the camera already ours.
        _, new = self._swap(camera, change, create=True, retry=True)
        return new is not None and new.get("worker") == worker

    def heartbeat(
        self, camera: str, worker: str, now: float, phase: str, message: str | None = None
    ) -> bool:
        fresh = {"heartbeat": now, "phase": phase, "message": message}
        _, new = self._swap(
            camera,
            lambda row: r.branch(row["worker"].eq(worker), row.merge(fresh), row),
            create=False,
            retry=True,
        )
        return new is not None and new.get("worker") == worker

    def release(self, camera: str, worker: str | None = None) -> bool:
        def held(row: Term) -> Term:
            return row["worker"].ne(None) if worker is None else row["worker"].eq(worker)

        # Not repeated after a lost reply: a repeat would find the camera free and
        # report False. (A query that never reached the server is repeated.)
        old, new = self._swap(
            camera,
            lambda row: r.branch(held(row), row.merge({"worker": None, "grabbed_at": None}), row),
            create=False,
            retry=False,
        )
        return was_freed(old, new)

    def release_stale(self, now: float, stale_seconds: float) -> list[str]:
        cutoff = now - stale_seconds

        def stale(row: Term) -> Term:
            return row["worker"].ne(None) & older_than(row["heartbeat"], cutoff)

        # The filter picks candidates; the update checks again inside its atomic write,
        # because a holder may heartbeat in between. Not repeated after a lost reply: a
        # repeat would free nothing and lose the ids.
        query = (
            self._table("cameras")
            .filter(stale)
            .update(
                lambda row: r.branch(stale(row), {"worker": None, "grabbed_at": None}, {}),
                return_changes=True,
            )
        )
        changes = self._write(query, retry=False).get("changes") or []
        freed = [
            c["old_val"]["id"] for c in changes if was_freed(c.get("old_val"), c.get("new_val"))
        ]
        return sorted(freed)

    def set_phase(self, camera: str, phase: str, message: str | None = None) -> None:
        self._swap(
            camera,
            lambda row: row.merge({"phase": phase, "message": message}),
            create=False,
            retry=True,
        )

    def bump(self, camera: str, counter: Counter, amount: int = 1) -> None:
        if counter not in ("restarts", "reconnects"):
            raise ValueError(f"unknown counter {counter!r}")
        # Relative to the row as the write finds it, so concurrent bumps all count.
        self._swap(
            camera,
            lambda row: row.merge({counter: row[counter] + amount}),
            create=False,
            retry=False,
        )
