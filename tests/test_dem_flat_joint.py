"""The flat-joint law (labquake.sim.dem.laws.flat_joint) against closed forms.

Law-level tests call the inlined law function directly on one joint's state row, with a
fixed contact normal n = x; engine-level tests drive two particles kinematically.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labquake.sim import dem
from labquake.sim.dem.laws import flat_joint as FJ
from labquake.errors import ParameterError

R = 0.0025  # joint radius (m)
AREA = math.pi * R * R
I_DISC = 0.25 * math.pi * R ** 4
KN = 130e9 / (2 * 0.0025)  # Pa/m
KS = KN / 2.5
SIG_T, COH, TANPHI, MU_R = 50e6, 180e6, math.tan(math.radians(55.0)), 0.2
DT = 1e-8


def _joint(nr: int = 1, na: int = 3, normal=(1.0, 0.0, 0.0)):
    geo = FJ.element_geometry(nr, na)
    row = FJ.initial_state(np.array([normal]), geo.shape[0])
    return row, geo


def _step(row, geo, vn=0.0, vt=(0.0, 0.0, 0.0), wi=(0.0, 0.0, 0.0), wj=(0.0, 0.0, 0.0), n=(1.0, 0.0, 0.0),
          csg=1.0, strengths=(SIG_T, COH, TANPHI)):
    """One law step; returns fn, fs (3), m (3), events, any_bonded, interacting."""
    out = FJ.flat_joint(row, geo, 0, R, AREA, KN, KS, strengths[0], strengths[1], strengths[2], MU_R,
                        n[0], n[1], n[2], csg, vn, vt[0], vt[1], vt[2], wi[0], wi[1], wi[2], wj[0], wj[1], wj[2], DT)
    fn, fsx, fsy, fsz, mx, my, mz, ev, anyb, inter = out
    return fn, np.array([fsx, fsy, fsz]), np.array([mx, my, mz]), ev, anyb, inter


def _modes(ev: int, ne: int) -> list[int]:
    return [(ev >> (2 * e)) & 3 for e in range(ne)]


UNBREAKABLE = (1e30, 1e30, 0.0)


# ----------------------------------------------------------------------------- geometry
@pytest.mark.parametrize("nr,na", [(1, 3), (2, 4), (3, 5), (1, 1)])
def test_element_geometry_tiles_the_disc(nr, na):
    geo = FJ.element_geometry(nr, na)
    assert geo.shape == (nr * na, 6)
    assert geo[:, 0].sum() == pytest.approx(1.0, rel=1e-14)
    # first moments cancel, second moments add up to the disc's (pi/4 each, no product)
    s1 = np.sum(geo[:, 0] * geo[:, 1]) * math.pi
    s2 = np.sum(geo[:, 0] * geo[:, 2]) * math.pi
    assert abs(s1) < 1e-14 and abs(s2) < 1e-14
    assert geo[:, 3].sum() == pytest.approx(math.pi / 4, rel=1e-13)
    assert geo[:, 4].sum() == pytest.approx(math.pi / 4, rel=1e-13)
    assert abs(geo[:, 5].sum()) < 1e-14


def test_sector_centroid_closed_form():
    # a 120 degree sector's centroid lies at 2 R sin(a) / (3 a) from the centre, a = pi/3
    geo = FJ.element_geometry(1, 3)
    rc = np.hypot(geo[:, 1], geo[:, 2])
    assert rc == pytest.approx(np.full(3, 2 * math.sin(math.pi / 3) / (math.pi)), rel=1e-14)


# ----------------------------------------------------------------------------- stiffness
def test_axial_stiffness():
    row, geo = _joint()
    u = 1e-7
    fn, fs, m, ev, anyb, inter = _step(row, geo, vn=-u / DT, strengths=UNBREAKABLE)
    assert fn == pytest.approx(KN * AREA * u, rel=1e-12)
    assert np.all(np.abs(fs) < 1e-12) and np.all(np.abs(m) < 1e-12 * KN * AREA * u * R)
    # in tension the same stiffness (bonded elements carry tension)
    row, geo = _joint()
    fn, *_ = _step(row, geo, vn=u / DT, strengths=UNBREAKABLE)
    assert fn == pytest.approx(-KN * AREA * u, rel=1e-12)


@pytest.mark.parametrize("angle_deg", [0.0, 17.0, 45.0, 90.0, 133.0])
def test_bending_stiffness_of_a_1x3_joint_is_the_disc_closed_form(angle_deg):
    """M = -kn * (pi R^4 / 4) * phi for a rotation phi of j about any in-plane axis."""
    row, geo = _joint()
    phi = 1e-6
    a = math.radians(angle_deg)
    axis = np.array([0.0, math.cos(a), math.sin(a)])
    fn, fs, m, ev, anyb, inter = _step(row, geo, wj=tuple(axis * phi / DT), wi=(0.0, 0.0, 0.0),
                                       strengths=UNBREAKABLE)
    expected = -KN * I_DISC * phi * axis
    assert np.linalg.norm(m - expected) <= 0.01 * np.linalg.norm(expected)
    assert np.linalg.norm(m - expected) <= 1e-12 * np.linalg.norm(expected)  # exact up to round-off
    assert abs(fn) <= 1e-12 * KN * AREA * phi * R


def test_twist_is_carried_by_the_element_shear_forces():
    """Relative spin about n: twisting moment = -ks * sum(A_e |c_e|^2) * theta."""
    row, geo = _joint()
    th = 1e-6
    fn, fs, m, *_ = _step(row, geo, wj=(th / DT, 0.0, 0.0), wi=(-0.0, 0.0, 0.0), strengths=UNBREAKABLE)
    polar = np.sum(AREA * geo[:, 0] * (R * R) * (geo[:, 1] ** 2 + geo[:, 2] ** 2))
    assert m[0] == pytest.approx(-KS * polar * th, rel=1e-9)
    assert np.linalg.norm(fs) < 1e-9 * KS * AREA * th * R


# ----------------------------------------------------------------------------- failure
def test_pure_tension_breaks_all_elements_at_the_tensile_strength():
    row, geo = _joint()
    du = SIG_T / KN / 2000.0  # 2000 increments to the strength
    for k in range(1, 5000):
        fn, fs, m, ev, anyb, inter = _step(row, geo, vn=du / DT)
        if ev:
            break
    assert _modes(ev, 3) == [1, 1, 1]  # all three in tension, in the same step
    sigma_at_break = KN * k * du
    assert sigma_at_break == pytest.approx(SIG_T, rel=0.01)
    assert not anyb and not inter and fn == 0.0


def test_bending_breaks_only_the_tension_side_element():
    row, geo = _joint()
    # tension where g.x < 0; rotation about y: g = -(x cross phi y) = -phi z, tension at z > 0
    t1 = row[0, FJ.FJ_T1:FJ.FJ_T1 + 3]
    t2 = np.cross([1.0, 0.0, 0.0], t1)
    cz = R * (geo[:, 1] * t1[2] + geo[:, 2] * t2[2])
    assert np.sum(cz > 1e-9) == 1  # one element centroid on the tension side
    dphi = SIG_T / (KN * cz.max()) / 500.0
    ev = 0
    for _ in range(2000):
        fn, fs, m, ev, anyb, inter = _step(row, geo, wj=(0.0, dphi / DT, 0.0))
        if ev:
            break
    modes = _modes(ev, 3)
    assert modes[int(np.argmax(cz))] == 1 and sum(x != 0 for x in modes) == 1
    flags = row[0, FJ.FJ_E0 + 3::FJ.FJ_ESTRIDE]
    assert list(flags != 0.0) == [bool(z <= 1e-9) for z in cz]
    assert anyb


def test_broken_joint_carries_compression_and_slides_at_residual_friction():
    row, geo = _joint()
    # break every element in tension
    for _ in range(5000):
        *_, ev, anyb, inter = _step(row, geo, vn=SIG_T / KN / 200 / DT)
        if ev:
            break
    assert not anyb
    # close the opening and compress: compression only, the bonded stiffness
    u_open = -row[0, FJ.FJ_U]
    u_c = 2e-7
    fn, fs, m, ev, anyb, inter = _step(row, geo, vn=-(u_open + u_c) / DT)
    assert fn == pytest.approx(KN * AREA * u_c, rel=1e-9) and inter
    # shear far beyond the elastic limit: |Fs| = mu_r * Fn exactly
    for _ in range(50):
        fn, fs, m, ev, anyb, inter = _step(row, geo, vt=(0.0, 0.05 / DT * 1e-6, 0.0))
    assert np.linalg.norm(fs) == pytest.approx(MU_R * fn, rel=1e-12)
    assert fs[1] < 0.0  # opposes the motion of j
    # pulled apart again: no force at all
    fn, fs, m, ev, anyb, inter = _step(row, geo, vn=2 * u_c / DT)
    assert fn == 0.0 and np.all(fs == 0.0) and not inter


def test_shear_break_follows_coulomb_with_normal_stress():
    row, geo = _joint()
    sigma_n = 40e6
    fn, *_ = _step(row, geo, vn=-sigma_n / KN / DT)
    limit = COH + sigma_n * TANPHI
    du = limit / KS / 2000.0
    for k in range(1, 5000):
        fn, fs, m, ev, anyb, inter = _step(row, geo, vt=(0.0, 0.0, du / DT))
        if ev:
            break
    assert _modes(ev, 3) == [2, 2, 2]
    assert KS * k * du == pytest.approx(limit, rel=0.01)


# ----------------------------------------------------------------------------- energy
def test_elastic_load_unload_cycle_returns_the_work():
    """Combined normal, shear, bending and twisting increments, then the same in reverse.
    Work by trapezoid (exact for a linear law) sums to zero."""
    rng = np.random.default_rng(5)
    row, geo = _joint()
    incs = []
    for _ in range(300):
        incs.append((rng.normal() * 2e-9, rng.normal(size=3) * np.array([0.0, 1e-9, 1e-9]),
                     rng.normal(size=3) * 1e-6))
    state = (0.0, np.zeros(3), np.zeros(3))  # fn, fs, m before the increment
    work = 0.0
    peak = 0.0
    for sign, seq in ((1.0, incs), (-1.0, incs[::-1])):
        for du, dut, dphi in seq:
            du, dut, dphi = sign * du, sign * dut, sign * dphi
            fn, fs, m, *_ = _step(row, geo, vn=-du / DT, vt=tuple(dut / DT), wi=tuple(-0.5 * dphi / DT),
                                  wj=tuple(0.5 * dphi / DT), strengths=UNBREAKABLE)
            # force on j: fn along n (compression +: work against it when du > 0), fs, moment m
            w_new = -fn * du + fs @ dut + m @ dphi
            w_old = -state[0] * du + state[1] @ dut + state[2] @ dphi
            work += 0.5 * (w_new + w_old)
            peak = max(peak, abs(work))
            state = (fn, fs, m)
    assert peak > 0.0
    assert abs(work) <= 1e-6 * peak


# ----------------------------------------------------------------------------- engine
def _pair_engine(gap=4e-4, reverse=False, strengths=(SIG_T, COH, 55.0)):
    pos = np.array([[0.0, 0.0, 0.0], [2 * R + gap, 0.0, 0.0]])
    if reverse:
        pos = pos[::-1].copy()
    fj = dem.FlatJoint(modulus=130e9, stiffness_ratio=2.5, residual_mu=MU_R)
    eng = dem.Engine(pos, [R, R], 2650.0, dem.LinearContact(kn=1e8, ks=4e7, mu=0.5), bond=fj, dt=DT)
    assert eng.install_bonds([0], [1], *strengths) == 1
    eng.set_fixed([0, 1], True)
    return eng


def test_engine_joint_is_stress_free_across_its_gap_and_emits_one_crack_per_element():
    eng = _pair_engine()
    eng.run(5)
    c = eng.contacts()
    assert len(c["fn"]) == 1 and c["fn"][0] == 0.0 and c["bonded"][0]
    v = 0.1
    eng.set_velocities([0, 1], np.array([[-v / 2, 0, 0], [v / 2, 0, 0]]))
    cracks = None
    for _ in range(400):
        eng.run(10)
        cr = eng.pop_cracks()
        if len(cr["step"]):
            cracks = cr
            break
    assert cracks is not None and len(cracks["step"]) == 3
    assert np.all(cracks["mode"] == dem.MODE_TENSION) and np.all(cracks["kind"] == dem.KIND_ROCK)
    assert np.all(cracks["step"] == cracks["step"][0])
    centre = np.array([R + 0.5 * (eng.positions[1, 0] - eng.positions[0, 0] - 2 * R), 0.0, 0.0])
    xyz = np.column_stack([cracks["x"], cracks["y"], cracks["z"]])
    dist = np.linalg.norm(xyz - eng.positions[0] - centre, axis=1)
    assert dist == pytest.approx(np.full(3, R * 2 * math.sin(math.pi / 3) / math.pi), rel=1e-9)
    assert cracks["size"] == pytest.approx(np.full(3, R / math.sqrt(3)), rel=1e-12)
    assert eng.n_intact_bonds == 0


def test_engine_strain_energy_equals_the_work_of_the_driven_particles():
    """Driven translation of both particles (normal + shear): the joint's strain energy
    (Engine.elastic_energy, from the element state) equals the work the drive did,
    integrated by trapezoid from the particle forces."""
    eng = _pair_engine(strengths=(1e12, 1e12, 0.0))
    v = np.array([[-0.02, 0.01, 0.0], [0.03, -0.01, 0.02]])
    eng.set_velocities([0, 1], v, np.zeros((2, 3)))
    work = 0.0
    f_old = np.zeros((2, 3))
    for _ in range(200):
        eng.run(1)
        f_new = np.asarray(eng.forces)
        work -= 0.5 * np.sum((f_old + f_new) * v) * DT
        f_old = f_new
    assert work > 0.0
    assert eng.elastic_energy() == pytest.approx(work, rel=1e-4)


def test_law_does_not_depend_on_which_particle_is_i():
    """Swapping i and j (as a re-sort does) flips n, the relative motion, the stored element
    shear forces (the engine's _flip_bond) and csg: the force on the same particle and the
    breaking element must not change."""
    rng = np.random.default_rng(3)
    row_a, geo = _joint()
    row_a[0, FJ.FJ_G:FJ.FJ_G + 3] = [0.0, 1e-4, -2e-4]
    for e in range(3):
        row_a[0, FJ.FJ_E0 + 4 * e:FJ.FJ_E0 + 4 * e + 3] = [0.0, *rng.normal(size=2) * 10.0]
    row_b = row_a.copy()
    for e in range(3):
        row_b[0, FJ.FJ_E0 + 4 * e:FJ.FJ_E0 + 4 * e + 3] *= -1.0
    wi, wj = rng.normal(size=3) * 50.0, rng.normal(size=3) * 50.0
    vt = np.array([0.0, 0.02, -0.01])
    for _ in range(300):
        fa = _step(row_a, geo, vn=1.0, vt=tuple(vt), wi=tuple(wi), wj=tuple(wj), n=(1.0, 0.0, 0.0), csg=1.0)
        fb = _step(row_b, geo, vn=1.0, vt=tuple(-vt), wi=tuple(wj), wj=tuple(wi), n=(-1.0, 0.0, 0.0), csg=-1.0)
        assert fa[0] == pytest.approx(fb[0], rel=1e-9, abs=1e-9)
        assert np.allclose(fa[1], -fb[1], rtol=1e-9, atol=1e-9)
        assert np.allclose(fa[2], -fb[2], rtol=1e-9, atol=1e-12)
        assert fa[3] == fb[3]
        if fa[3]:
            break
    assert fa[3] != 0  # something broke, identically in both orders


def test_flat_joint_checkpoint_continues_identically():
    eng = _pair_engine()
    v = np.array([[-0.03, 0.0, 0.0], [0.03, 0.0, 0.0]])
    w = np.array([[0.0, 0.0, 0.0], [0.0, 300.0, 0.0]])
    eng.set_velocities([0, 1], v, w)
    eng.run(300)
    clone = dem.Engine.from_state_dict(eng.state_dict())
    eng.run(700)
    clone.run(700)
    a, b = eng.contacts(), clone.contacts()
    assert np.array_equal(a["fn"], b["fn"]) and np.array_equal(a["fs"], b["fs"])
    assert np.array_equal(eng.pop_cracks()["step"], clone.pop_cracks()["step"])


def test_flat_joint_parameters_are_validated():
    with pytest.raises(ParameterError, match="modulus"):
        dem.FlatJoint(modulus=-1.0)
    with pytest.raises(ParameterError, match="n_circumferential"):
        dem.FlatJoint(modulus=1e9, n_circumferential=0)
    with pytest.raises(ParameterError, match="at most"):
        dem.FlatJoint(modulus=1e9, n_radial=4, n_circumferential=4)
