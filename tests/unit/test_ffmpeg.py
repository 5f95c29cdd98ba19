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
    decode_command,
    keyframes_command,
    parse_segment_line,
    parse_video_stream,
    record_command,
)


def job(**spec: object) -> RecordJob:
    return RecordJob(
        url="rtsp://u:p@cam/1",
        spec=CameraSpec(url="rtsp://cam/1", **spec),  # type: ignore[arg-type]
        container="mp4",
        incoming=Path("/f/cam/.incoming"),
        run_id="run1",
    )


def test_recording_copies_video_and_never_decodes_it() -> None:
    cmd = record_command(job(segmentSeconds=60, transport="udp"))
    text = " ".join(cmd)
    assert "-map 0:v:0 -c copy -an" in text
    assert "-segment_time 60" in text and "-rtsp_transport udp" in text
    assert "movflags=+frag_keyframe+empty_moov+default_base_moof" in text
    assert "-segment_list pipe:1 -segment_list_type csv" in text
    assert cmd[cmd.index("-segment_list_type") + 2] == "/f/cam/.incoming/run1-%06d.mp4"
    # Nothing decodes: no decoder option, no filter, no picture output.
    for decoding in ("-skip_frame", "-vf", "-filter_complex", "image2", "-update"):
        assert decoding not in cmd
    assert "pipe:3" not in text and "-bsf:v" not in text


def test_motion_copies_the_keyframes_of_a_closed_ts_or_mkv_segment() -> None:
    text = " ".join(keyframes_command("ffmpeg", Path("/f/a.ts"), "h264") or [])
    assert "-i /f/a.ts" in text and "-skip_frame" not in text  # nothing decodes
    # Parameter sets and IDR slices pass, the rest is dropped before it is written.
    assert "filter_units=pass_types=5|7|8" in text and text.endswith("-f h264 pipe:1")
    hevc = " ".join(keyframes_command("ffmpeg", Path("/f/a.mkv"), "hevc") or [])
    assert "filter_units=pass_types=16-21|32-34" in hevc and hevc.endswith("-f hevc pipe:1")
    # A codec without a keyframe filter goes unscored.
    assert keyframes_command("ffmpeg", Path("/f/a.ts"), "mjpeg") is None


def test_decoder_reads_keyframes_and_writes_tiny_grey_frames() -> None:
    cmd = decode_command("ffmpeg", "h264", (64, 36))
    text = " ".join(cmd)
    assert "-f h264 -i pipe:0" in text and "scale=64:36:flags=area,format=gray" in text
    assert "-probesize 32" in text and text.endswith("-f rawvideo pipe:1")


@pytest.mark.parametrize(
    ("line", "video"),
    [
        (
            "[info]   Stream #0:0: Video: h264 (Constrained Baseline), yuv420p(progressive), "
            "1920x1080 [SAR 1:1 DAR 16:9], 15 fps, 15 tbr, 90k tbn",
            ("h264", 1920, 1080),
        ),
        (
            "  Stream #0:0[0x1](und): Video: hevc (Main) (hvc1 / 0x31637668), "
            "yuv420p(tv, bt709), 2560x1440, 4000 kb/s",
            ("hevc", 2560, 1440),
        ),
        ("[info]   Stream #0:1: Audio: pcm_mulaw, 8000 Hz, mono, s16, 64 kb/s", None),
    ],
)
def test_video_stream_from_the_log(line: str, video: tuple[str, int, int] | None) -> None:
    assert parse_video_stream(line) == video


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
