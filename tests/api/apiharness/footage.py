"""Real footage for the API tests: encoded by ffmpeg, thumbnailed, probed, indexed.

This is the one place that makes footage. It writes exactly what the worker
writes (fragmented MP4 under ``<root>/<camera>/<YYYY>/<MM>/<DD>/<uuid>.mp4``, indexed
with the place of its ``.jpg`` thumbnail beside it, which the API makes when first
asked; the segment being written in ``<camera>/.incoming/``) and indexes it through the
store interface, so it can be swapped for footage recorded by the worker itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from spectare.ids import uuid7_at
from spectare.layout import incoming_dir, segment_relpath, thumbnail_relpath
from spectare.store import Event, Footage, Store

#: The container the project records into: survives a SIGKILL, plays in browsers.
MOVFLAGS = "+frag_keyframe+empty_moov+default_base_moof"


def _run(args: list[str]) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


@dataclass(frozen=True)
class Probe:
    """What ffprobe says about a video file."""

    duration: float
    codec: str
    width: int
    height: int


def probe(path: Path) -> Probe:
    """Duration, codec and size of a video file."""
    out = json.loads(
        _run(
            [
                "ffprobe",
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=codec_name,width,height:format=duration",
                "-of",
                "json",
                str(path),
            ]
        )
    )
    stream = out["streams"][0]
    return Probe(
        duration=float(out["format"]["duration"]),
        codec=stream["codec_name"],
        width=int(stream["width"]),
        height=int(stream["height"]),
    )


class ClipMaker:
    """Encodes test clips with ffmpeg, once per (pattern, length), then copies them."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)

    def clip(self, pattern: str, seconds: float, size: str = "640x360", rate: int = 15) -> Path:
        """A fragmented H.264 MP4 of an ffmpeg test pattern (testsrc2, mandelbrot, ...)."""
        dest = self.cache / f"{pattern}-{seconds:g}-{size}-{rate}.mp4"
        if not dest.exists():
            _run(
                [
                    "ffmpeg",
                    "-nostdin",
                    "-v",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    f"{pattern}=size={size}:rate={rate}",
                    "-t",
                    f"{seconds:g}",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-pix_fmt",
                    "yuv420p",
                    "-g",
                    str(rate * 2),
                    "-movflags",
                    MOVFLAGS,
                    "-f",
                    "mp4",
                    str(dest),
                ]
            )
        return dest


def record_segment(
    store: Store,
    root: Path,
    camera: str,
    start: float,
    clip: Path,
    *,
    thumbnail: bool = True,
    motion: float | None = None,
) -> Footage:
    """Place ``clip`` as a segment of ``camera`` starting at ``start`` and index it."""
    info = probe(clip)
    segment_id = str(uuid7_at(start))
    relpath = segment_relpath(camera, start, segment_id, "mp4")
    dest = root / relpath
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, dest)
    thumb_rel = thumbnail_relpath(relpath) if thumbnail else None
    footage = Footage(
        id=segment_id,
        camera=camera,
        path=relpath,
        start=start,
        end=start + info.duration,
        duration=info.duration,
        bytes=dest.stat().st_size,
        container="mp4",
        codec=info.codec,
        width=info.width,
        height=info.height,
        motion=motion,
        thumbnail=thumb_rel,
    )
    # The worker indexes a segment as soon as it is closed: "now" is its end.
    assert store.add_footage(footage, now=footage.end)
    return footage


def add_motion(store: Store, footage: Footage, offset: float, length: float, score: float) -> Event:
    """A motion event inside ``footage``."""
    event = Event(
        id=str(uuid7_at(footage.start + offset)),
        camera=footage.camera,
        footage_id=footage.id,
        start=footage.start + offset,
        end=footage.start + offset + length,
        score=score,
    )
    store.add_event(event)
    return event


def write_incoming(root: Path, camera: str, clip: Path) -> Path:
    """A segment the camera's worker is still writing."""
    dest = incoming_dir(root, camera) / "0a1b2c3d4e5f-1-000007.mp4"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, dest)
    return dest
