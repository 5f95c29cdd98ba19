"""The demo camera is a real RTSP camera: checked with real ffmpeg and ffprobe.

Needs Debian's GStreamer RTSP server and PyGObject (see
``spectare.demo.DEBIAN_PACKAGES``) and ffmpeg.  Every wait is on a condition
with a deadline; no test sleeps for a fixed time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.procs import listening_port, wait_until
from harness.rtsp import (
    DemoCameraFactory,
    port_is_listening,
    probe_packets,
    probe_streams,
    record,
    rtsp_status,
    start_recording,
)
from spectare.demo import DemoCamera, DemoCameraError, DemoCameraMissingPackages

pytestmark = pytest.mark.integration

FPS = 15


@pytest.fixture
def make_camera(tmp_path: Path) -> Iterator[DemoCameraFactory]:
    # Local on purpose (no conftest here); the suite-wide fixture is wired by
    # tests/conftest.py the same way.
    with DemoCameraFactory(tmp_path / "demo-cameras") as factory:
        yield factory


def _video(streams: list[dict[str, Any]]) -> dict[str, Any]:
    videos = [s for s in streams if s.get("codec_type") == "video"]
    assert len(videos) == 1, streams
    return videos[0]


def _frames(path: Path) -> int:
    return len(probe_packets(path))


def _growing_frames(path: Path) -> int:
    """Frames so far in a recording still being written (0 before it exists)."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    try:
        return _frames(path)
    except RuntimeError:  # not even a header yet
        return 0


def test_records_h264_of_the_requested_size(make_camera: DemoCameraFactory, tmp_path: Path) -> None:
    camera = make_camera(width=352, height=288)
    out = tmp_path / "clip.mp4"

    done = record(camera.url(), out, 3)

    assert done.returncode == 0, done.stderr
    streams = probe_streams(out)
    video = _video(streams)
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 352, 288)
    assert [s for s in streams if s.get("codec_type") == "audio"] == []
    frames = _frames(out)
    assert 3 * FPS - 3 <= frames <= 3 * FPS + 3, frames


def test_keyframe_interval_follows_gop(make_camera: DemoCameraFactory, tmp_path: Path) -> None:
    camera = make_camera(gop_seconds=1.0, keyframe_on_play=False)
    out = tmp_path / "gop.ts"

    assert record(camera.url(), out, 4.5, extra_output_args=["-f", "mpegts"]).returncode == 0

    keys = [float(p["pts_time"]) for p in probe_packets(out) if "K" in p.get("flags", "")]
    gaps = [b - a for a, b in itertools.pairwise(keys)]
    assert len(keys) >= 4, keys
    assert all(abs(gap - 1.0) < 0.1 for gap in gaps), gaps


def test_udp_transport_works_too(make_camera: DemoCameraFactory, tmp_path: Path) -> None:
    camera = make_camera()
    out = tmp_path / "udp.mkv"

    done = record(camera.url(), out, 2, transport="udp")

    assert done.returncode == 0, done.stderr
    assert _video(probe_streams(out))["codec_name"] == "h264"


def test_audio_adds_a_g711_alaw_track(make_camera: DemoCameraFactory, tmp_path: Path) -> None:
    camera = make_camera(audio=True)
    out = tmp_path / "with-audio.mkv"  # MP4 cannot carry G.711

    done = record(camera.url(), out, 3)

    assert done.returncode == 0, done.stderr
    audio = [s for s in probe_streams(out) if s.get("codec_type") == "audio"]
    assert [(a["codec_name"], int(a["sample_rate"]), a["channels"]) for a in audio] == [
        ("pcm_alaw", 8000, 1)
    ]
    # The live stream itself announces both tracks.
    live = {s["codec_name"] for s in probe_streams(camera.url())}
    assert live == {"h264", "pcm_alaw"}


def test_credentials_are_required(make_camera: DemoCameraFactory, tmp_path: Path) -> None:
    camera = make_camera(username="viewer", password="s3cret:/@x")

    anonymous = record(camera.url(credentials=False), tmp_path / "anon.mp4", 2)
    assert anonymous.returncode != 0
    assert "401" in anonymous.stderr, anonymous.stderr

    wrong = record(camera.url(username="viewer", password="nope"), tmp_path / "wrong.mp4", 2)
    assert wrong.returncode != 0
    assert "401" in wrong.stderr, wrong.stderr

    assert rtsp_status(camera.url(credentials=False)) == 401
    assert rtsp_status(camera.url()) == 200

    good = record(camera.url(), tmp_path / "good.mp4", 2)
    assert good.returncode == 0, good.stderr
    assert _video(probe_streams(tmp_path / "good.mp4"))["codec_name"] == "h264"


def test_password_stays_out_of_the_process_list(make_camera: DemoCameraFactory) -> None:
    camera = make_camera(username="viewer", password="not-in-ps-7Hq")
    cmdline = Path(f"/proc/{camera.pid}/cmdline").read_bytes()
    assert b"not-in-ps-7Hq" not in cmdline
    assert b"viewer" in cmdline


def test_stop_then_restart_on_the_same_port(make_camera: DemoCameraFactory, tmp_path: Path) -> None:
    camera = make_camera()
    port = camera.port
    assert record(camera.url(), tmp_path / "before.mp4", 1).returncode == 0

    # Hold a connection open while stopping: the server closes it first, so
    # its side of the connection sits in TIME_WAIT, which a listener without
    # SO_REUSEADDR could not rebind past.
    held = socket.create_connection(("127.0.0.1", port), timeout=5)
    held.sendall(f"OPTIONS rtsp://127.0.0.1:{port}/demo RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
    assert held.recv(4096).startswith(b"RTSP/1.0 200")

    assert camera.stop() == 0  # SIGTERM handled: clean exit
    assert not camera.running
    assert held.recv(4096) == b""  # the server closed its side
    held.close()

    with pytest.raises(ConnectionRefusedError):
        rtsp_status(camera.url())
    gone = record(camera.url(), tmp_path / "during.mp4", 1, timeout=20)
    assert gone.returncode != 0

    camera.start()  # what restart() does after its stop()
    assert camera.port == port
    after = record(camera.url(), tmp_path / "after.mp4", 2)
    assert after.returncode == 0, after.stderr
    assert _frames(tmp_path / "after.mp4") >= 2 * FPS - 3


def test_restart_and_outage_keep_the_url(make_camera: DemoCameraFactory, tmp_path: Path) -> None:
    camera = make_camera()
    url = camera.url()

    camera.restart()
    assert camera.url() == url
    assert rtsp_status(url) == 200

    with camera.stopped():
        assert not port_is_listening("127.0.0.1", camera.port)
    assert camera.url() == url
    assert record(url, tmp_path / "back.mp4", 1).returncode == 0


def test_two_clients_at_once_both_get_frames(
    make_camera: DemoCameraFactory, tmp_path: Path
) -> None:
    camera = make_camera()
    first_out, second_out = tmp_path / "first.ts", tmp_path / "second.ts"

    first = start_recording(camera.url(), first_out, 6, loglevel="warning")
    try:
        # The second client joins once the first has received a second of
        # video (so a reset of the stream's clock would show).
        wait_until(
            lambda: _growing_frames(first_out) >= FPS,
            20,
            interval=0.2,
            what="first client's frames",
        )
        second = record(camera.url(), second_out, 2, loglevel="warning")
        _, first_log = first.communicate(timeout=40)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    assert first.returncode == 0, first_log
    assert second.returncode == 0, second.stderr
    assert _frames(first_out) >= 6 * FPS - 3
    assert _frames(second_out) >= 2 * FPS - 3
    # A joining client must not disturb the others.  By default
    # GstRtspServer seeks a shared pipeline back to 0 on every PLAY, so every
    # client's timestamps jump back; ffmpeg then clamps each following DTS to
    # "previous + 1", which shows as a run of tiny steps.  (One such step at
    # the very start is ffmpeg's own: its RTSP demuxer hands out the first
    # frame without a timestamp.)
    backward = [
        line
        for line in first_log.splitlines()
        if "Non-monotonous DTS" in line and "previous: 0," not in line
    ]
    assert backward == [], first_log
    dts = [int(p["dts"]) for p in probe_packets(first_out) if "dts" in p]
    steps = [b - a for a, b in itertools.pairwise(dts)]
    frame = 90_000 // FPS  # MPEG-TS ticks per frame
    assert all(step > 0 for step in steps), steps
    assert sum(1 for step in steps if step < frame // 2) <= 1, steps


def test_a_joining_client_starts_at_a_fresh_keyframe(
    make_camera: DemoCameraFactory, tmp_path: Path
) -> None:
    # A long GOP: without a keyframe on demand the joiner would wait ~10 s.
    camera = make_camera(gop_seconds=10.0)
    first_out = tmp_path / "first.ts"
    first = start_recording(camera.url(), first_out, 8)
    try:
        # Join mid-GOP, well after the stream's first keyframe.
        wait_until(
            lambda: _growing_frames(first_out) >= FPS,
            20,
            interval=0.2,
            what="first client's frames",
        )
        started = time.monotonic()
        packets = probe_packets(camera.url(), count=5)
        elapsed = time.monotonic() - started
    finally:
        first.kill()
        first.wait()

    flags = [p.get("flags", "") for p in packets]
    assert any("K" in f for f in flags[:3]), flags
    assert elapsed < 8, elapsed


def test_several_mounts_and_a_substream(make_camera: DemoCameraFactory) -> None:
    camera = make_camera(paths=["/main", "/sub=160x120"])

    main = _video(probe_streams(camera.url("/main")))
    sub = _video(probe_streams(camera.url("sub")))

    assert (main["width"], main["height"]) == (320, 240)
    assert (sub["width"], sub["height"]) == (160, 120)
    assert rtsp_status(camera.url("/nowhere")) == 404


def test_shared_encoder_serves_every_mount(make_camera: DemoCameraFactory, tmp_path: Path) -> None:
    camera = make_camera(
        paths=["/cam1", "/cam2", "/cam3"], share_encoder=True, fill_bitrate=True, bitrate_kbps=800
    )
    outs = [tmp_path / f"cam{i}.ts" for i in (1, 2, 3)]

    clients = [
        start_recording(camera.url(f"/cam{i}"), out, 3)
        for i, out in zip((1, 2, 3), outs, strict=True)
    ]
    for client in clients:
        _, log = client.communicate(timeout=40)
        assert client.returncode == 0, log

    for out in outs:
        assert _frames(out) >= 3 * FPS - 3
        # Filler makes the stream carry the target bitrate (the test picture
        # alone is a small fraction of it); MPEG-TS adds some overhead.
        kbps = out.stat().st_size * 8 / 3 / 1000
        assert 600 < kbps < 1300, kbps


def test_camera_stops_when_its_owner_dies(tmp_path: Path) -> None:
    owner_code = textwrap.dedent(
        """
        import sys, time
        from spectare.demo import DemoCamera
        camera = DemoCamera(width=160, height=120, log_path=sys.argv[1]).start()
        print(camera.port, camera.pid, flush=True)
        time.sleep(300)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", owner_code, str(tmp_path / "owned.log")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    pid = 0
    try:
        assert owner.stdout is not None
        port_text, pid_text = owner.stdout.readline().split()
        port, pid = int(port_text), int(pid_text)
        assert port_is_listening("127.0.0.1", port)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)

        def server_gone() -> bool:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                return True
            return state in ("Z", "X")  # a zombie nobody reaped is still gone

        # Zombie state alone is not enough: the main thread of a threaded
        # process turns zombie while its other threads (holding the socket)
        # are still exiting.  Free port and dead process, both.
        wait_until(
            lambda: server_gone() and not port_is_listening("127.0.0.1", port),
            15,
            what="the orphaned camera to exit and free its port",
        )
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if pid and Path(f"/proc/{pid}").exists():  # the test failed: don't leave it behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_port_in_use_is_a_clear_error(make_camera: DemoCameraFactory) -> None:
    with (
        listening_port() as port,
        pytest.raises(DemoCameraError, match="cannot listen") as caught,
    ):
        make_camera(port=port)
    assert not isinstance(caught.value, DemoCameraMissingPackages)


def test_missing_gi_names_the_debian_packages(tmp_path: Path) -> None:
    # Our virtualenv's interpreter has no gi: exactly the failure a user
    # without python3-gi sees.
    if importlib.util.find_spec("gi") is not None:
        pytest.skip("this interpreter can import gi")
    camera = DemoCamera(python=sys.executable, log_path=tmp_path / "nogi.log")
    with pytest.raises(DemoCameraMissingPackages) as caught:
        camera.start()
    message = str(caught.value)
    assert "apt-get install" in message
    assert "python3-gi" in caught.value.packages
    assert "gir1.2-gst-rtsp-server-1.0" in caught.value.packages
    assert not camera.running


def test_missing_interpreter_names_the_debian_packages(tmp_path: Path) -> None:
    camera = DemoCamera(python=str(tmp_path / "no-such-python3"), log_path=tmp_path / "none.log")
    with pytest.raises(DemoCameraMissingPackages, match="apt-get install") as caught:
        camera.start()
    assert "python3-gi" in caught.value.packages
