"""The demo camera's server as a child process: start, READY line, exit, stop.

``spawn`` starts it in a session of its own with its standard error in a log
file; ``read_ready_port`` reads its standard output up to the one line it
prints once it listens; ``exit_error`` turns the exit status of a server that
ended before that into the error the user sees (pure: status and log in);
``terminate`` and ``kill`` stop it and always reap it, so its port is free.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from .interpreter import (
    DEBIAN_PACKAGES,
    DemoCameraError,
    DemoCameraMissingPackages,
    DemoCameraPortInUse,
    install_hint,
    missing_from_log,
)
from .rtsp_options import EXIT_BIND, EXIT_MISSING, EXIT_USAGE

_READY_RE = re.compile(rb"^READY rtsp://(?P<host>\[[^\]]+\]|[^:/\s]+):(?P<port>\d+)\s*$")


class ServerExited(Exception):
    """The server closed its standard output before it was ready."""


def read_ready_port(process: subprocess.Popen[bytes], timeout: float) -> int:
    """Read the server's stdout until its READY line; return the port it listens on.

    Raises ``ServerExited`` when the server ends first and ``DemoCameraError``
    on a timeout or any other first line.
    """
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    fd = process.stdout.fileno()
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DemoCameraError(f"the demo camera did not report READY within {timeout:g} s")
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:  # stdout closed: the server has exited
                raise ServerExited()
            buffer += chunk
    line = buffer.split(b"\n", 1)[0]
    match = _READY_RE.match(line)
    if not match:
        raise DemoCameraError(f"unexpected output from the demo camera: {line!r}")
    return int(match.group("port"))


def exit_error(status: int | None, log: str, address: str, tail: str = "") -> DemoCameraError:
    """The error for a server that exited with ``status`` before it was ready.

    ``log`` is everything the server logged, ``address`` where it was to listen;
    ``tail`` (the log's last lines, for a human) ends the message.
    """
    if status == EXIT_MISSING:
        packages = missing_from_log(log) or list(DEBIAN_PACKAGES)
        return DemoCameraMissingPackages(install_hint(packages) + tail, packages)
    if status == EXIT_BIND:
        return DemoCameraPortInUse(
            f"the demo camera cannot listen on {address}"
            " (port in use? pass another port, or 0 for any free one)" + tail
        )
    if status == EXIT_USAGE:
        return DemoCameraError("the demo camera rejected its options" + tail)
    return DemoCameraError(
        f"the demo camera exited with status {status} before it was ready" + tail
    )


def spawn(argv: list[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start the server, its standard error appended to ``log_path`` after a header line."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"--- starting: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=dict(env),
                close_fds=True,
                # Its own session: a Ctrl-C meant for our terminal must not
                # kill the camera behind our back; we stop it ourselves, in order.
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            packages = ["python3", *DEBIAN_PACKAGES]
            raise DemoCameraMissingPackages(
                f"cannot run the demo camera's interpreter {argv[0]!r} "
                f"({exc.strerror}); " + install_hint(packages),
                packages,
            ) from exc


def terminate(process: subprocess.Popen[bytes], grace: float) -> int:
    """SIGTERM, SIGKILL after ``grace`` seconds; reap it and return its exit status."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kill(process)
    close_pipes(process)
    return process.wait()


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL (if it still runs) and reap."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            process.kill()
    process.wait()
    close_pipes(process)


def close_pipes(process: subprocess.Popen[bytes]) -> None:
    """Close our ends of its standard input (which tells it to stop) and output."""
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with suppress(OSError):
                stream.close()
