"""Pytest fixtures for tests against a real API server (see harness.controlplane).

Loaded as a plugin by tests/conftest.py, so tests/k8s and tests/chart share one plane.
The control plane is built and started once per session; a missing or broken
build makes these tests fail, never skip.  Each test gets a fresh namespace:
nothing deletes namespaces' contents here, so names are never reused.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness import controlplane, kubelet
from harness.kubeclient import ApiError, KubeHTTP


@pytest.fixture(scope="session")
def control_plane() -> Iterator[controlplane.ControlPlane]:
    """The session's control plane, with the project's operator user pre-registered."""
    with controlplane.ControlPlane() as plane:
        yield plane


@pytest.fixture(scope="session")
def kube(control_plane: controlplane.ControlPlane) -> KubeHTTP:
    """An admin plain-HTTP JSON client."""
    return control_plane.http()


@pytest.fixture(scope="session")
def api_client(control_plane: controlplane.ControlPlane) -> Iterator[Any]:
    """An admin ``kubernetes.client.ApiClient``."""
    client = control_plane.api_client()
    yield client
    client.close()


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kube: KubeHTTP) -> Iterator[str]:
    """A fresh namespace named after the test; deleted afterwards (it stays Terminating)."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{base or 'test'}-{secrets.token_hex(3)}"
    kube.request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    yield name
    with contextlib.suppress(ApiError):  # a leftover namespace harms no test
        kube.request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture
def start_kubelet(
    control_plane: controlplane.ControlPlane,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., kubelet.TestKubelet]]:
    """Start test kubelets for ``namespace`` (kwargs go to TestKubelet); all stop afterwards.

    Pod logs go under pytest's temp dirs, so they outlive the test for debugging.
    """
    started: list[kubelet.TestKubelet] = []

    def start(**kwargs: Any) -> kubelet.TestKubelet:
        kwargs.setdefault("namespace", namespace)
        kwargs.setdefault("log_dir", tmp_path_factory.mktemp("pod-logs"))
        node = kubelet.TestKubelet(control_plane, **kwargs).start()
        started.append(node)
        return node

    yield start
    for node in reversed(started):
        node.stop()
