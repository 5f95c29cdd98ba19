"""ApiServer: serves on a background thread, stops cleanly, starts before the store is up."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from harness.procs import free_port
from spectare.api import ApiServer
from spectare.settings import load_settings
from spectare.store import CameraInfo, open_store


def test_serves_on_a_free_port_and_stops(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    store.upsert_camera(CameraInfo(id="yard", display_name="Yard"))
    settings = load_settings(
        store=f"sqlite:///{tmp_path}/s.db", footage_dir=tmp_path, api_host="127.0.0.1", api_port=0
    )
    server = ApiServer(settings, store=store)
    server.start()
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert requests.get(f"{server.url}/healthz", timeout=5).json() == {
            "status": "ok",
            "message": None,
        }
        cameras = requests.get(f"{server.url}/api/v1/cameras", timeout=5).json()["items"]
        assert [c["id"] for c in cameras] == ["yard"]
    finally:
        server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
    # A store handed in belongs to the caller: still open.
    assert store.get_camera("yard") is not None
    store.close()
    server.stop()  # stopping twice is harmless


def test_context_manager(tmp_path: Path) -> None:
    settings = load_settings(store=f"sqlite:///{tmp_path}/s.db", footage_dir=tmp_path, api_port=0)
    with ApiServer(settings) as server:
        assert requests.get(f"{server.url}/readyz", timeout=5).json()["status"] == "ready"


def test_starts_while_the_store_is_down(tmp_path: Path) -> None:
    """Liveness answers at once; readiness and data say 503 until the store answers."""
    url = f"rethinkdb://127.0.0.1:{free_port()}/spectare?timeout=1"  # nothing listens there
    settings = load_settings(store=url, footage_dir=tmp_path, api_port=0)
    with ApiServer(settings) as server:
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
        ready = requests.get(f"{server.url}/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        data = requests.get(f"{server.url}/api/v1/stats", timeout=5)
        assert data.status_code == 503
        assert "SPECTARE_STORE" in data.json()["message"]
        assert data.headers["Retry-After"] == "5"
        metrics = requests.get(f"{server.url}/metrics", timeout=5)
        assert metrics.status_code == 200 and "spectare_store_up 0" in metrics.text


def test_stop_is_safe_in_any_order_and_from_any_thread(tmp_path: Path) -> None:
    """Stop before start, right after start, twice, and from another thread: no error."""
    settings = load_settings(store=f"sqlite:///{tmp_path}/s.db", footage_dir=tmp_path, api_port=0)
    errors: list[BaseException] = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)  # type: ignore[assignment]
    try:
        for round_ in range(200):
            server = ApiServer(settings)
            server.stop()  # before start: nothing to stop
            server.start()
            if round_ % 2:
                stopper = threading.Thread(target=server.stop)
                stopper.start()
                server.stop()
                stopper.join()
            else:
                server.stop()
            server.stop()
            with pytest.raises(requests.ConnectionError):
                requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
    finally:
        threading.excepthook = previous_hook
    assert errors == []
