"""Platens, confinement servo, loading-frame spring."""

from __future__ import annotations

import numpy as np
import pytest

from labquake.dem import ConfiningCylinder, Engine, LinearContact, Platens
from labquake.dem.lattice import fcc_cylinder

RAD, HEIGHT, R0 = 6e-3, 16e-3, 0.75e-3
SIGMA_C = 1e6


def _sample(mode, platen_mode="servo", **kw):
    pos, rad = fcc_cylinder(RAD, HEIGHT, R0, np.random.default_rng(0))
    zb = pos[:, 2].min() - 0.999 * R0
    zt = pos[:, 2].max() + 0.999 * R0
    return Engine(pos, rad, 2650.0, LinearContact(1e7, 4e6, 0.5),
                  platens=Platens(zb, zt, 1e7, mode=platen_mode, target_stress=SIGMA_C, **kw),
                  cylinder=ConfiningCylinder(RAD, 1e7, SIGMA_C, mode=mode), local_damping=0.7)


def test_servo_cylinder_holds_confinement_during_axial_loading():
    eng = _sample("wall")
    eng.run(2000)  # isotropic consolidation (servo platens + servo cylinder)
    b0 = eng.boundary_state()
    assert b0["confining_stress"] == pytest.approx(SIGMA_C, rel=0.02)
    eng.set_platens(mode="velocity", velocity=0.2)
    axial = []
    for _ in range(20):
        eng.run(100)
        b = eng.boundary_state()
        assert abs(b["confining_stress"] / SIGMA_C - 1.0) <= 0.02
        axial.append(b["axial_stress"])
    assert axial[-1] > 1.2 * SIGMA_C              # the platens did load the sample axially
    assert b["platen_displacement"] > b0["platen_displacement"]
    assert b["cylinder_radius"] < RAD


def test_pressure_membrane_applies_target_stress_and_follows_sample():
    eng = _sample("pressure")
    eng.run(1500)
    eng.set_platens(mode="velocity", velocity=0.2)
    for _ in range(5):
        eng.run(100)
        b = eng.boundary_state()
        assert b["confining_stress"] == pytest.approx(SIGMA_C, rel=1e-12)
    # the membrane radius is the sample's outer radius, about that of the lattice
    r_out = np.max(np.hypot(eng.positions[:, 0], eng.positions[:, 1]) + eng.radii)
    assert 0.9 * r_out < b["cylinder_radius"] <= r_out
    # total radial force balances the confining stress times the lateral area
    assert b["n_lateral_contacts"] > 50


def test_frame_spring_platen_balances_particle_force():
    eng = _sample("wall")
    eng.run(1500)
    kf = 5e5
    eng.set_platens(mode="velocity", velocity=0.5, frame_stiffness=kf)
    f_before = eng.boundary_state()["platen_force_top"]
    eng.run(1)
    b = eng.boundary_state()
    assert b["platen_force_top"] == pytest.approx(f_before, rel=0.05)  # preloaded, no jump
    for _ in range(10):
        eng.run(100)
    b = eng.boundary_state()
    spring = kf * (b["z_top"] - b["z_drive"])
    assert spring == pytest.approx(b["platen_force_top"], rel=0.02)
    assert b["platen_force_top"] > f_before
