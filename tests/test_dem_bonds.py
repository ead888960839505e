"""Bonded rock contacts and smooth-joint fault contacts."""

from __future__ import annotations

import numpy as np
import pytest

from labquake.sim.dem import (
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


def _tilted_joint_pair(mu=0.3):
    """Two particles across a joint whose plane normal is 40 degrees off their centre line,
    both driven (kinematic)."""
    th = np.radians(30.0)
    n_pl = np.array([np.sin(th), 0.0, np.cos(th)])   # joint-plane normal
    t_pl = np.array([np.cos(th), 0.0, -np.sin(th)])  # a direction in the plane
    u = np.cos(np.radians(40)) * n_pl - np.sin(np.radians(40)) * t_pl
    pos = np.array([[0.0, 0.0, 0.0], 2 * R * u])
    joint = SmoothJoint(normal=tuple(n_pl), kn_per_area=1e12, ks_per_area=4e11, residual_mu=mu)
    eng = Engine(pos, [R, R], RHO, LinearContact(1e6, 4e5, 0.5), joint=joint, side=[0, 1], fixed=[1, 1])
    return eng, n_pl, t_pl, u


def test_smooth_joint_slides_along_plane_after_bond_fails():
    eng, n_pl, t_pl, u = _tilted_joint_pair()
    eng.install_bonds([0], [1], 1e6, 1e5, 30.0)
    area = np.pi * R * R
    dt = eng.dt
    v = 1e-3
    eng.set_velocities([1], -v * n_pl[None, :])  # press j onto the plane
    eng.run(200)
    c = eng.contacts()
    assert c["kind"][0] == CONTACT_SMOOTH_JOINT and c["bonded"][0]
    assert c["fn"][0] == pytest.approx(1e12 * area * v * dt * 200, rel=1e-9)
    eng.set_velocities([1], v * t_pl[None, :])  # then slide it along the plane
    cr = None
    for _ in range(400):
        eng.run(10)
        got = eng.pop_cracks()
        if len(got["step"]):
            cr = got
            break
    assert cr is not None and len(cr["step"]) == 1
    assert cr["kind"][0] == KIND_FAULT and cr["mode"][0] == MODE_SHEAR
    assert np.allclose([cr["nx"][0], cr["ny"][0], cr["nz"][0]], n_pl)
    for _ in range(10):
        eng.run(20)
        c = eng.contacts()
        assert c["kind"][0] == CONTACT_SMOOTH_JOINT and not c["bonded"][0]
        normal = c["normal"][0]
        assert abs(abs(normal @ n_pl) - 1.0) < 1e-12          # the plane normal ...
        centre_line = eng.positions[1] - eng.positions[0]
        centre_line /= np.linalg.norm(centre_line)
        assert abs(normal @ centre_line) < 1.0 - 1e-3          # ... not the centre line
        fs = c["fs"][0]
        assert abs(fs @ n_pl) < 1e-12 * max(1.0, np.linalg.norm(fs))
        assert np.linalg.norm(fs) == pytest.approx(0.3 * c["fn"][0], rel=1e-9)   # Coulomb sliding


def _run_until_broken(eng, max_steps=200000):
    """Run one step at a time until the joint's bond breaks; returns the last bonded contact."""
    last = None
    for _ in range(max_steps):
        c = eng.contacts()
        eng.run(1)
        if eng.n_intact_bonds == 0:
            return last if last is not None else c
        last = c
    raise AssertionError("the bond never broke")


def test_smooth_joint_pulled_apart_along_its_normal_breaks_in_tension_at_its_strength():
    # PFC's bonded smooth joint: tension (normal force over the joint area, along the
    # fault-plane normal, measured from the stress-free installation) is tested first
    eng, n_pl, t_pl, u = _tilted_joint_pair()
    sig_t, coh = 2e6, 3e6
    eng.install_bonds([0], [1], sig_t, coh, 30.0)
    eng.set_velocities([1], 1e-3 * n_pl[None, :])  # j moves off the plane
    last = _run_until_broken(eng)
    assert last["kind"][0] == CONTACT_SMOOTH_JOINT and last["bonded"][0]
    assert -last["fn"][0] / AREA == pytest.approx(sig_t, rel=0.01)
    assert np.linalg.norm(last["fs"][0]) < 1e-9 * abs(last["fn"][0])  # no shear: pure opening
    cr = eng.pop_cracks()
    assert len(cr["step"]) == 1
    assert cr["kind"][0] == KIND_FAULT and cr["mode"][0] == MODE_TENSION
    assert np.allclose([cr["nx"][0], cr["ny"][0], cr["nz"][0]], n_pl)


def test_smooth_joint_sheared_while_in_tension_breaks_at_cohesion_minus_the_tension_times_tan_phi():
    # tau > c + sigma_n tan(phi) with sigma_n compression-positive: a joint held open at a
    # tensile stress below its tensile strength fails in shear *below* its cohesion
    eng, n_pl, t_pl, u = _tilted_joint_pair()
    sig_t, coh, phi = 2e6, 3e6, 30.0
    eng.install_bonds([0], [1], sig_t, coh, phi)
    eng.set_velocities([1], 1e-3 * n_pl[None, :])
    while -eng.contacts()["fn"][0] / AREA < 1e6:  # open to a tensile stress of ~1 MPa
        eng.run(1)
    eng.set_velocities([1], 1e-3 * t_pl[None, :])  # then slide along the plane
    last = _run_until_broken(eng)
    sigma_n = last["fn"][0] / AREA
    assert sigma_n == pytest.approx(-1e6, rel=0.01)  # sliding along the plane keeps the opening
    tau = np.linalg.norm(last["fs"][0]) / AREA
    assert tau == pytest.approx(coh + sigma_n * np.tan(np.radians(phi)), rel=0.01)
    assert tau < coh
    cr = eng.pop_cracks()
    assert len(cr["step"]) == 1 and cr["mode"][0] == MODE_SHEAR and cr["kind"][0] == KIND_FAULT


def test_smooth_joint_sees_the_rotation_of_its_particles():
    """The joint is displaced by the relative motion of the contact point, rotations
    included (as PFC): spinning j about an in-plane axis moves its contact point, at
    a_j u from its centre, by (w x (-a_j u)) dt, whose component along the plane normal
    changes the normal force by kn A (that velocity . n) dt per step."""
    eng, n_pl, t_pl, u = _tilted_joint_pair()
    eng.install_bonds([0], [1], 1e12, 1e12, 30.0)
    w = np.cross(n_pl, t_pl) * 50.0  # rad/s about the in-plane axis normal to t_pl
    eng.set_velocities([1], np.zeros((1, 3)), w[None, :])
    steps = 100
    eng.run(steps)
    v_contact = np.cross(w, -R * u)  # contact point of j, at -R u from its centre
    expected = -1e12 * np.pi * R * R * (v_contact @ n_pl) * eng.dt * steps
    fn = eng.contacts()["fn"][0]
    assert abs(expected) > 0.0
    assert fn == pytest.approx(expected, rel=1e-6)


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


def test_shear_broken_joint_across_a_gap_keeps_its_compression_until_its_faces_open():
    """A fault joint installed across a gap (0.5 R, beyond the skin: the spheres never
    touch) breaks in shear while pressed together. It keeps its normal force and slides at
    residual friction, through neighbour-list rebuilds, and loses it only when the faces
    are pulled apart (a broken contact that is still pressed together must not release
    its compression: that would be a spurious implosion in the AE moment tensors)."""
    th = np.radians(30.0)
    n_pl = np.array([np.sin(th), 0.0, np.cos(th)])
    t_pl = np.array([np.cos(th), 0.0, -np.sin(th)])
    u = np.cos(np.radians(20)) * n_pl - np.sin(np.radians(20)) * t_pl
    pos = np.array([[0.0, 0.0, 0.0], (2.5 * R) * u])
    mu = 0.3
    joint = SmoothJoint(normal=tuple(n_pl), kn_per_area=1e12, ks_per_area=4e11, residual_mu=mu)
    eng = Engine(pos, [R, R], RHO, LinearContact(1e6, 4e5, 0.5), joint=joint, side=[0, 1], fixed=[1, 1],
                 sort_every=1)
    eng.install_bonds([0], [1], 1e9, 2e3, 30.0, max_gap=R)
    v = 1e-3
    eng.set_velocities([1], -v * n_pl[None, :])  # press the faces together
    eng.run(200)
    fn0 = eng.contacts()["fn"][0]
    assert fn0 == pytest.approx(1e12 * AREA * v * eng.dt * 200, rel=1e-9)
    eng.set_velocities([1], 20 * v * t_pl[None, :])  # slide along the plane: shear break
    broke = False
    for _ in range(200):
        eng.run(5)
        if len(eng.pop_cracks()["step"]):
            broke = True
            break
    assert broke and eng.n_intact_bonds == 0
    gap = np.linalg.norm(eng.positions[1] - eng.positions[0]) - 2 * R
    assert gap > 0.3 * R                                  # the spheres do not touch
    n_reb = eng.metadata()["n_rebuilds"]
    eng.set_velocities([1], 1.0 * t_pl[None, :])  # slide 0.4 R: the neighbour list is rebuilt
    for _ in range(10):
        eng.run(100)
        c = eng.contacts()
        assert c["i"].size == 1 and not c["bonded"][0]
        assert c["fn"][0] == pytest.approx(fn0, rel=1e-9)  # the compression is kept ...
        assert np.linalg.norm(c["fs"][0]) == pytest.approx(mu * fn0, rel=1e-9)  # ... and it slides
    assert eng.metadata()["n_rebuilds"] > n_reb           # through rebuilds
    eng.set_velocities([1], 2 * v * n_pl[None, :])         # open the faces
    eng.run(200)
    assert eng.contacts()["i"].size == 0
    assert eng.lookup_pairs([0], [1])["fn"][0] == 0.0


def test_tilted_smooth_joint_under_an_axial_force_has_the_joint_compliance():
    """A bonded joint whose normal makes the angle theta with an axial force F, its far side
    free to offset sideways (as a jacketed saw-cut block), is displaced axially by
    F (cos^2 theta / kn + sin^2 theta / ks) / A: the joint term of a saw-cut sample's
    compliance (docs/stick-slip.md, "The saw-cut modulus and the fault's compliance"), the
    law the paper preset's joint stiffness is calibrated with. Driven to the displacement
    that compliance predicts, the joint must push back with exactly F along the axis and
    nothing sideways (no lateral force: the offset is free)."""
    th = np.radians(60.0)  # the 30 degree saw-cut's normal against the axis
    z = np.array([0.0, 0.0, 1.0])
    n_pl = np.array([np.sin(th), 0.0, np.cos(th)])
    kn, ks = 2.16e12, 0.84e12
    pos = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2 * R]])  # centre line along the axis
    joint = SmoothJoint(normal=tuple(n_pl), kn_per_area=kn, ks_per_area=ks, residual_mu=0.37)
    eng = Engine(pos, [R, R], RHO, LinearContact(1e6, 4e5, 0.5), joint=joint, side=[0, 1], fixed=[1, 1])
    assert eng.install_bonds([0], [1], 1e12, 1e12, 30.0) == 1  # strong: stays elastic
    force = 50.0  # N, pressing j onto the joint along the axis
    along_n = np.cos(th) * n_pl
    # the compliance's displacement: normal part F cos(theta) / (kn A), in-plane part
    # F sin(theta) / (ks A), so its axial part is F (cos^2 / kn + sin^2 / ks) / A
    d = -force / AREA * (along_n / kn + (z - along_n) / ks)
    assert np.linalg.norm(d - (d @ z) * z) > 0.2 * abs(d @ z)  # a real sideways offset
    steps = 400
    eng.set_velocities([1], (d / (steps * eng.dt))[None, :])
    eng.run(steps)
    assert np.allclose(eng.positions[1] - pos[1], d, rtol=0.0, atol=1e-9 * np.linalg.norm(d))
    c = eng.contacts()
    assert c["bonded"][0]
    assert c["fn"][0] == pytest.approx(force * np.cos(th), rel=1e-9)
    assert np.linalg.norm(c["fs"][0]) == pytest.approx(force * np.sin(th), rel=1e-9)
    f = eng.forces[1]  # the joint's force on j: F back along the axis, nothing sideways
    assert f @ z == pytest.approx(force, rel=1e-9)
    assert np.linalg.norm(f - (f @ z) * z) < 1e-9 * force
