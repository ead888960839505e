"""No module of the repository unpickles or evaluates data (issue 14).

Every Python file of the library, the analysis scripts, the benchmarks and the notebooks is
parsed (not imported) and searched for: ``import pickle`` (and cPickle, dill, cloudpickle,
marshal, shelve, joblib), ``eval(``, ``exec(``, ``yaml.load``/``unsafe_load``/``full_load``,
``read_pickle``, and any call with ``allow_pickle=`` other than a literal ``False``.
The tests folder is not scanned: its tests build malicious pickles on purpose.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("labquake", "analysis", "benchmarks", "notebooks", "simulations", "docs")

PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
EVAL_NAMES = {"eval", "exec", "execfile"}
YAML_UNSAFE = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all"}


def banned_calls(source: str, filename: str = "<string>") -> list[str]:
    """Every banned construct in ``source`` as ``file:line: what``."""
    tree = ast.parse(source, filename=filename)
    found: list[str] = []

    def hit(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in PICKLE_MODULES:
                    hit(node, f"import {a.name}")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in PICKLE_MODULES:
                hit(node, f"from {node.module} import ...")
            for a in node.names:
                if a.name in ("read_pickle", "loads", "load") and (node.module or "").split(".")[0] in PICKLE_MODULES | {"pandas"}:
                    hit(node, f"from {node.module} import {a.name}")
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in EVAL_NAMES:
                hit(node, f"{f.id}()")
            if isinstance(f, ast.Attribute):
                if f.attr in EVAL_NAMES and isinstance(f.value, ast.Name) and f.value.id == "builtins":
                    hit(node, f"builtins.{f.attr}()")
                if f.attr == "read_pickle":
                    hit(node, "read_pickle()")
                if f.attr in YAML_UNSAFE and isinstance(f.value, ast.Name) and f.value.id in ("yaml", "ruamel"):
                    hit(node, f"yaml.{f.attr}()")
                if f.attr in ("load", "loads") and isinstance(f.value, ast.Name) and f.value.id in PICKLE_MODULES:
                    hit(node, f"{f.value.id}.{f.attr}()")
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    hit(node, "allow_pickle= not False")
    return found


def _sources() -> list[tuple[str, str]]:
    out = []
    for top in SCANNED:
        base = ROOT / top
        if not base.exists():
            continue
        for p in sorted(base.rglob("*.py")):
            out.append((str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")))
        for p in sorted(base.rglob("*.ipynb")):
            nb = json.loads(p.read_text(encoding="utf-8"))
            for k, cell in enumerate(nb.get("cells", [])):
                if cell.get("cell_type") == "code":
                    src = "".join(cell.get("source", []))
                    # IPython magics and shell lines are not Python
                    src = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in src.splitlines())
                    out.append((f"{p.relative_to(ROOT)}[cell {k}]", src))
    for p in sorted(ROOT.glob("*.py")):
        out.append((p.name, p.read_text(encoding="utf-8")))
    return out


@pytest.mark.parametrize("snippet", [
    "import pickle\npickle.loads(b'')",
    "from pickle import loads",
    "import cloudpickle",
    "eval('1 + 1')",
    "exec('x = 1')",
    "import yaml\nyaml.load(open('a'))",
    "import numpy as np\nnp.load('x.npz', allow_pickle=True)",
    "import numpy as np\nflag = True\nnp.load('x.npz', allow_pickle=flag)",
    "import pandas as pd\npd.read_pickle('x')",
    "import joblib",
])
def test_the_scanner_finds_each_banned_construct(snippet):
    assert banned_calls(snippet), snippet


def test_the_scanner_allows_safe_loading():
    ok = ("import numpy as np\nimport json\nimport yaml\nnp.load('x.npz', allow_pickle=False)\n"
          "json.loads('{}')\nyaml.safe_load('a: 1')\nmodel.eval()\n")
    assert banned_calls(ok) == []


def test_no_module_unpickles_or_evaluates_data():
    sources = _sources()
    assert any(name.startswith("labquake/sim/experiment.py") for name, _ in sources)
    found = [f for name, src in sources for f in banned_calls(src, name)]
    assert not found, "\n".join(found)
