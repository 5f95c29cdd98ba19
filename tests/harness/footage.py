"""Looking at recorded footage the way a user would: files on disk, ffprobe, the index."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

LAYOUT = re.compile(
    r"^(?P<camera>[a-z0-9-]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<id>[0-9a-f-]{36})\.mp4$"
)


def segment_files(root: Path) -> list[Path]:
    """Every finished segment file in the tree (not incoming, not quarantined)."""
    return sorted(
        p
        for p in root.rglob("*.mp4")
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def playable_seconds(path: Path) -> float:
    """Seconds of video ffprobe can read from ``path``; 0.0 when it cannot."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        return 0.0
    try:
        return float(json.loads(done.stdout)["format"]["duration"])
    except (KeyError, ValueError):
        return 0.0


def decodes_cleanly(path: Path) -> bool:
    """Whether ffmpeg decodes every frame of ``path`` without an error."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode == 0 and not done.stderr.strip()


def is_uuid7(text: str) -> bool:
    """Whether ``text`` is a version-7 UUID."""
    try:
        return uuid.UUID(text).version == 7
    except ValueError:
        return False
