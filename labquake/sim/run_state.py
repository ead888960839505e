"""A run's state between steps (recorders, drive, slip detector), its checkpoints, resume
and snapshots.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labquake.errors import RunStateError
from labquake.geometry import FaultPlane
from labquake.io.checkpoint import load_checkpoint, save_checkpoint
from labquake.io.rundir import RunDirectory
from labquake.sim.ae.events import AERecorder, ContactState
from labquake.sim.assembly import derived_quantities
from labquake.sim.drive import AdaptiveDrive
from labquake.sim.energy import EnergyRecorder
from labquake.sim.recorders import (
    ContactMonitor,
    CrackLog,
    LoadingRecorder,
    contact_state,
)
from labquake.sim.run_config import RunConfig
from labquake.sim.slips import SlipDetector
from labquake.sim.specimen import (
    Specimen,
)

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

    def __init__(self, config: RunConfig, specimen: Specimen, eng: Any) -> None:
        s, ae = config.specimen, config.ae
        dq = derived_quantities(config)
        self.fault = FaultPlane(angle_deg=config.fault.angle_deg)
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
        self.rng = np.random.default_rng([int(config.seed), 0xAE])
        self.loading = LoadingRecorder(specimen.length, 0.5 * specimen.diameter, self.fault, specimen.positions,
                                       specimen.side, band=s.d_max)
        self.cracks = CrackLog()
        self.energy = EnergyRecorder()
        # provisional window (lattice estimate); with ae.shear_wave_speed = 0 the axial
        # stage replaces it by the window of the measured speed (_set_ae_window)
        vs = ae.shear_wave_speed or dq["s_wave_speed"]
        space = ae.space_window * dq["mean_diameter"]
        tw = ae.time_window_steps or max(1, int(math.ceil(space / vs / eng.dt)))
        self.ae = AERecorder(space_window=space, time_window=tw, dt=eng.dt, extend=ae.extend_window)
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
    def from_state(cls, config: RunConfig, state: dict[str, Any]) -> "_Run":
        """Rebuild the run from :meth:`to_state` (the fault plane comes from the config)."""
        self = cls.__new__(cls)
        self.fault = FaultPlane(angle_deg=config.fault.angle_deg)
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


def _restore(run: RunDirectory, cfg: RunConfig):
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
