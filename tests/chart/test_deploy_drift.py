"""deploy/ is the chart rendered with default values (scripts/render-deploy).

Covers: rendering is deterministic and commits no Secret; the committed deploy/ is
exactly what the chart renders (no drift).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chart.chartlib import ROOT, helm_path


def render_into(out: Path) -> list[Path]:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render-deploy"), "--out", str(out),
         "--helm", str(helm_path())],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return sorted(p for p in out.rglob("*.yaml"))


def test_render_deploy_is_deterministic(tmp_path: Path) -> None:
    first = {p.relative_to(tmp_path / "a"): p.read_text() for p in render_into(tmp_path / "a")}
    second = {p.relative_to(tmp_path / "b"): p.read_text() for p in render_into(tmp_path / "b")}
    assert first == second
    assert Path("crd.yaml") in first and Path("ha/operator.yaml") in first
    assert not [p for p, text in first.items() if "kind: Secret" in text]  # no token committed


def test_deploy_matches_the_chart(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    drift = []
    for path in render_into(out):
        committed = ROOT / "deploy" / path.relative_to(out)
        if not committed.exists() or committed.read_text() != path.read_text():
            drift.append(str(committed.relative_to(ROOT)))
    assert not drift, f"deploy/ drifted from the chart: run scripts/render-deploy ({drift})"
