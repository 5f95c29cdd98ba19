"""The README's `helm template` commands work as written, from the repository root."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from chart.chartlib import ROOT, helm_path

COMMANDS = [
    line.split(">")[0].strip()
    for line in re.findall(r"^helm template .*$", (ROOT / "README.md").read_text(), re.M)
]


def test_the_readme_shows_how_to_render() -> None:
    assert COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_helm_template_renders(command: str) -> None:
    argv = [str(helm_path()), *shlex.split(command)[1:]]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "kind: Deployment" in done.stdout
