"""The cameras: a grainy 1080p H.264 clip, encoded once, served in real time over RTSP.

Sensor grain is what makes a real camera's keyframes big (~80 kB at 1080p and 4 Mbit/s)
and decoding them dear; a filler-padded test pattern has tiny keyframes and makes
decoding look several times cheaper. The clip is ffmpeg's ``testsrc2`` with temporal
noise, x264 at a constant 4 Mbit/s, GOP 2 s, no B-frames (as cameras send it), 30 s
encoded once and repeated by stream copy to 10 minutes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from record_cost.procs import log

from spectare.demo.camera import gst_python

CACHE = Path.home() / ".cache" / "spectare" / "bench"
SERVER = Path(__file__).with_name("clip_server.py")


@dataclass(frozen=True)
class Clip:
    """What the cameras send."""

    path: Path
    width: int = 1920
    height: int = 1080
    fps: int = 15
    kbps: int = 4000
    gop_seconds: int = 2
    noise: int = 4


def make_clip(clip: Clip) -> Path:
    """Encode the grainy clip unless it is cached."""
    if clip.path.exists():
        return clip.path
    clip.path.parent.mkdir(parents=True, exist_ok=True)
    short = clip.path.with_suffix(".30s.mkv")
    log("encoding the grainy clip once (about a minute)")
    source = (
        f"testsrc2=size={clip.width}x{clip.height}:rate={clip.fps},noise=alls={clip.noise}:allf=t+u"
    )
    gop = str(clip.gop_seconds * clip.fps)
    rate = f"{clip.kbps}k"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", "30",
         "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-bf", "0",
         "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-b:v", rate, "-maxrate", rate,
         "-bufsize", rate, "-pix_fmt", "yuv420p", str(short)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", "19", "-i", str(short), "-c", "copy",
         str(clip.path)],
        check=True,
    )  # fmt: skip
    short.unlink()
    return clip.path


def packet_sizes(path: Path) -> tuple[float, float, float]:
    """(mean keyframe kB, mean other frame kB, Mbit/s) of a recorded file."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "packet=size,flags,duration_time", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    keys, others, seconds = [], [], 0.0
    for line in out.splitlines():  # ffprobe's order: duration_time, size, flags
        duration, size, flags = [*line.split(","), "", "", ""][:3]
        (keys if "K" in flags else others).append(int(size) / 1000)
        with contextlib.suppress(ValueError):
            seconds += float(duration)
    bits = 8 * 1000 * (sum(keys) + sum(others))
    return statistics.fmean(keys), statistics.fmean(others), bits / max(seconds, 1e-9) / 1e6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ClipServer:
    """The RTSP server process (the system's Python with GStreamer)."""

    def __init__(self, clip: Path, cameras: int, log_path: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        with open(log_path, "ab") as out:
            self.popen = subprocess.Popen(
                [gst_python(), str(SERVER), str(clip), str(self.port), str(cameras)],
                stdout=subprocess.PIPE, stderr=out, env=env, cwd="/",
            )  # fmt: skip
        assert self.popen.stdout is not None
        if self.popen.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the clip server did not start; see {log_path}")
        time.sleep(0.2)

    def url(self, index: int) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam{index}"

    def close(self) -> None:
        self.popen.terminate()
        self.popen.wait(timeout=10)
