"""The triaxial saw-cut stick-slip experiment: one run into one run directory.

Protocol (Ye, Lui & Young 2024 §2, see ``simulations/paper.toml`` for the values):

1. **Specimen**: packed and bonded (:mod:`labquake.sim.specimen`), or loaded from
   ``specimen.file``; a copy is saved as ``specimen.npz`` in the run directory so that
   other runs can reuse it.
2. **Consolidation**: both platens fixed at the bottom, the top one servo-controlled to the
   confining stress, the lateral boundary at the confining stress; until axial and
   confining stress are both within ``consolidation_tolerance`` of the target (and at
   least ``consolidation_min_steps``), or ``consolidation_max_steps``.
3. **Axial loading**: the drive point of a loading-frame spring (stiffness
   ``frame_stiffness``) moves at ``platen_velocity``; the confinement servo holds.
   With ``drive = "adaptive"`` the drive point slows down by ``slow_factor`` while the
   sample is dynamic (:mod:`labquake.sim.drive`), so that the drive does not reload the sample
   during its own failure.
4. **Slip events** (:mod:`labquake.sim.slips`): every ``contact_interval`` steps the fault slip
   rate (averaged over ``slip_rate_window`` steps) is checked; an event runs from the
   rate's rise above ``slip_rate_on`` to a quiet stretch below ``slip_rate_off``. Each
   event is a row of ``slips.parquet`` (static drop, overshoot, slip, duration, peak slip
   rate, resolved fault stresses); the mainshock is the largest static drop.
5. **Stop rule**: after ``stop_after_slips`` events with a static drop of at least
   ``stop_min_drop``, ``tail_steps`` more steps are run; or at a drive displacement of
   ``max_displacement``; or at ``max_steps`` (``stop_reason`` in meta.json: ``slips``,
   ``max_displacement`` or ``max_steps``).

Recorders: :mod:`labquake.sim.recorders` (loading curve, cracks, monitored fault contacts),
:mod:`labquake.sim.energy` (the energy budget, sampled with the loading curve),
:mod:`labquake.sim.ae` (AE events), :func:`labquake.io.vtk.write_snapshot` (snapshots).
A checkpoint (engine ``state_dict`` plus all recorder state, as numpy arrays in an
``.npz`` and everything else in JSON, see :mod:`labquake.io.checkpoint`; never a pickle)
is kept in ``checkpoint/`` every ``checkpoint_interval`` steps;
``simulate(..., resume=True)`` continues from it and produces the same tables as an
uninterrupted run. A checkpoint that cannot be read, or an old pickle checkpoint
(``state.pkl``, refused unread), is a one-line :class:`labquake.errors.RunStateError`.

The run is built by :mod:`labquake.sim.assembly` (engine and bonds from a config and a
specimen), its state and checkpoints are :mod:`labquake.sim.run_state`, and the stages of the
loop (consolidation to axial loading, slip sampling, AE windows, the finish) are
:mod:`labquake.sim.stages`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from labquake.errors import OutputError, RunStateError
from labquake.io.checkpoint import has_checkpoint
from labquake.io.rundir import RunDirectory
from labquake.sim.assembly import (  # noqa: F401 - derived_quantities: this module's API too
    _roundtrip,
    build_engine,
    derived_quantities,
    install_specimen_bonds,
    parallel_min_pairs,
)
from labquake.sim.recorders import contact_state
from labquake.sim.run_config import RunConfig, as_run_config
from labquake.sim.run_state import (
    _check_compute,
    _checkpoint,
    _compute_meta,
    _restore,
    _rss_mb,
    _Run,
    _snapshot,
)
from labquake.sim.specimen import (
    build_specimen,
    check_matches,
    load_specimen,
    save_specimen,
)
from labquake.sim.stages import (  # noqa: F401
    _finish,
    _sample_slip_and_drive,
    _start_axial,
    slip_rate_thresholds,
)

__all__ = ["simulate", "slip_rate_thresholds", "build_engine", "install_specimen_bonds", "derived_quantities",
           "parallel_min_pairs"]


def simulate(
    config: RunConfig | Mapping[str, Any],
    out: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
    n_threads: int = 1,
    _interrupt_at_step: int | None = None,
) -> RunDirectory:
    """Run one triaxial stick-slip simulation into a run directory.

    Parameters
    ----------
    config
        A run config: a :class:`~labquake.sim.run_config.RunConfig`, or a (partial) mapping
        such as :func:`~labquake.sim.config.load_config` returns, resolved and validated here
        once (:func:`~labquake.sim.run_config.as_run_config`); the stages get the frozen object.
    out
        The run directory to create.
    resume
        Continue from ``out/checkpoint`` if there is one; return at once if the run is
        already complete. Without it an existing run directory is an error (nothing
        already written is touched).
    progress
        Show a tqdm progress bar (steps/s, differential stress, cracks).
    n_threads
        Engine threads; more than one forces the threaded force path
        (:func:`parallel_min_pairs`). The catalog does not depend on it.

    Returns
    -------
    RunDirectory
    """
    cfg = as_run_config(config)
    run = RunDirectory(out)
    if run.path.exists() and not run.path.is_dir():
        raise OutputError(f"{run.path} exists and is not a directory; choose another --out")
    restored = None
    if run.meta_path.exists():
        if not resume:
            raise RunStateError(f"{run.path} already holds a run (status {run.status}); pass --resume to continue it or choose another --out")
        if run.is_complete():
            return run
        if run.config_path.exists() and run.read_config() != _roundtrip(cfg):
            raise RunStateError(f"{run.path} was started with a different config; resume it with its own config.toml or choose another --out")
        if has_checkpoint(run.checkpoint_dir):
            compute = _check_compute(run)
            restored = _restore(run, cfg)
    elif run.path.exists() and any(p for p in run.path.iterdir() if not p.name.startswith(".")):
        raise OutputError(f"{run.path} is not empty and is not a run directory; choose another --out")

    t0 = time.perf_counter()
    with run.failing_on_error("interrupted; rerun with --resume to continue from the last checkpoint"):
        if restored is None:
            if cfg.specimen.file:
                specimen = load_specimen(cfg.specimen.file)
                check_matches(specimen, cfg, source=cfg.specimen.file)
            else:
                specimen = build_specimen(cfg)
            run.start(cfg, meta={"name": cfg.name, "seed": cfg.seed, "compute": _compute_meta(None)})
            save_specimen(specimen, run.path / "specimen.npz")
            eng = build_engine(cfg, specimen, n_threads=n_threads)
            eng.set_cylinder(target_stress=0.0)
            eng.set_platens(target_stress=0.0)
            st = _Run(cfg, specimen, eng)
            st.specimen_summary.update(install_specimen_bonds(eng, cfg))
            st.loading.record(eng, "consolidation")
            st.energy.record(eng)
            st.wall_time += time.perf_counter() - t0  # specimen, engine and bonds
        else:
            eng, st = restored
            eng.n_threads = n_threads
            eng.parallel_min_pairs = parallel_min_pairs(n_threads)
            run.update_meta(status="running", compute=compute)
        _loop(cfg, run, eng, st, progress, _interrupt_at_step, t0)
        _finish(cfg, run, eng, st, t0)
    return run


def _next_multiple(step: int, k: int) -> int:
    return (step // k + 1) * k


def _loop(cfg, run: RunDirectory, eng, st: _Run, progress: bool, interrupt_at: int | None, t0: float) -> None:
    from tqdm.auto import tqdm

    from labquake.errors import ConfigError

    ld, rec = cfg.loading, cfg.recording
    sig3 = ld.confining_stress
    explicit = sorted(s for s in rec.snapshot_steps if s not in st.snapshots_done)
    bar = tqdm(total=ld.max_steps, initial=int(eng.step_count), unit="step", disable=not progress,
               desc=cfg.name, dynamic_ncols=True, mininterval=0.5)
    last_post = -10**9
    t_chunk = time.perf_counter()
    try:
        while True:
            step = int(eng.step_count)
            # -------- stop?
            if st.end_step is not None and step >= st.end_step:
                st.stop_reason = st.stop_reason or "slips"
                break
            if step >= ld.max_steps:
                st.stop_reason = "max_steps"
                break
            # -------- chunk length, aligned to every boundary that needs a sample
            base = rec.mt_interval if st.ae.active else rec.contact_interval
            bounds = [step + base, _next_multiple(step, rec.loading_interval), _next_multiple(step, rec.checkpoint_interval),
                      ld.max_steps]
            if st.stage == "axial":
                bounds.append(_next_multiple(step, rec.contact_interval))
            if st.end_step is not None:
                bounds.append(st.end_step)
            bounds += [s for s in explicit if s > step][:1]
            n = max(1, min(bounds) - step)
            eng.run(n)
            step = int(eng.step_count)
            bar.update(n)
            # -------- cracks and AE
            state = contact_state(eng)
            cr = eng.pop_cracks()
            if st.stage == "consolidation":  # preparation damage: counted, not catalogued (PFC practice)
                for k in (0, 1):
                    st.prep_cracks[k] += int(np.count_nonzero(cr["kind"] == k))
            elif len(cr["step"]):
                st.cracks.add(cr)
                st.ae.add_cracks(cr, st.prev_state)
                st.cracks_since_sample += len(cr["step"])
            st.ae.sample(state)
            st.prev_state = state
            # -------- stage logic
            b = eng.boundary_state()
            diff = float(b["axial_stress"] - b["confining_stress"])
            if st.stage == "consolidation":
                ramp = min(1.0, (step - st.stage_start) / max(ld.consolidation_ramp_steps, 1))
                eng.set_cylinder(target_stress=ramp * sig3)
                eng.set_platens(target_stress=ramp * sig3)
                err_a = abs(b["axial_stress"] - sig3) / sig3
                err_c = abs(b["confining_stress"] - sig3) / sig3
                in_stage = step - st.stage_start
                ke_ratio = float(eng.kinetic_energy() / max(eng.elastic_energy(), 1e-300))
                done = (in_stage >= max(ld.consolidation_min_steps, ld.consolidation_ramp_steps)
                        and max(err_a, err_c) < ld.consolidation_tolerance and ke_ratio < ld.consolidation_ke_ratio)
                if done or in_stage >= ld.consolidation_max_steps:
                    st.consolidation = {"steps": in_stage, "converged": bool(done), "axial_error": float(err_a),
                                        "confining_error": float(err_c), "kinetic_to_elastic_energy": ke_ratio,
                                        "rock_cracks": st.prep_cracks[0], "fault_cracks": st.prep_cracks[1]}
                    st.loading.record(eng, "consolidation")
                    st.energy.record(eng)
                    _start_axial(cfg, run, eng, st)
            else:
                if st.trigger_step is None and diff > st.peak:  # the highest stress before the stop rule held
                    st.peak, st.peak_step = diff, step
                if step % rec.contact_interval == 0:
                    if st.monitor is not None:
                        st.monitor.record(eng)
                    _sample_slip_and_drive(cfg, run, eng, st, b, diff)
            if step % rec.loading_interval == 0:
                st.loading.record(eng, st.stage)
                st.energy.record(eng)
            if explicit and step >= explicit[0]:
                _snapshot(run, eng, st)
                explicit = [s for s in explicit if s > step]
            if step % rec.checkpoint_interval == 0:
                st.wall_time += time.perf_counter() - t_chunk
                t_chunk = time.perf_counter()
                st.max_mem = max(st.max_mem, _rss_mb())
                _checkpoint(run, st, eng)
                if interrupt_at is not None and step >= interrupt_at:
                    raise KeyboardInterrupt
            if not np.isfinite(diff):
                raise ConfigError(f"the simulation blew up at step {step} (non-finite stress); lower engine.dt_safety")
            if progress and step - last_post >= 2000:
                slips = ""
                if st.slips is not None:  # stick-slips so far against the stop rule's count
                    slips = f" slips={st.slips.count(ld['stop_min_drop'])}/{ld['stop_after_slips']}"
                bar.set_postfix_str(f"{st.stage} dq={diff / 1e6:.0f} MPa cracks={st.cracks.n}{slips}", refresh=False)
                last_post = step
    finally:
        bar.close()
        st.wall_time += time.perf_counter() - t_chunk
