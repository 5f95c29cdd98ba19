"""Performs a pass's effects, in the background, and reports how each came out.

Pod creates and deletes, status writes and Events go to the API server (``Kube``);
store writes run in order on the store's one thread. Nothing here decides: the
outcomes go back to the state machine through ``report``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from spectare.logs import get_logger
from spectare.operator.config import OperatorSettings
from spectare.operator.effects import (
    BumpRestarts,
    CreatePod,
    DeletePod,
    Effect,
    Note,
    Outcome,
    PostEvent,
    ReleaseHold,
    RemoveCamera,
    SetPhase,
    UpsertCamera,
    WriteStatus,
)
from spectare.operator.kube import Kube, KubeError
from spectare.operator.pods import pod_manifest
from spectare.store import Store

log = get_logger(__name__)
T = TypeVar("T")
#: What a failed Event or status write raises (KubeError, the connection, a timeout).
API_ERRORS = (KubeError, OSError, TimeoutError)


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


class Actor:
    """Runs effects; ``report`` receives each outcome that the state machine takes in."""

    def __init__(
        self, settings: OperatorSettings, store: Store, report: Callable[[Outcome], None]
    ) -> None:
        self.settings, self.store, self.report = settings, store, report
        self.kube: Kube | None = None
        self.bucket = TokenBucket(settings.status_writes_per_second)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="store")
        self._tasks: set[asyncio.Task[Any]] = set()

    def connect(self, kube: Kube) -> None:
        """Use this API client from now on (the previous one is closed)."""
        old, self.kube = self.kube, kube
        if old is not None:
            self._spawn(old.close())

    async def in_store(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a (synchronous) store call on the store's own thread, in call order."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def perform(self, effects: Iterable[Effect]) -> None:
        """Start every effect (store writes keep their order: one thread, first in first out)."""
        for effect in effects:
            if isinstance(effect, Note):
                getattr(log, effect.level)(effect.event, **dict(effect.fields))
            elif isinstance(effect, CreatePod):
                self._spawn(self._create(effect))
            elif isinstance(effect, DeletePod):
                self._spawn(self._delete(effect))
            elif isinstance(effect, WriteStatus):
                self._spawn(self._write(effect))
            elif isinstance(effect, PostEvent):
                self._spawn(self._post(effect))
            else:
                self._spawn(self._store_write(effect))

    def _spawn(self, job: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _api(self) -> Kube:
        assert self.kube is not None, "no pass runs before the login"
        return self.kube

    async def _create(self, effect: CreatePod) -> None:
        camera, namespace = effect.ref.name, effect.ref.namespace
        try:
            pod = await self._api().create_pod(pod_manifest(effect.ref, self.settings))
        except Exception as exc:  # whatever went wrong, the camera must not wait for ever
            log.error("operator.create_failed", camera=camera, namespace=namespace, error=str(exc))
            self.report(Outcome(effect, False, str(exc), time.time()))
            return
        name = str(pod["metadata"]["name"])
        log.info("operator.pod_created", camera=camera, namespace=namespace, pod=name,
                 replacing=effect.replacing)  # fmt: skip
        self.report(Outcome(effect, True, name, time.time()))

    async def _delete(self, effect: DeletePod) -> None:
        (namespace, camera), name = effect.key, effect.name
        try:
            await self._api().delete_pod(namespace, name, effect.grace)
        except Exception as exc:  # reported: the next pass may delete it again
            log.error("operator.delete_failed", camera=camera, pod=name, error=str(exc))
            self.report(Outcome(effect, False, str(exc), time.time()))
            return
        log.info("operator.pod_deleted", camera=camera, namespace=namespace, pod=name,
                 why=effect.why)  # fmt: skip
        self.report(Outcome(effect, True, None, time.time()))

    async def _write(self, effect: WriteStatus) -> None:
        (namespace, camera), ok = effect.key, False
        try:
            await self.bucket.take()
            ok = await self._api().patch_status(namespace, camera, effect.doc)
        except Exception as exc:  # reported: the camera's next write is not held up
            log.warning("operator.status_failed", camera=camera, error=str(exc))
        self.report(Outcome(effect, ok, None, time.time()))

    async def _post(self, e: PostEvent) -> None:
        try:
            await self._api().post_event(e.key[0], e.key[1], e.uid, e.kind, e.reason, e.message)
        except API_ERRORS as exc:
            log.warning("operator.event_failed", camera=e.key[1], reason=e.reason, error=str(exc))

    async def _store_write(self, effect: Effect) -> None:
        store = self.store
        try:
            if isinstance(effect, SetPhase):
                await self.in_store(store.set_phase, effect.camera, effect.phase, effect.message)
            elif isinstance(effect, ReleaseHold):
                await self.in_store(store.release, effect.camera, effect.worker)
            elif isinstance(effect, BumpRestarts):
                await self.in_store(store.bump, effect.camera, "restarts")
            elif isinstance(effect, UpsertCamera):
                await self.in_store(store.upsert_camera, effect.info)
            elif isinstance(effect, RemoveCamera):
                await self.in_store(store.remove_camera, effect.camera)
                log.info("operator.camera_forgotten", camera=effect.camera)
        except Exception as exc:  # any backend's error: the store may be away for a while
            log.warning("operator.store_write_failed", effect=type(effect).__name__,
                        error=str(exc))  # fmt: skip
            if isinstance(effect, UpsertCamera):
                self.report(Outcome(effect, False, str(exc), time.time()))

    async def drain(self) -> None:
        """Wait for the effects in flight (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Drain, close the API client and stop the store thread."""
        await self.drain()
        if self.kube is not None:
            await self.kube.close()
        self._pool.shutdown(wait=False)
