"""ffmpeg's command lines, segment list, failure causes and the wall-clock timeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from spectare.model import CameraSpec
from spectare.worker.backoff import next_delay
from spectare.worker.ffmpeg import (
    Cause,
    RecordJob,
    SegmentEntry,
    Timeline,
    classify_exit,
    parse_segment_line,
    record_command,
)


def job(**spec: object) -> RecordJob:
    return RecordJob(
        url="rtsp://u:p@cam/1",
        spec=CameraSpec(url="rtsp://cam/1", **spec),  # type: ignore[arg-type]
        container="mp4",
        incoming=Path("/f/cam/.incoming"),
        run_id="run1",
        snapshot=Path("/f/cam/latest.jpg"),
    )


def test_recording_copies_video_and_never_decodes_it() -> None:
    cmd = record_command(job(segmentSeconds=60, transport="udp"))
    text = " ".join(cmd)
    assert "-map 0:v:0 -c copy -an" in text
    assert "-segment_time 60" in text and "-rtsp_transport udp" in text
    assert "movflags=+frag_keyframe+empty_moov+default_base_moof" in text
    assert "-segment_list pipe:1 -segment_list_type csv" in text
    assert cmd[cmd.index("-segment_list_type") + 2] == "/f/cam/.incoming/run1-%06d.mp4"
    # Only the snapshot output decodes, and only keyframes.
    assert "-skip_frame nokey" in text and text.endswith("/f/cam/latest.jpg")


def test_no_snapshot_no_decoding() -> None:
    spec_job = job(snapshotSeconds=0)
    cmd = record_command(RecordJob(**{**spec_job.__dict__, "snapshot": None}))
    assert "-skip_frame" not in cmd and "image2" not in cmd


def test_segment_list_lines() -> None:
    assert parse_segment_line("run1-000003.mp4,12.000000,17.5\n") == SegmentEntry(
        "run1-000003.mp4", 12.0, 17.5
    )
    assert parse_segment_line("garbage") is None
    assert parse_segment_line("a,b,c") is None


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        ("[rtsp @ 0x1] method DESCRIBE failed: 401 Unauthorized", Cause.AUTH),
        (
            "[tcp @ 0x1] Connection to tcp://10.0.0.1:554 failed: Connection refused",
            Cause.UNREACHABLE,
        ),
        ("[rtsp @ 0x1] method DESCRIBE failed: 404 Not Found", Cause.NOT_FOUND),
        ("[info] video:6596kB audio:0kB", Cause.ENDED),
    ],
)
def test_causes(line: str, cause: Cause) -> None:
    assert classify_exit(["[info] noise", line], stopping=False) is cause
    assert classify_exit([line], stopping=True) is Cause.STOPPED


def test_backoff_slower_for_bad_credentials() -> None:
    assert [next_delay(Cause.UNREACHABLE, n) for n in (0, 1, 2, 3, 6, 9)] == [0, 1, 2, 4, 30, 30]
    assert [next_delay(Cause.AUTH, n) for n in (1, 2, 5, 9)] == [30, 60, 300, 300]


class TestTimeline:
    def test_late_first_line_is_corrected_by_later_ones(self) -> None:
        line = Timeline(started_at=100.0)
        # ffmpeg probed for 5 s, then wrote the first two lines in a burst.
        assert line.place(SegmentEntry("a", 0, 4), arrived_at=109.7) == (105.7, 109.7)
        assert line.place(SegmentEntry("b", 4, 6), arrived_at=109.8) == (107.8, 109.8)
        # The first line written in real time gives the stream's true start.
        assert line.place(SegmentEntry("c", 6, 10), arrived_at=110.3) == (106.3, 110.3)
        assert line.place(SegmentEntry("d", 10, 14), arrived_at=114.35) == (110.3, 114.3)

    def test_never_before_ffmpeg_started(self) -> None:
        line = Timeline(started_at=100.0)
        assert line.place(SegmentEntry("a", 0, 4), arrived_at=103.0) == (100.0, 104.0)

    def test_follows_drift(self) -> None:
        line = Timeline(started_at=0.0, window=3)
        for i in range(10):
            start, _ = line.place(SegmentEntry(str(i), i * 10, i * 10 + 10), 10 + i * 10 + i * 0.1)
        assert start == pytest.approx(90 + 0.7)


def test_routine_warnings_are_noise_real_ones_are_not() -> None:
    from spectare.worker.ffmpeg import is_noise

    assert is_noise("[swscaler @ 0x1] [warning] deprecated pixel format used, make sure ...")
    assert not is_noise("[rtsp @ 0x1] [error] method DESCRIBE failed: 401 Unauthorized")
