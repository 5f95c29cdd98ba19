"""The operator as a subprocess against the test control plane, and the test's view of it.

``Operator`` runs ``spectare operator`` authenticated as its ServiceAccount with the
Role of deploy/; ``Cluster`` is what a test reads and writes (Cameras, pods, store).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from harness.controlplane import ControlPlane
from harness.kubeclient import KubeHTTP
from harness.kubectl import kubectl as run_kubectl
from harness.procs import free_port, stop_process, wait_until
from spectare.store import Store

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_SA = ("spectare", "spectare-operator")
SELECTOR = "app.kubernetes.io/managed-by=spectare"
TIMEOUT = 60.0
API = "/apis/spectare.io/v1alpha1"


def kubectl(plane: ControlPlane, *args: str, stdin: str | None = None) -> str:
    """Run kubectl as the admin; its output (a failure fails the test)."""
    return run_kubectl(plane, *args, stdin=stdin).stdout


def grant_deploy_role(kube: KubeHTTP, namespace: str) -> None:
    """Bind the Role of deploy/rbac.yaml, unchanged but for its namespace, to the operator."""
    for doc in yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()):
        if doc["kind"] not in ("Role", "RoleBinding"):
            continue
        doc["metadata"]["namespace"] = namespace
        plural = "roles" if doc["kind"] == "Role" else "rolebindings"
        kube.request(
            "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/{plural}", doc
        )


class Operator:
    """``spectare operator`` as a subprocess, authenticated as its ServiceAccount."""

    def __init__(
        self,
        plane: ControlPlane,
        namespace: str,
        tmp: Path,
        store_url: str,
        footage: Path,
        **extra: str,
    ) -> None:
        self.log_path = tmp / f"operator-{len(list(tmp.glob('operator-*.log')))}.log"
        self.log_path.touch()
        self.health_port = free_port()
        self.env = dict(os.environ)
        self.env.update(
            KUBECONFIG=str(plane.service_account_kubeconfig(*OPERATOR_SA)),
            SPECTARE_NAMESPACE=namespace,
            SPECTARE_STORE=store_url,
            SPECTARE_FOOTAGE_DIR=str(footage),
            SPECTARE_WORKER_COMMAND=json.dumps(
                [str(Path(sys.executable).with_name("spectare")), "worker"]
            ),
            SPECTARE_HEALTH_HOST="127.0.0.1",
            SPECTARE_HEALTH_PORT=str(self.health_port),
            SPECTARE_SCAN_SECONDS="1",
            SPECTARE_HEARTBEAT_SECONDS="1",
            SPECTARE_STALE_SECONDS="6",
            SPECTARE_STATUS_HEARTBEAT_SECONDS="5",
            SPECTARE_WORKER_GRACE_SECONDS="10",
            SPECTARE_ORPHAN_GRACE_SECONDS="1",
            SPECTARE_RESTART_BACKOFF_MAX_SECONDS="4",
            SPECTARE_LOG_LEVEL="info",
        )
        self.env.update(extra)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-P",
                    "-c",
                    "from spectare.logs import setup_logging; setup_logging('info'); "
                    "from spectare.operator import run; run()",
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.log_path.parent,
            )
        wait_until(self.ready, 60, "the operator to be ready")
        return self

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"operator exited {self.proc.returncode}:\n{self.log()}")
        return self.probe("/readyz") == 200

    def probe(self, path: str) -> int:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.health_port}{path}", timeout=2
            ) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        code = stop_process(self.proc, timeout=20)
        self.proc = None
        return int(code)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:]


class Cluster:
    """The test's view: cameras, pods, store."""

    def __init__(self, kube: KubeHTTP, namespace: str, store: Store) -> None:
        self.kube, self.ns, self.store = kube, namespace, store

    @property
    def cameras_path(self) -> str:
        return f"{API}/namespaces/{self.ns}/cameras"

    def apply_camera(self, name: str, url: str, **spec: Any) -> None:
        body = {
            "apiVersion": "spectare.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": name},
            "spec": {"url": url, "segmentSeconds": 2, **spec},
        }
        self.kube.request("POST", self.cameras_path, body)

    def patch_spec(self, name: str, **spec: Any) -> None:
        self.kube.request(
            "PATCH",
            f"{self.cameras_path}/{name}",
            {"spec": spec},
            content_type=KubeHTTP.MERGE_PATCH,
        )

    def delete_camera(self, name: str) -> None:
        self.kube.request("DELETE", f"{self.cameras_path}/{name}")

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.kube.request("GET", f"{self.cameras_path}/{name}").get("status") or {})

    def pods(self, camera: str | None = None) -> list[dict[str, Any]]:
        selector = SELECTOR + (f",spectare.io/camera={camera}" if camera else "")
        items = self.kube.request(
            "GET", f"/api/v1/namespaces/{self.ns}/pods", query={"labelSelector": selector}
        )["items"]
        return list(items)

    def live_pods(self, camera: str) -> list[dict[str, Any]]:
        return [
            p
            for p in self.pods(camera)
            if not p["metadata"].get("deletionTimestamp")
            and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
        ]

    def wait_pod(
        self, camera: str, phase: str = "Running", not_named: str | None = None
    ) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for pod in self.live_pods(camera):
                if pod["metadata"]["name"] != not_named and pod["status"].get("phase") == phase:
                    return pod
            return None

        return dict(wait_until(found, TIMEOUT, f"a {phase} pod for {camera}", interval=0.2))

    def event_reasons(self, camera: str) -> set[str]:
        """The reasons of the Events posted on a Camera."""
        events = self.kube.request("GET", f"/api/v1/namespaces/{self.ns}/events")["items"]
        return {e["reason"] for e in events if e["involvedObject"]["name"] == camera}

    def wait_no_pod(self, camera: str) -> None:
        wait_until(lambda: not self.pods(camera), TIMEOUT, f"{camera}'s pods to go", interval=0.2)

    def wait_status(
        self, name: str, check: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def reached() -> dict[str, Any] | None:
            nonlocal last
            last = self.status(name)
            return last if check(last) else None

        try:
            return dict(wait_until(reached, TIMEOUT, what, interval=0.3))
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; last status: {last}") from None


def recording(status: dict[str, Any]) -> bool:
    """A Camera status that says it records and has indexed a segment."""
    return status.get("phase") == "Recording" and bool(status.get("lastSegmentAt"))


def healthz(op: Operator) -> dict[str, Any]:
    """The operator's /healthz answer."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{op.health_port}/healthz", timeout=2) as answer:
        return dict(json.loads(answer.read().decode()))
