"""The jacket confinement (``ConfiningCylinder(mode="jacket")``, a floating split cylinder).

Known answers, each able to fail:

* a rigid block pushed sideways inside the rigid ``"wall"`` feels the linear restoring force
  −kn·δ·Σu_x² of its wall contacts; inside the jacket it feels none once the servo settles
  (the segment moves with the block), and the radial stress stays at the target;
* two blocks cut by a 30° fault: each segment thrusts its block with the force a uniform
  pressure exerts on that block's lateral surface, σ·πR²·n_h/|n_z| (√3·σ·πR² here), whether
  or not one block has been offset; the rigid wall pushes the offset block back;
* the energy budget closes with the segments' lateral work booked, a checkpoint continues
  bit-identically, and 1 and 2 threads agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labquake.sim import dem
from labquake.sim.dem import _kernels as K
from labquake.sim.dem.lattice import fcc_cylinder

RAD, HEIGHT, R0 = 6e-3, 16e-3, 0.75e-3
SIGMA = 1e6
KN = 1e7
NORMAL = (math.sqrt(3) / 2, 0.0, 0.5)  # 30° saw cut: sqrt(3) x + z = 0 through the centre


def _block(mode, two_blocks=False):
    """A rigid (driven, at rest) FCC block in the lateral boundary, radius servo settled."""
    pos, rad = fcc_cylinder(RAD, HEIGHT, R0, np.random.default_rng(0))
    pos[:, 2] -= HEIGHT / 2
    kw = {}
    if two_blocks:
        kw = dict(joint=dem.SmoothJoint(NORMAL, 2e12, 8e11), side=(pos @ np.asarray(NORMAL) > 0).astype(np.int8))
    eng = dem.Engine(pos, rad, 2650.0, dem.LinearContact(KN, 4e6, 0.5), cylinder=dem.ConfiningCylinder(RAD, KN, SIGMA, mode=mode),
                     fixed=np.ones(len(pos), dtype=np.int8), **kw)
    eng.run(3000)
    return eng


def _lateral(eng, ids=None):
    """Net lateral force (x, y) of the lateral boundary on the particles ``ids`` (all: None)."""
    wc = eng.wall_contacts()
    lat = wc["wall"] == eng.WALL_LATERAL
    if ids is not None:
        lat &= np.isin(wc["particle"], ids)
    return wc["force"][lat, :2].sum(axis=0)


def _wall_stiffness_x(eng, ids):
    """The rigid wall's restoring stiffness along x for a shift of the particles ``ids``:
    each of their contacts' overlap grows by δ·u_x, and the radius servo then widens the
    wall by δ·Σu_x/N (N all its contacts) to keep the total force, so the force on them
    changes by −kn·δ·(Σu_x² − (Σu_x)²/N), sums over the contacts of ``ids``."""
    wc = eng.wall_contacts()
    lat = wc["wall"] == eng.WALL_LATERAL
    mine = lat & np.isin(wc["particle"], ids)
    f = wc["force"][mine, :2]
    ux = f[:, 0] / np.hypot(f[:, 0], f[:, 1])
    return KN * float(np.sum(ux * ux) - np.sum(ux) ** 2 / np.count_nonzero(lat))


def _min_overlap(eng, ids):
    wc = eng.wall_contacts()
    lat = (wc["wall"] == eng.WALL_LATERAL) & np.isin(wc["particle"], ids)
    return float(np.hypot(wc["force"][lat, 0], wc["force"][lat, 1]).min() / KN)


def _shift(eng, ids, dx, steps=200, settle=2000):
    """Move the driven particles ``ids`` by ``dx`` along x, then let the servos settle."""
    v = np.zeros((len(ids), 3))
    v[:, 0] = dx / (steps * eng.dt)
    eng.set_velocities(ids, v)
    eng.run(steps)
    eng.set_velocities(ids, np.zeros((len(ids), 3)))
    eng.run(settle)


def test_rigid_block_pushed_sideways_feels_no_restoring_force_in_the_jacket():
    wall, jack = _block("wall"), _block("jacket")
    ids = np.arange(wall.n_particles)
    for eng in (wall, jack):
        assert eng.boundary_state()["confining_stress"] == pytest.approx(SIGMA, rel=1e-3)
    assert np.allclose(jack.boundary_state()["cylinder_radius"], wall.boundary_state()["cylinder_radius"], rtol=1e-4)
    f0_wall = _lateral(wall)
    k_wall = _wall_stiffness_x(wall, ids)
    dx = 0.2 * _min_overlap(wall, ids)  # small enough that no wall contact opens
    c0 = jack.boundary_state()["jacket_center_0_x"]
    for eng in (wall, jack):
        _shift(eng, ids, dx)
    # the rigid wall: the linear restoring force of its contacts
    df_wall = _lateral(wall)[0] - f0_wall[0]
    assert df_wall == pytest.approx(-k_wall * dx, rel=0.05)
    # the jacket: no net lateral force, the segment moved with the block, the stress held
    b = jack.boundary_state()
    assert abs(_lateral(jack)[0]) <= 0.01 * abs(df_wall)
    assert abs(_lateral(jack)[1]) <= 0.01 * abs(df_wall)
    assert b["jacket_center_0_x"] - c0 == pytest.approx(dx, rel=0.01)
    assert b["confining_stress"] == pytest.approx(SIGMA, rel=1e-3)
    # a large offset (a fifth of a grain radius, ~60 contacts' overlap): still no force
    _shift(jack, ids, 0.2 * R0)
    b = jack.boundary_state()
    assert np.all(np.abs(_lateral(jack)) <= 0.01 * abs(df_wall))
    assert b["jacket_center_0_x"] - c0 == pytest.approx(dx + 0.2 * R0, rel=1e-3)
    assert b["confining_stress"] == pytest.approx(SIGMA, rel=1e-3)
    assert jack.metadata()["lateral_boundary"] == "jacket"


def test_each_segment_thrusts_its_block_as_a_uniform_pressure_whatever_the_offset():
    wall, jack = _block("wall", two_blocks=True), _block("jacket", two_blocks=True)
    side = wall.side
    b0 = jack.boundary_state()
    R = b0["cylinder_radius"]
    target = math.sqrt(3.0) * SIGMA * math.pi * R * R  # σ·πR²·n_x/|n_z| on block 0, +x (towards block 1)
    assert b0["jacket_target_0_x"] == pytest.approx(target, rel=1e-3)
    blk0, blk1 = np.flatnonzero(side == 0), np.flatnonzero(side == 1)
    f0, f1 = _lateral(jack, blk0), _lateral(jack, blk1)
    assert f0[0] == pytest.approx(target, rel=1e-3) and f1[0] == pytest.approx(-target, rel=1e-3)
    # along strike the segments stay put (as the wall): they float along the dip direction x
    assert b0["jacket_center_0_y"] == 0.0 and b0["jacket_center_1_y"] == 0.0
    # the one rigid wall thrusts the blocks about as much (a check on the analytic target)
    assert _lateral(wall, blk0)[0] == pytest.approx(target, rel=0.25)
    # offset block 1 along +x: the wall pushes it back, the jacket's thrust is unchanged
    g1_wall = _lateral(wall, blk1)
    k_wall = _wall_stiffness_x(wall, blk1)
    dx = 0.2 * _min_overlap(wall, blk1)
    for eng in (wall, jack):
        _shift(eng, blk1, dx)
    df_wall = _lateral(wall, blk1)[0] - g1_wall[0]
    assert df_wall == pytest.approx(-k_wall * dx, rel=0.1)
    b = jack.boundary_state()
    R = b["cylinder_radius"]
    target = math.sqrt(3.0) * b["confining_stress"] * math.pi * R * R
    assert abs(_lateral(jack, blk1)[0] + target) <= 0.01 * abs(df_wall)
    assert abs(_lateral(jack, blk0)[0] - target) <= 0.01 * abs(df_wall)
    assert b["jacket_offset_x"] - b0["jacket_offset_x"] == pytest.approx(dx, rel=0.01)
    assert b["confining_stress"] == pytest.approx(SIGMA, rel=1e-3)


def _torque_z(eng):
    """Torque about the sample axis of the lateral boundary's forces on the particles."""
    wc = eng.wall_contacts()
    lat = wc["wall"] == eng.WALL_LATERAL
    x = eng.positions[wc["particle"][lat]]
    f = wc["force"][lat]
    return float(np.sum(x[:, 0] * f[:, 1] - x[:, 1] * f[:, 0]))


def test_a_spin_of_the_offset_blocks_meets_a_restoring_couple():
    """The thrust is fixed in the lab frame (as the joint's normal). Segments that followed
    the blocks along strike too would turn a rigid spin φ into the couple +H·Δ·φ (Δ the
    segments' offset along dip) and spin the sample up; held along strike, the couple of
    a spin restores."""
    eng = _block("jacket", two_blocks=True)
    blk1 = np.flatnonzero(eng.side == 1)
    before = eng.boundary_state()["jacket_offset_x"]
    _shift(eng, blk1, 0.2 * R0)  # an offset along dip, as after a slip (150 µm)
    b = eng.boundary_state()
    delta, thrust = b["jacket_offset_x"], b["jacket_target_0_x"]
    assert delta - before == pytest.approx(0.2 * R0, rel=0.02)
    t0 = _torque_z(eng)
    phi = 2e-5  # rad, a rigid spin of both blocks about the axis
    ids = np.arange(eng.n_particles)
    steps = 200
    p = eng.positions
    v = np.zeros((len(ids), 3))
    v[:, 0] = -p[:, 1] * phi / (steps * eng.dt)
    v[:, 1] = p[:, 0] * phi / (steps * eng.dt)
    eng.set_velocities(ids, v)
    eng.run(steps)
    eng.set_velocities(ids, np.zeros((len(ids), 3)))
    eng.run(2000)
    b = eng.boundary_state()
    assert b["jacket_center_0_y"] == 0.0 and b["jacket_center_1_y"] == 0.0  # held along strike
    dt_ = _torque_z(eng) - t0
    assert dt_ < -0.5 * thrust * delta * phi  # restoring, where free segments would give +H·Δ·φ


# ----------------------------------------------------------------------------- a bonded sample that slips
def _sliding_sample(mode="jacket", n_threads=1, radius=3e-3, length=8e-3, velocity=2.0, local_damping=0.1,
                    rolling_mu=0.05, joint_mu=0.1, fault_strength=1e4, rock_strength=1e6, platen_friction=0.0):
    """A bonded two-block sample with a 30° fault (weak by default: bond strengths
    ``fault_strength`` across it, ``rock_strength`` ± 20 % elsewhere, Pa) under a fast
    platen (it slips)."""
    rng = np.random.default_rng(5)
    r0 = 0.75e-3
    pos, rad = fcc_cylinder(radius, length, r0, rng, rmin_ratio=0.9)
    pos += rng.normal(0.0, 0.01 * r0, pos.shape)
    pos[:, 2] -= 0.5 * length
    side = (pos @ np.asarray(NORMAL) > 0).astype(np.int8)
    zb, zt = (pos[:, 2] - rad).min(), (pos[:, 2] + rad).max()
    eng = dem.Engine(pos, rad, 2650.0, dem.LinearContact(1e7, 4e6, 0.5, damping_ratio=0.05, rolling_mu=rolling_mu),
                     bond=dem.RockBond(2e12, 8e11, residual_mu=0.3),
                     joint=dem.SmoothJoint(NORMAL, 2e12, 8e11, residual_mu=joint_mu), side=side,
                     platens=dem.Platens(zb, zt, 1e8, mode="velocity", velocity=velocity, friction=platen_friction),
                     cylinder=dem.ConfiningCylinder(radius + r0, 1e8, 2e6, mode=mode), local_damping=local_damping,
                     n_threads=n_threads, sort_every=1, parallel_min_pairs=0)
    pairs = eng.neighbor_pairs(max_gap=0.15 * r0)
    m = pairs["i"].size
    cross = side[pairs["i"]] != side[pairs["j"]]
    ts = np.where(cross, fault_strength, rng.normal(rock_strength, 0.2 * rock_strength, m).clip(0.1 * rock_strength))
    eng.install_bonds(pairs["i"], pairs["j"], ts, np.where(cross, fault_strength, 2.0 * ts), 30.0)
    eng.set_platens(frame_stiffness=2e6)
    return eng


def _spin_rate(eng):
    """Rigid angular velocity (rad/s) of the assembly about the vertical axis through its
    mass centre, from the particles' translations."""
    m, x, v = eng.masses, eng.positions[:, :2], eng.velocities[:, :2]
    x = x - (m[:, None] * x).sum(0) / m.sum()
    v = v - (m[:, None] * v).sum(0) / m.sum()
    return float((m * (x[:, 0] * v[:, 1] - x[:, 1] * v[:, 0])).sum() / (m * (x * x).sum(1)).sum())


def test_platen_friction_holds_the_jacketed_sample_from_spinning_up():
    """A bonded two-block sample in the jacket, loaded slowly with no local damping: with
    frictionless platens nothing holds its rotation about the axis and the jacket's offset
    segments spin it up, faster and faster; platen friction holds it (docs/stick-slip.md,
    "The jacket spins a loaded sample up")."""
    def spin(mu):
        eng = _sliding_sample(radius=4e-3, length=10e-3, velocity=0.05, local_damping=0.0, rolling_mu=0.0,
                              joint_mu=0.3, fault_strength=1e7, rock_strength=1e7, platen_friction=mu)
        out = []
        for _ in range(20):
            eng.run(2000)
            out.append(abs(_spin_rate(eng)))
        return np.array(out)

    free, held = spin(0.0), spin(0.3)
    assert free[-1] > 200.0 and np.all(np.diff(free[10:]) > 0)  # frictionless: spun up, still accelerating
    assert np.max(held[10:]) < 0.1 * free[-1]
    assert held[-1] < 10.0


def test_energy_budget_closes_with_the_segments_lateral_work():
    eng = _sliding_sample()
    eng.run(1250)  # the radius servo closes the gap to the sample (~1000 steps), loading starts
    lateral_work = 0.0
    b = start = eng.boundary_state()
    for _ in range(1000):
        eng.run(1)
        a = eng.boundary_state()
        for s in "01":
            for ax in "xy":
                g0, g1 = b[f"jacket_force_{s}_{ax}"], a[f"jacket_force_{s}_{ax}"]
                lateral_work += 0.5 * (g0 + g1) * (a[f"jacket_center_{s}_{ax}"] - b[f"jacket_center_{s}_{ax}"])
        b = a
    e = eng.energy()
    moved = math.hypot(b["jacket_offset_x"] - start["jacket_offset_x"], b["jacket_offset_y"] - start["jacket_offset_y"])
    assert moved > 5e-6  # the segments moved apart (by ~10 µm, grains 1.5 mm) as the blocks slid and rang
    assert e["friction_dissipation"] > 0
    # the segments' lateral work is booked: without it the budget would be off by far more
    assert abs(lateral_work) > 10 * abs(e["residual"])
    assert abs(e["residual"]) <= 0.01 * e["boundary_work"]
    # the wall springs' energy is counted against each segment's own centre
    c = eng._jacket_centers()
    rho = np.hypot(eng._a["pos"][:, 0] - c[:, 0], eng._a["pos"][:, 1] - c[:, 1])
    o = rho + eng._a["rad"] - eng._a["wal"][K.W_CR]
    walls = 0.5 * 1e8 * float(np.sum(o[o > 0] ** 2))
    plat = eng.strain_energy_parts()["walls"] - walls
    assert 0.0 <= plat < eng.strain_energy_parts()["walls"]


def _identical(a, b, skip=()):
    assert a.keys() == b.keys()
    for k in a:
        if k not in skip:
            assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), f"array {k} differs"


def test_checkpoint_continues_bit_identically(tmp_path):
    from labquake.io.checkpoint import load_checkpoint, save_checkpoint

    ref = _sliding_sample()
    ref.run(1600)
    eng = _sliding_sample()
    eng.run(1300)  # in contact with the jacket since ~1000 steps
    save_checkpoint(tmp_path, {"engine": eng.state_dict()}, eng.step_count)
    eng2 = dem.Engine.from_state_dict(load_checkpoint(tmp_path)["engine"])
    eng2.run(300)
    _identical(ref.state_dict(), eng2.state_dict())
    assert eng2.energy() == ref.energy()
    assert ref.boundary_state()["jacket_offset_x"] != 0.0


def test_one_and_two_threads_are_identical():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread here")
    a, b = _sliding_sample(n_threads=1), _sliding_sample(n_threads=2)
    a.run(1600)
    b.run(1600)
    _identical(a.state_dict(), b.state_dict(), skip=("cnt", "meta"))
    assert a.energy() == b.energy()
    assert a.boundary_state()["jacket_offset_x"] != 0.0


def test_a_state_of_an_older_labquake_resumes_with_the_short_wall_vector():
    ref = _sliding_sample("wall")
    ref.run(200)
    eng = _sliding_sample("wall")
    eng.run(100)
    state = eng.state_dict()
    assert np.all(state["wal"][K.NWAL_OLD:] == 0.0)  # the wall leaves the jacket's slots alone
    state["wal"] = state["wal"][:K.NWAL_OLD]
    eng2 = dem.Engine.from_state_dict(state)
    eng2.run(100)
    _identical(ref.state_dict(), eng2.state_dict())


def test_jacket_parameters_are_checked():
    from labquake.errors import ParameterError

    with pytest.raises(ParameterError, match="'jacket'"):
        dem.ConfiningCylinder(RAD, KN, SIGMA, mode="sleeve")
    pos, rad = fcc_cylinder(RAD, HEIGHT, R0, np.random.default_rng(0))
    with pytest.raises(ParameterError, match="outside the confining cylinder"):
        dem.Engine(pos, rad, 2650.0, dem.LinearContact(KN, 4e6, 0.5),
                   cylinder=dem.ConfiningCylinder(0.5 * RAD, KN, SIGMA, mode="jacket"))
    side = (pos[:, 0] > 0).astype(np.int8)
    with pytest.raises(ParameterError, match="crosses the sample's lateral"):
        dem.Engine(pos, rad, 2650.0, dem.LinearContact(KN, 4e6, 0.5), joint=dem.SmoothJoint((1.0, 0.0, 0.0), 2e12, 8e11),
                   side=side, cylinder=dem.ConfiningCylinder(RAD, KN, SIGMA, mode="jacket"))


# A jacketed run killed and resumed through the CLI: tests/test_cycles_run.py (two stick-slip
# cycles with the jacket and healing, SIGKILLed in the second cycle).
