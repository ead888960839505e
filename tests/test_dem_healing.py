"""Fault healing (issue 13): log(hold-time) healing of unbonded smooth joints.

Each test can fail: on one smooth joint held for hold times spanning three decades, the
peak shear stress minus μ_r·σ is rate·log10(1 + t/t_c) (linear in log hold time), sliding
resets it, the cap holds, a re-rupture emits a healed crack and releases its stored energy
as bond-break energy, a healed tensile strength holds tension up to ratio·c_h; without
healing a broken joint never regains strength; the hold time survives neighbour-list
rebuilds, re-sorts and a checkpoint bit for bit; a spring slider sticks and slips with
healing and slides steadily without it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labquake.sim.dem import (
    KIND_FAULT,
    MODE_SHEAR,
    MODE_TENSION,
    Engine,
    FaultHealing,
    LinearContact,
    RockBond,
    SmoothJoint,
    fault_healing,
)
from labquake.errors import ParameterError
from dem_support import run_collect, saw_cut_pack

R = 1e-3
RHO = 2650.0
KN, KS = 1e12, 4e11  # joint stiffness per area, Pa/m
MU = 0.3  # residual friction of the joint
DT = 1e-7
AREA = math.pi * R * R
RATE = 2e6  # Pa per decade
TC = 50 * DT
CRACK = 0.5e6  # Pa
V_PRESS = 1.0  # m/s for 200 steps: Fn = KN A V dt 200 = 62.8 N, sigma = 20 MPa
SIGMA = KN * V_PRESS * DT * 200

TH = math.radians(30.0)
N_PL = np.array([math.sin(TH), 0.0, math.cos(TH)])  # joint-plane normal
T_PL = np.array([math.cos(TH), 0.0, -math.sin(TH)])  # a direction in the plane
U = math.cos(math.radians(40)) * N_PL - math.sin(math.radians(40)) * T_PL  # centre line


def _heal(**kw) -> FaultHealing:
    p = dict(rate=RATE, cutoff_time=TC, max_cohesion=1e9, tensile_ratio=0.0, crack_cohesion=CRACK)
    p.update(kw)
    return FaultHealing(**p)


def _expected(hold, cap=math.inf):
    return min(RATE * math.log10(1.0 + hold / TC), cap)


def _joint_pair(healing, extra=None, velocity=None, sort_every=10):
    """Two driven spheres across a joint whose normal is 40° off their centre line, bonded
    (σ_t 1 GPa, c 1 MPa, φ 30°), pressed to σ = 20 MPa and sheared until the bond breaks."""
    pos = [[0.0, 0.0, 0.0], list(2 * R * U)] + ([list(extra)] if extra is not None else [])
    n = len(pos)
    joint = SmoothJoint(normal=tuple(N_PL), kn_per_area=KN, ks_per_area=KS, residual_mu=MU, healing=healing)
    eng = Engine(np.array(pos), [R] * n, RHO, LinearContact(1e6, 4e5, 0.5), joint=joint,
                 side=[0, 1] + [1] * (n - 2), fixed=[1] * n, dt=DT, sort_every=sort_every)
    eng.install_bonds([0], [1], 1e9, 1e6, 30.0)
    eng.set_velocities([1], -V_PRESS * N_PL[None, :])
    eng.run(200)
    eng.set_velocities([1], 1.0 * T_PL[None, :])
    for _ in range(1000):
        eng.run(1)
        cr = eng.pop_cracks()
        if len(cr["step"]):
            break
    assert len(cr["step"]) == 1 and not cr["healed"][0]  # the intact bond's break
    assert cr["kind"][0] == KIND_FAULT and cr["mode"][0] == MODE_SHEAR
    eng.run(20)  # slide on
    return eng


def _state(eng):
    lk = eng.lookup_pairs([0], [1])
    return {k: float(v[0]) for k, v in lk.items()}


def _hold_then_load(eng, n_hold, v_load=0.1, n_unload=75, max_steps=20000):
    """Unload the shear force elastically (reverse slide), hold still for ``n_hold`` steps,
    then shear forward until the joint fails. Returns the last held state, its number of
    stuck steps, the failure's crack records and the state right after."""
    assert _state(eng)["hold_time"] == 0.0  # sliding: no healing
    step0 = eng.step_count
    eng.set_velocities([1], -1.0 * T_PL[None, :])
    eng.run(n_unload)
    eng.set_velocities([1], np.zeros((1, 3)))
    if n_hold:
        eng.run(n_hold)
    eng.set_velocities([1], v_load * T_PL[None, :])
    last = _state(eng)
    for _ in range(max_steps):
        eng.run(1)
        cr = eng.pop_cracks()
        now = _state(eng)
        if now["hold_time"] == 0.0:  # it failed in this step
            return {"held": last, "stuck_steps": eng.step_count - 1 - step0, "cracks": cr, "after": now,
                    "step": eng.step_count}
        last = now
    raise AssertionError("the healed joint never failed")


def test_strength_grows_linearly_with_log_hold_time():
    eng = _joint_pair(_heal())
    holds, excess = [], []
    for n_hold in (0, 3000, 30000, 300000):
        r = _hold_then_load(eng, n_hold)
        held = r["held"]
        # the hold time counts every stuck step since the last slip (unload, hold, reload)
        assert held["hold_time"] == pytest.approx(r["stuck_steps"] * DT, rel=1e-9)
        exc = held["fs"] / AREA - MU * held["fn"] / AREA  # peak shear stress minus σ μ_r
        assert held["fn"] / AREA == pytest.approx(SIGMA, rel=1e-6)
        assert exc == pytest.approx(_expected(held["hold_time"]), rel=0.01)
        assert held["healed_cohesion"] == pytest.approx(_expected(held["hold_time"]), rel=1e-9)
        holds.append(held["hold_time"])
        excess.append(exc)
        # a re-rupture: one crack record, a healed fault joint failing in shear
        cr = r["cracks"]
        assert len(cr["step"]) == 1 and cr["healed"][0]
        assert cr["kind"][0] == KIND_FAULT and cr["mode"][0] == MODE_SHEAR
        assert (cr["particle_a"][0], cr["particle_b"][0]) == (0, 1) and cr["step"][0] == r["step"]
        assert np.allclose([cr["nx"][0], cr["ny"][0], cr["nz"][0]], N_PL)
        assert cr["size"][0] == pytest.approx(R)
        # ... after which it slides at residual friction
        assert r["after"]["fs"] == pytest.approx(MU * r["after"]["fn"], rel=1e-9)
        eng.run(20)
    x = np.log10(1.0 + np.array(holds) / TC)
    assert x[-1] - x[0] >= 2.0  # over two decades of hold time ...
    slope, icept = np.polyfit(x, excess, 1)
    assert slope == pytest.approx(RATE, rel=0.02)  # ... strength is linear in log(hold time)
    assert abs(icept) < 0.02 * RATE


def test_sliding_resets_the_healing():
    eng = _joint_pair(_heal())
    long = _hold_then_load(eng, 30000)
    eng.set_velocities([1], 1.0 * T_PL[None, :])
    for _ in range(50):  # sliding: no hold time, residual friction
        eng.run(1)
        s = _state(eng)
        assert s["hold_time"] == 0.0 and s["healed_cohesion"] == 0.0
        assert s["fs"] == pytest.approx(MU * s["fn"], rel=1e-9)
    short = _hold_then_load(eng, 0)
    # the second strength is that of its own short hold, not of the time since the first
    assert short["held"]["hold_time"] == pytest.approx(short["stuck_steps"] * DT, rel=1e-9)
    exc = short["held"]["fs"] / AREA - MU * SIGMA
    assert exc == pytest.approx(_expected(short["held"]["hold_time"]), rel=0.01)
    assert exc < 0.7 * (long["held"]["fs"] / AREA - MU * SIGMA)


def test_the_cap_holds():
    cap = 1.5 * RATE
    eng = _joint_pair(_heal(max_cohesion=cap))
    r = _hold_then_load(eng, 30000)
    h = r["held"]["hold_time"]
    assert _expected(h) > 1.5 * cap  # the log law alone would give more
    assert r["held"]["fs"] / AREA - MU * SIGMA == pytest.approx(cap, rel=0.002)
    assert r["held"]["healed_cohesion"] == cap


def test_a_re_rupture_releases_its_energy_as_a_bond_break_and_the_budget_closes():
    eng = _joint_pair(_heal())
    e0 = eng.energy()
    eng.set_velocities([1], -1.0 * T_PL[None, :])
    eng.run(75)
    eng.set_velocities([1], np.zeros((1, 3)))
    eng.run(3000)
    v = 0.1
    eng.set_velocities([1], v * T_PL[None, :])
    prev, e_prev = _state(eng), eng.energy()
    for _ in range(5000):
        eng.run(1)
        if len(eng.pop_cracks()["step"]):
            break
        prev, e_prev = _state(eng), eng.energy()
    after, e1 = _state(eng), eng.energy()
    # trapezoidal work on the joint minus its stored-energy change, (t − c)(c + o)/(2 ks A):
    # o the held force, t = o + ks A v dt the trial, c = μ Fn the residual force
    o = prev["fs"]
    t = o + KS * AREA * v * DT
    c = after["fs"]
    released = (t - c) * (c + o) / (2.0 * KS * AREA)
    assert released > 0.0
    assert e1["bond_break_energy"] - e_prev["bond_break_energy"] == pytest.approx(released, rel=1e-6)
    assert e1["friction_dissipation"] == e_prev["friction_dissipation"]  # not booked as friction
    assert e1["bond_break_energy"] > e0["bond_break_energy"]
    assert abs(e1["residual"]) <= 1e-9 * e1["boundary_work"]


def test_a_failure_below_the_crack_cohesion_is_a_frictional_slip():
    eng = _joint_pair(_heal(crack_cohesion=1e9))
    e0 = eng.energy()
    r = _hold_then_load(eng, 3000)
    assert r["held"]["fs"] / AREA - MU * SIGMA > 0.5 * RATE  # it healed, and failed ...
    assert len(r["cracks"]["step"]) == 0  # ... but below the crack threshold: no record
    e1 = eng.energy()
    assert e1["bond_break_energy"] == e0["bond_break_energy"]
    assert e1["friction_dissipation"] > e0["friction_dissipation"]
    assert r["after"]["fs"] == pytest.approx(MU * r["after"]["fn"], rel=1e-9)


@pytest.mark.parametrize("ratio", [1.0, 0.0])
def test_a_healed_tensile_strength_holds_tension_until_ratio_times_cohesion(ratio):
    eng = _joint_pair(_heal(tensile_ratio=ratio))
    eng.set_velocities([1], -1.0 * T_PL[None, :])
    eng.run(150)  # shear force back to about zero (6 MPa at 0.04 MPa per step)
    eng.set_velocities([1], np.zeros((1, 3)))
    eng.run(30000)
    eng.set_velocities([1], 0.1 * N_PL[None, :])  # pull the faces apart: 0.01 MPa per step
    frozen = None
    last = _state(eng)
    for _ in range(10000):
        eng.run(1)
        cr = eng.pop_cracks()
        s = _state(eng)
        if len(cr["step"]):
            break
        if s["fn"] < 0.0:
            frozen = frozen or last  # the last state in compression
            assert s["hold_time"] == frozen["hold_time"]  # no healing in tension, no reset
        last = s
    assert len(cr["step"]) == 1 and cr["healed"][0] and cr["mode"][0] == MODE_TENSION
    assert s["fn"] == 0.0 and s["fs"] == 0.0 and s["hold_time"] == 0.0  # its faces opened
    if ratio == 0.0:
        assert frozen is None and last["fn"] > 0.0  # no healed tension: it lets go at once
    else:
        c_h = _expected(frozen["hold_time"])
        assert -last["fn"] / AREA == pytest.approx(ratio * c_h, rel=0.01)  # the peak tension


def test_without_healing_a_broken_joint_never_regains_strength():
    eng = _joint_pair(None)
    eng.set_velocities([1], -1.0 * T_PL[None, :])
    eng.run(75)
    eng.set_velocities([1], np.zeros((1, 3)))
    eng.run(30000)
    eng.set_velocities([1], 0.1 * T_PL[None, :])
    ratio = []
    for _ in range(40):
        eng.run(50)
        s = _state(eng)
        assert s["hold_time"] == 0.0 and s["healed_cohesion"] == 0.0
        ratio.append(s["fs"] / (MU * s["fn"]))
    assert max(ratio) <= 1.0 + 1e-12 and ratio[-1] == pytest.approx(1.0)  # capped at μ_r Fn, sliding
    assert len(eng.pop_cracks()["step"]) == 0
    assert eng.state_dict()["hold"].shape == (0,)
    assert eng.metadata()["joint_healing"] is None


def test_hold_time_is_carried_through_rebuilds_and_resorts():
    """Both spheres (and a third one) translate together fast: the neighbour list is
    rebuilt and the particles re-sorted every ~150 steps, while the joint holds exactly
    as in a twin that does not move."""
    far = 2 * R * U + np.array([0.0, 6 * R, 0.0])
    moving = _joint_pair(_heal(), extra=far, sort_every=1)
    still = _joint_pair(_heal(), extra=far, sort_every=1)
    for eng in (moving, still):
        eng.set_velocities([1], -1.0 * T_PL[None, :])
        eng.run(75)
        eng.set_velocities([1], np.zeros((1, 3)))
    reb0 = moving.metadata()["n_rebuilds"]
    moving.set_velocities([0, 1, 2], np.tile([0.0, 10.0, 0.0], (3, 1)))
    for _ in range(10):
        moving.run(300)
        still.run(300)
        a, b = _state(moving), _state(still)
        assert a["hold_time"] == b["hold_time"] > 0.0
        assert (a["fn"], a["fs"]) == (b["fn"], b["fs"])
    md = moving.metadata()
    assert md["n_rebuilds"] - reb0 >= 10 and md["n_sorts"] >= 10
    for eng in (moving, still):  # reload to the re-rupture: the same step, the same forces
        eng.set_velocities([0, 1, 2], np.zeros((3, 3)))
        eng.set_velocities([1], 0.1 * T_PL[None, :])
        eng.run(3000)
    ca, cb = moving.pop_cracks(), still.pop_cracks()
    assert len(ca["step"]) == 1 and ca["healed"][0] and np.array_equal(ca["step"], cb["step"])
    assert _state(moving) == _state(still)


def test_checkpoint_mid_hold_resumes_bit_identically(tmp_path):
    from labquake.io.checkpoint import load_checkpoint, save_checkpoint

    def hold_part(eng):
        eng.set_velocities([1], -1.0 * T_PL[None, :])
        eng.run(75)
        eng.set_velocities([1], np.zeros((1, 3)))
        eng.run(2000)

    def rest(eng):
        eng.run(3000)  # the rest of the hold ...
        eng.set_velocities([1], 0.1 * T_PL[None, :])
        rows = []
        for _ in range(3000):  # ... and the reload to the re-rupture
            eng.run(1)
            s = _state(eng)
            cr = eng.pop_cracks()
            rows.append((s["fn"], s["fs"], s["hold_time"], s["healed_cohesion"], len(cr["step"])))
        return np.array(rows)

    ref = _joint_pair(_heal())
    hold_part(ref)
    eng = _joint_pair(_heal())
    hold_part(eng)
    assert _state(eng)["hold_time"] > 0.0  # mid-hold
    save_checkpoint(tmp_path, {"engine": eng.state_dict()}, eng.step_count)
    resumed = Engine.from_state_dict(load_checkpoint(tmp_path)["engine"])
    assert resumed.metadata()["joint_healing"] == ref.metadata()["joint_healing"]
    a, b = rest(ref), rest(resumed)
    assert a[:, 4].sum() == 1  # the re-rupture happened in the window
    assert np.array_equal(a, b)
    sa, sb = ref.state_dict(), resumed.state_dict()
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k


# ----------------------------------------------------------------------------- a spring slider
def _slider(healing, v=5e-3):
    """A free sphere (1) pressed by 30 N onto a fixed one (0) across a horizontal joint
    (formed by contact, never bonded) and dragged along x through a stiff bond by a driven
    sphere (2): a spring slider with local damping."""
    dt = 2e-7
    pos = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.9 * R], [2 * R, 0.0, 1.9 * R]])
    h = None if healing is None else FaultHealing(1e6, 50 * dt, 1e9, 0.0, 0.5e6)
    joint = SmoothJoint((0.0, 0.0, 1.0), KN, KS, residual_mu=MU, healing=h)
    eng = Engine(pos, [R, R, R], RHO, LinearContact(1e6, 4e5, 0.0), bond=RockBond(1e12, 4e11), joint=joint,
                 side=[0, 1, 1], fixed=[1, 0, 1], dt=dt, local_damping=0.7)
    eng.install_bonds([1], [2], 1e12, 1e12, 30.0)
    eng.set_external_forces([[0.0, 0.0, 0.0], [0.0, 0.0, -30.0], [0.0, 0.0, 0.0]])
    eng.run(3000)
    eng.set_velocities([2], [[v, 0.0, 0.0]])
    return eng


def test_spring_slider_sticks_and_slips_with_healing_and_slides_steadily_without():
    eng = _slider(True)
    rows0 = eng.state_dict()["crf"].shape[0]
    eng.run(100000)  # one call, cracks not popped
    cr = eng.pop_cracks()
    assert len(cr["step"]) >= 5
    # more records than the buffer held with its headroom of 2 rows per pair: the kernel
    # returned early and the engine grew the buffer
    assert len(cr["step"]) > rows0 - 2 * eng.n_pairs and eng.state_dict()["crf"].shape[0] > rows0
    assert cr["healed"].all() and (cr["kind"] == KIND_FAULT).all() and (cr["mode"] == MODE_SHEAR).all()
    assert (cr["particle_a"] == 0).all() and (cr["particle_b"] == 1).all()
    assert cr["size"][0] == pytest.approx(R)  # a joint never installed as a bond: its own radius
    gaps = np.diff(cr["step"])
    assert gaps.std() < 0.1 * gaps.mean()  # a regular recurrence
    e = eng.energy()
    assert e["bond_break_energy"] > 0.0 and abs(e["residual"]) <= 1e-3 * e["boundary_work"]
    # the same in chunks, popping as we go (and never growing the buffer as much)
    eng2 = _slider(True)
    parts = []
    for _ in range(100):
        eng2.run(1000)
        parts.append(eng2.pop_cracks())
    cr2 = {k: np.concatenate([p[k] for p in parts]) for k in cr}
    for k in cr:
        assert np.array_equal(cr[k], cr2[k]), k
    sa, sb = eng.state_dict(), eng2.state_dict()
    for k in sa:
        if k not in ("crf", "cri"):
            assert np.array_equal(sa[k], sb[k]), k
    # without healing: steady sliding at μ_r Fn, no cracks
    plain = _slider(None)
    plain.run(100000)
    assert len(plain.pop_cracks()["step"]) == 0
    s = plain.lookup_pairs([0], [1])
    assert s["fs"][0] == pytest.approx(MU * s["fn"][0], rel=1e-6)


# ----------------------------------------------------------------------------- many particles
def _faulted_sample(n_threads=1):
    """The fault sample of test_dem_determinism, with a rougher residual joint (μ_r 0.5), a
    slower drive and healing on, so that many joints heal and re-rupture."""
    from test_dem_determinism import NORMAL

    from labquake.sim.dem import ConfiningCylinder, Platens

    rad_s, r0 = 4e-3, 0.75e-3  # the sample and grain radii of dem_support.saw_cut_pack
    pos, rad, side = saw_cut_pack(NORMAL)
    heal = FaultHealing(2e6, 1e-7, 5e6, 0.5, 2e5)
    eng = Engine(pos, rad, 2650.0, LinearContact(1e7, 4e6, 0.5, damping_ratio=0.05, rolling_mu=0.05),
                 bond=RockBond(2e12, 8e11, residual_mu=0.3), joint=SmoothJoint(NORMAL, 2e12, 8e11, residual_mu=0.5,
                                                                            healing=heal),
                 side=side, platens=Platens((pos[:, 2] - rad).min() + 0.02 * r0, (pos[:, 2] + rad).max() - 0.02 * r0,
                                            1e8, mode="velocity", velocity=0.2, frame_stiffness=2e6),
                 cylinder=ConfiningCylinder(rad_s, 1e8, 2e6, mode="pressure"),
                 local_damping=0.1, n_threads=n_threads, sort_every=1, parallel_min_pairs=0)
    pairs = eng.neighbor_pairs(max_gap=0.15 * r0)
    r2 = np.random.default_rng(11)
    m = pairs["i"].size
    eng.install_bonds(pairs["i"], pairs["j"], r2.normal(3e6, 5e5, m).clip(1e5), r2.normal(6e6, 1e6, m).clip(1e5), 30.0)
    return eng


@pytest.fixture(scope="module")
def faulted():
    eng = _faulted_sample()
    return eng, run_collect(eng, 10, 100)


def test_healing_sample_heals_and_re_ruptures(faulted):
    eng, cr = faulted
    assert cr["healed"].sum() >= 10
    assert np.count_nonzero(eng.state_dict()["hold"] > 0.0) >= 2
    assert eng.metadata()["n_sorts"] >= 2


def test_healing_sample_checkpoint_and_threads_are_bit_identical(faulted):
    import numba

    eng_ref, cr_ref = faulted
    eng = _faulted_sample()
    cr1 = run_collect(eng, 5, 100)
    resumed = Engine.from_state_dict(eng.state_dict())
    cr2 = run_collect(resumed, 5, 100)
    runs = [({k: np.concatenate([cr1[k], cr2[k]]) for k in cr1}, resumed, ())]
    if numba.config.NUMBA_NUM_THREADS >= 2:
        two = _faulted_sample(n_threads=2)
        runs.append((run_collect(two, 10, 100), two, ("cnt", "meta")))
    sr = eng_ref.state_dict()
    for cr, e, skip in runs:
        for k in cr_ref:
            assert np.array_equal(cr_ref[k], cr[k]), k
        s = e.state_dict()
        for k in sr:
            if k not in skip:
                assert np.array_equal(sr[k], s[k]), k


# ----------------------------------------------------------------------------- parameters
def test_healing_parameters_are_validated_and_mapped_from_the_config():
    with pytest.raises(ParameterError, match="rate"):
        FaultHealing(-1.0, TC, 1e6)
    with pytest.raises(ParameterError, match="cutoff_time"):
        FaultHealing(RATE, 0.0, 1e6)
    with pytest.raises(ParameterError, match="healing"):
        SmoothJoint((0, 0, 1), KN, KS, healing={"rate": 1.0})
    from labquake.sim.config import resolve_config

    assert fault_healing(resolve_config({})["fault"]) is None
    h = fault_healing(resolve_config({"fault": {"healing": "log", "cohesion": 40e6, "healing_tensile_ratio": 1.0}})["fault"])
    assert h == FaultHealing(4e6, 2.5e-5, 40e6, 1.0, 1e6)  # max cohesion 0 -> the intact cohesion
    h = fault_healing(resolve_config({"fault": {"healing": "log", "healing_max_cohesion": 20e6}})["fault"])
    assert h.max_cohesion == 20e6
    assert h.cohesion(0.0) == 0.0 and h.cohesion(9 * 2.5e-5) == pytest.approx(4e6)


def test_a_state_of_an_older_labquake_resumes_without_healing():
    """Older checkpoints have no hold array, 24 parameters and 5 crack columns."""
    eng = _joint_pair(None)
    eng.run(100)
    old = dict(eng.state_dict())
    del old["hold"]
    old["prm"] = old["prm"][:24]
    old["cri"] = old["cri"][:, :5]
    resumed = Engine.from_state_dict(old)
    for e in (eng, resumed):
        e.set_velocities([1], -1.0 * T_PL[None, :])
        e.run(300)
    sa, sb = eng.state_dict(), resumed.state_dict()
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k


def test_crack_log_writes_the_healed_column_and_reads_records_without_it():
    from labquake.sim.recorders import CrackLog

    eng = _joint_pair(_heal(), extra=None)
    log = CrackLog()
    r = _hold_then_load(eng, 3000)
    log.add(r["cracks"])  # one healed re-rupture
    old = {k: v for k, v in r["cracks"].items() if k != "healed"}  # records of an older engine
    log.add(old)
    df = log.table(DT)
    assert df["healed"].dtype == bool and df["healed"].tolist() == [True, False]
    assert df["kind"].tolist() == ["fault", "fault"] and df["mode"].tolist() == ["shear", "shear"]
    state = log.to_state()
    del state["columns"]["healed"]  # a checkpoint of an older labquake
    assert CrackLog.from_state(state).table(DT)["healed"].tolist() == [False, False]
