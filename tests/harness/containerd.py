"""containerd for the test node: Debian's package, with a config, root, state and socket of its own.

The CRI plugin is on, with what this kind of machine needs:
``restrict_oom_score_adj = true`` (root lacks CAP_SYS_RESOURCE, so runc may not
lower ``oom_score_adj``), cgroupfs (cgroup v1, no systemd), the overlayfs
snapshotter, CNI from Debian's plugins with a conf dir of our own, and a
sandbox image imported from a local archive (nothing can be pulled).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
from pathlib import Path

from harness.hoststate import run
from harness.procs import Supervisor

log = logging.getLogger("spectare.harness.containerd")

CNI_BIN_DIR = "/usr/lib/cni"
NAMESPACE = "k8s.io"  # the CRI plugin's containerd namespace


def _which(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise RuntimeError(
            f"{name} is not installed: scripts/setup --test installs containerd, runc "
            "and containernetworking-plugins"
        )
    return found


def config_toml(directory: Path, sandbox_image: str, cni_conf_dir: Path) -> str:
    """containerd's config (version 2) for the node, everything under ``directory``."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{directory / "root"}"
state = "{directory / "state"}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{directory / "containerd.sock"}"

[ttrpc]
  address = "{directory / "containerd-ttrpc.sock"}"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{directory / "opt"}"

[{cri}]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_unprivileged_ports = false

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
  discard_unpacked_layers = false

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "{_which("runc")}"
  Root = "{directory / "runc"}"

[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{cni_conf_dir}"
  max_conf_num = 1
"""


class Containerd:
    """One containerd process serving the node's CRI socket."""

    def __init__(self, directory: Path, servers: Supervisor) -> None:
        self.directory = directory
        self.servers = servers
        self.socket = directory / "containerd.sock"

    @property
    def endpoint(self) -> str:
        """The CRI endpoint for the kubelet."""
        return f"unix://{self.socket}"

    def start(self, sandbox_image: str, cni_conf_dir: Path, timeout: float) -> None:
        """Write the config and start containerd; wait until its socket answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "config.toml"
        config.write_text(config_toml(self.directory, sandbox_image, cni_conf_dir))
        env = dict(os.environ)
        # containerd finds runc and the shim on PATH.
        env["PATH"] = f"{os.path.dirname(_which('containerd-shim-runc-v2'))}:{env['PATH']}"
        proc = self.servers.spawn(
            "containerd", [_which("containerd"), f"--config={config}"], env=env
        )
        self.servers.wait_ready("containerd", proc, self._answers, timeout)

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(self.socket))
            except OSError:
                return False
        plugins = self.ctr("plugins", "ls", check=False).splitlines()
        cri = [
            line.split() for line in plugins if line.split()[:2] == ["io.containerd.grpc.v1", "cri"]
        ]
        return bool(cri) and cri[0][-1] == "ok"

    def ctr(self, *args: str, check: bool = True) -> str:
        """Run ``ctr`` against this containerd, in the CRI namespace."""
        return run(
            [_which("ctr"), "--address", str(self.socket), "--namespace", NAMESPACE, *args],
            check=check,
        )

    def import_image(self, archive: Path) -> list[str]:
        """Import a ``docker save`` or OCI archive for the CRI; return the image names."""
        before = set(self.images())
        self.ctr("images", "import", "--snapshotter", "overlayfs", str(archive))
        new = [name for name in set(self.images()) - before if not name.startswith("sha256:")]
        names = sorted(new) or self._names_in(archive)
        log.info("imported %s from %s", ",".join(names), archive)
        return names

    def images(self) -> list[str]:
        """The names of the images in the CRI namespace."""
        lines = self.ctr("images", "ls", "-q").splitlines()
        return [line.strip() for line in lines if line.strip()]

    @staticmethod
    def _names_in(archive: Path) -> list[str]:
        """The tags an archive carries (for an image that was already imported)."""
        import json
        import tarfile

        with tarfile.open(archive) as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                return []
            return [tag for entry in json.load(member) for tag in entry.get("RepoTags") or []]

    def running_tasks(self) -> list[str]:
        """The ids of the tasks (containers, sandboxes) still running."""
        lines = self.ctr("tasks", "ls", check=False).splitlines()[1:]
        return [line.split()[0] for line in lines if "RUNNING" in line]

    def shim_pids(self) -> list[int]:
        """The runc shims this containerd started (they outlive it unless killed)."""
        address = str(self.socket).encode()
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmdline = (proc / "cmdline").read_bytes()
                if b"containerd-shim" in cmdline and address in cmdline:
                    pids.append(int(proc.name))
        return pids

    def kill_shims(self) -> None:
        """SIGKILL the shims of this containerd."""
        for pid in self.shim_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
