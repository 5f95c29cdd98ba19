"""Motion score: share of pixels that changed between keyframes."""

from __future__ import annotations

from spectare.worker.motion import changed_share, frames_of, motion_score

STILL = bytes([100] * 64)


def test_still_scene_scores_zero_despite_noise() -> None:
    noisy = bytes(100 + (i % 5) for i in range(64))
    assert motion_score([STILL, noisy, STILL]) == 0.0


def test_moving_object_scores_its_area() -> None:
    moved = bytes([200] * 16 + [100] * 48)
    assert changed_share(STILL, moved) == 0.25
    assert motion_score([STILL, STILL, moved, moved]) == 0.25


def test_frames_split_and_short_tail_dropped() -> None:
    assert list(frames_of(b"aabbc", 2)) == [b"aa", b"bb"]
    assert motion_score([]) == 0.0 and motion_score([STILL]) == 0.0
