"""The operator's modules: no import cycle, and the deciding ones do not act.

- the import graph of ``spectare.operator`` (imports under TYPE_CHECKING included)
  has no cycle;
- the state machine and every module it composes import no acting module, and none
  of asyncio, aiohttp, kopf or time: time reaches them as ``World.now`` only;
- only ``handlers`` imports kopf, and it keeps no state in module globals (kopf's
  memo holds it).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "operator"
MODULES = {p.stem for p in SRC.glob("*.py")} - {"__init__"}
ACTING = {"act", "pool", "kube", "health", "handlers"}
PURE = MODULES - ACTING
CLOCKS_AND_IO = {"asyncio", "aiohttp", "kopf", "time", "kubernetes", "concurrent"}


def _imported(module: str) -> set[str]:
    """Every module name ``module`` imports, with ``from x import y`` also as ``x.y``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse((SRC / f"{module}.py").read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def siblings(module: str) -> set[str]:
    """The operator's modules that ``module`` imports."""
    prefix = "spectare.operator."
    found = {n[len(prefix) :].split(".")[0] for n in _imported(module) if n.startswith(prefix)}
    return found & MODULES


def externals(module: str) -> set[str]:
    return {n.split(".")[0] for n in _imported(module)}


def test_the_operator_modules_import_each_other_without_a_cycle() -> None:
    graph = {m: siblings(m) for m in MODULES}
    assert graph["machine"] >= {"orphans", "endings", "decisions", "mirror", "writer"}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for other in sorted(graph[module]):
            visit(other, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


def test_deciding_modules_neither_act_nor_read_the_clock() -> None:
    for module in sorted(PURE):
        assert not siblings(module) & ACTING, f"{module} imports {siblings(module) & ACTING}"
        assert not externals(module) & CLOCKS_AND_IO, f"{module}: {externals(module)}"


def test_only_handlers_use_kopf_and_keep_no_module_state() -> None:
    assert [m for m in sorted(MODULES) if "kopf" in externals(m)] == ["handlers"]
    tree = ast.parse((SRC / "handlers.py").read_text())
    assigned = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    assert assigned == {"log", "PREFIX", "POD_LABELS"}  # constants only
    assert not [n for n in tree.body if isinstance(n, ast.ClassDef)]
