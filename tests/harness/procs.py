"""Processes, ports and waiting: the helpers every part of the test harness shares.

``wait_until`` is the one way the harness waits (a condition polled against a
deadline, never a bare sleep); ``free_port`` the one way it picks a loopback
port, ``listening_port`` the one way it holds a port taken; ``Supervisor``
starts named servers with a log file each and stops them all, children
included, in reverse order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("spectare.harness.procs")

T = TypeVar("T")


def progress(component: str, message: str) -> None:
    """One structured line of progress on stderr: ``[component] message``."""
    print(f"[{component}] {message}", file=sys.stderr, flush=True)


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    what: str = "condition",
    *,
    interval: float = 0.05,
) -> T:
    """Poll ``condition()`` until it returns something truthy; return that.

    Raises ``TimeoutError`` naming ``what`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` (loopback by default) that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def listening_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port on ``host`` that something listens on while the ``with`` lasts (a taken port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def pdeathsig_prefix() -> list[str]:
    """Command prefix that kills the child if the thread that started it dies.

    It keeps a crashed or SIGKILLed test run from leaving servers behind.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0, group: bool = False) -> int:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; return the exit status."""
    if proc.poll() is None:
        _signal(proc, signal.SIGTERM, group)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            if timeout > 0:
                log.warning(
                    "process did not stop after SIGTERM; killing pid=%d timeout=%.1f",
                    proc.pid,
                    timeout,
                )
    if group or proc.poll() is None:
        _signal(proc, signal.SIGKILL, group)  # also reaps leftovers of a process group
    return proc.wait()


def _signal(proc: subprocess.Popen[Any], sig: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def tail(path: Path, limit: int = 6000) -> str:
    """The end of a log file, for error messages."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")


class ProcessDied(RuntimeError):
    """A supervised server exited while something waited for it."""


class Supervisor:
    """Named long-running servers, each with ``<logdir>/<name>.log``, stopped in reverse order.

    ``group=True`` starts a server in its own process group and kills the whole
    group when it stops, so helpers it forked (containerd's shims, for one) go too.
    """

    def __init__(self, logdir: Path, component: str) -> None:
        self.logdir = logdir
        self.component = component
        self._procs: list[tuple[str, subprocess.Popen[Any], bool]] = []
        self._lock = threading.Lock()

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        group: bool = False,
        cwd: Path | None = None,
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` with its output in ``<name>.log``; return the process."""
        with open(self.logdir / f"{name}.log", "ab") as logfile:
            proc = subprocess.Popen(
                [*pdeathsig_prefix(), *argv],
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                cwd=cwd or self.logdir,
                env=dict(env) if env is not None else None,
                start_new_session=group,
            )
        with self._lock:
            self._procs.append((name, proc, group))
        log.info("started %s pid=%d log=%s", name, proc.pid, self.logdir / f"{name}.log")
        return proc

    def wait_ready(
        self,
        name: str,
        proc: subprocess.Popen[Any],
        probe: Callable[[], Any],
        timeout: float,
    ) -> Any:
        """Wait until ``probe()`` is truthy; raise ProcessDied at once if ``proc`` exits."""

        def ready() -> Any:
            if proc.poll() is not None:
                raise ProcessDied(f"{name} exited with {proc.returncode}\n{self.logs()}")
            return probe()

        try:
            return wait_until(ready, timeout, f"{name} to become ready", interval=0.1)
        except TimeoutError as exc:
            raise ProcessDied(f"{exc}\n{self.logs()}") from None

    def check_alive(self) -> None:
        """Raise ProcessDied if any supervised server has exited."""
        for name, proc, _ in list(self._procs):
            if proc.poll() is not None:
                raise ProcessDied(f"{name} exited with {proc.returncode}\n{self.logs()}")

    def stop_all(self, timeout: float = 15.0) -> None:
        """Stop every server, newest first."""
        with self._lock:
            procs, self._procs = self._procs, []
        for name, proc, group in reversed(procs):
            code = stop_process(proc, timeout=timeout, group=group)
            log.info("stopped %s pid=%d exit=%s", name, proc.pid, code)

    def stop_one(self, name: str, timeout: float = 15.0) -> None:
        """Stop the server called ``name`` (if it was started) and forget it."""
        with self._lock:
            chosen = [entry for entry in self._procs if entry[0] == name]
            self._procs = [entry for entry in self._procs if entry[0] != name]
        for _, proc, group in chosen:
            code = stop_process(proc, timeout=timeout, group=group)
            log.info("stopped %s pid=%d exit=%s", name, proc.pid, code)

    def names(self) -> list[str]:
        """The names of the servers started so far (running or not)."""
        return [name for name, _, _ in self._procs]

    def logs(self, names: Sequence[str] | None = None) -> str:
        """The tails of the servers' log files, labelled."""
        chosen = names if names is not None else self.names()
        return "".join(
            f"--- {name}.log ({self.logdir / (name + '.log')}) ---\n"
            f"{tail(self.logdir / (name + '.log'))}\n"
            for name in chosen
        )
