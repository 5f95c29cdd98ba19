"""The chart against the real kube-apiserver of the operator tests (tests/k8s harness).

Server-side dry-run and apply of the rendered manifests, the API server's own Pod Security
admission (restricted) on every pod the chart and the operator make, and a real
`helm install` + `helm upgrade` that keeps the generated API token (`lookup`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from chart.chartlib import CHART, helm, render_args
from harness import controlplane
from harness.kubeclient import ApiError, KubeHTTP
from harness.kubectl import kubectl

pytestmark = pytest.mark.k8s


def restrict(kube: KubeHTTP, namespace: str) -> None:
    """Label ``namespace`` for the restricted Pod Security Standard: enforce and warn."""
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn")}
    kube.request(
        "PATCH", f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": labels}},
        content_type="application/merge-patch+json",
    )  # fmt: skip


def install_crds(plane: controlplane.ControlPlane) -> None:
    for crd in sorted((CHART / "crds").glob("*.yaml")):
        kubectl(plane, "apply", "--server-side", "--force-conflicts",
                "--field-manager=spectare-chart-tests", "-f", str(crd))  # fmt: skip
    kubectl(plane, "wait", "--for=condition=Established", "--timeout=60s",
            "crd/cameras.spectare.io", "crd/kopfpeerings.kopf.dev")  # fmt: skip


def rendered_text(namespace: str, *sets: str) -> str:
    return helm(*render_args(*sets, namespace=namespace)).stdout


def apply(plane: controlplane.ControlPlane, text: str, *extra: str) -> str:
    result = kubectl(plane, "apply", "--server-side", "--field-manager=spectare-chart-tests",
                     *extra, "-f", "-", stdin=text, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.mark.parametrize(
    "sets",
    [(), ("operator.ha.enabled=true",),
     ("storage.mode=nfs", "storage.nfs.server=nas", "storage.nfs.path=/footage",
      "api.ingress.enabled=true", "api.ingress.host=cams.example.org")],
    ids=["default", "ha", "nfs-ingress"],
)  # fmt: skip
def test_rendered_manifests_dry_run_then_apply(
    control_plane: controlplane.ControlPlane,
    kube: KubeHTTP,
    namespace: str,
    sets: tuple[str, ...],
) -> None:
    install_crds(control_plane)
    restrict(kube, namespace)
    text = rendered_text(namespace, *sets)
    dry = apply(control_plane, text, "--dry-run=server")
    assert "would violate PodSecurity" not in dry, dry
    out = apply(control_plane, text)
    assert "would violate PodSecurity" not in out, out
    for doc in (d for d in yaml.safe_load_all(text) if d):
        meta = doc["metadata"]
        if doc["kind"] == "PersistentVolume":
            path = f"/api/v1/persistentvolumes/{meta['name']}"
        else:
            path = _path(doc["apiVersion"], doc["kind"], namespace, meta["name"])
        assert kube.request("GET", path)["metadata"]["name"] == meta["name"]


def _path(api_version: str, kind: str, namespace: str, name: str) -> str:
    plural = {"ServiceAccount": "serviceaccounts", "Role": "roles", "RoleBinding": "rolebindings",
              "Secret": "secrets", "Deployment": "deployments", "Service": "services",
              "StatefulSet": "statefulsets", "PersistentVolumeClaim": "persistentvolumeclaims",
              "KopfPeering": "kopfpeerings", "Ingress": "ingresses"}[kind]  # fmt: skip
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{base}/namespaces/{namespace}/{plural}/{name}"


def test_pod_security_admission_admits_every_pod(
    control_plane: controlplane.ControlPlane, kube: KubeHTTP, namespace: str
) -> None:
    """Each pod template, and the operator's worker pod, created (dry run) under enforce."""
    from chart.chartscenarios import NFS, worker_pod

    restrict(kube, namespace)
    objs = [d for d in yaml.safe_load_all(rendered_text(namespace, *NFS)) if d]
    pods: list[dict[str, Any]] = []
    for o in (o for o in objs if o["kind"] in ("Deployment", "StatefulSet")):
        spec = dict(o["spec"]["template"]["spec"])
        # What the StatefulSet controller adds for each volumeClaimTemplate.
        spec["volumes"] = spec.get("volumes", []) + [
            {"name": t["metadata"]["name"], "persistentVolumeClaim": {"claimName": "claim-0"}}
            for t in o["spec"].get("volumeClaimTemplates", [])
        ]
        name = f"{o['metadata']['name']}-check"
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
    worker = worker_pod(objs)
    worker["metadata"] = {"name": "worker-check"}
    pods.append(worker)
    assert len(pods) == 4
    for pod in pods:
        created = kube.request(
            "POST", f"/api/v1/namespaces/{namespace}/pods", pod, query={"dryRun": "All"}
        )
        assert created["metadata"]["name"] == pod["metadata"]["name"]
    # And the check has teeth: a root pod is refused.
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}  # fmt: skip
    with pytest.raises(ApiError) as refused:
        kube.request("POST", f"/api/v1/namespaces/{namespace}/pods", bad, query={"dryRun": "All"})
    assert refused.value.status == 403


def test_helm_install_and_upgrade_keep_the_token(
    control_plane: controlplane.ControlPlane,
    kube: KubeHTTP,
    namespace: str,
    tmp_path: Path,
) -> None:
    install_crds(control_plane)
    restrict(kube, namespace)
    env = {"HOME": str(tmp_path), "KUBECONFIG": str(control_plane.admin_kubeconfig),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    common = [str(CHART), "--namespace", namespace, "--skip-crds"]
    first = helm("install", "spectare", *common, env=env, check=False)
    assert first.returncode == 0, first.stderr
    assert "Add a camera" in first.stdout and "kubectl -n " + namespace in first.stdout
    secret = f"/api/v1/namespaces/{namespace}/secrets/spectare-api-token"
    token = base64.b64decode(kube.request("GET", secret)["data"]["token"]).decode()
    assert len(token) >= 32
    second = helm("upgrade", "spectare", *common, "--set", "api.replicas=2", env=env,
                  check=False)  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert base64.b64decode(kube.request("GET", secret)["data"]["token"]).decode() == token
    deployment = kube.request("GET", _path("apps/v1", "Deployment", namespace, "spectare-api"))
    assert deployment["spec"]["replicas"] == 2
