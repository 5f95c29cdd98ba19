"""What a media file holds, as ffprobe sees it."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from spectare.worker.ffmpeg import probe_command, remux_command


@dataclass(frozen=True)
class MediaInfo:
    """Duration and first video stream of a file."""

    duration: float
    codec: str | None
    width: int | None
    height: int | None


def parse_probe(output: str) -> MediaInfo | None:
    """MediaInfo from ffprobe's JSON, or None when there is no playable video."""
    try:
        data = json.loads(output or "{}")
        duration = float(data.get("format", {}).get("duration") or 0.0)
    except (ValueError, TypeError):
        return None
    streams = data.get("streams") or []
    if not streams or duration <= 0:
        return None
    video = streams[0]
    return MediaInfo(duration, video.get("codec_name"), video.get("width"), video.get("height"))


def probe(path: Path, ffprobe: str = "ffprobe", timeout: float = 60.0) -> MediaInfo | None:
    """Probe ``path``; None when it holds no playable video."""
    try:
        done = subprocess.run(
            probe_command(ffprobe, path), capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_probe(done.stdout) if done.returncode == 0 else None


def repair(path: Path, ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe") -> MediaInfo | None:
    """Remux a file that does not probe as playable (a killed writer's Matroska has no
    duration, say) in place; what it then holds, or None with the file left as it was."""
    fixed = path.with_name(f".repair-{path.name}")
    try:
        done = subprocess.run(remux_command(ffmpeg, path, fixed), capture_output=True, timeout=300)
        info = probe(fixed, ffprobe) if done.returncode == 0 else None
        if info is not None:
            os.replace(fixed, path)
        return info
    except (OSError, subprocess.TimeoutExpired):
        return None
    finally:
        fixed.unlink(missing_ok=True)
