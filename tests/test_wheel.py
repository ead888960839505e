"""Packaging: the sdist and the wheel build, and the wheel works when installed elsewhere.

The wheel is installed into a fresh virtual environment that sees the dependencies of the
test interpreter's environment through a ``.pth`` file (so nothing is downloaded) and is
run from outside the repository, so ``import labquake`` must resolve to the installed
copy: the ``labquake`` command prints its version and runs a tiny simulation to
completion. The sdist must hold what a build from it needs (the package, every data file
inside it, the README, licence, citation, changelog and the presets).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import tomli_w
from test_campaign_support import ROOT
from test_experiment import TINY

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: the files of the sdist besides the package
SDIST_FILES = ("pyproject.toml", "README.md", "LICENSE", "CITATION.cff", "CHANGELOG.md", "simulations/quick.toml",
               "simulations/paper.toml")


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _backend_installed() -> bool:
    """True when this environment has the build backend pyproject.toml asks for."""
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
        importlib.metadata.version("wheel")
    except importlib.metadata.PackageNotFoundError:
        return False
    return major >= 77


def _package_files() -> set[str]:
    """Files of the labquake package in the working tree (no caches), relative to the root."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "labquake").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".nbi", ".nbc")}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    # with the backend installed here (the docs extra), build without downloading it again
    isolation = ["--no-isolation"] if _backend_installed() else []
    _run([sys.executable, "-m", "build", *isolation, "--sdist", "--wheel", "--outdir", out, "."], cwd=ROOT)
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_wheel_and_sdist_hold_the_package(dist):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert dist["wheel"].name.startswith(f"labquake-{version}-") and dist["sdist"].name == f"labquake-{version}.tar.gz"
    wanted = _package_files()
    with zipfile.ZipFile(dist["wheel"]) as z:
        in_wheel = set(z.namelist())
        meta = z.read(f"labquake-{version}.dist-info/METADATA").decode()
        entry_points = z.read(f"labquake-{version}.dist-info/entry_points.txt").decode()
    assert not wanted - in_wheel, f"missing from the wheel: {sorted(wanted - in_wheel)}"
    assert not [n for n in in_wheel if n.endswith((".pyc", ".nbi", ".nbc"))]
    assert "labquake = labquake.cli:main" in entry_points
    assert "Provides-Extra: docs" in meta and f"Version: {version}" in meta
    with tarfile.open(dist["sdist"]) as t:
        in_sdist = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    missing = (wanted | set(SDIST_FILES)) - in_sdist
    assert not missing, f"missing from the sdist: {sorted(missing)}"


def test_installed_wheel_runs_a_simulation(dist, tmp_path):
    # nothing of this process's import path may leak into the fresh environment
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path, env=env)
    py = venv / "bin" / "python"
    purelib = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path,
                        env=env).stdout.strip())
    # the dependencies come from this environment: a path line, appended after the venv's own site-packages
    (purelib / "_labquake_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "--quiet", dist["wheel"]],
         cwd=tmp_path, env=env)

    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    where = _run([py, "-c", "import labquake, sys; print(labquake.__file__); print(sys.prefix)"], cwd=tmp_path, env=env)
    file, prefix = where.stdout.split()
    assert Path(file).resolve().is_relative_to(purelib.resolve()), f"labquake imported from {file}, not from the venv"
    assert not Path(file).resolve().is_relative_to(ROOT) and Path(prefix).resolve() == venv.resolve()

    command = venv / "bin" / "labquake"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert _run([command, "--version"], cwd=tmp_path, env=env).stdout.strip() == f"labquake {version}"

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(tomli_w.dumps({**TINY, "loading": {**TINY["loading"], "max_steps": 4500}}))
    out = tmp_path / "run"
    proc = _run([command, "simulate", cfg, "--out", out, "--quiet"], cwd=tmp_path, env=env, timeout=420)
    assert "complete" in proc.stdout
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "complete", meta.get("error")
    assert meta["versions"]["labquake"] == version
    for table in ("loading", "cracks", "events", "slips", "contacts", "monitored", "energy"):
        assert (out / f"{table}.parquet").is_file(), table
