"""Motion of a closed segment: which keyframes are sampled, finding them in fragmented MP4
without ffmpeg, and real segments (mp4, ts, mkv; H.264 and HEVC) scored by a real
decoder, a moving picture above a still one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from spectare.worker.keyframes import SegmentMotion, pick, sample_seconds, split_units
from spectare.worker.mp4_keyframes import annex_b, read_keyframes

SPS, PPS, IDR = b"\x00\x00\x00\x01\x67\x42", b"\x00\x00\x00\x01\x68\xce", b"\x00\x00\x01\x65\x88"
MOVING, STILL = "testsrc2=size=320x180:rate=15", "smptebars=size=320x180:rate=15"


def test_units_split_at_each_parameter_set() -> None:
    first = SPS + PPS + IDR + b"\x11" * 10
    second = SPS + PPS + SPS + PPS + IDR + IDR  # parameter sets twice, two slices: one unit
    assert split_units(first + second, "h264") == [first, second]


def test_hevc_units_open_with_a_vps() -> None:
    vps = b"\x00\x00\x00\x01\x40\x01"
    unit = vps + b"\x00\x00\x01\x42\x01" + b"\x00\x00\x01\x26\x01" + b"\x33" * 5
    assert split_units(unit + unit, "hevc") == [unit, unit]


def test_sampling_is_sparse_but_at_least_twice_per_segment() -> None:
    assert sample_seconds(300) == 20.0
    assert sample_seconds(6) == 3.0
    assert sample_seconds(2) == 1.0


def test_one_keyframe_is_picked_per_period() -> None:
    every_two_seconds = [2.0 * i for i in range(30)]
    assert pick(every_two_seconds, 20.0) == [0, 10, 20]
    assert pick([0.0, 0.5, 3.1, 3.2, 6.2], 3.0) == [0, 2, 4]
    assert pick([], 20.0) == []


def test_length_prefixed_units_become_annex_b() -> None:
    sample = b"\x00\x00\x00\x02\x65\x88" + b"\x00\x00\x00\x01\x06"
    assert annex_b(sample, 4) == b"\x00\x00\x00\x01\x65\x88\x00\x00\x00\x01\x06"


def segment(tmp_path: Path, source: str, container: str, codec: str = "libx264") -> Path:
    """A 4 s segment as a camera's stream recorded: a keyframe a second, no B-frames,
    fragmented MP4 with the worker's own fragment options."""
    path = tmp_path / f"{source.split('=')[0]}-{codec}.{container}"
    options = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof",
               "-frag_duration", "500000"] if container == "mp4" else []  # fmt: skip
    x265 = ["-x265-params", "log-level=error"] if codec == "libx265" else []
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", "4",
         "-c:v", codec, "-preset", "ultrafast", "-g", "15", "-bf", "0", "-pix_fmt", "yuv420p",
         *x265, *options, str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    return path


@pytest.mark.parametrize(("codec", "name"), [("libx264", "h264"), ("libx265", "hevc")])
def test_keyframes_are_found_in_fragmented_mp4(tmp_path: Path, codec: str, name: str) -> None:
    found = read_keyframes(segment(tmp_path, MOVING, "mp4", codec))
    assert found is not None
    track, keyframes = found
    assert track.codec == name and track.parameter_sets.startswith(b"\x00\x00\x00\x01")
    assert [round(k.seconds, 2) for k in keyframes] == [0.0, 1.0, 2.0, 3.0]
    assert all(k.size > 100 for k in keyframes)


def test_a_file_that_is_not_fragmented_mp4_has_no_keyframes_to_read(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x10free" + b"\x00" * 8)
    assert read_keyframes(junk) is None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("container", "codec"),
    [("mp4", "libx264"), ("ts", "libx264"), ("mkv", "libx264"), ("mp4", "libx265")],
)
def test_moving_picture_scores_above_a_still_one(
    tmp_path: Path, container: str, codec: str
) -> None:
    name = "hevc" if codec == "libx265" else "h264"
    scores = {}
    for source in (MOVING, STILL):
        motion = SegmentMotion("ffmpeg", every=1.0)
        scores[source] = motion.score(segment(tmp_path, source, container, codec), name, 0, 4)
    assert scores[MOVING] is not None and scores[MOVING] > 0.05
    assert scores[STILL] is not None and scores[STILL] < 0.01


@pytest.mark.slow
def test_a_change_between_two_segments_counts_unless_there_was_a_gap(tmp_path: Path) -> None:
    still, moving = segment(tmp_path, STILL, "mp4"), segment(tmp_path, MOVING, "mp4")
    alone = SegmentMotion("ffmpeg", every=2.0)
    assert (alone.score(still, "h264", 104.0, 108.0) or 0.0) < 0.01
    contiguous = SegmentMotion("ffmpeg", every=2.0)
    contiguous.score(moving, "h264", 100.0, 104.0)
    assert (contiguous.score(still, "h264", 104.0, 108.0) or 0.0) > 0.05
    after_gap = SegmentMotion("ffmpeg", every=2.0)
    after_gap.score(moving, "h264", 100.0, 104.0)
    assert (after_gap.score(still, "h264", 300.0, 304.0) or 0.0) < 0.01


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def test_an_unreadable_segment_goes_unscored(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ts"
    broken.write_bytes(b"\x47" * 1000)
    assert SegmentMotion("ffmpeg", every=1.0).score(broken, "h264", 0, 4) is None
    # Boxes in their places but cut short inside: the score is lost, not the worker.
    stbl = box(b"minf", box(b"stbl", box(b"stsd", b"\x00" * 16)))
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(box(b"moov", box(b"trak", box(b"mdia", box(b"mdhd", b"\x00"), stbl))))
    assert SegmentMotion("ffmpeg", every=1.0).score(damaged, "h264", 0, 4) is None
