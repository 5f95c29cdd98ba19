"""Test helpers around the demo RTSP camera and ffmpeg/ffprobe as its clients.

``DemoCameraFactory`` is the body of a fixture: it starts real cameras
(GStreamer's RTSP server, see ``spectare.demo``) with test-sized defaults,
writes each camera's log under the test's directory, and stops every camera
it started at teardown, whatever the test did to them.

The client helpers run the real ffmpeg/ffprobe the way a recorder does
(``-rtsp_transport tcp``, stream copy) and never sleep for a fixed time:
everything waits on a condition with a deadline (``wait_until``).

Wiring, in ``tests/conftest.py``::

    from harness.rtsp import DemoCameraFactory

    @pytest.fixture
    def demo_cameras(tmp_path):
        with DemoCameraFactory(tmp_path / "demo-cameras") as factory:
            yield factory

    @pytest.fixture
    def demo_camera(demo_cameras):
        return demo_cameras()
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from spectare.demo import DemoCamera

__all__ = [
    "TEST_CAMERA_DEFAULTS",
    "DemoCameraFactory",
    "demo_cameras",
    "ffprobe_json",
    "port_is_listening",
    "probe_packets",
    "probe_streams",
    "record",
    "rtsp_status",
    "start_recording",
]

#: Small and cheap: tests care that it is a real stream, not about pixels.
TEST_CAMERA_DEFAULTS: dict[str, Any] = {
    "width": 320,
    "height": 240,
    "fps": 15,
    "bitrate_kbps": 500,
    "gop_seconds": 1.0,
    "start_timeout": 30.0,
}

#: ffmpeg's RTSP socket timeout for helpers, in seconds: a camera that is
#: gone must fail the client quickly rather than hang the test.
CLIENT_IO_TIMEOUT = 5.0

T = TypeVar("T")


class DemoCameraFactory:
    """Start demo cameras for one test; ``close()`` stops them all.

    ``factory(**options)`` takes ``DemoCamera``'s keyword arguments over
    ``TEST_CAMERA_DEFAULTS`` (and the factory's own ``defaults``), starts the
    camera and returns it.  ``start=False`` returns it unstarted.
    """

    def __init__(self, log_dir: str | os.PathLike[str], **defaults: Any) -> None:
        self.log_dir = Path(log_dir)
        self.defaults: dict[str, Any] = {**TEST_CAMERA_DEFAULTS, **defaults}
        self.cameras: list[DemoCamera] = []

    def __call__(self, *, start: bool = True, **options: Any) -> DemoCamera:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        settings = {**self.defaults, **options}
        settings.setdefault("log_path", self.log_dir / f"camera-{len(self.cameras) + 1}.log")
        camera = DemoCamera(**settings)
        # Registered before start(): a camera that fails half-way is still
        # cleaned up.
        self.cameras.append(camera)
        if start:
            camera.start()
        return camera

    def close(self) -> None:
        """Stop every camera (SIGTERM, then SIGKILL); never raises for one."""
        errors: list[BaseException] = []
        for camera in reversed(self.cameras):
            try:
                camera.close()
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        self.cameras.clear()
        if errors:
            raise errors[0]

    def __enter__(self) -> DemoCameraFactory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def demo_cameras(log_dir: str | os.PathLike[str], **defaults: Any) -> Iterator[DemoCameraFactory]:
    """``with demo_cameras(tmp_path) as make: cam = make(audio=True)``."""
    with DemoCameraFactory(log_dir, **defaults) as factory:
        yield factory


def _rtsp_input_args(url: str, transport: str | None) -> list[str]:
    args: list[str] = []
    if url.startswith(("rtsp://", "rtsps://")):
        if transport:
            args += ["-rtsp_transport", transport]
        # Socket I/O timeout (microseconds): fail fast when the camera is gone.
        args += ["-timeout", str(int(CLIENT_IO_TIMEOUT * 1_000_000))]
    return [*args, "-i", url]


def _record_argv(
    url: str,
    output: str | os.PathLike[str],
    seconds: float,
    transport: str | None,
    loglevel: str,
    extra_output_args: Sequence[str],
) -> list[str]:
    """ffmpeg recording ``seconds`` of ``url`` with stream copy, as a recorder would."""
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", loglevel,
        *_rtsp_input_args(url, transport),
        "-t", f"{seconds:g}", "-c", "copy", *extra_output_args, "-y", os.fspath(output),
    ]  # fmt: skip


def record(
    url: str,
    output: str | os.PathLike[str],
    seconds: float,
    *,
    transport: str | None = "tcp",
    extra_output_args: Sequence[str] = (),
    timeout: float | None = None,
    loglevel: str = "error",
) -> subprocess.CompletedProcess[str]:
    """Record ``seconds`` of ``url`` with ``-c copy`` as a recorder would.

    Returns the finished process (``returncode``, ``stderr`` as text); never
    raises for ffmpeg's failure, so tests can assert on the error.
    """
    argv = _record_argv(url, output, seconds, transport, loglevel, extra_output_args)
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout if timeout is not None else seconds + 30,
        check=False,
    )


def start_recording(
    url: str,
    output: str | os.PathLike[str],
    seconds: float,
    *,
    transport: str | None = "tcp",
    loglevel: str = "error",
    extra_output_args: Sequence[str] = ("-flush_packets", "1"),
) -> subprocess.Popen[str]:
    """Like ``record`` but in the background; the caller waits for it.

    Output is flushed packet by packet by default, so a test can watch the
    file grow (e.g. ``wait_until(lambda: len(probe_packets(out)) >= 15, ...)``).
    """
    argv = _record_argv(url, output, seconds, transport, loglevel, extra_output_args)
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def ffprobe_json(
    target: str | os.PathLike[str],
    *args: str,
    transport: str | None = "tcp",
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Run ffprobe with ``-of json`` and the given options; raise on failure."""
    target = os.fspath(target)
    argv = ["ffprobe", "-v", "error", *args, "-of", "json"]
    if target.startswith(("rtsp://", "rtsps://")):
        argv += _rtsp_input_args(target, transport)
    else:
        argv += ["-i", target]
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"ffprobe {target} failed ({done.returncode}): {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout or "{}")
    return result


def probe_streams(target: str | os.PathLike[str], **kwargs: Any) -> list[dict[str, Any]]:
    """ffprobe's streams (codec_name, codec_type, width, height, ...) of a file or URL."""
    return list(ffprobe_json(target, "-show_streams", "-show_format", **kwargs).get("streams", []))


def probe_packets(
    target: str | os.PathLike[str],
    *,
    stream: str = "v",
    count: int | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Packets (pts, dts, flags, size) of one stream; ``count`` limits a live URL."""
    args = ["-select_streams", stream, "-show_entries", "packet=pts,dts,pts_time,flags,size"]
    if count is not None:
        args += ["-read_intervals", f"%+#{count}"]
    return list(ffprobe_json(target, *args, **kwargs).get("packets", []))


def rtsp_status(url: str, *, method: str = "DESCRIBE", timeout: float = 5.0) -> int:
    """Status code of one raw RTSP request (Basic auth from the URL's userinfo).

    Cheap reachability check without ffmpeg: 200 when serving, 401 without
    the right credentials, 404 for an unknown path.  Raises ``OSError``
    (e.g. ``ConnectionRefusedError``) when nothing listens.
    """
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 554
    clean = f"rtsp://{parts.hostname if ':' not in host else f'[{host}]'}:{port}{parts.path or '/'}"
    headers = [f"{method} {clean} RTSP/1.0", "CSeq: 1", "User-Agent: spectare-tests"]
    if method == "DESCRIBE":
        headers.append("Accept: application/sdp")
    if parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers.append("Authorization: Basic " + base64.b64encode(token).decode("ascii"))
    request = ("\r\n".join(headers) + "\r\n\r\n").encode()
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.sendall(request)
        response = b""
        while b"\r\n" not in response:
            chunk = connection.recv(4096)
            if not chunk:
                raise ConnectionError(f"{clean}: connection closed before a status line")
            response += chunk
    status_line = response.split(b"\r\n", 1)[0].decode("latin-1")
    fields = status_line.split()
    if len(fields) < 2 or not fields[0].startswith("RTSP/"):
        raise ConnectionError(f"{clean}: not an RTSP reply: {status_line!r}")
    return int(fields[1])


def port_is_listening(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            # With nothing listening, a connect to a port in the ephemeral
            # range can, rarely, pick that same port as its source and
            # connect to itself (TCP simultaneous open): not a listener.
            return bool(connection.getsockname() != connection.getpeername())
    except OSError:
        return False
