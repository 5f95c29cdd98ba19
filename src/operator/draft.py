"""A pass's working copy of the ledger, and the transitions every part of a pass shares.

``machine.step`` copies the ledger into a ``Draft``, lets the parts of the pass
(outcomes, orphans, endings, decisions, mirror, status) change it and collect
effects, then freezes it into the next ledger. Copying once per pass keeps a pass
O(cameras); the ledger handed in is never changed.
"""

from __future__ import annotations

from dataclasses import replace

from spectare.operator.effects import DeletePod, Effect, PostEvent, note
from spectare.operator.ledger import LIVE, STOPPING, Ledger, Written, frozen
from spectare.operator.plan import Key, Slot
from spectare.operator.pods import PodView
from spectare.operator.status import Decision
from spectare.store import CameraInfo, CameraRecord
from spectare.supervision import failures_after, recorded_since

#: Deletes that are the user's wish: the camera's failure count starts afresh.
INTENTIONAL = ("disabled", "deleted", "spec", "invalid")

_ENDINGS = {
    "ended": "worker pod {name} ended{code}",
    "vanished": "{name} vanished",
    "deleted": "worker pod {name} was deleted",
    "stale": "worker pod {name} stopped heartbeating",
}


class Draft:
    """Mutable copies of a ledger's fields, plus the effects decided so far."""

    def __init__(self, ledger: Ledger) -> None:
        self.slots: dict[Key, Slot] = dict(ledger.slots)
        self.seen: dict[Key, dict[str, str]] = {k: dict(v) for k, v in ledger.seen.items()}
        self.decisions: dict[Key, Decision] = dict(ledger.decisions)
        self.records: dict[str, CameraRecord] = dict(ledger.records)
        self.mirrored: dict[str, CameraInfo] = dict(ledger.mirrored)
        self.written: dict[Key, Written] = dict(ledger.written)
        self.writing: set[Key] = set(ledger.writing)
        self.deleting: set[tuple[str, str]] = set(ledger.deleting)
        self.uids: dict[Key, str] = dict(ledger.uids)
        self.deadline = ledger.deadline
        self.effects: list[Effect] = []

    def freeze(self) -> Ledger:
        """The next ledger."""
        return Ledger(
            slots=frozen(self.slots),
            seen=frozen({k: frozen(v) for k, v in self.seen.items()}),
            decisions=frozen(self.decisions),
            records=frozen(self.records),
            mirrored=frozen(self.mirrored),
            written=frozen(self.written),
            writing=frozenset(self.writing),
            deleting=frozenset(self.deleting),
            uids=frozen(self.uids),
            deadline=self.deadline,
        )

    def event(self, key: Key, kind: str, reason: str, message: str) -> None:
        """An Event on the Camera, if the operator knows its uid."""
        uid = self.uids.get(key)
        if uid is not None:
            self.effects.append(PostEvent(key, uid, kind, reason, message))

    def fail(
        self, key: Key, pod: PodView | None, now: float, how: str, newest_end: float | None
    ) -> None:
        """Count a worker that ended without being asked to (``how``: a key of _ENDINGS).

        ``newest_end`` is the camera's newest indexed segment end: a worker that
        recorded was healthy, and its replacement starts without backoff.
        """
        slot = self.slots.get(key, Slot())
        started = pod.started_at if pod is not None else None
        ran = (pod.finished_at or now) - started if pod is not None and started else 0.0
        recorded = bool(started) and recorded_since(newest_end, started or 0.0)
        failures = failures_after(slot.failures, ran, recorded)
        code = pod.exit_code if pod is not None else None
        message = _ENDINGS[how].format(
            name=pod.name if pod is not None else "the worker pod",
            code=f" with exit code {code}" if code is not None else "",
        )
        self.slots[key] = replace(slot, failures=failures, ended_at=now, last=message)
        self.effects.append(
            note("operator.worker_failed", "warning", camera=key[1], namespace=key[0], how=how,
                 pod=pod.name if pod else None, exit=code, failures=failures)
        )  # fmt: skip
        self.event(key, "Warning", "WorkerFailed", f"{message}; it will be replaced")

    def delete(
        self, key: Key, name: str, why: str, pod: PodView | None, grace: int | None = None
    ) -> None:
        """Delete a pod (once: a delete in flight is not repeated)."""
        if (key[0], name) in self.deleting:
            return
        self.deleting.add((key[0], name))
        seen = self.seen.get(key, {})
        if pod is not None and seen.get(pod.uid) == LIVE:
            seen[pod.uid] = STOPPING  # our own doing: not a failure
        if why in INTENTIONAL:
            self.slots[key] = Slot()  # an intentional stop forgets failures
        self.effects.append(DeletePod(key, name, why, grace))
