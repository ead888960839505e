"""Per-run foreshock and mainshock point clouds with the reference study's 5 features.

One point per AE event (``ye2024.md`` §6). The events used are those that involve a fault
crack (``on_fault``) and lie within ``max_fault_distance`` (10 mm) of the fault plane.
An event belongs to the episode that holds its first crack (``step_start``). The
*foreshock cloud* holds the events of every episode before the mainshock episode; the
*mainshock cloud* the events of the mainshock episode. Later (aftershock) episodes are
left out.

Features (columns, in this order — :data:`FEATURES`):

1. ``radius``: event radius [m];
2. ``mw``: moment magnitude;
3. ``time`` [steps]: for foreshock events the lever arm of their episode (mainshock peak
   minus episode peak); for mainshock events the time after the first mainshock event
   (``step_start - step_start of the first``);
4. ``distance`` [m]: 3-D distance to the first mainshock event (the earliest event of
   the mainshock episode; ties: lowest ``event_id``);
5. ``direction`` [deg, 0–360): direction from the event to the first mainshock event in
   the fault plane, ``atan2(Δstrike, Δdip)`` in fault coordinates
   (:class:`labquake.geometry.FaultPlane`), measured from the up-dip direction.

``paper_quirks=True`` reproduces the two quirks of the study's code (our reading of it):
the mainshock ``time`` becomes the event's *order* (0, 1, 2, … by onset) after the first
mainshock event, and the direction is computed with swapped arguments,
``atan2(Δdip, Δstrike)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labquake.errors import InsufficientDataError, SchemaError

__all__ = ["FEATURES", "RunClouds", "fault_events", "event_clouds", "cloud_features"]

FEATURES = ("radius", "mw", "time", "distance", "direction")


@dataclass
class RunClouds:
    """The two clouds of one run. Each cloud is a DataFrame with ``event_id``,
    ``step_start``, ``episode_id`` and the :data:`FEATURES` columns."""

    run: str
    foreshock: pd.DataFrame
    mainshock: pd.DataFrame
    episodes: pd.DataFrame = field(repr=False)
    first_mainshock_event: int = -1
    paper_quirks: bool = False

    def features(self, which: str) -> np.ndarray:
        """The (n, 5) feature array of ``"foreshock"`` or ``"mainshock"``."""
        return cloud_features(getattr(self, which))

    def summary(self) -> dict:
        return {"run": self.run, "n_foreshock": len(self.foreshock), "n_mainshock": len(self.mainshock),
                "n_episodes": len(self.episodes), "first_mainshock_event": self.first_mainshock_event}


def cloud_features(cloud) -> np.ndarray:
    """The feature array of a cloud DataFrame (or an array passed through)."""
    if isinstance(cloud, pd.DataFrame):
        missing = [f for f in FEATURES if f not in cloud.columns]
        if missing:
            raise SchemaError(f"cloud is missing feature columns {missing}")
        return cloud[list(FEATURES)].to_numpy(float)
    return np.asarray(cloud, dtype=float)


def fault_events(events: pd.DataFrame, fault=None, max_fault_distance: float | None = 0.01) -> pd.DataFrame:
    """Events with ``on_fault`` true and within ``max_fault_distance`` [m] of the fault plane."""
    from labquake.geometry import FaultPlane

    need = ("event_id", "step_start", "x", "y", "z", "on_fault")
    missing = [c for c in need if c not in events.columns]
    if missing:
        raise SchemaError(f"events table is missing columns {missing}")
    fp = fault if isinstance(fault, FaultPlane) else FaultPlane.from_dict(fault or {})
    keep = events["on_fault"].to_numpy(bool)
    if max_fault_distance is not None:
        dist = np.abs(fp.signed_distance(events[["x", "y", "z"]].to_numpy(float)))
        keep = keep & (dist < max_fault_distance)
    return events.loc[keep]


def _clouds_from_tables(events: pd.DataFrame, episodes: pd.DataFrame, fault, paper_quirks: bool,
                        run_name: str) -> RunClouds:
    from labquake.geometry import FaultPlane
    from labquake.analysis.segment import assign_episodes, episode_roles

    fp = fault if isinstance(fault, FaultPlane) else FaultPlane.from_dict(fault or {})
    for c in ("radius", "mw"):
        if c not in events.columns:
            raise SchemaError(f"{run_name}: events table is missing column {c!r}")
    ev = events.sort_values(["step_start", "event_id"], kind="stable").reset_index(drop=True)
    feat_cols = ["radius", "mw", "x", "y", "z"]
    if len(ev) and not np.isfinite(ev[feat_cols].to_numpy(float)).all():
        raise SchemaError(f"{run_name}: events have NaN or infinite radius, mw or position; fix or drop them")
    roles = episode_roles(episodes)
    ep_id = assign_episodes(ev["step_start"].to_numpy(), episodes)
    ep_ids = episodes["episode_id"].to_numpy()
    role_of = dict(zip(ep_ids.tolist(), roles.tolist()))
    lever_of = dict(zip(ep_ids.tolist(), episodes["lever_arm"].to_numpy(float).tolist()))
    role = np.array([role_of.get(int(e), "outside") for e in ep_id], dtype=object)
    ms = ev.loc[role == "mainshock"]
    if ms.empty:
        raise InsufficientDataError(
            f"{run_name}: no fault event in the mainshock episode (steps "
            f"{episodes.loc[episodes.is_mainshock, 'start'].iloc[0]}–{episodes.loc[episodes.is_mainshock, 'end'].iloc[0]}); "
            "check max_fault_distance or the segmentation bandwidth")
    first = ms.iloc[0]
    p0 = first[["x", "y", "z"]].to_numpy(float)
    pos = ev[["x", "y", "z"]].to_numpy(float)
    distance = np.linalg.norm(pos - p0, axis=1)
    v = fp.to_fault_coords(p0[None, :])[0] - fp.to_fault_coords(pos)  # event -> first mainshock event
    if paper_quirks:
        direction = np.degrees(np.arctan2(v[:, 0], v[:, 1])) % 360.0
    else:
        direction = np.degrees(np.arctan2(v[:, 1], v[:, 0])) % 360.0
    time = np.full(len(ev), np.nan)
    fs = role == "foreshock"
    time[fs] = [lever_of[int(e)] for e in ep_id[fs]]
    msk = role == "mainshock"
    if paper_quirks:
        time[msk] = np.arange(int(msk.sum()), dtype=float)
    else:
        time[msk] = ev.loc[msk, "step_start"].to_numpy(float) - float(first["step_start"])
    table = pd.DataFrame(
        {
            "event_id": ev["event_id"].to_numpy(),
            "step_start": ev["step_start"].to_numpy(),
            "episode_id": ep_id,
            "radius": ev["radius"].to_numpy(float),
            "mw": ev["mw"].to_numpy(float),
            "time": time,
            "distance": distance,
            "direction": direction,
        }
    )
    return RunClouds(
        run=run_name,
        foreshock=table.loc[fs].reset_index(drop=True),
        mainshock=table.loc[msk].reset_index(drop=True),
        episodes=episodes,
        first_mainshock_event=int(first["event_id"]),
        paper_quirks=paper_quirks,
    )


def event_clouds(
    run,
    *,
    episodes: pd.DataFrame | None = None,
    paper_quirks: bool = False,
    max_fault_distance: float | None = 0.01,
    bandwidth=2000,
    grid=20,
    events: pd.DataFrame | None = None,
    fault=None,
    **segment_kwargs,
) -> RunClouds:
    """Foreshock and mainshock clouds of a run (see the module docstring).

    Parameters
    ----------
    run
        A :class:`labquake.io.rundir.RunDirectory` or path; or ``None`` when ``events``,
        ``episodes`` and ``fault`` are all given (a bare AE catalog).
    episodes
        An episodes table; default :func:`labquake.analysis.segment.segment_run` with
        ``bandwidth``, ``grid`` and ``segment_kwargs``.
    paper_quirks
        Reproduce the study's two quirks (mainshock time by event order, swapped
        direction arguments). Off by default.
    max_fault_distance
        Events farther than this from the fault plane [m] are left out (``None``: keep).

    Raises
    ------
    InsufficientDataError
        No fault crack (no mainshock), or no fault event in the mainshock episode.
    """
    from labquake.io.rundir import RunDirectory
    from labquake.analysis.segment import segment_run

    if run is None:
        if events is None or episodes is None:
            raise SchemaError("event_clouds(None, ...) needs both events= and episodes=")
        name = "catalog"
    else:
        if not isinstance(run, RunDirectory):
            run = RunDirectory(run)
        name = run.name
        if fault is None:
            fault = run.read_meta().get("fault") or {}
        if events is None:
            events = run.read_table("events")
        if episodes is None:
            episodes = segment_run(run, bandwidth=bandwidth, grid=grid, **segment_kwargs)
    ev = fault_events(events, fault, max_fault_distance)
    return _clouds_from_tables(ev, episodes, fault, paper_quirks, name)
