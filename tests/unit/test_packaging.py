"""The folders of the architecture map onto packages, and nothing shadows the stdlib."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FOLDERS = {"src/spectare": "spectare", "src/worker": "spectare.worker",
           "src/operator": "spectare.operator", "src/api": "spectare.api"}  # fmt: skip


def test_every_package_folder_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    for folder, package in FOLDERS.items():
        assert config["package-dir"][package] == folder
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            assert ".".join([package, *relative]) in listed, f"{init.parent} not packaged"


def test_nothing_in_the_root_shadows_the_standard_library() -> None:
    """``python -m`` from the root puts the root first on ``sys.path``."""
    importable = {p.stem if p.suffix == ".py" else p.name for p in ROOT.iterdir()}
    assert not importable & set(sys.stdlib_module_names)


@pytest.mark.parametrize("module", [["spectare", "--help"], ["pip", "--version"], ["venv", "-h"]])
def test_python_dash_m_works_from_the_repository_root(module: list[str]) -> None:
    """What a Python developer runs from a checkout works without ``-P``."""
    done = subprocess.run(
        [sys.executable, "-m", *module], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    if module[0] == "spectare":
        assert "up" in done.stdout and "worker" in done.stdout
