"""Crack clustering into AE events and their moment tensors (Hazzard & Young 2000, 2002).

Clustering (defaults justified in :mod:`labquake.sim.config` and ``simulations/paper.toml``):

* a crack joins an *open* event if it lies within ``space_window`` metres of one of that
  event's cracks, and its step is at most ``time_window`` steps after the event's latest
  crack (each crack extends the event's window, so a cascade of cracks that keep
  triggering each other within a shear-wave transit time is one event, as in Hazzard &
  Young); if several events qualify it joins the one with the nearest crack; otherwise
  it opens a new event. The default space window is 3 mean particle diameters (6 radii,
  as in the public PFC implementation) and the default time window the time a shear wave
  takes to cross it (about 30 steps in the reference model). ``extend=False`` measures the
  window from the event's first crack instead;
* the source particles of an event are the two particles of each of its cracks;
* while an event is open its moment tensor (:func:`labquake.sim.ae.moment.moment_tensor`) is
  sampled every few steps from the contact forces, with the force changes measured from
  the contact state sampled just before its first crack; the tensor of the largest scalar
  moment is kept;
* an event closes at the first sample at or after its latest crack + ``time_window``.

The recorder is engine-agnostic: the experiment feeds it contact states
(:class:`ContactState`) and crack arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from labquake.sim.ae.moment import iso_dev, iso_ratio, moment_magnitude, moment_tensor, scalar_moment
from labquake.io.rundir import empty_table

__all__ = ["ContactState", "AERecorder"]


#: wall contacts take the pseudo-particle ids ``n_particles + wall`` (wall < WALL_SLOTS)
WALL_SLOTS = 8


@dataclass(frozen=True)
class ContactState:
    """All contacts at one step: pair (i < j), force on particle i, contact point.

    Build with :meth:`from_arrays`. A particle–wall contact is a row whose ``j`` is the
    wall's pseudo-particle id ``n_particles + wall`` (``wall`` < :data:`WALL_SLOTS`); it
    is never in a source, so it enters the moment tensor like the contact of a source
    particle with an outside particle. ``key`` (sorted) is ``i * n_particles + j`` for a
    particle pair and ``n_particles**2 + i * WALL_SLOTS + wall`` for a wall contact.
    """

    step: int
    n_particles: int
    i: np.ndarray
    j: np.ndarray
    key: np.ndarray
    force_i: np.ndarray  # (n, 3) N, force exerted on particle i by particle j
    point: np.ndarray  # (n, 3) m

    @classmethod
    def from_arrays(cls, step: int, n_particles: int, i: np.ndarray, j: np.ndarray, force_i: np.ndarray, point: np.ndarray) -> "ContactState":
        """Normalise to i < j (the force flips sign when a pair is swapped) and sort by pair.

        Wall contacts have ``j = n_particles + wall`` and ``force_i`` the wall's force on
        particle ``i``.
        """
        n = int(n_particles)
        i = np.asarray(i, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        f = np.array(force_i, dtype=float).reshape(-1, 3)
        p = np.array(point, dtype=float).reshape(-1, 3)
        swap = i > j
        lo, hi = np.where(swap, j, i), np.where(swap, i, j)
        f[swap] *= -1.0
        if np.any(lo >= n) or np.any(hi >= n + WALL_SLOTS) or np.any(lo < 0):
            raise ValueError(f"contact state: particle ids must lie in [0, {n}) and wall ids in [{n}, {n + WALL_SLOTS})")
        wall = hi >= n
        key = np.where(wall, n * n + lo * WALL_SLOTS + (hi - n), lo * n + hi)
        o = np.argsort(key, kind="stable")
        return cls(int(step), n, lo[o], hi[o], key[o], f[o], p[o])

    def to_state(self) -> dict[str, Any]:
        """The state as plain data (arrays and scalars) for a checkpoint."""
        return {"step": self.step, "n_particles": self.n_particles, "i": self.i, "j": self.j, "key": self.key,
                "force_i": self.force_i, "point": self.point}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ContactState":
        """Rebuild from :meth:`to_state` (the arrays are already normalised and sorted)."""
        i = np.asarray(state["i"], dtype=np.int64)
        j = np.asarray(state["j"], dtype=np.int64)
        key = np.asarray(state["key"], dtype=np.int64)
        f = np.asarray(state["force_i"], dtype=float).reshape(-1, 3)
        p = np.asarray(state["point"], dtype=float).reshape(-1, 3)
        if not (len(i) == len(j) == len(key) == len(f) == len(p)):
            raise ValueError("contact state: arrays of unequal length")
        return cls(int(state["step"]), int(state["n_particles"]), i, j, key, f, p)

    @property
    def n_wall_contacts(self) -> int:
        """Rows that are particle–wall contacts."""
        return int(np.count_nonzero(self.j >= self.n_particles))

    def outward(self, source: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Contacts with exactly one particle in ``source``: (key, force on the outside
        particle or wall, point). A wall contact of a source particle is one of them."""
        ins_i = np.isin(self.i, source)
        ins_j = np.isin(self.j, source)
        m = ins_i ^ ins_j
        # force on j is -force_i; the outside particle is j when i is in the source
        f = np.where(ins_i[m][:, None], -self.force_i[m], self.force_i[m])
        return self.key[m], f, self.point[m]


def _delta(ref: ContactState, now: ContactState, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Force change and contact point over the union of boundary contacts of ``source``."""
    k0, f0, p0 = ref.outward(source)
    k1, f1, p1 = now.outward(source)
    keys = np.union1d(k0, k1)
    df = np.zeros((len(keys), 3))
    pt = np.zeros((len(keys), 3))
    a = np.searchsorted(keys, k0)
    df[a] -= f0
    pt[a] = p0
    b = np.searchsorted(keys, k1)
    df[b] += f1
    pt[b] = p1  # the current point where the contact still exists
    return df, pt


@dataclass
class _Event:
    event_id: int
    step_start: int
    ref: ContactState
    xyz: list = field(default_factory=list)
    size: list = field(default_factory=list)
    particles: set = field(default_factory=set)
    n_fault: int = 0
    best_m: np.ndarray | None = None
    best_m0: float = 0.0
    last_sample: int = -1
    last_crack: int = -1

    def centroid(self) -> np.ndarray:
        return np.mean(np.asarray(self.xyz), axis=0)


class AERecorder:
    """Clusters cracks into events and tracks their moment tensors.

    Parameters
    ----------
    space_window
        Distance [m] within which a crack joins an open event.
    time_window
        Event duration [steps] from its first crack.
    dt
        Time step [s] (kept for the metadata).
    extend
        Measure the time window from the event's latest crack (default) or its first.
    """

    def __init__(self, space_window: float, time_window: int, dt: float = 0.0, extend: bool = True) -> None:
        if space_window <= 0 or time_window < 1:
            raise ValueError("space_window must be > 0 and time_window >= 1 step")
        self.space_window = float(space_window)
        self.time_window = int(time_window)
        self.dt = float(dt)
        self.extend = bool(extend)
        self._open: list[_Event] = []
        self._rows: list[dict[str, Any]] = []
        self._next_id = 0
        self.crack_event: list[int] = []  # event id of every crack seen, in order
        self._dropped: set[int] = set()

    def to_state(self) -> dict[str, Any]:
        """The recorder as plain data (arrays and scalars) for a checkpoint.

        Open events that share a force reference (cracks of one chunk) share it in the
        state too.
        """
        refs: list[ContactState] = []
        ref_index: dict[int, int] = {}
        events = []
        for ev in self._open:
            k = ref_index.get(id(ev.ref))
            if k is None:
                k = ref_index[id(ev.ref)] = len(refs)
                refs.append(ev.ref)
            events.append({
                "event_id": ev.event_id, "step_start": ev.step_start, "ref": k,
                "xyz": np.asarray(ev.xyz, dtype=float).reshape(-1, 3), "size": np.asarray(ev.size, dtype=float),
                "particles": np.array(sorted(ev.particles), dtype=np.int64), "n_fault": ev.n_fault,
                "best_m": ev.best_m, "best_m0": float(ev.best_m0), "last_sample": ev.last_sample,
                "last_crack": ev.last_crack,
            })
        cols = list(self._rows[0]) if self._rows else []
        rows = {c: np.asarray([r[c] for r in self._rows]) for c in cols}
        return {"space_window": self.space_window, "time_window": self.time_window, "dt": self.dt,
                "extend": self.extend, "next_id": self._next_id, "refs": [r.to_state() for r in refs],
                "open": events, "row_columns": cols, "rows": rows,
                "crack_event": np.asarray(self.crack_event, dtype=np.int64),
                "dropped": np.array(sorted(self._dropped), dtype=np.int64)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "AERecorder":
        """Rebuild a recorder from :meth:`to_state`."""
        self = cls(state["space_window"], int(state["time_window"]), float(state["dt"]), bool(state["extend"]))
        self._next_id = int(state["next_id"])
        refs = [ContactState.from_state(r) for r in state["refs"]]
        for e in state["open"]:
            ev = _Event(event_id=int(e["event_id"]), step_start=int(e["step_start"]), ref=refs[int(e["ref"])])
            ev.xyz = list(np.asarray(e["xyz"], dtype=float).reshape(-1, 3))
            ev.size = [float(x) for x in e["size"]]
            ev.particles = {int(x) for x in e["particles"]}
            ev.n_fault = int(e["n_fault"])
            ev.best_m = None if e["best_m"] is None else np.asarray(e["best_m"], dtype=float).reshape(3, 3)
            ev.best_m0 = float(e["best_m0"])
            ev.last_sample = int(e["last_sample"])
            ev.last_crack = int(e["last_crack"])
            if len(ev.xyz) != len(ev.size):
                raise ValueError("AE recorder: an open event has unequal crack arrays")
            self._open.append(ev)
        cols = [str(c) for c in state["row_columns"]]
        rows = state["rows"]
        n = len(rows[cols[0]]) if cols else 0
        if any(len(rows[c]) != n for c in cols):
            raise ValueError("AE recorder: event columns of unequal length")
        self._rows = [{c: rows[c][k] for c in cols} for k in range(n)]
        self.crack_event = [int(x) for x in state["crack_event"]]
        self._dropped = {int(x) for x in state["dropped"]}
        return self

    @property
    def active(self) -> bool:
        """True while at least one event is open (its moment tensor must be sampled)."""
        return bool(self._open)

    @property
    def n_events(self) -> int:
        return len(self._rows)

    def add_cracks(self, cracks: dict[str, np.ndarray], reference: ContactState) -> np.ndarray:
        """Assign new cracks to events (in step order); returns their event ids.

        Parameters
        ----------
        cracks
            Arrays ``step, x, y, z, size, kind (0 rock / 1 fault), particle_a, particle_b``,
            one entry per crack, in the order they are stored.
        reference
            The contact state sampled just before the earliest of these cracks; it is the
            force reference of every event these cracks open.
        """
        steps = np.asarray(cracks["step"], dtype=np.int64)
        n = len(steps)
        ids = np.empty(n, dtype=np.int64)
        xyz = np.column_stack([np.asarray(cracks[c], dtype=float) for c in ("x", "y", "z")]) if n else np.zeros((0, 3))
        for k in np.argsort(steps, kind="stable"):
            s = int(steps[k])
            best, best_d = None, np.inf
            for ev in self._open:
                if s > self._expiry(ev):
                    continue
                d = float(np.min(np.linalg.norm(np.asarray(ev.xyz) - xyz[k], axis=1)))
                if d <= self.space_window and d < best_d:
                    best, best_d = ev, d
            if best is None:
                best = _Event(event_id=self._next_id, step_start=s, ref=reference)
                self._next_id += 1
                self._open.append(best)
            best.last_crack = max(best.last_crack, s)
            best.xyz.append(xyz[k])
            best.size.append(float(cracks["size"][k]))
            best.particles.update((int(cracks["particle_a"][k]), int(cracks["particle_b"][k])))
            best.n_fault += int(cracks["kind"][k] == 1)
            ids[k] = best.event_id
        self.crack_event.extend(int(x) for x in ids)
        return ids

    def sample(self, state: ContactState) -> None:
        """Update the moment tensor of every open event; close those whose window has ended."""
        still = []
        for ev in self._open:
            if state.step > ev.step_start:
                src = np.fromiter(ev.particles, dtype=np.int64)
                df, pt = _delta(ev.ref, state, src)
                m = moment_tensor(df, pt - ev.centroid())
                m0 = scalar_moment(m)
                if ev.best_m is None or m0 > ev.best_m0:
                    ev.best_m, ev.best_m0 = m, m0
                ev.last_sample = state.step
            if state.step >= self._expiry(ev):
                self._close(ev)
            else:
                still.append(ev)
        self._open = still

    def _expiry(self, ev: _Event) -> int:
        return (ev.last_crack if self.extend else ev.step_start) + self.time_window

    def close_all(self, state: ContactState) -> None:
        """Sample once more and close every open event (end of the run)."""
        self.sample(state)
        for ev in self._open:
            self._close(ev)
        self._open = []

    def _close(self, ev: _Event) -> None:
        if ev.best_m is None or ev.best_m0 <= 0.0:
            self._dropped.add(ev.event_id)  # no force change measured: no moment, no event
            return
        c = ev.centroid()
        pts = np.asarray(ev.xyz)
        radius = float(np.max(np.linalg.norm(pts - c, axis=1) + np.asarray(ev.size)))
        m = ev.best_m
        iso, dev = iso_dev(m)
        self._rows.append({
            "event_id": ev.event_id, "step_start": ev.step_start, "step_end": ev.last_sample,
            "x": c[0], "y": c[1], "z": c[2], "radius": radius, "m0": ev.best_m0, "mw": moment_magnitude(ev.best_m0),
            "m11": m[0, 0], "m12": m[0, 1], "m13": m[0, 2], "m22": m[1, 1], "m23": m[1, 2], "m33": m[2, 2],
            "iso": iso, "dev": dev, "iso_ratio": iso_ratio(iso, dev), "n_cracks": len(ev.xyz), "on_fault": ev.n_fault > 0,
            "n_fault_cracks": ev.n_fault,
        })

    def events_table(self) -> pd.DataFrame:
        """Closed events, sorted by event id (the events.parquet schema plus ``n_fault_cracks``)."""
        if not self._rows:
            df = empty_table("events")
            df["n_fault_cracks"] = pd.Series([], dtype="int64")
            return df
        df = pd.DataFrame(self._rows).sort_values("event_id", kind="stable").reset_index(drop=True)
        for c in ("event_id", "step_start", "step_end", "n_cracks", "n_fault_cracks"):
            df[c] = df[c].astype("int64")
        df["on_fault"] = df["on_fault"].astype(bool)
        return df

    def crack_event_ids(self) -> np.ndarray:
        """Event id of every crack seen (−1 where its event was dropped for zero moment)."""
        ids = np.asarray(self.crack_event, dtype=np.int64)
        if self._dropped:
            ids = np.where(np.isin(ids, list(self._dropped)), -1, ids)
        return ids
