"""Frigate's recording maintainer, reproduced for the cost comparison (our own code).

Frigate's recording ffmpeg writes 10 s MP4 segments into a cache folder. One Python
process for all cameras then looks at the cache about once a second and, for every
segment the ffmpeg has moved on from, asks ffprobe for its duration and copies it into
the recordings tree with a ``+faststart`` remux (a second ffmpeg per segment), then
deletes the cached file. Object detection, which decodes a substream, is not part of
this line: only what recording costs.

    python bench/record_cost/frigate.py CACHE RECORDINGS
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path


def finished(cache: Path) -> list[Path]:
    """Cached segments their ffmpeg has closed: all but each camera's newest."""
    by_camera: dict[str, list[Path]] = {}
    for path in sorted(cache.glob("*.mp4")):
        by_camera.setdefault(path.name.split("@")[0], []).append(path)
    return [p for paths in by_camera.values() for p in paths[:-1]]


def move(segment: Path, recordings: Path) -> None:
    """Probe the duration, remux with faststart into the recordings tree, drop the cache."""
    subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration",
         "-of", "default=noprint_wrappers=1:nokey=1", str(segment)],
        capture_output=True, check=False,
    )  # fmt: skip
    target = recordings / segment.name
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-y", "-i", str(segment), "-c", "copy",
         "-movflags", "+faststart", str(target)],
        capture_output=True, check=False,
    )  # fmt: skip
    segment.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    cache, recordings = Path(argv[0]), Path(argv[1])
    recordings.mkdir(parents=True, exist_ok=True)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for segment in finished(cache):
            move(segment, recordings)
        time.sleep(1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
