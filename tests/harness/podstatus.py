"""The Node and pod status objects the test kubelet writes, built from plain data.

Pure: each function returns the JSON body to send; ``now`` is passed in or read
once. A process killed by a signal reports 128+signal, as a container runtime
does; the pod and host IP are loopback, because pods run as local processes.
"""

from __future__ import annotations

import datetime
from typing import Any

from harness.podenv import POD_IP

Pod = dict[str, Any]
Status = dict[str, Any]


def now() -> str:
    """The current time as Kubernetes writes it (UTC, seconds)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_manifest(node_name: str) -> dict[str, Any]:
    """The Node object to create for ``node_name``."""
    labels = {"kubernetes.io/hostname": node_name, "kubernetes.io/os": "linux"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node_name, "labels": labels},
    }


def node_ready_status(node_name: str, at: str) -> dict[str, Any]:
    """The Node status patch that marks it Ready, with room for many pods."""
    capacity = {"cpu": "2", "memory": "24Gi", "pods": "2000"}
    return {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "test kubelet",
                    "lastHeartbeatTime": at,
                    "lastTransitionTime": at,
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": POD_IP},
                {"type": "Hostname", "address": node_name},
            ],
            "capacity": capacity,
            "allocatable": dict(capacity),
        }
    }


def container_status(
    container: dict[str, Any], state: dict[str, Any], ready: bool, pid: int | None
) -> dict[str, Any]:
    """One entry of ``containerStatuses``; a running process's pid is its container id."""
    status = {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "ready": ready,
        "started": ready,
        "restartCount": 0,
        "state": state,
    }
    if pid is not None:
        status["containerID"] = f"test://{pid}"
    return status


def running_status(pod: Pod, started_at: str | None, pid: int | None) -> Status:
    """The status of a pod whose process runs."""
    container = pod["spec"]["containers"][0]
    state = {"running": {"startedAt": started_at}}
    statuses = [container_status(container, state, ready=True, pid=pid)]
    return pod_status(pod, started_at, "Running", True, statuses)


def terminated_status(pod: Pod, started_at: str | None, exit_code: int | None) -> Status:
    """The status of a pod whose process ended with ``exit_code`` (negative: a signal)."""
    code = exit_code if exit_code is not None else 137
    terminated: dict[str, Any] = {
        "exitCode": 128 - code if code < 0 else code,
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": started_at,
        "finishedAt": now(),
    }
    if code < 0:
        terminated["signal"] = -code
    container = pod["spec"]["containers"][0]
    statuses = [container_status(container, {"terminated": terminated}, ready=False, pid=None)]
    return pod_status(pod, started_at, "Succeeded" if code == 0 else "Failed", False, statuses)


def not_started_status(pod: Pod, message: str, retry: bool) -> Status:
    """A pod that could not start: Pending and waiting (``retry``), else Failed for good."""
    container = pod["spec"]["containers"][0]
    reason = "CreateContainerConfigError" if retry else "StartError"
    state: dict[str, Any]
    if retry:
        state = {"waiting": {"reason": reason, "message": message}}
    else:
        state = {
            "terminated": {
                "exitCode": 128,
                "reason": reason,
                "message": message,
                "finishedAt": now(),
            }
        }
    return {
        "phase": "Pending" if retry else "Failed",
        "hostIP": POD_IP,
        "podIP": POD_IP,
        "podIPs": [{"ip": POD_IP}],
        "containerStatuses": [
            {
                "name": container["name"],
                "image": container.get("image", ""),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": state,
            }
        ],
    }


def pod_status(
    pod: Pod,
    started_at: str | None,
    phase: str,
    ready: bool,
    container_statuses: list[dict[str, Any]],
) -> Status:
    """A whole pod status: phase, loopback IPs, the four conditions, the containers."""
    at = now()
    flag = "True" if ready else "False"
    conditions = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": at},
        {"type": "Initialized", "status": "True", "lastTransitionTime": at},
        {"type": "ContainersReady", "status": flag, "lastTransitionTime": at},
        {"type": "Ready", "status": flag, "lastTransitionTime": at},
    ]
    return {
        "phase": phase,
        "hostIP": POD_IP,
        "hostIPs": [{"ip": POD_IP}],
        "podIP": POD_IP,
        "podIPs": [{"ip": POD_IP}],
        "startTime": pod["status"].get("startTime") or started_at or at,
        "conditions": conditions,
        "containerStatuses": container_statuses,
    }
