"""Every route of the API over real footage, through a real server in a subprocess."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from apiharness.dataset import SECRET, Dataset
from apiharness.server import ApiProcess
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration


def get(api: ApiProcess, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(api.url + path, timeout=10, **kwargs)


def error(response: requests.Response, status: int) -> str:
    """Assert a JSON error of ``status``; its message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == status
    assert body["error"] and body["message"]
    return str(body["message"])


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


# Snapshots and thumbnails: test_pictures.py.


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


# -- events -----------------------------------------------------------------------------


def test_events(api: ApiProcess, dataset: Dataset) -> None:
    body = get(api, "/api/v1/events").json()
    assert [e["id"] for e in body["items"]] == [e.id for e in dataset.events]
    assert body["truncated"] is False
    first = body["items"][0]
    assert first["video"] == f"/api/v1/footage/{dataset.events[0].footage_id}/video"
    assert first["score"] == pytest.approx(0.31)


def test_events_by_camera_and_time(api: ApiProcess, dataset: Dataset) -> None:
    assert len(get(api, "/api/v1/events?camera=driveway").json()["items"]) == 2
    assert get(api, "/api/v1/events?camera=garden").json()["items"] == []
    late = dataset.events[1].start - 0.5
    body = get(api, f"/api/v1/events?camera=driveway&from={late}").json()
    assert [e["id"] for e in body["items"]] == [dataset.events[1].id]
    limited = get(api, "/api/v1/events?limit=1").json()
    assert len(limited["items"]) == 1 and limited["truncated"] is True


def test_events_errors(api: ApiProcess) -> None:
    error(get(api, "/api/v1/events?camera=nope"), 404)
    assert "camera" in error(get(api, "/api/v1/events?camera=Not%20A%20Label"), 400)
    assert "limit" in error(get(api, "/api/v1/events?limit=0"), 400)
    assert "from" in error(get(api, "/api/v1/events?from=soon"), 400)


# -- system -----------------------------------------------------------------------------


def test_stats(api: ApiProcess, dataset: Dataset) -> None:
    body = get(api, "/api/v1/stats").json()
    assert body["cameras"] == {
        "total": 3,
        "recording": 1,
        "grabbed": 2,
        "orphaned": 1,
        "disabled": 1,
        "queued": 0,
        "phases": {
            "Disabled": 1,
            "Failed": 0,
            "Pending": 0,
            "Queued": 0,
            "Reconnecting": 0,
            "Recording": 2,
            "Starting": 0,
        },
    }
    assert body["workers"] == 2
    everything = [s for segments in dataset.footage.values() for s in segments]
    assert body["footage"]["count"] == len(everything)
    assert body["footage"]["bytes"] == sum(s.bytes for s in everything)
    assert body["footage"]["oldest"] == pytest.approx(min(s.start for s in everything))
    per = {c["id"]: c for c in body["per_camera"]}
    assert per["driveway"]["recording"] is True
    assert per["garden"]["orphaned"] is True and per["garden"]["recording"] is False
    assert per["porch"]["footage"]["count"] == 0


def test_health_and_readiness(api: ApiProcess) -> None:
    assert get(api, "/healthz").json()["status"] == "ok"
    assert get(api, "/readyz").json()["status"] == "ready"


def test_metrics(api: ApiProcess, dataset: Dataset) -> None:
    response = get(api, "/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("spectare_store_up") == 1
    assert value("spectare_camera_segments", camera="driveway") == 6
    assert value("spectare_camera_bytes", camera="driveway") == sum(
        s.bytes for s in dataset.footage["driveway"]
    )
    assert value("spectare_camera_reconnects_total", camera="driveway") == 2
    assert value("spectare_camera_phase", camera="driveway", phase="Recording") == 1
    assert value("spectare_camera_phase", camera="driveway", phase="Failed") == 0
    assert 0 <= value("spectare_camera_seconds_since_last_segment", camera="driveway") < 3600
    # A camera that never recorded has no age rather than a made-up one.
    assert ("spectare_camera_seconds_since_last_segment", (("camera", "porch"),)) not in samples
    assert value("spectare_cameras", state="total") == 3
    assert value("spectare_cameras", state="orphaned") == 1
    assert value("spectare_workers") == 2
    assert value("spectare_footage_segments") == 9


def test_openapi_document(api: ApiProcess) -> None:
    doc = get(api, "/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    paths = doc["paths"]
    for path, method in [
        ("/api/v1/cameras", "get"),
        ("/api/v1/cameras/{name}", "get"),
        ("/api/v1/cameras/{name}/footage", "get"),
        ("/api/v1/cameras/{name}/snapshot", "get"),
        ("/api/v1/cameras/{name}/release", "post"),
        ("/api/v1/footage/{footage_id}", "get"),
        ("/api/v1/footage/{footage_id}/video", "get"),
        ("/api/v1/footage/{footage_id}/thumbnail", "get"),
        ("/api/v1/events", "get"),
        ("/api/v1/stats", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/", "get"),
        ("/cameras/{name}", "get"),
    ]:
        assert method in paths[path], path
    release = paths["/api/v1/cameras/{name}/release"]["post"]
    assert release["security"] == [{"bearer": []}]
    assert {"401", "403", "404"} <= set(release["responses"])
    video = paths["/api/v1/footage/{footage_id}/video"]["get"]
    assert {"200", "206", "416"} <= set(video["responses"])
    schemas = doc["components"]["schemas"]
    assert {"CameraOut", "FootagePage", "Stats", "Error", "EventList"} <= set(schemas)


def test_unknown_route_and_method(api: ApiProcess) -> None:
    assert "openapi.json" in error(get(api, "/api/v1/nothing"), 404)
    # Never an HTML redirect: an empty path segment is simply not found.
    error(get(api, "/api/v1/footage//video", allow_redirects=False), 404)
    error(get(api, "/api/v1/cameras//footage", allow_redirects=False), 404)
    response = requests.delete(f"{api.url}/api/v1/cameras", timeout=10)
    error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_cors_is_off_by_default(api: ApiProcess) -> None:
    response = get(api, "/api/v1/cameras", headers={"Origin": "http://127.0.0.1:9"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = requests.options(
        f"{api.url}/api/v1/cameras",
        headers={"Origin": "http://127.0.0.1:9", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


# -- web UI -----------------------------------------------------------------------------


def test_ui_pages(api: ApiProcess) -> None:
    grid = get(api, "/")
    assert grid.status_code == 200 and grid.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in grid.headers["Content-Security-Policy"]
    for camera in ("driveway", "garden", "porch"):
        assert f'data-camera="{camera}"' in grid.text
    assert SECRET not in grid.text
    page = get(api, "/cameras/driveway")
    assert page.status_code == 200
    assert 'id="timeline"' in page.text and "<video" in page.text
    assert "admin:***@" in page.text and SECRET not in page.text
    missing = get(api, "/cameras/nope")
    assert missing.status_code == 404 and "There is no camera" in missing.text
    for name, kind in [
        ("app.css", "text/css"),
        ("camera.js", "text/javascript"),
        ("no-picture.svg", "image/svg+xml"),
    ]:
        response = get(api, f"/static/{name}")
        assert response.status_code == 200 and response.headers["Content-Type"].startswith(kind)
    error(get(api, "/static/nope.js"), 404)
    error(get(api, "/static/../app.py"), 404)
