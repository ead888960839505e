"""The stages of a run's loop: the start of axial loading, slip and drive sampling, the AE
window, and the finish (tables, meta.json).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from labquake.io.rundir import RunDirectory
from labquake.sim.ae.events import AERecorder
from labquake.sim.assembly import _set_local_damping, derived_quantities
from labquake.sim.cycles import cycle_boundaries, cycle_index
from labquake.sim.drive import AdaptiveDrive
from labquake.sim.recorders import (
    ContactMonitor,
    contact_state,
    select_monitored,
)
from labquake.sim.run_config import RunConfig, as_run_config
from labquake.sim.run_state import _rss_mb, _Run, _snapshot
from labquake.sim.slips import SlipDetector, slips_table


def slip_rate_thresholds(cfg: RunConfig | Mapping[str, Any]) -> tuple[float, float]:
    """The slip rates (m/s) at which a slip event starts and below which it ends.

    ``loading.slip_rate_on`` and ``slip_rate_off``, both scaled up together when the drive
    is so fast that the fault's quasi-static sliding would pass them: the on-rate is at
    least ``slip_rate_drive_multiple`` times ``platen_velocity``.
    """
    cfg = as_run_config(cfg)  # validated once; a RunConfig passes through
    ld = cfg.loading
    scale = max(1.0, ld.slip_rate_drive_multiple * ld.platen_velocity / ld.slip_rate_on)
    return ld.slip_rate_on * scale, ld.slip_rate_off * scale


def _sample_slip_and_drive(cfg, run: RunDirectory, eng, st: _Run, b: dict[str, float], diff: float) -> None:
    """One sample of the slip detector and the adaptive drive (every ``contact_interval``
    steps of axial loading), and the stop rule."""
    ld, rec = cfg.loading, cfg.recording
    step = int(eng.step_count)
    new_cracks, st.cracks_since_sample = st.cracks_since_sample, 0
    if st.slips is None or st.drive is None:
        return
    if step - st.stage_start < ld.min_axial_steps:  # no events yet, but the cycle's peak counts
        st.slips.observe_stress(diff)
        return
    ev = st.slips.update(step, st.loading.fault_slip(eng.positions), diff, float(b["confining_stress"]), float(b["z_drive"]))
    if (ev == "end" and st.trigger_step is None
            and st.slips.count(ld.stop_min_drop) >= ld.stop_after_slips):
        st.trigger_step = step
        st.end_step = step + ld.tail_steps
        if rec.snapshot_mainshock:
            _snapshot(run, eng, st)
    if ld.max_displacement > 0.0 and st.end_step is None and st.drive_z0 - float(b["z_drive"]) >= ld.max_displacement:
        st.stop_reason = "max_displacement"
        st.end_step = step
    # slow down before an event is confirmed: the averaged rate lags the slip's onset by part
    # of its window, the rate over the last slow_onset_window steps by a sample or two
    slipping = st.slips.active or st.slips.rate > st.slips.rate_off or st.slips.onset_rate > st.slips.rate_on
    # kinetic energy beyond the drive's own quasi-static motion (a linear velocity profile
    # from 0 to v along the sample: M v^2 / 6), so that a fast drive does not slow itself
    v = st.drive.velocity
    ke = eng.kinetic_energy() - st.mass_total * (v * v) / 6.0  # v * v: a scalar ** is libm's pow, not portable
    if st.drive.update(step, ke, st.elastic0, new_cracks, slipping):
        eng.set_platens(velocity=st.drive.velocity)


def _start_axial(cfg, run: RunDirectory, eng, st: _Run) -> None:
    from labquake.sim.dem import CONTACT_SMOOTH_JOINT

    ld, rec, e = cfg.loading, cfg.recording, cfg.engine
    st.stage = "axial"
    st.stage_start = int(eng.step_count)
    eng.set_platens(mode="velocity", velocity=ld.platen_velocity, frame_stiffness=ld.frame_stiffness)
    _set_local_damping(eng, e.local_damping)
    _set_ae_window(cfg, eng, st)
    pos = np.asarray(eng.positions).copy()
    st.axial_start_positions = pos
    b = eng.boundary_state()
    st.loading.start_slip(pos, float(b["z_drive"]))
    st.axial_start_boundary = {k: float(v) for k, v in b.items()}
    st.elastic0 = float(eng.elastic_energy())
    st.drive_z0 = float(b["z_drive"])
    st.mass_total = float(np.sum(np.asarray(eng.masses)))
    radius = 0.5 * cfg.specimen.diameter
    area = math.pi * (radius * radius)
    on, off = slip_rate_thresholds(cfg)
    st.slips = SlipDetector(on, off, ld.slip_quiet_steps, ld.slip_rate_window, float(eng.dt),
                            cfg.fault.angle_deg, ld.frame_stiffness, area, onset_window=ld.slow_onset_window)
    st.drive = AdaptiveDrive(ld.platen_velocity, ld.slow_factor if ld.drive == "adaptive" else 1.0,
                             ld.slow_ke_ratio, ld.slow_crack_count, ld.quiet_steps, ld.max_slow_steps)
    c = eng.contacts()
    kind = np.asarray(c["kind"])
    state = st.prev_state
    # map contacts() rows onto the (sorted) ContactState rows
    i, j = np.asarray(c["i"], np.int64), np.asarray(c["j"], np.int64)
    key = np.minimum(i, j) * eng.n_particles + np.maximum(i, j)
    order = np.searchsorted(state.key, key)
    kind_sorted = np.zeros(len(state.key), dtype=np.int64)
    kind_sorted[order] = kind
    sel = select_monitored(st.rng, rec.n_monitored, state, np.where(kind_sorted == CONTACT_SMOOTH_JOINT, 2, kind_sorted),
                           pos, st.fault, 0.5 * cfg.specimen.diameter, cfg.specimen.length)
    st.monitor = ContactMonitor(state.i[sel], state.j[sel], state.point[sel])
    if eng.step_count % rec.contact_interval == 0:  # samples lie on one grid of contact_interval steps
        st.monitor.record(eng)
    if rec.snapshot_axial_start:
        _snapshot(run, eng, st)


def _ae_meta(cfg, eng, st: _Run) -> dict[str, Any]:
    """meta.json ``ae``: the clustering windows and where the time window came from."""
    out: dict[str, Any] = {"space_window_m": st.ae.space_window, "time_window_steps": st.ae.time_window,
                           "time_window_s": st.ae.time_window * float(eng.dt), "extend_window": st.ae.extend,
                           "mt_interval": cfg.recording.mt_interval, "wall_contacts": True}
    ws = dict(getattr(st, "wave_speed", None) or {})
    if ws:
        meas = dict(ws.get("s_wave_measurement", {}))
        meas["share_of_run_steps"] = meas.get("engine_steps", 0) / max(int(eng.step_count), 1)
        ws["s_wave_measurement"] = meas
    else:
        ws = {"s_wave_speed_measured": None, "time_window_source": "no axial stage: lattice estimate"}
    out.update(ws)
    return out


def _set_ae_window(cfg, eng, st: _Run) -> None:
    """Measure the consolidated sample's S-wave speed (:mod:`labquake.sim.ae.wavespeed`, on
    copies of the engine with the axial stage's damping) and, with ``ae.shear_wave_speed``
    and ``ae.time_window_steps`` both 0, set the AE time window from it: the time a shear
    wave takes to cross the space window. The AE recorder is still empty here (cracks are
    catalogued from the axial stage on), so it is replaced."""
    from labquake.sim.ae.wavespeed import measure_shear_wave_speed

    ae = cfg.ae
    dq = derived_quantities(cfg)
    t = time.perf_counter()
    m = measure_shear_wave_speed(eng, speed_guess=dq["s_wave_speed"])
    vs_m = m["s_wave_speed"]
    if ae.time_window_steps:
        source, vs = "ae.time_window_steps", None
    elif ae.shear_wave_speed:
        source, vs = "ae.shear_wave_speed", float(ae.shear_wave_speed)
    elif math.isfinite(vs_m):
        source, vs = "measured", float(vs_m)
    else:  # pragma: no cover - fewer than 3 receivers saw the pulse
        source, vs = "lattice estimate (measurement failed)", float(dq["s_wave_speed"])
    if vs is not None and st.ae.n_events == 0 and not st.ae.active:
        space = st.ae.space_window
        st.ae = AERecorder(space_window=space, time_window=max(1, int(math.ceil(space / vs / eng.dt))), dt=eng.dt,
                           extend=st.ae.extend)
    st.wave_speed = {
        "s_wave_speed_measured": vs_m if math.isfinite(vs_m) else None,
        "s_wave_speed_method": m["method"],
        "s_wave_speed_lattice": float(dq["s_wave_speed"]),
        "s_wave_speed_used": vs,
        "time_window_source": source,
        "s_wave_measurement": {"receiver_distance_m": m["receiver_distance"],
                               "arrival_time_s": [x if math.isfinite(x) else None for x in m["arrival_time"]],
                               "fit_rms_s": m["fit_rms"] if math.isfinite(m["fit_rms"]) else None,
                               "steps_per_copy": m["steps"], "engine_steps": m["engine_steps"],
                               "wall_time_s": float(time.perf_counter() - t), "kick_rim_velocity": m["v0"],
                               "step": int(eng.step_count)},
    }


def _finish(cfg, run: RunDirectory, eng, st: _Run, t0: float) -> None:
    dq = derived_quantities(cfg)
    state = contact_state(eng)
    st.ae.close_all(state)
    if st.loading.rows[-1][0] != eng.step_count:
        st.loading.record(eng, st.stage)
    if st.energy.last_step != eng.step_count:
        st.energy.record(eng)
    if cfg.recording.snapshot_final and (not st.snapshots_done or st.snapshots_done[-1] != eng.step_count):
        _snapshot(run, eng, st)
    dt = float(eng.dt)
    events = st.ae.events_table()
    cracks = st.cracks.table(dt, st.ae.crack_event_ids())
    loading = st.loading.table()
    min_drop = float(cfg.loading.stop_min_drop)
    slips = st.slips.table(min_drop) if st.slips is not None else slips_table(min_drop=min_drop, dt=dt)
    bounds = cycle_boundaries(slips, min_drop)  # each event and crack in its stick-slip cycle
    events["cycle"] = cycle_index(events["step_start"].to_numpy(np.int64), bounds)
    cracks["cycle"] = cycle_index(cracks["step"].to_numpy(np.int64), bounds)
    tables = {"loading": loading, "cracks": cracks, "events": events, "slips": slips, "energy": st.energy.table()}
    if st.monitor is not None:
        tables["contacts"] = st.monitor.contacts_table()
        tables["monitored"] = st.monitor.monitored_table()
    for name, df in tables.items():
        run.write_table(name, df)
    ax = loading[loading["stage"] == "axial"]
    # measured quasi-static state before the peak
    pre = ax[ax["step"] <= max(st.peak_step, 0)]
    if len(pre) >= 2:
        rate = float((pre["axial_strain"].iloc[-1] - pre["axial_strain"].iloc[0]) / max(pre["time"].iloc[-1] - pre["time"].iloc[0], 1e-300))
    else:
        rate = dq["strain_rate"]
    rho = cfg.specimen.density * cfg.engine.density_scale
    f = cfg.fault
    fault = st.fault.to_dict()
    fault.update({"contact_area": f.contact_area, "cohesion": f.cohesion, "friction_angle_deg": f.friction_angle_deg,
                  "tensile_strength": f.tensile_strength, "residual_friction": f.residual_friction,
                  "kn_per_area": f.kn_per_area, "ks_per_area": f.ks_per_area,
                  "healing": {k: f[k] for k in f if k.startswith("healing")}})
    main = slips[slips["is_mainshock"]]
    if len(main):  # the run's mainshock: the largest of its cycles' mainshocks
        m = main.loc[main["static_drop"].idxmax()]
        peak, peak_step = float(m["peak_stress"]), int(m["step_start"])
        stress_drop, mainshock_step = float(m["static_drop"]), int(m["step_start"])
    else:
        peak, peak_step = (float(st.peak) if np.isfinite(st.peak) else None), int(st.peak_step)
        stress_drop, mainshock_step = 0.0, None
    drive = st.drive
    st.max_mem = max(st.max_mem, _rss_mb())
    try:
        engine_meta = eng.metadata()
    except Exception:  # pragma: no cover
        engine_meta = {}
    run.complete(
        dt=dt,
        contact_interval=int(cfg.recording.contact_interval),
        loading_interval=int(cfg.recording.loading_interval),
        fault=fault,
        wall_time_s=float(st.wall_time),
        peak_memory_mb=float(st.max_mem),
        counts={k: int(len(v)) for k, v in tables.items()},
        crack_counts={"fault": int(st.cracks.count(1)), "rock": int(st.cracks.count(0))},
        steps=int(eng.step_count),
        stop_reason=st.stop_reason,
        stop_criterion={"after_slips": cfg.loading.stop_after_slips, "min_drop": cfg.loading.stop_min_drop,
                        "max_displacement": cfg.loading.max_displacement, "tail_steps": cfg.loading.tail_steps,
                        "max_steps": cfg.loading.max_steps, "stop_step": st.trigger_step},
        axial_start_step=int(st.stage_start) if st.stage == "axial" else None,
        peak_differential_stress=peak,
        peak_step=peak_step,
        mainshock_step=mainshock_step,
        stress_drop=stress_drop,
        slips={"n_events": int(len(slips)), "n_at_least_min_drop": int(np.count_nonzero(slips["static_drop"] >= min_drop)),
               "n_cycles": int(len(bounds)),
               "rate_on": st.slips.rate_on if st.slips else None, "rate_off": st.slips.rate_off if st.slips else None,
               "rate_window_steps": cfg.loading.slip_rate_window, "quiet_steps": cfg.loading.slip_quiet_steps,
               "definition": "static_drop = differential stress at the slip-rate rise - mean over the quiet stretch after it"},
        drive={"mode": cfg.loading.drive, "fast_velocity": cfg.loading.platen_velocity,
               "slow_factor": cfg.loading.slow_factor if cfg.loading.drive == "adaptive" else 1.0,
               "slow_steps": int(drive.slow_steps) if drive else 0, "n_slowdowns": int(drive.n_slowdowns) if drive else 0,
               "n_forced_fast": int(drive.n_forced) if drive else 0,
               "displacement": float(st.drive_z0 - eng.boundary_state()["z_drive"]) if drive else 0.0},
        consolidation=st.consolidation,
        quasi_static={
            "inertial_number": dq["inertial_number"],
            "inertial_number_measured": float(abs(rate) * dq["mean_diameter"] * math.sqrt(rho / cfg.loading.confining_stress)),
            "strain_rate_measured": rate,
            "platen_speed_over_p_wave_speed": dq["platen_speed_over_p_wave_speed"],
            "p_wave_speed": dq["p_wave_speed"], "s_wave_speed": dq["s_wave_speed"],
            "definition": "I = strain_rate * mean_diameter * sqrt(density * density_scale / confining_stress); "
                          "v_p = d sqrt(k/m) of the bonded lattice",
        },
        ae=_ae_meta(cfg, eng, st),
        specimen=st.specimen_summary,
        balls=st.specimen_summary.get("balls", st.specimen_summary["n_particles"]),
        contacts_per_ball=st.specimen_summary.get("contacts_per_ball"),
        bonds_per_ball=st.specimen_summary.get("bonds_per_ball"),
        engine=engine_meta,
        density_scale=cfg.engine.density_scale,
        local_damping={"consolidation": cfg.engine.consolidation_local_damping, "axial": cfg.engine.local_damping},
        snapshots=st.snapshots_done,
    )
