"""One pod's local process for the test kubelet: its command line, start and stop.

A pod's process runs in a session of its own, so that SIGTERM and SIGKILL reach
the whole process group, as they reach every process of a container; its
stdout and stderr go to one log file per pod.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.podenv import expand
from harness.procs import pdeathsig_prefix, stop_process

log = logging.getLogger("spectare.harness.kubelet")


class PodStartError(Exception):
    """The container cannot start at all (no command, executable missing): the pod fails."""


@dataclasses.dataclass
class PodRun:
    """What the kubelet knows about one pod (one uid)."""

    namespace: str
    name: str
    uid: str
    log_path: Path
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    process: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    exit_code: int | None = None
    # Terminal states: once set, nothing is started for this uid any more.
    deleting: bool = False
    gone: bool = False

    @property
    def pid(self) -> int | None:
        """The pid of the pod's process while it runs."""
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        return None

    @property
    def api_path(self) -> str:
        """The pod's path on the API server."""
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"


def argv(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """``command`` + ``args`` with ``$(VAR)`` expanded, the executable looked up on PATH."""
    command = [expand(c, env) for c in container.get("command") or []]
    args = [expand(a, env) for a in container.get("args") or []]
    if not command:
        raise PodStartError("the test kubelet needs an explicit command (it runs no images)")
    executable = shutil.which(command[0], path=env.get("PATH"))
    if executable is None:
        raise PodStartError(f"executable {command[0]!r} not found on PATH")
    return [executable, *command[1:], *args]


def spawn(run: PodRun, command: list[str], env: Mapping[str, str], cwd: Path) -> None:
    """Start the pod's process in a session of its own; PodStartError if it cannot start."""
    with open(run.log_path, "ab") as output:
        try:
            run.process = subprocess.Popen(
                pdeathsig_prefix() + command,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise PodStartError(f"cannot start {command[0]}: {exc}") from exc
    log.info(
        "started pod process pod=%s/%s pid=%d argv=%s log=%s",
        run.namespace,
        run.name,
        run.process.pid,
        command,
        run.log_path,
    )


def reap_group(run: PodRun) -> None:
    """SIGKILL what the pod's processes left in its group once the main one has ended."""
    if run.process is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.process.pid, signal.SIGKILL)


def terminate(run: PodRun, grace: float) -> None:
    """SIGTERM the pod's process group, SIGKILL after ``grace`` seconds; record the exit."""
    if run.process is None:
        return
    code = stop_process(run.process, timeout=grace, group=True)
    run.exit_code = code
    log.info(
        "terminated pod process pod=%s/%s pid=%d exit=%d grace=%.0f",
        run.namespace,
        run.name,
        run.process.pid,
        code,
        grace,
    )


def stop_all(runs: Iterable[PodRun], grace: float) -> None:
    """SIGTERM every running process at once, SIGKILL what is left after ``grace``."""
    procs = [
        (run, run.process) for run in runs if run.process is not None and run.process.poll() is None
    ]
    for _, proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for run, proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
        code = stop_process(proc, timeout=0.0, group=True)
        log.info(
            "stopped pod process pod=%s/%s pid=%d exit=%s", run.namespace, run.name, proc.pid, code
        )
