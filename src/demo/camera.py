"""Run the demo RTSP camera (``rtsp_server.py``) from Spectare's own Python.

The server itself needs PyGObject and GStreamer's RTSP server, which come
from Debian packages and cannot be pip-installed into our virtualenv, so it
runs as a child process under Debian's ``/usr/bin/python3`` (override with
``SPECTARE_GST_PYTHON``).  This module uses the standard library only, so it
can be imported anywhere, including before the rest of ``spectare`` exists.

Typical use::

    with DemoCamera(width=640, height=360) as camera:
        record(camera.url())          # rtsp://127.0.0.1:<port>/demo

    camera.stop(); ...; camera.restart()   # same port again
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import NoReturn
from urllib.parse import quote

__all__ = [
    "DEBIAN_PACKAGES",
    "DEFAULT_GST_PYTHON",
    "DemoCamera",
    "DemoCameraError",
    "DemoCameraMissingPackages",
    "DemoCameraPortInUse",
    "gst_python",
    "missing_packages",
    "server_script",
]

#: What a Debian/Ubuntu machine needs for the demo camera.
DEBIAN_PACKAGES: tuple[str, ...] = (
    "python3-gi",
    "gir1.2-gst-rtsp-server-1.0",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
    "gstreamer1.0-plugins-ugly",
    "gstreamer1.0-x",
)

#: Debian's interpreter, the one that sees the python3-gi package.
DEFAULT_GST_PYTHON = "/usr/bin/python3"

#: Environment variable naming another interpreter that can import ``gi``.
GST_PYTHON_ENV = "SPECTARE_GST_PYTHON"

# Exit statuses of rtsp_server.py (kept in step with that script).
_EXIT_USAGE = 2
_EXIT_MISSING = 3
_EXIT_BIND = 4
_PASSWORD_ENV = "SPECTARE_DEMO_CAMERA_PASSWORD"

_READY_RE = re.compile(rb"^READY rtsp://(?P<host>\[[^\]]+\]|[^:/\s]+):(?P<port>\d+)\s*$")
_MOUNT_RE = re.compile(r"^(/[A-Za-z0-9._~/-]*)(?:=(\d+)x(\d+))?$")


class DemoCameraError(RuntimeError):
    """The demo camera could not be started or did not behave."""


class DemoCameraPortInUse(DemoCameraError):
    """The demo camera's port is taken by another program."""


class DemoCameraMissingPackages(DemoCameraError):
    """The interpreter, PyGObject or a GStreamer element is not installed."""

    def __init__(self, message: str, packages: Sequence[str]) -> None:
        super().__init__(message)
        self.packages: tuple[str, ...] = tuple(packages)


def server_script() -> Path:
    """Path of the GStreamer side, run by file path (it is not imported)."""
    return Path(__file__).with_name("rtsp_server.py")


def gst_python() -> str:
    """The interpreter that runs the server: ``$SPECTARE_GST_PYTHON`` or Debian's."""
    return os.environ.get(GST_PYTHON_ENV) or DEFAULT_GST_PYTHON


def _install_hint(packages: Sequence[str]) -> str:
    return (
        f"the demo camera needs Debian's GStreamer RTSP server and PyGObject: "
        f"apt-get install {' '.join(packages)}"
        f" (or point {GST_PYTHON_ENV} at a Python 3 that can import gi and "
        f"gi.repository.GstRtspServer)"
    )


def _missing_from_log(text: str) -> list[str]:
    for line in reversed(text.splitlines()):
        if line.startswith("MISSING-PACKAGES:"):
            return line.split(":", 1)[1].split()
    return []


def _server_env() -> dict[str, str]:
    # The child is another Python (Debian's): our virtualenv's variables
    # would point it at site-packages built for a different interpreter.
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__"):
        env.pop(name, None)
    return env


def missing_packages(python: str | None = None, timeout: float = 30.0) -> list[str]:
    """Debian packages the demo camera still lacks here; empty when it can run.

    Runs the server with ``--check`` (imports gi, looks up every element), so
    the answer is exactly what ``start()`` would hit.
    """
    interpreter = python or gst_python()
    try:
        done = subprocess.run(
            [interpreter, "-I", str(server_script()), "--check"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_server_env(),
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        return ["python3", *DEBIAN_PACKAGES]
    if done.returncode == 0:
        return []
    packages = _missing_from_log(done.stderr.decode("utf-8", "replace"))
    return packages or list(DEBIAN_PACKAGES)


def _mount_path(spec: str) -> str:
    """``/path`` out of a mount spec ``/path`` or ``/path=WIDTHxHEIGHT``."""
    match = _MOUNT_RE.match(spec)
    if not match or "//" in spec:
        raise ValueError(f"bad mount {spec!r}: want /path or /path=WIDTHxHEIGHT")
    return match.group(1).rstrip("/") or "/"


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
        if path is None:
            path = self.paths[0]
        elif not path.startswith("/"):
            path = "/" + path
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        user, secret = (
            (username, password) if username is not None else (self.username, self.password)
        )
        userinfo = ""
        if (credentials or username is not None) and user is not None:
            userinfo = quote(user, safe="")
            if secret is not None:
                userinfo += ":" + quote(secret, safe="")
            userinfo += "@"
        return f"rtsp://{userinfo}{host}:{self.port}{path}"

    def urls(self, *, credentials: bool = True) -> dict[str, str]:
        """Every mount's URL by path."""
        return {path: self.url(path, credentials=credentials) for path in self.paths}

    def command(self, port: int | None = None) -> list[str]:
        """The argument vector that starts the server (for logs and debugging)."""
        argv = [
            self.python,
            "-I",  # isolated: no PYTHONPATH, no user site, no script dir games
            str(server_script()),
            "--host",
            self.host,
            "--port",
            str(self._requested_port if port is None else port),
            "--width",
            str(self.width),
            "--height",
            str(self.height),
            "--fps",
            str(self.fps),
            "--bitrate-kbps",
            str(self.bitrate_kbps),
            "--gop-seconds",
            repr(float(self.gop_seconds)),
            "--pattern",
            self.pattern,
            "--threads",
            str(self.threads),
            # If we die without stopping it, our end of its stdin closes and
            # it stops too: no orphaned cameras after a killed test run.
            "--exit-on-stdin-eof",
        ]
        for spec in self._mount_specs:
            argv += ["--path", spec]
        if self.audio:
            argv.append("--audio")
        if self.scene:
            argv.append("--scene")
        if self.username is not None:
            # The password travels in the environment, not in argv where
            # every local user could read it with ps.
            argv += ["--username", self.username]
        if self.share_encoder:
            argv.append("--share-encoder")
        if self.fill_bitrate:
            argv.append("--fill-bitrate")
        if not self.keyframe_on_play:
            argv.append("--no-keyframe-on-play")
        if self.verbose:
            argv.append("--verbose")
        return argv

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
            argv = self.command(port)
            log_path = self.log_path
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as log:
                log.write(f"--- starting: {' '.join(argv)}\n".encode())
                log.flush()
                try:
                    process = subprocess.Popen(
                        argv,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=log,
                        env=self._env(),
                        close_fds=True,
                        # Its own session: a Ctrl-C meant for our terminal
                        # must not kill the camera behind our back; we stop
                        # it ourselves, in order.
                        start_new_session=True,
                    )
                except FileNotFoundError as exc:
                    packages = ["python3", *DEBIAN_PACKAGES]
                    raise DemoCameraMissingPackages(
                        f"cannot run the demo camera's interpreter {self.python!r} "
                        f"({exc.strerror}); " + _install_hint(packages),
                        packages,
                    ) from exc
            self._process = process
            try:
                self._port = self._wait_ready(process, time.monotonic() + self.start_timeout)
            except BaseException:
                self._kill(process)
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
            grace = self.stop_timeout if timeout is None else timeout
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self._kill(process)
            self._close_pipes(process)
            return process.returncode

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
        env = _server_env()
        env.pop(_PASSWORD_ENV, None)
        if self.password is not None:
            env[_PASSWORD_ENV] = self.password
        return env

    def _wait_ready(self, process: subprocess.Popen[bytes], deadline: float) -> int:
        """Read the server's stdout until READY; return the bound port."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DemoCameraError(
                        f"the demo camera did not report READY within {self.start_timeout:g} s"
                        + self._log_tail()
                    )
                if not selector.select(remaining):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:  # stdout closed: the server has exited
                    self._raise_exited(process)
                buffer += chunk
        line = buffer.split(b"\n", 1)[0]
        match = _READY_RE.match(line)
        if not match:
            raise DemoCameraError(
                f"unexpected output from the demo camera: {line!r}" + self._log_tail()
            )
        return int(match.group("port"))

    def _raise_exited(self, process: subprocess.Popen[bytes]) -> NoReturn:
        try:
            status = process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            status = None
        log = self.log_text()
        if status == _EXIT_MISSING:
            packages = _missing_from_log(log) or list(DEBIAN_PACKAGES)
            raise DemoCameraMissingPackages(_install_hint(packages) + self._log_tail(), packages)
        if status == _EXIT_BIND:
            raise DemoCameraPortInUse(
                f"the demo camera cannot listen on {self.host}:{self._port or self._requested_port}"
                " (port in use? pass another port, or 0 for any free one)" + self._log_tail()
            )
        if status == _EXIT_USAGE:
            raise DemoCameraError("the demo camera rejected its options" + self._log_tail())
        raise DemoCameraError(
            f"the demo camera exited with status {status} before it was ready" + self._log_tail()
        )

    def _log_tail(self, lines: int = 15) -> str:
        tail = self.log_text().splitlines()[-lines:]
        if not tail:
            return ""
        return f"\n--- {self.log_path} (last lines) ---\n" + "\n".join(tail)

    def _kill(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                process.kill()
        process.wait()
        self._close_pipes(process)

    @staticmethod
    def _close_pipes(process: subprocess.Popen[bytes]) -> None:
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with suppress(OSError):
                    stream.close()

    def _reap(self) -> None:
        # A server that died on its own (crash, killed from outside) is
        # still recorded as ours: collect it before starting again.
        process = self._process
        if process is not None and process.poll() is not None:
            self._close_pipes(process)
            self._process = None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server in the foreground with the given options (a CLI helper).

    ``python -m spectare.demo.camera --port 8554 --path /demo`` — the same
    options as ``rtsp_server.py``; missing packages produce a short hint.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    interpreter = gst_python()
    try:
        done = subprocess.run(
            [interpreter, "-I", str(server_script()), *args], env=_server_env(), check=False
        )
    except FileNotFoundError:
        print(_install_hint(["python3", *DEBIAN_PACKAGES]), file=sys.stderr)
        return _EXIT_MISSING
    except KeyboardInterrupt:
        return 130
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
