"""Live view and export under ``spectare up``: the API inside ``up`` opens the camera with
the credentials of its Secret, exports what was recorded, and Ctrl-C stops its ffmpeg.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from harness.procs import free_port, wait_until
from harness.rtsp import DemoCameraFactory
from harness.workers import FAST_ENV
from spectare.store.sqlite import SQLiteStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = "Live-Secret-7"
MANIFEST = """
apiVersion: spectare.io/v1alpha1
kind: Camera
metadata: {{name: gate}}
spec: {{url: "{url}", segmentSeconds: 2, credentialsSecret: gate-cam}}
---
apiVersion: v1
kind: Secret
metadata: {{name: gate-cam}}
stringData: {{username: viewer, password: "{password}"}}
"""


def test_live_and_export_inside_up(demo_cameras: DemoCameraFactory, tmp_path: Path) -> None:
    camera = demo_cameras(paths=["/gate"], username="viewer", password=PASSWORD, scene=True)
    manifest = tmp_path / "cameras.yaml"
    manifest.write_text(
        MANIFEST.format(url=camera.url("/gate", credentials=False), password=PASSWORD)
    )
    data, port = tmp_path / "data", free_port()
    api = f"http://127.0.0.1:{port}/api/v1/cameras/gate"
    with (tmp_path / "up.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "spectare", "up", "-f", str(manifest), "--data",
             str(data), "--port", str(port)],
            env={**os.environ, **FAST_ENV}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_until(lambda: (data / "spectare.db").exists(), 30, what="the store")
            store = SQLiteStore(data / "spectare.db")
            store.setup()
            wait_until(lambda: len(store.footage_range("gate", limit=3).items) >= 3, 90,
                       what="three segments")  # fmt: skip
            rows = store.footage_range("gate", limit=3).items
            store.close()

            with urllib.request.urlopen(
                f"{api}/export?from={rows[0].start}&to={rows[2].end}", timeout=30
            ) as exported:
                assert exported.headers["Content-Type"] == "video/mp4"
                assert exported.read()[4:8] == b"ftyp"

            live = urllib.request.urlopen(f"{api}/live", timeout=30)
            assert live.read(8)[4:8] == b"ftyp"  # opened with the Secret's credentials
            ffmpegs = [c for c in psutil.Process(process.pid).children() if c.name() == "ffmpeg"]
            assert len(ffmpegs) == 1

            # Ctrl-C with a viewer watching: everything stops, the live ffmpeg too.
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=90) == 0
            assert not ffmpegs[0].is_running()
            live.close()
        finally:
            if process.poll() is None:
                for child in psutil.Process(process.pid).children(recursive=True):
                    child.kill()
                process.kill()
                process.wait()
    assert PASSWORD not in (tmp_path / "up.log").read_text()
