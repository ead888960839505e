"""Bad parameters raise labquake.errors.ParameterError before any step runs."""

from __future__ import annotations

import numpy as np
import pytest

from labquake.sim.dem import ConfiningCylinder, Engine, LinearContact, Platens, RockBond, SmoothJoint
from labquake.errors import ParameterError

POS = np.array([[0.0, 0.0, 0.0], [2.1e-3, 0.0, 0.0]])
RAD = np.array([1e-3, 1e-3])
OK = LinearContact(1e6, 4e5, 0.5)


@pytest.mark.parametrize("kwargs", [
    dict(kn=-1.0, ks=1.0, mu=0.5),
    dict(kn=1.0, ks=-1.0, mu=0.5),
    dict(kn=1.0, ks=1.0, mu=-0.1),
    dict(kn=1.0, ks=1.0, mu=0.5, damping_ratio=1.5),
    dict(kn=float("nan"), ks=1.0, mu=0.5),
])
def test_bad_contact_parameters(kwargs):
    with pytest.raises(ParameterError):
        LinearContact(**kwargs)


def test_bad_bond_and_joint_parameters():
    with pytest.raises(ParameterError):
        RockBond(-1e12, 1e12)
    with pytest.raises(ParameterError):
        RockBond(1e12, 1e12, residual_mu=-0.2)
    with pytest.raises(ParameterError):
        SmoothJoint((0.0, 0.0, 0.0), 1e12, 1e12)
    with pytest.raises(ParameterError):
        SmoothJoint((0.0, 0.0, 1.0), 1e12, -1.0)


def test_dt_above_critical():
    eng = Engine(POS, RAD, 2650.0, OK)
    with pytest.raises(ParameterError, match="critical"):
        Engine(POS, RAD, 2650.0, OK, dt=1.01 * eng.critical_dt)
    Engine(POS, RAD, 2650.0, OK, dt=0.99 * eng.critical_dt)
    # bond stiffness enters the critical step
    stiff = Engine(POS, RAD, 2650.0, OK, bond=RockBond(1e16, 1e16))
    assert stiff.critical_dt < eng.critical_dt


def test_nan_positions_and_radii():
    p = POS.copy()
    p[1, 2] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        Engine(p, RAD, 2650.0, OK)
    with pytest.raises(ParameterError):
        Engine(POS, [1e-3, -1e-3], 2650.0, OK)
    with pytest.raises(ParameterError):
        Engine(POS, RAD, -1.0, OK)


def test_walls():
    with pytest.raises(ParameterError, match="overlap or are inverted"):
        Platens(0.01, -0.01, 1e7)
    with pytest.raises(ParameterError):
        Platens(0.0, 0.0, 1e7)
    with pytest.raises(ParameterError):
        Platens(-0.01, 0.01, -1e7)
    with pytest.raises(ParameterError, match="outside the platens"):
        Engine(POS, RAD, 2650.0, OK, platens=Platens(0.001, 0.01, 1e7))
    with pytest.raises(ParameterError, match="outside the confining cylinder"):
        Engine(POS, RAD, 2650.0, OK, cylinder=ConfiningCylinder(1e-3, 1e7, 1e6, mode="wall"))
    with pytest.raises(ParameterError):
        ConfiningCylinder(0.01, 1e7, -1e6)
    with pytest.raises(ParameterError):
        ConfiningCylinder(0.01, 1e7, 1e6, mode="rubber")


def test_other_engine_arguments():
    with pytest.raises(ParameterError):
        Engine(POS[:, :2], RAD, 2650.0, OK)
    with pytest.raises(ParameterError):
        Engine(POS, RAD, 2650.0, OK, side=[0, 2])
    with pytest.raises(ParameterError):
        Engine(POS, RAD, 2650.0, OK, n_threads=0)
    with pytest.raises(ParameterError):
        Engine(POS, RAD, 2650.0, OK, density_scale=0.5)
    with pytest.raises(ParameterError):
        Engine(POS, RAD, 2650.0, OK, local_damping=1.0)
    with pytest.raises(ParameterError):
        Engine(POS, RAD, 2650.0, "not a contact")


def test_bad_bonds():
    eng = Engine(np.array([[0.0, 0.0, 0.0], [2e-3, 0, 0], [9e-3, 0, 0]]), [1e-3] * 3, 2650.0, OK,
                 bond=RockBond(1e12, 4e11))
    with pytest.raises(ParameterError, match="apart"):
        eng.install_bonds([0], [2], 1e6, 1e6, 30.0)
    with pytest.raises(ParameterError):
        eng.install_bonds([0], [1], -1e6, 1e6, 30.0)
    with pytest.raises(ParameterError):
        eng.install_bonds([0], [1], 1e6, 1e6, 95.0)
    eng.install_bonds([0], [1], 1e6, 1e6, 30.0)
    with pytest.raises(ParameterError, match="bonded already"):
        eng.install_bonds([1], [0], 1e6, 1e6, 30.0)
    no_bond = Engine(POS, RAD, 2650.0, OK)
    with pytest.raises(ParameterError, match="RockBond"):
        no_bond.install_bonds([0], [1], 1e6, 1e6, 30.0)
    with pytest.raises(ParameterError):
        eng.run(-1)


def test_stage_setters_validate_and_record():
    eng = Engine(POS, RAD, 2650.0, OK, density_scale=100.0)
    crit = eng.critical_dt
    with pytest.raises(ParameterError):
        eng.set_dt(2 * crit)
    with pytest.raises(ParameterError, match="critical"):
        eng.set_density_scale(1.0)          # dt = 0.2 crit(100) > crit(1) = crit(100) / 10
    eng.set_dt(0.05 * crit)
    m0 = eng.masses.copy()
    eng.set_density_scale(1.0)
    assert np.allclose(eng.masses, m0 / 100.0)
    assert eng.critical_dt == pytest.approx(crit / 10.0)
    assert eng.metadata()["density_scale"] == 1.0
    eng.set_damping(local_damping=0.05, damping_ratio=0.1)
    assert eng.metadata()["damping"] == {"local_damping": 0.05, "contact_damping_ratio": 0.1}
    with pytest.raises(ParameterError):
        eng.set_damping(local_damping=1.5)
