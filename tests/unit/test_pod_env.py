"""The test kubelet's pod environment and pod status, computed from plain data.

Covers: ``$(VAR)`` expansion (``$$`` escapes, unknown names kept); the order
base environment < envFrom < env; Secret (base64) and ConfigMap values, by key
and whole, with prefixes; optional references that are missing leave the
variable unset, required ones are a PodConfigError naming what is missing;
fieldRefs (name, namespace, uid, node, labels, loopback pod IP); which Secrets
and ConfigMaps a container reads; the exit code and reason a pod reports for a
clean exit, a failure and a signal; Pending-and-retried against Failed-for-good.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from harness.podenv import (
    PodConfigError,
    Sources,
    container_env,
    expand,
    field_value,
    references,
    secret_data,
)
from harness.podstatus import not_started_status, running_status, terminated_status

NODE = "node-a"


def pod(**container: Any) -> dict[str, Any]:
    """A pod as the API server returns it, with one container."""
    return {
        "metadata": {
            "name": "rec-yard",
            "namespace": "cams",
            "uid": "0123-4567",
            "labels": {"spectare.io/camera": "yard"},
            "annotations": {"note": "hi"},
        },
        "spec": {"serviceAccountName": "worker", "containers": [{"name": "main", **container}]},
        "status": {},
    }


def env_of(the_pod: dict[str, Any], sources: Sources | None = None, **base: str) -> dict[str, str]:
    container = the_pod["spec"]["containers"][0]
    return container_env(the_pod, container, sources or Sources(), base, NODE)


def test_expand_replaces_known_names_keeps_unknown_and_unescapes() -> None:
    env = {"HOST": "127.0.0.1", "PORT": "8554"}
    assert expand("rtsp://$(HOST):$(PORT)/a", env) == "rtsp://127.0.0.1:8554/a"
    assert expand("$(NOPE)/$$(HOST)", env) == "$(NOPE)/$(HOST)"


def test_env_overrides_env_from_which_overrides_the_base() -> None:
    the_pod = pod(
        envFrom=[{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        env=[{"name": "CFG_LEVEL", "value": "debug"}, {"name": "URL", "value": "$(CFG_HOST)/x"}],
    )
    sources = Sources(config_maps={"cfg": {"LEVEL": "info", "HOST": "h"}})
    env = env_of(the_pod, sources, PATH="/bin", CFG_HOST="from-base")
    assert env == {"PATH": "/bin", "CFG_LEVEL": "debug", "CFG_HOST": "h", "URL": "h/x"}


def test_secret_and_config_map_keys() -> None:
    the_pod = pod(
        env=[
            {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "mode"}}},
        ]
    )
    sources = Sources(secrets={"s": {"password": "hunter2"}}, config_maps={"c": {"mode": "m"}})
    assert env_of(the_pod, sources) == {"PASS": "hunter2", "MODE": "m"}


def test_secret_data_is_base64_decoded() -> None:
    encoded = base64.b64encode(b"p@ss").decode()
    assert secret_data({"data": {"password": encoded}}) == {"password": "p@ss"}
    assert secret_data({}) == {}


@pytest.mark.parametrize(
    "ref",
    [
        {"valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}},
        {"valueFrom": {"configMapKeyRef": {"name": "c", "key": "k", "optional": True}}},
    ],
)
def test_a_missing_optional_reference_leaves_the_variable_unset(ref: dict[str, Any]) -> None:
    the_pod = pod(
        env=[{"name": "X", **ref}], envFrom=[{"secretRef": {"name": "s", "optional": True}}]
    )
    assert env_of(the_pod, Sources(), HOME="/h") == {"HOME": "/h"}


@pytest.mark.parametrize(
    ("container", "named"),
    [
        ({"envFrom": [{"secretRef": {"name": "creds"}}]}, "creds not found"),
        ({"envFrom": [{"configMapRef": {"name": "cfg"}}]}, "cfg not found"),
        (
            {"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}}]},
            "secretKeyRef s/pw not found",
        ),
        ({"env": [{"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "spec.x"}}}]}, "spec.x"),
        ({"env": [{"name": "R", "valueFrom": {"resourceFieldRef": {}}}]}, "unsupported valueFrom"),
    ],
)
def test_a_missing_required_reference_is_a_config_error(
    container: dict[str, Any], named: str
) -> None:
    # The Secret "s" exists but lacks the key: still missing.
    with pytest.raises(PodConfigError, match=named):
        env_of(pod(**container), Sources(secrets={"s": {"other": "v"}}))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "rec-yard"),
        ("metadata.namespace", "cams"),
        ("metadata.uid", "0123-4567"),
        ("spec.nodeName", NODE),
        ("spec.serviceAccountName", "worker"),
        ("status.podIP", "127.0.0.1"),
        ("metadata.labels['spectare.io/camera']", "yard"),
        ("metadata.annotations['note']", "hi"),
        ("metadata.labels['absent']", ""),
    ],
)
def test_field_refs(path: str, value: str) -> None:
    assert field_value(pod(), path, NODE) == value


def test_references_name_every_secret_and_config_map_read() -> None:
    container = {
        "envFrom": [{"secretRef": {"name": "a"}}, {"configMapRef": {"name": "b"}}],
        "env": [
            {"name": "X", "value": "plain"},
            {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "c", "key": "k"}}},
            {"name": "Z", "valueFrom": {"configMapKeyRef": {"name": "d", "key": "k"}}},
            {"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
    }
    assert references(container) == ({"a", "c"}, {"b", "d"})


@pytest.mark.parametrize(
    ("code", "phase", "exit_code", "reason", "signal"),
    [(0, "Succeeded", 0, "Completed", None), (3, "Failed", 3, "Error", None),
     (-9, "Failed", 137, "Error", 9), (None, "Failed", 137, "Error", None)],
)  # fmt: skip
def test_terminated_status_reports_exit_codes_as_a_runtime_does(
    code: int | None, phase: str, exit_code: int, reason: str, signal: int | None
) -> None:
    status = terminated_status(pod(), "2026-01-01T00:00:00Z", code)
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert status["phase"] == phase
    assert (terminated["exitCode"], terminated["reason"]) == (exit_code, reason)
    assert terminated.get("signal") == signal


def test_running_status_is_ready_with_the_process_as_container() -> None:
    status = running_status(pod(), "2026-01-01T00:00:00Z", 4242)
    container = status["containerStatuses"][0]
    assert status["phase"] == "Running" and status["podIP"] == "127.0.0.1"
    assert container["ready"] and container["containerID"] == "test://4242"
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert ready["Ready"] == ready["ContainersReady"] == "True"


def test_a_pod_that_cannot_start_is_pending_when_retried_else_failed() -> None:
    waiting = not_started_status(pod(), "creds not found", retry=True)
    failed = not_started_status(pod(), "no such binary", retry=False)
    assert waiting["phase"] == "Pending"
    assert waiting["containerStatuses"][0]["state"]["waiting"]["reason"] == (
        "CreateContainerConfigError"
    )
    assert failed["phase"] == "Failed"
    assert failed["containerStatuses"][0]["state"]["terminated"]["reason"] == "StartError"
