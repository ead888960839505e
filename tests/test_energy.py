"""The energy budget (Engine.energy, labquake.sim.energy, energy.parquet) against closed forms.

Each test can fail: the budget of a bonded triaxial run closes (whole run and the dynamic
slip), a smooth-joint open-close cycle does no net work, Coulomb sliding dissipates
μ·Fn·slip, a damped oscillation dissipates its initial energy, and a checkpoint keeps the
accumulators.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

from labquake.sim import dem
from labquake.sim.energy import ENERGY_COLUMNS, EnergyRecorder, event_energetics, slip_energetics
from labquake.errors import InsufficientDataError, ParameterError

R = 1e-3
RHO = 2650.0
MASS = RHO * 4.0 / 3.0 * math.pi * R ** 3


def _pair(joint=None, contact=None, gap=0.0, damping_ratio=0.0, local_damping=0.0, side=(0, 1)):
    """Two spheres of radius R on the x axis, ``gap`` apart (negative: overlapping)."""
    pos = np.array([[0.0, 0.0, 0.0], [2 * R + gap, 0.0, 0.0]])
    contact = contact or dem.LinearContact(1e6, 4e5, 0.6, damping_ratio=damping_ratio)
    return dem.Engine(pos, [R, R], RHO, contact, joint=joint, side=list(side), local_damping=local_damping)


# ----------------------------------------------------------------------------- (a) a run
@pytest.fixture(scope="module", params=["parallel", "flat_joint", "jacket", "jacket_platen_friction"])
def tiny_run(request, tmp_path_factory):
    """The tiny triaxial run of tests/test_experiment.py (consolidation, axial loading and,
    with parallel bonds, a dynamic slip of the weak fault around step 2500); ``jacket``:
    parallel bonds in the floating split cylinder (``loading.confinement = "jacket"``),
    whose segments move laterally with the blocks and do work; ``jacket_platen_friction``:
    the same with frictional platens (``loading.platen_friction``)."""
    from test_experiment import TINY

    from labquake.sim.experiment import simulate

    cfg = copy.deepcopy(TINY)
    cfg["loading"] = dict(cfg["loading"], max_steps=6000)
    cfg["recording"] = dict(cfg["recording"], snapshot_final=False)
    if request.param == "flat_joint":
        cfg["rock"] = dict(cfg["rock"], bond_model="flat_joint", radius_multiplier=0.6, modulus=140e9)
    if request.param == "jacket":
        cfg["loading"] = dict(cfg["loading"], confinement="jacket")
    if request.param == "jacket_platen_friction":  # the platens' tangential springs and slip too
        cfg["loading"] = dict(cfg["loading"], confinement="jacket", platen_friction=0.3)
    return request.param, simulate(cfg, tmp_path_factory.mktemp("energy") / request.param, progress=False)


def test_energy_table_is_written_with_the_contract_columns(tiny_run):
    _, run = tiny_run
    e = run.read_table("energy")
    assert list(e.columns[:len(ENERGY_COLUMNS)]) == list(ENERGY_COLUMNS)
    lo = run.read_table("loading")
    assert set(e["step"]) == set(lo["step"])  # sampled with the loading curve
    assert run.read_meta()["counts"]["energy"] == len(e)
    terms = e[["boundary_work", "strain_energy", "kinetic_energy", "friction_dissipation", "damping_dissipation",
               "bond_break_energy"]].sum(axis=1)
    np.testing.assert_allclose(e["residual"], e["boundary_work"] - (terms - e["boundary_work"]), rtol=0, atol=1e-12)
    # the work of the boundaries is what loads the sample: it grows, and so do the losses
    assert e["boundary_work"].iloc[-1] > 10 * e["boundary_work"].iloc[1] > 0
    assert np.all(np.diff(e["bond_break_energy"]) >= 0)
    assert e["damping_dissipation"].iloc[-1] > 0 and e["friction_dissipation"].iloc[-1] > 0


def test_budget_closes_over_the_whole_run(tiny_run):
    kind, run = tiny_run
    e = run.read_table("energy")
    w = e["boundary_work"].iloc[-1]
    worst = float(np.max(np.abs(e["residual"])))
    assert worst <= 0.01 * w, f"{kind}: |residual| up to {worst:.3g} J of {w:.3g} J boundary work"


@pytest.mark.parametrize("tiny_run", ["parallel", "jacket"], indirect=True)  # the flat-jointed tiny sample does not slip in 6000 steps
def test_budget_closes_in_the_dynamic_slip(tiny_run):
    kind, run = tiny_run
    e = run.read_table("energy")
    k = int(e["kinetic_energy"].idxmax())
    peak = e["kinetic_energy"].iloc[k]
    assert peak > 100 * e["kinetic_energy"].iloc[:k // 2].median()  # a dynamic event
    quiet = e["kinetic_energy"].to_numpy() < 0.05 * peak
    i0 = int(np.flatnonzero(quiet[:k])[-1])  # from the last quiet sample before the peak ...
    i1 = k + int(np.argmax(quiet[k:]))  # ... to the first after it
    a, b = e.iloc[i0], e.iloc[i1]
    start, end = int(a["step"]), int(b["step"])
    lost = (b - a)[["friction_dissipation", "damping_dissipation", "bond_break_energy"]].sum()
    assert lost > 0.5 * (b - a)["boundary_work"]  # the window holds the slip, not just loading
    assert abs((b - a)["residual"]) <= 0.05 * lost
    ev = event_energetics(e, start, end, slip=1e-4, fault_area=math.pi * 0.008 ** 2 / 0.5)
    assert ev["radiated_energy"] > 0 and 0 < ev["seismic_efficiency"] < 1
    assert ev["apparent_stress"] > 0
    assert ev["peak_kinetic_energy"] == pytest.approx(peak - a["kinetic_energy"])
    assert abs(ev["residual_change"]) <= 0.05 * lost


# ----------------------------------------------------------------------------- (b) smooth joint
def test_smooth_joint_open_close_cycle_does_no_net_work():
    """Two driven spheres across a smooth joint: they close (an oblique approach loads the
    joint in compression and shear), then the motion is reversed until the joint opens and
    they are back where they started. No damping: the net work of the drivers is zero."""
    joint = dem.SmoothJoint((1.0, 0.0, 0.0), 1e12, 4e11, residual_mu=0.6)
    eng = _pair(joint=joint, gap=0.05 * R)
    eng.set_fixed([0, 1])
    vn = 0.09 * R / (200 * eng.dt)  # closes the 5 % gap, then 4 % of R into overlap
    v = np.array([-vn, 0.3 * vn, 0.0])
    eng.set_velocities([1], [v])
    x0 = eng.positions.copy()
    peak = 0.0
    for _ in range(200):
        eng.run(1)
        peak = max(peak, eng.energy()["strain_energy"])
    assert len(eng.contacts()["fn"]) == 1 and eng.contacts()["fn"][0] > 0  # closed, in compression
    eng.set_velocities([1], [-v])
    for _ in range(200):
        eng.run(1)
    e = eng.energy()
    np.testing.assert_allclose(eng.positions, x0, rtol=0, atol=1e-15)
    assert len(eng.contacts()["fn"]) == 0  # open again
    knA = 1e12 * math.pi * R * R
    assert peak > 0.5 * knA * (0.03 * R) ** 2  # the joint was loaded (~4 % of R overlap)
    assert abs(e["boundary_work"]) <= 1e-9 * peak
    assert abs(e["friction_dissipation"]) <= 1e-9 * peak and abs(e["residual"]) <= 1e-9 * peak


# ----------------------------------------------------------------------------- (c) friction
def test_smooth_joint_sliding_dissipates_mu_fn_slip():
    mu, kn, ks = 0.6, 1e12, 4e11
    area = math.pi * R * R
    eng = _pair(joint=dem.SmoothJoint((1.0, 0.0, 0.0), kn, ks, residual_mu=mu), gap=0.002 * R)
    eng.set_fixed([0, 1])
    eng.set_velocities([1], [[-0.012 * R / (100 * eng.dt), 0.0, 0.0]])
    eng.run(100)  # closes by ~1 % of R
    eng.set_velocities([1], [[0.0, 0.0, 0.0]])
    fn = float(eng.contacts()["fn"][0])
    assert fn > 0
    e0 = eng.energy()
    u = 0.1 * R / (400 * eng.dt)
    eng.set_velocities([1], [[0.0, u, 0.0]])  # slide along the joint plane
    eng.run(400)
    e = eng.energy()
    slip = 400 * u * eng.dt
    assert float(eng.contacts()["fn"][0]) == pytest.approx(fn, rel=1e-12)  # the normal force is kept
    cap = mu * fn
    expect = cap * (slip - cap / (ks * area))  # after the elastic loading, slip at μ Fn
    d = e["friction_dissipation"] - e0["friction_dissipation"]
    assert d == pytest.approx(expect, rel=1e-3)
    assert e["residual"] == pytest.approx(0.0, abs=1e-9 * d)


def test_linear_contact_sliding_dissipates_mu_fn_slip():
    """Sphere 1 is driven round sphere 0 on a circle (constant overlap): the tangential
    spring reaches μ·kn·overlap and then slides; the dissipation is μ·Fn·(slip − elastic)."""
    kn, ks, mu = 1e6, 4e5, 0.3
    delta = 0.01 * R
    eng = _pair(contact=dem.LinearContact(kn, ks, mu), gap=-delta, side=(0, 0))
    eng.set_fixed([0, 1])
    d = 2 * R - delta
    n = 600
    dth = 0.3 / n  # 0.3 rad in total
    e0 = eng.energy()
    for k in range(n):
        p = eng.positions[1]
        nxt = d * np.array([math.cos((k + 1) * dth), math.sin((k + 1) * dth), 0.0])
        eng.set_velocities([1], [(nxt - p) / eng.dt])
        eng.run(1)
    e = eng.energy()
    fn = kn * delta
    slip = d * 0.3  # no spin: the contact slips by the arc of sphere 1's centre
    expect = mu * fn * (slip - mu * fn / ks)
    dfr = e["friction_dissipation"] - e0["friction_dissipation"]
    assert dfr == pytest.approx(expect, rel=2e-3)
    assert abs(e["residual"]) <= 1e-6 * dfr


# ----------------------------------------------------------------------------- (d) damping
@pytest.mark.parametrize("damping", ["viscous", "local"])
def test_damped_oscillation_dissipates_its_initial_energy(damping):
    """Sphere 1 is pushed onto the fixed sphere 0 by a constant external force F and
    released at rest from an overlap δ0 = 3 % of R, above its equilibrium δ = F/kn = 2 %
    of R: it rings down to the equilibrium. The damping dissipates ½·kn·(δ0 − δ)²."""
    kn = 1e6
    force = kn * 0.02 * R
    eng = _pair(contact=dem.LinearContact(kn, 4e5, 0.5, damping_ratio=0.2 if damping == "viscous" else 0.0),
                gap=-0.03 * R, local_damping=0.3 if damping == "local" else 0.0, side=(0, 0))
    eng.set_fixed([0])
    f = np.zeros((2, 3))
    f[1, 0] = -force
    eng.set_external_forces(f)
    e0 = eng.energy()
    assert e0["strain_energy"] == pytest.approx(0.5 * kn * (0.03 * R) ** 2)
    eng.run(200)
    assert eng.energy()["kinetic_energy"] > 0  # it moves ...
    eng.run(4000)
    e = eng.energy()
    assert e["kinetic_energy"] < 1e-20  # ... and rings down
    assert e["strain_energy"] == pytest.approx(0.5 * kn * (0.02 * R) ** 2, rel=1e-9)
    d = e["damping_dissipation"]
    key = "damping_viscous" if damping == "viscous" else "damping_local"
    assert e[key] == pytest.approx(d)
    assert d == pytest.approx(0.5 * kn * (0.01 * R) ** 2, rel=1e-9)
    assert abs(e["residual"]) <= 1e-9 * d


# ----------------------------------------------------------------------------- (e) checkpoints
def _bonded_sample(n_threads=1):
    from labquake.sim.dem.lattice import fcc_cylinder

    rng = np.random.default_rng(5)
    r0 = 0.75e-3
    pos, rad = fcc_cylinder(3e-3, 8e-3, r0, rng, rmin_ratio=0.9)
    pos += rng.normal(0.0, 0.01 * r0, pos.shape)
    pos[:, 2] -= 4e-3
    normal = (math.sqrt(3) / 2, 0.0, 0.5)
    side = (pos @ np.asarray(normal) > 0).astype(np.int8)
    zb, zt = (pos[:, 2] - rad).min(), (pos[:, 2] + rad).max()
    eng = dem.Engine(pos, rad, RHO, dem.LinearContact(1e7, 4e6, 0.5, damping_ratio=0.05, rolling_mu=0.05),
                     bond=dem.RockBond(2e12, 8e11, residual_mu=0.3), joint=dem.SmoothJoint(normal, 2e12, 8e11, residual_mu=0.1),
                     side=side, platens=dem.Platens(zb, zt, 1e8, mode="velocity", velocity=2.0),
                     cylinder=dem.ConfiningCylinder(3e-3 + r0, 1e8, 2e6, mode="wall"), local_damping=0.1,
                     n_threads=n_threads, sort_every=1, parallel_min_pairs=0)
    pairs = eng.neighbor_pairs(max_gap=0.15 * r0)
    m = pairs["i"].size
    eng.install_bonds(pairs["i"], pairs["j"], rng.normal(1e6, 2e5, m).clip(1e5), rng.normal(2e6, 4e5, m).clip(1e5), 30.0)
    eng.set_platens(frame_stiffness=2e6)  # the frame spring, preloaded in balance
    return eng


def test_checkpoint_round_trip_keeps_the_accumulators(tmp_path):
    from labquake.io.checkpoint import load_checkpoint, save_checkpoint

    ref = _bonded_sample()
    rec_ref = EnergyRecorder()
    for _ in range(4):
        ref.run(200)
        rec_ref.record(ref)
    eng = _bonded_sample()
    rec = EnergyRecorder()
    for _ in range(2):
        eng.run(200)
        rec.record(eng)
    save_checkpoint(tmp_path, {"engine": eng.state_dict(), "energy": rec.to_state()}, eng.step_count)
    tree = load_checkpoint(tmp_path)
    eng2 = dem.Engine.from_state_dict(tree["engine"])
    rec2 = EnergyRecorder.from_state(tree["energy"])
    for _ in range(2):
        eng2.run(200)
        rec2.record(eng2)
    assert eng2.energy() == ref.energy()  # bit-identical, every term
    pd.testing.assert_frame_equal(rec2.table(), rec_ref.table(), check_exact=True)
    e = ref.energy()
    assert e["bond_break_energy"] > 0 and e["friction_dissipation"] > 0 and e["boundary_work_walls"] != 0
    assert abs(e["residual"]) <= 0.01 * e["boundary_work"]


def test_a_state_without_accumulators_opens_the_budget_at_the_resume():
    eng = _bonded_sample()
    eng.run(100)
    state = {k: v for k, v in eng.state_dict().items() if k != "enr"}  # an older labquake's checkpoint
    eng2 = dem.Engine.from_state_dict(state)
    e = eng2.energy()
    assert e["boundary_work"] == pytest.approx(e["strain_energy"] + e["kinetic_energy"])
    assert e["residual"] == pytest.approx(0.0, abs=1e-15)
    eng2.run(100)
    assert abs(eng2.energy()["residual"]) <= 0.01 * eng2.energy()["boundary_work"]


def test_one_and_two_threads_give_the_same_budget():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread here")
    a, b = _bonded_sample(1), _bonded_sample(2)
    a.run(800)
    b.run(800)
    assert a.energy() == b.energy()
    assert a.energy()["friction_dissipation"] > 0 and a.energy()["bond_break_energy"] > 0


# ----------------------------------------------------------------------------- event energetics
def _table(rows):
    cols = ENERGY_COLUMNS
    return pd.DataFrame([dict(zip(cols, r)) for r in rows])


def test_event_energetics_of_a_known_window():
    # step, W, strain, KE, friction, damping, break, residual
    e = _table([
        (0, 10.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        (100, 11.0, 11.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        (200, 11.5, 6.0, 3.0, 2.0, 0.5, 0.0, 0.0),
        (300, 12.0, 5.0, 0.5, 4.0, 2.0, 0.5, 0.0),
        (400, 12.5, 5.5, 0.0, 4.5, 2.5, 0.5, -0.5),
    ])
    ev = event_energetics(e, 150, 380, slip=2e-4, fault_area=1e-3)
    assert ev["step_from"] == 100 and ev["step_to"] == 400  # the samples around the window
    assert ev["radiated_energy"] == pytest.approx(2.5 + 0.0)  # Δdamping + ΔKE
    assert ev["dissipated_energy"] == pytest.approx(4.5 + 0.5)
    assert ev["seismic_efficiency"] == pytest.approx(2.5 / 7.5)
    assert ev["apparent_stress"] == pytest.approx(2.5 / (1e-3 * 2e-4))
    assert ev["released_strain_energy"] == pytest.approx(5.5)
    assert ev["peak_kinetic_energy"] == pytest.approx(3.0)
    assert ev["residual_change"] == pytest.approx(-0.5)
    # the budget identity: E_R = ΔW − ΔS − Δfriction − Δbreak − Δresidual
    assert ev["radiated_energy"] == pytest.approx(ev["boundary_work"] + ev["released_strain_energy"]
                                                  - ev["dissipated_energy"] - ev["residual_change"])
    assert math.isnan(event_energetics(e, 150, 380, slip=0.0, fault_area=1e-3)["apparent_stress"])
    with pytest.raises(ParameterError, match="fault_area"):
        event_energetics(e, 150, 380, slip=1e-4, fault_area=0.0)
    with pytest.raises(ParameterError, match="step_end > step_start"):
        event_energetics(e, 300, 300, slip=1e-4, fault_area=1.0)
    with pytest.raises(ParameterError, match="lacks the column"):
        event_energetics(e.drop(columns="residual"), 0, 400, slip=1e-4, fault_area=1.0)
    with pytest.raises(InsufficientDataError):
        event_energetics(e, 500, 600, slip=1e-4, fault_area=1.0)
    slips = pd.DataFrame({"step_start": [150, 500], "step_end": [380, 600], "slip": [2e-4, 1e-4]})
    out = slip_energetics(e, slips, fault_area=1e-3)
    assert out.loc[0, "radiated_energy"] == pytest.approx(2.5) and math.isnan(out.loc[1, "radiated_energy"])


# ----------------------------------------------------------------------------- report
def test_report_figure_of_the_budget_and_old_runs_without_it(tiny_run, tmp_path):
    import shutil

    from labquake.io.rundir import RunDirectory
    from labquake.report import energy_figure

    _, run = tiny_run
    old = tmp_path / "old"
    shutil.copytree(run.path, old)
    (old / "energy.parquet").unlink()
    png, missing = energy_figure([run, RunDirectory(old)])
    assert png.startswith(b"\x89PNG") and missing == 1
    assert energy_figure([RunDirectory(old)]) is None
