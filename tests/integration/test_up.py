"""``spectare up`` end to end: two real cameras, a worker killed and restarted, Ctrl-C.

Covers: ``spectare up`` records the enabled cameras of a manifest (a disabled
one stays Disabled) from a camera with credentials, which never show in what it
lists; restarts a worker killed under it; and on Ctrl-C exits 0, releases every
camera and leaves no half-written segment, every file indexed and playable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.footage import playable_seconds, segment_files
from harness.procs import free_port, wait_until
from harness.rtsp import DemoCameraFactory
from harness.workers import FAST_ENV
from spectare.store import Store
from spectare.store.sqlite import SQLiteStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MANIFEST = """
apiVersion: spectare.io/v1alpha1
kind: Camera
metadata: {{name: front}}
spec: {{url: "{front}", segmentSeconds: 2, snapshotSeconds: 2}}
---
apiVersion: spectare.io/v1alpha1
kind: Camera
metadata: {{name: back}}
spec: {{url: "{back}", segmentSeconds: 2, credentialsSecret: back-cam, motion: {{enabled: false}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: back-cam}}
stringData: {{username: viewer, password: "Very-Secret-9"}}
---
apiVersion: spectare.io/v1alpha1
kind: Camera
metadata: {{name: spare}}
spec: {{url: "rtsp://127.0.0.1:9/none", enabled: false}}
"""


@pytest.fixture
def up(
    demo_cameras: DemoCameraFactory, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Store, Path, int]]:
    camera = demo_cameras(paths=["/front", "/back"], username="viewer", password="Very-Secret-9")
    manifest = tmp_path / "cameras.yaml"
    manifest.write_text(
        MANIFEST.format(front=camera.url("/front"), back=camera.url("/back", credentials=False))
    )
    data, port = tmp_path / "data", free_port()
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "spectare", "up", "-f", str(manifest), "--data", str(data),
         "--port", str(port)],
        env={**os.environ, **FAST_ENV},
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_until(lambda: (data / "spectare.db").exists(), 30, what="store created")
    store = SQLiteStore(data / "spectare.db")
    store.setup()  # idempotent: `up` may not have created the tables yet
    yield process, store, data, port
    if process.poll() is None:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
        process.wait()
    store.close()
    log.close()


def segments(store: Store, camera: str) -> int:
    record = store.get_camera(camera)
    return record.segments if record else 0


def worker_pid(up_pid: int, camera: str) -> int | None:
    for child in psutil.Process(up_pid).children():
        cmdline = child.cmdline()
        if "worker" in cmdline and camera in cmdline:
            return child.pid
    return None


def test_up_records_restarts_and_stops_cleanly(
    up: tuple[subprocess.Popen[bytes], Store, Path, int], tmp_path: Path
) -> None:
    process, store, data, port = up
    wait_until(lambda: segments(store, "front") >= 2 and segments(store, "back") >= 2, 90,
               what="both cameras recording")  # fmt: skip
    spare = store.get_camera("spare")
    assert spare is not None and spare.phase == "Disabled"

    victim = worker_pid(process.pid, "back")
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: (store.get_camera("back") or spare).restarts == 1, 60, what="restart")
    before = segments(store, "back")
    wait_until(lambda: segments(store, "back") >= before + 2, 90, what="recording again")
    assert worker_pid(process.pid, "back") not in (None, victim)

    # The API runs inside `up`.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/cameras", timeout=10) as answer:
        listed = json.load(answer)
    assert "Very-Secret-9" not in json.dumps(listed)

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=90) == 0
    for name in ("front", "back"):
        record = store.get_camera(name)
        assert record is not None and record.worker is None
        assert list((data / "footage" / name / ".incoming").glob("*.mp4")) == []
    files = segment_files(data / "footage")
    rows = [f for n in ("front", "back") for f in store.footage_range(n, limit=1000).items]
    assert len(files) == len(rows)
    assert all(playable_seconds(data / "footage" / r.path) > 0 for r in rows[-3:])
    output = (tmp_path / "up.log").read_text()
    assert "Very-Secret-9" not in output
    assert "CAMERA" in output and "Recording" in output  # the live status table
