"""A real RethinkDB server for the tests: named by the environment, or one of a test's own.

``SPECTARE_TEST_RETHINKDB`` names a server the tests may use; ``RethinkServer``
runs one from ``SPECTARE_TEST_RETHINKDB_BIN`` in a temporary directory on free
loopback ports, and can restart, pause (SIGSTOP) and resume it: what the mock
cannot show is tested against a real server only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from rethinkdb import r
from rethinkdb.errors import ReqlDriverError

from harness.procs import free_port, wait_until

REAL_ENV = "SPECTARE_TEST_RETHINKDB"
BIN_ENV = "SPECTARE_TEST_RETHINKDB_BIN"


def real_server_url() -> str | None:
    """The real server the tests may use (``SPECTARE_TEST_RETHINKDB``), if any."""
    return os.environ.get(REAL_ENV) or None


def host_port(url: str) -> tuple[str, int]:
    """(host, port) of a rethinkdb:// URL."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 28015


class RethinkServer:
    """A RethinkDB server of the test's own: a temp directory, free loopback ports."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.cluster_port = free_port()
        self.log = directory.parent / f"{directory.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rethinkdb://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or start again, on the same data and ports) and wait until it answers."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "--directory", str(self.directory), "--bind", "127.0.0.1",
                 "--driver-port", str(self.port), "--cluster-port", str(self.cluster_port),
                 "--no-http-admin"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until(self._answers, 60, f"RethinkDB on port {self.port} answering")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"rethinkdb exited; see {self.log}")
        try:
            conn = r.connect("127.0.0.1", self.port, timeout=2)
        except ReqlDriverError:
            return False
        conn.close()
        return True

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL), waiting until it is gone."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)  # a paused server cannot stop
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop and start again: every client connection is closed by the server."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the server stops answering, its sockets stay open."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
