"""Every mistake a user can make ends in one clear line that says what to do next.

Covered: a taken web port, a taken demo-camera port (and the suggested ``--demo-port 0``
really records: the README's demo, colourful and on the timeline within 20 s), a bad
manifest, an unreachable store, a footage root that cannot be written; ``--debug`` brings
the traceback back.
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

import pytest

from harness.procs import free_port, listening_port, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO_MANIFEST = """
apiVersion: spectare.io/v1alpha1
kind: Camera
metadata: {name: demo}
spec: {url: "rtsp://127.0.0.1:8554/demo", segmentSeconds: 2, snapshotSeconds: 0}
"""


def spectare(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spectare", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    """The failure's line; nothing else may look like a crash."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr.strip().splitlines()[-1]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another program listens on."""
    with listening_port() as port:
        yield port


def test_a_taken_web_port(tmp_path: Path, taken_port: int) -> None:
    manifest = tmp_path / "cameras.yaml"
    manifest.write_text(DEMO_MANIFEST)
    done = spectare("up", "-f", str(manifest), "--data", str(tmp_path), "--port", str(taken_port))
    line = last_line(done)
    assert f"port {taken_port} is taken" in line and "--port 0" in line


def test_a_taken_demo_port_names_the_option_that_exists(tmp_path: Path, taken_port: int) -> None:
    done = spectare(
        "up", "-f", str(ROOT / "examples" / "cameras.yaml"), "--data", str(tmp_path),
        "--port", "0", "--demo-camera", "--demo-port", str(taken_port),
    )  # fmt: skip
    line = last_line(done)
    assert f"port {taken_port} is taken" in line and "--demo-port 0" in line


def _colourful(jpeg: bytes) -> bool:
    """Whether a picture has colour: some pixels far from grey."""
    rgb = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "-", "-vf", "scale=32:18", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"],
        input=jpeg, capture_output=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    spread = [max(rgb[i : i + 3]) - min(rgb[i : i + 3]) for i in range(0, len(rgb), 3)]
    return sum(s > 60 for s in spread) > len(spread) // 10


@pytest.mark.slow
def test_the_demo_shows_itself_within_seconds_on_any_port(tmp_path: Path) -> None:
    """The README's demo on a free camera port: a colourful segment within 20 s of start."""
    port = free_port()
    with open(tmp_path / "up.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "spectare", "up", "-f", str(ROOT / "examples" / "cameras.yaml"),
             "--data", str(tmp_path / "data"), "--port", str(port), "--demo-camera",
             "--demo-port", "0"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}/api/v1"

            def first_segment() -> str | None:
                try:
                    with urllib.request.urlopen(f"{base}/cameras/demo/footage", timeout=5) as got:
                        items = json.load(got)["items"]
                except OSError:
                    return None
                return str(items[0]["id"]) if items else None

            # Start-up (the demo camera, the worker, ffmpeg) plus one 10 s segment.
            segment = wait_until(first_segment, 25, what="the demo's first segment")
            with urllib.request.urlopen(f"{base}/footage/{segment}/thumbnail", timeout=5) as got:
                assert _colourful(got.read())
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(60) == 0, (tmp_path / "up.log").read_text()


def test_a_bad_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "cameras.yaml"
    manifest.write_text(DEMO_MANIFEST.replace("segmentSeconds: 2", "segmentSeconds: 1"))
    line = last_line(spectare("up", "-f", str(manifest), "--data", str(tmp_path)))
    assert str(manifest) in line and "segmentSeconds" in line


def test_an_unreachable_store(tmp_path: Path) -> None:
    closed = free_port()
    store = f"rethinkdb://127.0.0.1:{closed}/spectare?timeout=1"
    line = last_line(spectare("footage", "ls", env={"SPECTARE_STORE": store}))
    assert f"127.0.0.1:{closed}" in line and "check SPECTARE_STORE" in line


def test_a_footage_root_that_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    manifest = tmp_path / "cameras.yaml"
    manifest.write_text(DEMO_MANIFEST)
    line = last_line(spectare("up", "-f", str(manifest), "--data", str(blocker / "data")))
    assert "cannot write to" in line and "pass --data with a folder you can write to" in line


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    manifest = tmp_path / "cameras.yaml"
    manifest.write_text(DEMO_MANIFEST)
    done = spectare("--debug", "up", "-f", str(manifest), "--data", str(blocker / "data"))
    assert done.returncode != 0 and "Traceback" in done.stderr
