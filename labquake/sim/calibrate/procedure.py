"""One laboratory test on the unfaulted cylinder: consolidation, loading to failure, the
recorded stress-strain table, checkpoints and resume.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import (
    ConfigError,
    InsufficientDataError,
    RunStateError,
)
from labquake.sim.calibrate.estimators import GaugeFit, tangent_modulus, tangent_poisson
from labquake.sim.calibrate.figures import _test_figure
from labquake.sim.calibrate.settings import CalibrationSettings, CalibrationTest

# --------------------------------------------------------------------------------------
# One test
# --------------------------------------------------------------------------------------

#: columns of the stress-strain table beyond the run-directory ``loading`` schema
EXTRA_COLUMNS = ("stage", "gauge_axial_strain", "radial_strain", "wall_radial_strain", "stress_top", "stress_bottom",
                 "cracks_tension", "cracks_shear")
_COLUMNS = ("step", "time", "axial_stress", "confining_stress", "differential_stress", "axial_strain", "volumetric_strain",
            "platen_displacement", "fault_slip", "kinetic_energy") + EXTRA_COLUMNS


class _TestState:
    """Everything of a running test that goes into its checkpoint (:meth:`to_state`)."""

    def __init__(self, spec: CalibrationTest) -> None:
        self.spec = spec
        self.stage = "consolidation"
        self.stage_start = 0
        self.rows: list[tuple] = []
        self.peak = -math.inf
        self.peak_row = -1
        self.stop_reason = ""
        self.done = False
        self.consolidation: dict[str, Any] = {}
        self.prep_cracks = 0
        self.bonds: dict[str, Any] = {}
        self.gauge: GaugeFit | None = None
        self.gap0 = 0.0
        self.wall_r0 = 0.0
        self.grip_top = np.zeros(0, dtype=np.int64)
        self.grip_bottom = np.zeros(0, dtype=np.int64)
        self.grip_sep0 = 0.0
        self.velocity = 0.0
        self.cracks = None  # a labquake.sim.recorders.CrackLog
        self.n_tension = 0
        self.n_shear = 0
        self.wall_time = 0.0

    _SCALARS = ("stage", "stage_start", "peak", "peak_row", "stop_reason", "done", "consolidation", "prep_cracks", "bonds",
                "gap0", "wall_r0", "grip_top", "grip_bottom", "grip_sep0", "velocity", "n_tension", "n_shear", "wall_time")

    def to_state(self) -> dict[str, Any]:
        """The state as plain data (arrays, JSON scalars, dicts and lists) for
        :func:`labquake.io.checkpoint.save_checkpoint`."""
        rows = {c: np.array([r[k] for r in self.rows]) for k, c in enumerate(_COLUMNS)} if self.rows else {}
        return {
            "spec": dataclasses.asdict(self.spec),
            "plain": {k: getattr(self, k) for k in self._SCALARS},
            "rows": rows,
            "gauge": None if self.gauge is None else {"ids": self.gauge.ids, "x0": self.gauge.x0, "pinv": self.gauge.pinv},
            "cracks": self.cracks.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "_TestState":
        """Rebuild the state from :meth:`to_state`."""
        from labquake.sim.recorders import CrackLog

        self = cls(CalibrationTest(**state["spec"]))
        for k in cls._SCALARS:
            setattr(self, k, state["plain"][k])
        for k in ("stage_start", "peak_row", "prep_cracks", "n_tension", "n_shear"):
            setattr(self, k, int(getattr(self, k)))
        for k in ("peak", "gap0", "wall_r0", "grip_sep0", "velocity", "wall_time"):
            setattr(self, k, float(getattr(self, k)))
        self.done = bool(self.done)
        self.grip_top = np.asarray(self.grip_top, dtype=np.int64)
        self.grip_bottom = np.asarray(self.grip_bottom, dtype=np.int64)
        rows = state["rows"]
        n = len(rows[_COLUMNS[0]]) if rows else 0
        cols = [rows[c].tolist() for c in _COLUMNS] if n else []
        self.rows = [tuple(col[i] for col in cols) for i in range(n)]
        g = state["gauge"]
        if g is not None:
            gauge = GaugeFit.__new__(GaugeFit)
            gauge.ids = np.asarray(g["ids"], dtype=np.int64)
            gauge.x0 = np.asarray(g["x0"], dtype=float)
            gauge.pinv = np.asarray(g["pinv"], dtype=float)
            self.gauge = gauge
        self.cracks = CrackLog.from_state(state["cracks"])
        return self


def _save_checkpoint(run: Any, eng: Any, state: _TestState) -> None:
    """The one place a calibration test writes its checkpoint (:mod:`labquake.io.checkpoint`)."""
    from labquake.io.checkpoint import save_checkpoint

    save_checkpoint(run.checkpoint_dir, {"engine": dict(eng.state_dict()), "test": state.to_state()}, int(eng.step_count))


def _load_checkpoint(run: Any) -> tuple[Any, _TestState]:
    """The one place a calibration test reads its checkpoint back (one-line error if damaged)."""
    from labquake.io.checkpoint import load_checkpoint
    from labquake.sim.dem import Engine

    tree = load_checkpoint(run.checkpoint_dir)
    try:
        return Engine.from_state_dict(tree["engine"]), _TestState.from_state(tree["test"])
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint is a user-facing error
        msg = " ".join(str(exc).split())[:120]
        raise RunStateError(f"{run.checkpoint_dir}: damaged checkpoint ({type(exc).__name__}: {msg}); "
                            "remove that test's directory and rerun") from None


def _has_checkpoint(run: Any) -> bool:
    from labquake.io.checkpoint import has_checkpoint

    return has_checkpoint(run.checkpoint_dir)


def run_config_for(cfg: Mapping[str, Any], spec: CalibrationTest, seed: int,
                   specimen_file: str | os.PathLike | None = None,
                   settings: CalibrationSettings | None = None) -> dict[str, Any]:
    """The run config of one test: the base config with the seed, the specimen file,
    the platen friction of ``settings`` (``CalibrationSettings.platen_friction``; the
    default settings when None) and, for ``ucs``/``tension``, the membrane boundary (at
    zero pressure: no lateral boundary).

    The ``[loading]`` table otherwise keeps the base config's values: the tests use its
    consolidation criteria, while a triaxial test's confining stress is the test's own
    (``test.confinement`` in meta.json, the measured ``confining_stress`` column). So the
    config stays valid whatever the experiment requires of its confining stress (e.g. a
    packing stress below it). A ``"jacket"`` confinement becomes the ``"wall"`` it is
    split from: the jacket floats one segment per fault block, and the intact cylinder
    has one block and no fault, so its jacket is the wall.
    """
    from labquake.sim.config import resolve_config

    c = copy.deepcopy(dict(cfg))
    c["seed"] = int(seed)
    c["name"] = f"{spec.name}-seed{seed}"
    if specimen_file is not None:
        c["specimen"]["file"] = str(specimen_file)
    c["loading"]["platen_friction"] = float((settings or CalibrationSettings()).platen_friction)
    if spec.kind != "triaxial":
        c["loading"]["confinement"] = "pressure"  # zero membrane pressure: no lateral boundary
    elif c["loading"].get("confinement") == "jacket":
        c["loading"]["confinement"] = "wall"  # one block, no fault: the unsplit wall
    return resolve_config(c)


def unfaulted(specimen: Any) -> Any:
    """The specimen with every particle on side 0: every bond a rock bond, no smooth joint."""
    return dataclasses.replace(specimen, side=np.zeros(specimen.n_particles, dtype=np.int8))


def _area(cfg: Mapping[str, Any]) -> float:
    return math.pi * (0.5 * cfg["specimen"]["diameter"]) ** 2


def _prepare(cfg: dict[str, Any], specimen: Any, spec: CalibrationTest, settings: CalibrationSettings) -> tuple[Any, _TestState]:
    """Engine and state of a fresh test (the experiment's preparation, then the test's setup)."""
    from labquake.sim.assembly import build_engine, install_specimen_bonds
    from labquake.sim.recorders import CrackLog

    eng = build_engine(cfg, specimen, n_threads=1)
    eng.set_cylinder(target_stress=0.0)
    eng.set_platens(target_stress=0.0)
    st = _TestState(spec)
    st.cracks = CrackLog()
    st.bonds = install_specimen_bonds(eng, cfg)
    return eng, st


def _loading_damping(cfg: Mapping[str, Any], settings: CalibrationSettings) -> float:
    return cfg["engine"]["local_damping"] if settings.local_damping is None else settings.local_damping


def _start_loading(cfg: Mapping[str, Any], settings: CalibrationSettings, eng: Any, st: _TestState) -> None:
    s = cfg["specimen"]
    st.stage = "loading"
    st.stage_start = int(eng.step_count)
    eng.set_damping(local_damping=_loading_damping(cfg, settings))
    pos = np.asarray(eng.positions).copy()
    half = 0.5 * settings.gauge_fraction * s["length"]
    zc = 0.5 * (pos[:, 2].max() + pos[:, 2].min())
    st.gauge = GaugeFit(pos, np.flatnonzero(np.abs(pos[:, 2] - zc) <= half))
    b = eng.boundary_state()
    st.gap0 = float(b["z_top"] - b["z_bottom"])
    st.wall_r0 = float(b["cylinder_radius"])
    if st.spec.kind == "tension":
        depth = settings.grip_depth * s["d_max"]
        st.grip_top = np.flatnonzero(pos[:, 2] >= b["z_top"] - depth)
        st.grip_bottom = np.flatnonzero(pos[:, 2] <= b["z_bottom"] + depth)
        if st.grip_top.size == 0 or st.grip_bottom.size == 0:
            raise ConfigError("direct tension: no particle within calibration.grip_depth of an end; raise grip_depth")
        grips = np.concatenate([st.grip_top, st.grip_bottom])
        eng.set_fixed(grips, True)
        eng.set_velocities(grips, np.zeros((grips.size, 3)), np.zeros((grips.size, 3)))
        st.grip_sep0 = float(pos[st.grip_top, 2].mean() - pos[st.grip_bottom, 2].mean())
        st.velocity = settings.tension_strain_rate * s["length"]
        eng.set_platens(mode="velocity", velocity=0.0, frame_stiffness=None)
    else:
        st.velocity = settings.strain_rate * s["length"]
        eng.set_platens(mode="velocity", velocity=0.0, frame_stiffness=None)


def _set_speed(eng: Any, st: _TestState, frac: float) -> None:
    v = st.velocity * frac
    if st.spec.kind == "tension":
        eng.set_velocities(st.grip_top, np.tile([0.0, 0.0, v], (st.grip_top.size, 1)))
        eng.set_platens(velocity=-v)  # the top platen rides with the top grip
    else:
        eng.set_platens(velocity=v)


def _record(eng: Any, st: _TestState, area: float) -> dict[str, float]:
    b = eng.boundary_state()
    pos = np.asarray(eng.positions)
    ftop, fbot = float(b["platen_force_top"]), float(b["platen_force_bottom"])
    if st.spec.kind == "tension":
        f = np.asarray(eng.forces)
        # force of the specimen on each grip = the grip's total force minus the platen force on it
        top = float(f[st.grip_top, 2].sum()) + ftop  # specimen pulls the top grip down: negative
        bot = float(f[st.grip_bottom, 2].sum()) - fbot  # ... and the bottom grip up: positive
        s_top, s_bot = top / area, -bot / area  # compression positive
        sep = float(pos[st.grip_top, 2].mean() - pos[st.grip_bottom, 2].mean())
        disp = st.grip_sep0 - sep
        ea = disp / st.grip_sep0
    else:
        s_top, s_bot = ftop / area, fbot / area
        gap = float(b["z_top"] - b["z_bottom"])
        disp = st.gap0 - gap
        ea = disp / st.gap0
    sa = 0.5 * (s_top + s_bot)
    sc = float(b["confining_stress"]) if st.spec.kind == "triaxial" else 0.0
    ga, gr = st.gauge.strains(pos)
    wr = (st.wall_r0 - float(b["cylinder_radius"])) / st.wall_r0 if st.spec.kind == "triaxial" else math.nan
    row = (int(eng.step_count), float(eng.step_count * eng.dt), sa, sc, sa - sc, ea, ga + 2.0 * gr, disp, 0.0,
           float(eng.kinetic_energy()), st.stage, ga, gr, wr, s_top, s_bot, st.n_tension, st.n_shear)
    st.rows.append(row)
    return dict(zip(_COLUMNS, row))


_STRAIN = _COLUMNS.index("axial_strain")

#: stop reasons after which the test's peak is final (``peak_reached``)
PEAK_STOPS = ("post-peak drop", "post-peak plateau")


def stop_reason(load: float, peak: float, strain: float, strain_at_peak: float, past_ramp: bool, drop_fraction: float,
                post_peak_strain: float, max_strain: float) -> str:
    """Why a test stops at this row, or ``""`` to go on.

    Parameters
    ----------
    load, peak
        The load now and the running peak (Pa; compression or tension, positive).
    strain, strain_at_peak
        Axial strain magnitude now and at the running peak.
    past_ramp
        Whether the platen has reached full speed (no stop during the ramp but at
        ``max_strain``).
    drop_fraction, post_peak_strain, max_strain
        :class:`CalibrationSettings` values for this test (``post_peak_strain`` infinite to
        switch the plateau rule off).

    Returns
    -------
    str
        ``"post-peak drop"`` (the load fell ``drop_fraction`` below the peak),
        ``"post-peak plateau"`` (``post_peak_strain`` of strain since the peak without a
        new one), ``"max_strain"``, or ``""``.
    """
    if past_ramp and peak > 0.0:
        if load < (1.0 - drop_fraction) * peak:
            return "post-peak drop"
        if strain - strain_at_peak >= post_peak_strain:
            return "post-peak plateau"
    if strain >= max_strain:
        return "max_strain"
    return ""


def _load_of(row: Mapping[str, float], kind: str) -> float:
    if kind == "tension":
        return -row["axial_stress"]
    return row["differential_stress"]


def _loop(cfg: dict[str, Any], settings: CalibrationSettings, run: Any, eng: Any, st: _TestState, progress: bool,
          position: int, interrupt_at: int | None) -> None:
    from tqdm.auto import tqdm

    ld, rec = cfg["loading"], cfg["recording"]
    kind = st.spec.kind
    area = _area(cfg)
    interval = settings.record_interval or rec["loading_interval"]
    ckpt = rec["checkpoint_interval"]
    max_strain = settings.tension_max_strain if kind == "tension" else settings.max_strain
    drop = settings.tension_drop_fraction if kind == "tension" else settings.drop_fraction
    rate = settings.tension_strain_rate if kind == "tension" else settings.strain_rate
    est = int(math.ceil(max_strain / rate / eng.dt)) + settings.ramp_steps
    est += ld["consolidation_max_steps"] if st.stage == "consolidation" else 0
    bar = tqdm(total=est, initial=min(int(eng.step_count), est), unit="step", disable=not progress, desc=run.name,
               dynamic_ncols=True, mininterval=0.5, position=position, leave=position == 0)
    t_chunk = time.perf_counter()
    last_post = -10**9
    try:
        while not st.done:
            step = int(eng.step_count)
            n = max(1, min((step // interval + 1) * interval, (step // ckpt + 1) * ckpt) - step)
            if st.stage == "loading" and step - st.stage_start < settings.ramp_steps:
                _set_speed(eng, st, min(1.0, (step - st.stage_start + 0.5 * n) / settings.ramp_steps))
                n = min(n, max(1, settings.ramp_steps // 20))
            elif st.stage == "loading":
                _set_speed(eng, st, 1.0)
            eng.run(n)
            step = int(eng.step_count)
            bar.update(min(n, max(0, bar.total - bar.n)))
            cr = eng.pop_cracks()
            if st.stage == "consolidation":
                st.prep_cracks += len(cr["step"])
            elif len(cr["step"]):
                st.cracks.add(cr)
                st.n_shear += int(np.count_nonzero(cr["mode"] == 1))
                st.n_tension += int(np.count_nonzero(cr["mode"] != 1))
            if st.stage == "consolidation":
                _consolidate(cfg, settings, eng, st)
            else:
                row = _record(eng, st, area)
                load = _load_of(row, kind)
                if not math.isfinite(load):
                    raise ConfigError(f"the simulation blew up at step {step} (non-finite stress); lower engine.dt_safety")
                if load > st.peak:
                    st.peak, st.peak_row = load, len(st.rows) - 1
                reason = stop_reason(load, st.peak, abs(row["axial_strain"]), abs(st.rows[st.peak_row][_STRAIN]),
                                     step - st.stage_start >= settings.ramp_steps, drop,
                                     math.inf if kind == "tension" else settings.post_peak_strain, max_strain)
                if reason:
                    st.done, st.stop_reason = True, reason
                if progress and step - last_post >= 2000:
                    bar.set_postfix_str(f"load={load / 1e6:.0f} MPa peak={max(st.peak, 0) / 1e6:.0f} cracks={st.cracks.n}",
                                        refresh=False)
                    last_post = step
            if step % ckpt == 0 and not st.done:
                st.wall_time += time.perf_counter() - t_chunk
                t_chunk = time.perf_counter()
                _save_checkpoint(run, eng, st)
                if interrupt_at is not None and step >= interrupt_at:
                    raise KeyboardInterrupt
    finally:
        bar.close()
        st.wall_time += time.perf_counter() - t_chunk


def _consolidate(cfg: Mapping[str, Any], settings: CalibrationSettings, eng: Any, st: _TestState) -> None:
    """The experiment's consolidation (``[loading]`` ramp, tolerance, kinetic-energy ratio
    and step limits): triaxial tests to their confinement on all sides; UCS and tension
    to the seating stress on the platens with no lateral stress, which lets the packing's
    locked-in contact forces settle before loading. Errors are relative to the larger target."""
    ld = cfg["loading"]
    if st.spec.kind == "triaxial":
        sig_a = sig_c = float(st.spec.confinement)
    else:
        sig_a, sig_c = settings.seating_stress_mpa * 1e6, 0.0
    scale = max(sig_a, sig_c)
    step = int(eng.step_count)
    in_stage = step - st.stage_start
    ramp = min(1.0, in_stage / max(ld["consolidation_ramp_steps"], 1))
    if sig_c > 0.0:
        eng.set_cylinder(target_stress=ramp * sig_c)
    eng.set_platens(target_stress=ramp * sig_a)
    b = eng.boundary_state()
    err_a = abs(b["axial_stress"] - sig_a) / scale
    err_c = abs(b["confining_stress"] - sig_c) / scale
    ke = float(eng.kinetic_energy() / max(eng.elastic_energy(), 1e-300))
    done = (in_stage >= max(ld["consolidation_min_steps"], ld["consolidation_ramp_steps"])
            and max(err_a, err_c) < ld["consolidation_tolerance"] and ke < ld["consolidation_ke_ratio"])
    if done or in_stage >= ld["consolidation_max_steps"]:
        st.consolidation = {"steps": in_stage, "converged": bool(done), "axial_error": float(err_a),
                            "confining_error": float(err_c), "kinetic_to_elastic_energy": ke, "cracks": st.prep_cracks}
        _start_loading(cfg, settings, eng, st)


def _table(st: _TestState) -> pd.DataFrame:
    df = pd.DataFrame(st.rows, columns=list(_COLUMNS))
    df["step"] = df["step"].astype("int64")
    for c in ("cracks_tension", "cracks_shear"):
        df[c] = df[c].astype("int64")
    return df


def summarize_test(loading: pd.DataFrame, kind: str, confinement: float, settings: CalibrationSettings) -> dict[str, Any]:
    """Peak, tangent moduli, Poisson's ratio and crack counts of one stress-strain table.

    Returns a dict of plain floats (NaN where an estimate is impossible, with the reason
    in ``notes``); stresses in MPa, moduli in GPa.
    """
    sign = -1.0 if kind == "tension" else 1.0
    load = sign * (loading["axial_stress"] if kind == "tension" else loading["differential_stress"]).to_numpy(float)
    ea = sign * loading["axial_strain"].to_numpy(float)
    ga = loading["gauge_axial_strain"].to_numpy(float)
    gr = loading["radial_strain"].to_numpy(float)
    out: dict[str, Any] = {"kind": kind, "confinement_mpa": confinement / 1e6, "notes": []}
    nan = math.nan
    if len(load) == 0 or not np.any(load > 0):
        out.update(peak_mpa=nan, sigma1_mpa=nan, youngs_gpa=nan, youngs_gauge_gpa=nan, poisson=nan)
        out["notes"].append("no load")
        return out
    k = int(np.argmax(load))
    out["peak_mpa"] = float(load[k] / 1e6)
    out["sigma1_mpa"] = float((load[k] + confinement) / 1e6) if kind != "tension" else nan
    out["strain_at_peak"] = float(ea[k])
    lv, w = settings.fit_level, settings.fit_window
    for key, fn in (("youngs_gpa", lambda: tangent_modulus(load, ea, lv, w) / 1e9),
                    ("youngs_gauge_gpa", lambda: tangent_modulus(load, sign * ga, lv, w) / 1e9),
                    ("poisson", lambda: tangent_poisson(load, ga, gr, lv, w))):
        try:
            out[key] = float(fn())
        except InsufficientDataError as exc:
            out[key] = nan
            out["notes"].append(f"{key}: {exc}")
    if kind == "triaxial" and "wall_radial_strain" in loading:
        try:
            out["poisson_wall"] = float(tangent_poisson(load, ga, loading["wall_radial_strain"].to_numpy(float), lv, w))
        except InsufficientDataError:
            out["poisson_wall"] = nan
    st, sb = loading["stress_top"].to_numpy(float), loading["stress_bottom"].to_numpy(float)
    out["end_imbalance_at_peak"] = float(abs(st[k] - sb[k]) / max(abs(0.5 * (st[k] + sb[k])), 1e-300))
    out["cracks_at_peak"] = {"tension": int(loading["cracks_tension"].iloc[k]), "shear": int(loading["cracks_shear"].iloc[k])}
    out["cracks"] = {"tension": int(loading["cracks_tension"].iloc[-1]), "shear": int(loading["cracks_shear"].iloc[-1])}
    return out


def run_test(cfg: Mapping[str, Any], settings: CalibrationSettings, spec: CalibrationTest, seed: int, specimen_file: str | os.PathLike,
             out: str | os.PathLike, progress: bool = True, position: int = 0,
             _interrupt_at_step: int | None = None) -> dict[str, Any]:
    """Run (or resume, or skip if complete) one test into the run directory ``out``.

    Parameters
    ----------
    cfg
        The resolved base run config.
    settings
        The loading protocol.
    spec
        Which test.
    seed
        Seed of the specimen and of the bond strengths.
    specimen_file
        The seed's specimen (``.npz``; the fault labels are ignored: the specimen is made
        unfaulted).
    out
        The test's run directory.
    progress, position
        tqdm bar and its line.

    Returns
    -------
    dict
        :func:`summarize_test` of the test plus its crack, step and time counts.
    """
    from labquake.io.rundir import RunDirectory
    from labquake.sim.assembly import _roundtrip, derived_quantities
    from labquake.sim.specimen import load_specimen

    tcfg = run_config_for(cfg, spec, seed, specimen_file, settings)
    run = RunDirectory(out)
    if run.is_complete():
        return run.read_meta()["calibration"]
    restored = None
    if run.meta_path.exists():
        if run.config_path.exists() and run.read_config() != _roundtrip(tcfg):
            raise RunStateError(f"{run.path} was started with a different config; use another --out")
        if _has_checkpoint(run):
            restored = _load_checkpoint(run)
    t0 = time.perf_counter()
    with run.failing_on_error("interrupted; rerun the same command to resume from the last checkpoint"):
        if restored is None:
            specimen = unfaulted(load_specimen(specimen_file))
            run.start(tcfg, meta={"name": tcfg["name"], "seed": int(seed), "test": dataclasses.asdict(spec),
                                  "confining_stress_mpa": spec.confinement / 1e6,
                                  "calibration_settings": settings.to_table(), "specimen_file": str(specimen_file)})
            eng, st = _prepare(tcfg, specimen, spec, settings)
            st.wall_time += time.perf_counter() - t0
        else:
            eng, st = restored
            run.update_meta(status="running")
        _loop(tcfg, settings, run, eng, st, progress, position, _interrupt_at_step)
        loading = _table(st)
        summary = summarize_test(loading, spec.kind, spec.confinement, settings)
        dq = derived_quantities(tcfg)
        rate = settings.tension_strain_rate if spec.kind == "tension" else settings.strain_rate
        rho = tcfg["specimen"]["density"] * tcfg["engine"]["density_scale"]
        peak = summary.get("peak_mpa", math.nan) * 1e6
        summary.update(
            test=spec.name, seed=int(seed), steps=int(eng.step_count), loading_steps=int(eng.step_count - st.stage_start),
            stop_reason=st.stop_reason, peak_reached=st.stop_reason in PEAK_STOPS, wall_time_s=float(st.wall_time),
            strain_rate=rate,
            platen_speed=st.velocity, platen_speed_over_p_wave_speed=st.velocity / dq["p_wave_speed"],
            inertial_number_at_peak=(rate * dq["mean_diameter"] * math.sqrt(rho / peak) if peak > 0 else math.nan),
            local_damping=_loading_damping(tcfg, settings), consolidation=st.consolidation, bonds=st.bonds,
            n_particles=int(eng.n_particles),
        )
        summary = _clean(summary)
        run.write_table("loading", loading)
        run.write_table("cracks", st.cracks.table(float(eng.dt)))
        _test_figure(loading, spec, seed, run.path / "stress_strain.png")
        run.complete(dt=float(eng.dt), calibration=summary, wall_time_s=float(st.wall_time), steps=int(eng.step_count),
                     stop_reason=st.stop_reason, crack_counts={"rock": int(st.cracks.n), "fault": 0},
                     counts={"loading": len(loading), "cracks": int(st.cracks.n)})
    return summary


def _clean(v: Any) -> Any:
    """``v`` for JSON: NaN and infinities as None, numpy scalars as Python numbers."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        return _clean(v.item())
    return v
