"""A Camera's life on a real API server, with the operator as its own ServiceAccount.

- a new Camera gets one owned, labelled worker pod that records into the store and
  the footage folder; its status (phase, worker, conditions) and `kubectl get cam` say so;
- disabling stops the pod (Disabled), enabling starts a new one (no restart counted);
  Events tell Recording and Disabled; deleting removes the pod and the store row;
- credentials reach the worker only as Secret references, never in the pod, status or row;
- a spec change replaces the pod with one running the new spec, once;
- the operator's Role cannot read Secrets, and sees only its own pods.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.controlplane import ControlPlane
from harness.kubeclient import KubeHTTP
from harness.procs import wait_until
from k8s.operator_env import (
    OPERATOR_SA,
    SELECTOR,
    TIMEOUT,
    Cluster,
    grant_deploy_role,
    kubectl,
    recording,
)

pytestmark = [pytest.mark.k8s, pytest.mark.slow]


def test_camera_lifecycle(env: dict[str, Any], demo_cameras: Any, crd: ControlPlane) -> None:
    cluster: Cluster = env["cluster"]
    node = env["kubelet"](label_selector=SELECTOR)
    env["operator"]()
    cam = demo_cameras()

    cluster.apply_camera("driveway", cam.url("/demo"), displayName="Driveway")

    pod = cluster.wait_pod("driveway")
    meta = pod["metadata"]
    assert meta["labels"]["spectare.io/camera"] == "driveway"
    assert meta["ownerReferences"][0]["kind"] == "Camera"
    container = pod["spec"]["containers"][0]
    env_vars = {e["name"]: e for e in container["env"]}
    assert env_vars["SPECTARE_WORKER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    status = cluster.wait_status("driveway", recording, "Recording with a segment")
    assert status["workerPod"] == meta["name"]
    assert status["observedGeneration"] == 1 and status["restarts"] == 0
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Recording": "True",
        "WorkerReady": "True",
    }
    assert any(env["footage"].joinpath("driveway").rglob("*.mp4"))
    row = cluster.store.get_camera("driveway")
    assert row is not None and row.display_name == "Driveway" and row.worker == meta["name"]

    table = kubectl(crd, "get", "cam", "-n", cluster.ns)
    assert table.split("\n")[0].split() == ["NAME", "PHASE", "WORKER", "LAST", "SEGMENT", "AGE"]
    assert "driveway" in table and "Recording" in table and meta["name"] in table

    cluster.patch_spec("driveway", enabled=False)
    cluster.wait_no_pod("driveway")
    cluster.wait_status("driveway", lambda s: s.get("phase") == "Disabled", "Disabled")
    assert node.pod_run(meta["name"]) is not None  # it ran here and was stopped

    cluster.patch_spec("driveway", enabled=True)
    cluster.wait_pod("driveway", not_named=meta["name"])
    status = cluster.wait_status(
        "driveway", lambda s: s.get("phase") == "Recording", "Recording again"
    )
    assert status["restarts"] == 0  # a deliberate stop is no restart

    wait_until(
        lambda: {"Recording", "Disabled"} <= cluster.event_reasons("driveway"),
        TIMEOUT,
        "the Events of driveway",
    )

    cluster.delete_camera("driveway")
    cluster.wait_no_pod("driveway")
    wait_until(lambda: cluster.store.get_camera("driveway") is None, TIMEOUT, "the store row to go")


def test_credentials_reach_the_worker_only_as_secret_refs(
    env: dict[str, Any], demo_cameras: Any
) -> None:
    cluster: Cluster = env["cluster"]
    env["kubelet"](label_selector=SELECTOR)
    env["operator"]()
    cam = demo_cameras(username="viewer", password="s3cret-pw")
    cluster.kube.request(
        "POST",
        f"/api/v1/namespaces/{cluster.ns}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "gate-cam"},
            "stringData": {"username": "viewer", "password": "s3cret-pw"},
        },
    )

    cluster.apply_camera("gate", cam.url("/demo", credentials=False), credentialsSecret="gate-cam")

    pod = cluster.wait_pod("gate")
    assert "s3cret-pw" not in json.dumps(pod)
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in pod["spec"]["containers"][0]["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs["SPECTARE_CAMERA_PASSWORD"] == {"name": "gate-cam", "key": "password"}
    status = cluster.wait_status("gate", recording, "Recording with credentials")
    assert "s3cret-pw" not in json.dumps(status)
    row = cluster.store.get_camera("gate")
    assert row is not None and "s3cret-pw" not in row.url


def test_spec_change_replaces_the_pod(env: dict[str, Any]) -> None:
    cluster: Cluster = env["cluster"]
    env["kubelet"](label_selector=SELECTOR, run_processes=False)
    env["operator"]()
    cluster.apply_camera("lobby", "rtsp://127.0.0.1:9/none")
    first = cluster.wait_pod("lobby")

    cluster.patch_spec("lobby", segmentSeconds=60)

    second = cluster.wait_pod("lobby", not_named=first["metadata"]["name"])
    spec = {e["name"]: e.get("value") for e in second["spec"]["containers"][0]["env"]}
    assert json.loads(spec["SPECTARE_CAMERA_SPEC"])["segmentSeconds"] == 60
    cluster.wait_status("lobby", lambda s: s.get("observedGeneration") == 2, "generation 2")
    wait_until(lambda: len(cluster.pods("lobby")) == 1, TIMEOUT, "one pod")


def test_operator_cannot_read_secrets(crd: ControlPlane, kube: KubeHTTP, namespace: str) -> None:
    grant_deploy_role(kube, namespace)
    from kubernetes import client, config

    kubeconfig = str(crd.service_account_kubeconfig(*OPERATOR_SA))
    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))  # type: ignore[no-untyped-call]
    with pytest.raises(client.ApiException) as denied:
        api.list_namespaced_secret(namespace)
    assert denied.value.status == 403
    assert api.list_namespaced_pod(namespace, label_selector=SELECTOR).items == []
