"""The stick-slip cycles of a run, and the per-cycle analysis of a run and a campaign.

:func:`run_cycles` finds the cycles of a run that end in a mainshock;
:func:`analyze_run_cycles` runs the segmentation, b, D2 and the clouds on each of them
(:class:`RunCycles`); :func:`campaign_cycles` does every run of a campaign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from labquake.analysis.cycle_stats.columns import (
    CYCLE_COLUMNS,
    _empty,
    _empty_b_events,
    _typed,
)
from labquake.errors import InsufficientDataError, LabquakeError


def _rundir(run):
    from labquake.io.rundir import RunDirectory

    return run if isinstance(run, RunDirectory) else RunDirectory(run)


def _axial_start(meta: dict[str, Any], loading: pd.DataFrame | None) -> int:
    """The step at which axial loading began (the start of cycle 0)."""
    if loading is not None and "stage" in loading.columns and (loading["stage"].astype(str) == "axial").any():
        return int(loading.loc[loading["stage"].astype(str) == "axial", "step"].iloc[0])
    if meta.get("axial_start_step") is not None:
        return int(meta["axial_start_step"])
    if loading is not None and len(loading):
        return int(loading["step"].iloc[0])
    return 0


def _min_drop(rd, meta: dict[str, Any]) -> float | None:
    """The run's stick-slip threshold ``loading.stop_min_drop`` [Pa], or None if unknown."""
    crit = meta.get("stop_criterion") or {}
    if isinstance(crit, dict) and crit.get("min_drop") is not None:
        return float(crit["min_drop"])
    try:
        v = (rd.read_config().get("loading") or {}).get("stop_min_drop")
    except (LabquakeError, OSError):
        v = None
    return float(v) if v is not None else None


def _full_speed(meta: dict[str, Any], rd) -> float | None:
    """The drive's full speed [m/s] (``meta.json`` drive.fast_velocity, else the config's
    ``loading.platen_velocity``), or None if unknown."""
    drive = meta.get("drive")
    v = drive.get("fast_velocity") if isinstance(drive, dict) else None
    if v is None:
        try:
            v = (rd.read_config().get("loading") or {}).get("platen_velocity")
        except (LabquakeError, OSError):
            v = None
    return float(v) if v is not None and float(v) > 0.0 else None


def _loading_recurrence(main: pd.DataFrame, meta: dict[str, Any], rd) -> np.ndarray:
    """Recurrence at the nominal loading rate [s] of the mainshock rows ``main``: the
    drive's advance between stick-slip starts over its full speed; the simulated-time
    ``recurrence`` where that advance or the speed is unknown (older runs)."""
    rec = main["recurrence"].to_numpy(float)
    speed = _full_speed(meta, rd)
    if speed is None or "drive_recurrence" not in main.columns:
        return rec
    adv = main["drive_recurrence"].to_numpy(float) / speed
    return np.where(np.isnan(adv), rec, adv)


def run_cycles(run) -> pd.DataFrame:
    """The cycles of a run that end in a mainshock (see the module docstring).

    Returns
    -------
    DataFrame
        Columns ``run``, ``cycle``, ``complete``, ``source`` (``slips`` or ``loading``),
        ``start``, ``onset``, ``end`` (steps: the previous mainshock's end, this one's
        onset and end), ``dt`` [s], ``recurrence`` [s, NaN before the first stick-slip],
        ``loading_recurrence`` [s: the drive's advance over the recurrence / its full
        speed, the recurrence at the nominal loading rate; ``recurrence`` where the
        drive's advance was not recorded], ``static_drop`` and ``peak_stress`` [Pa,
        differential stress].

    Raises
    ------
    InsufficientDataError
        The run has no mainshock (an empty slips table, or no stress fall of 5 %).
    """
    rd = _rundir(run)
    meta = rd.read_meta()
    dt = float(meta.get("dt") or math.nan)
    loading = rd.read_table("loading") if rd.has_table("loading") else None
    start0 = _axial_start(meta, loading)
    if rd.has_table("slips"):
        slips = rd.read_table("slips")
        main = slips[slips["is_mainshock"].to_numpy(bool)]
        if main.empty:
            raise InsufficientDataError(f"{rd.path}: slips.parquet has no slip event, so no mainshock and no cycle")
        main = (main.sort_values(["cycle", "static_drop"], ascending=[True, False], kind="stable")
                .drop_duplicates("cycle").sort_values("step_start", kind="stable"))
        min_drop = _min_drop(rd, meta)
        drop = main["static_drop"].to_numpy(float)
        out = pd.DataFrame({
            "cycle": main["cycle"].to_numpy(np.int64),
            "complete": drop >= min_drop if min_drop is not None else np.ones(len(main), bool),
            "source": "slips",
            "onset": main["step_start"].to_numpy(np.int64),
            "end": main["step_end"].to_numpy(np.int64),
            "recurrence": main["recurrence"].to_numpy(float),
            "loading_recurrence": _loading_recurrence(main, meta, rd),
            "static_drop": drop,
            "peak_stress": (main["peak_stress"] if "peak_stress" in main.columns else main["stress_start"]).to_numpy(float),
        })
    else:
        if loading is None:
            raise InsufficientDataError(f"{rd.path}: no slips.parquet and no loading.parquet, so no mainshock")
        from labquake.analysis.forecast.data import find_mainshocks

        ms = find_mainshocks(loading, peak_step=meta.get("peak_step"), source=str(rd.path))
        st = loading["step"].to_numpy(float)
        s = loading["differential_stress"].to_numpy(float)
        onset, end = int(ms["onset"].iloc[0]), int(ms["end"].iloc[0])
        peak, after = float(np.interp(onset, st, s)), float(np.interp(end, st, s))
        out = pd.DataFrame({"cycle": np.array([0], np.int64), "complete": [True], "source": "loading",
                            "onset": [onset], "end": [end], "recurrence": [math.nan], "loading_recurrence": [math.nan],
                            "static_drop": [peak - after], "peak_stress": [peak]})
    starts = np.concatenate([[start0], out["end"].to_numpy(np.int64)[:-1]])
    out.insert(3, "start", np.minimum(starts, out["onset"].to_numpy(np.int64)).astype(np.int64))
    out.insert(0, "run", rd.name)
    out["dt"] = dt
    return out.reset_index(drop=True)


@dataclass
class RunCycles:
    """Everything :func:`analyze_run_cycles` finds in one run."""

    run: str
    table: pd.DataFrame  # one row per cycle, CYCLE_COLUMNS
    episodes: dict[int, pd.DataFrame] = field(default_factory=dict, repr=False)  # cycle -> episodes
    clouds: dict[int, Any] = field(default_factory=dict, repr=False)  # cycle -> labquake.analysis.clouds.RunClouds
    b_events: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # run, cycle, mw, ttf, ttf_fraction
    error: str = ""  # why the run has no cycle at all


def leaf_name(run: str, cycle: int) -> str:
    """The name of a (run, cycle) leaf in the per-cycle trees: ``<run>#c<cycle>``."""
    return f"{run}#c{int(cycle)}"


def analyze_run_cycles(
    run,
    *,
    bandwidth=2000,
    grid=20,
    prominence: float = 0.05,
    max_fault_distance: float | None = 0.01,
    paper_quirks: bool = False,
    n_boot: int = 200,
    seed: int = 0,
    min_events: int = 2,
    per_cycle: bool = False,
) -> RunCycles:
    """Segmentation, b, D2 and clouds of every cycle of a run (see the module docstring).

    Parameters
    ----------
    run
        A :class:`labquake.io.rundir.RunDirectory` or a path to one.
    bandwidth, grid, prominence
        KDE segmentation of each cycle's fault cracks, over the cycle's span
        (:func:`labquake.analysis.segment.segment_episodes`; steps).
    max_fault_distance, paper_quirks
        Fault-event selection and cloud features (:func:`labquake.analysis.clouds.event_clouds`).
    n_boot, seed
        Bootstrap resamples of each cycle's b.
    min_events, per_cycle
        With ``per_cycle``, a cycle whose two clouds both hold at least ``min_events``
        events is a leaf of the across-cycle trees (``in_trees``).

    Returns
    -------
    RunCycles
        Its ``table`` has one row per cycle (:data:`CYCLE_COLUMNS`): ``start``,
        ``onset``, ``end`` in steps; ``recurrence`` [s]; ``static_drop`` and
        ``peak_stress`` [Pa]; ``n_events`` (fault events of the cycle), ``n_foreshocks``
        (those before the onset); ``n_episodes`` and ``n_foreshock_episodes`` of the KDE
        segmentation (0 and 0 when it failed, reason in ``notes``);
        ``kde_mainshock_at_slip`` (the KDE's mainshock episode, the one with the most
        cracks, overlaps the stick-slip's [onset, end]); ``b``, ``b_sd`` (bootstrap sd,
        else Shi–Bolt), ``mc``; ``D2``, ``D2_stderr``; the cloud sizes, ``leaf`` and
        ``in_trees``; ``notes`` (why a statistic is NaN, reasons separated by ``" | "``).
        A statistic a cycle is too small for is NaN, never an error. A run without any
        mainshock gives an empty table and ``error``.
    """
    from labquake.analysis.clouds import event_clouds, fault_events
    from labquake.analysis.seismicity import b_value, correlation_dimension, event_positions
    from labquake.analysis.segment import episode_roles, segment_episodes

    rd = _rundir(run)
    try:
        skel = run_cycles(rd)
    except LabquakeError as exc:
        return RunCycles(rd.name, _empty(CYCLE_COLUMNS), b_events=_empty_b_events(), error=str(exc))
    meta = rd.read_meta()
    fault = meta.get("fault") or {}
    events = rd.read_table("events")
    cracks = rd.read_table("cracks", columns=["step", "kind", "cycle"])
    cracks = cracks[cracks["kind"].astype(str) == "fault"]
    fev = fault_events(events, fault, max_fault_distance).sort_values(["step_start", "event_id"], kind="stable")
    rows, episodes, clouds, b_parts = [], {}, {}, []
    for r in skel.itertuples(index=False):
        k, start, onset, end = int(r.cycle), int(r.start), int(r.onset), int(r.end)
        notes: list[str] = []
        f_k = fev[(fev["cycle"].to_numpy() == k) & (fev["step_start"].to_numpy() <= end)]
        t_k = f_k["step_start"].to_numpy(np.int64)
        row: dict[str, Any] = {c: getattr(r, c) for c in ("run", "cycle", "complete", "source", "start", "onset", "end",
                                                             "recurrence", "loading_recurrence", "static_drop",
                                                             "peak_stress")}
        row.update(n_events=len(f_k), n_foreshocks=int((t_k < onset).sum()), n_episodes=0, n_foreshock_episodes=0,
                   kde_mainshock_at_slip=False, b=math.nan, b_sd=math.nan, mc=math.nan, D2=math.nan,
                   D2_stderr=math.nan, n_foreshock_cloud=0, n_mainshock_cloud=0, leaf=leaf_name(rd.name, k),
                   in_trees=False)
        try:
            bv = b_value(f_k["mw"].to_numpy(float), "aki", mc="maxc", n_boot=n_boot, seed=seed)
            row.update(b=bv.b, b_sd=bv.sigma, mc=bv.mc)
        except InsufficientDataError as exc:
            notes.append(f"b: {exc}")
        try:
            d2 = correlation_dimension(event_positions(f_k, "3d"))
            row.update(D2=d2.d2, D2_stderr=d2.stderr)
        except InsufficientDataError as exc:
            notes.append(f"D2: {exc}")
        csteps = cracks.loc[(cracks["cycle"].to_numpy() == k) & (cracks["step"].to_numpy() <= end), "step"].to_numpy()
        try:
            eps = segment_episodes(csteps, bandwidth=bandwidth, grid=grid, prominence=prominence,
                                   span=(start, end) if end > start else None)
            roles = episode_roles(eps)
            ms = eps.loc[eps["is_mainshock"].to_numpy(bool)].iloc[0]
            row.update(n_episodes=len(eps), n_foreshock_episodes=int((roles == "foreshock").sum()),
                       kde_mainshock_at_slip=bool(float(ms["start"]) <= end and float(ms["end"]) > onset))
            episodes[k] = eps
        except LabquakeError as exc:
            notes.append(f"segmentation: {exc}")
            eps = None
        if eps is not None:
            ev_k = events[(events["cycle"].to_numpy() == k) & (events["step_start"].to_numpy() <= end)]
            try:
                cl = event_clouds(None, events=ev_k, episodes=eps, fault=fault, max_fault_distance=max_fault_distance,
                                  paper_quirks=paper_quirks)
                cl.run = leaf_name(rd.name, k)
                clouds[k] = cl
                row.update(n_foreshock_cloud=len(cl.foreshock), n_mainshock_cloud=len(cl.mainshock))
                row["in_trees"] = bool(per_cycle and min(len(cl.foreshock), len(cl.mainshock)) >= int(min_events))
            except LabquakeError as exc:
                notes.append(f"clouds: {exc}")
        if per_cycle and not row["in_trees"] and not any(n.startswith(("clouds", "segmentation")) for n in notes):
            notes.append(f"trees: a cloud has fewer than min_events={min_events} events")
        if bool(r.complete):
            before = (t_k < onset) & (t_k >= start)
            t = t_k[before].astype(float)
            span = float(onset - start)
            b_parts.append(pd.DataFrame({
                "run": rd.name, "cycle": k, "step_start": t_k[before], "mw": f_k["mw"].to_numpy(float)[before],
                "ttf": (onset - t) * float(r.dt), "ttf_fraction": (onset - t) / span if span > 0 else np.ones(t.size)}))
        row["notes"] = " | ".join(notes)
        rows.append(row)
    table = _typed(pd.DataFrame(rows), CYCLE_COLUMNS)
    b_events = pd.concat(b_parts, ignore_index=True) if b_parts else _empty_b_events()
    return RunCycles(rd.name, table, episodes, clouds, b_events)


def campaign_cycles(campaign_dir, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """:func:`analyze_run_cycles` over every complete run of a campaign.

    Returns ``(cycles, b_events, errors)``: the concatenated cycle tables, the events
    between stick-slips for :func:`b_through_cycle`, and run -> reason for runs without
    any cycle. ``kwargs`` go to :func:`analyze_run_cycles`.
    """
    from labquake.io.rundir import find_runs

    runs = find_runs(campaign_dir)
    if not runs:
        raise InsufficientDataError(f"{campaign_dir}: no complete run directory; nothing to analyse")
    res = [analyze_run_cycles(rd, **kwargs) for rd in runs]
    tables = [r.table for r in res if len(r.table)]
    cyc = _typed(pd.concat(tables, ignore_index=True), CYCLE_COLUMNS) if tables else _empty(CYCLE_COLUMNS)
    bev = [r.b_events for r in res if len(r.b_events)]
    return (cyc, pd.concat(bev, ignore_index=True) if bev else _empty_b_events(),
            {r.run: r.error for r in res if r.error})
