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
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from labquake.sim.ae.events import AERecorder, ContactState
from labquake.sim.config import resolve_config
from labquake.sim.drive import AdaptiveDrive
from labquake.sim.energy import EnergyRecorder
from labquake.errors import OutputError, RunStateError
from labquake.geometry import FaultPlane
from labquake.io.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from labquake.io.rundir import RunDirectory, dumps_toml
from labquake.sim.recorders import ContactMonitor, CrackLog, LoadingRecorder, contact_state, select_monitored
from labquake.sim.cycles import cycle_boundaries, cycle_index
from labquake.sim.slips import SlipDetector, slips_table
from labquake.sim.specimen import (
    Specimen,
    asperity_patches,
    bond_strengths,
    build_specimen,
    check_matches,
    load_specimen,
    save_specimen,
    select_bonds,
    select_by_installation_gap,
)
from labquake.sim.specimen.packing import pair_gaps

__all__ = ["simulate", "slip_rate_thresholds", "build_engine", "install_specimen_bonds", "derived_quantities", "parallel_min_pairs"]


def _p4(x: float) -> float:
    """x⁴ by two products (not ``**``, which is libm's pow: not the same bits on every CPU)."""
    x2 = x * x
    return x2 * x2


# --------------------------------------------------------------------------------------
# Derived quantities
# --------------------------------------------------------------------------------------


def derived_quantities(config: dict[str, Any]) -> dict[str, float]:
    """Contact stiffnesses, wave speeds and the quasi-static measures implied by a config.

    * contact normal stiffness ``kn = E* pi r^2 / (2 r)`` (PFC's ``emod`` deformability with
      the mean radius r), bond normal stiffness per area ``E* / (2 r)``;
    * P-wave speed of the bonded lattice ``v_p = d sqrt(k_total / m)`` (mean diameter d,
      mean mass m with density scaling, k_total = bond normal stiffness, plus the contact's
      for parallel bonds);
      shear-wave speed ``v_s = v_p / sqrt(kn/ks)``;
    * inertial number ``I = eps_dot d sqrt(rho / sigma_3)`` with ``eps_dot = v / L``.
    """
    s, r, ld, e = config["specimen"], config["rock"], config["loading"], config["engine"]
    d = 0.5 * (s["d_min"] + s["d_max"])
    rm = 0.5 * d
    kn = r["modulus"] * math.pi * rm * rm / (2.0 * rm)
    kn_pa = r["modulus"] / (2.0 * rm)
    bond_area = math.pi * (r["radius_multiplier"] * rm) * (r["radius_multiplier"] * rm)
    # a flat joint replaces the contact; a parallel bond acts beside it
    k_total = kn_pa * bond_area + (0.0 if r["bond_model"] == "flat_joint" else kn)
    # mean particle mass: E[d^3] for d uniform in [d_min, d_max]
    if s["d_max"] > s["d_min"]:
        ed3 = (_p4(s["d_max"]) - _p4(s["d_min"])) / (4.0 * (s["d_max"] - s["d_min"]))
    else:
        ed3 = s["d_min"] * s["d_min"] * s["d_min"]
    rho = s["density"] * e["density_scale"]
    m = rho * math.pi / 6.0 * ed3
    vp = d * math.sqrt(k_total / m)
    vs = vp / math.sqrt(r["stiffness_ratio"])
    strain_rate = ld["platen_velocity"] / s["length"]
    inertial = strain_rate * d * math.sqrt(rho / ld["confining_stress"])
    return {
        "mean_diameter": d, "kn": kn, "ks": kn / r["stiffness_ratio"], "bond_kn_per_area": kn_pa,
        "bond_ks_per_area": kn_pa / r["stiffness_ratio"], "p_wave_speed": vp, "s_wave_speed": vs,
        "strain_rate": strain_rate, "inertial_number": inertial,
        "platen_speed_over_p_wave_speed": ld["platen_velocity"] / vp,
    }


def parallel_min_pairs(n_threads: int) -> int:
    """The engine's ``parallel_min_pairs`` for ``n_threads`` engine threads.

    Always 0: ``--threads N`` with N > 1 *forces* the threaded pair-force path whatever the
    number of pairs, and with one thread the engine runs its serial kernel whatever this
    value (the choice is made by the thread count alone). The engine's own default (20 000 pairs) is
    above the pair count of every shipped preset (the paper specimen has a few thousand),
    so without this ``--threads`` changed nothing. The tables do not depend on the choice:
    forces are computed per pair in parallel and reduced per particle in a fixed order
    (``tests/test_threads.py`` checks 1 against 2 threads on the paper specimen).
    """
    del n_threads  # the thread count alone decides; kept for a future measured threshold
    return 0


def build_engine(config: dict[str, Any], specimen: Specimen, n_threads: int = 1):
    """Construct the engine for a specimen, unbonded, with the consolidation settings.

    ``n_threads > 1`` forces the threaded force path (see :func:`parallel_min_pairs`).
    """
    from labquake.sim import dem
    s, r, f, ld, e = (config[k] for k in ("specimen", "rock", "fault", "loading", "engine"))
    dq = derived_quantities(config)
    fault = FaultPlane(angle_deg=f["angle_deg"])
    contact = dem.LinearContact(kn=dq["kn"], ks=dq["ks"], mu=r["friction"], damping_ratio=e["damping_ratio"],
                                rolling_mu=r["rolling_friction"])
    if r["bond_model"] == "flat_joint":
        bond = dem.FlatJoint(modulus=r["modulus"], stiffness_ratio=r["stiffness_ratio"],
                             radius_multiplier=r["radius_multiplier"], residual_mu=r["residual_friction"],
                             n_radial=r["radial_elements"], n_circumferential=r["circumferential_elements"])
    else:
        bond = dem.RockBond(kn_per_area=dq["bond_kn_per_area"], ks_per_area=dq["bond_ks_per_area"],
                            radius_multiplier=r["radius_multiplier"], residual_mu=r["residual_friction"],
                            moment_factor=r["moment_factor"])
    joint = dem.SmoothJoint(normal=tuple(fault.normal), kn_per_area=f["kn_per_area"], ks_per_area=f["ks_per_area"],
                            residual_mu=f["residual_friction"], area=f["contact_area"], healing=dem.fault_healing(f))
    kw = ld["wall_stiffness_factor"] * dq["kn"]
    half = 0.5 * specimen.length
    platens = dem.Platens(z_bottom=-half, z_top=half, kn=kw, mode="servo", target_stress=ld["confining_stress"],
                          servo_gain=ld["servo_gain"])
    cyl = dem.ConfiningCylinder(radius=0.5 * specimen.diameter, kn=kw, target_stress=ld["confining_stress"],
                                servo_gain=ld["servo_gain"], mode=ld["confinement"])
    eng = dem.Engine(specimen.positions, specimen.radii, s["density"], contact, bond=bond, joint=joint,
                     side=specimen.side, platens=platens, cylinder=cyl, dt=(e["dt"] or None), dt_safety=e["dt_safety"],
                     local_damping=e["consolidation_local_damping"], density_scale=e["density_scale"], n_threads=n_threads,
                     parallel_min_pairs=parallel_min_pairs(n_threads))
    return eng


def install_specimen_bonds(eng: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Bond the packing: every pair within the installation gap (``specimen.installation_gap``
    > 0, PFC's way), or the closest pairs up to the target coordination number.

    The experiment bonds the stress-free packing and then consolidates it (as PFC
    bonded-particle models are prepared), so that the bonds carry their share of the
    confining load: bonds installed at 150 MPa with zero force break in tension as soon
    as the sample dilates laterally under axial load, although their contacts stay in
    compression (a flat joint would carry that compression itself). Strengths are drawn
    from a generator seeded with the run's seed. Returns a summary for meta.json: the
    reference's coordination number (contacts per ball: bonded pairs and touching pairs)
    and bonds per ball among it.
    """
    s = config["specimen"]
    pos = np.asarray(eng.positions)
    rad = np.asarray(eng.radii)
    side = np.asarray(eng.side)
    d_mean = 0.5 * (s["d_min"] + s["d_max"])
    if s["installation_gap"] > 0.0:
        bi, bj, gap = select_by_installation_gap(pos, rad, side, s["installation_gap"] * d_mean, s["max_bond_gap"] * d_mean)
    else:
        bi, bj, gap = select_bonds(pos, rad, s["coordination"], s["max_bond_gap"] * d_mean)
    is_fault = side[bi] != side[bj]
    contact_points = pos[bi] + (pos[bj] - pos[bi]) * (rad[bi] / (rad[bi] + rad[bj]))[:, None]
    n_fault_contacts = int(np.count_nonzero(is_fault))
    f = config["fault"]
    if f["bonded_fraction"] < 1.0:
        patches = asperity_patches(np.random.default_rng([int(config["seed"]), 0xA5BE]), contact_points[is_fault],
                                   f["bonded_fraction"], f["strength_correlation_length"])
        keep = ~is_fault
        keep[np.flatnonzero(is_fault)[patches]] = True
        bi, bj, gap, is_fault, contact_points = bi[keep], bj[keep], gap[keep], is_fault[keep], contact_points[keep]
    rng = np.random.default_rng([int(config["seed"]), 0xB0D])
    st = bond_strengths(rng, is_fault, config, contact_points)
    n = eng.install_bonds(bi, bj, st["tensile_strength"], st["cohesion"], st["friction_angle_deg"],
                          max_gap=max(s["installation_gap"], s["max_bond_gap"]) * d_mean * 1.000001)
    ti, tj, _ = pair_gaps(pos, rad, 0.0)  # touching pairs
    bonded_keys = set(zip(bi.tolist(), bj.tolist()))
    n_contacts = int(n) + sum((int(a), int(b)) not in bonded_keys for a, b in zip(np.minimum(ti, tj), np.maximum(ti, tj)))
    return {"n_bonds": int(n), "balls": int(len(rad)), "contacts_per_ball": n_contacts / len(rad),
            "bonds_per_ball": int(n) / len(rad), "bond_model": config["rock"]["bond_model"],
            "installation_gap_m": float(s["installation_gap"] * d_mean), "n_fault_bonds": int(np.count_nonzero(is_fault)), "n_rock_bonds": int(np.count_nonzero(~is_fault)),
            "n_fault_contacts_bondable": n_fault_contacts,
            "coordination": 2.0 * n / len(rad), "largest_bonded_gap_m": float(gap.max()) if len(gap) else 0.0,
            "touching_fraction": float(np.mean(gap <= 0.0)) if len(gap) else 0.0}


def _set_local_damping(eng: Any, alpha: float) -> None:
    """Change the engine's local damping between stages (consolidation -> axial loading)."""
    eng.set_damping(local_damping=alpha)


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


class _Run:
    """The mutable state of one run (:meth:`to_state` gives all of it for the checkpoint)."""

    #: plain attributes a checkpoint must hold (scalars, arrays, dicts and lists of them);
    #: every other plain attribute is stored too, whatever it is called
    _PLAIN = ("stage", "stage_start", "peak", "peak_step", "trigger_step", "end_step", "stop_reason", "elastic0",
              "mass_total", "drive_z0", "cracks_since_sample", "consolidation", "axial_start_positions", "wall_time", "snapshots_done", "pending_snapshots",
              "specimen_summary", "axial_start_boundary", "prep_cracks", "positions0", "radii", "max_mem")
    #: attributes that are objects with to_state()/from_state()
    _OBJECTS = {"loading": LoadingRecorder, "cracks": CrackLog, "ae": AERecorder, "monitor": ContactMonitor,
                "prev_state": ContactState, "slips": SlipDetector, "drive": AdaptiveDrive, "energy": EnergyRecorder}
    #: objects a checkpoint of an older labquake may lack (they start empty on resume)
    _OPTIONAL = ("energy",)

    def __init__(self, config: dict[str, Any], specimen: Specimen, eng: Any) -> None:
        s, ae = config["specimen"], config["ae"]
        dq = derived_quantities(config)
        self.fault = FaultPlane(angle_deg=config["fault"]["angle_deg"])
        self.stage = "consolidation"
        self.stage_start = 0
        self.peak = -np.inf
        self.peak_step = -1
        self.trigger_step: int | None = None
        self.end_step: int | None = None
        self.stop_reason = ""
        self.elastic0 = 0.0  # elastic energy at the start of axial loading (the drive's KE scale)
        self.drive_z0 = 0.0  # the drive point's position at the start of axial loading
        self.mass_total = 0.0  # mass of the free particles (the drive's quasi-static kinetic energy)
        self.cracks_since_sample = 0
        self.slips: SlipDetector | None = None
        self.drive: AdaptiveDrive | None = None
        self.consolidation: dict[str, Any] = {}
        self.axial_start_positions: np.ndarray | None = None
        self.wall_time = 0.0
        self.snapshots_done: list[int] = []
        self.pending_snapshots: list[int] = []
        self.rng = np.random.default_rng([int(config["seed"]), 0xAE])
        self.loading = LoadingRecorder(specimen.length, 0.5 * specimen.diameter, self.fault, specimen.positions,
                                       specimen.side, band=s["d_max"])
        self.cracks = CrackLog()
        self.energy = EnergyRecorder()
        # provisional window (lattice estimate); with ae.shear_wave_speed = 0 the axial
        # stage replaces it by the window of the measured speed (_set_ae_window)
        vs = ae["shear_wave_speed"] or dq["s_wave_speed"]
        space = ae["space_window"] * dq["mean_diameter"]
        tw = ae["time_window_steps"] or max(1, int(math.ceil(space / vs / eng.dt)))
        self.ae = AERecorder(space_window=space, time_window=tw, dt=eng.dt, extend=ae["extend_window"])
        self.wave_speed: dict[str, Any] = {}  # the S-wave speed measurement (meta.json ae)
        self.monitor: ContactMonitor | None = None
        self.prev_state = contact_state(eng)
        self.specimen_summary = {"n_particles": specimen.n_particles, "solid_fraction": specimen.solid_fraction, **specimen.info}
        self.axial_start_boundary: dict[str, float] = {}
        self.prep_cracks = [0, 0]  # rock, fault bond failures during consolidation
        self.positions0 = specimen.positions.copy()
        self.radii = specimen.radii.copy()
        self.max_mem = 0

    def to_state(self) -> dict[str, Any]:
        """Everything of the run as plain data (see :mod:`labquake.io.checkpoint`).

        The recorders give their own ``to_state()``; the random generator its bit
        generator state; every other attribute is stored as it is (a new attribute that
        is not plain data makes the checkpoint writer raise, never a silent omission).
        The fault plane is rebuilt from the config.
        """
        plain: dict[str, Any] = {}
        objects: dict[str, Any] = {}
        for k, v in vars(self).items():
            if k == "fault":
                continue
            if k in self._OBJECTS:
                objects[k] = None if v is None else v.to_state()
            elif k != "rng":
                plain[k] = v
        return {"plain": plain, "objects": objects, "rng": self.rng.bit_generator.state}

    @classmethod
    def from_state(cls, config: dict[str, Any], state: dict[str, Any]) -> "_Run":
        """Rebuild the run from :meth:`to_state` (the fault plane comes from the config)."""
        self = cls.__new__(cls)
        self.fault = FaultPlane(angle_deg=config["fault"]["angle_deg"])
        plain, objects = state["plain"], state["objects"]
        missing = [k for k in (*cls._PLAIN, *cls._OBJECTS) if k not in plain and k not in objects and k not in cls._OPTIONAL]
        if missing:
            raise KeyError(f"run state lacks {', '.join(missing)}")
        for k, v in plain.items():
            setattr(self, k, v)
        self.stage = str(self.stage)
        if self.stage not in ("consolidation", "axial"):
            raise ValueError(f"unknown stage {self.stage!r}")
        self.snapshots_done = [int(x) for x in self.snapshots_done]
        self.pending_snapshots = [int(x) for x in self.pending_snapshots]
        self.prep_cracks = [int(x) for x in self.prep_cracks]
        for k, klass in cls._OBJECTS.items():
            if k not in objects:  # optional (see _OPTIONAL)
                setattr(self, k, klass())
                continue
            v = objects[k]
            setattr(self, k, None if v is None else klass.from_state(v))
        if self.prev_state is None or self.loading is None or self.cracks is None or self.ae is None:
            raise ValueError("run state lacks a recorder")
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        self.rng = rng
        return self


def _checkpoint(run: RunDirectory, state: _Run, eng: Any) -> None:
    """Write the engine state (whatever keys ``state_dict`` has) and the run state."""
    save_checkpoint(run.checkpoint_dir, {"engine": dict(eng.state_dict()), "run": state.to_state()}, int(eng.step_count))


def _compute_meta(previous: dict[str, Any] | None) -> dict[str, Any]:
    """meta.json's ``compute``: this process's kernel mode and compile target
    (:func:`labquake.sim.dem.compute_target`), and the compile target of every process that ran
    part of the run (``segments``, one per start or resume)."""
    from labquake.sim.dem import compute_target

    cur = compute_target()
    segments = list((previous or {}).get("segments", []))
    segments.append({"cpu_name": cur["cpu_name"], "host_cpu": cur["host_cpu"], "portable": cur["portable"]})
    return {**cur, "segments": segments}


def _check_compute(run: RunDirectory) -> dict[str, Any]:
    """Refuse to resume portable kernels' checkpoint with native ones or the reverse (the
    run would not continue as it began); warn when a native run resumes under another
    compile target. Returns the new meta ``compute``."""
    import warnings

    from labquake.sim.dem import compute_target

    try:
        prev = run.read_meta().get("compute")
    except RunStateError:
        prev = None
    cur = compute_target()
    if isinstance(prev, dict) and "portable" in prev:
        if bool(prev["portable"]) != cur["portable"]:
            was = "portable" if prev["portable"] else "native (LABQUAKE_PORTABLE=0)"
            now = "portable" if cur["portable"] else "native (LABQUAKE_PORTABLE=0)"
            raise RunStateError(f"{run.path} was run with {was} kernels but this process has {now} ones; "
                                f"resume it with LABQUAKE_PORTABLE={1 if prev['portable'] else 0}")
        if not cur["portable"] and (prev.get("cpu_name"), prev.get("cpu_features")) != (cur["cpu_name"], cur["cpu_features"]):
            warnings.warn(f"{run.path}: native kernels compiled for {prev.get('cpu_name')} wrote the checkpoint, "
                          f"this process's are compiled for {cur['cpu_name']}; the run will not continue exactly "
                          "as an uninterrupted one (use the default portable kernels)", RuntimeWarning, stacklevel=3)
    return _compute_meta(prev if isinstance(prev, dict) else None)


def _restore(run: RunDirectory, cfg: dict[str, Any]):
    """The engine and run state of the checkpoint; any failure is one RunStateError line."""
    from labquake.sim.dem import Engine

    tree = load_checkpoint(run.checkpoint_dir)
    try:
        eng = Engine.from_state_dict(tree["engine"])
        st = _Run.from_state(cfg, tree["run"])
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint is a user-facing error
        msg = " ".join(str(exc).split())[:120]
        raise RunStateError(f"{run.checkpoint_dir}: damaged checkpoint ({type(exc).__name__}: {msg}); "
                            "rerun without --resume into a new --out") from None
    return eng, st


def _snapshot(run: RunDirectory, eng: Any, st: _Run) -> None:
    try:
        from labquake.io.vtk import write_snapshot
    except ImportError:  # pragma: no cover - the VTK writer is another module's
        return
    c = eng.contacts()
    cr = st.cracks.table(eng.dt)
    write_snapshot(run.path, int(eng.step_count), np.asarray(eng.positions), np.asarray(eng.radii), c["i"], c["j"],
                   c["fn"], np.linalg.norm(np.asarray(c["fs"]), axis=1), c["kind"], c["bonded"],
                   cracks=cr if len(cr) else None)
    st.snapshots_done.append(int(eng.step_count))


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def simulate(
    config: dict[str, Any],
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
        A run config (partial configs are resolved with :func:`labquake.sim.config.resolve_config`).
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
    cfg = resolve_config(config)
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
            if cfg["specimen"]["file"]:
                specimen = load_specimen(cfg["specimen"]["file"])
                check_matches(specimen, cfg, source=cfg["specimen"]["file"])
            else:
                specimen = build_specimen(cfg)
            run.start(cfg, meta={"name": cfg["name"], "seed": cfg["seed"], "compute": _compute_meta(None)})
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


def _roundtrip(cfg: dict[str, Any]) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(dumps_toml(cfg))


def _next_multiple(step: int, k: int) -> int:
    return (step // k + 1) * k


def _loop(cfg, run: RunDirectory, eng, st: _Run, progress: bool, interrupt_at: int | None, t0: float) -> None:
    from tqdm.auto import tqdm

    from labquake.errors import ConfigError

    ld, rec = cfg["loading"], cfg["recording"]
    sig3 = ld["confining_stress"]
    explicit = sorted(s for s in rec["snapshot_steps"] if s not in st.snapshots_done)
    bar = tqdm(total=ld["max_steps"], initial=int(eng.step_count), unit="step", disable=not progress,
               desc=cfg["name"], dynamic_ncols=True, mininterval=0.5)
    last_post = -10**9
    t_chunk = time.perf_counter()
    try:
        while True:
            step = int(eng.step_count)
            # -------- stop?
            if st.end_step is not None and step >= st.end_step:
                st.stop_reason = st.stop_reason or "slips"
                break
            if step >= ld["max_steps"]:
                st.stop_reason = "max_steps"
                break
            # -------- chunk length, aligned to every boundary that needs a sample
            base = rec["mt_interval"] if st.ae.active else rec["contact_interval"]
            bounds = [step + base, _next_multiple(step, rec["loading_interval"]), _next_multiple(step, rec["checkpoint_interval"]),
                      ld["max_steps"]]
            if st.stage == "axial":
                bounds.append(_next_multiple(step, rec["contact_interval"]))
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
                ramp = min(1.0, (step - st.stage_start) / max(ld["consolidation_ramp_steps"], 1))
                eng.set_cylinder(target_stress=ramp * sig3)
                eng.set_platens(target_stress=ramp * sig3)
                err_a = abs(b["axial_stress"] - sig3) / sig3
                err_c = abs(b["confining_stress"] - sig3) / sig3
                in_stage = step - st.stage_start
                ke_ratio = float(eng.kinetic_energy() / max(eng.elastic_energy(), 1e-300))
                done = (in_stage >= max(ld["consolidation_min_steps"], ld["consolidation_ramp_steps"])
                        and max(err_a, err_c) < ld["consolidation_tolerance"] and ke_ratio < ld["consolidation_ke_ratio"])
                if done or in_stage >= ld["consolidation_max_steps"]:
                    st.consolidation = {"steps": in_stage, "converged": bool(done), "axial_error": float(err_a),
                                        "confining_error": float(err_c), "kinetic_to_elastic_energy": ke_ratio,
                                        "rock_cracks": st.prep_cracks[0], "fault_cracks": st.prep_cracks[1]}
                    st.loading.record(eng, "consolidation")
                    st.energy.record(eng)
                    _start_axial(cfg, run, eng, st)
            else:
                if st.trigger_step is None and diff > st.peak:  # the highest stress before the stop rule held
                    st.peak, st.peak_step = diff, step
                if step % rec["contact_interval"] == 0:
                    if st.monitor is not None:
                        st.monitor.record(eng)
                    _sample_slip_and_drive(cfg, run, eng, st, b, diff)
            if step % rec["loading_interval"] == 0:
                st.loading.record(eng, st.stage)
                st.energy.record(eng)
            if explicit and step >= explicit[0]:
                _snapshot(run, eng, st)
                explicit = [s for s in explicit if s > step]
            if step % rec["checkpoint_interval"] == 0:
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


def slip_rate_thresholds(cfg: dict[str, Any]) -> tuple[float, float]:
    """The slip rates (m/s) at which a slip event starts and below which it ends.

    ``loading.slip_rate_on`` and ``slip_rate_off``, both scaled up together when the drive
    is so fast that the fault's quasi-static sliding would pass them: the on-rate is at
    least ``slip_rate_drive_multiple`` times ``platen_velocity``.
    """
    ld = cfg["loading"]
    scale = max(1.0, ld["slip_rate_drive_multiple"] * ld["platen_velocity"] / ld["slip_rate_on"])
    return ld["slip_rate_on"] * scale, ld["slip_rate_off"] * scale


def _sample_slip_and_drive(cfg, run: RunDirectory, eng, st: _Run, b: dict[str, float], diff: float) -> None:
    """One sample of the slip detector and the adaptive drive (every ``contact_interval``
    steps of axial loading), and the stop rule."""
    ld, rec = cfg["loading"], cfg["recording"]
    step = int(eng.step_count)
    new_cracks, st.cracks_since_sample = st.cracks_since_sample, 0
    if st.slips is None or st.drive is None:
        return
    if step - st.stage_start < ld["min_axial_steps"]:  # no events yet, but the cycle's peak counts
        st.slips.observe_stress(diff)
        return
    ev = st.slips.update(step, st.loading.fault_slip(eng.positions), diff, float(b["confining_stress"]), float(b["z_drive"]))
    if (ev == "end" and st.trigger_step is None
            and st.slips.count(ld["stop_min_drop"]) >= ld["stop_after_slips"]):
        st.trigger_step = step
        st.end_step = step + ld["tail_steps"]
        if rec["snapshot_mainshock"]:
            _snapshot(run, eng, st)
    if ld["max_displacement"] > 0.0 and st.end_step is None and st.drive_z0 - float(b["z_drive"]) >= ld["max_displacement"]:
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

    ld, rec, e = cfg["loading"], cfg["recording"], cfg["engine"]
    st.stage = "axial"
    st.stage_start = int(eng.step_count)
    eng.set_platens(mode="velocity", velocity=ld["platen_velocity"], frame_stiffness=ld["frame_stiffness"])
    _set_local_damping(eng, e["local_damping"])
    _set_ae_window(cfg, eng, st)
    pos = np.asarray(eng.positions).copy()
    st.axial_start_positions = pos
    b = eng.boundary_state()
    st.loading.start_slip(pos, float(b["z_drive"]))
    st.axial_start_boundary = {k: float(v) for k, v in b.items()}
    st.elastic0 = float(eng.elastic_energy())
    st.drive_z0 = float(b["z_drive"])
    st.mass_total = float(np.sum(np.asarray(eng.masses)))
    radius = 0.5 * cfg["specimen"]["diameter"]
    area = math.pi * (radius * radius)
    on, off = slip_rate_thresholds(cfg)
    st.slips = SlipDetector(on, off, ld["slip_quiet_steps"], ld["slip_rate_window"], float(eng.dt),
                            cfg["fault"]["angle_deg"], ld["frame_stiffness"], area, onset_window=ld["slow_onset_window"])
    st.drive = AdaptiveDrive(ld["platen_velocity"], ld["slow_factor"] if ld["drive"] == "adaptive" else 1.0,
                             ld["slow_ke_ratio"], ld["slow_crack_count"], ld["quiet_steps"], ld["max_slow_steps"])
    c = eng.contacts()
    kind = np.asarray(c["kind"])
    state = st.prev_state
    # map contacts() rows onto the (sorted) ContactState rows
    i, j = np.asarray(c["i"], np.int64), np.asarray(c["j"], np.int64)
    key = np.minimum(i, j) * eng.n_particles + np.maximum(i, j)
    order = np.searchsorted(state.key, key)
    kind_sorted = np.zeros(len(state.key), dtype=np.int64)
    kind_sorted[order] = kind
    sel = select_monitored(st.rng, rec["n_monitored"], state, np.where(kind_sorted == CONTACT_SMOOTH_JOINT, 2, kind_sorted),
                           pos, st.fault, 0.5 * cfg["specimen"]["diameter"], cfg["specimen"]["length"])
    st.monitor = ContactMonitor(state.i[sel], state.j[sel], state.point[sel])
    if eng.step_count % rec["contact_interval"] == 0:  # samples lie on one grid of contact_interval steps
        st.monitor.record(eng)
    if rec["snapshot_axial_start"]:
        _snapshot(run, eng, st)


def _ae_meta(cfg, eng, st: _Run) -> dict[str, Any]:
    """meta.json ``ae``: the clustering windows and where the time window came from."""
    out: dict[str, Any] = {"space_window_m": st.ae.space_window, "time_window_steps": st.ae.time_window,
                           "time_window_s": st.ae.time_window * float(eng.dt), "extend_window": st.ae.extend,
                           "mt_interval": cfg["recording"]["mt_interval"], "wall_contacts": True}
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

    ae = cfg["ae"]
    dq = derived_quantities(cfg)
    t = time.perf_counter()
    m = measure_shear_wave_speed(eng, speed_guess=dq["s_wave_speed"])
    vs_m = m["s_wave_speed"]
    if ae["time_window_steps"]:
        source, vs = "ae.time_window_steps", None
    elif ae["shear_wave_speed"]:
        source, vs = "ae.shear_wave_speed", float(ae["shear_wave_speed"])
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
    if cfg["recording"]["snapshot_final"] and (not st.snapshots_done or st.snapshots_done[-1] != eng.step_count):
        _snapshot(run, eng, st)
    dt = float(eng.dt)
    events = st.ae.events_table()
    cracks = st.cracks.table(dt, st.ae.crack_event_ids())
    loading = st.loading.table()
    min_drop = float(cfg["loading"]["stop_min_drop"])
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
    rho = cfg["specimen"]["density"] * cfg["engine"]["density_scale"]
    f = cfg["fault"]
    fault = st.fault.to_dict()
    fault.update({"contact_area": f["contact_area"], "cohesion": f["cohesion"], "friction_angle_deg": f["friction_angle_deg"],
                  "tensile_strength": f["tensile_strength"], "residual_friction": f["residual_friction"],
                  "kn_per_area": f["kn_per_area"], "ks_per_area": f["ks_per_area"],
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
        contact_interval=int(cfg["recording"]["contact_interval"]),
        loading_interval=int(cfg["recording"]["loading_interval"]),
        fault=fault,
        wall_time_s=float(st.wall_time),
        peak_memory_mb=float(st.max_mem),
        counts={k: int(len(v)) for k, v in tables.items()},
        crack_counts={"fault": int(st.cracks.count(1)), "rock": int(st.cracks.count(0))},
        steps=int(eng.step_count),
        stop_reason=st.stop_reason,
        stop_criterion={"after_slips": cfg["loading"]["stop_after_slips"], "min_drop": cfg["loading"]["stop_min_drop"],
                        "max_displacement": cfg["loading"]["max_displacement"], "tail_steps": cfg["loading"]["tail_steps"],
                        "max_steps": cfg["loading"]["max_steps"], "stop_step": st.trigger_step},
        axial_start_step=int(st.stage_start) if st.stage == "axial" else None,
        peak_differential_stress=peak,
        peak_step=peak_step,
        mainshock_step=mainshock_step,
        stress_drop=stress_drop,
        slips={"n_events": int(len(slips)), "n_at_least_min_drop": int(np.count_nonzero(slips["static_drop"] >= min_drop)),
               "n_cycles": int(len(bounds)),
               "rate_on": st.slips.rate_on if st.slips else None, "rate_off": st.slips.rate_off if st.slips else None,
               "rate_window_steps": cfg["loading"]["slip_rate_window"], "quiet_steps": cfg["loading"]["slip_quiet_steps"],
               "definition": "static_drop = differential stress at the slip-rate rise - mean over the quiet stretch after it"},
        drive={"mode": cfg["loading"]["drive"], "fast_velocity": cfg["loading"]["platen_velocity"],
               "slow_factor": cfg["loading"]["slow_factor"] if cfg["loading"]["drive"] == "adaptive" else 1.0,
               "slow_steps": int(drive.slow_steps) if drive else 0, "n_slowdowns": int(drive.n_slowdowns) if drive else 0,
               "n_forced_fast": int(drive.n_forced) if drive else 0,
               "displacement": float(st.drive_z0 - eng.boundary_state()["z_drive"]) if drive else 0.0},
        consolidation=st.consolidation,
        quasi_static={
            "inertial_number": dq["inertial_number"],
            "inertial_number_measured": float(abs(rate) * dq["mean_diameter"] * math.sqrt(rho / cfg["loading"]["confining_stress"])),
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
        density_scale=cfg["engine"]["density_scale"],
        local_damping={"consolidation": cfg["engine"]["consolidation_local_damping"], "axial": cfg["engine"]["local_damping"]},
        snapshots=st.snapshots_done,
    )
