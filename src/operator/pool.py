"""The pool manager's loop: one level-triggered pass whenever anything changed.

kopf's handlers only keep the indices (Cameras; worker pods by camera) and wake this
loop. A pass copies the indices, reads the store when a scan is due (every
``scan_seconds``: rows, stale holds) and the rows of cameras whose worker ended, then
hands all of it with the ledger to ``machine.step`` and gives the effects to the
``Actor``. Events arriving during a pass coalesce into one more pass, so a burst of
1,000 Cameras costs a few passes, not 1,000.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web

from spectare.logs import get_logger
from spectare.operator import endings, health, machine, orphans
from spectare.operator.act import API_ERRORS, Actor
from spectare.operator.config import OperatorSettings
from spectare.operator.effects import Outcome
from spectare.operator.kube import Kube
from spectare.operator.ledger import Ledger, Scan, World
from spectare.operator.peering import leads
from spectare.operator.plan import CameraView, Key
from spectare.operator.pods import PodView
from spectare.store import CameraRecord, Store

log = get_logger(__name__)

#: Passes are at least this far apart: events in between coalesce into the next one.
MIN_PASS_SECONDS = 0.2


class Pool:
    """Keeps one worker pod per enabled camera; see the module docstring."""

    def __init__(self, settings: OperatorSettings, store: Store) -> None:
        self.settings, self.store = settings, store
        self.ledger = Ledger()
        self.inbox: list[Outcome] = []
        self.actor = Actor(settings, store, self._report)
        self.cameras_index: Any = None  # kopf.Index: Key -> CameraView
        self.pods_index: Any = None  # kopf.Index: Key -> PodView (several while replacing)
        self.wake = asyncio.Event()
        self.connected = asyncio.Event()
        self.indexed = False  # set by the first kopf event: indices are populated then
        self.last_pass = time.monotonic()
        self.store_ok = False
        self.leading: bool | None = None  # unknown until the first peering read
        self.passes = 0
        self.ticks = 0
        self._next_scan = 0.0
        self._task: asyncio.Task[None] | None = None
        self._probes: web.AppRunner | None = None

    # -- wiring (the kopf handlers call these) ---------------------------------------------------

    async def start(self) -> None:
        """Start the loop and, when configured, the probe server."""
        self._task = asyncio.create_task(self.run(), name="spectare-pool")
        if self.settings.health_port:
            stuck = health.stuck_after(self.settings.scan_seconds)
            self._probes = await health.serve(
                self.vitals, stuck, self.settings.health_host, self.settings.health_port
            )

    def bind(self, cameras: Any, pods: Any) -> None:
        """Take kopf's live indices (handed over by the first event)."""
        if self.cameras_index is None:
            self.cameras_index, self.pods_index = cameras, pods

    def connect(self, kube: Kube) -> None:
        """Use this API client for writes (also on re-login: a rotated token)."""
        self.actor.connect(kube)
        self.connected.set()

    def touch(self) -> None:
        """Something changed: run a pass soon (kopf calls this from its event handlers)."""
        self.indexed = True
        self.wake.set()

    def _report(self, outcome: Outcome) -> None:
        self.inbox.append(outcome)
        if outcome.ok:  # a failed write is tried again at the next pass, not at once
            self.wake.set()

    def vitals(self) -> health.Vitals:
        """What the probes report."""
        return health.Vitals(
            idle_seconds=time.monotonic() - self.last_pass, passes=self.passes,
            ticks=self.ticks, leading=self.leading, api=self.actor.kube is not None,
            store=self.store_ok, indexed=self.indexed,
        )  # fmt: skip

    async def stop(self) -> None:
        """Stop the loop; worker pods keep recording while the operator is away."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._probes is not None:
            await self._probes.cleanup()
        await self.actor.close()
        await asyncio.to_thread(self.store.close)

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Passes until cancelled."""
        await self.connected.wait()
        while True:
            timeout = self.settings.scan_seconds
            if self.ledger.deadline is not None:
                timeout = max(0.05, min(timeout, self.ledger.deadline - time.time()))
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
        """One pass, with the store scan when due."""
        standby = bool(self.settings.peering) and not await self._leading(now)
        if standby:
            # Standby (or a priority tie): kopf has paused us; our indices may be stale, so
            # wait for kopf's relist on resume before acting again.
            self.indexed = False
        due = now >= self._next_scan
        if due:
            self._next_scan = now + self.settings.scan_seconds
        if standby or not self.indexed:
            # kopf has not listed yet (or there is nothing): acting could duplicate pods.
            if due:
                self.store_ok = await self._ping()
            return
        cameras, pods = self.snapshot()
        scan = await self._scan(now) if due else None
        rows = await self._rows(endings.rows_needed(self.ledger, pods))
        # No await from here on: outcomes arriving now go to the next pass.
        outcomes, self.inbox = self.inbox, []
        world = World(now, cameras, pods, rows, scan, outcomes)
        self.ledger, effects = machine.step(self.ledger, world, self.settings)
        self.actor.perform(effects)
        self.passes += 1
        log.debug("operator.pass", cameras=len(cameras), pods=sum(map(len, pods.values())),
                  effects=len(effects), seconds=round(time.time() - now, 3))  # fmt: skip

    def snapshot(self) -> tuple[dict[Key, CameraView], dict[Key, list[PodView]]]:
        """A consistent copy of both indices (kopf updates them between awaits)."""
        cameras: dict[Key, CameraView] = {}
        for key in list(self.cameras_index or ()):
            for view in self.cameras_index.get(key, ()):
                cameras[key] = view
        pods = {key: list(self.pods_index.get(key, ())) for key in list(self.pods_index or ())}
        return cameras, pods

    # -- reading ----------------------------------------------------------------------------------

    async def _scan(self, now: float) -> Scan | None:
        """Every row, and the stale holds released (the store decides atomically which)."""
        in_store = self.actor.in_store
        try:
            rows = await in_store(self.store.list_cameras)
            holders = orphans.stale_holders(rows, now, self.settings.stale_seconds)
            released = (
                await in_store(self.store.release_stale, now, self.settings.stale_seconds)
                if holders
                else []
            )
        except Exception as exc:  # any backend's error: try again next scan
            self.store_ok = False
            log.warning("operator.store_unreachable", error=str(exc))
            return None
        self.store_ok = True
        return Scan(rows, holders, released)

    async def _rows(self, cameras: set[str]) -> dict[str, CameraRecord | None]:
        out: dict[str, CameraRecord | None] = {}
        for name in sorted(cameras):
            try:
                out[name] = await self.actor.in_store(self.store.get_camera, name)
            except Exception as exc:  # unknown: counted as a worker that did not record
                log.warning("operator.store_unreachable", camera=name, error=str(exc))
        return out

    async def _leading(self, now: float) -> bool:
        assert self.actor.kube is not None and self.settings.peering is not None
        try:
            peers = await self.actor.kube.peers(self.settings.namespace, self.settings.peering)
        except API_ERRORS as exc:
            log.warning("operator.peering_unreadable", error=str(exc))
            return False
        leading = leads(peers, self.settings.peering_priority, now)
        if leading != self.leading:
            log.info("operator.leading" if leading else "operator.standby",
                     priority=self.settings.peering_priority)  # fmt: skip
            self.leading = leading
        return leading

    async def _ping(self) -> bool:
        try:
            await self.actor.in_store(self.store.ping)
        except Exception as exc:
            log.warning("operator.store_unreachable", error=str(exc))
            return False
        return True
