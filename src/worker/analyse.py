"""Thumbnail and motion score of a finished segment, from its keyframes only."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from spectare.worker.ffmpeg import analyse_command
from spectare.worker.motion import frames_of, motion_score

#: Keyframes are scaled to this size before scoring: enough to see a person cross
#: the picture, small enough to score in pure Python.
GRID = (64, 36)


@dataclass(frozen=True)
class Analysis:
    """What analysing a segment produced."""

    thumbnail: bool
    motion: float | None


def analyse(
    segment: Path, thumbnail: Path, ffmpeg: str = "ffmpeg", score: bool = True, timeout: float = 120
) -> Analysis:
    """Write the segment's thumbnail beside it and score its motion (when ``score``)."""
    width, height = GRID
    try:
        done = subprocess.run(
            analyse_command(ffmpeg, segment, thumbnail, GRID if score else None),
            capture_output=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired):
        return Analysis(thumbnail.exists(), None)
    motion = None
    if score and done.stdout:
        motion = motion_score(frames_of(done.stdout, width * height))
    return Analysis(thumbnail.exists(), motion)
