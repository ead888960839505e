"""analysis/sample_spin.py: the rigid-spin fit behind docs/stick-slip.md's jacket figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from labquake.errors import LabquakeError

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("sample_spin", ROOT / "analysis" / "sample_spin.py")
sample_spin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sample_spin)


def test_a_rigid_rotation_is_recovered_exactly_and_a_translation_is_no_spin():
    rng = np.random.default_rng(3)
    th = rng.uniform(0, 2 * np.pi, 200)
    r = rng.uniform(0.002, 0.02, 200)
    x, y = r * np.cos(th), r * np.sin(th)
    omega = 37.5
    om, res, vr = sample_spin.rigid_spin(x, y, -omega * y, omega * x)
    assert om == pytest.approx(omega, rel=1e-12) and res < 1e-12 and vr < 1e-12
    # clockwise is negative; a radial breathing adds radial velocity, not spin
    om, res, vr = sample_spin.rigid_spin(x, y, omega * y + 0.1 * x / r, -omega * x + 0.1 * y / r)
    assert om == pytest.approx(-omega, rel=1e-12) and vr == pytest.approx(0.1, rel=1e-12)
    # a uniform translation of a ring of points is no rigid spin (zero mean tangential
    # velocity weighted by r), and the fit says so with a residual of 1
    ring = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    om, res, _ = sample_spin.rigid_spin(0.01 * np.cos(ring), 0.01 * np.sin(ring), np.full(64, 0.3), np.zeros(64))
    assert abs(om) < 1e-12 and res == pytest.approx(1.0, rel=1e-9)


def test_one_line_errors(tmp_path, capsys):
    with pytest.raises(LabquakeError):
        sample_spin.rigid_spin([0.0], [0.0], [1.0], [1.0])
    assert sample_spin.main([str(tmp_path / "missing")]) == 2
    assert sample_spin.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("sample_spin: ") for line in err)
