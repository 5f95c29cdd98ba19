"""A real Kubernetes control plane for tests: etcd and kube-apiserver, nothing else.

The binaries are built from their Go modules with the machine's Go toolchain and
cached by version under ``${SPECTARE_CACHE_DIR:-~/.cache/spectare}/bin/``; Go's
own module and build caches stay at their defaults so they are reused as well.
Helm v3 is built into the same cache for the tests that render the chart.

Build (or confirm the cache) from CI before pytest; it exits 1 with the reason
when a build fails::

    python tests/harness/controlplane.py build
    python tests/harness/controlplane.py start   # a control plane to poke at by hand

Environment: ``SPECTARE_CACHE_DIR`` (binary cache root), ``SPECTARE_GO`` (the go
command; else ``go`` on PATH, else /usr/local/go/bin/go),
``SPECTARE_KEEP_CONTROLPLANE=1`` (keep the work dir with logs, certs and etcd
data after stop).  A start that fails keeps its work dir and prints the logs.

``ControlPlane`` runs the servers on loopback; ``KubeHTTP`` is a small JSON
client for it and ``ControlPlane.api_client()`` an official-client one.

Only etcd and kube-apiserver run. What that means for tests:

* No kube-controller-manager: nothing garbage-collects by owner reference
  (deleting an owner leaves its dependents in place), no ReplicaSet,
  Deployment, Job or endpoints controller acts, and a deleted namespace stays
  ``Terminating`` forever.  Tests therefore use a fresh, uniquely named
  namespace each and never wait for a namespace to go away.
* No scheduler and no kubelet: pods stay ``Pending`` with no node.  An
  unscheduled pod is deleted at once; a pod bound to a node is only marked
  (``deletionTimestamp``) and whoever plays the kubelet must finish the
  deletion.  ``harness.kubelet.TestKubelet`` plays that part.
* The ServiceAccount admission plugin is disabled and no token controller
  runs, so pods get no service-account token.  Identities come from a static
  token file instead: an admin in ``system:masters`` and ServiceAccount-like
  users (``system:serviceaccount:<ns>:<name>``) registered before start.
* RBAC is enforced for everybody except the admin.  Other ServiceAccounts can
  get real tokens through the TokenRequest API
  (``ControlPlane.service_account_kubeconfig``).
* The API server itself runs the CRD (apiextensions) and aggregation machinery,
  so CustomResourceDefinitions become Established without anything else.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime
import fcntl
import ipaddress
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger("spectare.harness.controlplane")

# Pinned versions. 1.32.13 is the newest 1.32 patch the Go module proxy serves;
# envtest pairs 1.32 with etcd 3.5.16.
KUBERNETES_VERSION = "v1.32.13"
ETCD_VERSION = "v3.5.16"
# Helm 3.17.x is the line built on the Kubernetes 1.32 libraries (see WRAPPERS).
HELM_VERSION = "v3.17.4"

# Users pre-registered in the token file when the caller names none.
DEFAULT_SERVICE_ACCOUNTS: tuple[str, ...] = ("spectare:spectare-operator",)

ADMIN_USER = "spectare-admin"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"


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
ALL_BINARIES: tuple[GoBinary, ...] = (KUBE_APISERVER, ETCD, HELM)

# Helm 3.17 is built on the same Kubernetes 1.32 libraries as kube-apiserver; in
# one module graph (which only lifts golang.org/x/* a few minors for the apiserver)
# most of helm's packages are already compiled when its turn comes.
WRAPPERS: tuple[Wrapper, ...] = (
    Wrapper(
        name=f"kubernetes-{KUBERNETES_VERSION}-helm-{HELM_VERSION}",
        modules=(
            # Staging modules k8s.io/<x> are tagged v0.<minor>.<patch> for v1.<minor>.<patch>.
            GoModule(
                "k8s.io/kubernetes",
                KUBERNETES_VERSION,
                placeholder_version="v0." + KUBERNETES_VERSION.split(".", 1)[1],
            ),
            GoModule("helm.sh/helm/v3", HELM_VERSION),
        ),
        binaries=(KUBE_APISERVER, HELM),
    ),
    Wrapper(
        name=f"etcd-{ETCD_VERSION}",
        modules=(GoModule("go.etcd.io/etcd/server/v3", ETCD_VERSION),),
        binaries=(ETCD,),
    ),
)


def _progress(message: str) -> None:
    """One line of build progress on stderr."""
    print(f"[controlplane] {message}", file=sys.stderr, flush=True)


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
    for module, upstream in zip(wrapper.modules, upstreams, strict=True):
        for path, version in _local_replaces(module, upstream).items():
            lines.append(f"replace {path} => {path} {version}")
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


# --------------------------------------------------------------------------
# Waiting, ports and processes
# --------------------------------------------------------------------------


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``condition()`` until it returns something truthy; return it or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pdeathsig_prefix() -> list[str]:
    """Command prefix that kills the child if the thread that started it dies.

    It keeps a crashed or SIGKILLed test run from leaving servers behind.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0, group: bool = False) -> int:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; return the exit status."""
    if proc.poll() is None:
        _signal(proc, signal.SIGTERM, group)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            if timeout > 0:
                log.warning(
                    "process did not stop after SIGTERM; killing pid=%d timeout=%.1f",
                    proc.pid,
                    timeout,
                )
    if group or proc.poll() is None:
        _signal(proc, signal.SIGKILL, group)  # also reaps leftovers of a process group
    return proc.wait()


def _signal(proc: subprocess.Popen[Any], sig: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def _tail(path: Path, limit: int = 6000) -> str:
    """The end of a log file, for error messages."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")


# --------------------------------------------------------------------------
# Certificates and tokens
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TokenUser:
    """A static-token identity: user name, groups and bearer token."""

    name: str
    groups: tuple[str, ...]
    token: str

    def csv_line(self) -> str:
        """The line for ``--token-auth-file``: token,user,uid,"groups"."""
        return f'{self.token},{self.name},{self.name},"{",".join(self.groups)}"'


def service_account_user(namespace: str, name: str, token: str | None = None) -> TokenUser:
    """A user that looks to RBAC exactly like ServiceAccount ``namespace/name``."""
    return TokenUser(
        name=f"system:serviceaccount:{namespace}:{name}",
        groups=(
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        ),
        token=token or secrets.token_urlsafe(32),
    )


def _write_pki(directory: Path) -> None:
    """Write a CA, a 127.0.0.1 serving cert signed by it, and a service-account key pair."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=7))

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def pem_key(key: Any) -> bytes:
        return bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("spectare-test-ca"))
        .issuer_name(name("spectare-test-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("kube-apiserver"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("10.0.0.1")),  # the in-cluster service IP
                    x509.DNSName("localhost"),
                    x509.DNSName("kubernetes.default.svc"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = {
        "ca.crt": ca_cert.public_bytes(serialization.Encoding.PEM),
        "serving.crt": cert.public_bytes(serialization.Encoding.PEM),
        "serving.key": pem_key(key),
        "sa.key": pem_key(sa_key),
        "sa.pub": sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    }
    for filename, data in files.items():
        (directory / filename).write_bytes(data)
        (directory / filename).chmod(0o600)


# --------------------------------------------------------------------------
# The control plane
# --------------------------------------------------------------------------


class ControlPlaneError(RuntimeError):
    """The control plane could not start; the message carries the log tails."""


class ControlPlane:
    """etcd and kube-apiserver on loopback, with a static-token admin and SA-like users.

    Use as a context manager, or call start() and stop() from a thread that
    outlives the control plane: the servers get SIGKILL when the thread that
    started them ends, so a crashed test run leaves none behind.  ``service_accounts``
    lists ``"<namespace>:<name>"`` users to register in the token file, which
    the API server reads only at start.  Other ServiceAccounts can still get a
    real token through ``service_account_kubeconfig`` (TokenRequest API).
    """

    def __init__(
        self,
        service_accounts: Sequence[str] = DEFAULT_SERVICE_ACCOUNTS,
        startup_timeout: float = 90.0,
        extra_apiserver_args: Sequence[str] = (),
        keep_workdir: bool | None = None,
    ) -> None:
        self.startup_timeout = startup_timeout
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.keep_workdir = (
            os.environ.get("SPECTARE_KEEP_CONTROLPLANE") == "1"
            if keep_workdir is None
            else keep_workdir
        )
        self.admin = TokenUser(
            ADMIN_USER, ("system:masters", "system:authenticated"), secrets.token_urlsafe(32)
        )
        self.service_accounts: dict[tuple[str, str], TokenUser] = {}
        for entry in service_accounts:
            namespace, _, name = entry.partition(":")
            if not namespace or not name:
                raise ValueError(f"service account {entry!r} is not '<namespace>:<name>'")
            self.service_accounts[(namespace, name)] = service_account_user(namespace, name)
        self.workdir: Path | None = None
        self.url = ""
        self.etcd_url = ""
        self._procs: list[tuple[str, subprocess.Popen[Any]]] = []
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, attempts: int = 3) -> ControlPlane:
        """Build if needed, start etcd then kube-apiserver, wait for /readyz, write kubeconfig.

        A free port can be taken by someone else before our server binds it;
        such a start is retried on new ports, up to ``attempts`` times in all.
        """
        started = time.monotonic()
        paths = ensure_binaries((KUBE_APISERVER, ETCD))
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(paths)
                break
            except ControlPlaneError as exc:
                if attempt == attempts or "address already in use" not in str(exc):
                    print(f"[controlplane] start failed: {exc}", file=sys.stderr, flush=True)
                    raise
                log.warning("port taken, starting again attempt=%d", attempt + 1)
        log.info(
            "control plane ready url=%s workdir=%s seconds=%.1f",
            self.url,
            self.workdir,
            time.monotonic() - started,
        )
        return self

    def _start_once(self, paths: dict[str, Path]) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="spectare-controlplane-"))
        try:
            _write_pki(self.workdir)
            self._write_token_file()
            self._start_etcd(paths["etcd"])
            self._start_apiserver(paths["kube-apiserver"])
            self.write_kubeconfig(self.admin_kubeconfig, self.admin)
        except BaseException:
            self.stop(keep_workdir=True)  # its logs are in the error and stay on disk
            raise

    def stop(self, keep_workdir: bool | None = None) -> None:
        """Stop kube-apiserver, then etcd, and remove the work directory (unless kept)."""
        with self._lock:
            procs, self._procs = self._procs, []
        for name, proc in reversed(procs):
            code = stop_process(proc, timeout=15.0)
            log.info("stopped %s pid=%d exit=%s", name, proc.pid, code)
        keep = self.keep_workdir if keep_workdir is None else keep_workdir
        if self.workdir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif self.workdir:
            log.info("kept control plane workdir=%s", self.workdir)

    # -- processes ---------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[Any]:
        assert self.workdir is not None
        with open(self.workdir / f"{name}.log", "wb") as logfile:
            proc = subprocess.Popen(
                pdeathsig_prefix() + argv,
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        with self._lock:
            self._procs.append((name, proc))
        log.info("started %s pid=%d log=%s", name, proc.pid, self.workdir / f"{name}.log")
        return proc

    def _wait_ready(self, name: str, proc: subprocess.Popen[Any], probe: Any) -> None:
        """Wait until ``probe()`` is true; fail at once if the process dies."""

        def ready() -> bool:
            if proc.poll() is not None:
                raise ControlPlaneError(f"{name} exited with {proc.returncode}\n{self.logs()}")
            return bool(probe())

        try:
            wait_until(ready, self.startup_timeout, f"{name} to become ready", interval=0.1)
        except TimeoutError as exc:
            raise ControlPlaneError(f"{exc}\n{self.logs()}") from None

    def logs(self) -> str:
        """The tails of both log files, labelled."""
        if not self.workdir:
            return ""
        return "".join(
            f"--- {name}.log ({self.workdir / (name + '.log')}) ---\n"
            f"{_tail(self.workdir / (name + '.log'))}\n"
            for name in ("etcd", "kube-apiserver")
        )

    def _start_etcd(self, binary: Path) -> None:
        assert self.workdir is not None
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        proc = self._spawn(
            "etcd",
            [
                str(binary),
                "--name=test",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=test={peer_url}",
                "--initial-cluster-state=new",
                # Test data is thrown away: skipping fsync makes every write much cheaper.
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ],
        )
        self._wait_ready("etcd", proc, lambda: _http_ok(f"{self.etcd_url}/health"))

    def _start_apiserver(self, binary: Path) -> None:
        assert self.workdir is not None
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        wd = self.workdir
        proc = self._spawn(
            "kube-apiserver",
            [
                str(binary),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={wd / 'apiserver-certs'}",
                f"--tls-cert-file={wd / 'serving.crt'}",
                f"--tls-private-key-file={wd / 'serving.key'}",
                "--authorization-mode=RBAC",
                f"--token-auth-file={wd / 'tokens.csv'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={wd / 'sa.pub'}",
                f"--service-account-signing-key-file={wd / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=true",
                "--disable-admission-plugins=ServiceAccount",
                # No controller-manager maintains the kubernetes Service endpoints.
                "--endpoint-reconciler-type=none",
                # Fairness queues would throttle the scale benchmark, and nothing competes here.
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--v=1",
                *self.extra_apiserver_args,
            ],
        )
        self._wait_ready(
            "kube-apiserver",
            proc,
            lambda: _http_ok(f"{self.url}/readyz", wd / "ca.crt", self.admin.token),
        )

    def _write_token_file(self) -> None:
        assert self.workdir is not None
        users = [self.admin, *self.service_accounts.values()]
        path = self.workdir / "tokens.csv"
        path.write_text("".join(u.csv_line() + "\n" for u in users))
        path.chmod(0o600)

    # -- credentials -------------------------------------------------------

    @property
    def ca_file(self) -> Path:
        """The CA that signed the API server's serving certificate."""
        assert self.workdir is not None, "control plane not started"
        return self.workdir / "ca.crt"

    @property
    def admin_kubeconfig(self) -> Path:
        """Path of the admin (system:masters) kubeconfig."""
        assert self.workdir is not None, "control plane not started"
        return self.workdir / "admin.kubeconfig"

    def write_kubeconfig(self, path: Path, user: TokenUser) -> Path:
        """Write a self-contained kubeconfig for ``user`` (JSON, which is valid YAML)."""
        ca_data = base64.b64encode(self.ca_file.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "spectare-test",
                    "cluster": {"server": self.url, "certificate-authority-data": ca_data},
                }
            ],
            "users": [{"name": user.name, "user": {"token": user.token}}],
            "contexts": [
                {
                    "name": "spectare-test",
                    "context": {
                        "cluster": "spectare-test",
                        "user": user.name,
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "spectare-test",
        }
        path = Path(path)
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    def service_account_token(
        self, namespace: str, name: str, expiration_seconds: int = 3600
    ) -> str:
        """A bearer token for ServiceAccount ``namespace/name``.

        Pre-registered users get their static token.  Any other ServiceAccount
        is created if missing and gets a real token from the TokenRequest API.
        """
        static = self.service_accounts.get((namespace, name))
        if static:
            return static.token
        http = self.http()
        base = f"/api/v1/namespaces/{namespace}/serviceaccounts"
        try:
            http.request(
                "POST",
                base,
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
            )
        except ApiError as exc:
            if exc.status != 409:
                raise
        answer = http.request(
            "POST",
            f"{base}/{name}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": expiration_seconds},
            },
        )
        return str(answer["status"]["token"])

    def service_account_kubeconfig(
        self, namespace: str, name: str, path: Path | None = None
    ) -> Path:
        """Write a kubeconfig for ServiceAccount ``namespace/name``; return its path."""
        assert self.workdir is not None, "control plane not started"
        user = TokenUser(
            f"system:serviceaccount:{namespace}:{name}",
            (),
            self.service_account_token(namespace, name),
        )
        return self.write_kubeconfig(
            path or self.workdir / f"sa-{namespace}-{name}.kubeconfig", user
        )

    def http(self, token: str | None = None) -> KubeHTTP:
        """A plain-HTTP JSON client; admin unless another token is given."""
        assert self.workdir is not None, "control plane not started"
        return KubeHTTP(self.url, self.ca_file, token or self.admin.token)

    def api_client(self, token: str | None = None) -> Any:
        """A ``kubernetes.client.ApiClient``; admin unless another token is given."""
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        config.ssl_ca_cert = str(self.ca_file)
        config.api_key = {"authorization": f"Bearer {token or self.admin.token}"}
        config.connection_pool_maxsize = 16  # the test kubelet calls from several threads
        return client.ApiClient(config)


class ApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.body = body


class KubeHTTP:
    """A small thread-safe JSON client for the API server, on plain HTTP (urllib3).

    The test kubelet uses it instead of the generated client: raw dicts, explicit
    patch types and streaming watches it can interrupt.
    """

    MERGE_PATCH = "application/merge-patch+json"
    STRATEGIC_PATCH = "application/strategic-merge-patch+json"

    def __init__(self, url: str, ca_file: Path, token: str, maxsize: int = 16) -> None:
        import urllib3

        self.url = url
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._pool = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED", ca_certs=str(ca_file), maxsize=maxsize, retries=False
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        """Send one request; return the decoded JSON answer or raise ApiError."""
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        response = self._pool.request(
            method, self._full(path, query), body=data, headers=headers, timeout=timeout
        )
        decoded = _decode(response.data)
        if not 200 <= response.status < 300:
            raise ApiError(method, path, response.status, decoded)
        return decoded

    def stream(self, path: str, query: dict[str, Any], timeout: float) -> Any:
        """Open a streaming GET (a watch); the caller reads and releases the response."""
        response = self._pool.request(
            "GET",
            self._full(path, query),
            headers=self._headers,
            timeout=timeout,
            preload_content=False,
        )
        if not 200 <= response.status < 300:
            body = _decode(response.data)
            response.release_conn()
            raise ApiError("GET", path, response.status, body)
        return response

    def _full(self, path: str, query: dict[str, Any] | None) -> str:
        from urllib.parse import urlencode

        pairs = {k: v for k, v in (query or {}).items() if v not in (None, "")}
        return self.url + path + (f"?{urlencode(pairs)}" if pairs else "")


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data.decode("utf-8", "replace")


def _http_ok(url: str, ca_file: Path | None = None, token: str | None = None) -> bool:
    """True if GET ``url`` answers 200 within a second."""
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=1.0, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``build``: build or confirm the cached binaries; exit 1 with the reason on failure."""
    parser = argparse.ArgumentParser(prog="controlplane.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or confirm the cache of) kube-apiserver, etcd and helm")
    sub.add_parser("start", help="run a control plane until interrupted (for manual poking)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "start":
        return _serve()
    if args.command == "build":
        try:
            paths = ensure_binaries()
        except BuildError as exc:
            print(f"[controlplane] BUILD FAILED: {exc}", file=sys.stderr, flush=True)
            return 1
        for name, path in paths.items():
            print(f"{name}={path}")
    return 0


def _serve() -> int:
    """Run a control plane in the foreground until SIGINT/SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with ControlPlane(keep_workdir=False) as plane:
            print(f"export KUBECONFIG={plane.admin_kubeconfig}", flush=True)
            stop.wait()
    except (BuildError, ControlPlaneError) as exc:
        print(f"[controlplane] {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
