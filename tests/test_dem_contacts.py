"""Linear frictional contact: restitution, energy, momentum, stick and slip."""

from __future__ import annotations

import numpy as np
import pytest

from labquake.sim.dem import Engine, LinearContact

R = 1e-3
RHO = 2650.0
KN = 1e5


def _mass(r):
    return RHO * 4.0 / 3.0 * np.pi * r ** 3


def _pair(r2=1.0, zeta=0.0, steps_per_contact=200, v=0.01, **kw):
    """Two spheres approaching head-on along x, dt = t_c / steps_per_contact."""
    m1, m2 = _mass(R), _mass(r2 * R)
    meff = m1 * m2 / (m1 + m2)
    tc = np.pi * np.sqrt(meff / KN)
    dt = tc / steps_per_contact
    gap = 0.2 * steps_per_contact * dt * 2 * v
    pos = np.array([[0.0, 0.0, 0.0], [R + r2 * R + gap, 0.0, 0.0]])
    eng = Engine(pos, [R, r2 * R], RHO, LinearContact(KN, 0.4 * KN, 0.5, damping_ratio=zeta),
                 velocities=[[v, 0, 0], [-v, 0, 0]], dt=dt, **kw)
    return eng


@pytest.mark.parametrize("zeta", [0.05, 0.15, 0.3])
def test_restitution_matches_damping_ratio(zeta):
    # the dashpot sees the half-step velocity (as in LAMMPS): the error is O(dt), ~0.5 %
    # for zeta = 0.3 at 500 steps per contact
    eng = _pair(r2=0.8, zeta=zeta, steps_per_contact=500)
    v0 = eng.velocities.copy()
    eng.run(2500)
    assert eng.contacts()["i"].size == 0  # separated again
    v1 = eng.velocities
    e = (v1[1, 0] - v1[0, 0]) / (v0[0, 0] - v0[1, 0])
    expected = np.exp(-np.pi * zeta / np.sqrt(1 - zeta ** 2))
    assert abs(e / expected - 1.0) < 0.01


def test_energy_conserved_without_damping():
    eng = _pair(r2=0.8, zeta=0.0, steps_per_contact=500)
    e0 = eng.kinetic_energy() + eng.elastic_energy()
    emax = 0.0
    for _ in range(100):
        eng.run(100)
        e = eng.kinetic_energy() + eng.elastic_energy()
        emax = max(emax, abs(e - e0) / e0)
    assert eng.step_count == 10_000
    assert eng.contacts()["i"].size == 0
    assert abs(eng.velocities[1, 0] - eng.velocities[0, 0]) > 0  # they did collide
    assert abs(eng.kinetic_energy() - e0) / e0 < 1e-6
    # during contact the discrete energy oscillates (O(dt^2)), it does not drift
    assert emax < 1e-3


def test_momentum_conserved_oblique_frictional_impact():
    pos = np.array([[0.0, 0.0, 0.0], [2.0e-3, 0.3e-3, 0.1e-3]])
    eng = Engine(pos, [R, 0.8 * R], RHO, LinearContact(KN, 0.4 * KN, 0.3, damping_ratio=0.1, rolling_mu=0.1),
                 velocities=[[0.02, 0.0, 0.005], [-0.03, -0.01, -0.005]],
                 angular_velocities=[[0.0, 0.0, 30.0], [10.0, 5.0, 0.0]])
    p0, l0 = eng.momentum()
    hit = False
    for _ in range(400):
        eng.run(10)
        hit = hit or eng.contacts()["i"].size > 0
    p1, l1 = eng.momentum()
    assert hit
    scale_p = np.abs(_mass(R) * 0.03)
    scale_l = scale_p * 2e-3
    assert np.all(np.abs(p1 - p0) < 1e-12 * scale_p)
    assert np.all(np.abs(l1 - l0) < 1e-12 * scale_l)


def _on_plane(tangential_ratio, mu=0.4):
    """A sphere pressed on a fixed sphere 100x larger (locally a plane) with load (Ft, 0, -Fn)."""
    big = 100 * R
    pos = np.array([[0.0, 0.0, -big], [0.0, 0.0, R - 1e-6]])
    eng = Engine(pos, [big, R], RHO, LinearContact(1e6, 4e5, mu, rolling_mu=1.0), fixed=[1, 0],
                 local_damping=0.7)
    fn = 0.5
    ft = tangential_ratio * mu * fn
    ext = np.zeros((2, 3))
    ext[1] = [ft, 0.0, -fn]
    eng.set_external_forces(ext)
    return eng, fn, ft


def test_sphere_sticks_below_friction_limit():
    eng, fn, ft = _on_plane(0.8)
    eng.run(4000)
    x0 = eng.positions[1].copy()
    eng.run(4000)
    c = eng.contacts()
    assert c["i"].size == 1
    assert np.linalg.norm(eng.positions[1] - x0) < 1e-9
    assert np.linalg.norm(eng.velocities[1]) < 1e-6
    fs = np.linalg.norm(c["fs"][0])
    assert fs == pytest.approx(ft, rel=1e-3)
    assert fs < 0.4 * c["fn"][0]


def test_sphere_slides_above_friction_limit_with_mu_fn():
    eng, fn, ft = _on_plane(1.5)
    eng.run(2000)
    x0 = eng.positions[1].copy()
    for _ in range(5):
        eng.run(500)
        c = eng.contacts()
        assert c["i"].size == 1
        assert np.linalg.norm(c["fs"][0]) == pytest.approx(0.4 * c["fn"][0], rel=1e-9)
    assert eng.positions[1, 0] - x0[0] > 1e-6
    assert eng.velocities[1, 0] > 0
