"""Run the demo RTSP camera (``rtsp_server.py``) from Spectare's own Python.

The server itself runs as a child process under Debian's ``/usr/bin/python3``
(see ``interpreter``).  This module uses the standard library only, so it can
be imported anywhere, including before the rest of ``spectare`` exists.

Typical use::

    with DemoCamera(width=640, height=360) as camera:
        record(camera.url())          # rtsp://127.0.0.1:<port>/demo

    camera.stop(); ...; camera.restart()   # same port again
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType

from . import server_process
from .interpreter import (
    DEBIAN_PACKAGES,
    DEFAULT_GST_PYTHON,
    DemoCameraError,
    DemoCameraMissingPackages,
    DemoCameraPortInUse,
    gst_python,
    main,
    missing_packages,
    server_env,
    server_script,
)
from .rtsp_options import PASSWORD_ENV, parse_mount
from .urls import rtsp_url

__all__ = [
    "DEBIAN_PACKAGES",
    "DEFAULT_GST_PYTHON",
    "DemoCamera",
    "DemoCameraError",
    "DemoCameraMissingPackages",
    "DemoCameraPortInUse",
    "gst_python",
    "main",
    "missing_packages",
    "server_script",
]


def _mount_path(spec: str) -> str:
    """``/path`` out of a mount spec ``/path`` or ``/path=WIDTHxHEIGHT``."""
    try:
        return parse_mount(spec, (0, 0))[0]
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None


class DemoCamera:
    """A real RTSP camera on this machine: GStreamer's RTSP server in a child.

    Every mount serves H.264 (and, with ``audio``, G.711 A-law) of a moving
    test picture.  Streams are shared: any number of clients can read a mount
    at once, and each new client gets a fresh keyframe as it starts playing.

    Parameters mirror ``rtsp_server.py``'s options.  ``paths`` entries are
    ``/path`` or ``/path=WIDTHxHEIGHT`` (a mount with its own size, e.g. a
    substream).  ``port=0`` lets the OS choose on the first start; later
    restarts reuse the port that was chosen.  ``share_encoder`` makes mounts
    of the same size read one encoder (identical streams, one encoder's CPU:
    the way to run many cameras on a small machine); ``fill_bitrate`` pads
    the stream with H.264 filler so it really carries ``bitrate_kbps`` (the
    test picture alone compresses far below any target).

    The server's standard error is appended to ``log_path`` (a temporary file
    removed by ``close()`` when not given); errors quote its tail.
    """

    def __init__(
        self,
        *,
        paths: Sequence[str] = ("/demo",),
        host: str = "127.0.0.1",
        port: int = 0,
        width: int = 1280,
        height: int = 720,
        fps: int = 15,
        bitrate_kbps: int = 2000,
        gop_seconds: float = 2.0,
        pattern: str = "ball",
        scene: bool = False,
        audio: bool = False,
        username: str | None = None,
        password: str | None = None,
        share_encoder: bool = False,
        fill_bitrate: bool = False,
        keyframe_on_play: bool = True,
        threads: int = 0,
        python: str | None = None,
        log_path: str | os.PathLike[str] | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 5.0,
        verbose: bool = False,
    ) -> None:
        if not paths:
            raise ValueError("a demo camera needs at least one mount path")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        if isinstance(paths, str):
            paths = (paths,)
        self._mount_specs: tuple[str, ...] = tuple(paths)
        self.paths: tuple[str, ...] = tuple(_mount_path(spec) for spec in self._mount_specs)
        self.host = host
        self.width = width
        self.height = height
        self.fps = fps
        self.bitrate_kbps = bitrate_kbps
        self.gop_seconds = gop_seconds
        self.pattern = pattern
        self.scene = scene
        self.audio = audio
        self.username = username
        self.password = password
        self.share_encoder = share_encoder
        self.fill_bitrate = fill_bitrate
        self.keyframe_on_play = keyframe_on_play
        self.threads = threads
        self.python = python or gst_python()
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.verbose = verbose

        self._requested_port = port
        self._port: int | None = port or None
        self._owns_log = log_path is None
        self._log_path: Path | None = Path(log_path) if log_path is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- state

    @property
    def port(self) -> int:
        """The TCP port; known once the camera has started the first time."""
        if self._port is None:
            raise DemoCameraError("the demo camera has not started yet, so it has no port")
        return self._port

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        process = self._process
        return process is not None and process.poll() is None

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    @property
    def log_path(self) -> Path:
        """The file the server's standard error goes to."""
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="spectare-demo-camera-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        return self._log_path

    def log_text(self) -> str:
        """Everything the server has logged so far (all starts)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def url(
        self,
        path: str | None = None,
        *,
        credentials: bool = True,
        username: str | None = None,
        password: str | None = None,
    ) -> str:
        """``rtsp://127.0.0.1:PORT/PATH`` of a mount (the first one by default).

        With ``credentials`` (the default) the camera's username and password
        are embedded, percent-encoded, when it has them; ``username`` and
        ``password`` embed others instead (e.g. wrong ones, for tests).
        """
        user, secret = (
            (username, password) if username is not None else (self.username, self.password)
        )
        if not (credentials or username is not None):
            user = secret = None
        return rtsp_url(self.host, self.port, self.paths[0] if path is None else path, user, secret)

    def urls(self, *, credentials: bool = True) -> dict[str, str]:
        """Every mount's URL by path."""
        return {path: self.url(path, credentials=credentials) for path in self.paths}

    def command(self, port: int | None = None) -> list[str]:
        """The argument vector that starts the server (for logs and debugging)."""
        port = self._requested_port if port is None else port
        argv = [self.python, "-I", str(server_script())]  # -I: no PYTHONPATH, no user site
        options = {
            "--host": self.host, "--port": port, "--width": self.width, "--height": self.height,
            "--fps": self.fps, "--bitrate-kbps": self.bitrate_kbps,
            "--gop-seconds": repr(float(self.gop_seconds)), "--pattern": self.pattern,
            "--threads": self.threads,
        }  # fmt: skip
        for option, value in options.items():
            argv += [option, str(value)]
        # If we die without stopping it, our end of its stdin closes and it
        # stops too: no orphaned cameras after a killed test run.
        argv.append("--exit-on-stdin-eof")
        for spec in self._mount_specs:
            argv += ["--path", spec]
        # The password travels in the environment, not in argv where every
        # local user could read it with ps.
        if self.username is not None:
            argv += ["--username", self.username]
        flags = {
            "--audio": self.audio, "--scene": self.scene, "--share-encoder": self.share_encoder,
            "--fill-bitrate": self.fill_bitrate, "--no-keyframe-on-play": not self.keyframe_on_play,
            "--verbose": self.verbose,
        }  # fmt: skip
        return argv + [flag for flag, wanted in flags.items() if wanted]

    # ------------------------------------------------------------- lifecycle

    def start(self) -> DemoCamera:
        """Start the server and return once it listens (or raise why not).

        Waits for the server's ``READY`` line, at most ``start_timeout``
        seconds.  Raises ``DemoCameraMissingPackages`` naming the Debian
        packages to install when the interpreter, gi or an element is
        missing, and ``DemoCameraError`` for anything else (port taken, bad
        options), quoting the server's log.
        """
        with self._lock:
            if self.running:
                raise DemoCameraError(f"the demo camera is already running (pid {self.pid})")
            self._reap()
            # After the first start, always come back on the same port:
            # clients (and tests) hold URLs with that port in them.
            port = self._port if self._port is not None else self._requested_port
            process = server_process.spawn(self.command(port), self._env(), self.log_path)
            self._process = process
            try:
                self._port = self._wait_ready(process)
            except BaseException:
                server_process.kill(process)
                self._process = None
                raise
            return self

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop the server: SIGTERM, then SIGKILL after ``timeout`` seconds.

        Always reaps the process, so the port is free when this returns.
        Returns the exit status (None when it was not running).  Idempotent.
        """
        with self._lock:
            process = self._process
            if process is None:
                return None
            self._process = None
            return server_process.terminate(
                process, self.stop_timeout if timeout is None else timeout
            )

    def restart(self) -> DemoCamera:
        """Stop (if running) and start again on the same port."""
        with self._lock:
            self.stop()
            return self.start()

    def wait(self, timeout: float | None = None) -> int:
        """Block until the server exits (e.g. a foreground ``spectare demo-camera``)."""
        process = self._process
        if process is None:
            raise DemoCameraError("the demo camera is not running")
        return process.wait(timeout=timeout)

    def close(self) -> None:
        """Stop, and delete the log when it is our own temporary file."""
        self.stop()
        if self._owns_log and self._log_path is not None:
            with suppress(FileNotFoundError):
                self._log_path.unlink()
            self._log_path = None

    @contextmanager
    def stopped(self) -> Iterator[DemoCamera]:
        """Take the camera away for the body of a ``with``; back on the same port after.

        ``with camera.stopped(): wait_until_recorder_notices()`` simulates a
        camera outage.
        """
        self.stop()
        try:
            yield self
        finally:
            self.start()

    def __enter__(self) -> DemoCamera:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"running pid={self.pid}" if self.running else "stopped"
        port = self._port if self._port is not None else "?"
        mounts = ",".join(self.paths)
        return f"<DemoCamera {self.host}:{port} {mounts} {self.width}x{self.height} {state}>"

    # -------------------------------------------------------------- internals

    def _env(self) -> dict[str, str]:
        env = server_env()
        env.pop(PASSWORD_ENV, None)
        if self.password is not None:
            env[PASSWORD_ENV] = self.password
        return env

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> int:
        """Wait for the server's READY line; return the bound port, or raise why not."""
        try:
            return server_process.read_ready_port(process, self.start_timeout)
        except server_process.ServerExited:
            try:
                status: int | None = process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                status = None
            where = f"{self.host}:{self._port or self._requested_port}"
            raise server_process.exit_error(
                status, self.log_text(), where, self._log_tail()
            ) from None
        except DemoCameraError as exc:
            raise DemoCameraError(f"{exc}{self._log_tail()}") from None

    def _log_tail(self, lines: int = 15) -> str:
        tail = self.log_text().splitlines()[-lines:]
        if not tail:
            return ""
        return f"\n--- {self.log_path} (last lines) ---\n" + "\n".join(tail)

    def _reap(self) -> None:
        # A server that died on its own (crash, killed from outside) is
        # still recorded as ours: collect it before starting again.
        process = self._process
        if process is not None and process.poll() is not None:
            server_process.close_pipes(process)
            self._process = None


if __name__ == "__main__":
    sys.exit(main())
