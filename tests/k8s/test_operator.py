"""The operator on a real API server, as its own ServiceAccount with the Role from deploy/.

Worker pods run as local processes (the test kubelet) against the demo RTSP camera,
sharing one SQLite store with the operator and the test. Every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from harness.controlplane import ControlPlane
from harness.kubeclient import ApiError, KubeHTTP
from harness.kubelet import TestKubelet
from harness.procs import free_port, stop_process, wait_until
from spectare.api import ApiServer
from spectare.settings import load_settings
from spectare.store import Store
from spectare.store.sqlite import SQLiteStore

pytestmark = [pytest.mark.k8s, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = "/usr/bin/kubectl"
OPERATOR_SA = ("spectare", "spectare-operator")
SELECTOR = "app.kubernetes.io/managed-by=spectare"
TIMEOUT = 60.0
API = "/apis/spectare.io/v1alpha1"


def kubectl(plane: ControlPlane, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [KUBECTL, "--kubeconfig", str(plane.admin_kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def crd(control_plane: ControlPlane) -> ControlPlane:
    kubectl(control_plane, "apply", "-f", str(ROOT / "deploy" / "crd.yaml"))
    kubectl(
        control_plane,
        "wait",
        "--for=condition=Established",
        "crd/cameras.spectare.io",
        "--timeout=60s",
    )
    return control_plane


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


@pytest.fixture
def env(
    crd: ControlPlane,
    kube: KubeHTTP,
    namespace: str,
    tmp_path: Path,
    start_kubelet: Callable[..., TestKubelet],
) -> Iterator[dict[str, Any]]:
    """A namespace with the deploy/ Role, a store, a footage dir; operators stopped after."""
    grant_deploy_role(kube, namespace)
    footage = tmp_path / "footage"
    footage.mkdir()
    db = tmp_path / "spectare.db"
    store = SQLiteStore(db)
    store.setup()
    operators: list[Operator] = []

    def operator(**extra: str) -> Operator:
        op = Operator(crd, namespace, tmp_path, f"sqlite:///{db}", footage, **extra)
        operators.append(op)
        return op.start()

    yield {
        "cluster": Cluster(kube, namespace, store),
        "operator": operator,
        "kubelet": start_kubelet,
        "footage": footage,
    }
    for op in operators:
        op.stop()
    store.close()


def recording(status: dict[str, Any]) -> bool:
    return status.get("phase") == "Recording" and bool(status.get("lastSegmentAt"))


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

    events = cluster.kube.request("GET", f"/api/v1/namespaces/{cluster.ns}/events")["items"]
    reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == "driveway"}
    assert {"Recording", "Disabled"} <= reasons

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


def test_killed_worker_is_replaced(env: dict[str, Any], demo_cameras: Any) -> None:
    cluster: Cluster = env["cluster"]
    node = env["kubelet"](label_selector=SELECTOR)
    env["operator"]()
    cam = demo_cameras()
    cluster.apply_camera("porch", cam.url("/demo"))
    first = cluster.wait_pod("porch")["metadata"]["name"]
    cluster.wait_status("porch", lambda s: s.get("phase") == "Recording", "Recording")

    node.signal_pod(first, signal.SIGKILL)

    second = cluster.wait_pod("porch", not_named=first)["metadata"]["name"]
    status = cluster.wait_status(
        "porch",
        lambda s: s.get("phase") == "Recording" and s.get("workerPod") == second,
        "Recording by the replacement",
    )
    assert status["restarts"] == 1
    events = cluster.kube.request("GET", f"/api/v1/namespaces/{cluster.ns}/events")["items"]
    reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == "porch"}
    assert {"WorkerFailed", "WorkerReplaced", "Recording"} <= reasons
    wait_until(
        lambda: all(p["metadata"]["name"] == second for p in cluster.pods("porch")),
        TIMEOUT,
        "the failed pod to be cleaned up",
    )


def test_frozen_worker_is_released_and_replaced(env: dict[str, Any], demo_cameras: Any) -> None:
    cluster: Cluster = env["cluster"]
    node = env["kubelet"](label_selector=SELECTOR)
    env["operator"]()
    cam = demo_cameras()
    cluster.apply_camera("yard", cam.url("/demo"))
    first = cluster.wait_pod("yard")["metadata"]["name"]
    cluster.wait_status("yard", lambda s: s.get("phase") == "Recording", "Recording")
    pid = node.wait_for_pid(first)

    os.killpg(pid, signal.SIGSTOP)  # the whole pod (worker and ffmpeg): alive but silent
    frozen_at = time.time()

    second = cluster.wait_pod("yard", not_named=first)["metadata"]["name"]
    assert time.time() - frozen_at >= 6  # not before the heartbeat went stale
    status = cluster.wait_status(
        "yard",
        lambda s: s.get("phase") == "Recording" and s.get("workerPod") == second,
        "Recording by the replacement",
    )
    assert status["restarts"] == 1
    row = cluster.store.get_camera("yard")
    assert row is not None and row.worker == second


def test_max_workers_queues_the_rest(env: dict[str, Any]) -> None:
    cluster: Cluster = env["cluster"]
    env["kubelet"](label_selector=SELECTOR, run_processes=False)
    env["operator"](SPECTARE_MAX_WORKERS="2")
    for name in ("cam-a", "cam-b", "cam-c"):
        cluster.apply_camera(name, "rtsp://127.0.0.1:9/none")

    wait_until(lambda: len(cluster.pods()) == 2, TIMEOUT, "two pods")
    queued = cluster.wait_status("cam-c", lambda s: s.get("phase") == "Queued", "cam-c Queued")
    assert "maxWorkers=2" in queued["message"]
    assert not cluster.pods("cam-c")
    # The API reads the store: it shows the queue as under `spectare up`.
    settings = load_settings(store="sqlite:///unused.db", footage_dir=env["footage"], api_port=0)
    with ApiServer(settings, store=cluster.store) as api:

        def api_shows_queued() -> bool:
            stats = requests.get(f"{api.url}/api/v1/stats", timeout=5).json()
            camera = requests.get(f"{api.url}/api/v1/cameras/cam-c", timeout=5).json()
            return stats["cameras"]["queued"] == 1 and camera["phase"] == "Queued"

        wait_until(api_shows_queued, TIMEOUT, "Queued in the API's stats and camera")

    cluster.delete_camera("cam-a")

    cluster.wait_pod("cam-c")
    cluster.wait_no_pod("cam-a")
    assert len(cluster.pods()) == 2


def test_operator_restart_makes_no_duplicates(env: dict[str, Any]) -> None:
    cluster: Cluster = env["cluster"]
    env["kubelet"](label_selector=SELECTOR, run_processes=False)
    operator = env["operator"]()
    names = [f"cam-{i}" for i in range(5)]
    for name in names:
        cluster.apply_camera(name, "rtsp://127.0.0.1:9/none")
    for name in names:
        cluster.wait_pod(name)
    before = sorted(p["metadata"]["name"] for p in cluster.pods())

    assert operator.stop() == 0
    again = env["operator"]()
    # Several full passes of the restarted operator, then the same five pods.
    for _ in range(3):
        seen = int(json.loads(_get(again, "/healthz"))["passes"])
        wait_until(
            lambda s=seen: int(json.loads(_get(again, "/healthz"))["passes"]) > s + 1,
            TIMEOUT,
            "more passes",
        )
    assert sorted(p["metadata"]["name"] for p in cluster.pods()) == before
    assert len(before) == 5


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


def _get(op: Operator, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{op.health_port}{path}", timeout=2) as answer:
        return str(answer.read().decode())


_ = ApiError  # re-exported for helpers' callers


def test_ha_only_the_highest_priority_replica_acts(
    env: dict[str, Any], crd: ControlPlane, kube: KubeHTTP, namespace: str
) -> None:
    cluster: Cluster = env["cluster"]
    ha = list(yaml.safe_load_all((ROOT / "deploy" / "ha" / "kopfpeering.yaml").read_text()))
    kubectl(crd, "apply", "-f", "-", stdin=yaml.safe_dump(ha[0]))
    kubectl(crd, "wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev")
    ha[1]["metadata"]["namespace"] = namespace
    kubectl(crd, "apply", "-f", "-", stdin=yaml.safe_dump(ha[1]))
    for doc in yaml.safe_load_all((ROOT / "deploy" / "ha" / "rbac.yaml").read_text()):
        doc["metadata"]["namespace"] = namespace
        plural = "roles" if doc["kind"] == "Role" else "rolebindings"
        kube.request(
            "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/{plural}", doc
        )
    env["kubelet"](label_selector=SELECTOR, run_processes=False)
    high = env["operator"](SPECTARE_PEERING="spectare", SPECTARE_PRIORITY="20")
    low = env["operator"](SPECTARE_PEERING="spectare", SPECTARE_PRIORITY="10")
    for name in ("cam-a", "cam-b"):
        cluster.apply_camera(name, "rtsp://127.0.0.1:9/none")
    for name in ("cam-a", "cam-b"):
        cluster.wait_pod(name)
    wait_until(lambda: "operator.standby" in low.log(), TIMEOUT, "the low one to stand by")
    seen = int(json.loads(_get(low, "/healthz"))["ticks"])
    wait_until(
        lambda: int(json.loads(_get(low, "/healthz"))["ticks"]) > seen + 5,
        TIMEOUT,
        "the standby to look around a few times",
    )
    assert json.loads(_get(low, "/healthz"))["leading"] is False
    assert len(cluster.pods()) == 2
    assert "pod_created" in high.log() and "pod_created" not in low.log()

    assert high.stop() == 0
    cluster.apply_camera("cam-c", "rtsp://127.0.0.1:9/none")

    cluster.wait_pod("cam-c")
    assert "pod_created" in low.log()
    assert len(cluster.pods()) == 3
