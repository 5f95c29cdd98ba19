"""The event, system and web UI routes, through a real server in a subprocess.

Covers: events, by camera and time, and their errors; stats; health and
readiness; Prometheus metrics; the OpenAPI document; unknown routes and methods
(JSON 404/405); CORS off by default; the web UI's pages. The camera and footage
routes are in test_routes_footage.py.
"""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from apiharness.dataset import SECRET, Dataset
from apiharness.responses import error, get
from apiharness.server import ApiProcess

pytestmark = pytest.mark.integration


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
