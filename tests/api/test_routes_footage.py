"""The camera and footage routes over real footage, through a real server in a subprocess.

Covers: the camera list (passwords masked), one camera, unknown cameras (404),
releasing without a configured token; a camera's
footage in order, by time range, in RFC 3339, paged with a cursor, newest first;
bad parameters (JSON 400 naming the parameter); footage metadata and whole
videos. Snapshots and thumbnails: test_pictures.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from apiharness.dataset import SECRET, Dataset
from apiharness.responses import error, get
from apiharness.server import ApiProcess

pytestmark = pytest.mark.integration


# -- cameras ----------------------------------------------------------------------------


def test_cameras_list_masks_passwords(api: ApiProcess) -> None:
    response = get(api, "/api/v1/cameras")
    assert response.status_code == 200
    assert SECRET not in response.text
    items = response.json()["items"]
    assert [c["id"] for c in items] == ["driveway", "garden", "porch"]
    driveway = items[0]
    assert driveway["url"] == "rtsp://admin:***@192.0.2.10:554/Streaming/Channels/1"
    assert driveway["phase"] == "Recording"
    assert driveway["worker"] == "worker-a"
    assert driveway["orphaned"] is False
    assert driveway["reconnects"] == 2
    assert driveway["footage"]["count"] == 6
    assert driveway["links"]["snapshot"] == "/api/v1/cameras/driveway/snapshot"
    assert items[1]["orphaned"] is True
    assert items[2]["enabled"] is False and items[2]["phase"] == "Disabled"


def test_one_camera(api: ApiProcess, dataset: Dataset) -> None:
    body = get(api, "/api/v1/cameras/driveway").json()
    segments = dataset.footage["driveway"]
    assert body["display_name"] == "Driveway"
    assert body["footage"]["oldest"] == pytest.approx(segments[0].start)
    assert body["footage"]["newest"] == pytest.approx(segments[-1].end)
    assert body["footage"]["bytes"] == sum(s.bytes for s in segments)
    assert body["last_segment_at"] == pytest.approx(segments[-1].end)


@pytest.mark.parametrize("name", ["nope", "Not-A-Label", "a" * 64])
def test_unknown_camera_is_404(api: ApiProcess, name: str) -> None:
    assert "no camera" in error(get(api, f"/api/v1/cameras/{name}"), 404)


def test_release_without_a_configured_token_says_how_to_set_one(api: ApiProcess) -> None:
    response = requests.post(f"{api.url}/api/v1/cameras/driveway/release", timeout=10)
    message = error(response, 403)
    assert "SPECTARE_API_TOKEN" in message
    assert get(api, "/api/v1/cameras/driveway").json()["worker"] == "worker-a"


# -- footage ----------------------------------------------------------------------------


def test_footage_of_a_camera_in_order(api: ApiProcess, dataset: Dataset) -> None:
    body = get(api, "/api/v1/cameras/driveway/footage").json()
    expected = dataset.footage["driveway"]
    assert [f["id"] for f in body["items"]] == [s.id for s in expected]
    assert body["cursor"] is None and body["links"]["next"] is None
    first = body["items"][0]
    assert first["links"]["video"] == f"/api/v1/footage/{expected[0].id}/video"
    assert first["links"]["thumbnail"] == f"/api/v1/footage/{expected[0].id}/thumbnail"
    assert first["codec"] == "h264" and first["width"] == 640 and first["container"] == "mp4"


def test_footage_by_time_range(api: ApiProcess, dataset: Dataset) -> None:
    segments = dataset.footage["driveway"]
    # The second run only: from just before it to well after.
    start, end = segments[3].start - 1, dataset.now + 60
    body = get(api, f"/api/v1/cameras/driveway/footage?from={start}&to={end}").json()
    assert [f["id"] for f in body["items"]] == [s.id for s in segments[3:]]
    # A range starting inside a segment includes that segment (it overlaps).
    inside = segments[1].start + 2
    body = get(api, f"/api/v1/cameras/driveway/footage?from={inside}&to={segments[2].end}").json()
    assert [f["id"] for f in body["items"]] == [segments[1].id, segments[2].id]


def test_footage_times_in_rfc3339(api: ApiProcess, dataset: Dataset) -> None:
    segments = dataset.footage["driveway"]

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")

    body = get(
        api,
        "/api/v1/cameras/driveway/footage",
        params={"from": iso(segments[3].start - 1), "to": iso(dataset.now + 60)},
    ).json()
    assert [f["id"] for f in body["items"]] == [s.id for s in segments[3:]]


def test_footage_pages_with_a_cursor(api: ApiProcess, dataset: Dataset) -> None:
    seen: list[str] = []
    url: str | None = "/api/v1/cameras/driveway/footage?limit=4"
    pages = 0
    while url:
        body = get(api, url).json()
        seen += [f["id"] for f in body["items"]]
        url = body["links"]["next"]
        if url:
            assert body["cursor"] in url
        pages += 1
    assert pages == 2
    assert seen == [s.id for s in dataset.footage["driveway"]]


def test_last_page_newest_first(api: ApiProcess, dataset: Dataset) -> None:
    body = get(api, "/api/v1/cameras/driveway/footage?order=desc&limit=2").json()
    newest = dataset.footage["driveway"][::-1]
    assert [f["id"] for f in body["items"]] == [s.id for s in newest[:2]]
    more = get(api, body["links"]["next"]).json()
    assert [f["id"] for f in more["items"]] == [s.id for s in newest[2:4]]


def test_footage_of_a_camera_without_footage_is_empty(api: ApiProcess) -> None:
    body = get(api, "/api/v1/cameras/porch/footage").json()
    assert body == {"items": [], "cursor": None, "links": {"next": None}}


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=many", "limit"),
        ("from=yesterday", "from"),
        ("to=nan", "to"),
        ("from=100&to=50", "to"),
        ("cursor=%%%%", "cursor"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("order=sideways", "order"),
    ],
)
def test_footage_bad_parameters_are_400(api: ApiProcess, query: str, parameter: str) -> None:
    message = error(get(api, f"/api/v1/cameras/driveway/footage?{query}"), 400)
    assert parameter in message


def test_footage_of_unknown_camera_is_404(api: ApiProcess) -> None:
    error(get(api, "/api/v1/cameras/nope/footage"), 404)


def test_footage_metadata(api: ApiProcess, dataset: Dataset) -> None:
    segment = dataset.footage["driveway"][2]
    body = get(api, f"/api/v1/footage/{segment.id}").json()
    assert body["id"] == segment.id
    assert body["path"] == segment.path
    assert body["start"] == pytest.approx(segment.start)
    assert body["duration"] == pytest.approx(segment.duration)
    assert body["bytes"] == segment.bytes
    assert "retention" in error(
        get(api, "/api/v1/footage/01900000-0000-7000-8000-000000000000"), 404
    )


def test_video_whole(api: ApiProcess, dataset: Dataset) -> None:
    segment = dataset.footage["driveway"][0]
    response = get(api, f"/api/v1/footage/{segment.id}/video")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.content == (dataset.root / segment.path).read_bytes()
    assert int(response.headers["Content-Length"]) == segment.bytes


def test_video_errors(api: ApiProcess, dataset: Dataset) -> None:
    assert dataset.ghost is not None
    assert "gone from disk" in error(get(api, f"/api/v1/footage/{dataset.ghost.id}/video"), 404)
    error(get(api, "/api/v1/footage/nope/video"), 404)
