"""The package's shape: no import circles, modules of a readable size, deprecated paths.

The import graph is read from the source with :mod:`ast` (module-level and deferred imports
inside functions alike), so a circle hidden behind a late import is found too.
``from package import name`` is an edge to the submodule ``package.name`` when that is a
module, else to ``package`` itself.
"""

from __future__ import annotations

import ast
import importlib
import warnings
from pathlib import Path

import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

PACKAGE = Path(__file__).resolve().parents[1] / "labquake"

#: the one module allowed above MAX_LINES, and why (also stated in its docstring)
LONG_MODULES = {
    "labquake/sim/dem/_kernels.py": "numba kernels: the pair loop and the laws it inlines compile as one unit",
}
MAX_LINES = 620  # "about 600"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    return mods


def import_graph() -> dict[str, set[str]]:
    """module -> the labquake modules it imports (anywhere in its source)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                for a in node.names:
                    targets.append(f"{src}.{a.name}" if f"{src}.{a.name}" in mods else src)
            for t in targets:
                while t and t not in mods:  # import a.b.c of a non-module attribute: its module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module."""
    names = sorted(graph)
    index = {n: i for i, n in enumerate(names)}
    rows = [index[a] for a in names for b in graph[a]]
    cols = [index[b] for a in names for b in graph[a]]
    m = csr_matrix(([1] * len(rows), (rows, cols)), shape=(len(names), len(names)))
    n, labels = connected_components(m, directed=True, connection="strong")
    groups: dict[int, list[str]] = {}
    for name, lab in zip(names, labels):
        groups.setdefault(int(lab), []).append(name)
    return [g for g in groups.values() if len(g) > 1]


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_deferred_imports():
    graph = import_graph()
    # labquake.cli imports its sub-commands by name (importlib), but labquake.commands.simulate
    # imports the experiment inside run(): a deferred import the graph must see
    assert "labquake.sim.experiment" in graph["labquake.commands.simulate"]


def test_no_import_circle():
    found = circles(import_graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(g) for g in found)


def test_modules_are_readable_in_one_sitting():
    long = {str(p.relative_to(PACKAGE.parent)): len(p.read_text(encoding="utf-8").splitlines())
            for p in PACKAGE.rglob("*.py")}
    over = {k: n for k, n in long.items() if n > MAX_LINES and k not in LONG_MODULES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"
    for path, why in LONG_MODULES.items():
        assert "600 lines" in (PACKAGE.parent / path).read_text(encoding="utf-8")[:6000], (path, why)


@pytest.mark.parametrize("old, new", [
    ("labquake.experiment", "labquake.sim.experiment"),
    ("labquake.dem.laws.smooth_joint", "labquake.sim.dem.laws.smooth_joint"),
    ("labquake.seismicity", "labquake.analysis.seismicity"),
    ("labquake.batch", "labquake.campaign.scheduling"),
    ("labquake.io.pfc3d_export", "labquake.io.pfc3d.export"),
])
def test_old_paths_are_the_same_module_with_a_deprecation_warning(old, new):
    import sys

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        mod = importlib.import_module(old)
    assert mod is importlib.import_module(new)


def test_new_paths_import_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for name in _modules():
            if name.startswith("labquake.") and ".viz." not in name:
                importlib.import_module(name)
