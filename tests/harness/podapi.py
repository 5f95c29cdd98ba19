"""What the test kubelet reads from and writes to the API server, one call each.

Each function is a thin wrapper around one request with the kubelet's (admin)
client, and knows which API errors are part of a pod's normal life: a pod
deleted meanwhile (404), bound or recreated elsewhere (409), or whose status
may no longer change (422).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from harness import podstatus
from harness.kubeclient import ApiError, KubeHTTP
from harness.podenv import Sources, references, secret_data
from harness.podrun import PodRun

log = logging.getLogger("spectare.harness.kubelet")

Pod = dict[str, Any]


def register_node(api: KubeHTTP, node_name: str) -> None:
    """Create the Node if missing and mark it Ready (several kubelets may share it)."""
    try:
        api.request("POST", "/api/v1/nodes", podstatus.node_manifest(node_name))
    except ApiError as exc:
        if exc.status != 409:
            raise
    api.request(
        "PATCH",
        f"/api/v1/nodes/{node_name}/status",
        podstatus.node_ready_status(node_name, podstatus.now()),
        content_type=KubeHTTP.STRATEGIC_PATCH,
    )


def bind(api: KubeHTTP, run: PodRun, node_name: str) -> bool:
    """Bind the pod to ``node_name``; False if it is gone. (Bound pods delete gracefully.)"""
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": run.name, "uid": run.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
    }
    try:
        api.request("POST", f"{run.api_path}/binding", binding)
    except ApiError as exc:
        log.info("pod not bound pod=%s/%s status=%d", run.namespace, run.name, exc.status)
        if exc.status == 404:
            run.gone = True
            return False
        if exc.status == 409:  # already bound: by an earlier try of ours, or elsewhere
            pod = current_pod(api, run)
            return pod is not None and pod["spec"].get("nodeName") == node_name
        raise
    return True


def current_pod(api: KubeHTTP, run: PodRun) -> Pod | None:
    """The pod of ``run`` as the API has it now; None if gone or recreated (another uid)."""
    with contextlib.suppress(ApiError):
        pod = dict(api.request("GET", run.api_path))
        if pod["metadata"]["uid"] == run.uid:
            return pod
    return None


def read_sources(api: KubeHTTP, namespace: str, container: Mapping[str, Any]) -> Sources:
    """Read the Secrets and ConfigMaps ``container``'s environment names (missing: left out)."""
    secret_names, config_map_names = references(container)
    secrets = {n: _read(api, "secrets", namespace, n) for n in secret_names}
    config_maps = {n: _read(api, "configmaps", namespace, n) for n in config_map_names}
    return Sources(
        secrets={n: secret_data(s) for n, s in secrets.items() if s is not None},
        config_maps={n: dict(c.get("data") or {}) for n, c in config_maps.items() if c is not None},
    )


def _read(api: KubeHTTP, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return dict(api.request("GET", f"/api/v1/namespaces/{namespace}/{resource}/{name}"))
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def patch_status(api: KubeHTTP, run: PodRun, status: dict[str, Any]) -> None:
    """Write pod status via pods/status; a pod that is gone is not an error."""
    body = {"metadata": {"uid": run.uid}, "status": status}
    try:
        api.request("PATCH", f"{run.api_path}/status", body, content_type=KubeHTTP.STRATEGIC_PATCH)
    except ApiError as exc:
        if exc.status not in (404, 409, 422):
            raise
        log.info("pod status not written pod=%s/%s status=%d", run.namespace, run.name, exc.status)


def finish_deletion(api: KubeHTTP, run: PodRun) -> None:
    """Delete with grace 0, only this uid (a pod recreated under the name is not ours)."""
    options = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": run.uid},
    }
    try:
        api.request("DELETE", run.api_path, options)
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise
    run.gone = True
