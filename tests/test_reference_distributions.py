"""analysis/reference_distributions.py: the reference's own numbers and the correlation test
behind docs/stick-slip.md ("Crack counts and the stress after the mainshock")."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("reference_distributions", ROOT / "analysis" / "reference_distributions.py")
rd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rd)


def _with_correlation(r: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two samples of size n whose Pearson correlation is exactly r."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n))
    a -= a.mean()
    b -= b.mean()
    b -= (a @ b) / (a @ a) * a  # orthogonal to a, both centred
    a /= np.linalg.norm(a)
    b /= np.linalg.norm(b)
    return a, r * a + math.sqrt(1.0 - r * r) * b


#: the "after" column of the reference's 27-run table (ye2024.md section 2), transcribed on
#: its own: the script derives the stress after as peak - drop
TABLE_AFTER = [210, 250, 120, 115, 210, 125, 195, 100, 225, 220, 110, 120, 170, 85,
               85, 170, 160, 185, 130, 205, 145, 120, 188, 180, 150, 145, 165]


def test_the_reference_stress_after_follows_the_peak_and_its_drop_does_not():
    ref = rd.REFERENCE
    assert len(ref["peak"]) == len(ref["drop"]) == 27
    assert ref["after"] == TABLE_AFTER  # peak - drop is the table's own after column, row by row
    after = rd.compare_correlations(ref["peak"], ref["after"], ref["peak"], ref["after"])
    drop = rd.compare_correlations(ref["peak"], ref["drop"], ref["peak"], ref["after"])
    assert after["r"] == pytest.approx(0.90, abs=0.005) and after["fisher_p"] == pytest.approx(1.0)
    assert drop["r"] == pytest.approx(0.11, abs=0.005)
    assert drop["fisher_p"] < 1e-4  # the two structures differ, clearly, at n = 27 each


def test_fisher_z_matches_the_closed_form():
    # r = 0.5 and 0.3 on 50 pairs each: z = (atanh 0.5 - atanh 0.3) / sqrt(2/47) = 1.1624,
    # two-sided p = erfc(z / sqrt 2) = 0.2451
    x1, y1 = _with_correlation(0.5, 50, 1)
    x2, y2 = _with_correlation(0.3, 50, 2)
    res = rd.compare_correlations(x1, y1, x2, y2)
    assert res["r"] == pytest.approx(0.5, abs=1e-12) and res["ref_r"] == pytest.approx(0.3, abs=1e-12)
    z = (math.atanh(0.5) - math.atanh(0.3)) / math.sqrt(2.0 / 47.0)
    assert res["fisher_p"] == pytest.approx(math.erfc(z / math.sqrt(2.0)), rel=1e-9)
    assert res["fisher_p"] == pytest.approx(0.2451, abs=5e-4)


def test_fisher_z_keeps_its_size_under_the_null():
    """Samples of 27 runs from one bivariate normal (rho 0.6): p < 0.05 in about 5 % of trials."""
    rng = np.random.default_rng(7)
    cov = [[1.0, 0.6], [0.6, 1.0]]
    trials = 2000
    hits = 0
    for _ in range(trials):
        a = rng.multivariate_normal([0, 0], cov, size=27)
        b = rng.multivariate_normal([0, 0], cov, size=27)
        hits += rd.compare_correlations(a[:, 0], a[:, 1], b[:, 0], b[:, 1])["fisher_p"] < 0.05
    # binomial(2000, 0.05): sd 0.0049, so 0.05 +- 0.02 is a 4-sigma band
    assert 0.03 < hits / trials < 0.07


def test_too_few_runs_or_a_constant_column_give_nan_not_an_error():
    x, y = _with_correlation(0.4, 10, 3)
    few = rd.compare_correlations([1.0, 2.0, float("nan"), 4.0], [2.0, 1.0, 3.0, float("nan")], x, y)
    assert few["n"] == 2 and math.isnan(few["r"]) and math.isnan(few["fisher_p"])
    flat = rd.compare_correlations(np.ones(10), y, x, y)
    assert math.isnan(flat["r"]) and math.isnan(flat["fisher_p"]) and flat["ref_r"] == pytest.approx(0.4)


def test_select_runs_by_directory_name():
    from types import SimpleNamespace

    mod = rd
    runs = [SimpleNamespace(name=n) for n in
            ("run-01_dmin0.00495_seed1", "run-28_dmin0.00495_bondedfraction0.6_seed1", "run-02_dmin0.0049_seed1")]
    assert [r.name for r in mod.select_runs(runs)] == [r.name for r in runs]
    assert [r.name for r in mod.select_runs(runs, skip="bondedfraction")] == ["run-01_dmin0.00495_seed1",
                                                                              "run-02_dmin0.0049_seed1"]
    assert [r.name for r in mod.select_runs(runs, only=r"bondedfraction0\.6")] == [runs[1].name]
    assert mod.select_runs(runs, only="run-0", skip="0.0049_") == [runs[0]]
