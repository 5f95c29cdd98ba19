"""Helpers of the chart tests (imported as ``chart.chartlib``; tests/ is on sys.path)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from harness import gobuild

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "spectare"


def helm_path() -> Path:
    """The harness's helm (built from its Go module by `controlplane.py build`)."""
    return gobuild.helm_binary()


def helm(*args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run helm; rendering is pinned to the harness's Kubernetes version."""
    return subprocess.run(
        [str(helm_path()), *args], check=check, capture_output=True, text=True, timeout=120,
        **kwargs,
    )  # fmt: skip


def render_args(*sets: str, namespace: str = "spectare", release: str = "spectare") -> list[str]:
    """`helm template` arguments for the chart with ``--set`` values."""
    argv = ["template", release, str(CHART), "--namespace", namespace,
            "--kube-version", gobuild.KUBERNETES_VERSION]  # fmt: skip
    for value in sets:
        argv += ["--set", value]
    return argv


def render(*sets: str, **kwargs: str) -> list[dict[str, Any]]:
    """The chart's objects for these values (helm's real engine)."""
    out = helm(*render_args(*sets, **kwargs)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(objs: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    """The one object of ``kind`` whose name ends with ``suffix``."""
    hits = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    assert len(hits) == 1, f"{kind} *{suffix}: {[o['metadata']['name'] for o in hits]}"
    return hits[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's env as name -> value (or valueFrom)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
