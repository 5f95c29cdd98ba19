"""A real Kubernetes node on this machine: containerd, runc, CNI, kubelet and kube-proxy.

The node's network is a bridge of its own (``NODE_CIDR``, default
198.18.213.0/24, in the range set aside for network benchmarks, so it clashes
with nothing real); its first address is the node IP, which the kubelet, the
API server and kube-proxy use, because a node IP cannot be loopback.  Pods get
addresses from the rest of that /24 through Debian's CNI plugins (bridge,
host-local, portmap, firewall, loopback), configured in a directory of our
own.  Nothing a pod sends is routed anywhere but the bridge and this machine
(``NodeBridge.guard``).

Everything lives under one work directory.  ``stop()`` removes it all:
processes (containerd's shims and the pods' processes too), mounts, network
namespaces (their veths go with them), cgroups, and what the kubelet and
libcni write to fixed host paths.  The bridge and the saved host state
(``hoststate.HostState``: sysctls, iptables) belong to the caller
(``harness.cluster``), which removes and restores them after the API server
has stopped.  A failed start keeps the work dir and raises with the logs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from harness.containerd import Containerd
from harness.gobuild import KUBE_PROXY, KUBELET, ensure_binaries
from harness.hoststate import (
    CgroupTree,
    HostState,
    NodeBridge,
    netns_mounts,
    remove_netns,
    unmount_all,
)
from harness.kubeclient import ApiError, http_ok
from harness.procs import Supervisor, free_port, progress, wait_until
from harness.testimage import build_probe_image

if TYPE_CHECKING:
    from harness.controlplane import ControlPlane

log = logging.getLogger("spectare.harness.node")

NODE_CIDR = os.environ.get("SPECTARE_TEST_NODE_CIDR", "198.18.213.0/24")
BRIDGE = "spectare0"
NODE_NAME = "spectare-node"
CLUSTER_DOMAIN = "cluster.local"
CNI_NETWORK = "spectare-pods"
# Fixed paths the kubelet and libcni use whatever their configuration says.
KUBELET_DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")
HOST_DIRS: tuple[Path, ...] = (
    KUBELET_DEVICE_PLUGINS,
    KUBELET_DEVICE_PLUGINS.parent,
    Path("/var/log/containers"),
    Path("/var/lib/cni/results"),
    Path("/var/lib/cni"),
)


def bridge_for(cidr: str = NODE_CIDR) -> NodeBridge:
    """The node's bridge, not yet created; its ``address`` is the node IP."""
    return NodeBridge(BRIDGE, cidr)


def cni_conflist(bridge: NodeBridge, data_dir: Path) -> dict[str, object]:
    """The pod network: a bridge with host-local addresses, portmap and firewall."""
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge.name,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(data_dir),
                    "ranges": [[{"subnet": str(bridge.network), "gateway": bridge.address}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            # dockerd sets FORWARD's policy to DROP; this accepts the pods' traffic.
            {"type": "firewall", "backend": "iptables"},
        ],
    }


class Node:
    """containerd, kubelet and kube-proxy for ``plane``, whose API server listens on the node IP.

    The bridge must exist before the API server starts (it listens on the node
    IP), so the caller creates it (``bridge_for(...).create()``) and removes it
    after stopping the API server; likewise ``host`` is saved and restored by the caller.
    """

    def __init__(self, plane: ControlPlane, bridge: NodeBridge, host: HostState) -> None:
        self.plane = plane
        self.bridge = bridge
        self.host = host
        self.name = NODE_NAME
        self.workdir: Path | None = None
        self.servers: Supervisor | None = None
        self.containerd: Containerd | None = None
        self.cgroups = CgroupTree(f"spectare-node-{os.getpid()}")
        self.pause_image = ""
        self._netns_before: set[str] = set()
        self._absent_host_dirs: list[Path] = []

    @property
    def ip(self) -> str:
        """The node IP (the bridge's address)."""
        return self.bridge.address

    def start(self, timeout: float = 120.0) -> Node:
        """Start containerd, import the pause image, start the kubelet and kube-proxy."""
        paths = ensure_binaries((KUBELET, KUBE_PROXY))
        # Not inside the control plane's work dir: that one is removed without looking
        # for mounts, and this one is only removed once nothing is mounted below it.
        self.workdir = Path(tempfile.mkdtemp(prefix="spectare-node-"))
        self.servers = Supervisor(self.workdir, "node")
        self._netns_before = netns_mounts()
        self._absent_host_dirs = [d for d in HOST_DIRS if not d.exists()]
        self.host.set_sysctl("net.ipv4.ip_forward", "1")
        self.host.set_sysctl("net.bridge.bridge-nf-call-iptables", "1")
        self.bridge.guard()
        self.cgroups.create()
        cni_dir = self.workdir / "cni"
        (cni_dir / "net.d").mkdir(parents=True)
        (cni_dir / "net.d" / "10-spectare.conflist").write_text(
            json.dumps(cni_conflist(self.bridge, cni_dir / "ipam"), indent=2)
        )
        archive, self.pause_image = build_probe_image(self.workdir / "images")
        self.containerd = Containerd(self.workdir / "containerd", self.servers)
        self.containerd.start(self.pause_image, cni_dir / "net.d", timeout)
        self.containerd.import_image(archive)
        self._start_kubelet(paths["kubelet"], timeout)
        self._start_kube_proxy(paths["kube-proxy"], timeout)
        return self

    def import_image(self, archive: Path) -> list[str]:
        """Import an image archive (``docker save`` or OCI) into the node; return its names."""
        assert self.containerd is not None, "node not started"
        return self.containerd.import_image(Path(archive))

    # -- kubelet -------------------------------------------------------------

    def kubelet_config(self, port: int, healthz_port: int) -> dict[str, object]:
        """The KubeletConfiguration: cgroupfs, no swap check, certs from the harness CA."""
        assert self.workdir is not None and self.containerd is not None
        assert self.plane.pki is not None, "control plane not started"
        cert, key = self.plane.pki.issue(
            "kubelet-serving",
            f"system:node:{self.name}",
            ["system:nodes"],
            ips=[self.ip],
            dns=[self.name],
            server=True,
        )
        (self.workdir / "resolv.conf").write_text("")
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.ip,
            "port": port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": healthz_port,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.plane.ca_file)},
            },
            "authorization": {"mode": "Webhook"},
            "tlsCertFile": str(cert),
            "tlsPrivateKeyFile": str(key),
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self.cgroups.path,
            "failSwapOn": False,
            "failCgroupV1": False,
            "containerRuntimeEndpoint": self.containerd.endpoint,
            "clusterDomain": CLUSTER_DOMAIN,
            "resolvConf": str(self.workdir / "resolv.conf"),
            "podLogsDir": str(self.workdir / "pod-logs"),
            "podCIDR": str(self.bridge.network),
            "maxPods": 60,
            # Imported images are all there is: never collect them, never evict for disk.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%",
                             "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
            "serializeImagePulls": False,
            "registerNode": True,
            "rotateCertificates": False,
            "nodeStatusReportFrequency": "10s",
        }  # fmt: skip

    def _start_kubelet(self, binary: Path, timeout: float) -> None:
        assert self.workdir is not None and self.servers is not None
        healthz = free_port()
        config = self.workdir / "kubelet.yaml"
        config.write_text(json.dumps(self.kubelet_config(free_port(self.ip), healthz), indent=2))
        kubeconfig = self.plane.client_kubeconfig(
            "kubelet-client", f"system:node:{self.name}", ["system:nodes"]
        )
        proc = self.servers.spawn(
            "kubelet",
            [
                str(binary),
                f"--config={config}",
                f"--kubeconfig={kubeconfig}",
                f"--hostname-override={self.name}",
                f"--node-ip={self.ip}",
                f"--root-dir={self.workdir / 'kubelet'}",
                f"--cert-dir={self.workdir / 'kubelet-pki'}",
                "--v=1",
            ],
        )
        self.servers.wait_ready(
            "kubelet", proc, lambda: http_ok(f"http://127.0.0.1:{healthz}/healthz"), timeout
        )

    # -- kube-proxy ----------------------------------------------------------

    def _start_kube_proxy(self, binary: Path, timeout: float) -> None:
        assert self.workdir is not None and self.servers is not None
        healthz, metrics = free_port(), free_port()
        kubeconfig = self.plane.client_kubeconfig("kube-proxy", "system:kube-proxy")
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": self.name,
            "bindAddress": self.ip,
            "healthzBindAddress": f"127.0.0.1:{healthz}",
            "metricsBindAddress": f"127.0.0.1:{metrics}",
            "clusterCIDR": str(self.bridge.network),
            # NodePorts only on the node IP, never on the machine's other addresses.
            "nodePortAddresses": [f"{self.ip}/32"],
            "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
            # 0 leaves the host's conntrack settings as they are.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                          "tcpCloseWaitTimeout": "0s"},
        }  # fmt: skip
        path = self.workdir / "kube-proxy.yaml"
        path.write_text(json.dumps(config, indent=2))
        proc = self.servers.spawn("kube-proxy", [str(binary), f"--config={path}", "--v=1"])
        self.servers.wait_ready(
            "kube-proxy", proc, lambda: http_ok(f"http://127.0.0.1:{healthz}/healthz"), timeout
        )

    # -- teardown ------------------------------------------------------------

    def logs(self) -> str:
        """The tails of the node's logs."""
        return self.servers.logs() if self.servers else ""

    def drain(self, timeout: float = 60.0) -> None:
        """Delete every pod and wait until the kubelet has stopped them (best effort).

        The kubelet then tears the sandboxes down the normal way (CNI DEL, shims
        exit), which leaves less behind than killing.  Call it once nothing
        recreates pods any more (the controllers stopped).
        """
        if not self.servers or not self.containerd or "kubelet" not in self.servers.names():
            return
        http, containerd = self.plane.http(), self.containerd
        try:
            for pod in http.request("GET", "/api/v1/pods")["items"]:
                meta = pod["metadata"]
                with contextlib.suppress(ApiError):
                    http.request(
                        "DELETE",
                        f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                        {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 1},
                    )
            wait_until(
                lambda: (
                    not http.request("GET", "/api/v1/pods")["items"]
                    and not containerd.running_tasks()
                ),
                timeout,
                "the node's pods to stop",
                interval=0.5,
            )
        except (ApiError, TimeoutError, OSError) as exc:
            progress("node", f"drain incomplete, killing instead: {exc}")

    def stop(self, keep_workdir: bool = False) -> list[str]:
        """Remove everything the node made; return what could not be cleaned up.

        The work dir (logs, configs) is kept when asked, or when something is
        still mounted below it (removing it then could reach into a host path).
        """
        problems: list[str] = []
        if self.servers:
            # kube-proxy and the kubelet first, so that nothing restarts the pods.
            for name in ("kube-proxy", "kubelet"):
                self.servers.stop_one(name)
        self.cgroups.remove()  # the pods' processes, pause included
        if self.containerd:
            self.containerd.kill_shims()
        if self.servers:
            self.servers.stop_all()
        if self.containerd:
            self.containerd.kill_shims()
        remove_netns(netns_mounts() - self._netns_before)
        if self.workdir:
            left = unmount_all([self.workdir])
            problems += [f"still mounted: {point}" for point in left]
        if self.workdir:
            _remove_host_leftovers(self.workdir, self._absent_host_dirs)
        if self.workdir and not problems and not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif self.workdir:
            progress("node", f"kept work dir {self.workdir}")
        return problems


def _remove_host_leftovers(workdir: Path, created: list[Path]) -> None:
    """What the kubelet and libcni write outside the work dir: log links, CNI result cache,
    and the directories they made there (``created``: those absent before the start).
    """
    logs = Path("/var/log/containers")
    for link in logs.glob("*.log") if logs.is_dir() else []:
        with contextlib.suppress(OSError):
            if link.is_symlink() and os.readlink(link).startswith(str(workdir)):
                link.unlink()
    for cached in Path("/var/lib/cni/results").glob(f"{CNI_NETWORK}-*"):
        with contextlib.suppress(OSError):
            cached.unlink()
    if KUBELET_DEVICE_PLUGINS in created or KUBELET_DEVICE_PLUGINS.parent in created:
        # Only the kubelet's registration socket lives there.
        for entry in KUBELET_DEVICE_PLUGINS.glob("*"):
            with contextlib.suppress(OSError):
                entry.unlink()
    for directory in sorted(created, key=lambda d: -len(d.parts)):
        with contextlib.suppress(OSError):
            directory.rmdir()  # only if empty: anything else there is not ours
