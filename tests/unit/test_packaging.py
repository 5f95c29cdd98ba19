"""The folders of the architecture map onto packages, and nothing shadows the stdlib."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
FOLDERS = {"spectare": "spectare", "worker": "spectare.worker", "operator": "spectare.operator",
           "api": "spectare.api"}  # fmt: skip


def test_every_package_folder_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    for folder, package in FOLDERS.items():
        assert config["package-dir"][package] == folder
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            assert ".".join([package, *relative]) in listed, f"{init.parent} not packaged"


def test_command_runs_from_the_repository_root() -> None:
    """``operator/`` in the root must never shadow the standard library's ``operator``."""
    done = subprocess.run(
        [sys.executable, "-P", "-m", "spectare", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "up" in done.stdout and "worker" in done.stdout
