"""What the Helm chart renders in each mode, as a user installing it would check.

Covers: the default install; NFS, an existing claim and hostPath storage; an
external RethinkDB; the SQLite store on a single node (and refused on NFS, with
a reason); HA with distinct priorities per replica; ingress; the ServiceMonitor;
the API token from a value or an existing Secret; placement values reaching pods.
"""

from __future__ import annotations

import pytest

from chart.chartlib import env_of, find, helm, render_args
from chart.chartscenarios import (
    CLAIM,
    EXTERNAL_DB,
    HA,
    INGRESS,
    MONITOR,
    NFS,
    SQLITE,
    Rendered,
    pod_specs,
)
from spectare.operator.config import OperatorSettings

# -- what each mode renders --------------------------------------------------------------------


def test_default_render(rendered: Rendered) -> None:
    objs = rendered()
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objs)
    assert kinds == sorted([
        "ServiceAccount/spectare-operator", "ServiceAccount/spectare-worker",
        "ServiceAccount/spectare-api", "Role/spectare-operator", "RoleBinding/spectare-operator",
        "Secret/spectare-api-token", "Deployment/spectare-operator", "Deployment/spectare-api",
        "Service/spectare-api", "StatefulSet/spectare-rethinkdb", "Service/spectare-rethinkdb",
        "PersistentVolume/spectare-spectare-footage", "PersistentVolumeClaim/spectare-footage",
    ])  # fmt: skip
    operator = find(objs, "Deployment", "-operator")
    assert operator["spec"]["replicas"] == 1
    assert operator["spec"]["strategy"] == {"type": "Recreate"}
    container = operator["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["spectare", "operator"]
    env = env_of(container)
    assert "SPECTARE_PEERING" not in env  # standalone
    assert env["SPECTARE_STORE"] == "rethinkdb://spectare-rethinkdb:28015/spectare"
    assert env["SPECTARE_WORKER_FOOTAGE_CLAIM"] == "spectare-footage"
    assert env["SPECTARE_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["SPECTARE_WORKER_IMAGE"] == "spectare/spectare-worker:0.1.0"
    # Sized for a Raspberry Pi 4.
    assert env["SPECTARE_WORKER_CPU_REQUEST"] == "50m"
    assert env["SPECTARE_WORKER_MEMORY_REQUEST"] == "64Mi"
    assert env["SPECTARE_WORKER_CPU_LIMIT"] == "500m"
    assert env["SPECTARE_WORKER_MEMORY_LIMIT"] == "256Mi"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    api = find(objs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]
    assert api["command"] == ["spectare", "api"]
    assert env_of(api)["SPECTARE_API_HOST"] == "0.0.0.0"
    pv = find(objs, "PersistentVolume")
    assert pv["spec"]["hostPath"]["path"] == "/var/lib/spectare/footage"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    db = find(objs, "StatefulSet", "-rethinkdb")
    assert db["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "rethinkdb:2.4.4-bookworm-slim"
    )
    assert db["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]


def test_nfs_storage(rendered: Rendered) -> None:
    objs = rendered(*NFS)
    pv, pvc = find(objs, "PersistentVolume"), find(objs, "PersistentVolumeClaim")
    assert pv["spec"]["nfs"] == {"server": "nas.lan", "path": "/export/footage"}
    assert pv["spec"]["accessModes"] == pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    assert pv["spec"]["claimRef"]["name"] == pvc["metadata"]["name"]
    assert pvc["spec"]["storageClassName"] == "" == pv["spec"]["storageClassName"]
    assert "hostPath" not in pv["spec"]


def test_existing_claim(rendered: Rendered) -> None:
    objs = rendered(*CLAIM)
    assert not [o for o in objs if o["kind"] in ("PersistentVolume", "PersistentVolumeClaim")]
    operator = find(objs, "Deployment", "-operator")["spec"]["template"]["spec"]
    assert env_of(operator["containers"][0])["SPECTARE_WORKER_FOOTAGE_CLAIM"] == "my-footage"
    api = find(objs, "Deployment", "-api")["spec"]["template"]["spec"]
    assert {"name": "footage", "persistentVolumeClaim": {
        "claimName": "my-footage", "readOnly": True}} in api["volumes"]  # fmt: skip


def test_external_rethinkdb(rendered: Rendered) -> None:
    objs = rendered(*EXTERNAL_DB)
    assert not [o for o in objs if "rethinkdb" in o["metadata"]["name"]]
    for name in ("-operator", "-api"):
        container = find(objs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert env_of(container)["SPECTARE_STORE"] == "rethinkdb://db.lan:28015/cams"


def test_sqlite_store_on_a_single_node(rendered: Rendered) -> None:
    """No RethinkDB; every part opens the index on the footage volume, read-write."""
    objs = rendered(*SQLITE)
    assert not [o for o in objs if "rethinkdb" in o["metadata"]["name"]]
    for name in ("-operator", "-api"):
        spec = find(objs, "Deployment", name)["spec"]["template"]["spec"]
        container = spec["containers"][0]
        assert env_of(container)["SPECTARE_STORE"] == "sqlite:////footage/.spectare/spectare.db"
        mount = next(m for m in container["volumeMounts"] if m["name"] == "footage")
        assert mount["mountPath"] == "/footage" and not mount.get("readOnly")
        claim = next(v for v in spec["volumes"] if v["name"] == "footage")
        assert not claim["persistentVolumeClaim"].get("readOnly")
    operator = find(objs, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0]
    assert (
        env_of(operator)["SPECTARE_WORKER_FOOTAGE_CLAIM"]
        == find(objs, "PersistentVolumeClaim")["metadata"]["name"]
    )


def test_sqlite_store_on_nfs_is_refused_with_a_reason() -> None:
    result = helm(*render_args(*SQLITE, *NFS), check=False)
    assert result.returncode != 0
    assert "SQLite, whose locking is unsafe on NFS" in result.stderr
    assert "storage.mode=hostPath" in result.stderr


def test_ha(rendered: Rendered) -> None:
    objs = rendered(*HA)
    operator = find(objs, "Deployment", "-operator")
    assert operator["spec"]["replicas"] == 3
    assert operator["spec"]["strategy"]["type"] == "RollingUpdate"
    env = env_of(operator["spec"]["template"]["spec"]["containers"][0])
    assert env["SPECTARE_PEERING"] == "spectare"
    # Distinct priorities: none is pinned, so each replica derives its own from its pod name.
    assert "SPECTARE_PRIORITY" not in env
    assert find(objs, "KopfPeering")["metadata"]["name"] == "spectare"
    peering = find(objs, "Role", "-peering")
    assert peering["rules"] == [{"apiGroups": ["kopf.dev"], "resources": ["kopfpeerings"],
                                 "verbs": ["get", "list", "watch", "patch"]}]  # fmt: skip


def test_distinct_priorities_per_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    priorities = set()
    for pod in ("spectare-operator-7d9f-abcde", "spectare-operator-7d9f-fghij"):
        monkeypatch.setattr(socket, "gethostname", lambda pod=pod: pod)
        priorities.add(OperatorSettings(peering="spectare").peering_priority)
    assert len(priorities) == 2


def test_ingress(rendered: Rendered) -> None:
    ingress = find(rendered(*INGRESS), "Ingress")
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress["spec"]["tls"] == [{"secretName": "cams-tls", "hosts": ["cams.example.org"]}]
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "cams.example.org"
    assert rule["http"]["paths"][0]["backend"]["service"] == {
        "name": "spectare-api", "port": {"name": "http"}}  # fmt: skip
    no_host = find(rendered("api.ingress.enabled=true"), "Ingress")
    assert "host" not in no_host["spec"]["rules"][0] and "tls" not in no_host["spec"]


def test_service_monitor(rendered: Rendered) -> None:
    monitor = find(rendered(*MONITOR), "ServiceMonitor")
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["path"] == "/metrics" and endpoint["port"] == "http"
    assert endpoint["authorization"]["credentials"]["name"] == "spectare-api-token"
    assert not [o for o in rendered() if o["kind"] == "ServiceMonitor"]


def test_api_token_value_and_existing_secret(rendered: Rendered) -> None:
    import base64

    given = find(rendered("api.token.value=0123456789abcdef0123"), "Secret")
    assert base64.b64decode(given["data"]["token"]).decode() == "0123456789abcdef0123"
    objs = rendered("api.token.existingSecret=my-token", "api.token.key=t")
    assert not [o for o in objs if o["kind"] == "Secret"]
    api = find(objs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]
    ref = env_of(api)["SPECTARE_API_TOKEN"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("my-token", "t")


def test_placement_values_reach_pods(rendered: Rendered) -> None:
    sets = []
    for part in ("operator", "api", "rethinkdb"):
        sets += [
            f"{part}.nodeSelector.kubernetes\\.io/arch=arm64",
            f"{part}.tolerations[0].key=pi",
            f"{part}.tolerations[0].operator=Exists",
        ]
    for name, spec in pod_specs(rendered(*sets)):
        assert spec["nodeSelector"] == {"kubernetes.io/arch": "arm64"}, name
        assert spec["tolerations"] == [{"key": "pi", "operator": "Exists"}], name
