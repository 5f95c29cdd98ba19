"""The compact live status that ``spectare up`` prints."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from spectare.store import CameraRecord


def ago(moment: float | None, now: float) -> str:
    """``12s ago``, ``4m ago``, ``3h ago`` or ``-``."""
    if moment is None:
        return "-"
    seconds = max(0, int(now - moment))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def status_lines(cameras: Sequence[CameraRecord], now: float) -> list[str]:
    """One line per camera: name, phase, last segment, segments, restarts, message."""
    width = max([6, *(len(c.id) for c in cameras)])
    lines = [
        f"{'CAMERA':<{width}}  {'PHASE':<12}  {'LAST SEGMENT':<12}  {'SEGMENTS':>8}  "
        f"{'RESTARTS':>8}  MESSAGE"
    ]
    for cam in cameras:
        lines.append(
            f"{cam.id:<{width}}  {cam.phase:<12}  {ago(cam.last_segment_at, now):<12}  "
            f"{cam.segments:>8}  {cam.restarts:>8}  {cam.message or ''}"
        )
    return lines


class StatusPrinter:
    """Prints the status block whenever something a person cares about changes."""

    def __init__(self, write: Callable[[str], object]) -> None:
        self.write = write
        self._last: tuple[tuple[str, str, int, int, str | None], ...] | None = None

    def show(self, cameras: Sequence[CameraRecord]) -> None:
        """Print the block if a phase, count or message changed since the last one."""
        key = tuple((c.id, c.phase, c.segments, c.restarts, c.message) for c in cameras)
        if key != self._last:
            self._last = key
            self.write("\n".join(status_lines(cameras, time.time())) + "\n\n")
