"""Motion score from tiny grey keyframes: pure functions, no image library needed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

#: A pixel counts as changed when its grey level moves by more than this (of 255);
#: below it sit sensor noise and compression artefacts.
PIXEL_DELTA = 24


def frames_of(data: bytes, frame_size: int) -> Iterator[bytes]:
    """Split raw grey video into frames of ``frame_size`` bytes (a short tail is dropped)."""
    for offset in range(0, len(data) - frame_size + 1, frame_size):
        yield data[offset : offset + frame_size]


def changed_share(before: bytes, after: bytes, delta: int = PIXEL_DELTA) -> float:
    """Share of pixels that changed by more than ``delta`` between two frames."""
    if not before or len(before) != len(after):
        return 0.0
    changed = sum(1 for a, b in zip(before, after, strict=True) if abs(a - b) > delta)
    return changed / len(before)


def motion_score(frames: Iterable[bytes]) -> float:
    """The largest change between consecutive keyframes: 0.0 (still) to 1.0."""
    best = 0.0
    previous: bytes | None = None
    for frame in frames:
        if previous is not None:
            best = max(best, changed_share(previous, frame))
        previous = frame
    return best
