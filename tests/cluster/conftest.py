"""Fixtures of the cluster tier: one real single-node Kubernetes cluster per session.

``cluster`` (session) is a started ``harness.cluster.Cluster``: etcd,
kube-apiserver, kube-scheduler, kube-controller-manager, containerd, kubelet and
kube-proxy, with the probe image imported.  What tests use:

* ``cluster.kubeconfig`` — admin kubeconfig path; ``cluster.node_ip``, ``cluster.node_name``;
* ``cluster.kubectl(*args, input=None, check=True)`` and ``cluster.helm(...)`` —
  ``subprocess.CompletedProcess[str]``, raising with the output when ``check`` fails;
* ``cluster.import_image(tar)`` — import a ``docker save`` archive; returns its names;
* ``cluster.http`` — an admin JSON client (``harness.kubeclient.KubeHTTP``);
* ``cluster.probe_image`` — a tiny image (pause / TCP server / file and HTTP probe);
* ``cluster.create_namespace()``, ``cluster.wait_pod(ns, name, phase)``;
* ``cluster.plane`` — the ``ControlPlane`` (service-account kubeconfigs and the like).

``cluster_namespace`` is a fresh namespace per test, deleted afterwards (a real
namespace controller runs, so it goes away with everything in it).

A cluster that cannot start here fails the tests; nothing skips.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator

import pytest

from harness.cluster import Cluster
from harness.kubeclient import ApiError


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The session's cluster; everything it started or changed is undone afterwards."""
    with Cluster() as running:
        yield running


@pytest.fixture
def cluster_namespace(request: pytest.FixtureRequest, cluster: Cluster) -> Iterator[str]:
    """A fresh namespace named after the test, ready for pods; deleted afterwards."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = cluster.create_namespace(f"{base or 'test'}-{secrets.token_hex(3)}")
    yield name
    with contextlib.suppress(ApiError):
        cluster.http.request("DELETE", f"/api/v1/namespaces/{name}")
