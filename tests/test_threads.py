"""``--threads N`` forces the threaded force path, and the tables do not depend on it (issue 14).

A paper-size specimen (``tests/data/paper_specimen.npz``: the specimen the paper preset
builds, 1146 particles, about 4500 contacts) runs a short consolidation and axial loading
through the CLI on 1 thread and on 2 threads. Numba's thread count is set explicitly
(``NUMBA_NUM_THREADS=2``) so that a one-core CI machine also runs two worker threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from labquake.sim.config import load_config
from labquake.io.rundir import RunDirectory, dumps_toml

ROOT = Path(__file__).resolve().parents[1]
SPECIMEN = ROOT / "tests" / "data" / "paper_specimen.npz"
TABLES = ("loading", "cracks", "events", "contacts", "monitored", "slips", "energy")


def _config(tmp_path: Path, confinement: str = "wall") -> Path:
    cfg = load_config(ROOT / "simulations" / "paper.toml")
    cfg["specimen"]["file"] = str(SPECIMEN)
    cfg["loading"]["confinement"] = confinement
    # fast platen: cracks and AE events within a few thousand steps
    cfg["loading"].update(consolidation_max_steps=1200, consolidation_min_steps=600, consolidation_ramp_steps=600,
                          max_steps=3000, platen_velocity=4.0, min_axial_steps=100)
    cfg["recording"].update(checkpoint_interval=1000, snapshot_final=False, snapshot_axial_start=False,
                            snapshot_mainshock=False)
    path = tmp_path / "paper_short.toml"
    path.write_text(dumps_toml(cfg))
    return path


def _simulate(cfg: Path, out: Path, threads: int) -> RunDirectory:
    # OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning, which keeps the
    # threaded path fast on a busy CI machine (it does not change any result)
    env = dict(os.environ, NUMBA_NUM_THREADS="2", OMP_WAIT_POLICY="PASSIVE",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "labquake.cli", "simulate", str(cfg), "--out", str(out),
                           "--threads", str(threads), "--quiet"], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return RunDirectory(out)


def test_parallel_min_pairs_is_forced_by_threads():
    from labquake.sim.experiment import parallel_min_pairs

    assert parallel_min_pairs(2) == 0 and parallel_min_pairs(4) == 0


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("confinement", ["wall", "jacket"])
def test_paper_specimen_on_one_and_two_threads_gives_identical_tables(tmp_path, confinement):
    cfg = _config(tmp_path, confinement)
    one = _simulate(cfg, tmp_path / "one", 1)
    two = _simulate(cfg, tmp_path / "two", 2)
    m1, m2 = one.read_meta(), two.read_meta()
    assert m1["engine"]["n_threads"] == 1 and not m1["engine"]["threaded_path"]
    assert m2["engine"]["n_threads"] == 2 and m2["engine"]["threaded_path"] and m2["engine"]["parallel_min_pairs"] == 0
    assert m2["specimen"]["n_particles"] > 1000 and m2["engine"]["n_pairs"] > 3000  # paper size
    assert m2["counts"]["cracks"] > 0 and m2["counts"]["events"] > 0
    assert m2["engine"]["lateral_boundary"] == confinement
    if confinement == "jacket":  # the segments moved, identically
        assert m1["engine"]["jacket"] == m2["engine"]["jacket"] and m2["engine"]["jacket"]["offset_x"] != 0.0
    for name in TABLES:
        pd.testing.assert_frame_equal(one.read_table(name), two.read_table(name), check_exact=True, obj=name)
