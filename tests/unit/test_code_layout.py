"""The code stays navigable: small modules, and test modules that say what they cover.

Covers: no Python module under src/, tests/ or bench/ is longer than 400 lines
(no exceptions); every test module (tests/**/test_*.py) opens with a docstring
listing the behaviour it covers.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
MAX_LINES = 400


def python_modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_no_module_is_over_400_lines() -> None:
    modules = python_modules("src", "tests", "bench")
    assert len(modules) > 50  # the folders were found
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in modules
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines, split them by job: {too_long}"


def test_every_test_module_opens_with_a_docstring() -> None:
    tests = sorted((ROOT / "tests").rglob("test_*.py"))
    assert len(tests) > 20
    missing = [
        str(path.relative_to(ROOT))
        for path in tests
        if not (ast.get_docstring(ast.parse(path.read_text())) or "").strip()
    ]
    assert not missing, f"test modules without a docstring listing what they cover: {missing}"
