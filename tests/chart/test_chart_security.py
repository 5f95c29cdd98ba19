"""The Helm chart's settings, RBAC and pod security, in every scenario.

Covers: every environment variable the chart sets is a real setting, and the
operator's settings parse from it; RBAC equals deploy/'s least privilege and
nothing grants Secrets or cluster-wide rights; every pod, and the worker pods
the operator creates, meet the restricted Pod Security Standard.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml

from chart.chartlib import ROOT, env_of, find
from chart.chartscenarios import (
    HA,
    NFS,
    SCENARIOS,
    Rendered,
    operator_settings,
    pod_specs,
    restricted_violations,
    worker_pod,
)
from spectare.operator.config import OperatorSettings
from spectare.settings import Settings

# -- settings the chart hands to each part exist --------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_env_var_is_a_real_setting(rendered: Rendered, scenario: str) -> None:
    """Settings ignore unknown variables, so a misspelt name would silently do nothing."""
    known = {
        "operator": {f"SPECTARE_{f.name.upper()}" for f in dataclasses.fields(OperatorSettings)},
        "api": {f"SPECTARE_{f.name.upper()}" for f in dataclasses.fields(Settings)},
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
