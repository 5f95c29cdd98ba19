"""Live view through the worker's relay, as on Kubernetes, where only the worker has the
camera's credentials: a real worker recording a camera that needs a password, and a
separate ``spectare api`` process that knows only the store and the footage volume.

Covers: the worker announces its relay beside the footage; the API watches through it
(the picture arrives, typed for MSE); the relay's one extra camera session runs only
while someone watches; the relay refuses a request without the announced token; a
stopped worker withdraws its announcement.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.procs import free_port, wait_until
from harness.rtsp import DemoCameraFactory
from harness.workers import WorkerFactory
from spectare.live.announce import announcement_path, read_announcement
from spectare.store import CameraInfo, Store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = "Relay-Secret-3"


@pytest.fixture
def api_url(sqlite_url: str, footage_root: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTARE_")}
    env |= {"SPECTARE_STORE": sqlite_url, "SPECTARE_FOOTAGE_DIR": str(footage_root),
            "SPECTARE_API_PORT": str(port)}  # fmt: skip
    with (tmp_path / "api.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-P", "-m", "spectare", "api"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/healthz"), 30, "the API")
        yield url
    finally:
        process.terminate()
        process.wait(20)
    assert PASSWORD not in (tmp_path / "api.log").read_text()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def ffmpegs(pid: int, kind: str) -> int:
    """The worker's ffmpeg processes of one kind: "segment" (recording) or "-frag_duration"
    (live; the indexer's short-lived analyses are neither)."""
    count = 0
    for child in psutil.Process(pid).children():
        with contextlib.suppress(psutil.Error):  # ended meanwhile
            count += child.name() == "ffmpeg" and kind in child.cmdline()
    return count


def test_the_api_watches_through_the_workers_relay(
    demo_cameras: DemoCameraFactory,
    workers: WorkerFactory,
    sqlite_store: Store,
    footage_root: Path,
    api_url: str,
) -> None:
    camera = demo_cameras(paths=["/gate"], username="viewer", password=PASSWORD)
    url = camera.url("/gate", credentials=False)
    # As the operator mirrors it: the URL alone, the credentials in a Secret.
    sqlite_store.upsert_camera(CameraInfo(id="gate", display_name="Gate", url=url))
    worker = workers("gate", url, segmentSeconds=2, env={
        "SPECTARE_CAMERA_USERNAME": "viewer", "SPECTARE_CAMERA_PASSWORD": PASSWORD})  # fmt: skip
    path = announcement_path(footage_root, "gate")
    relay = wait_until(lambda: read_announcement(path), 30, "the relay's announcement")
    wait_until(lambda: ffmpegs(worker.pid, "segment") == 1, 30, "the recording ffmpeg")
    assert ffmpegs(worker.pid, "-frag_duration") == 0  # no live session while nobody watches

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(relay.url, timeout=10)
    assert refused.value.code == 401

    with urllib.request.urlopen(f"{api_url}/api/v1/cameras/gate/live", timeout=30) as live:
        assert live.headers["Content-Type"].startswith('video/mp4; codecs="avc1.')
        assert live.read(8)[4:8] == b"ftyp"
        assert len(live.read(20_000)) == 20_000
        assert ffmpegs(worker.pid, "-frag_duration") == 1  # the relay, while watched
    wait_until(lambda: ffmpegs(worker.pid, "-frag_duration") == 0, 30, "the relay to stop")

    assert worker.stop() == 0
    assert not path.exists()
