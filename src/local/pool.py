"""The local pool: one worker process per enabled camera, supervised like the operator would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from spectare import exits
from spectare.logs import get_logger
from spectare.manifests import Manifests
from spectare.model import Camera, Phase
from spectare.planning import Wanted, WorkerState, plan_workers, restart_delay
from spectare.settings import Settings
from spectare.store import Store
from spectare.supervision import (
    camera_info,
    env_name,
    failures_after,
    recorded_since,
    worker_environment,
)

log = get_logger(__name__)

STOP_GRACE_SECONDS = 40.0


@dataclass
class Child:
    """A running (or just ended) worker process."""

    process: subprocess.Popen[bytes]
    started_at: float
    log_file: IO[bytes]


@dataclass
class Slot:
    """The pool's memory of one camera's worker."""

    child: Child | None = None
    failures: int = 0
    ended_at: float | None = None
    last_exit: int | None = None
    starts: int = 0

    def state(self) -> WorkerState:
        """What the planner needs to know."""
        return WorkerState(self.child is not None, self.failures, self.ended_at)


def worker_id(camera: str) -> str:
    """Who holds ``camera`` when this pool's worker records it."""
    return f"{os.uname().nodename}-{os.getpid()}-{camera}"


def worker_env(settings: Settings, manifests: Manifests, camera: Camera) -> dict[str, str]:
    """The environment of a camera's worker process, as the operator builds a pod's."""
    env = dict(os.environ)
    env.update(
        worker_environment(settings, worker_id=worker_id(camera.name), camera_spec=camera.spec)
    )
    env.pop(env_name("camera_username"), None)
    env.pop(env_name("camera_password"), None)
    credentials = manifests.credentials_for(camera)
    if credentials is not None:
        if credentials.username:
            env[env_name("camera_username")] = credentials.username
        if credentials.password:
            env[env_name("camera_password")] = credentials.password
    return env


class LocalPool:
    """Keeps the planned set of worker processes running until ``stop``."""

    def __init__(
        self, settings: Settings, manifests: Manifests, store: Store, logs_dir: Path
    ) -> None:
        self.settings = settings
        self.manifests = manifests
        self.cameras = {camera.name: camera for camera in manifests.cameras}
        self.store = store
        self.logs_dir = logs_dir
        self.slots: dict[str, Slot] = {name: Slot() for name in self.cameras}
        self.stopping = threading.Event()

    def sync_store(self) -> None:
        """Mirror the manifests' cameras into the store."""
        for camera in self.cameras.values():
            self.store.upsert_camera(camera_info(camera.name, camera.spec))

    # -- one pass ------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Reap, release stale holds, plan, act."""
        self._reap(now)
        self._release_stale(now)
        wanted = [Wanted(name, cam.spec.enabled) for name, cam in self.cameras.items()]
        states = {name: slot.state() for name, slot in self.slots.items() if slot.starts}
        plan = plan_workers(
            wanted,
            states,
            now,
            self.settings.max_workers,
            self.settings.restart_backoff_max_seconds,
        )
        for name in plan.stop:
            self._terminate(name)
        for name in plan.start:
            self._start(name, now)
        for name in plan.queued:
            if self.slots[name].child is None:
                self.store.set_phase(
                    name,
                    Phase.QUEUED.value,
                    f"waiting for a free worker slot (maxWorkers={self.settings.max_workers})",
                )
        for name in plan.disabled:
            self.store.set_phase(name, Phase.DISABLED.value, "enabled: false")
        for name, wait in plan.backoff.items():
            slot = self.slots[name]
            self.store.set_phase(
                name,
                Phase.PENDING.value,
                f"worker exited with code {slot.last_exit}; restarting in {wait:.0f} s",
            )

    def _reap(self, now: float) -> None:
        for name, slot in self.slots.items():
            child = slot.child
            if child is None or child.process.poll() is None:
                continue
            code = child.process.returncode
            child.log_file.close()
            slot.child, slot.ended_at, slot.last_exit = None, now, code
            record = self.store.get_camera(name)
            recorded = recorded_since(record.newest_end if record else None, child.started_at)
            slot.failures = failures_after(slot.failures, now - child.started_at, recorded)
            if code not in (exits.OK, exits.CAMERA_HELD):
                # Its holder is known dead: free the camera now rather than when the
                # heartbeat goes stale, so the replacement can start recording at once.
                self.store.release(name, worker_id(name))
            log.warning(
                "pool.worker_exited",
                camera=name,
                code=code,
                meaning=_meaning(code),
                restart_in=round(restart_delay(slot.failures), 1),
            )

    def _release_stale(self, now: float) -> None:
        for name in self.store.release_stale(now, self.settings.stale_seconds):
            log.warning("pool.stale_released", camera=name)
            slot = self.slots.get(name)
            if slot is not None and slot.child is not None:
                # Its process is alive but silent (frozen, hung): replace it.
                slot.child.process.kill()

    def _start(self, name: str, now: float) -> None:
        camera = self.cameras[name]
        slot = self.slots[name]
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_file = open(self.logs_dir / f"{name}.log", "ab")  # noqa: SIM115 - kept by Child
        process = subprocess.Popen(
            # -P: a working directory holding e.g. operator.py must not shadow the stdlib.
            [sys.executable, "-P", "-m", "spectare", "worker", "--camera", name],
            env=worker_env(self.settings, self.manifests, camera),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C reaches the pool only, which stops workers in order.
            start_new_session=True,
        )
        if slot.starts:
            self.store.bump(name, "restarts")
        slot.child, slot.starts = Child(process, now, log_file), slot.starts + 1
        log.info("pool.worker_started", camera=name, pid=process.pid, start=slot.starts)

    def _terminate(self, name: str) -> None:
        child = self.slots[name].child
        if child is not None and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)

    # -- running -----------------------------------------------------------------------------

    def run(self, on_tick: Callable[[], None] | None = None, interval: float = 0.5) -> None:
        """Supervise until ``stop``, then stop every worker gracefully."""
        self.sync_store()
        try:
            while not self.stopping.is_set():
                self.tick(time.time())
                if on_tick is not None:
                    on_tick()
                self.stopping.wait(interval)
        finally:
            self.shutdown()

    def stop(self) -> None:
        """Ask ``run`` to return."""
        self.stopping.set()

    def shutdown(self) -> None:
        """SIGTERM every worker, wait for them to finish their segment, kill stragglers."""
        children = [(n, s.child) for n, s in self.slots.items() if s.child is not None]
        for _, child in children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, child in children:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("pool.worker_killed", camera=name, reason="did not stop in time")
                child.process.kill()
                child.process.wait()
            child.log_file.close()
            log.info("pool.worker_stopped", camera=name, code=child.process.returncode)
        for slot in self.slots.values():
            slot.child = None

    def pid(self, name: str) -> int | None:
        """The process id of a camera's worker, if it runs."""
        child = self.slots[name].child
        return child.process.pid if child is not None else None


def _meaning(code: int) -> str:
    return {
        exits.OK: "stopped",
        exits.CAMERA_HELD: "another worker holds the camera",
        exits.LOST_CAMERA: "lost the camera to another worker",
        exits.BAD_CONFIG: "bad settings or footage storage (see the worker log)",
    }.get(code, "crashed" if code < 0 else "failed")
