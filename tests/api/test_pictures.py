"""Pictures the API makes on demand, through a real server over real footage: the latest
snapshot is the newest keyframe of the segment being written (else of the newest segment
still on disk), revalidated cheaply; a thumbnail is its segment's first keyframe, made
once and kept beside the segment; clear 404s when there is nothing to show."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from apiharness.dataset import Dataset
from apiharness.server import ApiProcess

pytestmark = pytest.mark.integration

TINY = "scale=8:8,format=gray"


def get(api: ApiProcess, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(api.url + path, timeout=30, **kwargs)


def error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    return str(response.json()["message"])


def _gray(args: list[str], stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin" if stdin is None else "-y", *args,
         "-vf", TINY, "-f", "rawvideo", "pipe:1"],
        input=stdin, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def picture(jpeg: bytes) -> bytes:
    """A JPEG at 8x8 grey."""
    assert jpeg[:2] == b"\xff\xd8", "not a JPEG"
    return _gray(["-f", "jpeg_pipe", "-i", "pipe:0"], jpeg)


def keyframe(video: Path, last: bool) -> bytes:
    """The first or last keyframe of a video at 8x8 grey."""
    frames = _gray(["-skip_frame", "nokey", "-i", str(video)])
    return frames[-64:] if last else frames[:64]


def distance(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def test_snapshot_is_the_newest_keyframe_being_written(api: ApiProcess, dataset: Dataset) -> None:
    response = get(api, "/api/v1/cameras/driveway/snapshot")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert "no-cache" in response.headers["Cache-Control"]
    shown = picture(response.content)
    assert dataset.incoming is not None
    newest_indexed = dataset.root / dataset.footage["driveway"][-1].path
    # The segment being written (a fractal), not the last closed one (a test card).
    assert distance(shown, keyframe(dataset.incoming, last=True)) < 10
    assert distance(shown, keyframe(newest_indexed, last=True)) > 20
    # Revalidation is cheap: the browser polls it.
    again = get(
        api,
        "/api/v1/cameras/driveway/snapshot",
        headers={"If-None-Match": response.headers["ETag"]},
    )
    assert again.status_code == 304


def test_snapshot_of_a_camera_not_recording_is_its_newest_segment_on_disk(
    api: ApiProcess, dataset: Dataset
) -> None:
    # garden's newest indexed segment lost its file to retention: the one before it.
    response = get(api, "/api/v1/cameras/garden/snapshot")
    assert response.status_code == 200
    newest_on_disk = dataset.root / dataset.footage["garden"][1].path
    shown = picture(response.content)
    assert distance(shown, keyframe(newest_on_disk, last=True)) < 10
    test_card = dataset.root / dataset.footage["driveway"][0].path  # garden shows a fractal
    assert distance(shown, keyframe(test_card, last=True)) > 20


def test_snapshot_errors(api: ApiProcess) -> None:
    assert "no snapshot" in error(get(api, "/api/v1/cameras/porch/snapshot"), 404)
    assert "no camera" in error(get(api, "/api/v1/cameras/nope/snapshot"), 404)


def test_thumbnail_is_made_once_and_kept_beside_its_segment(
    api: ApiProcess, dataset: Dataset
) -> None:
    segment = dataset.footage["driveway"][3]
    assert segment.thumbnail is not None
    response = get(api, f"/api/v1/footage/{segment.id}/thumbnail")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    shown = picture(response.content)
    assert distance(shown, keyframe(dataset.root / segment.path, last=False)) < 10
    assert dataset.incoming is not None
    assert distance(shown, keyframe(dataset.incoming, last=False)) > 20
    # Kept beside the segment (where retention deletes it with the segment) and served again.
    kept = dataset.root / segment.thumbnail
    assert kept.read_bytes() == response.content
    assert get(api, f"/api/v1/footage/{segment.id}/thumbnail").content == response.content


def test_thumbnail_errors(api: ApiProcess, dataset: Dataset) -> None:
    without = dataset.footage["garden"][1]
    assert "no thumbnail" in error(get(api, f"/api/v1/footage/{without.id}/thumbnail"), 404)
    assert dataset.ghost is not None
    assert "gone from disk" in error(get(api, f"/api/v1/footage/{dataset.ghost.id}/thumbnail"), 404)
    error(get(api, "/api/v1/footage/nope/thumbnail"), 404)
