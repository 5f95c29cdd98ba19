"""maxWorkers on a real API server: what a user sees of the queue, in Kubernetes and the API.

- with maxWorkers=2 and three Cameras, two get a pod and the third none: its Camera
  status is Queued, says why (maxWorkers=2), and a Queued Event is posted;
- the API, reading the same store, shows the queued camera as Queued (with the same
  message) in /api/v1/cameras, /api/v1/cameras/{id} and /api/v1/stats, and the
  cameras with a pod not as queued;
- when a Camera with a pod is deleted, the queued one gets its pod and leaves Queued,
  and there are two pods again.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from harness.procs import wait_until
from k8s.operator_env import SELECTOR, TIMEOUT, Cluster
from spectare.api import ApiServer
from spectare.settings import load_settings

pytestmark = [pytest.mark.k8s, pytest.mark.slow]

WAITING = "waiting for a free worker slot (maxWorkers=2)"


def test_a_queued_camera_shows_queued_in_kubernetes_and_the_api(env: dict[str, Any]) -> None:
    cluster: Cluster = env["cluster"]
    env["kubelet"](label_selector=SELECTOR, run_processes=False)
    env["operator"](SPECTARE_MAX_WORKERS="2")
    for name in ("cam-a", "cam-b", "cam-c"):
        cluster.apply_camera(name, "rtsp://127.0.0.1:9/none")

    wait_until(lambda: len(cluster.pods()) == 2, TIMEOUT, "two pods")
    queued = cluster.wait_status("cam-c", lambda s: s.get("phase") == "Queued", "cam-c Queued")
    assert queued["message"] == WAITING and queued.get("workerPod") is None
    assert not cluster.pods("cam-c")
    wait_until(
        lambda: "Queued" in cluster.event_reasons("cam-c"), TIMEOUT, "a Queued Event on cam-c"
    )

    # The API reads the store, as under `spectare up`: the same queue, the same words.
    settings = load_settings(store="sqlite:///unused.db", footage_dir=env["footage"], api_port=0)
    with ApiServer(settings, store=cluster.store) as api:

        def get(path: str) -> Any:
            answer = requests.get(f"{api.url}{path}", timeout=5)
            assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
            return answer.json()

        def api_shows_queued() -> bool:
            stats = get("/api/v1/stats")
            listed = {c["id"]: c for c in get("/api/v1/cameras")["items"]}
            one = get("/api/v1/cameras/cam-c")
            per_camera = {c["id"]: c["queued"] for c in stats["per_camera"]}
            return (
                stats["cameras"]["queued"] == 1
                and per_camera == {"cam-a": False, "cam-b": False, "cam-c": True}
                and listed["cam-c"]["phase"] == one["phase"] == "Queued"
                and listed["cam-c"]["message"] == one["message"] == WAITING
                and listed["cam-a"]["phase"] != "Queued"
                and listed["cam-b"]["phase"] != "Queued"
            )

        wait_until(api_shows_queued, TIMEOUT, "Queued in the API's cameras and stats")

    cluster.delete_camera("cam-a")

    cluster.wait_pod("cam-c")
    cluster.wait_status("cam-c", lambda s: s.get("phase") != "Queued", "cam-c out of the queue")
    cluster.wait_no_pod("cam-a")
    assert len(cluster.pods()) == 2
