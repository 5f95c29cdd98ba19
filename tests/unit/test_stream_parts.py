"""The parts of live view and export that decide, on real ffmpeg output where it matters.

Covers: MP4 boxes cut from a pipe, keyframe fragments as ffprobe sees them, the codec
string MSE needs; the live ffmpeg command (stream copy, short fragments); a live feed
fanning out to viewers, priming a late viewer at a keyframe and dropping a stalled one;
the export plan (in/out points, overlaps, files gone) and its concat script; a worker
relay's announcement (replaced whole, withdrawn only by its own worker).
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
from pathlib import Path

import pytest

from spectare.api.export import Piece, concat_list, plan
from spectare.live import mp4
from spectare.live.announce import (
    Announcement,
    announce,
    announcement_path,
    read_announcement,
    withdraw,
)
from spectare.live.feed import VIEWER_QUEUE, LiveFeed, LiveInput, live_command
from spectare.store import Footage

FRAGMENTED = ["-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "200000"]


def encode(seconds: float) -> list[str]:
    """ffmpeg writing a synthetic H.264 picture (keyframe every second) as live does."""
    return [
        "ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=15",
        "-t", f"{seconds:g}", "-c:v", "libx264", "-profile:v", "high", "-g", "15",
        "-pix_fmt", "yuv420p", "-f", "mp4", *FRAGMENTED, "pipe:1",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mp4") / "live.mp4"
    path.write_bytes(subprocess.run(encode(4), capture_output=True, check=True).stdout)
    return path


def test_boxes_keyframes_and_codec_agree_with_ffprobe(stream: Path) -> None:
    boxes = list(mp4.read_boxes(io.BytesIO(stream.read_bytes()).read))
    assert [b.kind for b in boxes[:3]] == [b"ftyp", b"moov", b"moof"]
    assert b"".join(b.data for b in boxes) == stream.read_bytes()
    moov = boxes[1]
    defaults = mp4.trex_default_flags(moov)
    keyed = [mp4.starts_with_keyframe(b, defaults) for b in boxes if b.kind == b"moof"]
    entries = "packet=flags:stream=profile,level"
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", str(stream)],
        capture_output=True, check=True, text=True).stdout)  # fmt: skip
    keyframes = sum(p["flags"].startswith("K") for p in probe["packets"])
    assert keyed[0] and sum(keyed) == keyframes == 4
    assert len(keyed) > keyframes  # fragments also between keyframes: low latency
    stream_info = probe["streams"][0]
    assert stream_info["profile"] == "High"  # profile_idc 100 = 0x64, no constraint flags
    assert mp4.codec_of(moov) == f"avc1.6400{stream_info['level']:02x}"


def test_a_stream_cut_inside_a_box_is_an_error(stream: Path) -> None:
    cut = stream.read_bytes()[:1000]
    with pytest.raises(mp4.Mp4Error):
        list(mp4.read_boxes(io.BytesIO(cut).read))


def test_live_command_copies_with_short_fragments() -> None:
    cmd = live_command("ffmpeg", LiveInput("rtsp://u:p@cam/1", "udp"), 10)
    assert cmd[cmd.index("-c") + 1] == "copy" and "-an" in cmd
    assert cmd[cmd.index("-rtsp_transport") + 1] == "udp"
    assert cmd[cmd.index("-frag_duration") + 1] == "200000" and cmd[-1] == "pipe:1"


def test_a_feed_primes_late_viewers_and_drops_stalled_ones() -> None:
    ended = threading.Event()
    feed = LiveFeed("cam", encode(20), lambda _: ended.set())  # 100 fragments
    early = feed.join()
    assert early is not None
    feed.start()
    assert feed.ready.wait(20) and feed.init is not None and feed.codec
    first = early.next(10)
    assert first is not None and first[4:8] == b"moof"
    # A viewer joining later starts with the group of pictures since the last keyframe.
    late = feed.join()
    assert late is not None
    primed = late.next(10)
    assert primed is not None
    assert mp4.starts_with_keyframe(next(mp4.read_boxes(io.BytesIO(primed).read)), 0)
    # Neither reads on: the encoder outruns them, and both are dropped, not buffered.
    assert ended.wait(60)
    assert early.dropped and late.dropped and early.queue.qsize() <= VIEWER_QUEUE
    assert feed.viewer_count() == 0


def footage(start: float, end: float, name: str) -> Footage:
    return Footage(id=name, camera="c", path=f"c/{name}.mp4", start=start, end=end,
                   duration=end - start, bytes=1, container="mp4")  # fmt: skip


def test_export_plan(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    for name in "abcd":
        (tmp_path / "c" / f"{name}.mp4").write_bytes(b"x")
    segments = [footage(0, 10, "a"), footage(10, 20, "b"), footage(12, 18, "x"),
                footage(15, 25, "c"), footage(40, 50, "d")]  # fmt: skip
    pieces = plan(segments, 4, 45, tmp_path)
    # "x" is gone from disk; "c" overlaps "b" and starts where "b" ended.
    assert [(p.path.name, p.inpoint, p.outpoint) for p in pieces] == [
        ("a.mp4", 4, None), ("b.mp4", None, None), ("c.mp4", 5, None), ("d.mp4", None, 5),
    ]  # fmt: skip
    assert plan(segments, 26, 39, tmp_path) == []


def test_concat_script_quotes_paths() -> None:
    script = concat_list([Piece(Path("/f/it's.mp4"), 1.5, None), Piece(Path("/f/b.mp4"), None, 2)])
    assert script.splitlines() == [
        "ffconcat version 1.0", "file '/f/it'\\''s.mp4'", "inpoint 1.500",
        "file '/f/b.mp4'", "outpoint 2.000",
    ]  # fmt: skip


def test_an_announcement_is_replaced_whole_and_withdrawn_by_its_own_worker(
    tmp_path: Path,
) -> None:
    path = announcement_path(tmp_path, "gate")
    assert read_announcement(path) is None
    announce(path, Announcement("http://10.0.0.5:4100/live", "t0k3n", "worker-a"))
    announce(path, Announcement("http://10.0.0.6:4200/live", "t0k3n2", "worker-b"))
    assert read_announcement(path) == Announcement(
        "http://10.0.0.6:4200/live", "t0k3n2", "worker-b"
    )
    assert [p.name for p in path.parent.iterdir()] == [".live.json"]  # no temporary left
    withdraw(path, "worker-a")  # an older worker leaving must not remove the new one's
    assert path.exists()
    withdraw(path, "worker-b")
    assert not path.exists()
    path.write_text("{not json")
    assert read_announcement(path) is None
