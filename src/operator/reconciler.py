"""The pool manager loop: one level-triggered pass whenever anything changed.

kopf's handlers only keep the indices (Cameras; worker pods by camera) and wake
this loop. A pass reads the indices whole, records how pods ended, asks
``plan.decide`` what to do and does it; every ``scan_seconds`` it also reads the
store once (heartbeats, counters), releases stale holds (the orphan monitor) and
writes the Camera statuses that changed. Events arriving during a pass coalesce
into one more pass, so a burst of 1,000 Cameras costs a few passes, not 1,000.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from spectare.logs import get_logger
from spectare.operator import mirror, orphans
from spectare.operator.config import OperatorSettings
from spectare.operator.kube import Kube, KubeError
from spectare.operator.peering import leads
from spectare.operator.plan import CameraView, Key, Slot, decide
from spectare.operator.pods import CameraRef, PodView, pod_manifest
from spectare.operator.status import Decision, phase_of
from spectare.operator.writer import StatusWriter
from spectare.store import CameraInfo, CameraRecord, Store, StoreError
from spectare.supervision import failures_after, recorded_since

log = get_logger(__name__)
T = TypeVar("T")

#: Decisions whose phase no worker reports: the operator writes them to the store.
SUPERVISOR_PHASES = ("queued", "disabled", "backoff", "invalid")
#: A created pod not in the index after this long is forgotten (and made again).
PENDING_SECONDS = 30.0
#: Slot.pending while the create request is in flight.
CREATING = "(creating)"
#: Passes are at least this far apart: events in between coalesce into the next one.
MIN_PASS_SECONDS = 0.2


class Reconciler:
    """Keeps one worker pod per enabled camera; see the module docstring."""

    def __init__(self, settings: OperatorSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.kube: Kube | None = None
        self.cameras_index: Any = None  # kopf.Index: Key -> CameraView
        self.pods_index: Any = None  # kopf.Index: Key -> PodView (several while replacing)
        self.slots: dict[Key, Slot] = {}
        self.seen: dict[Key, dict[str, str]] = {}  # uid -> live | stopping | ended
        self.decisions: dict[Key, Decision] = {}
        self.records: dict[str, CameraRecord] = {}
        self.mirrored: dict[str, CameraInfo] = {}
        self.wake = asyncio.Event()
        self.connected = asyncio.Event()
        self.indexed = False  # set by the first kopf event: indices are populated then
        self.last_pass = time.monotonic()
        self.store_ok = False
        self.leading: bool | None = None  # unknown until the first peering read
        self.passes = 0  # passes that acted
        self.ticks = 0  # loop turns, standby included
        self._next_scan = 0.0
        self._deadline: float | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="store")
        self._tasks: set[asyncio.Task[None]] = set()
        self._deleting: set[tuple[str, str]] = set()
        self.writer = StatusWriter(self)

    # -- wiring ---------------------------------------------------------------------------------

    def bind(self, cameras: Any, pods: Any) -> None:
        """Take kopf's live indices (handed over by the handlers)."""
        self.cameras_index, self.pods_index = cameras, pods

    def connect(self, kube: Kube) -> None:
        """Use this API client for writes (the previous one is closed)."""
        old, self.kube = self.kube, kube
        if old is not None:
            self.writer._spawn(old.close())
        self.connected.set()

    def touch(self) -> None:
        """Something changed: run a pass soon (kopf calls this from its event handlers)."""
        self.indexed = True
        self.wake.set()

    async def in_store(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a (synchronous) store call on the store's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    # -- loop -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Passes until cancelled."""
        await self.connected.wait()
        while True:
            timeout = self.settings.scan_seconds
            if self._deadline is not None:
                timeout = max(0.05, min(timeout, self._deadline - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
            self.wake.clear()
            started = time.monotonic()
            try:
                await self.tick(time.time())
            except Exception:
                log.error("operator.pass_failed", exc=True)
            self.last_pass = time.monotonic()
            self.ticks += 1
            # Passes cost O(cameras): keep the loop mostly free for kopf and the writes.
            spent = self.last_pass - started
            await asyncio.sleep(max(MIN_PASS_SECONDS, 2 * spent) - spent)

    async def tick(self, now: float) -> None:
        """One pass, plus the store scan when due."""
        standby = bool(self.settings.peering) and not await self._leading(now)
        if standby:
            # Standby (or a priority tie): kopf has paused us; our indices may be stale, so
            # wait for kopf's relist on resume before acting again.
            self.indexed = False
        if standby or not self.indexed:
            # kopf has not listed yet (or there is nothing): acting could duplicate pods.
            if now >= self._next_scan:
                self._next_scan = now + self.settings.scan_seconds
                self.store_ok = await self._ping()
            return
        cameras, pods = self.snapshot()
        if now >= self._next_scan:
            self._next_scan = now + self.settings.scan_seconds
            await self.scan(now, cameras, pods)
        await self.reconcile(now, cameras, pods)
        await self.writer.write(now, cameras, self._current_pods(pods))
        self.passes += 1
        log.debug(
            "operator.pass",
            cameras=len(cameras),
            pods=sum(map(len, pods.values())),
            seconds=round(time.time() - now, 3),
        )

    def snapshot(self) -> tuple[dict[Key, CameraView], dict[Key, list[PodView]]]:
        """A consistent copy of both indices (kopf updates them between awaits)."""
        cameras: dict[Key, CameraView] = {}
        for key in list(self.cameras_index or ()):
            for view in self.cameras_index.get(key, ()):
                cameras[key] = view
        pods = {key: list(self.pods_index.get(key, ())) for key in list(self.pods_index or ())}
        return cameras, pods

    # -- the pass -------------------------------------------------------------------------------

    async def reconcile(
        self, now: float, cameras: dict[Key, CameraView], pods: dict[Key, list[PodView]]
    ) -> None:
        """Record endings, decide, act."""
        self.writer.uids.update({key: cam.uid for key, cam in cameras.items()})
        cleanup: list[tuple[Key, PodView]] = []
        for key in {*self.seen, *pods}:
            cleanup += await self._observe(key, pods.get(key, []), now)
        live = {k: [p for p in v if p.live] for k, v in pods.items()}
        actions = decide(cameras, live, self.slots, now, self.settings.max_workers,
                         self.settings.restart_backoff_max_seconds)  # fmt: skip
        self._decisions(cameras, actions.queued, actions.disabled, actions.backoff)
        # Writes run in the background: a slow API server must not hold up the next pass
        # (cameras that arrive meanwhile get their pods without waiting for this batch).
        by_name = {(k, p.name): p for k, v in pods.items() for p in v}
        deletes: list[tuple[Key, str, str, PodView | None]] = [
            (key, p.name, "ended", p) for key, p in cleanup
        ]
        deletes += [(k, n, why, by_name.get((k, n))) for k, n, why in actions.delete]
        for key, name, why, pod in deletes:
            if (key[0], name) not in self._deleting:
                self._deleting.add((key[0], name))
                self._spawn(self._delete(key, name, why, pod))
        for key in actions.create:
            # Held as pending until the pod shows up, so no pass creates a second one.
            self.slots[key] = replace(
                self.slots.get(key, Slot()), pending=CREATING, pending_since=float("inf")
            )
            self._spawn(self._create(cameras[key]))
        for key in [k for k, slot in self.slots.items() if k not in cameras and k not in pods]:
            if not self.slots[key].pending:
                del self.slots[key]  # a deleted camera's memory goes with its last pod
                self.seen.pop(key, None)
        waits = [now + w for w in actions.backoff.values()]
        self._deadline = min(waits) if waits else None
        await mirror.sync(self, cameras)

    async def _observe(
        self, key: Key, pods: list[PodView], now: float
    ) -> list[tuple[Key, PodView]]:
        """Notice pods that ended, vanished or were deleted by someone else; failures count."""
        seen = self.seen.setdefault(key, {})
        current = {p.uid: p for p in pods}
        slot = self.slots.get(key, Slot())
        if slot.pending and (any(p.name == slot.pending for p in pods)
                             or now - slot.pending_since > PENDING_SECONDS):  # fmt: skip
            self.slots[key] = slot = replace(slot, pending=None)
        for uid, was in list(seen.items()):
            if uid not in current:
                del seen[uid]
                if was == "live":
                    await self._failed(key, None, now, "vanished")
        cleanup = []
        for pod in pods:
            state = seen.get(pod.uid)
            if pod.terminal:
                if state != "ended":
                    if state != "stopping":
                        await self._failed(key, pod, now, "ended")
                    seen[pod.uid] = "ended"
                    await self.in_store(self.store.release, key[1], pod.name)
                if not pod.deleting:
                    cleanup.append((key, pod))
            elif pod.deleting:
                if state == "live":
                    await self._failed(key, pod, now, "deleted")
                seen[pod.uid] = "stopping" if state != "ended" else state
            elif state is None:
                seen[pod.uid] = "live"
        if not seen and key not in self.slots:
            self.seen.pop(key, None)
        return cleanup

    async def _failed(self, key: Key, pod: PodView | None, now: float, how: str) -> None:
        slot = self.slots.get(key, Slot())
        ran = (pod.finished_at or now) - pod.started_at if pod and pod.started_at else 0.0
        recorded = False
        if pod and pod.started_at:
            with contextlib.suppress(StoreError):
                record = await self.in_store(self.store.get_camera, key[1])
                recorded = recorded_since(record.newest_end if record else None, pod.started_at)
        failures = failures_after(slot.failures, ran, recorded)
        self.slots[key] = replace(slot, failures=failures, ended_at=now)
        name = pod.name if pod else "the worker pod"
        code = f" with exit code {pod.exit_code}" if pod and pod.exit_code is not None else ""
        message = {"ended": f"worker pod {name} ended{code}",
                   "vanished": f"{name} vanished", "deleted": f"worker pod {name} was deleted",
                   "stale": f"worker pod {name} stopped heartbeating"}[how]  # fmt: skip
        self.slots[key] = replace(self.slots[key], last=message)
        log.warning("operator.worker_failed", camera=key[1], namespace=key[0], how=how,
                    pod=pod.name if pod else None, exit=pod.exit_code if pod else None,
                    failures=failures)  # fmt: skip
        self.writer.event(key, "Warning", "WorkerFailed", f"{message}; it will be replaced")

    def _decisions(self, cameras: dict[Key, CameraView], queued: Iterable[Key],
                   disabled: Iterable[Key], backoff: dict[Key, float]) -> None:  # fmt: skip
        decisions = {key: Decision("worker") for key in cameras}
        for key in queued:
            decisions[key] = Decision(
                "queued", f"waiting for a free worker slot (maxWorkers={self.settings.max_workers})"
            )
        for key in disabled:
            decisions[key] = Decision("disabled")
        for key, wait in backoff.items():
            last = self.slots.get(key, Slot()).last or "the worker ended"
            decisions[key] = Decision("backoff", f"{last}; restarting in {wait:.0f} s")
        for key, camera in cameras.items():
            if camera.error:
                decisions[key] = Decision("invalid", f"invalid spec: {camera.error}")
            elif self.decisions.get(key, Decision("")).kind == "error" and key not in backoff:
                decisions[key] = self.decisions[key]  # kept until a create succeeds
        self.decisions = decisions
        for key, decision in decisions.items():
            record = self.records.get(key[1])
            if decision.kind not in SUPERVISOR_PHASES or record is None:
                continue
            phase, message = phase_of(decision, None, None)
            if (record.phase, record.message) != (phase.value, message):
                # Seen as written from now on, so the next pass does not write it again.
                self.records[key[1]] = replace(record, phase=phase.value, message=message)
                self._spawn(self._publish(key[1], phase.value, message))

    async def _publish(self, camera: str, phase: str, message: str | None) -> None:
        """Tell the store what only the operator knows, as the local pool does: the API
        then shows Queued, Disabled or a backoff the same way in both modes."""
        try:
            await self.in_store(self.store.set_phase, camera, phase, message)
        except StoreError as exc:
            log.warning("operator.store_unreachable", camera=camera, error=str(exc))

    # -- acting ---------------------------------------------------------------------------------

    def _spawn(self, job: Any) -> None:
        task = asyncio.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _create(self, camera: CameraView) -> None:
        assert self.kube is not None and camera.spec is not None
        key = camera.key
        slot = self.slots.get(key, Slot())
        manifest = pod_manifest(CameraRef(key[0], key[1], camera.uid, camera.spec), self.settings)
        try:
            pod = await self.kube.create_pod(manifest)
        except KubeError as exc:
            log.error("operator.create_failed", camera=key[1], namespace=key[0], error=str(exc))
            self.decisions[key] = Decision("error", f"cannot create the worker pod: {exc}")
            self.slots[key] = replace(self.slots.get(key, slot), pending=None)
            return
        name = pod["metadata"]["name"]
        self.slots[key] = replace(
            self.slots.get(key, slot), pending=name, pending_since=time.time()
        )
        if self.decisions.get(key, Decision("")).kind == "error":
            self.decisions[key] = Decision("worker")
        # A replacement: an earlier worker of this camera ended (healthy or not).
        replacing = slot.ended_at is not None
        if replacing:
            await self.in_store(self.store.bump, key[1], "restarts")
        log.info("operator.pod_created", camera=key[1], namespace=key[0], pod=name,
                 replacing=replacing)  # fmt: skip
        if replacing:  # a camera's first pod is no news; its "Recording" event follows
            self.writer.event(key, "Normal", "WorkerReplaced", f"created worker pod {name}")

    async def _delete(self, key: Key, name: str, why: str, pod: PodView | None,
                      grace: int | None = None) -> None:  # fmt: skip
        assert self.kube is not None
        if pod is not None and self.seen.get(key, {}).get(pod.uid) == "live":
            self.seen[key][pod.uid] = "stopping"  # our own doing: not a failure
        if why in ("disabled", "deleted", "spec", "invalid"):
            self.slots[key] = Slot(pending=None)  # an intentional stop forgets failures
        try:
            await self.kube.delete_pod(key[0], name, grace)
        except KubeError as exc:
            log.error("operator.delete_failed", camera=key[1], pod=name, error=str(exc))
            return
        finally:
            self._deleting.discard((key[0], name))
        log.info("operator.pod_deleted", camera=key[1], namespace=key[0], pod=name, why=why)
        if why == "spec":
            self.writer.event(key, "Normal", "SpecChanged", f"replacing {name} for the new spec")

    # -- the store scan ---------------------------------------------------------------------------

    async def scan(
        self, now: float, cameras: dict[Key, CameraView], pods: dict[Key, list[PodView]]
    ) -> None:
        """The store scan: records for the status, and the orphan monitor."""
        await orphans.scan(self, now, pods)

    async def _leading(self, now: float) -> bool:
        assert self.kube is not None and self.settings.peering is not None
        try:
            peers = await self.kube.peers(self.settings.namespace, self.settings.peering)
        except (KubeError, OSError, TimeoutError) as exc:
            log.warning("operator.peering_unreadable", error=str(exc))
            return False
        leading = bool(leads(peers, self.settings.peering_priority, now))
        if leading != self.leading:
            log.info("operator.leading" if leading else "operator.standby",
                     priority=self.settings.peering_priority)  # fmt: skip
            self.leading = leading
        return leading

    async def _ping(self) -> bool:
        try:
            await self.in_store(self.store.ping)
        except Exception as exc:
            log.warning("operator.store_unreachable", error=str(exc))
            return False
        return True

    def _current_pods(self, pods: dict[Key, list[PodView]]) -> dict[Key, PodView]:
        """Each camera's pod as its status shows it: the newest live one."""
        out = {}
        for key, views in pods.items():
            live = sorted((p for p in views if p.live), key=lambda p: (p.deleting, -p.created))
            if live:
                out[key] = live[0]
        return out

    async def drain(self) -> None:
        """Wait for the pod writes in flight (shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        """Stop the store thread."""
        self._pool.shutdown(wait=False)
