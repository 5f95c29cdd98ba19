"""Fixtures of the operator tests: the CRD installed, and a namespace ready for an operator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.controlplane import ControlPlane
from harness.kubeclient import KubeHTTP
from harness.kubelet import TestKubelet
from k8s.operator_env import ROOT, Cluster, Operator, grant_deploy_role, kubectl
from spectare.store.sqlite import SQLiteStore


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
