"""Failing workers on a real API server: the operator replaces them.

- a killed worker's pod is replaced, the restart counted, WorkerFailed, WorkerReplaced
  and Recording Events posted, the failed pod cleaned up;
- a frozen worker (alive, silent) is released once its heartbeat is stale, not before,
  and replaced; the replacement holds the camera.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from harness.procs import wait_until
from k8s.operator_env import SELECTOR, TIMEOUT, Cluster

pytestmark = [pytest.mark.k8s, pytest.mark.slow]


def recording(env: dict[str, Any], demo_cameras: Any, name: str) -> tuple[Cluster, Any, str]:
    """A node, the operator and a Camera ``name`` recording; its first pod's name."""
    cluster: Cluster = env["cluster"]
    node = env["kubelet"](label_selector=SELECTOR)
    env["operator"]()
    cluster.apply_camera(name, demo_cameras().url("/demo"))
    first = cluster.wait_pod(name)["metadata"]["name"]
    cluster.wait_status(name, lambda s: s.get("phase") == "Recording", "Recording")
    return cluster, node, first


def recorded_by(cluster: Cluster, name: str, pod: str) -> dict[str, Any]:
    """The Camera's status once ``pod`` records it."""
    return cluster.wait_status(
        name,
        lambda s: s.get("phase") == "Recording" and s.get("workerPod") == pod,
        "Recording by the replacement",
    )


def test_killed_worker_is_replaced(env: dict[str, Any], demo_cameras: Any) -> None:
    cluster, node, first = recording(env, demo_cameras, "porch")

    node.signal_pod(first, signal.SIGKILL)

    second = cluster.wait_pod("porch", not_named=first)["metadata"]["name"]
    status = recorded_by(cluster, "porch", second)
    assert status["restarts"] == 1
    wait_until(
        lambda: {"WorkerFailed", "WorkerReplaced", "Recording"} <= cluster.event_reasons("porch"),
        TIMEOUT,
        "the Events of porch",
    )
    wait_until(
        lambda: all(p["metadata"]["name"] == second for p in cluster.pods("porch")),
        TIMEOUT,
        "the failed pod to be cleaned up",
    )


def test_frozen_worker_is_released_and_replaced(env: dict[str, Any], demo_cameras: Any) -> None:
    cluster, node, first = recording(env, demo_cameras, "yard")
    pid = node.wait_for_pid(first)

    os.killpg(pid, signal.SIGSTOP)  # the whole pod (worker and ffmpeg): alive but silent
    frozen_at = time.time()

    second = cluster.wait_pod("yard", not_named=first)["metadata"]["name"]
    assert time.time() - frozen_at >= 6  # not before the heartbeat went stale
    status = recorded_by(cluster, "yard", second)
    assert status["restarts"] == 1
    row = cluster.store.get_camera("yard")
    assert row is not None and row.worker == second
