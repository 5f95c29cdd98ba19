"""A real single-node Kubernetes cluster: the control plane, the controllers and a node.

``Cluster`` starts, in order: the node's bridge (its address is the node IP),
etcd and kube-apiserver listening on the node IP (``ControlPlane(node_ip=...)``),
kube-scheduler and kube-controller-manager (garbage collection, Deployments and
ReplicaSets, endpoints and EndpointSlices, ServiceAccounts and their tokens'
root CA, namespace deletion), then the node (``harness.node``: containerd,
kubelet, kube-proxy).  It waits until the node is Ready and the ``default``
ServiceAccount exists, so a pod can be created at once.  One cluster runs per
machine at a time (they would share the bridge, sysctls and iptables): another
waits for it, up to ``SPECTARE_CLUSTER_WAIT`` seconds (default 1800).

Run one by hand (Ctrl-C stops it and removes everything)::

    python tests/harness/cluster.py

Build the binaries first with ``python tests/harness/controlplane.py build``.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: make the `harness` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.controlplane import SERVICE_CLUSTER_IP_RANGE, ControlPlane
from harness.gobuild import (
    ETCD,
    HELM,
    KUBE_APISERVER,
    KUBE_CONTROLLER_MANAGER,
    KUBE_PROXY,
    KUBE_SCHEDULER,
    KUBECTL,
    KUBELET,
    ensure_binaries,
)
from harness.hoststate import HostLock, HostState
from harness.kubeclient import ApiError, KubeHTTP, http_ok
from harness.node import NODE_CIDR, Node, bridge_for
from harness.procs import ProcessDied, Supervisor, free_port, progress, wait_until

log = logging.getLogger("spectare.harness.cluster")

CLUSTER_BINARIES = (ETCD, KUBE_APISERVER, KUBE_SCHEDULER, KUBE_CONTROLLER_MANAGER, KUBELET,
                    KUBE_PROXY, KUBECTL, HELM)  # fmt: skip


class ClusterError(RuntimeError):
    """The cluster could not start; the message carries the logs."""


class Cluster:
    """etcd, kube-apiserver, kube-scheduler, kube-controller-manager and one real node."""

    def __init__(
        self,
        cidr: str = NODE_CIDR,
        service_accounts: Sequence[str] = (),
        startup_timeout: float = 180.0,
    ) -> None:
        self.cidr = cidr
        self.service_accounts = tuple(service_accounts)
        self.startup_timeout = startup_timeout
        self.plane: ControlPlane | None = None
        self.node: Node | None = None
        self.controllers: Supervisor | None = None
        self._host: HostState | None = None
        self._bridge = bridge_for(cidr)
        self._lock = HostLock(float(os.environ.get("SPECTARE_CLUSTER_WAIT", "1800")))

    # -- what tests use --------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (``system:masters``)."""
        assert self.plane is not None, "cluster not started"
        return self.plane.admin_kubeconfig

    @property
    def node_ip(self) -> str:
        """The node's IP: the bridge's address, where the API server and the kubelet listen."""
        return self._bridge.address

    @property
    def node_name(self) -> str:
        """The name of the one node."""
        assert self.node is not None, "cluster not started"
        return self.node.name

    @property
    def probe_image(self) -> str:
        """The imported probe image (pause, TCP server, file and HTTP probe; see testimage)."""
        assert self.node is not None, "cluster not started"
        return self.node.pause_image

    @property
    def http(self) -> KubeHTTP:
        """An admin JSON client."""
        assert self.plane is not None, "cluster not started"
        return self.plane.http()

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl (the harness's, matching the server) as admin."""
        return self._run([str(KUBECTL.path), *args], input, check, timeout)

    def helm(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 300.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the harness's helm as admin, with helm's own state under the cluster's work dir."""
        return self._run([str(HELM.path), *args], input, check, timeout)

    def import_image(self, archive: Path | str) -> list[str]:
        """Import a ``docker save`` (or OCI) archive into the node; return the image names."""
        assert self.node is not None, "cluster not started"
        return self.node.import_image(Path(archive))

    def create_namespace(
        self, name: str | None = None, labels: dict[str, str] | None = None
    ) -> str:
        """Create a namespace and wait until pods can be created in it (``default`` SA)."""
        name = name or f"test-{secrets.token_hex(3)}"
        meta: dict[str, Any] = {"name": name, "labels": labels or {}}
        self.http.request(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": meta},
        )
        wait_until(
            lambda: (
                self._exists(f"/api/v1/namespaces/{name}/serviceaccounts/default")
                and self._exists(f"/api/v1/namespaces/{name}/configmaps/kube-root-ca.crt")
            ),
            60,
            f"namespace {name} to get its default ServiceAccount",
        )
        return name

    def wait_pod(
        self, namespace: str, name: str, phase: str = "Running", timeout: float = 90.0
    ) -> Any:
        """Wait until pod ``namespace/name`` is in ``phase``; return it."""
        path = f"/api/v1/namespaces/{namespace}/pods/{name}"

        def reached() -> Any:
            try:
                pod = self.http.request("GET", path)
            except ApiError as exc:
                if exc.status == 404:
                    return None
                raise
            return pod if pod.get("status", {}).get("phase") == phase else None

        try:
            return wait_until(reached, timeout, f"pod {namespace}/{name} {phase}", interval=0.2)
        except TimeoutError as exc:
            describe = self.kubectl("describe", "pod", "-n", namespace, name, check=False)
            raise TimeoutError(f"{exc}\n{describe.stdout}{describe.stderr}") from None

    # -- lifecycle --------------------------------------------------------------

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Cluster:
        """Start everything and wait until the node is Ready; raise ClusterError with logs."""
        started = time.monotonic()
        ensure_binaries(CLUSTER_BINARIES)
        self._lock.acquire()
        try:
            self._host = HostState().save()
            self._bridge.create()
            self.plane = ControlPlane(
                service_accounts=self.service_accounts,
                startup_timeout=self.startup_timeout,
                node_ip=self.node_ip,
            ).start()
            assert self.plane.workdir is not None
            self.controllers = Supervisor(self.plane.workdir, "cluster")
            self._start_controller("kube-scheduler", KUBE_SCHEDULER.path, [])
            self._start_controller(
                "kube-controller-manager",
                KUBE_CONTROLLER_MANAGER.path,
                [
                    "--use-service-account-credentials=true",
                    f"--service-account-private-key-file={self.plane.workdir / 'sa.key'}",
                    f"--root-ca-file={self.plane.ca_file}",
                    f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                    "--cluster-name=spectare-test",
                ],
            )
            self.node = Node(self.plane, self._bridge, self._host)
            self.node.start(self.startup_timeout)
            self._wait_ready()
        except BaseException as exc:
            logs = self.logs()
            self.stop(keep_workdirs=True)
            if isinstance(exc, ProcessDied | TimeoutError | RuntimeError):
                progress("cluster", f"start failed: {exc}\n{logs}")
                raise ClusterError(f"{exc}\n{logs}") from None
            raise
        progress(
            "cluster",
            f"ready node={self.node_name} node_ip={self.node_ip} url={self.plane.url} "
            f"seconds={time.monotonic() - started:.1f}",
        )
        return self

    def _start_controller(self, name: str, binary: Path, extra: list[str]) -> None:
        assert self.plane is not None and self.plane.pki is not None and self.controllers
        port = free_port()
        kubeconfig = self.plane.client_kubeconfig(name, f"system:{name}")
        cert, key = self.plane.pki.issue(f"{name}-serving", name, ips=["127.0.0.1"], server=True)
        proc = self.controllers.spawn(
            name,
            [str(binary), f"--kubeconfig={kubeconfig}", "--bind-address=127.0.0.1",
             f"--secure-port={port}", f"--tls-cert-file={cert}", f"--tls-private-key-file={key}",
             "--leader-elect=false", "--v=1", *extra],
        )  # fmt: skip
        url, ca_file = f"https://127.0.0.1:{port}/healthz", self.plane.ca_file
        self.controllers.wait_ready(name, proc, lambda: http_ok(url, ca_file), self.startup_timeout)

    def _wait_ready(self) -> None:
        """The node Ready and the default namespace's ServiceAccount there."""

        def node_ready() -> bool:
            assert self.controllers is not None and self.node is not None
            self.controllers.check_alive()
            assert self.node.servers is not None
            self.node.servers.check_alive()
            try:
                node = self.http.request("GET", f"/api/v1/nodes/{self.node_name}")
            except ApiError:
                return False
            conditions = node.get("status", {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        wait_until(node_ready, self.startup_timeout, f"node {self.node_name} Ready", interval=0.2)
        wait_until(
            lambda: self._exists("/api/v1/namespaces/default/serviceaccounts/default"),
            60,
            "the default ServiceAccount",
        )

    def _exists(self, path: str) -> bool:
        try:
            self.http.request("GET", path)
            return True
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise

    def logs(self) -> str:
        """The tails of every log: control plane, controllers, node."""
        parts = [self.plane.logs() if self.plane else ""]
        parts.append(self.controllers.logs() if self.controllers else "")
        parts.append(self.node.logs() if self.node else "")
        return "".join(parts)

    def stop(self, keep_workdirs: bool = False) -> None:
        """Stop the controllers, remove the node (and what it changed), stop the control plane."""
        if self.controllers:
            self.controllers.stop_all()  # nothing recreates or reschedules pods from here on
        problems: list[str] = []
        if self.node:
            self.node.drain()
            problems = self.node.stop(keep_workdir=keep_workdirs)
        if self.plane:
            self.plane.stop(keep_workdir=keep_workdirs or bool(problems) or None)
        # Only now: the API server listens on the bridge's address until it stops.
        if self._host:
            self._bridge.remove()
        if self._host:
            problems += self._host.restore()
        for problem in problems:
            progress("cluster", f"teardown: {problem}")
        self.node = self.controllers = self.plane = None
        self._host = None
        self._lock.release()

    def _run(
        self, argv: list[str], input: str | None, check: bool, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        assert self.plane is not None and self.plane.workdir is not None, "cluster not started"
        state = self.plane.workdir / "client-state"
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            env[var] = str(state / var.lower())
        proc = subprocess.run(
            argv, input=input, capture_output=True, text=True, env=env, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(argv)}` failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        return proc


def _serve() -> int:
    """Run a cluster in the foreground until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with Cluster() as cluster:
            print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
            stop.wait()
        return 0
    except ClusterError:
        return 1


if __name__ == "__main__":
    sys.exit(_serve())
