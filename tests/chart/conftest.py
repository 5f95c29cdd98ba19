"""Fixtures of the chart tests: rendering, and the real control plane of tests/k8s.

The control-plane fixtures are imported from tests/k8s/conftest.py (not copied), so both
suites run on the same harness. pytest keys fixtures by the conftest that defines them,
so a session that runs tests/k8s and tests/chart together starts one plane for each.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest
from chart.chartlib import ROOT, render

_spec = importlib.util.spec_from_file_location(
    "spectare_tests_k8s_conftest", ROOT / "tests" / "k8s" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_k8s = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_k8s)
control_plane = _k8s.control_plane
kube = _k8s.kube
namespace = _k8s.namespace


@pytest.fixture(scope="session")
def rendered() -> Callable[..., list[dict[str, Any]]]:
    """``rendered(*sets)``: the chart's objects, cached per value set."""
    cache: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def get(*sets: str) -> list[dict[str, Any]]:
        if sets not in cache:
            cache[sets] = render(*sets)
        return cache[sets]

    return get


