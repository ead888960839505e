"""Recorders of a triaxial run: loading curve, cracks, monitored fault contacts.

Each recorder accumulates numpy rows in memory and turns them into a run-directory table
at the end. ``to_state()`` gives its whole state as plain data (numpy arrays and JSON
scalars, see :mod:`labquake.io.checkpoint`) and ``from_state()`` rebuilds it exactly, so a
resumed run writes the same tables. They read the engine through the public API of
:mod:`labquake.sim.dem` only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from labquake.sim.ae.events import ContactState
from labquake.geometry import FaultPlane
from labquake.io.rundir import empty_table

__all__ = ["contact_state", "LoadingRecorder", "CrackLog", "ContactMonitor", "select_monitored"]


def contact_state(eng: Any, step: int | None = None, walls: bool = True) -> ContactState:
    """All current contacts of the engine, wall contacts included, as a :class:`ContactState`.

    The engine reports, per contact, the normal force ``fn`` (compression +) along the
    unit normal ``normal`` pointing from particle i to particle j, and the shear force
    ``fs`` on particle i; the force on i is then ``-fn * normal + fs``. With ``walls``
    (and an engine that has ``wall_contacts()``) every particle–platen and
    particle–lateral-boundary contact is a row too (``j = n_particles + wall``, the force
    the wall exerts on the particle), so an AE source next to a wall keeps the reaction
    of the wall in its moment tensor.
    """
    c = eng.contacts()
    n = int(eng.n_particles)
    f_i = -np.asarray(c["fn"], float)[:, None] * np.asarray(c["normal"], float) + np.asarray(c["fs"], float)
    i, j, pt = np.asarray(c["i"], np.int64), np.asarray(c["j"], np.int64), np.asarray(c["point"], float)
    if walls and hasattr(eng, "wall_contacts"):
        w = eng.wall_contacts()
        i = np.concatenate([i, np.asarray(w["particle"], np.int64)])
        j = np.concatenate([j, n + np.asarray(w["wall"], np.int64)])
        f_i = np.concatenate([f_i, np.asarray(w["force"], float).reshape(-1, 3)])
        pt = np.concatenate([pt, np.asarray(w["point"], float).reshape(-1, 3)])
    return ContactState.from_arrays(int(eng.step_count if step is None else step), n, i, j, f_i, pt)


class LoadingRecorder:
    """Loading-curve rows (the ``loading`` table) sampled every few steps.

    Strains are measured from the specimen as built (before consolidation): axial strain
    from the platen gap, volumetric strain ``eps_a + 2 eps_r`` with the radial strain from
    the confining boundary's radius (both compaction positive). The fault slip is the mean
    along-dip displacement of the hanging-wall particles within one maximum diameter of
    the fault relative to that of the footwall particles, counted from the start of axial
    loading, positive in the sense the axial load drives it (hanging wall down-dip). The
    drive displacement is the advance of the loading frame's drive point since the start
    of axial loading (0 before it): the axis on which the drive rate is set.
    """

    COLUMNS = ("step", "time", "axial_stress", "confining_stress", "differential_stress", "axial_strain",
               "volumetric_strain", "platen_displacement", "fault_slip", "kinetic_energy", "stage", "drive_displacement")

    def __init__(self, length0: float, radius0: float, fault: FaultPlane, positions0: np.ndarray, side: np.ndarray, band: float) -> None:
        self.length0 = float(length0)
        self.radius0 = float(radius0)
        self.dip = fault.dip
        d = np.abs(fault.signed_distance(positions0))
        near = d <= band
        self.hw = np.flatnonzero(near & (side == 1))
        self.fw = np.flatnonzero(near & (side == 0))
        self.ref_hw: np.ndarray | None = None
        self.ref_fw: np.ndarray | None = None
        self.drive_z0: float | None = None
        self.rows: list[tuple] = []

    def start_slip(self, positions: np.ndarray, drive_z: float | None = None) -> None:
        """Fix the reference positions of the fault slip and of the loading frame's drive
        point (start of axial loading)."""
        self.ref_hw = np.asarray(positions)[self.hw].copy()
        self.ref_fw = np.asarray(positions)[self.fw].copy()
        self.drive_z0 = None if drive_z is None else float(drive_z)

    def fault_slip(self, positions: np.ndarray) -> float:
        if self.ref_hw is None or len(self.hw) == 0 or len(self.fw) == 0:
            return 0.0
        pos = np.asarray(positions)
        u_hw = (pos[self.hw] - self.ref_hw).mean(axis=0)
        u_fw = (pos[self.fw] - self.ref_fw).mean(axis=0)
        d, dip = u_hw - u_fw, self.dip
        return -float(d[0] * dip[0] + d[1] * dip[1] + d[2] * dip[2])  # not BLAS: the same bits on any CPU

    def record(self, eng: Any, stage: str) -> dict[str, float]:
        """Append one row for the engine's current state and return it."""
        b = eng.boundary_state()
        sa, sc = float(b["axial_stress"]), float(b["confining_stress"])
        length = float(b["z_top"] - b["z_bottom"])
        ea = (self.length0 - length) / self.length0
        er = (self.radius0 - float(b["cylinder_radius"])) / self.radius0
        row = (int(eng.step_count), float(eng.step_count * eng.dt), sa, sc, sa - sc, ea, ea + 2.0 * er,
               float(b["platen_displacement"]), self.fault_slip(eng.positions), float(eng.kinetic_energy()), stage,
               0.0 if self.drive_z0 is None else self.drive_z0 - float(b["z_drive"]))
        self.rows.append(row)
        return dict(zip(self.COLUMNS, row))

    def to_state(self) -> dict[str, Any]:
        """The recorder as plain data (arrays and scalars) for a checkpoint."""
        n = len(self.rows)
        num = np.array([(*r[1:10], r[11]) for r in self.rows], dtype=float).reshape(n, 10)
        return {"length0": self.length0, "radius0": self.radius0, "dip": np.asarray(self.dip, dtype=float),
                "hw": self.hw, "fw": self.fw, "ref_hw": self.ref_hw, "ref_fw": self.ref_fw,
                "drive_z0": self.drive_z0,
                "step": np.array([r[0] for r in self.rows], dtype=np.int64), "values": num,
                "stage": [str(r[10]) for r in self.rows]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "LoadingRecorder":
        """Rebuild a recorder from :meth:`to_state`."""
        self = cls.__new__(cls)
        self.length0 = float(state["length0"])
        self.radius0 = float(state["radius0"])
        self.dip = np.asarray(state["dip"], dtype=float)
        self.hw = np.asarray(state["hw"], dtype=np.int64)
        self.fw = np.asarray(state["fw"], dtype=np.int64)
        self.ref_hw = None if state["ref_hw"] is None else np.asarray(state["ref_hw"], dtype=float)
        self.ref_fw = None if state["ref_fw"] is None else np.asarray(state["ref_fw"], dtype=float)
        self.drive_z0 = None if state["drive_z0"] is None else float(state["drive_z0"])
        steps, vals, stages = state["step"], np.asarray(state["values"], dtype=float), state["stage"]
        if not (len(steps) == len(vals) == len(stages)) or (len(vals) and vals.shape[1] != 10):
            raise ValueError("loading recorder: rows of unequal length")
        self.rows = [(int(st), *(float(v) for v in row[:9]), str(sg), float(row[9])) for st, row, sg in zip(steps, vals, stages)]
        return self

    def table(self) -> pd.DataFrame:
        if not self.rows:
            df = empty_table("loading")
            df["stage"] = pd.Series([], dtype=object)
            return df
        df = pd.DataFrame(self.rows, columns=list(self.COLUMNS))
        df["step"] = df["step"].astype("int64")
        return df


class CrackLog:
    """Every bond failure, in the order the engine reports them (the ``cracks`` table).

    ``healed`` (stored 0/1, written as a bool column) marks the re-rupture of a healed
    fault contact (fault healing, ``docs/healing.md``); crack records without it (a
    checkpoint of an older labquake) read as false.
    """

    _F = ("x", "y", "z", "nx", "ny", "nz", "size")
    _I = ("step", "kind", "mode", "particle_a", "particle_b", "healed")
    #: integer columns that older crack records may lack (filled with 0)
    _OPTIONAL = ("healed",)

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []
        self.n = 0

    def add(self, cracks: dict[str, np.ndarray]) -> None:
        n = len(cracks["step"])
        if n == 0:
            return
        self.parts.append({k: (np.asarray(cracks[k]).copy() if k in cracks or k not in self._OPTIONAL
                               else np.zeros(n, dtype=np.int64)) for k in self._F + self._I})
        self.n += n

    def to_state(self) -> dict[str, Any]:
        """The log as plain data (one array per column) for a checkpoint."""
        return {"n": self.n, "columns": self.arrays()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "CrackLog":
        """Rebuild a log from :meth:`to_state`."""
        self = cls()
        cols = state["columns"]
        n = int(state["n"])
        a = {k: (np.asarray(cols[k]) if k in cols or k not in cls._OPTIONAL else np.zeros(n, dtype=np.int64))
             for k in cls._F + cls._I}
        if any(len(v) != n for v in a.values()):
            raise ValueError("crack log: columns of unequal length")
        if n:
            self.parts = [a]
        self.n = n
        return self

    def count(self, kind: int | None = None) -> int:
        if kind is None:
            return self.n
        return int(sum(np.count_nonzero(p["kind"] == kind) for p in self.parts))

    def arrays(self) -> dict[str, np.ndarray]:
        if not self.parts:
            return {k: np.zeros(0, dtype=float if k in self._F else np.int64) for k in self._F + self._I}
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self._F + self._I}

    def table(self, dt: float, event_ids: np.ndarray | None = None) -> pd.DataFrame:
        a = self.arrays()
        df = pd.DataFrame({
            "crack_id": np.arange(self.n, dtype=np.int64),
            "step": a["step"].astype(np.int64),
            "time": a["step"].astype(float) * dt,
            **{k: a[k].astype(float) for k in self._F[:6]},
            "size": a["size"].astype(float),
            "kind": np.where(a["kind"] == 1, "fault", "rock").astype(object),
            "mode": np.where(a["mode"] == 1, "shear", "tension").astype(object),
            "particle_a": a["particle_a"].astype(np.int64),
            "particle_b": a["particle_b"].astype(np.int64),
            "healed": a["healed"].astype(bool),
        })
        if event_ids is not None:
            df["event_id"] = np.asarray(event_ids, dtype=np.int64)
        return df


def select_monitored(
    rng: np.random.Generator, n: int, state: ContactState, kind: np.ndarray, positions: np.ndarray, fault: FaultPlane,
    radius: float, length: float, max_tries: int = 50,
) -> np.ndarray:
    """Choose monitored fault contacts as in the reference study.

    Repeatedly: draw a point uniformly on the fault ellipse inside the sample, take the
    particle with a fault contact nearest to it, and one of that particle's fault contacts
    at random; a contact already chosen is skipped. Returns indices into ``state``
    (at most ``n``; fewer only if the fault has fewer contacts).
    """
    from scipy.spatial import cKDTree

    fc = np.flatnonzero(kind == 2)
    if n == 0 or len(fc) == 0:
        return np.zeros(0, dtype=np.int64)
    owners = np.unique(np.concatenate([state.i[fc], state.j[fc]]))
    tree = cKDTree(np.asarray(positions)[owners])
    th = np.deg2rad(fault.angle_deg)
    from labquake.sim.dem.exactmath import cos_sin

    cth, sth = cos_sin(float(th))  # not libm: the same bits on every CPU
    a_dip = min(radius / sth, 0.5 * length / cth)  # half-extent along dip
    chosen: list[int] = []
    seen: set[int] = set()
    tries = 0
    while len(chosen) < min(n, len(fc)) and tries < max_tries * n:
        tries += 1
        u, v = rng.uniform(-1.0, 1.0, 2)
        if u * u + v * v > 1.0:
            continue
        p = fault.from_fault_coords(np.array([[u * a_dip, v * radius, 0.0]]))[0]
        _, k = tree.query(p)
        owner = owners[k]
        cand = fc[(state.i[fc] == owner) | (state.j[fc] == owner)]
        c = int(cand[rng.integers(len(cand))])
        if c in seen:
            continue
        seen.add(c)
        chosen.append(c)
    return np.asarray(chosen, dtype=np.int64)


class ContactMonitor:
    """Monitored fault contacts sampled every ``interval`` steps (``contacts``/``monitored`` tables)."""

    def __init__(self, pa: np.ndarray, pb: np.ndarray, points: np.ndarray, model: str = "smoothjoint") -> None:
        self.pa = np.asarray(pa, dtype=np.int64)
        self.pb = np.asarray(pb, dtype=np.int64)
        self.points = np.asarray(points, dtype=float).reshape(-1, 3)
        self.model = model
        self.x0a: np.ndarray | None = None  # positions at the first sample: displacements are measured from it
        self.x0b: np.ndarray | None = None
        self.parts: list[np.ndarray] = []  # each (n, 17): step, time, id, fn, fs, broken, 12 kinematics

    @property
    def n(self) -> int:
        return len(self.pa)

    def to_state(self) -> dict[str, Any]:
        """The monitor as plain data for a checkpoint."""
        samples = np.concatenate(self.parts) if self.parts else np.zeros((0, 18))
        return {"pa": self.pa, "pb": self.pb, "points": self.points, "model": self.model,
                "x0a": self.x0a, "x0b": self.x0b, "samples": samples}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ContactMonitor":
        """Rebuild a monitor from :meth:`to_state`."""
        self = cls(state["pa"], state["pb"], state["points"], str(state["model"]))
        self.x0a = None if state["x0a"] is None else np.asarray(state["x0a"], dtype=float)
        self.x0b = None if state["x0b"] is None else np.asarray(state["x0b"], dtype=float)
        samples = np.asarray(state["samples"], dtype=float)
        if samples.ndim != 2 or samples.shape[1] != 18:
            raise ValueError("contact monitor: samples must have 18 columns")
        self.parts = [samples] if len(samples) else []
        return self

    def record(self, eng: Any) -> None:
        if self.n == 0:
            return
        look = eng.lookup_pairs(self.pa, self.pb)
        pos = np.asarray(eng.positions)
        vel = np.asarray(eng.velocities)
        step = int(eng.step_count)
        if self.x0a is None:
            self.x0a, self.x0b = pos[self.pa].copy(), pos[self.pb].copy()
        block = np.empty((self.n, 18))
        block[:, 0] = step
        block[:, 1] = step * eng.dt
        block[:, 2] = np.arange(self.n)
        block[:, 3] = np.where(look["present"], look["fn"], 0.0)
        block[:, 4] = np.where(look["present"], look["fs"], 0.0)
        block[:, 5] = np.asarray(look["broken"], dtype=float)
        block[:, 6:9] = pos[self.pa] - self.x0a
        block[:, 9:12] = pos[self.pb] - self.x0b
        block[:, 12:15] = vel[self.pa]
        block[:, 15:18] = vel[self.pb]
        self.parts.append(block)

    def contacts_table(self) -> pd.DataFrame:
        if not self.parts:
            return empty_table("contacts")
        a = np.concatenate(self.parts)
        cols = ["a_ux", "a_uy", "a_uz", "b_ux", "b_uy", "b_uz", "a_vx", "a_vy", "a_vz", "b_vx", "b_vy", "b_vz"]
        df = pd.DataFrame({"step": a[:, 0].astype(np.int64), "time": a[:, 1], "contact_id": a[:, 2].astype(np.int64),
                           "fn": a[:, 3], "fs": a[:, 4], "broken": a[:, 5] > 0.5})
        for k, c in enumerate(cols):
            df[c] = a[:, 6 + k]
        return df

    def monitored_table(self) -> pd.DataFrame:
        if self.n == 0:
            return empty_table("monitored")
        return pd.DataFrame({"contact_id": np.arange(self.n, dtype=np.int64), "particle_a": self.pa, "particle_b": self.pb,
                             "x": self.points[:, 0], "y": self.points[:, 1], "z": self.points[:, 2],
                             "model": np.full(self.n, self.model, dtype=object)})
