"""analysis/fault_joint_stress.py: the tension margin of the monitored fault joints, on a
synthetic run whose every number is known."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from labquake.io.rundir import RunDirectory, run_directories
from labquake.errors import RunStateError
from run_support import write_monitored_run

ROOT = Path(__file__).resolve().parents[1]
AREA, SIGMA_T, KN, RADIUS = 2e-5, 55e6, 2.0e12, 0.02
STEPS = np.arange(0, 2000, 20)
PEAK = 1000


def _script():
    spec = importlib.util.spec_from_file_location("fault_joint_stress", ROOT / "analysis" / "fault_joint_stress.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(path: Path, stress_mpa: np.ndarray, radii: list[float], models: list[str]) -> RunDirectory:
    """A complete run: contact k sits at radius radii[k] (fraction of R), has the model
    models[k] and the normal stress stress_mpa[k, :] (MPa) at STEPS."""
    cfg = {"seed": 1, "specimen": {"diameter": 2 * RADIUS, "d_min": 0.004, "d_max": 0.006},
           "fault": {"contact_area": AREA, "tensile_strength": SIGMA_T, "kn_per_area": KN}}
    r = np.asarray(radii) * RADIUS
    pos = np.column_stack([0.6 * r, 0.8 * r, np.zeros_like(r)])
    zero = np.zeros_like(stress_mpa)
    return write_monitored_run(path, STEPS, stress_mpa * 1e6 * AREA, zero, zero.astype(bool), config=cfg,
                               meta={"peak_step": PEAK}, positions=pos, models=models)


@pytest.fixture
def run(tmp_path):
    s = np.full((5, STEPS.size), 100.0)
    in_win = (STEPS >= PEAK - 500) & (STEPS <= PEAK + 600)
    s[0, np.flatnonzero(in_win)[3]] = -20.0      # opens in the window
    s[1, np.flatnonzero(in_win)[5]] = -60.0      # beyond the tensile strength
    s[2, 2] = -80.0                              # opens only before the window
    s[3, :] = np.linspace(120.0, 80.0, STEPS.size)
    s[4, :] = -500.0                             # a rock contact: never counted
    return _run(tmp_path / "run", s, [0.2, 0.6, 0.8, 0.95, 0.3],
                ["smoothjoint"] * 4 + ["flatjoint"])


def test_margin_counts_only_smooth_joints_in_the_window(run):
    r = _script().joint_stress_margin(run, before=500, after=600)
    assert r["joints"] == 4
    assert r["lowest_min_mpa"] == pytest.approx(-60.0)
    assert r["below_zero"] == 2 and r["reaching_tensile_strength"] == 1
    lows = np.array([-20.0, -60.0, 100.0, np.linspace(120.0, 80.0, STEPS.size)[(STEPS <= PEAK + 600)][-1]])
    assert r["lowest_median_mpa"] == pytest.approx(np.median(lows))
    s3 = np.linspace(120.0, 80.0, STEPS.size)
    first, last = STEPS == PEAK - 500, STEPS == PEAK + 600
    assert r["mean_first_mpa"] == pytest.approx((300.0 + s3[first][0]) / 4)
    assert r["mean_last_mpa"] == pytest.approx((300.0 + s3[last][0]) / 4)


def test_bands_use_the_whole_run_and_the_opening_is_analytic(run):
    r = _script().joint_stress_margin(run, before=500, after=600, bands=(0.5, 0.75, 0.9))
    assert [b["joints"] for b in r["bands"]] == [1, 1, 1, 1]
    assert r["bands"][2]["lowest_median_mpa"] == pytest.approx(-80.0)  # before the window, still counted
    med = r["median_stress_mpa"] * 1e6
    assert r["opening_to_tension_um"] == pytest.approx((med + SIGMA_T) / KN * 1e6)
    assert r["opening_strain_per_grain"] == pytest.approx((med + SIGMA_T) / KN / 0.005)


def test_a_run_without_smooth_joints_is_one_line_and_exit_2(tmp_path, capsys):
    _run(tmp_path / "rock", np.full((2, STEPS.size), 50.0), [0.1, 0.2], ["flatjoint", "linear"])
    assert _script().main([str(tmp_path / "rock")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no smooth joint" in err[0]


def test_run_directories_takes_runs_and_campaign_folders(run, tmp_path):
    assert [r.path for r in run_directories([run.path])] == [run.path]
    assert [r.path for r in run_directories([tmp_path])] == [run.path]
    with pytest.raises(RunStateError, match="not a directory"):
        run_directories([tmp_path / "nope"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RunStateError, match="no complete run directory"):
        run_directories([empty])


def test_ensemble_line_sums_the_runs(run):
    mod = _script()
    a = mod.joint_stress_margin(run, before=500, after=600)
    b = dict(a, joints=3, below_zero=0, reaching_tensile_strength=0, lowest_min_mpa=12.0)
    line = mod.ensemble_line([a, b])
    assert line.startswith("ensemble: 2 runs, 7 monitored joints;")
    assert "2 below 0 MPa, 1 at the tensile strength" in line
    assert "median -24.0, smallest -60.0 MPa" in line
