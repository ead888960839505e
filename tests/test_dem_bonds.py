"""Bonded rock contacts and smooth-joint fault contacts."""

from __future__ import annotations

import numpy as np
import pytest

from labquake.dem import (
    CONTACT_ROCK_BOND,
    CONTACT_SMOOTH_JOINT,
    KIND_FAULT,
    KIND_ROCK,
    MODE_SHEAR,
    MODE_TENSION,
    Engine,
    LinearContact,
    RockBond,
    SmoothJoint,
)

R = 1e-3
RHO = 2650.0
BOND = RockBond(kn_per_area=1e13, ks_per_area=4e12, radius_multiplier=1.0, residual_mu=0.2)
SIG_T, COH, PHI = 20e6, 30e6, 30.0
AREA = np.pi * R * R


def _driven_pair(gap=0.0):
    """Two driven (kinematic) spheres along x; forces are computed but do not move them."""
    pos = np.array([[0.0, 0.0, 0.0], [2 * R + gap, 0.0, 0.0]])
    eng = Engine(pos, [R, R], RHO, LinearContact(1e6, 4e5, 0.5), bond=BOND, fixed=[1, 1])
    assert eng.install_bonds([0], [1], SIG_T, COH, PHI) == 1
    return eng


def test_bond_breaks_in_tension_at_tensile_strength():
    eng = _driven_pair()
    eng.set_velocities([1], [[1e-3, 0.0, 0.0]])  # pull apart
    last = None
    for _ in range(30000):
        eng.run(1)
        if eng.n_intact_bonds == 0:
            break
        c = eng.contacts()
        assert c["kind"][0] == CONTACT_ROCK_BOND and c["bonded"][0]
        last = c["fn"][0]
    assert eng.n_intact_bonds == 0
    tensile_stress = -last / AREA
    assert tensile_stress == pytest.approx(SIG_T, rel=0.01)
    cr = eng.pop_cracks()
    assert len(cr["step"]) == 1
    assert cr["mode"][0] == MODE_TENSION and cr["kind"][0] == KIND_ROCK
    assert (cr["particle_a"][0], cr["particle_b"][0]) == (0, 1)
    assert cr["step"][0] == eng.step_count
    assert cr["x"][0] == pytest.approx(R, rel=1e-2)
    assert abs(cr["nx"][0]) == pytest.approx(1.0)
    assert cr["size"][0] == pytest.approx(R)
    assert len(eng.pop_cracks()["step"]) == 0  # popped
    state = eng.lookup_pairs([0], [1])
    assert state["broken"][0]


def test_bond_breaks_in_shear_at_cohesion_plus_friction():
    # a small gap keeps the linear contact out: all normal force is the bond's
    eng = _driven_pair(gap=5e-6)
    sigma = 10e6
    eng.set_velocities([1], [[-1e-3, 0.0, 0.0]])
    while eng.contacts()["fn"][0] < sigma * AREA:
        eng.run(1)
    eng.set_velocities([1], [[0.0, 1e-3, 0.0]])
    fn = fs = None
    for _ in range(100000):
        c = eng.contacts()
        eng.run(1)
        if eng.n_intact_bonds == 0:
            break
        fn, fs = c["fn"][0], np.linalg.norm(c["fs"][0])
    assert eng.n_intact_bonds == 0
    strength = COH + fn / AREA * np.tan(np.radians(PHI))
    assert fn / AREA == pytest.approx(sigma, rel=0.05)
    assert fs / AREA == pytest.approx(strength, rel=0.01)
    cr = eng.pop_cracks()
    assert len(cr["step"]) == 1
    assert cr["mode"][0] == MODE_SHEAR and cr["kind"][0] == KIND_ROCK
    # afterwards a frictional contact with the residual friction
    eng.set_velocities([1], [[-0.05, 0.05, 0.0]])
    while eng.contacts()["i"].size == 0 or eng.contacts()["fn"][0] <= 0:
        eng.run(1)
    eng.run(5)
    c = eng.contacts()
    assert not c["bonded"][0]
    assert np.linalg.norm(c["fs"][0]) == pytest.approx(BOND.residual_mu * c["fn"][0], rel=1e-9)


def test_bond_survives_rebuilds_and_resorts():
    # a bonded chain spinning as a rigid body: cell order (and so the sorting) changes
    n = 30
    pos = np.column_stack([(np.arange(n) - n / 2) * 2 * R, np.zeros(n), np.zeros(n)])
    omega = np.array([0.0, 0.0, 50.0])
    eng = Engine(pos, np.full(n, R), RHO, LinearContact(1e6, 4e5, 0.5), bond=BOND, sort_every=1,
                 velocities=np.cross(omega, pos), angular_velocities=np.tile(omega, (n, 1)))
    eng.install_bonds(np.arange(n - 1), np.arange(1, n), 1e9, 1e9, 30.0)
    eng.run(5000)
    md = eng.metadata()
    assert md["n_rebuilds"] > 3 and md["n_sorts"] > 3
    assert eng.n_intact_bonds == n - 1
    c = eng.contacts()
    assert np.sum(c["bonded"]) == n - 1
    assert set(zip(np.minimum(c["i"], c["j"]), np.maximum(c["i"], c["j"]))) == {(k, k + 1) for k in range(n - 1)}


def test_smooth_joint_slides_along_plane_after_bond_fails():
    th = np.radians(30.0)
    n_pl = np.array([np.sin(th), 0.0, np.cos(th)])   # joint-plane normal
    t_pl = np.array([np.cos(th), 0.0, -np.sin(th)])  # a direction in the plane
    # centre-to-centre line 40 degrees away from the plane normal
    u = np.cos(np.radians(40)) * n_pl - np.sin(np.radians(40)) * t_pl
    pos = np.array([[0.0, 0.0, 0.0], 2 * R * u])
    joint = SmoothJoint(normal=tuple(n_pl), kn_per_area=1e12, ks_per_area=4e11, residual_mu=0.3)
    eng = Engine(pos, [R, R], RHO, LinearContact(1e6, 4e5, 0.5), joint=joint, side=[0, 1], fixed=[1, 0],
                 local_damping=0.7)
    eng.install_bonds([0], [1], 1e6, 1e5, 30.0)
    ext = np.zeros((2, 3))
    ext[1] = -1.0 * n_pl
    eng.set_external_forces(ext)
    eng.run(2000)
    c = eng.contacts()
    assert c["kind"][0] == CONTACT_SMOOTH_JOINT and c["bonded"][0]
    assert c["fn"][0] == pytest.approx(1.0, rel=1e-6)
    # shear load above the bond's shear strength (1e5 Pa + sigma tan 30 deg) * area = 0.89 N
    ext[1] = -1.0 * n_pl + 1.0 * t_pl
    eng.set_external_forces(ext)
    x0 = eng.positions[1].copy()
    eng.run(100)
    cr = eng.pop_cracks()
    assert len(cr["step"]) == 1
    assert cr["kind"][0] == KIND_FAULT and cr["mode"][0] == MODE_SHEAR
    assert np.allclose([cr["nx"][0], cr["ny"][0], cr["nz"][0]], n_pl)
    for _ in range(10):
        eng.run(100)
        c = eng.contacts()
        assert c["kind"][0] == CONTACT_SMOOTH_JOINT and not c["bonded"][0]
        normal = c["normal"][0]
        assert abs(abs(normal @ n_pl) - 1.0) < 1e-12          # the plane normal ...
        centre_line = eng.positions[1] - eng.positions[0]
        centre_line /= np.linalg.norm(centre_line)
        assert abs(normal @ centre_line) < 1.0 - 1e-3          # ... not the centre line
        fs = c["fs"][0]
        assert abs(fs @ n_pl) < 1e-12 * max(1.0, np.linalg.norm(fs))
        assert np.linalg.norm(fs) == pytest.approx(0.3 * c["fn"][0], rel=1e-9)
    d = eng.positions[1] - x0
    assert d @ t_pl > 1e-4                                     # slid along the plane
    assert abs(d @ n_pl) < 1e-3 * (d @ t_pl)                    # not across it
    v = eng.velocities[1]
    assert abs(v @ n_pl) < 1e-2 * np.linalg.norm(v)


def test_new_contacts_across_the_joint_are_unbonded_smooth_joints():
    n_pl = np.array([0.0, 0.0, 1.0])
    pos = np.array([[0.0, 0.0, 0.0], [0.5 * R, 0.0, 2.5 * R]])
    joint = SmoothJoint(normal=tuple(n_pl), kn_per_area=1e12, ks_per_area=4e11, residual_mu=0.1)
    eng = Engine(pos, [R, R], RHO, LinearContact(1e6, 4e5, 0.9), joint=joint, side=[0, 1], fixed=[1, 0],
                 velocities=[[0, 0, 0], [0.0, 0.0, -1.0]])
    for _ in range(1000):
        eng.run(10)
        c = eng.contacts()
        if c["i"].size:
            break
    assert c["kind"][0] == CONTACT_SMOOTH_JOINT and not c["bonded"][0]
    assert np.allclose(np.abs(c["normal"][0]), n_pl)


def test_bond_across_a_gap_stays_through_rebuilds_until_it_breaks():
    # gap 0.5 R is beyond the neighbour skin (0.3 R): the pair joins the list when bonded
    pos = np.array([[0.0, 0.0, 0.0], [2.5 * R, 0.0, 0.0], [0.0, 5 * R, 0.0]])
    eng = Engine(pos, [R, R, R], RHO, LinearContact(1e6, 4e5, 0.5), bond=BOND, fixed=[1, 1, 1],
                 velocities=[[0, 0, 0], [5.0, 0, 0], [0, 0, 5.0]], sort_every=1)
    assert eng.neighbor_pairs()["i"].size == 0
    eng.install_bonds([0], [1], 1e12, 1e12, 30.0)
    assert eng.lookup_pairs([0], [1])["present"][0]
    eng.run(3000)                       # pulled about 2 R further apart, many rebuilds
    assert eng.metadata()["n_rebuilds"] > 3
    c = eng.contacts()
    assert c["i"].size == 1 and c["bonded"][0]
    assert c["fn"][0] < 0.0             # the bond pulls (tension negative)
    assert eng.n_intact_bonds == 1
