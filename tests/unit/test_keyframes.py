"""Motion from sparse keyframes: splitting the keyframe stream into access units, and the
sampler with a real decoder ffmpeg scoring a moving picture above a still one."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from spectare.worker.keyframes import MotionSampler, keyframe_pipe, sample_seconds, split_units

SPS, PPS, IDR = b"\x00\x00\x00\x01\x67\x42", b"\x00\x00\x00\x01\x68\xce", b"\x00\x00\x01\x65\x88"


def test_units_split_at_each_parameter_set_and_the_last_waits_for_the_next() -> None:
    first = SPS + PPS + IDR + b"\x11" * 10
    second = SPS + PPS + SPS + PPS + IDR + IDR  # parameter sets twice, two slices: one unit
    units, rest = split_units(first + second + SPS[:3], "h264")
    assert units == [first]
    assert rest == second + SPS[:3]
    more, rest = split_units(rest + SPS[3:] + PPS, "h264")
    assert more == [second] and rest == SPS + PPS


def test_hevc_units_open_with_a_vps() -> None:
    vps = b"\x00\x00\x00\x01\x40\x01"
    unit = vps + b"\x00\x00\x01\x42\x01" + b"\x00\x00\x01\x26\x01" + b"\x33" * 5
    assert split_units(unit + unit, "hevc") == ([unit], unit)


def test_sampling_is_sparse_but_at_least_twice_per_segment() -> None:
    assert sample_seconds(300) == 20.0
    assert sample_seconds(6) == 3.0
    assert sample_seconds(2) == 1.0


def _keyframes(tmp_path: Path, source: str) -> Path:
    """Annex B keyframes of a 4 s clip, as the recording ffmpeg's keyframe output has them."""
    clip = tmp_path / "clip.h264"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", "4",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-pix_fmt", "yuv420p",
         "-bsf:v", "dump_extra=freq=keyframe,filter_units=pass_types=5|7|8", "-f", "h264",
         str(clip)],
        check=True, timeout=60,
    )  # fmt: skip
    return clip


def _score(clip: Path) -> float | None:
    reader, write_fd = keyframe_pipe()
    sampler = MotionSampler(reader, "h264", "ffmpeg", every=0.0)
    units, last = split_units(clip.read_bytes(), "h264")

    def write() -> None:  # as a camera delivers them: one keyframe at a time
        with open(write_fd, "wb", buffering=0) as out:
            for unit in [*units, last]:
                out.write(unit)
                time.sleep(0.2)

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(timeout=10)
    # Four keyframes in: the last waits for a fifth that never comes, so three decode.
    deadline = time.monotonic() + 20
    score = None
    while time.monotonic() < deadline and score is None:
        time.sleep(0.1)
        score = sampler.take()
    sampler.close()
    return score


@pytest.mark.slow
def test_moving_picture_scores_above_a_still_one(tmp_path: Path) -> None:
    moving = _score(_keyframes(tmp_path, "testsrc2=size=320x180:rate=15"))
    still = _score(_keyframes(tmp_path, "smptebars=size=320x180:rate=15"))
    assert moving is not None and moving > 0.05
    assert still is not None and still < 0.01
