"""The triaxial experiment end to end: run directory, resume, quick preset (labquake.sim.experiment)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labquake.sim.config import load_config, resolve_config
from labquake.errors import RunStateError
from labquake.sim.experiment import derived_quantities, simulate
from labquake.io.rundir import RunDirectory

ROOT = Path(__file__).resolve().parents[1]

# ~170 particles, weak bonds, fast platen: cracks within a few thousand steps
TINY = {
    "name": "tiny",
    "seed": 3,
    "specimen": {"diameter": 0.016, "length": 0.032, "d_min": 0.0024, "d_max": 0.0028, "solid_fraction": 0.55,
                 "packing": "geometric"},
    "rock": {"tensile_strength": 20e6, "tensile_strength_std": 5e6, "cohesion": 60e6, "cohesion_std": 6e6},
    "fault": {"tensile_strength": 10e6, "cohesion": 10e6, "cohesion_std": 3e6},
    "loading": {"platen_velocity": 1.0, "frame_stiffness": 1e9, "max_steps": 8000, "consolidation_max_steps": 4000,
                "consolidation_ramp_steps": 1500, "consolidation_min_steps": 1500, "stop_min_drop": 1e12},
    "recording": {"checkpoint_interval": 1000, "loading_interval": 50, "n_monitored": 10, "snapshot_steps": [],
                  "snapshot_axial_start": False, "snapshot_mainshock": False, "snapshot_final": True},
}

TABLES = ("loading", "cracks", "events", "contacts", "monitored", "slips", "energy")


def _tables(run: RunDirectory) -> dict[str, pd.DataFrame]:
    return {t: run.read_table(t) for t in TABLES}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "tiny"
    return simulate(TINY, out, progress=False)


def test_run_directory_contract(tiny_run):
    run = tiny_run
    meta = run.read_meta()
    assert meta["status"] == "complete" and run.is_complete()
    assert not run.checkpoint_dir.exists()
    for key in ("dt", "contact_interval", "fault", "wall_time_s", "counts", "quasi_static", "versions", "units", "files"):
        assert key in meta, key
    for key in ("contact_area", "cohesion", "friction_angle_deg", "tensile_strength", "angle_deg", "normal"):
        assert key in meta["fault"], key
    qs = meta["quasi_static"]
    dq = derived_quantities(resolve_config(TINY))
    assert qs["inertial_number"] == pytest.approx(dq["inertial_number"])
    assert qs["platen_speed_over_p_wave_speed"] == pytest.approx(1.0 / dq["p_wave_speed"])
    t = _tables(run)
    for name, df in t.items():
        assert meta["counts"][name] == len(df)
    cfg = run.read_config()
    assert cfg["seed"] == 3 and cfg["specimen"]["d_min"] == 0.0024
    # loading curve: differential = axial - confining; confinement held by the servo
    ld = t["loading"]
    np.testing.assert_allclose(ld.differential_stress, ld.axial_stress - ld.confining_stress)
    ax = ld[ld.stage == "axial"]
    assert len(ax) > 10
    # the servo holds the confinement; during a dynamic slip (this tiny sample's weak fault
    # slips early) it lags by a few per cent for a few hundred steps
    err = np.abs(ax.confining_stress / 150e6 - 1)
    assert np.mean(err < 0.05) > 0.9 and np.all(err < 0.1)
    assert ax.differential_stress.max() == pytest.approx(meta["peak_differential_stress"], rel=0.05)
    # cracks: only during axial loading, every crack assigned to an event or dropped (-1)
    cr = t["cracks"]
    assert len(cr) > 0 and cr.step.min() > meta["axial_start_step"]
    assert set(cr.event_id) - {-1} <= set(t["events"].event_id)
    ev = t["events"]
    assert (ev.n_cracks.sum() + (cr.event_id == -1).sum()) == len(cr)
    np.testing.assert_allclose(ev.mw, 2 / 3 * np.log10(ev.m0) - 6)
    # fault crack events are on_fault; events of rock cracks only are not
    fault_ev = set(cr.loc[cr.kind == "fault", "event_id"]) - {-1}
    assert fault_ev, "the run must have fault-crack events"
    ev_by_id = ev.set_index("event_id")
    assert ev_by_id.loc[sorted(fault_ev), "on_fault"].all()
    assert not ev_by_id.drop(index=sorted(fault_ev))["on_fault"].any()
    # monitored contacts: 10 smooth joints sampled every contact_interval steps
    mon, con = t["monitored"], t["contacts"]
    assert len(mon) == 10 and set(mon.model) == {"smoothjoint"}
    steps = np.unique(con.step)
    assert np.all(np.diff(steps) == meta["contact_interval"])
    assert len(con) == 10 * len(steps)
    first = con[con.step == steps[0]]
    assert np.allclose(first[["a_ux", "a_uy", "a_uz", "b_ux", "b_uy", "b_uz"]].to_numpy(), 0.0)
    assert (run.path / "specimen.npz").exists()
    assert any(run.snapshot_dir.glob("snapshot_*.vtm"))


def test_ae_time_window_comes_from_the_measured_shear_wave_speed(tiny_run):
    """meta.json ae: the S-wave speed measured on the consolidated sample (torsional pulse),
    the method, and the time window it gives (space window / speed / dt, rounded up); the
    measurement costs a small share of the run."""
    meta = tiny_run.read_meta()
    ae = meta["ae"]
    vs = ae["s_wave_speed_measured"]
    dq = derived_quantities(resolve_config(TINY))
    assert 0.3 * dq["s_wave_speed"] < vs < 3.0 * dq["s_wave_speed"]
    assert "torsional" in ae["s_wave_speed_method"] and ae["time_window_source"] == "measured"
    assert ae["s_wave_speed_used"] == vs
    assert ae["time_window_steps"] == int(np.ceil(ae["space_window_m"] / vs / meta["dt"]))
    assert ae["s_wave_measurement"]["share_of_run_steps"] < 0.1
    # the far receiver's pick is sensitive to last bits of the dynamics: the portable kernels
    # give a fit rms of 0.115 time windows here (FMA-contracted ones gave < 0.1 on main)
    assert ae["s_wave_measurement"]["fit_rms_s"] < 0.15 * ae["time_window_s"]


def test_existing_run_is_protected_and_resume_of_complete_is_a_no_op(tiny_run):
    with pytest.raises(RunStateError, match="--resume"):
        simulate(TINY, tiny_run.path, progress=False)
    before = tiny_run.meta_path.read_text()
    assert simulate(TINY, tiny_run.path, resume=True, progress=False).path == tiny_run.path
    assert tiny_run.meta_path.read_text() == before
    with pytest.raises(RunStateError, match="different config"):
        other = dict(TINY, seed=4)
        (tiny_run.path / "x").touch()
        tiny_run.update_meta(status="failed")
        try:
            simulate(other, tiny_run.path, resume=True, progress=False)
        finally:
            tiny_run.update_meta(status="complete")


def test_resume_after_a_kill_gives_the_same_catalog(tiny_run, tmp_path):
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        simulate(TINY, out, progress=False, _interrupt_at_step=5000)
    run = RunDirectory(out)
    assert run.status == "failed" and not run.is_complete()
    assert (run.checkpoint_dir / "state.json").exists() and not (run.checkpoint_dir / "state.pkl").exists()
    simulate(TINY, out, resume=True, progress=False)
    assert run.is_complete()
    a, b = _tables(tiny_run), _tables(run)
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.mark.slow
def test_quick_preset_produces_a_mainshock(tmp_path):
    cfg = load_config(ROOT / "simulations" / "quick.toml")
    ld_cfg = cfg["loading"]
    run = simulate(cfg, tmp_path / "quick", progress=False)
    meta = run.read_meta()
    assert meta["stop_reason"] == "slips"
    slips = run.read_table("slips")
    main = slips[slips.is_mainshock].iloc[0]
    assert main.static_drop >= ld_cfg["stop_min_drop"] and main.static_drop == slips.static_drop.max()
    assert meta["stress_drop"] == main.static_drop and meta["mainshock_step"] == main.step_start
    assert main.stress_start - main.static_drop == pytest.approx(main.stress_end)
    ld = run.read_table("loading")
    ax = ld[ld.stage == "axial"]
    # the slip the detector measured is the loading curve's fault slip over the event
    on = ax[(ax.step >= main.step_start) & (ax.step <= main.step_end + ld_cfg["slip_quiet_steps"])]
    assert on.fault_slip.iloc[-1] - on.fault_slip.iloc[0] == pytest.approx(main.slip, rel=0.25)
    # dynamic: the fault slips far faster than the drive, and the drive hardly reloads the sample
    assert main.peak_slip_rate >= 100 * ld_cfg["platen_velocity"] / ld_cfg["slow_factor"]
    assert main.peak_slip_rate > 5 * ld_cfg["platen_velocity"]
    assert main.reload < 0.05 * main.static_drop and main.reload <= main.reload_bound
    # the adaptive drive: full speed while loading, 1/slow_factor during the event
    def drive_rate(rows):
        return np.diff(rows.drive_displacement.to_numpy()) / np.diff(rows.time.to_numpy())
    loading_rows = ax[(ax.step >= ax.step.iloc[0] + ld_cfg["min_axial_steps"]) & (ax.step < main.step_start - ld_cfg["quiet_steps"])]
    assert np.median(drive_rate(loading_rows)) == pytest.approx(ld_cfg["platen_velocity"], rel=1e-6)
    during = ax[(ax.step >= main.step_start + 2 * ld_cfg["slip_rate_window"]) & (ax.step <= main.step_end)]
    np.testing.assert_allclose(drive_rate(during), ld_cfg["platen_velocity"] / ld_cfg["slow_factor"], rtol=1e-3)  # round-off of z
    # the stress falls over the event: the loading curve agrees with the event's start and end
    pre = ax[ax.step <= main.step_start]
    assert pre.differential_stress.max() == pytest.approx(main.peak_stress, rel=0.02)
    # fault cracks before the slip (foreshocks) and during it
    fc = run.read_table("cracks").query("kind == 'fault'")
    assert (fc.step < main.step_start).sum() >= 3
    assert ((fc.step >= main.step_start) & (fc.step <= main.step_end)).sum() >= 1
    events = run.read_table("events")
    assert events.on_fault.sum() >= 3
    # cycles: the stick-slip ends cycle 0; its cracks and events are in it, the tail's in cycle 1
    cracks = run.read_table("cracks")
    assert main.cycle == 0 and meta["slips"]["n_cycles"] == 1
    np.testing.assert_array_equal(cracks.cycle, (cracks.step > main.step_end).astype(int))
    np.testing.assert_array_equal(events.cycle, (events.step_start > main.step_end).astype(int))
    first = cracks.loc[cracks.event_id >= 0].groupby("event_id").cycle.min()  # an event is in its first crack's cycle
    np.testing.assert_array_equal(events.set_index("event_id").loc[first.index, "cycle"], first)


# 1 against 2 threads: tests/test_threads.py (paper-size specimen, threaded path forced,
# numba's thread count set explicitly)


def test_flat_joint_rock_bonds_every_pair_within_the_installation_gap(tiny_run, tmp_path):
    """The same specimen bonded the reference's way: flat joints on every same-block pair
    within the installation gap. meta.json reports the reference's CN (contacts per ball)
    and bonds per ball; they match a count made here from the saved specimen."""
    from labquake.sim.specimen import load_specimen
    from labquake.sim.specimen.packing import pair_gaps

    cfg = resolve_config(TINY)
    cfg["specimen"]["file"] = str(tiny_run.path / "specimen.npz")
    cfg["specimen"]["installation_gap"] = 0.3
    cfg["rock"]["bond_model"] = "flat_joint"
    run = simulate(cfg, tmp_path / "fj", progress=False)
    meta = run.read_meta()
    sp = load_specimen(tiny_run.path / "specimen.npz")
    d_mean = 0.5 * (cfg["specimen"]["d_min"] + cfg["specimen"]["d_max"])
    i, j, gap = pair_gaps(sp.positions, sp.radii, 0.3 * d_mean)
    same = sp.side[i] == sp.side[j]
    fault = (~same) & (gap <= cfg["specimen"]["max_bond_gap"] * d_mean)
    n_bonds = int(np.count_nonzero(same)) + int(round(cfg["fault"]["bonded_fraction"] * np.count_nonzero(fault)))
    assert meta["balls"] == sp.n_particles
    assert meta["bonds_per_ball"] == pytest.approx(n_bonds / sp.n_particles)
    assert meta["contacts_per_ball"] >= meta["bonds_per_ball"]
    # the coordination rule (5.2 = 2 bonds / ball) bonds 2.6 per ball; the installation gap far more
    assert meta["bonds_per_ball"] > 1.5 * meta_bonds(tiny_run) / sp.n_particles
    assert meta["engine"]["bond_law"].startswith("flat joint (1 x 3")
    cr = run.read_table("cracks")
    assert len(cr) > 0 and set(cr["kind"]) <= {"rock", "fault"}


def meta_bonds(run: RunDirectory) -> int:
    return int(run.read_meta()["specimen"]["n_bonds"])


def test_a_saved_specimen_is_reused(tiny_run, tmp_path):
    cfg = resolve_config(TINY)
    cfg["specimen"]["file"] = str(tiny_run.path / "specimen.npz")
    run = simulate(cfg, tmp_path / "reuse", progress=False)
    a, b = _tables(tiny_run), _tables(run)
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)
    # a specimen cut at another angle is refused before anything is written
    cfg["fault"]["angle_deg"] = 45.0
    from labquake.errors import ConfigError

    with pytest.raises(ConfigError, match="angle"):
        simulate(cfg, tmp_path / "refused", progress=False)
    assert not (tmp_path / "refused" / "meta.json").exists()


def test_partly_bonded_fault_bonds_asperity_patches():
    from labquake.sim.experiment import build_engine, install_specimen_bonds
    from labquake.sim.specimen import build_specimen

    full = resolve_config(TINY)
    part = resolve_config({**TINY, "fault": {**TINY["fault"], "bonded_fraction": 0.5,
                                             "strength_correlation_length": 0.004}})
    specimen = build_specimen(full)
    a = install_specimen_bonds(build_engine(full, specimen), full)
    b = install_specimen_bonds(build_engine(part, specimen), part)
    assert a["n_fault_contacts_bondable"] == b["n_fault_contacts_bondable"] == a["n_fault_bonds"] > 10
    assert b["n_fault_bonds"] == round(0.5 * a["n_fault_bonds"])
    assert b["n_rock_bonds"] == a["n_rock_bonds"]
    # the same seed bonds the same patches
    assert install_specimen_bonds(build_engine(part, specimen), part) == b
