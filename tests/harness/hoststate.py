"""What a real node changes on the host, saved before and put back after.

The kubelet writes kernel sysctls (``vm.overcommit_memory``, ``kernel.panic``,
...), kube-proxy, the kubelet and the CNI plugins add iptables chains, and the
node needs a bridge of its own and a cgroup subtree.  ``HostState`` records
the sysctls and both iptables rulesets before anything starts and restores
them at teardown; ``NodeBridge`` creates the node's bridge (its address is the
node IP) and removes it, veths included; ``CgroupTree`` creates the kubelet's
cgroup root in every v1 hierarchy and removes it, killing what still runs in it.
Since all of that is machine-wide, ``HostLock`` lets one test cluster run at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from harness.procs import progress, wait_until

log = logging.getLogger("spectare.harness.hoststate")

# Everything the kubelet, kube-proxy and the node set up may write.
SYSCTLS: tuple[str, ...] = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)
# The tables kube-proxy, the kubelet, the CNI plugins and the bridge guard write to.
TABLES: tuple[str, ...] = ("filter", "nat", "mangle", "raw")


class HostLock:
    """One test cluster per machine at a time: they share the bridge, sysctls and iptables.

    A second cluster (another pytest session, another developer) waits for the
    first to finish, up to ``timeout`` seconds, then fails naming the holder.
    The lock is an ``flock`` that dies with the process holding it.
    """

    PATH = Path("/run/spectare-test-cluster.lock")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, waiting (with a progress line each minute) while another holds it."""
        handle = open(self.PATH, "a+")  # noqa: SIM115 - held until release()
        announced = [0.0]

        def taken() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                if announced[0] == 0.0 or announced[0] + 60 < time.monotonic():
                    progress("cluster", f"waiting for another test cluster to stop ({holder})")
                    announced[0] = time.monotonic()
                return False

        try:
            wait_until(taken, self.timeout, "another test cluster on this machine", interval=1.0)
        except TimeoutError:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Give the lock up (closing the file releases the flock)."""
        if self._file:
            self._file.truncate(0)
            self._file.close()
            self._file = None


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def run(argv: Sequence[str], input: str | None = None, check: bool = True) -> str:
    """Run a host command; raise with its output when ``check`` and it fails."""
    proc = subprocess.run(list(argv), input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


class HostState:
    """Sysctls and iptables rulesets as they were before the node started."""

    def __init__(self) -> None:
        self.sysctls: dict[str, str] = {}
        self.rulesets: dict[str, str] = {}

    def save(self) -> HostState:
        """Record the current sysctls and the IPv4/IPv6 iptables rulesets."""
        for name in SYSCTLS:
            with contextlib.suppress(OSError):
                self.sysctls[name] = _sysctl_path(name).read_text().strip()
        for family in ("iptables", "ip6tables"):
            self.rulesets[family] = run([f"{family}-save"])
        return self

    def set_sysctl(self, name: str, value: str) -> None:
        """Write one sysctl (it must be in SYSCTLS, so that teardown restores it)."""
        assert name in SYSCTLS, f"{name} is not restored at teardown"
        _sysctl_path(name).write_text(value)

    def restore(self) -> list[str]:
        """Put back the saved sysctls and rulesets; return what could not be restored."""
        problems: list[str] = []
        for name, value in self.sysctls.items():
            path = _sysctl_path(name)
            try:
                if path.read_text().strip() != value:
                    path.write_text(value)
                    log.info("restored sysctl %s=%s", name, value)
            except OSError as exc:
                problems.append(f"sysctl {name}: {exc}")
        for family, saved in self.rulesets.items():
            try:
                self._restore_rules(family, saved)
            except RuntimeError as exc:
                problems.append(str(exc))
        return problems

    @staticmethod
    def _restore_rules(family: str, saved: str) -> None:
        """Restore ``saved``; empty the tables it does not list (they had no rules then)."""
        run([f"{family}-restore"], input=saved)
        present = {line[1:].strip() for line in saved.splitlines() if line.startswith("*")}
        for table in (t for t in TABLES if t not in present):
            run([family, "-t", table, "-F"], check=False)
            run([family, "-t", table, "-X"], check=False)
        log.info("restored %s rules", family)


class NodeBridge:
    """A Linux bridge whose first address is the node IP; pods' veths hang off it."""

    def __init__(self, name: str, cidr: str) -> None:
        self.name = name
        self.network = ipaddress.ip_network(cidr)
        self.address = str(next(self.network.hosts()))

    def create(self) -> NodeBridge:
        """Create the bridge with its address (replacing a leftover of a crashed run)."""
        if Path(f"/sys/class/net/{self.name}").exists():
            log.warning("removing leftover bridge %s", self.name)
            self.remove()
        clash = run(["ip", "-4", "route", "show", "to", "match", self.address])
        if clash.strip() and "default" not in clash:
            raise RuntimeError(f"{self.network} is already routed here: {clash.strip()}")
        run(["ip", "link", "add", self.name, "type", "bridge"])
        run(["ip", "addr", "add", f"{self.address}/{self.network.prefixlen}", "dev", self.name])
        run(["ip", "link", "set", self.name, "up"])
        return self

    def guard(self) -> None:
        """Drop anything routed between the bridge and another interface (mangle FORWARD).

        Pods may talk to each other, to this machine and to Services (which
        kube-proxy maps onto those): nothing of theirs leaves through the
        machine's other interfaces, and nothing from those reaches them.
        """
        for rule in (
            ["-i", self.name, "!", "-o", self.name],
            ["!", "-i", self.name, "-o", self.name],
        ):
            run(["iptables", "-t", "mangle", "-I", "FORWARD", *rule, "-j", "DROP"])

    def ports(self) -> list[str]:
        """The interfaces (pods' veths) attached to the bridge."""
        directory = Path(f"/sys/class/net/{self.name}/brif")
        return sorted(p.name for p in directory.iterdir()) if directory.exists() else []

    def remove(self) -> None:
        """Delete the veths on the bridge, then the bridge."""
        for port in self.ports():
            run(["ip", "link", "del", port], check=False)
        run(["ip", "link", "del", self.name], check=False)


def _hierarchies() -> list[Path]:
    """Every mounted cgroup v1 hierarchy, plus the unified one of a hybrid setup."""
    root = Path("/sys/fs/cgroup")
    found = []
    for entry in sorted(root.iterdir()) if root.exists() else []:
        if entry.is_dir() and not entry.is_symlink() and (entry / "cgroup.procs").exists():
            found.append(entry)
    return found


class CgroupTree:
    """The kubelet's ``cgroupRoot``: created in every hierarchy, killed and removed at the end."""

    def __init__(self, name: str) -> None:
        self.name = name.strip("/")

    @property
    def path(self) -> str:
        """The cgroup path as the kubelet's ``cgroupRoot`` expects it."""
        return f"/{self.name}"

    def create(self) -> CgroupTree:
        """Create the subtree in every hierarchy (the kubelet insists it exists)."""
        for hierarchy in _hierarchies():
            (hierarchy / self.name).mkdir(exist_ok=True)
        return self

    def pids(self) -> set[int]:
        """Every process in the subtree, in any hierarchy."""
        pids: set[int] = set()
        for hierarchy in _hierarchies():
            for procs in (hierarchy / self.name).rglob("cgroup.procs"):
                with contextlib.suppress(OSError):
                    pids.update(int(p) for p in procs.read_text().split())
        return pids

    def kill(self, timeout: float = 20.0) -> None:
        """SIGKILL everything in the subtree until it is empty."""

        def empty() -> bool:
            pids = self.pids()
            _kill(pids)
            return not pids

        wait_until(empty, timeout, f"cgroup {self.path} to empty", interval=0.2)

    def remove(self) -> None:
        """Kill what is left and remove the subtree's directories, deepest first."""
        with contextlib.suppress(TimeoutError):
            self.kill()
        for hierarchy in _hierarchies():
            top = hierarchy / self.name
            if not top.exists():
                continue
            for directory in sorted(
                (p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
            ):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def mounts_under(directories: Iterable[Path]) -> list[str]:
    """Mount points at or below any of ``directories``, deepest first."""
    roots = [str(d.resolve()) for d in directories]
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == r or point.startswith(r + "/") for r in roots):
            points.append(point)
    return sorted(set(points), key=lambda p: -p.count("/"))


def unmount_all(directories: Iterable[Path]) -> list[str]:
    """Unmount everything below ``directories``, deepest first (lazily if busy).

    Returns the mount points that are still there afterwards.
    """
    for point in mounts_under(directories):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
    return mounts_under(directories)


def netns_mounts() -> set[str]:
    """Named network namespaces (``/run/netns/*``) mounted right now."""
    return set(mounts_under([Path("/run/netns")]))


def remove_netns(points: Iterable[str]) -> None:
    """Unmount and delete named network namespaces (their veths go with them)."""
    for point in points:
        run(["umount", point], check=False)
        with contextlib.suppress(OSError):
            Path(point).unlink()
