"""Spectare on a real cluster, as a user runs it: `helm install`, `kubectl apply` a Camera.

One release (store.mode=sqlite, hostPath footage) in a namespace that enforces the
restricted Pod Security Standard, the images built from the Dockerfiles, a demo camera
on the node's address. In order, as a user would meet them:

* the chart comes up: the operator in its own pod under the chart's RBAC, the API ready;
* a Camera records: a worker pod from the real image, playable segments on the volume,
  listed by the API through its Service, `kubectl get cam` says Recording;
* the API pod streams the camera live and exports recorded footage as one MP4; a camera
  that needs a password is watched through its worker's relay (only it has the Secret);
* a deleted worker pod is replaced, and nothing is lost or indexed twice;
* a disabled, then deleted Camera: its pod goes, its footage stays;
* a worker stays within the chart's memory limit over 5 minutes of recording;
* `helm upgrade` with a changed value rolls the operator and recording goes on;
* `helm uninstall` keeps the footage.
"""

from __future__ import annotations

import glob
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.cluster import Cluster
from harness.footage import playable_seconds, segment_files
from harness.images import BuiltImages
from harness.procs import wait_until
from harness.rtsp import DemoCameraFactory
from spectare.demo import DemoCamera

# Set-up builds nothing (scripts/test warms the images) but starts the release; the memory
# test watches a worker for 5 minutes.
pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "spectare"
RELEASE = "spectare"
UID = 10001
SEGMENT_SECONDS = 4
#: The worker's memory limit in the chart's values.
WORKER_LIMIT_BYTES = 256 * 1024 * 1024
MEMORY_WATCH_SECONDS = 300


@dataclass
class Release:
    """What the tests share: the cluster, the namespace, the camera, the footage folder."""

    cluster: Cluster
    namespace: str
    camera: DemoCamera
    footage: Path
    worker_image: str
    started: float

    def kubectl(self, *args: str, **kwargs: Any) -> Any:
        return self.cluster.kubectl("-n", self.namespace, *args, **kwargs)

    def get(self, kind: str, name: str = "", selector: str = "") -> Any:
        args = ["get", kind, *([name] if name else []), "-o", "json"]
        if selector:
            args += ["-l", selector]
        return json.loads(self.kubectl(*args).stdout)

    def apply_camera(self, name: str, **spec: Any) -> None:
        manifest = {
            "apiVersion": "spectare.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": name},
            "spec": {"url": self.camera.url(f"/{name}"), "segmentSeconds": SEGMENT_SECONDS,
                     **spec},
        }  # fmt: skip
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def worker_pods(self, camera: str, stopping: bool = False) -> list[dict[str, Any]]:
        """The camera's worker pods; ``stopping``: those still finishing their segment too."""
        pods = self.get("pods", selector=f"spectare.io/camera={camera}")["items"]
        return [p for p in pods if stopping or not p["metadata"].get("deletionTimestamp")]

    def running_worker(self, camera: str) -> dict[str, Any]:
        def running() -> dict[str, Any] | None:
            pods = [p for p in self.worker_pods(camera) if p["status"].get("phase") == "Running"]
            return pods[0] if len(pods) == 1 else None

        pod: dict[str, Any] = self.wait(running, 120, f"the worker pod of {camera} Running")
        return pod

    def wait(self, condition: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
        """wait_until, and on a timeout what a person would look at to see why."""
        try:
            return wait_until(condition, timeout, what, interval=interval)
        except TimeoutError as exc:
            looks = [
                self.kubectl("get", "cam,pods", "-o", "wide", check=False).stdout,
                self.kubectl("describe", "pods", check=False).stdout[-6000:],
                self.kubectl("get", "events", "--sort-by=.lastTimestamp", check=False).stdout[
                    -4000:
                ],
                self.kubectl(
                    "logs", "-l", "app.kubernetes.io/component=operator", "--tail=60", check=False
                ).stdout,
            ]
            raise TimeoutError("\n".join([str(exc), *looks])) from None

    def phase(self, camera: str) -> str:
        return str(self.get("camera", camera).get("status", {}).get("phase", ""))

    def api_url(self) -> str:
        service = next(
            s for s in self.get("services")["items"] if s["metadata"]["name"].endswith("-api")
        )
        return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.api_url()}{path}", timeout=10) as answer:
            return json.load(answer)

    def indexed(self, camera: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api(f"/api/v1/cameras/{camera}/footage?limit=1000")[
            "items"
        ]
        return items

    def files(self, camera: str) -> list[Path]:
        return segment_files(self.footage / camera)


def _ready(release: Release, deployment: str) -> bool:
    status = release.get("deployment", deployment).get("status", {})
    return bool(status.get("readyReplicas")) and status.get("updatedReplicas") == status.get(
        "replicas"
    )


def _deployment(release: Release, suffix: str) -> str:
    names = [d["metadata"]["name"] for d in release.get("deployments")["items"]]
    return next(n for n in names if n.endswith(suffix))


@pytest.fixture(scope="module")
def release(
    cluster: Cluster,
    spectare_images: BuiltImages,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Release]:
    """The chart installed from this checkout, with the images imported into the node."""
    cluster.import_image(spectare_images.worker_tar)
    cluster.import_image(spectare_images.control_tar)
    footage = tmp_path_factory.mktemp("footage")
    os.chown(footage, UID, UID)
    namespace = cluster.create_namespace(
        labels={"pod-security.kubernetes.io/enforce": "restricted"}
    )
    with DemoCameraFactory(tmp_path_factory.mktemp("camera")) as cameras:
        camera = cameras(host=cluster.node_ip, paths=["/front", "/yard", "/porch"])
        control, _, control_tag = spectare_images.control_ref.rpartition(":")
        worker, _, worker_tag = spectare_images.worker_ref.rpartition(":")
        cluster.helm(
            "install", RELEASE, str(CHART), "-n", namespace, "--wait", "--timeout", "5m",
            "--set", "store.mode=sqlite",
            "--set", "storage.mode=hostPath", "--set", f"storage.hostPath.path={footage}",
            "--set", f"image.repository={control}", "--set", f"image.tag={control_tag}",
            "--set", "image.pullPolicy=Never",
            "--set", f"worker.image.repository={worker}", "--set", f"worker.image.tag={worker_tag}",
            "--set", "worker.image.pullPolicy=Never",
        )  # fmt: skip
        made = Release(
            cluster, namespace, camera, footage, spectare_images.worker_ref, time.monotonic()
        )
        # The camera the memory test watches records from the start, left alone.
        made.apply_camera("yard")
        yield made
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        cluster.kubectl(
            "delete", "pv", "-l", f"app.kubernetes.io/instance={RELEASE}", "--wait=false",
            check=False,
        )  # fmt: skip


def test_the_chart_comes_up_under_restricted_pod_security(release: Release) -> None:
    operator = _deployment(release, "-operator")
    api = _deployment(release, "-api")
    release.wait(lambda: _ready(release, operator) and _ready(release, api), 120, "both ready")
    pods = release.get("pods", selector="app.kubernetes.io/component=operator")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running"]
    assert pods[0]["spec"]["serviceAccountName"].endswith("-operator")
    assert release.api("/readyz")["status"] == "ready"
    # The operator acts under the chart's Role: it may manage pods, it may not read Secrets.
    account = f"system:serviceaccount:{release.namespace}:{pods[0]['spec']['serviceAccountName']}"
    can = release.kubectl("auth", "can-i", "create", "pods", "--as", account, check=False)
    assert can.stdout.strip() == "yes"
    cannot = release.kubectl("auth", "can-i", "list", "secrets", "--as", account, check=False)
    assert cannot.stdout.strip() == "no"


def test_a_camera_records_from_the_real_image(release: Release) -> None:
    release.apply_camera("front")
    pod = release.running_worker("front")
    container = pod["spec"]["containers"][0]
    assert container["image"] == release.worker_image
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    release.wait(lambda: len(release.files("front")) >= 2, 90, "two segments of front on disk")
    for segment in release.files("front")[:2]:
        assert playable_seconds(segment) >= SEGMENT_SECONDS - 1
    release.wait(lambda: len(release.indexed("front")) >= 2, 60, "front's segments in the API")
    release.wait(lambda: release.phase("front") == "Recording", 60, "front Recording")
    table = release.kubectl("get", "cam", "front").stdout
    assert "Recording" in table and pod["metadata"]["name"] in table


def test_live_and_export_through_the_service(release: Release, tmp_path: Path) -> None:
    # The API pod opens the camera itself (its URL needs no credentials) with the ffmpeg
    # of the worker image, and exports what the worker recorded on the shared volume.
    base = f"{release.api_url()}/api/v1/cameras/front"
    with urllib.request.urlopen(f"{base}/live", timeout=30) as live:
        assert live.headers["Content-Type"].startswith('video/mp4; codecs="avc1.')
        assert live.read(8)[4:8] == b"ftyp"
    first, second = release.indexed("front")[:2]
    start, end = first["start"], second["end"]
    with urllib.request.urlopen(f"{base}/export?from={start}&to={end}", timeout=60) as answer:
        (tmp_path / "export.mp4").write_bytes(answer.read())
    # A segment starts at a keyframe: the export is the range, give or take a frame.
    assert abs(playable_seconds(tmp_path / "export.mp4") - (end - start)) < 1.0


def test_live_of_a_camera_that_needs_a_password(
    release: Release, demo_cameras: DemoCameraFactory
) -> None:
    password = "Gate-Secret-5"
    camera = demo_cameras(
        host=release.cluster.node_ip, paths=["/gate"], username="viewer", password=password
    )
    release.kubectl("create", "secret", "generic", "gate-cam", "--from-literal=username=viewer",
                    f"--from-literal=password={password}")  # fmt: skip
    release.apply_camera(
        "gate", url=camera.url("/gate", credentials=False), credentialsSecret="gate-cam"
    )
    try:
        release.wait(lambda: release.phase("gate") == "Recording", 120, "gate Recording")
        url = f"{release.api_url()}/api/v1/cameras/gate/live"
        with urllib.request.urlopen(url, timeout=30) as live:
            assert live.headers["Content-Type"].startswith('video/mp4; codecs="avc1.')
            assert live.read(8)[4:8] == b"ftyp" and len(live.read(20_000)) == 20_000
        logs = release.kubectl("logs", "-l", "app.kubernetes.io/component=api").stdout
        assert password not in logs
    finally:
        release.kubectl("delete", "camera", "gate", "--wait=true")


def test_a_deleted_worker_pod_is_replaced_and_nothing_is_lost(release: Release) -> None:
    first = release.running_worker("front")["metadata"]["name"]
    release.wait(lambda: len(release.indexed("front")) >= 2, 60, "front indexed")
    before = {item["id"] for item in release.indexed("front")}
    release.kubectl("delete", "pod", first, "--wait=true", "--timeout=60s")
    second = release.running_worker("front")["metadata"]["name"]
    assert second != first
    release.wait(
        lambda: len({i["id"] for i in release.indexed("front")} - before) >= 2,
        90,
        "two new segments from the replacement worker",
    )

    def settled() -> bool:
        ids = [item["id"] for item in release.indexed("front")]
        return sorted(ids) == sorted(p.stem for p in release.files("front"))

    release.wait(settled, 60, "every file on disk indexed, and nothing else")
    items = release.indexed("front")
    ids = [item["id"] for item in items]
    assert before <= set(ids)
    assert len(ids) == len(set(ids))
    assert len({item["start"] for item in items}) == len(items), "a segment indexed twice"


def test_a_disabled_then_deleted_camera_keeps_its_footage(release: Release) -> None:
    release.apply_camera("porch")
    release.running_worker("porch")
    release.wait(lambda: release.files("porch"), 90, "a segment of porch")
    release.kubectl("patch", "camera", "porch", "--type=merge", "-p", '{"spec":{"enabled":false}}')
    release.wait(lambda: not release.worker_pods("porch", stopping=True), 90, "porch's pod gone")
    release.wait(lambda: release.phase("porch") == "Disabled", 60, "porch Disabled")
    kept = release.files("porch")
    assert kept
    release.kubectl("delete", "camera", "porch", "--wait=true", "--timeout=60s")
    assert not release.worker_pods("porch", stopping=True)
    assert release.files("porch") == kept
    assert all(playable_seconds(path) > 0 for path in kept)


def _pod_cgroup(pod: dict[str, Any]) -> Path:
    uid = pod["metadata"]["uid"]
    # Under the kubelet's cgroup root (kubepods/<qos>/pod<uid>), wherever that root is.
    found = glob.glob(f"/sys/fs/cgroup/memory/**/kubepods/**/pod{uid}", recursive=True)
    assert found, f"no memory cgroup for pod {uid}"
    return Path(found[0])


def _rss(cgroup: Path) -> int:
    stat = dict(line.split() for line in (cgroup / "memory.stat").read_text().splitlines())
    return int(stat["total_rss"]) + int(stat.get("total_rss_huge", 0))


def test_a_worker_stays_within_its_memory_limit_over_five_minutes(release: Release) -> None:
    pod = release.running_worker("yard")
    cgroup = _pod_cgroup(pod)
    peak = 0

    def watched_long_enough() -> bool:
        nonlocal peak
        peak = max(peak, _rss(cgroup))
        return time.monotonic() - release.started >= MEMORY_WATCH_SECONDS

    release.wait(watched_long_enough, MEMORY_WATCH_SECONDS + 60, "5 minutes of yard", interval=2)
    now = release.running_worker("yard")
    assert now["metadata"]["uid"] == pod["metadata"]["uid"], "the worker was replaced"
    status = now["status"]["containerStatuses"][0]
    assert status["restartCount"] == 0 and "terminated" not in status.get("lastState", {})
    assert 0 < peak < WORKER_LIMIT_BYTES, f"peak RSS {peak / 2**20:.0f} MiB"
    # It recorded all along: segments cover most of the time watched.
    seconds = sum(item["duration"] for item in release.indexed("yard"))
    assert seconds >= 0.8 * (MEMORY_WATCH_SECONDS - 60)


def test_helm_upgrade_rolls_the_operator_and_recording_goes_on(release: Release) -> None:
    operator = _deployment(release, "-operator")
    before = release.get("deployment", operator)["metadata"]["generation"]
    given = release.cluster.helm("get", "values", RELEASE, "-n", release.namespace, "-o", "json")
    values = json.loads(given.stdout)
    values["operator"] = {**values.get("operator", {}), "maxWorkers": 5}
    release.cluster.helm(
        "upgrade", RELEASE, str(CHART), "-n", release.namespace, "--wait", "--timeout", "5m",
        "-f", "-", input=json.dumps(values),
    )  # fmt: skip
    deployment = release.get("deployment", operator)
    assert deployment["metadata"]["generation"] > before
    env = {e["name"]: e.get("value") for e in
           deployment["spec"]["template"]["spec"]["containers"][0]["env"]}  # fmt: skip
    assert env["SPECTARE_MAX_WORKERS"] == "5"
    release.wait(lambda: _ready(release, operator), 120, "the upgraded operator ready")
    count = len(release.indexed("front"))
    release.wait(lambda: len(release.indexed("front")) > count, 60, "a segment after the upgrade")


def test_helm_uninstall_keeps_the_footage(release: Release) -> None:
    kept = {p: p.stat().st_size for p in release.files("front")}
    assert kept
    release.cluster.helm("uninstall", RELEASE, "-n", release.namespace, "--wait")
    release.wait(
        lambda: not release.get("deployments")["items"], 120, "the release's Deployments gone"
    )
    for path, size in kept.items():
        assert path.exists() and path.stat().st_size == size
    claims = [c["metadata"]["name"] for c in release.get("pvc")["items"]]
    assert any(name.endswith("-footage") for name in claims), "the footage claim was deleted"
