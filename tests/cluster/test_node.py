"""The single-node cluster behaves like Kubernetes does for a user.

Covered, each as a user would check it:

* the node registers and becomes Ready, with the node IP as its InternalIP;
* a pod of a locally imported image runs and gets a pod IP it answers on;
* a ClusterIP Service in front of it answers from the host (kube-proxy);
* a Deployment's deleted pod is replaced by its ReplicaSet;
* deleting an owner deletes its dependents (garbage collector), and a deleted
  namespace goes away with its pods (namespace controller and kubelet);
* a pod's ServiceAccount token is mounted and valid, and the pod reaches the
  API server through the ``kubernetes`` Service.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any

import pytest

from harness.cluster import Cluster
from harness.kubeclient import ApiError
from harness.node import NODE_CIDR
from harness.procs import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def _apply(cluster: Cluster, namespace: str, *objects: dict[str, Any]) -> None:
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)


def _container(cluster: Cluster, name: str, *args: str) -> dict[str, Any]:
    """A container of the probe image (``imagePullPolicy: Never``: it was imported)."""
    return {"name": name, "image": cluster.probe_image, "imagePullPolicy": "Never",
            "args": list(args)}  # fmt: skip


def _server_pod(cluster: Cluster, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [_container(cluster, "server", "serve", "8080")],
            "terminationGracePeriodSeconds": 1,
        },
    }


def _read_tcp(host: str, port: int) -> str:
    """The greeting of the probe's TCP server, or "" if nothing answers yet."""
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            return conn.recv(200).decode()
    except OSError:
        return ""


def _pods(cluster: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    answer = cluster.http.request(
        "GET", f"/api/v1/namespaces/{namespace}/pods", query={"labelSelector": selector}
    )
    return list(answer["items"])


def _gone(cluster: Cluster, path: str) -> bool:
    try:
        cluster.http.request("GET", path)
    except ApiError as exc:
        return exc.status == 404
    return False


def test_node_becomes_ready_with_the_node_ip(cluster: Cluster) -> None:
    node = json.loads(cluster.kubectl("get", "node", cluster.node_name, "-o", "json").stdout)
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert ready == "True"
    assert addresses["InternalIP"] == cluster.node_ip
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_pod_of_imported_image_runs_and_answers_on_its_ip(
    cluster: Cluster, cluster_namespace: str
) -> None:
    _apply(cluster, cluster_namespace, _server_pod(cluster, "web", {"app": "web"}))
    pod = cluster.wait_pod(cluster_namespace, "web")
    pod_ip = pod["status"]["podIP"]
    assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network(NODE_CIDR)
    assert pod_ip != cluster.node_ip
    greeting = wait_until(lambda: _read_tcp(pod_ip, 8080), 30, "the pod to answer")
    assert greeting.strip() == "spectare-probe web"


def test_cluster_ip_service_answers_from_the_host(cluster: Cluster, cluster_namespace: str) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    _apply(cluster, cluster_namespace, _server_pod(cluster, "web-0", {"app": "web"}), service)
    cluster.wait_pod(cluster_namespace, "web-0")
    cluster_ip = cluster.http.request(
        "GET", f"/api/v1/namespaces/{cluster_namespace}/services/web"
    )["spec"]["clusterIP"]
    greeting = wait_until(lambda: _read_tcp(cluster_ip, 80), 60, "the Service to answer")
    assert greeting.strip() == "spectare-probe web-0"


def _deployment(cluster: Cluster) -> dict[str, Any]:
    template = _server_pod(cluster, "", {"app": "dep"})
    del template["metadata"]["name"]
    del template["apiVersion"], template["kind"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "dep"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "dep"}}, "template": template},
    }


def _running(cluster: Cluster, namespace: str, selector: str) -> list[str]:
    return [
        p["metadata"]["name"]
        for p in _pods(cluster, namespace, selector)
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]


def test_deleted_pod_of_a_deployment_is_replaced(cluster: Cluster, cluster_namespace: str) -> None:
    _apply(cluster, cluster_namespace, _deployment(cluster))
    first = wait_until(lambda: _running(cluster, cluster_namespace, "app=dep"), 90, "a pod")
    cluster.kubectl("delete", "pod", "-n", cluster_namespace, first[0], "--wait=false")
    replaced = wait_until(
        lambda: [n for n in _running(cluster, cluster_namespace, "app=dep") if n != first[0]],
        90,
        "a replacement pod",
    )
    owner = _pods(cluster, cluster_namespace, "app=dep")[0]["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "ReplicaSet"
    assert len(replaced) == 1


def test_deleting_an_owner_deletes_its_dependents(cluster: Cluster, cluster_namespace: str) -> None:
    _apply(cluster, cluster_namespace, _deployment(cluster))
    wait_until(lambda: _running(cluster, cluster_namespace, "app=dep"), 90, "a pod")
    owner = cluster.http.request(
        "POST",
        f"/api/v1/namespaces/{cluster_namespace}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}},
    )
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                 "uid": owner["metadata"]["uid"]}  # fmt: skip
    cluster.http.request(
        "POST",
        f"/api/v1/namespaces/{cluster_namespace}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "dependent", "ownerReferences": [reference]}},
    )  # fmt: skip

    cluster.kubectl("delete", "configmap", "-n", cluster_namespace, "owner")
    cluster.kubectl("delete", "deployment", "-n", cluster_namespace, "dep", "--wait=false")

    base = f"/api/v1/namespaces/{cluster_namespace}"
    wait_until(lambda: _gone(cluster, f"{base}/configmaps/dependent"), 60, "the dependent")
    wait_until(
        lambda: (
            not _pods(cluster, cluster_namespace, "app=dep")
            and not cluster.http.request(
                "GET", f"/apis/apps/v1/namespaces/{cluster_namespace}/replicasets"
            )["items"]
        ),
        90,
        "the Deployment's ReplicaSet and pods to go",
    )


def test_deleted_namespace_goes_away_with_its_pods(cluster: Cluster) -> None:
    namespace = cluster.create_namespace()
    _apply(cluster, namespace, _server_pod(cluster, "web", {"app": "web"}))
    cluster.wait_pod(namespace, "web")
    cluster.http.request("DELETE", f"/api/v1/namespaces/{namespace}")
    wait_until(lambda: _gone(cluster, f"/api/v1/namespaces/{namespace}"), 120, "the namespace")


def test_service_account_token_is_mounted_and_reaches_the_api_server(
    cluster: Cluster, cluster_namespace: str
) -> None:
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "reader"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                           "name": "reader"},
               "subjects": [{"kind": "ServiceAccount", "name": "reader"}]}  # fmt: skip
    api = _container(cluster, "api", "http", "$(KUBERNETES_SERVICE_HOST)",
                     "$(KUBERNETES_SERVICE_PORT)", "/version")  # fmt: skip
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "client"},
        "spec": {
            "serviceAccountName": "reader",
            "terminationGracePeriodSeconds": 1,
            "containers": [_container(cluster, "token", "cat", SA_TOKEN), api],
        },
    }
    _apply(cluster, cluster_namespace, account, role, binding, pod)
    cluster.wait_pod(cluster_namespace, "client")

    def logs(container: str) -> str:
        done = cluster.kubectl("logs", "-n", cluster_namespace, "client", "-c", container)
        return done.stdout.strip()

    # Through the `kubernetes` Service (a ClusterIP kube-proxy maps to the API server on
    # the node IP) the probe reaches a TLS server: the API server, refusing plain HTTP.
    answer = wait_until(lambda: logs("api"), 30, "the API server's answer")
    assert "Client sent an HTTP request to an HTTPS server" in answer
    token = wait_until(lambda: logs("token"), 30, "the token")

    review = cluster.http.request(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
         "spec": {"token": token}},
    )  # fmt: skip
    assert review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == (
        f"system:serviceaccount:{cluster_namespace}:reader"
    )
    as_pod = cluster.plane.http(token) if cluster.plane else None
    assert as_pod is not None
    pods = as_pod.request("GET", f"/api/v1/namespaces/{cluster_namespace}/pods")["items"]
    assert [p["metadata"]["name"] for p in pods] == ["client"]
