"""Camera status through ``/status``, rate limited, and Events on the Camera."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from spectare.logs import get_logger
from spectare.operator.kube import KubeError
from spectare.operator.plan import CameraView, Key, Slot
from spectare.operator.pods import PodView
from spectare.operator.status import Decision, needs_write, status_document, transition_event

if TYPE_CHECKING:
    from spectare.operator.reconciler import Reconciler

log = get_logger(__name__)


def compact(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the API server stores it after a merge patch (nulls removed)."""
    return {k: v for k, v in doc.items() if v is not None}


class TokenBucket:
    """At most ``rate`` acquisitions per second, with bursts up to ``rate``."""

    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.stamp = rate, rate, time.monotonic()

    async def take(self) -> None:
        """Wait for a token."""
        while True:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


class StatusWriter:
    """Writes each Camera's status when it changed in a way a person cares about."""

    def __init__(self, rec: Reconciler) -> None:
        self.rec = rec
        self.bucket = TokenBucket(rec.settings.status_writes_per_second)
        self.written: dict[Key, tuple[dict[str, Any], float]] = {}
        self.uids: dict[Key, str] = {}
        self._busy: set[Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(self, now: float, cameras: dict[Key, CameraView],
                    pods: dict[Key, PodView]) -> None:  # fmt: skip
        """Start the writes that are due; they run in the background, one per camera."""
        rec = self.rec
        for key in set(self.written) - set(cameras):
            self.written.pop(key, None)
        for key, camera in cameras.items():
            self.uids[key] = camera.uid
            if key in self._busy or (key not in pods and rec.slots.get(key, Slot()).pending):
                continue  # busy, or its pod is on the way: one write, not two
            old, when = self.written.get(key, (compact(camera.status), None))
            decision = rec.decisions.get(key, Decision("worker"))
            doc = status_document(camera.generation, decision, pods.get(key),
                                  rec.records.get(key[1]), old, now)  # fmt: skip
            if not needs_write(compact(doc), old, when, now,
                               rec.settings.status_heartbeat_seconds):  # fmt: skip
                continue
            self._busy.add(key)
            self._spawn(self._write_one(key, doc, old, now))

    async def _write_one(self, key: Key, doc: dict[str, Any], old: dict[str, Any],
                         now: float) -> None:  # fmt: skip
        assert self.rec.kube is not None
        try:
            await self.bucket.take()
            if await self.rec.kube.patch_status(key[0], key[1], doc):
                self.written[key] = (compact(doc), now)
                change = transition_event(old.get("phase"), doc["phase"], doc.get("message"))
                if change:
                    self.event(key, *change)
        except (TimeoutError, KubeError, OSError) as exc:
            log.warning("operator.status_failed", camera=key[1], error=str(exc))
        finally:
            self._busy.discard(key)

    def event(self, key: Key, kind: str, reason: str, message: str) -> None:
        """Post an Event on the Camera, in the background (best effort)."""
        uid = self.uids.get(key)
        if uid is None or self.rec.kube is None:
            return
        self._spawn(self._post(key, uid, kind, reason, message))

    async def _post(self, key: Key, uid: str, kind: str, reason: str, message: str) -> None:
        assert self.rec.kube is not None
        try:
            await self.rec.kube.post_event(key[0], key[1], uid, kind, reason, message)
        except (TimeoutError, KubeError, OSError) as exc:
            log.warning("operator.event_failed", camera=key[1], reason=reason, error=str(exc))

    def _spawn(self, job: Any) -> None:
        task = asyncio.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the writes in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
