"""Operator at scale: 1,000 Cameras on a real API server, pods only marked Running.

    .venv/bin/python bench/operator_scale.py [--cameras 1000]

Starts etcd + kube-apiserver (tests/harness/controlplane.py) with an audit log,
installs deploy/crd.yaml, binds the Role of deploy/rbac.yaml to the operator's
ServiceAccount, starts the test kubelet in mark-only mode (``run_processes=False``)
and ``spectare operator`` as a subprocess authenticated as that ServiceAccount.
Then it creates the Cameras (admin, 16 threads) and measures:

- seconds from the first Camera create until all worker pods exist, and until
  every Camera has a status phase;
- the operator's peak RSS (VmHWM of its process);
- the operator's API requests per camera, counted from the audit log by user.

Targets: all pods within 60 s, peak RSS within 200 MB. Results go to
bench/results/operator_scale.md.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import yaml  # noqa: E402

from harness.controlplane import ControlPlane  # noqa: E402
from harness.kubeclient import KubeHTTP  # noqa: E402
from harness.kubelet import TestKubelet  # noqa: E402
from harness.procs import wait_until  # noqa: E402

SA = ("spectare", "spectare-operator")
SA_USER = "system:serviceaccount:spectare:spectare-operator"
SELECTOR = "app.kubernetes.io/managed-by=spectare"
NAMESPACE = "bench"
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""


def setup(plane: ControlPlane, kube: KubeHTTP) -> None:
    """Namespace, CRD, the deploy/ Role bound to the operator in the bench namespace."""
    kube.request(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
    )
    crd = yaml.safe_load((ROOT / "deploy" / "crd.yaml").read_text())
    kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    wait_until(lambda: _ok(kube, "/apis/spectare.io/v1alpha1/cameras"), 60, "the CRD")
    for doc in yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()):
        if doc["kind"] in ("Role", "RoleBinding"):
            doc["metadata"]["namespace"] = NAMESPACE
            plural = "roles" if doc["kind"] == "Role" else "rolebindings"
            kube.request(
                "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/{plural}", doc
            )


def _ok(kube: KubeHTTP, path: str) -> bool:
    try:
        kube.request("GET", path)
    except Exception:
        return False
    return True


def start_operator(plane: ControlPlane, work: Path) -> Any:
    import subprocess

    env = dict(os.environ)
    env.update(
        KUBECONFIG=str(plane.service_account_kubeconfig(*SA)),
        SPECTARE_NAMESPACE=NAMESPACE,
        SPECTARE_STORE=f"sqlite:///{work / 'spectare.db'}",
        SPECTARE_FOOTAGE_DIR=str(work / "footage"),
        SPECTARE_HEALTH_HOST="127.0.0.1",
        SPECTARE_HEALTH_PORT="0",
        SPECTARE_LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "warning"),
    )
    log = open(work / "operator.log", "wb")  # noqa: SIM115 - closed by the caller's exit
    return subprocess.Popen(
        [
            sys.executable,
            "-P",
            "-c",
            "from spectare.logs import setup_logging; "
            "import os; setup_logging(os.environ['SPECTARE_LOG_LEVEL']); "
            "from spectare.operator import run; run()",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=work,
    )


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


class PodCounter:
    """Counts worker pods cheaply: metadata only, from the watch cache (resourceVersion=0),
    so that polling does not itself load the API server being measured."""

    def __init__(self, plane: ControlPlane) -> None:
        import urllib3

        self.url = f"{plane.url}/api/v1/namespaces/{NAMESPACE}/pods"
        self.headers = {"Authorization": f"Bearer {plane.admin.token}", "Accept": METADATA_ONLY}
        self.pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(plane.ca_file))

    def __call__(self) -> int:
        answer = self.pool.request(
            "GET",
            self.url,
            fields={"labelSelector": SELECTOR, "resourceVersion": "0"},
            headers=self.headers,
        )
        return len(json.loads(answer.data)["items"] or [])


def count_phased(kube: KubeHTTP) -> int:
    listing = kube.request("GET", f"/apis/spectare.io/v1alpha1/namespaces/{NAMESPACE}/cameras")
    return sum(1 for c in listing["items"] if (c.get("status") or {}).get("phase"))


def audit_counts(path: Path, user: str) -> collections.Counter[str]:
    """Completed requests of ``user`` by verb and resource (watches counted once)."""
    counts: collections.Counter[str] = collections.Counter()
    with open(path) as log:
        for line in log:
            entry = json.loads(line)
            if entry.get("user", {}).get("username") != user:
                continue
            if entry.get("stage") not in ("ResponseComplete", "ResponseStarted"):
                continue
            if entry["stage"] == "ResponseStarted" and entry.get("verb") != "watch":
                continue
            if entry["stage"] == "ResponseComplete" and entry.get("verb") == "watch":
                continue
            ref = entry.get("objectRef") or {}
            resource = ref.get("resource", entry.get("requestURI", "?").split("?")[0])
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            counts[f"{entry['verb']} {resource}"] += 1
    return counts


def pod_selectors(path: Path, user: str) -> set[str]:
    """The labelSelector of every pod list/watch ``user`` made ('' for an unfiltered one)."""
    from urllib.parse import parse_qs, urlsplit

    seen = set()
    with open(path) as log:
        for line in log:
            entry = json.loads(line)
            ref = entry.get("objectRef") or {}
            if (
                entry.get("user", {}).get("username") == user
                and ref.get("resource") == "pods"
                and entry.get("verb") in ("list", "watch")
            ):
                query = parse_qs(urlsplit(entry["requestURI"]).query)
                seen.add(query.get("labelSelector", [""])[0])
    return seen


def run(cameras: int) -> dict[str, Any]:
    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="spectare-bench-operator-"))
    print(f"work dir {work}", file=sys.stderr)
    (work / "footage").mkdir()
    audit = work / "audit.log"
    (work / "audit-policy.yaml").write_text(AUDIT_POLICY)
    args = [
        f"--audit-policy-file={work / 'audit-policy.yaml'}",
        f"--audit-log-path={audit}",
        "--audit-log-format=json",
        "--audit-log-mode=batch",
    ]
    with ControlPlane(extra_apiserver_args=args) as plane:
        kube = plane.http()
        setup(plane, kube)
        with TestKubelet(
            plane, NAMESPACE, label_selector=SELECTOR, run_processes=False, workers=16
        ):
            operator = start_operator(plane, work)
            try:
                time.sleep(3)  # let it list and settle; its requests are counted too
                assert operator.poll() is None, (work / "operator.log").read_text()
                started = time.monotonic()
                body = {
                    "apiVersion": "spectare.io/v1alpha1",
                    "kind": "Camera",
                    "spec": {"url": "rtsp://10.0.0.1:554/stream"},
                }
                path = f"/apis/spectare.io/v1alpha1/namespaces/{NAMESPACE}/cameras"
                with ThreadPoolExecutor(16) as pool:
                    list(
                        pool.map(
                            lambda i: kube.request(
                                "POST", path, {**body, "metadata": {"name": f"cam-{i:04d}"}}
                            ),
                            range(cameras),
                        )
                    )
                created = time.monotonic() - started
                count_pods = PodCounter(plane)
                wait_until(lambda: count_pods() >= cameras, 600, "all pods", interval=0.5)
                pods_at = time.monotonic() - started
                wait_until(lambda: count_phased(kube) >= cameras, 600, "all statuses", interval=3.0)
                status_at = time.monotonic() - started
                time.sleep(5)  # quiet period: nothing more should happen
                assert count_pods() == cameras, "duplicate pods"
                rss = peak_rss_mb(operator.pid)
                cpu = _cpu_seconds(operator.pid)
            finally:
                operator.terminate()
                operator.wait(30)
        time.sleep(2)  # the batch audit backend flushes
        counts = audit_counts(audit, SA_USER)
        selectors = pod_selectors(audit, SA_USER)
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(work, ignore_errors=True)  # BENCH_KEEP=1 keeps the audit log and logs
    return {
        "cameras": cameras,
        "create_seconds": created,
        "pods_seconds": pods_at,
        "status_seconds": status_at,
        "peak_rss_mb": rss,
        "cpu_seconds": cpu,
        "load": load,
        "selectors": selectors,
        "requests": counts,
    }


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{cpu}, {os.cpu_count()} cores, {mem} GB RAM, {platform.system()} {platform.release()}"


def report(result: dict[str, Any]) -> str:
    n = result["cameras"]
    counts: collections.Counter[str] = result["requests"]
    total = sum(counts.values())
    lines = [
        "# Operator scale benchmark",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        "- load average (1, 5, 15 min) when the run began: "
        + ", ".join(f"{x:.1f}" for x in result["load"])
        + " (the machine is shared; anything above ~1 means other work competed for the CPU)",
        f"- python {platform.python_version()}, kube-apiserver v1.32.13 + etcd v3.5.16 "
        "(tests/harness), test kubelet marking pods Running (no processes)",
        "- command: `.venv/bin/python bench/operator_scale.py"
        + (f" --cameras {n}`" if n != 1000 else "`"),
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| Cameras | {n} | |",
        f"| seconds to create the Cameras (16 client threads) | {result['create_seconds']:.1f} | |",
        f"| seconds until all {n} pods exist | {result['pods_seconds']:.1f} | <= 60 |",
        f"| seconds until every Camera has a status | {result['status_seconds']:.1f} | |",
        f"| operator peak RSS (VmHWM) | {result['peak_rss_mb']:.0f} MB | <= 200 MB |",
        f"| operator CPU seconds, whole run | {result['cpu_seconds']:.1f} | |",
        f"| operator API requests per camera | {total / n:.2f} | |",
        "",
        "Pod list/watch label selectors used by the operator (server-side filtering): "
        + ", ".join(f"`{x}`" if x else "NONE (unfiltered!)" for x in sorted(result["selectors"]))
        + ".",
        "",
        "Operator requests by verb and resource (from the apiserver audit log, user "
        f"`{SA_USER}`; a watch counts once):",
        "",
        "| request | count |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in counts.most_common()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "operator_scale.md"
    )
    args = parser.parse_args()
    result = run(args.cameras)
    text = report(result)
    print(text)
    if args.cameras == 1000 or args.out != parser.get_default("out"):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    ok = result["pods_seconds"] <= 60 and result["peak_rss_mb"] <= 200
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
