"""Real ``spectare worker`` processes for tests, and ways to look at what they recorded."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from harness.procs import wait_until

#: Test-speed timings: heartbeats every second, a camera silent for 3 s is dropped.
FAST_ENV = {
    "SPECTARE_HEARTBEAT_SECONDS": "1",
    "SPECTARE_STALE_SECONDS": "5",
    "SPECTARE_RW_TIMEOUT_SECONDS": "3",
    "SPECTARE_LOG_LEVEL": "info",
}


class WorkerProcess:
    """One ``spectare worker --camera NAME`` process."""

    def __init__(self, camera: str, env: dict[str, str], log_path: Path) -> None:
        self.camera = camera
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        """Start the process (its output appended to ``log_path``)."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-m", "spectare", "worker", "--camera", self.camera],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the worker only."""
        assert self.process is not None
        self.process.send_signal(signum)

    def kill_all(self) -> None:
        """SIGKILL the worker and its ffmpeg at once, as when a pod's cgroup is killed."""
        assert self.process is not None
        # ffmpeg runs in a session of its own, so a process-group kill would miss it. The
        # children die first: killed after the worker, ffmpeg would get its death signal
        # (SIGTERM) and close the file cleanly, which is the gentler case.
        family = [*psutil.Process(self.process.pid).children(recursive=True)]
        for process in [*family, psutil.Process(self.process.pid)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        self.process.wait()

    def ffmpeg_child(self) -> psutil.Process:
        """The worker's recording ffmpeg now (waits until there is one)."""
        assert self.process is not None

        def child() -> psutil.Process | None:
            for process in psutil.Process(self.process.pid).children():
                with contextlib.suppress(psutil.NoSuchProcess):  # one that just ended
                    # The recording one: motion runs a decoder ffmpeg beside it.
                    if "-segment_list" in process.cmdline():
                        return process
            return None

        found: psutil.Process = wait_until(child, 20, what="the worker's ffmpeg")
        return found

    def wait(self, timeout: float) -> int:
        """Wait for the exit; its code."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL of the whole group if it does not stop)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill_all()
        return self.process.wait()

    def log_text(self) -> str:
        """Everything the worker logged so far."""
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.process is not None and self.process.poll() is None


class WorkerFactory:
    """Makes worker processes sharing one store and footage root; stops them all at exit."""

    def __init__(self, log_dir: Path, store_url: str, footage_root: Path) -> None:
        self.log_dir = log_dir
        self.store_url = store_url
        self.footage_root = footage_root
        self.started: list[WorkerProcess] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def __call__(
        self,
        camera: str,
        url: str,
        *,
        worker_id: str | None = None,
        env: dict[str, str] | None = None,
        start: bool = True,
        **spec: Any,
    ) -> WorkerProcess:
        """A worker for ``camera`` recording ``url`` with the given spec fields (camelCase)."""
        full_env = {
            **os.environ,
            **FAST_ENV,
            "SPECTARE_STORE": self.store_url,
            "SPECTARE_FOOTAGE_DIR": str(self.footage_root),
            "SPECTARE_WORKER_ID": worker_id or f"test-{camera}-{uuid.uuid4().hex[:6]}",
            "SPECTARE_CAMERA_SPEC": json.dumps({"url": url, **spec}),
            **(env or {}),
        }
        name = full_env["SPECTARE_WORKER_ID"]
        process = WorkerProcess(camera, full_env, self.log_dir / f"{name}.log")
        self.started.append(process)
        return process.start() if start else process

    def __enter__(self) -> WorkerFactory:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for process in self.started:
            if process.process is not None and process.running():
                with contextlib.suppress(ProcessLookupError):
                    process.kill_all()
