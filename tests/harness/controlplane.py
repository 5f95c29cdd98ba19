"""A real Kubernetes control plane for tests: etcd and kube-apiserver.

The binaries come from ``harness.gobuild`` (built from their Go modules, cached
under ``${SPECTARE_CACHE_DIR:-~/.cache/spectare}/bin/``).  Build (or confirm the
cache) from CI before pytest; it exits 1 with the reason when a build fails::

    python tests/harness/controlplane.py build   # control plane, helm and node binaries
    python tests/harness/controlplane.py start   # a control plane to poke at by hand

``SPECTARE_KEEP_CONTROLPLANE=1`` keeps the work dir (logs, certs, etcd data)
after stop.  A start that fails keeps its work dir and prints the logs.

By default only etcd and kube-apiserver run, on loopback; ``harness.cluster``
adds a real node and the controllers (``node_ip``).  Without them: nothing
garbage-collects by owner reference, no ReplicaSet/Deployment/endpoints
controller acts, and a deleted namespace stays ``Terminating`` (tests use fresh
namespaces and never wait for one to go).  Pods stay ``Pending``; a pod bound
to a node is only marked deleted and whoever plays the kubelet
(``harness.kubelet.TestKubelet``) must finish the deletion.  ServiceAccount
admission is off, so identities come from a static token file: an admin in
``system:masters`` and ServiceAccount-like users registered before start; RBAC
binds everyone else, and other ServiceAccounts get real tokens through the
TokenRequest API (``service_account_kubeconfig``).  CRDs become Established
without anything else: the API server runs the apiextensions machinery.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: make the `harness` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.gobuild import ALL_BINARIES, ETCD, KUBE_APISERVER, BuildError, ensure_binaries
from harness.kubeclient import ApiError, KubeHTTP, http_ok, write_kubeconfig
from harness.pki import Pki, TokenUser, service_account_user, write_control_plane_pki
from harness.procs import ProcessDied, Supervisor, free_port, progress

log = logging.getLogger("spectare.harness.controlplane")

# Users pre-registered in the token file when the caller names none.
DEFAULT_SERVICE_ACCOUNTS: tuple[str, ...] = ("spectare:spectare-operator",)

ADMIN_USER = "spectare-admin"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"


class ControlPlaneError(RuntimeError):
    """The control plane could not start; the message carries the log tails."""


class ControlPlane:
    """etcd and kube-apiserver, with a static-token admin and SA-like users.

    A context manager; or call start() and stop() from a thread that outlives it
    (the servers get SIGKILL when the thread that started them ends).
    ``service_accounts`` are ``"<namespace>:<name>"`` users for the token file.
    With ``node_ip`` (an address of this machine that pods reach, never loopback)
    the API server listens there instead, with ServiceAccount admission,
    Node+RBAC authorization, client certificates, the ``kubernetes`` Service's
    endpoints kept, and kubelets reached on their InternalIP.
    """

    def __init__(
        self,
        service_accounts: Sequence[str] = DEFAULT_SERVICE_ACCOUNTS,
        startup_timeout: float = 90.0,
        extra_apiserver_args: Sequence[str] = (),
        keep_workdir: bool | None = None,
        node_ip: str | None = None,
    ) -> None:
        self.startup_timeout = startup_timeout
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.node_ip = node_ip
        self.keep_workdir = (
            os.environ.get("SPECTARE_KEEP_CONTROLPLANE") == "1"
            if keep_workdir is None
            else keep_workdir
        )
        self.admin = TokenUser(ADMIN_USER, ("system:masters",), secrets.token_urlsafe(32))
        self.service_accounts: dict[tuple[str, str], TokenUser] = {}
        for entry in service_accounts:
            namespace, _, name = entry.partition(":")
            if not namespace or not name:
                raise ValueError(f"service account {entry!r} is not '<namespace>:<name>'")
            self.service_accounts[(namespace, name)] = service_account_user(namespace, name)
        self.workdir: Path | None = None
        self.pki: Pki | None = None
        self.url = ""
        self.etcd_url = ""
        self._servers: Supervisor | None = None

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
                    progress("controlplane", f"start failed: {exc}")
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
        self._servers = Supervisor(self.workdir, "controlplane")
        try:
            self.pki = write_control_plane_pki(self.workdir, [self.node_ip] if self.node_ip else [])
            self._write_token_file()
            self._start_etcd(paths["etcd"])
            self._start_apiserver(paths["kube-apiserver"])
            self.write_kubeconfig(self.admin_kubeconfig, self.admin)
        except ProcessDied as exc:
            self.stop(keep_workdir=True)  # its logs are in the error and stay on disk
            raise ControlPlaneError(str(exc)) from None
        except BaseException:
            self.stop(keep_workdir=True)
            raise

    def stop(self, keep_workdir: bool | None = None) -> None:
        """Stop kube-apiserver, then etcd, and remove the work directory (unless kept)."""
        if self._servers:
            self._servers.stop_all()
        keep = self.keep_workdir if keep_workdir is None else keep_workdir
        if self.workdir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif self.workdir:
            log.info("kept control plane workdir=%s", self.workdir)

    def logs(self) -> str:
        """The tails of both log files, labelled."""
        return self._servers.logs(["etcd", "kube-apiserver"]) if self._servers else ""

    # -- servers -----------------------------------------------------------

    def _start_etcd(self, binary: Path) -> None:
        assert self.workdir is not None and self._servers is not None
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        proc = self._servers.spawn(
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
        self._servers.wait_ready(
            "etcd", proc, lambda: http_ok(f"{self.etcd_url}/health"), self.startup_timeout
        )

    def _mode_args(self) -> list[str]:
        """The flags that differ between a bare control plane and one with a real node."""
        wd = self.workdir
        assert wd is not None and self.pki is not None
        if not self.node_ip:
            return [
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--authorization-mode=RBAC",
                "--disable-admission-plugins=ServiceAccount",
                # No controller-manager maintains the kubernetes Service endpoints.
                "--endpoint-reconciler-type=none",
            ]
        cert, key = self.pki.issue(
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            ["system:masters"],
            client=True,
        )
        return [
            # Pods reach the API server through the `kubernetes` Service, whose endpoint
            # is the advertised address: the node IP, which is also where it listens.
            f"--bind-address={self.node_ip}",
            f"--advertise-address={self.node_ip}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--client-ca-file={self.pki.ca_file}",
            f"--kubelet-client-certificate={cert}",
            f"--kubelet-client-key={key}",
            f"--kubelet-certificate-authority={self.pki.ca_file}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
        ]

    def _start_apiserver(self, binary: Path) -> None:
        assert self.workdir is not None and self._servers is not None
        host = self.node_ip or "127.0.0.1"
        port = free_port(host)
        self.url = f"https://{host}:{port}"
        wd = self.workdir
        proc = self._servers.spawn(
            "kube-apiserver",
            [
                str(binary),
                f"--etcd-servers={self.etcd_url}",
                f"--secure-port={port}",
                f"--cert-dir={wd / 'apiserver-certs'}",
                f"--tls-cert-file={wd / 'serving.crt'}",
                f"--tls-private-key-file={wd / 'serving.key'}",
                f"--token-auth-file={wd / 'tokens.csv'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={wd / 'sa.pub'}",
                f"--service-account-signing-key-file={wd / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=true",
                # Fairness queues would throttle the scale benchmark, and nothing competes here.
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--v=1",
                *self._mode_args(),
                *self.extra_apiserver_args,
            ],
        )
        self._servers.wait_ready(
            "kube-apiserver",
            proc,
            lambda: http_ok(f"{self.url}/readyz", wd / "ca.crt", self.admin.token),
            self.startup_timeout,
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
        return write_kubeconfig(path, self.url, self.ca_file, user.name, token=user.token)

    def client_kubeconfig(self, stem: str, cn: str, orgs: Sequence[str] = ()) -> Path:
        """Issue a client certificate for ``cn``/``orgs``; write ``<stem>.kubeconfig`` for it."""
        assert self.workdir is not None and self.pki is not None, "control plane not started"
        cert, key = self.pki.issue(stem, cn, orgs, client=True)
        return write_kubeconfig(
            self.workdir / f"{stem}.kubeconfig",
            self.url,
            self.ca_file,
            cn,
            cert_file=cert,
            key_file=key,
        )

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
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        try:
            http.request("POST", base, account)
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


def main(argv: Sequence[str] | None = None) -> int:
    """``build``: build or confirm the cached binaries; exit 1 with the reason on failure."""
    parser = argparse.ArgumentParser(prog="controlplane.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or confirm the cache of) every harness binary")
    sub.add_parser("start", help="run a control plane until interrupted (for manual poking)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "start":
        return _serve()
    try:
        paths = ensure_binaries(ALL_BINARIES)
    except BuildError as exc:
        progress("controlplane", f"BUILD FAILED: {exc}")
        return 1
    print("".join(f"{name}={path}\n" for name, path in paths.items()), end="")
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
        return 0
    except (BuildError, ControlPlaneError) as exc:
        progress("controlplane", str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
