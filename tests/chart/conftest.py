"""Fixtures of the chart tests: rendering (the control plane comes from harness.k8s_fixtures)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chart.chartlib import render


@pytest.fixture(scope="session")
def rendered() -> Callable[..., list[dict[str, Any]]]:
    """``rendered(*sets)``: the chart's objects, cached per value set."""
    cache: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def get(*sets: str) -> list[dict[str, Any]]:
        if sets not in cache:
            cache[sets] = render(*sets)
        return cache[sets]

    return get
