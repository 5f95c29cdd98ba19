"""The operator itself going away and coming back, alone or with a standby replica.

- a restarted operator finds the pods it made and makes no duplicates over several passes;
- HA: of two replicas only the one of highest priority acts; the other stands by, says
  so on /healthz, and takes over when the first stops.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from harness.controlplane import ControlPlane
from harness.kubeclient import KubeHTTP
from harness.procs import wait_until
from k8s.operator_env import ROOT, SELECTOR, TIMEOUT, Cluster, healthz, kubectl

pytestmark = [pytest.mark.k8s, pytest.mark.slow]


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
        seen = int(healthz(again)["passes"])
        wait_until(
            lambda s=seen: int(healthz(again)["passes"]) > s + 1,
            TIMEOUT,
            "more passes",
        )
    assert sorted(p["metadata"]["name"] for p in cluster.pods()) == before
    assert len(before) == 5


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
    seen = int(healthz(low)["ticks"])
    wait_until(
        lambda: int(healthz(low)["ticks"]) > seen + 5,
        TIMEOUT,
        "the standby to look around a few times",
    )
    assert healthz(low)["leading"] is False
    assert len(cluster.pods()) == 2
    assert "pod_created" in high.log() and "pod_created" not in low.log()

    assert high.stop() == 0
    cluster.apply_camera("cam-c", "rtsp://127.0.0.1:9/none")

    cluster.wait_pod("cam-c")
    assert "pod_created" in low.log()
    assert len(cluster.pods()) == 3
