"""Go builds for the test harness: pinned Kubernetes, etcd and helm binaries, cached.

Every binary is built from its Go module with the machine's Go toolchain, inside a
generated *wrapper module* (``<cache>/gomod/<name>``) that requires the upstream
module and turns its local-path replaces into proxy versions, and is cached as
``<cache>/bin/<name>-<version>``. Go's own module and build caches stay at their
defaults, so a warm run only confirms the cache and a cold one shares compiled
packages between binaries of one wrapper.

Wrappers: kube-apiserver + helm (one module graph); etcd; and the node's
binaries (kubelet, kube-scheduler, kube-controller-manager, kube-proxy,
kubectl), which cannot share helm's graph: helm pulls
``github.com/containerd/errdefs`` v0.3.0 while the kubelet's cadvisor needs v0.1.0.

Environment: ``SPECTARE_CACHE_DIR`` (cache root, default ``~/.cache/spectare``),
``SPECTARE_GO`` (the go command; else ``go`` on PATH, else /usr/local/go/bin/go).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.procs import progress

# Pinned versions. 1.32.13 is the newest 1.32 patch the Go module proxy serves;
# envtest pairs 1.32 with etcd 3.5.16.
KUBERNETES_VERSION = "v1.32.13"
ETCD_VERSION = "v3.5.16"
# Helm 3.17.x is the line built on the Kubernetes 1.32 libraries (see WRAPPERS).
HELM_VERSION = "v3.17.4"
# Staging modules k8s.io/<x> are tagged v0.<minor>.<patch> for v1.<minor>.<patch>.
STAGING_VERSION = "v0." + KUBERNETES_VERSION.split(".", 1)[1]


class BuildError(RuntimeError):
    """A binary could not be built."""


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------


def cache_dir() -> Path:
    """Return the harness cache root (``SPECTARE_CACHE_DIR`` or ``~/.cache/spectare``)."""
    root = os.environ.get("SPECTARE_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "spectare"
    )
    return Path(root)


def bin_dir() -> Path:
    """Return the directory that holds the versioned binaries."""
    return cache_dir() / "bin"


def go_executable() -> str:
    """Find the Go toolchain: ``SPECTARE_GO``, then PATH, then /usr/local/go."""
    candidate = os.environ.get("SPECTARE_GO") or shutil.which("go") or "/usr/local/go/bin/go"
    if not os.access(candidate, os.X_OK):
        raise BuildError(f"no Go toolchain found (tried {candidate!r}); set SPECTARE_GO")
    return candidate


def _go_env() -> dict[str, str]:
    """Environment for every go command: local toolchain, no workspace, static binaries."""
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local",  # never fetch a toolchain: only modules may be downloaded
        GOWORK="off",
        GOFLAGS="",  # a developer's -mod=vendor or similar must not leak in
        CGO_ENABLED="0",  # no C compiler needed, and faster to build
    )
    return env


@dataclasses.dataclass(frozen=True)
class GoModule:
    """A module a wrapper requires, with the version for its v0.0.0 placeholder requirements."""

    path: str
    version: str
    # Version for local-path replaces whose requirement is the v0.0.0 placeholder.
    placeholder_version: str | None = None


@dataclasses.dataclass(frozen=True)
class GoBinary:
    """One main package, cached as ``bin/<name>-<version>``."""

    name: str
    version: str
    package: str
    # -X flags so the binaries report their real version (helm checks kubeVersion).
    version_vars: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> Path:
        """Where the built binary lives in the cache."""
        return bin_dir() / f"{self.name}-{self.version}"


@dataclasses.dataclass(frozen=True)
class Wrapper:
    """A generated module that requires upstream modules and builds their binaries.

    Binaries that share a wrapper share one set of dependency versions, so the
    packages they have in common compile once.
    """

    name: str
    modules: tuple[GoModule, ...]
    binaries: tuple[GoBinary, ...]
    # module path -> version, overriding what the upstream replaces would pick.
    overrides: tuple[tuple[str, str], ...] = ()

    @property
    def directory(self) -> Path:
        """Where the wrapper module lives."""
        return cache_dir() / "gomod" / self.name


def _kube_version_vars(version: str) -> tuple[tuple[str, str], ...]:
    major, minor = version.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
    }
    return tuple(
        (f"{pkg}.{key}", value)
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in values.items()
    )


KUBE_APISERVER = GoBinary(
    name="kube-apiserver",
    version=KUBERNETES_VERSION,
    package="k8s.io/kubernetes/cmd/kube-apiserver",
    version_vars=_kube_version_vars(KUBERNETES_VERSION),
)
ETCD = GoBinary(
    name="etcd",
    version=ETCD_VERSION,
    package="go.etcd.io/etcd/server/v3",
    version_vars=(("go.etcd.io/etcd/api/v3/version.GitSHA", ETCD_VERSION),),
)
HELM = GoBinary(
    name="helm",
    version=HELM_VERSION,
    package="helm.sh/helm/v3/cmd/helm",
    version_vars=(
        ("helm.sh/helm/v3/internal/version.version", HELM_VERSION),
        ("helm.sh/helm/v3/internal/version.gitTreeState", "clean"),
    ),
)


def _kube_binary(name: str, version: str = KUBERNETES_VERSION) -> GoBinary:
    return GoBinary(
        name=name,
        version=version,
        package=f"k8s.io/kubernetes/cmd/{name}",
        version_vars=_kube_version_vars(version),
    )


KUBELET = _kube_binary("kubelet")
KUBE_SCHEDULER = _kube_binary("kube-scheduler")
KUBE_CONTROLLER_MANAGER = _kube_binary("kube-controller-manager")
KUBE_PROXY = _kube_binary("kube-proxy")
# Built rather than taken from PATH: a fresh machine has none, and this one matches
# the server's version exactly.
KUBECTL = _kube_binary("kubectl")

CONTROL_PLANE_BINARIES: tuple[GoBinary, ...] = (KUBE_APISERVER, ETCD, HELM)
NODE_BINARIES: tuple[GoBinary, ...] = (
    KUBELET,
    KUBE_SCHEDULER,
    KUBE_CONTROLLER_MANAGER,
    KUBE_PROXY,
    KUBECTL,
)
ALL_BINARIES: tuple[GoBinary, ...] = CONTROL_PLANE_BINARIES + NODE_BINARIES

_KUBERNETES = GoModule("k8s.io/kubernetes", KUBERNETES_VERSION, placeholder_version=STAGING_VERSION)

# Helm 3.17 is built on the same Kubernetes 1.32 libraries as kube-apiserver; in
# one module graph (which only lifts golang.org/x/* a few minors for the apiserver)
# most of helm's packages are already compiled when its turn comes.
WRAPPERS: tuple[Wrapper, ...] = (
    Wrapper(
        name=f"kubernetes-{KUBERNETES_VERSION}-helm-{HELM_VERSION}",
        modules=(_KUBERNETES, GoModule("helm.sh/helm/v3", HELM_VERSION)),
        binaries=(KUBE_APISERVER, HELM),
    ),
    Wrapper(
        name=f"etcd-{ETCD_VERSION}",
        modules=(GoModule("go.etcd.io/etcd/server/v3", ETCD_VERSION),),
        binaries=(ETCD,),
    ),
    Wrapper(
        name=f"kubernetes-node-{KUBERNETES_VERSION}",
        modules=(_KUBERNETES,),
        binaries=NODE_BINARIES,
        # The module proxy refuses k8s.io/endpointslice v0.32.13; v0.32.12 is the
        # same code for what kube-controller-manager uses.
        overrides=(("k8s.io/endpointslice", "v0.32.12"),),
    ),
)


def _progress(message: str) -> None:
    """One line of build progress on stderr."""
    progress("gobuild", message)


def _run_go(args: Sequence[str], cwd: Path | None = None) -> str:
    """Run a go command; raise BuildError with its output on failure."""
    cmd = [go_executable(), *args]
    proc = subprocess.run(cmd, cwd=cwd, env=_go_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}) in {cwd or os.getcwd()}:\n"
            f"{proc.stdout[-4000:]}{proc.stderr[-8000:]}"
        )
    return proc.stdout


def _read_upstream_gomod(module: GoModule) -> dict[str, Any]:
    """Download the module and return its go.mod as ``go mod edit -json`` sees it."""
    info = json.loads(_run_go(["mod", "download", "-json", f"{module.path}@{module.version}"]))
    if info.get("Error"):
        raise BuildError(f"cannot download {module.path}@{module.version}: {info['Error']}")
    return dict(json.loads(_run_go(["mod", "edit", "-json", info["GoMod"]])))


def _local_replaces(module: GoModule, gomod: dict[str, Any]) -> dict[str, str]:
    """Turn upstream ``X => ../dir`` replaces into ``X => X <version>``.

    Local-path replaces only work inside the upstream repository; outside it
    the same module must come from the proxy at the version released with it.
    """
    required = {r["Path"]: r["Version"] for r in gomod.get("Require") or []}
    pairs = {}
    for rep in gomod.get("Replace") or []:
        if rep["New"].get("Version"):  # module => module version: handled as is
            continue
        path = rep["Old"]["Path"]
        version = required.get(path)
        if version is None and module.placeholder_version is None:
            continue  # replaced but not required (e.g. etcd's test modules): irrelevant
        if version is None or version.startswith("v0.0.0"):
            version = module.placeholder_version or module.version
        pairs[path] = version
    return pairs


def _version_key(go_version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in go_version.split(".") if part.isdigit())


def _wrapper_gomod(wrapper: Wrapper, upstreams: Sequence[dict[str, Any]]) -> str:
    """Render the wrapper module's go.mod from its upstream modules' go.mod files."""
    # The newest language version and upstream's GODEBUG defaults, as upstream builds them.
    go_version = max((u.get("Go") or "1.22" for u in upstreams), key=_version_key)
    lines = [f"module spectare.test/harness/{wrapper.name}", "", f"go {go_version}"]
    debug: dict[str, str] = {}
    for upstream in upstreams:
        for entry in upstream.get("Godebug") or []:
            debug.setdefault(entry["Key"], entry["Value"])
    lines += [f"godebug {key}={value}" for key, value in debug.items()]
    lines.append("")
    lines += [f"require {m.path} {m.version}" for m in wrapper.modules]
    lines.append("")
    overrides = dict(wrapper.overrides)
    for module, upstream in zip(wrapper.modules, upstreams, strict=True):
        for path, version in _local_replaces(module, upstream).items():
            lines.append(f"replace {path} => {path} {overrides.get(path, version)}")
        # Replaces that point at another module version still apply to upstream's build.
        for rep in upstream.get("Replace") or []:
            new, old = rep["New"], rep["Old"]
            if new.get("Version"):
                old_spec = old["Path"] + (f" {old['Version']}" if old.get("Version") else "")
                lines.append(f"replace {old_spec} => {new['Path']} {new['Version']}")
    return "\n".join(lines) + "\n"


def _resolve(wrapper: Wrapper) -> None:
    """Write the wrapper module and download everything its build needs."""
    started = time.monotonic()
    upstreams = [_read_upstream_gomod(m) for m in wrapper.modules]
    gomod = _wrapper_gomod(wrapper, upstreams)
    directory = wrapper.directory
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / ".resolved"
    if marker.exists() and marker.read_text() == gomod and (directory / "go.sum").exists():
        return
    (directory / "go.mod").write_text(gomod)
    (directory / "go.sum").unlink(missing_ok=True)
    # go get records every requirement and checksum the packages need and downloads them.
    targets = [f"{b.package}@{b.version}" for b in wrapper.binaries]
    _run_go(["get", *targets], cwd=directory)
    marker.write_text(gomod)
    _progress(f"resolved {wrapper.name} in {time.monotonic() - started:.0f}s")


def _compile(wrapper: Wrapper, binary: GoBinary) -> None:
    """Compile one binary of a resolved wrapper into the cache, atomically."""
    started = time.monotonic()
    tmp = binary.path.with_name(f".{binary.path.name}.{os.getpid()}.tmp")
    # -s -w drop the symbol table and DWARF from the binary; -dwarf=false spares the
    # compiler generating DWARF at all (about 15% less CPU on a cold build).
    ldflags = " ".join(["-s", "-w", *(f"-X {k}={v}" for k, v in binary.version_vars)])
    flags = ["-trimpath", "-gcflags=all=-dwarf=false", f"-ldflags={ldflags}"]
    try:
        _run_go(["build", *flags, "-o", str(tmp), binary.package], cwd=wrapper.directory)
        os.replace(tmp, binary.path)
    finally:
        tmp.unlink(missing_ok=True)
    _progress(f"built {binary.path} in {time.monotonic() - started:.0f}s")


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Serialise builds across processes (pytest workers, CI steps)."""
    bin_dir().mkdir(parents=True, exist_ok=True)
    with open(bin_dir() / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_binaries(binaries: Sequence[GoBinary] = ALL_BINARIES) -> dict[str, Path]:
    """Build whatever is missing from the cache; return name -> path. Raises BuildError."""
    if all(os.access(b.path, os.X_OK) for b in binaries):
        # Binaries appear atomically (rename), so a complete set needs no lock: a build
        # of other binaries in progress does not hold this caller up.
        return {b.name: b.path for b in binaries}
    with _build_lock():
        missing = [b for b in binaries if not os.access(b.path, os.X_OK)]
        for binary in binaries:
            if binary not in missing:
                _progress(f"cached {binary.path}")
        if missing:
            _build(missing)
    return {b.name: b.path for b in binaries}


def helm_binary() -> Path:
    """Path of the cached helm binary, building it if needed."""
    return ensure_binaries((HELM,))["helm"]


def _build(missing: Sequence[GoBinary]) -> None:
    """Resolve the wrappers concurrently (network-bound), compile one by one (CPU-bound)."""
    started = time.monotonic()
    _progress(
        f"building {', '.join(f'{b.name} {b.version}' for b in missing)} "
        f"with {_run_go(['version']).strip()}"
    )
    wrappers = [w for w in WRAPPERS if any(b in missing for b in w.binaries)]
    with ThreadPoolExecutor(max_workers=len(wrappers)) as pool:
        resolved = {w.name: pool.submit(_resolve, w) for w in wrappers}
        # Binaries in ALL_BINARIES order (the control plane's first): compiling one
        # overlaps with downloading the others, and go build already uses every core.
        for binary in (b for b in ALL_BINARIES if b in missing):
            wrapper = next(w for w in wrappers if binary in w.binaries)
            resolved[wrapper.name].result()
            _compile(wrapper, binary)
    _progress(f"build finished in {time.monotonic() - started:.0f}s")
