"""The generated CRD on a real API server: accepted, explained, and refusing bad Cameras."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.controlplane import ControlPlane
from harness.kubeclient import ApiError, KubeHTTP
from harness.kubectl import kubectl
from harness.procs import wait_until
from spectare.crd import NAME

pytestmark = pytest.mark.k8s

ROOT = Path(__file__).resolve().parents[2]


def install_crd(plane: ControlPlane) -> None:
    """Apply deploy/crd.yaml and wait until the API serves Cameras."""
    kubectl(plane, "apply", "-f", str(ROOT / "deploy" / "crd.yaml"))
    kubectl(plane, "wait", "--for=condition=Established", f"crd/{NAME}", "--timeout=60s")
    http = plane.http()
    wait_until(lambda: _served(http), 30, "cameras to be served")


def _served(http: KubeHTTP) -> bool:
    try:
        http.request("GET", "/apis/spectare.io/v1alpha1/cameras")
    except ApiError:
        return False
    return True


def camera(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "spectare.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": name},
        "spec": {"url": "rtsp://10.0.0.9:554/s", **spec},
    }


@pytest.fixture
def crd(control_plane: ControlPlane) -> ControlPlane:
    install_crd(control_plane)
    return control_plane


def test_valid_camera_gets_defaults(crd: ControlPlane, kube: KubeHTTP, namespace: str) -> None:
    kubectl(crd, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(camera("driveway")))
    got = kube.request("GET", f"/apis/spectare.io/v1alpha1/namespaces/{namespace}/cameras/driveway")
    assert got["spec"]["segmentSeconds"] == 300 and got["spec"]["transport"] == "tcp"
    assert got["spec"]["motion"] == {"enabled": True, "threshold": 0.02}
    assert got["spec"]["enabled"] is True


def test_sample_camera_is_valid(crd: ControlPlane, namespace: str) -> None:
    proc = kubectl(
        crd,
        "apply",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        str(ROOT / "deploy" / "sample-camera.yaml"),
    )
    assert "created" in proc.stdout


@pytest.mark.parametrize(("spec", "expected"), [
    ({"url": "http://10.0.0.9/stream"}, "spec.url must be an rtsp:// or rtsps:// URL"),
    ({"segmentSeconds": 0}, "should be greater than or equal to 2"),
    ({"segmentSeconds": 7200}, "should be less than or equal to 3600"),
    ({"transport": "quic"}, 'Unsupported value: "quic"'),
    ({"retention": {"maxBytes": "lots"}}, "spec.retention.maxBytes"),
    ({"colour": "red"}, 'unknown field "spec.colour"'),
])  # fmt: skip
def test_kubectl_apply_refuses_bad_cameras(
    crd: ControlPlane, namespace: str, spec: dict[str, Any], expected: str
) -> None:
    proc = kubectl(
        crd,
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=yaml.safe_dump(camera("bad", **spec)),
        check=False,
    )
    assert proc.returncode != 0, proc.stdout
    assert expected in proc.stderr


def test_bad_names_are_refused(crd: ControlPlane, namespace: str) -> None:
    proc = kubectl(
        crd,
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=yaml.safe_dump(camera("x" * 64)),
        check=False,
    )
    assert proc.returncode != 0 and "metadata.name" in proc.stderr


def test_unknown_fields_by_raw_api(crd: ControlPlane, kube: KubeHTTP, namespace: str) -> None:
    """Strict field validation refuses; the API's default (Warn) prunes the field."""
    path = f"/apis/spectare.io/v1alpha1/namespaces/{namespace}/cameras"
    with pytest.raises(ApiError) as refused:
        kube.request(
            "POST", path, camera("strict", colour="red"), query={"fieldValidation": "Strict"}
        )
    assert refused.value.status == 400 and 'unknown field "spec.colour"' in str(refused.value)
    created = kube.request("POST", path, camera("lenient", colour="red"))
    assert "colour" not in created["spec"]


def test_kubectl_explain_helps(crd: ControlPlane) -> None:
    out = kubectl(crd, "explain", "camera.spec").stdout
    assert "What to record and how." in out
    assert "segmentSeconds" in out and "Length of one recorded segment" in out
    status = kubectl(crd, "explain", "cam.status.phase").stdout
    assert "Pending, Queued" in status


def test_status_is_a_subresource(crd: ControlPlane, kube: KubeHTTP, namespace: str) -> None:
    path = f"/apis/spectare.io/v1alpha1/namespaces/{namespace}/cameras"
    kube.request("POST", path, camera("sub"))
    # A status in a main-resource write is ignored; /status accepts it.
    kube.request(
        "PATCH",
        f"{path}/sub",
        {"status": {"phase": "Recording"}},
        content_type=KubeHTTP.MERGE_PATCH,
    )
    assert "status" not in kube.request("GET", f"{path}/sub") or not kube.request(
        "GET", f"{path}/sub"
    )["status"].get("phase")
    kube.request(
        "PATCH",
        f"{path}/sub/status",
        {"status": {"phase": "Recording", "bogus": 1}},
        content_type=KubeHTTP.MERGE_PATCH,
    )
    status = kube.request("GET", f"{path}/sub")["status"]
    assert status["phase"] == "Recording" and "bogus" not in status
    with pytest.raises(ApiError) as bad:
        kube.request(
            "PATCH",
            f"{path}/sub/status",
            {"status": {"phase": "Dancing"}},
            content_type=KubeHTTP.MERGE_PATCH,
        )
    assert bad.value.status == 422
    assert json.dumps(status)  # serialisable as stored
