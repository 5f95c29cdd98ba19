"""The test harness itself: a real API server and the test kubelet that runs pods as processes.

Covers: a pod's exit code makes it Failed (137 after SIGKILL), a missing executable
fails it, a running pod reports Running and keeps its output; its environment comes
from Secrets, ConfigMaps and fields, and a missing required Secret holds it until the
Secret exists; deleting a pod kills its process, after the grace period for one that
ignores SIGTERM; label selectors and the mark-only mode; stopping the kubelet ends
every process; RBAC binds a ServiceAccount's user, and tokens are refused for an
unregistered ServiceAccount.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import controlplane, kubelet
from harness.kubeclient import ApiError, KubeHTTP
from harness.procs import wait_until

pytestmark = pytest.mark.k8s

TIMEOUT = 30.0
OPERATOR = ("spectare", "spectare-operator")  # pre-registered by the control_plane fixture


def pod_manifest(
    name: str,
    command: list[str],
    *,
    env: list[dict[str, Any]] | None = None,
    args: list[str] | None = None,
    labels: dict[str, str] | None = None,
    grace: int | None = None,
) -> dict[str, Any]:
    """A one-container pod as the operator would create it."""
    container: dict[str, Any] = {
        "name": "main",
        "image": "example.invalid/unused:1",
        "command": command,
    }
    if args:
        container["args"] = args
    if env:
        container["env"] = env
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": "harness-test"}},
        "spec": spec,
    }


def create_pod(kube: KubeHTTP, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    return dict(kube.request("POST", f"/api/v1/namespaces/{namespace}/pods", manifest))


def get_pod(kube: KubeHTTP, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return dict(kube.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}"))
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def wait_for_phase(kube: KubeHTTP, namespace: str, name: str, *phases: str) -> dict[str, Any]:
    """Wait until the pod reaches one of ``phases``; return it."""

    def reached() -> dict[str, Any] | None:
        pod = get_pod(kube, namespace, name)
        return pod if pod and pod.get("status", {}).get("phase") in phases else None

    return dict(wait_until(reached, TIMEOUT, f"pod {name} to be {'/'.join(phases)}"))


def terminated(pod: dict[str, Any]) -> dict[str, Any]:
    return dict(pod["status"]["containerStatuses"][0]["state"]["terminated"])


def test_exit_code_makes_pod_failed(
    kube: KubeHTTP, namespace: str, start_kubelet: Callable[..., kubelet.TestKubelet]
) -> None:
    start_kubelet()
    create_pod(kube, namespace, pod_manifest("exit3", ["sh", "-c", "exit 3"]))

    pod = wait_for_phase(kube, namespace, "exit3", "Failed", "Succeeded")

    assert pod["status"]["phase"] == "Failed"
    assert terminated(pod)["exitCode"] == 3
    assert pod["spec"]["nodeName"] == "test-node"


def test_missing_executable_fails_pod(
    kube: KubeHTTP, namespace: str, start_kubelet: Callable[..., kubelet.TestKubelet]
) -> None:
    start_kubelet()
    create_pod(kube, namespace, pod_manifest("nobin", ["spectare-no-such-binary"]))

    pod = wait_for_phase(kube, namespace, "nobin", "Failed", "Succeeded")

    assert pod["status"]["phase"] == "Failed"
    assert terminated(pod)["reason"] == "StartError"


def test_running_status_and_output_log(
    kube: KubeHTTP, namespace: str, start_kubelet: Callable[..., kubelet.TestKubelet]
) -> None:
    node = start_kubelet()
    create_pod(kube, namespace, pod_manifest("echo", ["sh", "-c", "echo hello; exec sleep 600"]))

    pod = wait_for_phase(kube, namespace, "echo", "Running")

    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] is True and "startedAt" in status["state"]["running"]
    assert pod["status"]["podIP"] == "127.0.0.1"
    wait_until(lambda: "hello" in node.read_log("echo"), TIMEOUT, "the pod's output")


def test_env_from_secret_configmap_and_fields(
    kube: KubeHTTP,
    namespace: str,
    tmp_path: Path,
    start_kubelet: Callable[..., kubelet.TestKubelet],
) -> None:
    kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"password": "s3cr3t value"},
        },
    )
    kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"mode": "continuous"},
        },
    )
    out = tmp_path / "env.txt"
    env: list[dict[str, Any]] = [
        {"name": "OUT", "value": str(out)},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
        {
            "name": "MISSING",
            "valueFrom": {"secretKeyRef": {"name": "nope", "key": "x", "optional": True}},
        },
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "GREETING", "value": "hi-$(POD_NAME)"},
    ]
    start_kubelet()
    create_pod(
        kube, namespace, pod_manifest("envpod", ["sh", "-c"], args=['env > "$OUT"'], env=env)
    )

    pod = wait_for_phase(kube, namespace, "envpod", "Succeeded", "Failed")

    assert pod["status"]["phase"] == "Succeeded", pod["status"]
    seen = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert seen["PASSWORD"] == "s3cr3t value"
    assert seen["MODE"] == "continuous"
    assert seen["POD_NAME"] == "envpod"
    assert seen["POD_NAMESPACE"] == namespace
    assert seen["NODE_NAME"] == "test-node"
    assert seen["POD_IP"] == "127.0.0.1"
    assert seen["GREETING"] == "hi-envpod"
    assert "MISSING" not in seen
    assert seen["PATH"] == os.environ["PATH"]  # the test's own environment underneath


def test_missing_required_secret_waits_then_starts(
    kube: KubeHTTP,
    namespace: str,
    start_kubelet: Callable[..., kubelet.TestKubelet],
) -> None:
    start_kubelet()
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "later", "key": "t"}}}]
    create_pod(kube, namespace, pod_manifest("waits", ["sh", "-c", 'test "$TOKEN" = ok'], env=env))

    def config_error() -> bool:
        pod = get_pod(kube, namespace, "waits") or {}
        statuses = pod.get("status", {}).get("containerStatuses") or [{}]
        waiting = statuses[0].get("state", {}).get("waiting", {})
        return bool(waiting.get("reason") == "CreateContainerConfigError")

    wait_until(config_error, TIMEOUT, "CreateContainerConfigError")
    kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "later"},
            "stringData": {"t": "ok"},
        },
    )

    assert (
        wait_for_phase(kube, namespace, "waits", "Succeeded", "Failed")["status"]["phase"]
        == "Succeeded"
    )


def test_deleting_running_pod_kills_process_and_removes_pod(
    kube: KubeHTTP,
    namespace: str,
    start_kubelet: Callable[..., kubelet.TestKubelet],
) -> None:
    node = start_kubelet()
    create_pod(kube, namespace, pod_manifest("sleeper", ["sleep", "600"]))
    wait_for_phase(kube, namespace, "sleeper", "Running")
    run = node.pod_run("sleeper")
    assert run is not None and run.process is not None
    pid = node.wait_for_pid("sleeper")

    kube.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/sleeper")

    wait_until(lambda: get_pod(kube, namespace, "sleeper") is None, TIMEOUT, "pod to go away")
    assert run.process.poll() == -signal.SIGTERM
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_process_ignoring_sigterm_is_killed_after_grace_period(
    kube: KubeHTTP,
    namespace: str,
    start_kubelet: Callable[..., kubelet.TestKubelet],
) -> None:
    node = start_kubelet()
    # The shell and its child both ignore SIGTERM: only SIGKILL to the group ends them.
    create_pod(
        kube,
        namespace,
        pod_manifest(
            "stubborn", ["sh", "-c", "trap '' TERM; sleep 600; echo unreachable"], grace=1
        ),
    )
    wait_for_phase(kube, namespace, "stubborn", "Running")
    run = node.pod_run("stubborn")
    assert run is not None and run.process is not None

    kube.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/stubborn")

    wait_until(lambda: get_pod(kube, namespace, "stubborn") is None, TIMEOUT, "pod to go away")
    assert run.process.poll() == -signal.SIGKILL


def test_sigkilled_process_fails_pod_with_137(
    kube: KubeHTTP,
    namespace: str,
    start_kubelet: Callable[..., kubelet.TestKubelet],
) -> None:
    node = start_kubelet()
    create_pod(kube, namespace, pod_manifest("victim", ["sleep", "600"]))
    wait_for_phase(kube, namespace, "victim", "Running")

    node.signal_pod("victim", signal.SIGKILL)

    pod = wait_for_phase(kube, namespace, "victim", "Failed")
    assert terminated(pod)["exitCode"] == 137


def test_label_selector_and_mark_only_mode(
    kube: KubeHTTP,
    namespace: str,
    start_kubelet: Callable[..., kubelet.TestKubelet],
) -> None:
    node = start_kubelet(label_selector="app=mine", run_processes=False)
    create_pod(kube, namespace, pod_manifest("mine", ["false"], labels={"app": "mine"}))
    create_pod(kube, namespace, pod_manifest("other", ["false"], labels={"app": "other"}))

    wait_for_phase(kube, namespace, "mine", "Running")
    assert node.pid("mine") is None  # nothing was run

    other = get_pod(kube, namespace, "other")
    assert other is not None and other["status"]["phase"] == "Pending"
    assert not other["spec"].get("nodeName")
    kube.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/mine")
    wait_until(lambda: get_pod(kube, namespace, "mine") is None, TIMEOUT, "pod to go away")


def test_stop_terminates_every_process(
    control_plane: controlplane.ControlPlane,
    kube: KubeHTTP,
    namespace: str,
) -> None:
    node = kubelet.TestKubelet(control_plane, namespace).start()
    try:
        for name in ("a", "b"):
            create_pod(kube, namespace, pod_manifest(name, ["sleep", "600"]))
        for name in ("a", "b"):
            node.wait_for_pid(name)
        runs = [node.pod_run(name) for name in ("a", "b")]
    finally:
        node.stop()
    for run in runs:
        assert run is not None and run.process is not None
        assert run.process.poll() is not None


def _secret_lister(kubeconfig: Path) -> Callable[[str], int]:
    """List secrets with the official client and a kubeconfig; return the HTTP status."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))  # type: ignore[no-untyped-call]

    def list_secrets(namespace: str) -> int:
        try:
            api.list_namespaced_secret(namespace)
        except client.ApiException as exc:
            return int(exc.status)
        return 200

    return list_secrets


def _grant_secret_reading(
    kube: KubeHTTP,
    namespace: str,
    sa_namespace: str,
    sa_name: str,
) -> None:
    base = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    kube.request(
        "POST",
        f"{base}/roles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": f"read-secrets-{sa_name}"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
        },
    )
    kube.request(
        "POST",
        f"{base}/rolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"read-secrets-{sa_name}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": f"read-secrets-{sa_name}",
            },
            "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}],
        },
    )


def test_rbac_is_enforced_for_service_account_user(
    control_plane: controlplane.ControlPlane,
    kube: KubeHTTP,
    namespace: str,
) -> None:
    list_secrets = _secret_lister(control_plane.service_account_kubeconfig(*OPERATOR))
    assert list_secrets(namespace) == 403

    _grant_secret_reading(kube, namespace, *OPERATOR)

    wait_until(lambda: list_secrets(namespace) == 200, TIMEOUT, "the RoleBinding to apply")
    assert _secret_lister(control_plane.admin_kubeconfig)(namespace) == 200


def test_token_request_for_unregistered_service_account(
    control_plane: controlplane.ControlPlane,
    kube: KubeHTTP,
    namespace: str,
) -> None:
    list_secrets = _secret_lister(control_plane.service_account_kubeconfig(namespace, "worker"))
    assert list_secrets(namespace) == 403

    _grant_secret_reading(kube, namespace, namespace, "worker")

    wait_until(lambda: list_secrets(namespace) == 200, TIMEOUT, "the RoleBinding to apply")
