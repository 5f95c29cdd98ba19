"""A container's environment, resolved from plain data the way the kubelet resolves it.

Pure: the caller reads the Secrets and ConfigMaps the container names
(``references``) and passes their data in (``Sources``); nothing here talks to
an API server. The order is the kubelet's: the base environment, then
``envFrom``, then ``env`` (whose plain values may use ``$(VAR)`` of earlier
pod variables). Supported ``valueFrom``: secretKeyRef, configMapKeyRef and the
usual fieldRefs; anything else is a ``PodConfigError``, as is a missing
non-optional Secret, ConfigMap or key (the kubelet's CreateContainerConfigError).
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Mapping
from typing import Any

POD_IP = "127.0.0.1"

Data = Mapping[str, str]


class PodConfigError(Exception):
    """The container's environment cannot be built (kubelet's CreateContainerConfigError)."""


@dataclasses.dataclass(frozen=True)
class Sources:
    """The data of the Secrets and ConfigMaps that exist, by name (absent: not found)."""

    secrets: Mapping[str, Data] = dataclasses.field(default_factory=dict)
    config_maps: Mapping[str, Data] = dataclasses.field(default_factory=dict)


_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_LABEL_FIELD = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known names are replaced, ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR_REF.sub(replace, value)


def references(container: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """The names of the Secrets and of the ConfigMaps ``container``'s environment reads."""
    secrets: set[str] = set()
    config_maps: set[str] = set()
    refs = [*(container.get("envFrom") or [])]
    refs += [var["valueFrom"] for var in container.get("env") or [] if "valueFrom" in var]
    for ref in refs:
        for key in ("secretRef", "secretKeyRef"):
            if key in ref:
                secrets.add(ref[key]["name"])
        for key in ("configMapRef", "configMapKeyRef"):
            if key in ref:
                config_maps.add(ref[key]["name"])
    return secrets, config_maps


def secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret object's ``data``, base64-decoded."""
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    sources: Sources,
    base: Mapping[str, str],
    node_name: str,
) -> dict[str, str]:
    """``base``, then envFrom, then env: the process environment of ``container``."""
    pod_env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        pod_env.update(_env_from(source, sources))
    for var in container.get("env") or []:
        if "valueFrom" in var:
            value = _value_from(pod, var["valueFrom"], sources, node_name)
            if value is None:
                continue  # optional and missing: the variable is not set
        else:
            value = expand(var.get("value", ""), pod_env)
        pod_env[var["name"]] = value
    return {**base, **pod_env}


def field_value(pod: Mapping[str, Any], path: str, node_name: str) -> str:
    """The value of a ``fieldRef`` (``status.podIP`` is loopback: pods run on the host)."""
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.nodeName": node_name,
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.podIP": POD_IP,
        "status.hostIP": POD_IP,
        "status.podIPs": POD_IP,
    }
    if path in simple:
        return str(simple[path])
    match = _LABEL_FIELD.fullmatch(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise PodConfigError(f"unsupported fieldRef {path}")


def _env_from(source: Mapping[str, Any], sources: Sources) -> dict[str, str]:
    prefix = source.get("prefix", "")
    if "secretRef" in source:
        ref, found = source["secretRef"], sources.secrets
    elif "configMapRef" in source:
        ref, found = source["configMapRef"], sources.config_maps
    else:
        raise PodConfigError(f"unsupported envFrom source {source}")
    data = found.get(ref["name"])
    if data is None:
        if ref.get("optional"):
            return {}
        raise PodConfigError(f"{ref['name']} not found")
    return {prefix + key: value for key, value in data.items()}


def _value_from(
    pod: Mapping[str, Any], source: Mapping[str, Any], sources: Sources, node_name: str
) -> str | None:
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"]["fieldPath"], node_name)
    for kind, found in (
        ("secretKeyRef", sources.secrets),
        ("configMapKeyRef", sources.config_maps),
    ):
        if kind in source:
            ref = source[kind]
            data = found.get(ref["name"])
            if data is not None and ref["key"] in data:
                return str(data[ref["key"]])
            if ref.get("optional"):
                return None
            raise PodConfigError(f"{kind} {ref['name']}/{ref['key']} not found")
    raise PodConfigError(f"unsupported valueFrom {source}")
