"""Export of a time range as one MP4, against the real server, ffmpeg and ffprobe.

Covers: one file across segment boundaries whose duration is the range's (from the
keyframe at or before ``from``); the moov comes first (faststart) and the body is
streamed (chunked, no length); closing a running export (a client that left) stops
its ffmpeg and removes its script; JSON
errors: 404 for a range without footage or an unknown camera, 422 for from >= to and
for a range over SPECTARE_API_EXPORT_MAX_SECONDS, 400 for a missing end; read auth.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests
from streamhelpers import top_boxes

from apiharness.dataset import Dataset
from apiharness.fixtures import TOKEN, StartServer
from apiharness.server import ApiProcess
from spectare.api.export import ExportStream, plan

pytestmark = pytest.mark.integration

GOP = 2.0  # the dataset's clips have a keyframe every 2 s


def export(
    server: ApiProcess, camera: str, start: float, end: float, **kw: object
) -> requests.Response:
    return requests.get(
        f"{server.url}/api/v1/cameras/{camera}/export",
        params={"from": start, "to": end},
        timeout=30,
        **kw,  # type: ignore[arg-type]
    )


def ffprobe(path: Path) -> dict[str, object]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
         "format=duration:stream=codec_name,nb_read_packets", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout)
    return result


def decodes_cleanly(path: Path) -> str:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.stderr.strip() if done.returncode == 0 else f"exit {done.returncode}: {done.stderr}"


@pytest.mark.parametrize("offset", [GOP * 2, GOP * 2 + 1.0])
def test_one_file_across_segments(
    api: ApiProcess, dataset: Dataset, tmp_path: Path, offset: float
) -> None:
    segments = dataset.footage["driveway"][:3]  # back to back
    start = segments[0].start + offset
    end = segments[2].start + 2.5
    response = export(api, "driveway", start, end)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "video/mp4"
    assert "Content-Length" not in response.headers  # streamed as ffmpeg writes it
    assert response.headers["Content-Disposition"].startswith('attachment; filename="driveway-')
    path = tmp_path / "export.mp4"
    path.write_bytes(response.content)
    assert top_boxes(path.read_bytes())[:3] == [b"ftyp", b"moov", b"moof"]  # moov first
    info = ffprobe(path)
    assert info["streams"][0]["codec_name"] == "h264"  # type: ignore[index]
    # The copy starts at the keyframe at or before "from".
    keyframe = segments[0].start + (offset // GOP) * GOP
    duration = float(info["format"]["duration"])  # type: ignore[index]
    assert abs(duration - (end - keyframe)) < 1.0, (duration, end - keyframe)
    assert decodes_cleanly(path) == ""


def test_errors_are_json(api: ApiProcess, dataset: Dataset) -> None:
    runs = dataset.footage["driveway"]
    gap = (runs[2].end + 30, runs[3].start - 30)  # between the two runs
    cases = [
        (export(api, "driveway", *gap), 404, "no footage"),
        (export(api, "nosuchcamera", runs[0].start, runs[0].end), 404, "no camera"),
        (export(api, "driveway", runs[0].end, runs[0].start), 422, "before"),
        (export(api, "driveway", runs[0].start, runs[0].start), 422, "before"),
        (export(api, "driveway", runs[0].start, runs[0].start + 7 * 3600), 422, "longer"),
        (
            requests.get(f"{api.url}/api/v1/cameras/driveway/export?from=1", timeout=10),
            400,
            "to",
        ),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (status, response.text)
        body = response.json()
        assert body["status"] == status and words in body["message"], body


def test_the_limit_is_a_setting(start_server: StartServer, dataset: Dataset) -> None:
    server = start_server("short-exports", api_export_max_seconds="5")
    first = dataset.footage["driveway"][0]
    assert export(server, "driveway", first.start, first.start + 6).status_code == 422
    assert export(server, "driveway", first.start, first.start + 4).status_code == 200


def test_a_closed_export_stops_ffmpeg_and_cleans_up(dataset: Dataset) -> None:
    """What the server does when a client leaves: ffmpeg, blocked on a full pipe, is
    stopped, and its concat script removed."""
    runs = dataset.footage["driveway"]
    pieces = plan(runs, runs[0].start, runs[-1].end, dataset.root)
    stream = ExportStream("ffmpeg", pieces)
    stream.begin()
    assert next(iter(stream))[4:8] == b"ftyp"
    process, script = stream._process, stream._script
    assert process.poll() is None and script.is_file()  # waiting for its reader
    stream.close()
    assert process.poll() is not None and not script.exists()


def test_read_auth_applies(api_private: ApiProcess, dataset: Dataset) -> None:
    first = dataset.footage["driveway"][0]
    assert export(api_private, "driveway", first.start, first.end).status_code == 401
    allowed = export(
        api_private, "driveway", first.start, first.end,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )  # fmt: skip
    assert allowed.status_code == 200 and allowed.content[4:8] == b"ftyp"
