"""The walls between modules: no import circle, and each outside thing behind one module.

Imports are read with ``ast`` from every file under ``orgtui/`` (top-level and inside
functions), so a circle that only closes when some verb runs is caught too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "orgtui"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every orgtui module, by dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST, *, runtime_only: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif runtime_only and isinstance(child, ast.If) and _type_checking(child):
            yield from (n for stmt in child.orelse for n in _import_nodes(stmt, runtime_only=True))
        else:
            yield from _import_nodes(child, runtime_only=runtime_only)


@cache
def imported(module: str, *, runtime_only: bool = False) -> frozenset[str]:
    """Dotted names ``module`` imports anywhere in its file (``from a import b``: ``a.b``)."""
    path = modules()[module]
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path)), runtime_only=runtime_only):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            anchor = anchor if is_package else anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(names)


def internal_edges(module: str) -> set[str]:
    """The orgtui modules whose code runs when ``module``'s imports do.

    Importing ``a.b.c`` runs ``a``'s and ``a.b``'s ``__init__`` first (re-exports included);
    a module's own enclosing packages are left out, as Python has them loading already.
    """
    own = module.split(".")
    enclosing = {".".join(own[:i]) for i in range(1, len(own))}
    edges: set[str] = set()
    for name in imported(module, runtime_only=True):
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            target = ".".join(parts[:i])
            if target in modules() and target not in enclosing and target != module:
                edges.add(target)
    return edges


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def importers(outside: str) -> set[str]:
    """The orgtui modules that import the outside package ``outside`` (or a part of it)."""
    return {
        module
        for module in modules()
        if any(name == outside or name.startswith(outside + ".") for name in imported(module))
    }


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_resolve_relative_and_package_reexports(tmp_path: Path) -> None:
    assert "orgtui.backends.claude" in internal_edges("orgtui.backends")
    assert "orgtui.backends" not in internal_edges("orgtui.backends.claude")  # its own package
    assert "orgtui.backends" in internal_edges("orgtui.supervisor.launch")


def test_no_import_circle() -> None:
    graph = {module: internal_edges(module) for module in modules()}
    found = cycles(graph)
    assert not found, "import circles (top-level and function-level):\n" + "\n".join(
        " <-> ".join(component) for component in found
    )


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each module imported first, the others forgotten: an import-time circle fails here."""
    script = (
        "import importlib, sys, traceback\n"
        "bad = []\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m == 'orgtui' or m.startswith('orgtui.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        bad.append(name + ': ' + traceback.format_exc().strip().splitlines()[-1])\n"
        "print('\\n'.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    names = [name for name in modules() if not name.endswith("__main__")]
    proc = subprocess.run(
        [sys.executable, "-c", script, *names],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("outside", "owner"),
    [
        ("psutil", "orgtui.procs"),
        ("libtmux", "orgtui.supervisor.tmux"),
        ("git", "orgtui.supervisor.worktrees"),
    ],
)
def test_one_module_owns_each_outside_thing(outside: str, owner: str) -> None:
    assert importers(outside) <= {owner}, f"{outside} imported outside {owner}"


def test_pynvml_is_imported_by_one_gpu_module() -> None:
    users = importers("pynvml")
    assert len(users) <= 1 and all(u.startswith("orgtui.gpu") for u in users), users


def test_the_tui_touches_no_system() -> None:
    """The TUI reads .org/ and talks to the supervisor; tmux, git and processes are not its."""
    tui = [module for module in modules() if module.startswith("orgtui.tui")]
    offenders = {
        module: sorted(
            name
            for name in imported(module)
            if name.split(".")[0] in ("subprocess", "libtmux", "git", "psutil")
        )
        for module in tui
    }
    assert not {m: names for m, names in offenders.items() if names}


def test_backends_stand_below_the_supervisor_and_beside_the_agent() -> None:
    """The supervisor imports the backends, never the other way; agent/ needs none of them."""
    for module in modules():
        names = imported(module)
        if module.startswith("orgtui.backends"):
            assert not [n for n in names if n.startswith("orgtui.supervisor")], module
        if module.startswith("orgtui.agent"):
            assert not [n for n in names if n.startswith("orgtui.backends")], module


def test_every_configurable_backend_has_a_launcher() -> None:
    from orgtui.backends import LAUNCHERS
    from orgtui.config import BACKENDS

    assert sorted(LAUNCHERS) == sorted(BACKENDS)
