"""A private Docker engine for building the images: Debian's dockerd on its own socket.

``PrivateDockerd`` starts Debian's ``containerd`` and ``dockerd`` (package ``docker.io``)
with their own roots, sockets and pid files, and stops both when the ``with`` block
ends.  The engine's data root lives under the harness cache
(``${SPECTARE_CACHE_DIR:-~/.cache/spectare}/docker``), so its images and build cache
survive between runs; everything else (sockets, exec root, state) is in a temporary
directory removed at stop.

It never touches the host's network set-up: ``--iptables=false --ip-forward=false
--bridge=none`` (no docker0, no NAT rules, no FORWARD policy change), and builds use
``--network host``.  A lock file keeps two runs from sharing one data root at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from harness.procs import wait_until

__all__ = ["DockerError", "PrivateDockerd", "cache_dir", "progress"]

#: Where Debian's docker.io installs its client; another ``docker`` on PATH may be of
#: another version with other defaults (BuildKit, plugins).
DEBIAN_DOCKER_CLIENT = "/usr/bin/docker"


class DockerError(RuntimeError):
    """The private engine could not start, or a docker command failed."""


def cache_dir() -> Path:
    """The harness cache root: ``SPECTARE_CACHE_DIR`` or ``~/.cache/spectare``."""
    root = os.environ.get("SPECTARE_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "spectare"
    )
    return Path(root)


def progress(message: str) -> None:
    """One line of progress on stderr: ``[images] message``."""
    print(f"[images] {message}", file=sys.stderr, flush=True)


def _executable(name: str, preferred: str | None = None) -> str:
    if preferred and os.access(preferred, os.X_OK):
        return preferred
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise DockerError(f"{name} not found: run scripts/setup --test (Debian's docker.io)")
    return found


def _mounts_under(root: Path) -> list[str]:
    """Mount points below ``root``."""
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1].replace("\\040", " ") for line in mounts]
    return [point for point in points if point.startswith(prefix)]


class PrivateDockerd:
    """Debian's dockerd (with its own containerd) on private sockets; a context manager."""

    def __init__(self, data_root: Path | None = None, start_timeout: float = 90.0) -> None:
        self.data_root = data_root or cache_dir() / "docker"
        self.start_timeout = start_timeout
        self.run_dir: Path | None = None
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._lock: IO[str] | None = None
        self.client = _executable("docker", DEBIAN_DOCKER_CLIENT)

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> PrivateDockerd:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def socket(self) -> Path:
        """The engine's API socket."""
        assert self.run_dir is not None, "not started"
        return self.run_dir / "docker.sock"

    @property
    def log_path(self) -> Path:
        """dockerd's and containerd's combined log (kept in the cache for debugging)."""
        return self.data_root.parent / "dockerd.log"

    def start(self) -> PrivateDockerd:
        """Start containerd and dockerd; return once the engine answers ``docker info``."""
        self.data_root.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.data_root.parent / "docker.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another run to release {self.data_root}")
            fcntl.flock(self._lock, fcntl.LOCK_EX)
        # Short paths: unix socket names are limited to 108 bytes.
        self.run_dir = Path(tempfile.mkdtemp(prefix="spectare-dockerd-"))
        try:
            self._start_processes()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_processes(self) -> None:
        assert self.run_dir is not None
        run = self.run_dir
        containerd_sock = run / "containerd.sock"
        config = run / "containerd.toml"
        # Its own containerd: without --containerd, dockerd would join a containerd it
        # finds at the default socket (the test cluster's own, for one).
        config.write_text(
            "version = 2\n"
            f'root = "{self.data_root / "containerd"}"\n'
            f'state = "{run / "containerd-state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{containerd_sock}"\n'
            f'[ttrpc]\n  address = "{run / "containerd-ttrpc.sock"}"\n'
            '[debug]\n  address = ""\n[metrics]\n  address = ""\n'
        )
        (run / "daemon.json").write_text(json.dumps({}))
        progress(f"starting private dockerd (data root {self.data_root})")
        self._spawn("containerd", [_executable("containerd"), "--config", str(config)])
        wait_until(
            lambda: self._alive() and containerd_sock.exists(), 30, "containerd", interval=0.1
        )
        self._spawn(
            "dockerd",
            [
                _executable("dockerd"),
                "--config-file", str(run / "daemon.json"),
                "--data-root", str(self.data_root / "engine"),
                "--exec-root", str(run / "exec"),
                "--pidfile", str(run / "dockerd.pid"),
                "--host", f"unix://{self.socket}",
                "--containerd", str(containerd_sock),
                "--iptables=false", "--ip6tables=false", "--ip-forward=false",
                "--ip-masq=false", "--bridge=none", "--userland-proxy=false",
                "--storage-driver", "overlay2", "--log-level", "warn",
            ],
        )  # fmt: skip

        def ready() -> bool:
            if not self._alive():
                raise DockerError(f"the private dockerd exited:\n{self._log_tail()}")
            if not self.socket.exists():
                return False
            return self.run(["version"], check=False, timeout=10).returncode == 0

        try:
            wait_until(ready, self.start_timeout, "the private dockerd", interval=0.1)
        except TimeoutError as exc:
            raise DockerError(f"{exc}\n{self._log_tail()}") from None
        progress(f"private dockerd ready on {self.socket}")

    def _spawn(self, name: str, argv: Sequence[str]) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%FT%TZ', time.gmtime())} {name} ---\n".encode())
            log.flush()
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self._procs.append((name, proc))

    def _alive(self) -> bool:
        return all(proc.poll() is None for _, proc in self._procs)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_bytes()[-6000:].decode("utf-8", "replace")
        return ""

    def stop(self) -> None:
        """Stop dockerd, then containerd (SIGTERM, then SIGKILL), and remove the run dir."""
        for name, proc in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    progress(f"{name} ignored SIGTERM for 30 s: killing it")
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        if self.run_dir is not None:
            # dockerd leaves its exec root's netns/default (an nsfs mount) behind.
            for point in sorted(_mounts_under(self.run_dir), key=len, reverse=True):
                subprocess.run(["umount", "-l", point], check=False, capture_output=True)
            if not _mounts_under(self.run_dir):
                shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None
            progress("private dockerd stopped")
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    # -- the client --------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment for Debian's docker client talking to this engine only."""
        assert self.run_dir is not None, "not started"
        env = dict(os.environ)
        env.update(
            DOCKER_HOST=f"unix://{self.socket}",
            DOCKER_CONFIG=str(self.run_dir / "client"),  # no user config, no credentials
            DOCKER_BUILDKIT="0",  # the classic builder: no frontend image to pull
        )
        return env

    def run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 600,
        stdin: IO[bytes] | None = None,
        log: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker <args>`` against this engine; output captured (or sent to ``log``)."""
        argv = [self.client, *args]
        if log is not None:
            with open(log, "ab") as out:
                done = subprocess.run(
                    argv, env=self.env(), stdin=stdin, stdout=out, stderr=subprocess.STDOUT,
                    timeout=timeout, check=False,
                )  # fmt: skip
            result = subprocess.CompletedProcess(argv, done.returncode, "", "")
            if check and done.returncode != 0:
                tail = log.read_bytes()[-6000:].decode("utf-8", "replace")
                raise DockerError(f"docker {' '.join(args[:3])} failed; {log}:\n{tail}")
            return result
        result = subprocess.run(
            argv, env=self.env(), stdin=stdin, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise DockerError(f"docker {' '.join(args[:3])} failed: {result.stderr[-4000:]}")
        return result

    def image_inspect(self, ref: str) -> dict[str, Any] | None:
        """``docker image inspect`` of ``ref`` as a dict, or None when there is none."""
        done = self.run(["image", "inspect", ref], check=False, timeout=60)
        if done.returncode != 0:
            return None
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found[0] if found else None
