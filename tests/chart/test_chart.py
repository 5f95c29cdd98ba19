"""The Helm chart, rendered by helm's real engine: every mode, the schema, RBAC, security."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from chart.chartlib import CHART, ROOT, env_of, find, helm, render_args

from harness import gobuild
from spectare.crd import crd_yaml
from spectare.operator.config import OperatorSettings
from spectare.operator.pods import pod_manifest
from spectare.settings import Settings

Rendered = Callable[..., list[dict[str, Any]]]

NFS = ("storage.mode=nfs", "storage.nfs.server=nas.lan", "storage.nfs.path=/export/footage")
CLAIM = ("storage.mode=existingClaim", "storage.existingClaim=my-footage")
EXTERNAL_DB = ("rethinkdb.enabled=false", "rethinkdb.externalUrl=rethinkdb://db.lan:28015/cams")
SQLITE = ("store.mode=sqlite",)
HA = ("operator.ha.enabled=true", "operator.ha.replicas=3")
INGRESS = ("api.ingress.enabled=true", "api.ingress.className=traefik",
           "api.ingress.host=cams.example.org", "api.ingress.tlsSecret=cams-tls")  # fmt: skip
MONITOR = ("serviceMonitor.enabled=true", "api.readAuth=true")
SCENARIOS: dict[str, tuple[str, ...]] = {
    "default": (),
    "nfs": NFS,
    "existing-claim": CLAIM,
    "host-path": ("storage.mode=hostPath", "storage.hostPath.path=/srv/footage"),
    "external-rethinkdb": EXTERNAL_DB,
    "sqlite": SQLITE,
    "ha": HA,
    "ingress": INGRESS,
    "service-monitor": MONITOR,
    "everything": NFS + EXTERNAL_DB + HA + INGRESS + MONITOR + ("namespace.create=true",),
}


def pod_specs(objs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every workload in ``objs``."""
    return [
        (f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
        for o in objs
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    ]


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """What in a pod spec breaks the restricted Pod Security Standard (and our own rules)."""
    bad = []
    pod_sc = spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            bad.append(flag)
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        allowed = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                   "persistentVolumeClaim", "projected", "secret"}  # fmt: skip
        if not kinds <= allowed:
            bad.append(f"volume {volume['name']}: {kinds - allowed}")
    containers = spec.get("containers", []) + spec.get("initContainers", [])
    for c in containers:
        sc = c.get("securityContext", {})
        where = c["name"]
        if sc.get("privileged"):
            bad.append(f"{where}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{where}: allowPrivilegeEscalation not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            bad.append(f"{where}: capabilities not dropped")
        if set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            bad.append(f"{where}: capabilities added")
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            bad.append(f"{where}: runAsNonRoot not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            bad.append(f"{where}: runs as UID 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            bad.append(f"{where}: seccomp {seccomp}")
        if sc.get("readOnlyRootFilesystem") is not True:
            bad.append(f"{where}: root filesystem writable")
        for port in c.get("ports", []):
            if port.get("hostPort"):
                bad.append(f"{where}: hostPort")
    return bad


def operator_settings(objs: list[dict[str, Any]]) -> OperatorSettings:
    """The operator's settings as its container's environment gives them."""
    spec = find(objs, "Deployment", "-operator")["spec"]["template"]["spec"]
    env = {k: v for k, v in env_of(spec["containers"][0]).items() if isinstance(v, str)}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        return OperatorSettings()


def worker_pod(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The worker pod the operator would create with the chart's settings."""
    from spectare.model import CameraSpec
    from spectare.operator.pods import CameraRef

    spec = CameraSpec.model_validate(
        {"url": "rtsp://10.0.0.1:554/stream", "credentialsSecret": "cam-creds"}
    )
    camera = CameraRef(namespace="spectare", name="driveway", uid="u-1", spec=spec)
    return pod_manifest(camera, operator_settings(objs))


# -- lint and schema ---------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_helm_lint_strict_is_clean(scenario: str) -> None:
    argv = ["lint", "--strict", str(CHART), "--kube-version", gobuild.KUBERNETES_VERSION]
    for value in SCENARIOS[scenario]:
        argv += ["--set", value]
    result = helm(*argv, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out
    assert "0 chart(s) failed" in out


BAD_VALUES = {
    "unknown top-level key": ("replicaCount=2",),
    "misspelt nested key": ("storage.nfs.sever=nas",),
    "unknown storage mode": ("storage.mode=s3",),
    "nfs without server": ("storage.mode=nfs", "storage.nfs.path=/x"),
    "nfs with relative path": (
        "storage.mode=nfs",
        "storage.nfs.server=nas",
        "storage.nfs.path=export",
    ),
    "existingClaim without claim": ("storage.mode=existingClaim",),
    "relative hostPath": ("storage.hostPath.path=footage",),
    "external db without URL": ("rethinkdb.enabled=false",),
    "external db not rethinkdb": (
        "rethinkdb.enabled=false",
        "rethinkdb.externalUrl=postgres://db:5432/x",
    ),
    "root user": ("runAsUser=0",),
    "HA with one replica": ("operator.ha.enabled=true", "operator.ha.replicas=1"),
    "bad CPU quantity": ("worker.resources.requests.cpu=lots",),
    "bad service type": ("api.service.type=ExternalName",),
    "privileged API port": ("api.port=80",),
    "bad log format": ("logFormat=xml",),
    "short token": ("api.token.value=abc",),
    "bad pull policy": ("image.pullPolicy=Sometimes",),
    "bad size": ("storage.size=lots",),
    "maxWorkers zero": ("operator.maxWorkers=0",),
    "unknown store mode": ("store.mode=postgres",),
    "ingress path": ("api.ingress.enabled=true", "api.ingress.path=cams"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_schema_refuses_bad_values(case: str) -> None:
    result = helm(*render_args(*BAD_VALUES[case]), check=False)
    assert result.returncode != 0, f"{case}: accepted"
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr


def test_every_value_is_documented() -> None:
    """Every leaf of values.yaml has a comment on it or on a parent."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "-")) or ":" not in stripped:
            continue
        indent = len(line) - len(line.lstrip())
        # documented when a comment precedes it or any enclosing key, or follows on the line
        j, documented = i - 1, "#" in line
        while not documented and j >= 0:
            prev = lines[j]
            prev_indent = len(prev) - len(prev.lstrip())
            if prev.strip().startswith("#") and prev_indent <= indent:
                documented = True
            elif prev.strip() and not prev.strip().startswith("#") and prev_indent < indent:
                indent = prev_indent  # climb to the parent key
            elif not prev.strip() and prev_indent == 0 and indent == 0:
                break
            j -= 1
        if not documented:
            undocumented.append(stripped)
    assert not undocumented


def test_schema_accepts_default_values_file_as_given() -> None:
    result = helm(*render_args(), "-f", str(CHART / "values.yaml"))
    assert result.returncode == 0


# -- the generated CRD -------------------------------------------------------------------------


def test_chart_crd_is_the_generated_one() -> None:
    assert (CHART / "crds" / "cameras.spectare.io.yaml").read_text() == crd_yaml(), (
        "regenerate: .venv/bin/spectare crd > charts/spectare/crds/cameras.spectare.io.yaml "
        "(or scripts/render-deploy, which writes deploy/crd.yaml from the same function)"
    )


def test_kopfpeering_crd_matches_deploy_ha() -> None:
    chart = yaml.safe_load((CHART / "crds" / "kopfpeerings.kopf.dev.yaml").read_text())
    deploy = next(yaml.safe_load_all((ROOT / "deploy" / "ha" / "kopfpeering.yaml").read_text()))
    assert chart["spec"] == deploy["spec"]


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


# -- settings the chart hands to each part exist --------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_env_var_is_a_real_setting(rendered: Rendered, scenario: str) -> None:
    """Settings ignore unknown variables, so a misspelt name would silently do nothing."""
    known = {
        "operator": {f"SPECTARE_{n.upper()}" for n in OperatorSettings.model_fields},
        "api": {f"SPECTARE_{n.upper()}" for n in Settings.model_fields},
    }
    for suffix, fields in known.items():
        spec = find(rendered(*SCENARIOS[scenario]), "Deployment", f"-{suffix}")
        names = set(env_of(spec["spec"]["template"]["spec"]["containers"][0]))
        assert names <= fields, names - fields


def test_operator_settings_parse(rendered: Rendered) -> None:
    """The operator's env parses into its settings, with the values the chart meant."""
    settings = operator_settings(rendered(*NFS, "operator.maxWorkers=6"))
    assert settings.max_workers == 6
    assert settings.worker_footage_claim == "spectare-footage"
    assert settings.worker_run_as_user == 10001
    assert str(settings.footage_dir) == "/footage"
    assert settings.peering is None and settings.health_port == 8080


# -- RBAC and security ---------------------------------------------------------------------


def _rules(docs: list[dict[str, Any]], kind: str = "Role", suffix: str = "") -> list[Any]:
    role = find(docs, kind, suffix)
    return sorted(
        (tuple(r["apiGroups"]), tuple(r["resources"]), tuple(sorted(r["verbs"])))
        for r in role["rules"]
    )


def test_rbac_equals_deploy_least_privilege(rendered: Rendered) -> None:
    deploy = list(yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()))
    assert _rules(rendered(), suffix="-operator") == _rules(deploy, suffix="-operator")
    assert _rules(rendered()) == sorted([
        (("spectare.io",), ("cameras",), ("get", "list", "patch", "watch")),
        (("spectare.io",), ("cameras/status",), ("patch",)),
        (("",), ("pods",), ("create", "delete", "get", "list", "watch")),
        (("",), ("events",), ("create",)),
    ])  # fmt: skip
    ha_deploy = list(yaml.safe_load_all((ROOT / "deploy" / "ha" / "rbac.yaml").read_text()))
    assert _rules(rendered(*HA), suffix="-peering") == _rules(ha_deploy, suffix="-peering")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_nothing_grants_secrets_or_cluster_rights(rendered: Rendered, scenario: str) -> None:
    for obj in rendered(*SCENARIOS[scenario]):
        assert obj["kind"] not in ("ClusterRole", "ClusterRoleBinding")
        for rule in obj.get("rules", []):
            assert "secrets" not in rule["resources"] and "*" not in rule["resources"]
            assert "*" not in rule["verbs"]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_pod_meets_restricted(rendered: Rendered, scenario: str) -> None:
    specs = pod_specs(rendered(*SCENARIOS[scenario]))
    assert specs
    for name, spec in specs:
        assert restricted_violations(spec) == [], name
        assert all(c["resources"].get("limits", {}).get("memory") for c in spec["containers"])


def test_worker_pods_meet_restricted(rendered: Rendered) -> None:
    """The operator's worker pods with the chart's settings, their root filesystem read-only."""
    spec = worker_pod(rendered(*NFS))["spec"]
    assert restricted_violations(spec) == []
    assert spec["serviceAccountName"] == "spectare-worker"
    assert spec["automountServiceAccountToken"] is False
    assert spec["volumes"][0]["persistentVolumeClaim"]["claimName"] == "spectare-footage"
    resources = spec["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "50m", "memory": "64Mi"},
                         "limits": {"cpu": "500m", "memory": "256Mi"}}  # fmt: skip
