"""The chart's scenarios (sets of values) and what tests read out of a rendering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chart.chartlib import env_of, find
from spectare.operator.config import OperatorSettings, load_operator_settings
from spectare.operator.pods import pod_manifest

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
        return load_operator_settings()


def worker_pod(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The worker pod the operator would create with the chart's settings."""
    from spectare.model import CameraSpec
    from spectare.operator.pods import CameraRef

    spec = CameraSpec.model_validate(
        {"url": "rtsp://10.0.0.1:554/stream", "credentialsSecret": "cam-creds"}
    )
    camera = CameraRef(namespace="spectare", name="driveway", uid="u-1", spec=spec)
    return pod_manifest(camera, operator_settings(objs))
