"""The worker against a real RTSP camera, real ffmpeg and a real SQLite store.

Covers: segments named by UUIDv7, playable and indexed once; a camera outage
reconnects without losing the worker; wrong credentials fail visibly and never
leak, right ones record; SIGKILL mid-segment then a restart recovers the partial
segment; two workers on one camera, exactly one records; SIGTERM indexes the
last segment and releases the camera; a missing footage root, or one that is
not a mount, is refused; a camera that sends no video is reconnected; a killed
ffmpeg loses little and its segment is indexed at once; a segment killed
mid-write keeps 95% of its video in every container.
"""

from __future__ import annotations

import itertools
import signal
import time
from pathlib import Path

import pytest

from harness.footage import LAYOUT, decodes_cleanly, is_uuid7, playable_seconds, segment_files
from harness.frozen_camera import FrozenCamera
from harness.procs import wait_until
from harness.rtsp import DemoCameraFactory
from harness.workers import WorkerFactory
from spectare import exits
from spectare.store import Store

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def phase_of(store: Store, camera: str) -> str | None:
    record = store.get_camera(camera)
    return record.phase if record else None


def hold_is_stale(store: Store, camera: str, stale_seconds: float) -> bool:
    record = store.get_camera(camera)
    return bool(record and record.heartbeat and time.time() - record.heartbeat > stale_seconds)


def segments_indexed(store: Store, camera: str) -> int:
    record = store.get_camera(camera)
    return record.segments if record else 0


def test_records_uuid_segments_playable_and_indexed_once(
    demo_cameras: DemoCameraFactory, workers: WorkerFactory, sqlite_store: Store, footage_root: Path
) -> None:
    camera = demo_cameras()  # a moving ball
    worker = workers("front", camera.url("/demo"), segmentSeconds=5, snapshotSeconds=2)
    wait_until(lambda: phase_of(sqlite_store, "front") == "Recording", 30, what="Recording")
    wait_until(lambda: segments_indexed(sqlite_store, "front") >= 6, 60, what="6 segments")
    assert worker.stop() == exits.OK

    files = segment_files(footage_root)
    rows = sqlite_store.footage_range("front", limit=1000).items
    assert len(files) >= 6
    # Exactly one index row per file, and the row's path is the file.
    assert sorted(r.path for r in rows) == sorted(str(f.relative_to(footage_root)) for f in files)
    for row in rows:
        match = LAYOUT.match(row.path)
        assert match and match["camera"] == "front" and match["id"] == row.id
        assert is_uuid7(row.id)
        assert time.strftime("%Y/%m/%d", time.gmtime(row.start)) == "/".join(
            [match["y"], match["m"], match["d"]]
        )
        assert playable_seconds(footage_root / row.path) == pytest.approx(row.duration, abs=0.1)
        assert row.codec == "h264" and (row.width, row.height) == (320, 180)
        # The thumbnail's place beside the segment: the API makes it when first asked.
        assert row.thumbnail == str(Path(row.path).with_suffix(".jpg"))
    assert decodes_cleanly(footage_root / rows[0].path)
    # Names sort by time, and the segments follow each other without losing time.
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    span = rows[-1].end - rows[0].start
    assert sum(r.duration for r in rows) >= 0.97 * span
    assert span >= 25
    # Motion is scored from sampled keyframes (the ball moves), and the worker decoded
    # nothing else: no picture of its own.
    assert any(r.motion is not None and r.motion > 0 for r in rows)
    assert not list(footage_root.rglob("*.jpg"))
    assert sqlite_store.list_events("front"), "the moving ball raised no motion event"
    record = sqlite_store.get_camera("front")
    assert record is not None and record.worker is None  # released on SIGTERM


def test_still_picture_scores_no_motion(
    demo_cameras: DemoCameraFactory, workers: WorkerFactory, sqlite_store: Store
) -> None:
    camera = demo_cameras(pattern="colors")  # still colour bars
    worker = workers("hall", camera.url("/demo"), segmentSeconds=4, snapshotSeconds=0)
    wait_until(lambda: segments_indexed(sqlite_store, "hall") >= 4, 60, what="4 segments")
    assert worker.stop() == exits.OK
    scores = [r.motion for r in sqlite_store.footage_range("hall", limit=100).items]
    assert [s for s in scores if s is not None], "no segment was scored"
    assert all(s is None or s < 0.01 for s in scores)
    assert sqlite_store.list_events("hall") == []


def test_camera_outage_reconnects_without_losing_the_worker(
    demo_cameras: DemoCameraFactory, workers: WorkerFactory, sqlite_store: Store
) -> None:
    camera = demo_cameras()
    worker = workers("gate", camera.url("/demo"), segmentSeconds=3, snapshotSeconds=0)
    wait_until(lambda: segments_indexed(sqlite_store, "gate") >= 2, 60, what="segments")
    with camera.stopped():
        wait_until(lambda: phase_of(sqlite_store, "gate") == "Reconnecting", 30, what="Reconn")
        record = sqlite_store.get_camera("gate")
        assert record is not None and record.message and "retrying" in record.message
        outage_start = time.time()
        wait_until(lambda: time.time() - outage_start >= 10, 15, what="10 s outage")
        assert worker.running()
    before = segments_indexed(sqlite_store, "gate")
    wait_until(lambda: phase_of(sqlite_store, "gate") == "Recording", 60, what="Recording")
    wait_until(lambda: segments_indexed(sqlite_store, "gate") >= before + 2, 60, what="more")
    assert worker.running()
    assert worker.stop() == exits.OK
    record = sqlite_store.get_camera("gate")
    assert record is not None and record.reconnects >= 1
    rows = sqlite_store.footage_range("gate", limit=1000).items
    gaps = [b.start - a.end for a, b in itertools.pairwise(rows)]
    # One gap: the outage (plus reconnect backoff), nothing else lost.
    assert max(gaps) >= 8
    assert sorted(gaps)[-2] < 1.0


def test_wrong_credentials_fail_visibly_and_never_leak(
    demo_cameras: DemoCameraFactory, workers: WorkerFactory, sqlite_store: Store
) -> None:
    camera = demo_cameras(username="admin", password="s3cret-Pa55")
    worker = workers(
        "door",
        camera.url("/demo", credentials=False),
        env={"SPECTARE_CAMERA_USERNAME": "admin", "SPECTARE_CAMERA_PASSWORD": "wrong-Pa55word"},
        segmentSeconds=3,
    )
    wait_until(lambda: phase_of(sqlite_store, "door") == "Failed", 30, what="Failed")
    record = sqlite_store.get_camera("door")
    assert record is not None and record.message
    assert "authentication failed" in record.message
    assert "retrying in 30 s" in record.message  # slower than a network drop (1 s)
    assert worker.running()
    assert worker.stop() == exits.OK
    log = worker.log_text()
    assert "401" in log or "authoriz" in log.lower()
    assert "wrong-Pa55word" not in log and "s3cret-Pa55" not in log


def test_right_credentials_record(
    demo_cameras: DemoCameraFactory, workers: WorkerFactory, sqlite_store: Store
) -> None:
    camera = demo_cameras(username="admin", password="s3cret-Pa55")
    worker = workers(
        "door",
        camera.url("/demo", credentials=False),
        env={"SPECTARE_CAMERA_USERNAME": "admin", "SPECTARE_CAMERA_PASSWORD": "s3cret-Pa55"},
        segmentSeconds=2,
    )
    wait_until(lambda: segments_indexed(sqlite_store, "door") >= 1, 60, what="a segment")
    assert worker.stop() == exits.OK
    assert "s3cret-Pa55" not in worker.log_text()


def test_sigkill_mid_segment_then_restart_recovers_the_partial_segment(
    demo_cameras: DemoCameraFactory, workers: WorkerFactory, sqlite_store: Store, footage_root: Path
) -> None:
    camera = demo_cameras()
    url = camera.url("/demo")
    first = workers("yard", url, worker_id="yard-1", segmentSeconds=60, snapshotSeconds=0)
    incoming = footage_root / "yard" / ".incoming"
    wait_until(lambda: phase_of(sqlite_store, "yard") == "Recording", 30, what="Recording")
    wait_until(
        lambda: any(p.stat().st_size > 20_000 for p in incoming.glob("*.mp4")), 60, what="data"
    )
    first.kill_all()  # worker and ffmpeg at once: nothing gets to close the file
    partial = list(incoming.glob("*.mp4"))
    assert len(partial) == 1
    partial_bytes = partial[0].stat().st_size
    assert sqlite_store.footage_range("yard").items == []

    # A new worker may take over once yard-1's heartbeat is stale (5 s here).
    wait_until(lambda: hold_is_stale(sqlite_store, "yard", 5.0), 30, what="stale hold")
    second = workers("yard", url, worker_id="yard-2", segmentSeconds=60, snapshotSeconds=0)
    wait_until(lambda: segments_indexed(sqlite_store, "yard") >= 1, 60, what="recovered")
    assert second.stop() == exits.OK
    rows = sqlite_store.footage_range("yard", limit=100).items
    recovered = rows[0]
    assert recovered.bytes == partial_bytes
    assert playable_seconds(footage_root / recovered.path) > 1.0
    assert len({r.id for r in rows}) == len(rows) == len(segment_files(footage_root))
    assert "recovery.leftover_indexed" in second.log_text()


def test_two_workers_one_camera_exactly_one_records(
    demo_cameras: DemoCameraFactory, workers: WorkerFactory, sqlite_store: Store
) -> None:
    camera = demo_cameras()
    first = workers("porch", camera.url("/demo"), worker_id="porch-a", segmentSeconds=2)
    wait_until(lambda: phase_of(sqlite_store, "porch") == "Recording", 30, what="Recording")
    second = workers("porch", camera.url("/demo"), worker_id="porch-b", segmentSeconds=2)
    assert second.wait(timeout=30) == exits.CAMERA_HELD
    assert "worker.camera_held" in second.log_text() and "porch-a" in second.log_text()
    assert first.running()
    record = sqlite_store.get_camera("porch")
    assert record is not None and record.worker == "porch-a"
    first.stop()


def test_sigterm_indexes_the_last_segment_and_releases(
    demo_cameras: DemoCameraFactory, workers: WorkerFactory, sqlite_store: Store, footage_root: Path
) -> None:
    camera = demo_cameras()
    worker = workers("shed", camera.url("/demo"), segmentSeconds=60, snapshotSeconds=0)
    incoming = footage_root / "shed" / ".incoming"
    wait_until(
        lambda: any(p.stat().st_size > 10_000 for p in incoming.glob("*.mp4")), 60, what="data"
    )
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == exits.OK
    rows = sqlite_store.footage_range("shed").items
    assert len(rows) == 1 and rows[0].duration > 1.0
    assert list(incoming.glob("*")) == []
    record = sqlite_store.get_camera("shed")
    assert record is not None and record.worker is None


def test_footage_root_missing_is_refused(
    workers: WorkerFactory, tmp_path: Path, sqlite_store: Store
) -> None:
    worker = workers(
        "nowhere",
        "rtsp://127.0.0.1:9/none",
        env={"SPECTARE_FOOTAGE_DIR": str(tmp_path / "not-there")},
    )
    assert worker.wait(timeout=30) == exits.BAD_CONFIG
    assert "does not exist" in worker.log_text()
    assert sqlite_store.get_camera("nowhere") is None  # never grabbed


def test_footage_root_must_be_a_mount(workers: WorkerFactory, footage_root: Path) -> None:
    worker = workers(
        "unmounted",
        "rtsp://127.0.0.1:9/none",
        env={"SPECTARE_FOOTAGE_MUST_BE_MOUNT": "true"},
    )
    assert worker.wait(timeout=30) == exits.BAD_CONFIG
    assert "not a mount point" in worker.log_text()
    assert list(footage_root.iterdir()) == []


def test_a_camera_that_sends_no_video_is_reconnected(
    workers: WorkerFactory, sqlite_store: Store
) -> None:
    """The session stays open, no frame comes: the watchdog reconnects, the phase says why."""
    with FrozenCamera() as camera:
        env = {"SPECTARE_STALL_SECONDS": "3", "SPECTARE_RW_TIMEOUT_SECONDS": "60"}
        worker = workers("frozen", camera.url, env=env, segmentSeconds=2, snapshotSeconds=0)

        def says_no_video() -> bool:
            record = sqlite_store.get_camera("frozen")
            return bool(
                record
                and record.phase == "Reconnecting"
                and (record.message or "").startswith("camera sends no video")
            )

        wait_until(says_no_video, 30, what="Reconnecting: camera sends no video")
        wait_until(lambda: camera.sessions >= 3, 40, what="the watchdog reconnecting again")
        record = sqlite_store.get_camera("frozen")
        assert record is not None and record.reconnects >= 2
        assert worker.stop() == exits.OK


def test_a_killed_ffmpeg_loses_little_and_its_segment_is_indexed_at_once(
    demo_cameras: DemoCameraFactory, workers: WorkerFactory, sqlite_store: Store, footage_root: Path
) -> None:
    """ffmpeg SIGKILLed three times: the worker indexes each partial file and records on."""
    camera = demo_cameras()
    worker = workers("kills", camera.url("/demo"), segmentSeconds=4, snapshotSeconds=0)
    wait_until(lambda: segments_indexed(sqlite_store, "kills") >= 1, 30, what="a first segment")
    started = time.time()
    incoming = footage_root / "kills" / ".incoming"
    for _ in range(3):
        ffmpeg = worker.ffmpeg_child()
        wait_until(lambda: list(incoming.iterdir()), 20, what="a segment being written")
        partial = {path.name for path in incoming.iterdir()}
        ffmpeg.kill()
        # The partial segment is indexed now, not at the next worker start, and its name is
        # never written again.
        wait_until(
            lambda names=partial: not names & {p.name for p in incoming.iterdir()},  # type: ignore[misc]
            20,
            what="the partial segment moved into the tree",
        )
        wait_until(
            lambda old=ffmpeg.pid: worker.ffmpeg_child().pid != old,  # type: ignore[misc]
            20,
            what="a new ffmpeg",
        )
        wait_until(lambda: phase_of(sqlite_store, "kills") == "Recording", 20, what="Recording")
    wait_until(lambda: time.time() - started >= 20, 30, what="20 s of recording")
    assert worker.stop() == exits.OK
    rows = [r for r in sqlite_store.footage_range("kills", limit=1000).items if r.end > started]
    recorded = sum(min(r.end, time.time()) - max(r.start, started) for r in rows)
    span = max(r.end for r in rows) - started
    # About 1.5 s per kill here (ffmpeg's start and probe); the bound leaves room for load.
    assert span - recorded <= 3 * 5.0, f"lost {span - recorded:.1f} s over 3 kills"
    assert not list((footage_root / "kills" / ".incoming").iterdir())
    assert sorted(r.path for r in sqlite_store.footage_range("kills", limit=1000).items) == sorted(
        str(f.relative_to(footage_root)) for f in segment_files(footage_root / "kills")
    )


@pytest.mark.parametrize("container", ["mp4", "ts", "mkv"])
def test_a_segment_killed_mid_write_keeps_95_percent_in_every_container(
    container: str,
    demo_cameras: DemoCameraFactory,
    workers: WorkerFactory,
    sqlite_store: Store,
    footage_root: Path,
) -> None:
    """Worker and ffmpeg SIGKILLed (ffmpeg first) 12 s into a segment: the next worker
    indexes what was written, remuxing what a killed muxer left without an index."""
    camera = demo_cameras()
    url = camera.url("/demo")
    env = {"SPECTARE_CONTAINER": container}
    spec = {"segmentSeconds": 60, "snapshotSeconds": 0, "motion": {"enabled": False}}
    first = workers("crash", url, worker_id="crash-1", env=env, **spec)
    incoming = footage_root / "crash" / ".incoming"
    appeared = wait_until(
        lambda: list(incoming.glob(f"*.{container}")) and time.time(), 30, what="a segment file"
    )
    wait_until(lambda: time.time() - appeared >= 12, 20, what="12 s into the segment")
    first.kill_all()
    killed_after = time.time() - appeared
    (partial,) = incoming.glob(f"*.{container}")
    wait_until(lambda: hold_is_stale(sqlite_store, "crash", 5.0), 30, what="stale hold")
    second = workers("crash", url, worker_id="crash-2", env=env, **spec)
    wait_until(lambda: segments_indexed(sqlite_store, "crash") >= 1, 60, what="recovered")
    assert second.stop() == exits.OK
    recovered = sqlite_store.footage_range("crash", limit=10).items[0]
    kept = playable_seconds(footage_root / recovered.path)
    assert kept >= 0.95 * killed_after, f"{container}: kept {kept:.1f} of {killed_after:.1f} s"
    assert not (footage_root / "crash" / ".quarantine" / partial.name).exists()
