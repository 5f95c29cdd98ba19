"""The Helm chart's values, rendered by helm's real engine: lint, schema, the CRD.

Covers: ``helm lint --strict`` is clean in every scenario; the values schema
refuses bad values with a reason and accepts the default values file; every
value is documented; the chart's CRD is the one generated from the model, and
its KopfPeering CRD the one deploy/ uses for HA.
"""

from __future__ import annotations

import pytest
import yaml

from chart.chartlib import CHART, ROOT, helm, render_args
from chart.chartscenarios import (
    SCENARIOS,
)
from harness import gobuild
from spectare.crd import crd_yaml

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
