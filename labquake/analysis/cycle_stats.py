"""Statistics of repeated stick-slip cycles, and their comparison with laboratory data.

The cycles are those of :mod:`labquake.sim.cycles`: cycle ``k`` of a run runs from the end
(``step_end``) of stick-slip ``k - 1`` (the start of axial loading for ``k = 0``) to the
end of stick-slip ``k``, its mainshock, which it includes. This module does three jobs on
top of that definition:

1. **Per-cycle analysis** (:func:`analyze_run_cycles`): for every cycle that ends in a
   mainshock, the existing pipeline on that cycle alone: KDE segmentation of its fault
   cracks into foreshock and mainshock episodes (:func:`labquake.analysis.segment.segment_episodes`),
   b (:func:`labquake.analysis.seismicity.b_value`, Aki–Utsu above the maximum-curvature Mc) and D2
   (:func:`labquake.analysis.seismicity.correlation_dimension`, 3-D) of its fault events, and its
   foreshock and mainshock clouds (:func:`labquake.analysis.clouds.event_clouds`). One row per
   cycle (:data:`CYCLE_COLUMNS`), written by ``labquake analyze`` to
   ``analysis/cycles.parquet``.
2. **b through the seismic cycle** (:func:`b_through_cycle`): the events between
   stick-slips, pooled over cycles, binned by their time to the next mainshock, with b
   and its bootstrap sd per bin (``analysis/b_cycle.parquet``).
3. **Side by side with Okubo FB03-087** (:func:`okubo_cycles`, :func:`compare_cycles`):
   the same per-cycle quantities from the real 4 m laboratory fault, and a table of
   recurrence CV, stress-drop CV, foreshock shares and counts, and the KDE segmentation's
   behaviour on both.

Which cycles get a row
----------------------
Every cycle that ends in its mainshock: the ``is_mainshock`` slip of that cycle in
``slips.parquet``. The stretch after the last mainshock (the run's tail, or a cycle the
run stopped in) gets no row. ``complete`` is true when that mainshock is a stick-slip
(static drop at least the run's ``loading.stop_min_drop``, read from ``meta.json``'s
``stop_criterion`` or the run's config); it is false only for a run that never had a
stick-slip, whose largest slip stands in as its mainshock (as :mod:`labquake.sim.cycles` marks
it). Runs without ``slips.parquet`` (PFC3D imports, runs made before it existed) have one
cycle, closed by the largest fall of the loading curve of at least 5 % of its peak
(:func:`labquake.analysis.forecast.data.find_mainshocks`), and count as complete. Statistics
across cycles use complete cycles only.

Events of a cycle
-----------------
Fault events: ``on_fault`` and within ``max_fault_distance`` of the fault plane
(:func:`labquake.analysis.clouds.fault_events`, as for the per-run statistics), with the cycle's
``cycle`` label and ``step_start <= end``. Its *foreshocks* are those that start before
the mainshock's onset (``step_start``): every fault event between the previous stick-slip's
end and this one's onset, the aftershocks of the previous stick-slip included (the
laboratory convention: a cycle runs from one mainshock to the next).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import ConfigError, InsufficientDataError, LabquakeError, SchemaError

__all__ = [
    "CYCLE_COLUMNS",
    "B_CYCLE_COLUMNS",
    "OKUBO_BANDWIDTH",
    "OKUBO_GRID",
    "RunCycles",
    "empty_cycles",
    "empty_b_cycle",
    "leaf_name",
    "run_cycles",
    "analyze_run_cycles",
    "campaign_cycles",
    "b_through_cycle",
    "cycles_summary",
    "coefficient_of_variation",
    "within_record_normalised",
    "comparison_set",
    "cycle_set_stats",
    "compare_cycles",
    "format_value",
    "format_comparison",
    "distribution_data",
    "okubo_cycles",
    "default_okubo_dir",
    "loading_recurrences",
]

#: columns of ``analysis/cycles.parquet``, in order (see :func:`analyze_run_cycles`)
CYCLE_COLUMNS: tuple[str, ...] = (
    "run", "cycle", "complete", "source", "start", "onset", "end", "recurrence", "loading_recurrence", "static_drop",
    "peak_stress",
    "n_events", "n_foreshocks", "n_episodes", "n_foreshock_episodes", "kde_mainshock_at_slip",
    "b", "b_sd", "mc", "D2", "D2_stderr", "n_foreshock_cloud", "n_mainshock_cloud", "leaf", "in_trees", "notes",
)
_INT_COLUMNS = ("cycle", "start", "onset", "end", "n_events", "n_foreshocks", "n_episodes", "n_foreshock_episodes",
                "n_foreshock_cloud", "n_mainshock_cloud")
_BOOL_COLUMNS = ("complete", "kde_mainshock_at_slip", "in_trees")
_STR_COLUMNS = ("run", "source", "leaf", "notes")

#: columns of ``analysis/b_cycle.parquet`` (see :func:`b_through_cycle`)
B_CYCLE_COLUMNS: tuple[str, ...] = ("by", "bin", "lo", "hi", "centre", "n_events", "n_cycles", "b", "b_sd",
                                    "b_sd_shi_bolt", "mc", "notes")

#: KDE bandwidth and grid for the Okubo picks [s] (as tests/test_segment.py chooses them:
#: within a stick-slip the picks span <= 0.046 s, stick-slips are >= 1.1 s apart)
OKUBO_BANDWIDTH = 0.15
OKUBO_GRID = 0.0015
OKUBO_NAME = "okubo-fb03-087"


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    def dtype(c: str) -> str:
        if c in _INT_COLUMNS or c in ("bin", "n_events", "n_cycles"):
            return "int64"
        if c in _BOOL_COLUMNS:
            return "bool"
        if c in _STR_COLUMNS or c == "by":
            return "object"
        return "float64"

    return pd.DataFrame({c: pd.Series([], dtype=dtype(c)) for c in columns})


def empty_cycles() -> pd.DataFrame:
    """An empty ``analysis/cycles.parquet`` table (:data:`CYCLE_COLUMNS`, typed)."""
    return _empty(CYCLE_COLUMNS)


def empty_b_cycle() -> pd.DataFrame:
    """An empty ``analysis/b_cycle.parquet`` table (:data:`B_CYCLE_COLUMNS`, typed)."""
    return _empty(B_CYCLE_COLUMNS)


def _rundir(run):
    from labquake.io.rundir import RunDirectory

    return run if isinstance(run, RunDirectory) else RunDirectory(run)


# --------------------------------------------------------------------------------------
# The cycles of a run
# --------------------------------------------------------------------------------------


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
    DataFrame with ``run``, ``cycle``, ``complete``, ``source`` (``slips`` or
    ``loading``), ``start``, ``onset``, ``end`` (steps: the previous mainshock's end, this
    one's onset and end), ``dt`` [s], ``recurrence`` [s, NaN before the first stick-slip],
    ``loading_recurrence`` [s: the drive's advance over the recurrence / its full speed,
    the recurrence at the nominal loading rate; ``recurrence`` where the drive's advance
    was not recorded], ``static_drop`` and ``peak_stress`` [Pa, differential stress].

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
    :class:`RunCycles`. Its ``table`` has one row per cycle (:data:`CYCLE_COLUMNS`):
    ``start``, ``onset``, ``end`` in steps; ``recurrence`` [s]; ``static_drop`` and
    ``peak_stress`` [Pa]; ``n_events`` (fault events of the cycle), ``n_foreshocks``
    (those before the onset); ``n_episodes`` and ``n_foreshock_episodes`` of the KDE
    segmentation (0 and 0 when it failed, reason in ``notes``); ``kde_mainshock_at_slip``
    (the KDE's mainshock episode, the one with the most cracks, overlaps the stick-slip's
    [onset, end]); ``b``, ``b_sd`` (bootstrap sd, else Shi–Bolt), ``mc``; ``D2``,
    ``D2_stderr``; the cloud sizes, ``leaf`` and ``in_trees``; ``notes`` (why a statistic
    is NaN, reasons separated by `` | ``). A statistic a cycle is too small for is NaN, never an error. A run without
    any mainshock gives an empty table and ``error``.
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


def _empty_b_events() -> pd.DataFrame:
    return pd.DataFrame({"run": pd.Series([], dtype=object), "cycle": pd.Series([], dtype="int64"),
                         "step_start": pd.Series([], dtype="int64"), "mw": pd.Series([], dtype=float),
                         "ttf": pd.Series([], dtype=float), "ttf_fraction": pd.Series([], dtype=float)})


def _typed(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    if df.empty:
        return _empty(columns)
    out = df.reindex(columns=list(columns))
    for c in columns:
        if c in _INT_COLUMNS:
            out[c] = out[c].astype(np.int64)
        elif c in _BOOL_COLUMNS:
            out[c] = out[c].astype(bool)
        elif c in _STR_COLUMNS:
            out[c] = out[c].astype(object)
        else:
            out[c] = out[c].astype(float)
    return out


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


# --------------------------------------------------------------------------------------
# b through the seismic cycle
# --------------------------------------------------------------------------------------


def b_through_cycle(
    events: pd.DataFrame,
    *,
    by: str = "fraction",
    n_bins: int = 5,
    edges=None,
    method: str = "aki",
    mc="maxc",
    n_boot: int = 200,
    seed: int = 0,
    min_events: int = 20,
) -> pd.DataFrame:
    """b-value against the time to the next mainshock, pooled over cycles.

    Parameters
    ----------
    events
        One row per event between two stick-slips: ``mw``, and ``ttf_fraction`` (time
        to the next mainshock's onset over the cycle's length up to it: 1 at the cycle's
        start, 0 at failure) for ``by="fraction"`` or ``ttf`` [s] for ``by="time"``;
        ``run`` and ``cycle`` when present count the cycles per bin
        (``RunCycles.b_events`` has them all).
    by
        ``"fraction"`` or ``"time"``.
    n_bins, edges
        Bin edges (increasing); default ``n_bins`` equal bins of [0, 1] for
        ``"fraction"``, and ``n_bins`` bins of equal counts from 0 for ``"time"``. A bin
        holds ``lo < x <= hi`` (the first also ``x == lo``); events outside every bin
        are left out.
    method, mc, n_boot, seed, min_events
        The project's b estimator, :func:`labquake.analysis.seismicity.b_value`, in every bin:
        default Aki–Utsu above the maximum-curvature Mc of the bin, with ``n_boot``
        bootstrap resamples for ``b_sd``.

    Returns
    -------
    DataFrame (:data:`B_CYCLE_COLUMNS`), one row per bin: ``lo``, ``hi``, ``centre`` (in
    the unit of ``by``), ``n_events``, ``n_cycles``, ``b``, ``b_sd`` (bootstrap sd),
    ``b_sd_shi_bolt``, ``mc`` and ``notes`` (why b is NaN: too few events).

    Raises
    ------
    InsufficientDataError
        No event at all.
    SchemaError
        A missing column, or NaN, infinite or negative times or magnitudes.
    ConfigError
        Bad ``by``, ``n_bins`` or ``edges``.
    """
    from labquake.analysis.seismicity import b_value

    if by not in ("fraction", "time"):
        raise ConfigError(f"by must be 'fraction' or 'time', got {by!r}")
    col = "ttf_fraction" if by == "fraction" else "ttf"
    missing = [c for c in ("mw", col) if c not in events.columns]
    if missing:
        raise SchemaError(f"events for b through the cycle lack columns {missing}; build them with analyze_run_cycles")
    if len(events) == 0:
        raise InsufficientDataError("no event between stick-slips in any complete cycle: b through the seismic cycle "
                                    "needs events before a mainshock")
    x = events[col].to_numpy(float)
    m = events["mw"].to_numpy(float)
    if not (np.isfinite(x).all() and np.isfinite(m).all()):
        raise SchemaError(f"events: column {col!r} or 'mw' contains NaN or infinite values; drop those events first")
    if (x < 0).any():
        raise SchemaError(f"events: column {col!r} has negative times to the next mainshock; events must precede it")
    if edges is None:
        if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
            raise ConfigError(f"n_bins must be a positive integer, got {n_bins!r}")
        if by == "fraction":
            e = np.linspace(0.0, 1.0, int(n_bins) + 1)
        else:
            e = np.unique(np.concatenate([[0.0], np.quantile(x, np.linspace(0, 1, int(n_bins) + 1)[1:])]))
            if e.size < 2:
                e = np.array([0.0, max(float(x.max()), 1e-300)])
    else:
        e = np.asarray(edges, dtype=float).reshape(-1)
        if e.size < 2 or not np.isfinite(e).all() or (np.diff(e) <= 0).any():
            raise ConfigError(f"edges must be at least 2 finite, increasing values, got {list(e)}")
    idx = np.searchsorted(e, x, side="left") - 1
    idx[x == e[0]] = 0
    keys = None
    if {"run", "cycle"} <= set(events.columns):
        keys = events["run"].astype(str).to_numpy() + "#" + events["cycle"].astype(str).to_numpy()
    rows = []
    for i in range(e.size - 1):
        sel = idx == i
        row: dict[str, Any] = {"by": by, "bin": i, "lo": float(e[i]), "hi": float(e[i + 1]),
                               "centre": 0.5 * float(e[i] + e[i + 1]), "n_events": int(sel.sum()),
                               "n_cycles": int(np.unique(keys[sel]).size) if keys is not None else 0,
                               "b": math.nan, "b_sd": math.nan, "b_sd_shi_bolt": math.nan, "mc": math.nan, "notes": ""}
        try:
            bv = b_value(m[sel], method, mc=mc, n_boot=n_boot, seed=seed, min_events=min_events)
            row.update(b=bv.b, b_sd=bv.sigma_boot, b_sd_shi_bolt=bv.sigma_shi_bolt, mc=bv.mc, notes=bv.notes)
        except InsufficientDataError as exc:
            row["notes"] = str(exc)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(B_CYCLE_COLUMNS))


# --------------------------------------------------------------------------------------
# Across cycles
# --------------------------------------------------------------------------------------


def loading_recurrences(c: pd.DataFrame) -> np.ndarray:
    """The recurrences compared across data sets [s]: ``loading_recurrence`` (at the nominal
    loading rate), or ``recurrence`` for a cycles table written before it existed."""
    col = "loading_recurrence" if "loading_recurrence" in c.columns else "recurrence"
    return c[col].to_numpy(float) if len(c) else np.array([])


def coefficient_of_variation(values) -> float:
    """sd (ddof 1) / mean of the finite values; NaN for fewer than 2 or a mean of 0."""
    v = np.asarray(values, dtype=float).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size < 2 or v.mean() == 0:
        return math.nan
    return float(v.std(ddof=1) / v.mean())


def within_record_normalised(values, records) -> np.ndarray:
    """Each value over the mean of its record (run), for records with at least 2 finite
    values; NaN elsewhere. Pooling runs this way measures the cycle-to-cycle variability
    within a run, not the differences between runs (whose scales differ)."""
    v = np.asarray(values, dtype=float).reshape(-1)
    rec = pd.Series(np.asarray(records).reshape(-1))
    s = pd.Series(v)
    ok = s.notna() & np.isfinite(v)
    n = ok.groupby(rec).transform("sum").to_numpy()
    mean = s.where(ok).groupby(rec).transform("mean").to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = v / mean
    out[(n < 2) | ~ok.to_numpy() | ~np.isfinite(out)] = np.nan
    return out


def cycles_summary(cycles: pd.DataFrame) -> dict[str, Any]:
    """Counts and CVs of a cycles table (``analysis/cycles.parquet``) for a one-line report:
    ``n_runs``, ``n_cycles`` (complete), ``n_intervals`` (with a recurrence),
    ``max_cycles`` (most complete cycles in one run), ``recurrence_cv`` and ``drop_cv``
    (within-run normalised), ``n_b_nan``, ``n_d2_nan`` (complete cycles with NaN b, D2) and
    ``reasons`` (reason -> count)."""
    c = cycles[cycles["complete"].astype(bool)] if len(cycles) else cycles
    reasons: dict[str, int] = {}
    for text in c.get("notes", pd.Series(dtype=object)).astype(str):
        for part in filter(None, (p.strip() for p in text.split(" | "))):
            head, _, rest = part.partition(": ")
            key = f"{head}: {_reason_kind(rest)}"
            reasons[key] = reasons.get(key, 0) + 1
    rec = loading_recurrences(c)
    return {
        "n_runs": int(cycles["run"].nunique()) if len(cycles) else 0,
        "n_cycles": len(c),
        "n_intervals": int(np.isfinite(rec).sum()),
        "max_cycles": int(c.groupby("run").size().max()) if len(c) else 0,
        "recurrence_cv": coefficient_of_variation(within_record_normalised(rec, c["run"])) if len(c) else math.nan,
        "drop_cv": coefficient_of_variation(within_record_normalised(c["static_drop"], c["run"])) if len(c) else math.nan,
        "n_b_nan": int(c["b"].isna().sum()) if len(c) else 0,
        "n_d2_nan": int(c["D2"].isna().sum()) if len(c) else 0,
        "reasons": reasons,
    }


def _reason_kind(text: str) -> str:
    """A short class of a reason (numbers dropped), for counting."""
    import re

    return re.sub(r"[-+]?\d[\d.e+-]*", "N", text)[:80]


def comparison_set(cycles: pd.DataFrame, *, include_first: bool = False) -> pd.DataFrame:
    """The cycles compared across data sets: complete cycles *between two stick-slips*
    (a finite ``recurrence``), as the laboratory record has them; ``include_first`` adds
    each run's first cycle (from the start of loading)."""
    if not len(cycles):
        return cycles
    c = cycles[cycles["complete"].astype(bool)]
    if not include_first:
        c = c[np.isfinite(c["recurrence"].to_numpy(float))]
    return c.reset_index(drop=True)


def cycle_set_stats(c: pd.DataFrame) -> dict[str, float]:
    """The compared quantities of one data set's cycles (rows of :func:`comparison_set`
    or :func:`okubo_cycles`); see :data:`COMPARISON_ROWS`."""
    n = len(c)
    rec = loading_recurrences(c)
    rec_time = c["recurrence"].to_numpy(float) if n else np.array([])
    drop = c["static_drop"].to_numpy(float) if n else np.array([])
    fs = c["n_foreshocks"].to_numpy(float) if n else np.array([])
    seg = c[c["n_episodes"] > 0] if n else c

    def share(mask) -> float:
        return float(np.mean(mask)) if np.size(mask) else math.nan

    return {
        "n_cycles": float(n),
        "n_records": float(c["run"].nunique()) if n else 0.0,
        "recurrence_mean_s": float(np.nanmean(rec)) if np.isfinite(rec).any() else math.nan,
        "recurrence_cv": coefficient_of_variation(within_record_normalised(rec, c["run"])) if n else math.nan,
        "recurrence_cv_time": coefficient_of_variation(within_record_normalised(rec_time, c["run"])) if n else math.nan,
        "drop_mean_mpa": float(np.nanmean(drop)) / 1e6 if np.isfinite(drop).any() else math.nan,
        "drop_cv": coefficient_of_variation(within_record_normalised(drop, c["run"])) if n else math.nan,
        "share_with_foreshocks": share(fs > 0),
        "foreshocks_mean": float(fs.mean()) if n else math.nan,
        "foreshocks_median": float(np.median(fs)) if n else math.nan,
        "foreshocks_max": float(fs.max()) if n else math.nan,
        "share_0": share(fs == 0),
        "share_1": share(fs == 1),
        "share_2": share(fs == 2),
        "share_3plus": share(fs >= 3),
        "kde_episodes_mean": float(seg["n_episodes"].mean()) if len(seg) else math.nan,
        "share_foreshock_episode": share(seg["n_foreshock_episodes"].to_numpy() > 0) if len(seg) else math.nan,
        "share_kde_mainshock_at_slip": share(seg["kde_mainshock_at_slip"].to_numpy(bool)) if len(seg) else math.nan,
    }


#: (key of :func:`cycle_set_stats`, label, how it is computed), in table order
COMPARISON_ROWS: tuple[tuple[str, str, str], ...] = (
    ("n_cycles", "cycles compared", "complete cycles between two stick-slips (recurrence defined; each run's first only if asked)"),
    ("n_records", "records (runs)", "runs or experiments they come from"),
    ("recurrence_mean_s", "mean recurrence [s]", "onset to onset at the nominal loading rate (simulated: drive advance / full "
     "drive speed); scales differ (DEM time is not lab time)"),
    ("recurrence_cv", "recurrence CV", "sd/mean of that recurrence / its run's mean, pooled (within-run)"),
    ("recurrence_cv_time", "recurrence CV, simulated time", "the same over simulated time, which includes the adaptive "
     "drive's slow phases (a nearly fixed pause per slip); for the lab, the same as above"),
    ("drop_mean_mpa", "mean stress drop [MPa]", "simulated: differential-stress static drop; Okubo: macroscopic shear-stress drop"),
    ("drop_cv", "stress-drop CV", "sd/mean of the drop / its run's mean drop (normalised drops), pooled"),
    ("share_with_foreshocks", "share of cycles with foreshocks", "cycles with >= 1 event between the previous stick-slip's end and this onset"),
    ("foreshocks_mean", "foreshocks per cycle: mean", "simulated: fault AE events; Okubo: gouge-event picks"),
    ("foreshocks_median", "foreshocks per cycle: median", ""),
    ("foreshocks_max", "foreshocks per cycle: max", ""),
    ("share_0", "cycles with 0 foreshocks", "share of cycles"),
    ("share_1", "cycles with 1 foreshock", "share of cycles"),
    ("share_2", "cycles with 2 foreshocks", "share of cycles"),
    ("share_3plus", "cycles with 3+ foreshocks", "share of cycles"),
    ("kde_episodes_mean", "KDE episodes per cycle", "per-cycle KDE segmentation (simulated: fault cracks; Okubo: picks)"),
    ("share_foreshock_episode", "cycles with a KDE foreshock episode", "an episode before the one with the most events"),
    ("share_kde_mainshock_at_slip", "KDE mainshock episode holds the stick-slip", "the most-events episode overlaps [onset, end] of the stick-slip"),
)


def compare_cycles(sim: pd.DataFrame, lab: pd.DataFrame) -> pd.DataFrame:
    """The side-by-side table: ``quantity``, ``simulated``, ``okubo``, ``how`` (one row per
    :data:`COMPARISON_ROWS` entry), from the compared cycles of each data set.

    Raises
    ------
    InsufficientDataError
        ``sim`` has no cycle to compare.
    """
    if not len(sim):
        raise InsufficientDataError("no simulated cycle between two stick-slips to compare: every run has at most "
                                    "one complete cycle; simulate a cycles campaign (simulations/cycles.toml)")
    a, b = cycle_set_stats(sim), cycle_set_stats(lab)
    return pd.DataFrame([{"quantity": lab_, "simulated": a[k], "okubo": b[k], "how": how, "key": k}
                         for k, lab_, how in COMPARISON_ROWS])


_COUNT_KEYS = ("n_cycles", "n_records", "foreshocks_median", "foreshocks_max")
_SHARE_KEYS = ("share_with_foreshocks", "share_0", "share_1", "share_2", "share_3plus", "share_foreshock_episode",
               "share_kde_mainshock_at_slip")


def format_value(key: str, v: float) -> str:
    """A compared quantity as printed: counts as integers, shares in %, the rest to 3
    significant digits; ``–`` for NaN."""
    if v is None or not np.isfinite(v):
        return "–"
    if key in _COUNT_KEYS:
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"
    if key in _SHARE_KEYS:
        return f"{100 * v:.0f} %"
    if key.endswith("_cv"):
        return f"{v:.2f}"
    return f"{v:.3g}"


def format_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`compare_cycles` with its numbers as text (:func:`format_value`)."""
    out = table.copy()
    for col in ("simulated", "okubo"):
        out[col] = [format_value(k, v) for k, v in zip(table["key"], table[col])]
    return out


def distribution_data(c: pd.DataFrame) -> dict[str, Any]:
    """What :func:`labquake.viz.cycle_figures.cycle_comparison_figure` plots of one data
    set's compared cycles: within-run normalised ``recurrence`` and ``drop``, the
    ``foreshocks`` per cycle and the two CVs."""
    if not len(c):
        return {"recurrence": np.array([]), "drop": np.array([]), "foreshocks": np.array([]),
                "recurrence_cv": math.nan, "drop_cv": math.nan}
    rec = within_record_normalised(loading_recurrences(c), c["run"])
    drop = within_record_normalised(c["static_drop"], c["run"])
    return {"recurrence": rec, "drop": drop, "foreshocks": c["n_foreshocks"].to_numpy(float),
            "recurrence_cv": coefficient_of_variation(rec), "drop_cv": coefficient_of_variation(drop)}


# --------------------------------------------------------------------------------------
# Okubo FB03-087
# --------------------------------------------------------------------------------------


def default_okubo_dir() -> Path | None:
    """The Okubo FB03-087 data set: ``$LABQUAKE_OKUBO_DIR``, else the copy in the source
    tree (``tests/data/okubo-4m-fb03-087``); None when neither holds it."""
    from labquake.analysis.forecast.data import is_okubo_dir

    for p in (os.environ.get("LABQUAKE_OKUBO_DIR"),
              Path(__file__).resolve().parents[1] / "tests" / "data" / "okubo-4m-fb03-087"):
        if p and is_okubo_dir(p):
            return Path(p)
    return None


def okubo_cycles(path=None, *, bandwidth: float = OKUBO_BANDWIDTH, grid: float = OKUBO_GRID,
                 prominence: float = 0.05) -> pd.DataFrame:
    """The cycles of the Okubo FB03-087 laboratory experiment, in the columns of the
    simulated ones (times in seconds).

    Definitions (the data set's own, read by :func:`labquake.analysis.forecast.data.okubo_record`):

    * **stick-slips**: the 56 mainshocks of ``mainshock_timing_fb03-087.csv`` (onset
      ``mainshock_onset_all``, end ``mainshock_termination_all``). A cycle runs from the
      end of one stick-slip to the end of the next, so the record has 55 cycles (stick-
      slips 2–56); ``recurrence`` is onset minus the previous onset.
    * **drops**: ``macroshearstress_drop[MPa]`` of ``stickslip_macroscopic_stats`` (the
      macroscopic shear stress on the 4 m fault), here in Pa.
    * **foreshocks**: the visually picked gouge events (``picktime``, 133 picks) between
      the previous stick-slip's end and this onset. ``n_foreshock_catalog`` counts the
      catalogued events the authors label F for this stick-slip (a subset: 44 events were
      located). The picks were searched near the stick-slips, so the quiet middle of a
      cycle has none by construction.
    * **KDE**: the picks of each cycle (end included) segmented like the simulated
      cracks, with an absolute bandwidth of ``bandwidth`` seconds.
    """
    from labquake.analysis.forecast.data import okubo_record, okubo_table
    from labquake.analysis.segment import episode_roles, segment_episodes

    p = Path(path) if path is not None else default_okubo_dir()
    if p is None:
        raise InsufficientDataError("the Okubo FB03-087 data set was not found; pass its directory "
                                    "(tests/data/okubo-4m-fb03-087) or set LABQUAKE_OKUBO_DIR")
    rec = okubo_record(p)
    timing = okubo_table(p, "timing")
    stats = okubo_table(p, "stats")
    cat = okubo_table(p, "catalog")
    for tab, cols, name in ((timing, ["Stickslip_eventID", "mainshock_onset_all"], "timing"),
                            (stats, ["stickslip_eventID", "macroshearstress_drop[MPa]"], "stats"),
                            (cat, ["stickslip_id", "event_label"], "catalog")):
        miss = [c for c in cols if c not in tab.columns]
        if miss:
            raise SchemaError(f"{p}: the Okubo {name} file lacks columns {miss}")
    on_all = timing["mainshock_onset_all"].to_numpy(float)
    ids = timing["Stickslip_eventID"].to_numpy(np.int64)
    drop_of = dict(zip(stats["stickslip_eventID"].to_numpy(np.int64), stats["macroshearstress_drop[MPa]"].to_numpy(float)))
    n_f_cat = cat.loc[cat["event_label"].astype(str).str.strip() == "F"].groupby("stickslip_id").size().to_dict()
    t = np.sort(rec.events["time"].to_numpy(float))
    bounds = rec.cycle_bounds()
    rows = []
    for k, ms in enumerate(rec.mainshocks.itertuples(index=False)):
        j = int(np.argmin(np.abs(on_all - float(ms.onset))))
        sid = int(ids[j])
        rec = float(on_all[j] - on_all[j - 1]) if j > 0 else math.nan
        start, onset, end = float(bounds[k, 0]), float(ms.onset), float(ms.end)
        in_cycle = (t > start) & (t <= end)
        row: dict[str, Any] = {
            "run": OKUBO_NAME, "cycle": k, "stick_slip_id": sid, "complete": True, "source": "okubo",
            "start": start, "onset": onset, "end": end,
            "recurrence": rec,
            "loading_recurrence": rec,  # the laboratory loads at a constant rate: its recurrence is loading time
            "static_drop": float(drop_of.get(sid, math.nan)) * 1e6,
            "n_events": int(in_cycle.sum()), "n_foreshocks": int(((t > start) & (t < onset)).sum()),
            "n_foreshock_catalog": int(n_f_cat.get(sid, 0)),
            "n_episodes": 0, "n_foreshock_episodes": 0, "kde_mainshock_at_slip": False, "notes": "",
        }
        try:
            eps = segment_episodes(t[in_cycle], bandwidth=bandwidth, grid=grid, prominence=prominence, span=(start, end))
            roles = episode_roles(eps)
            m = eps.loc[eps["is_mainshock"].to_numpy(bool)].iloc[0]
            row.update(n_episodes=len(eps), n_foreshock_episodes=int((roles == "foreshock").sum()),
                       kde_mainshock_at_slip=bool(float(m["start"]) <= end and float(m["end"]) > onset))
        except InsufficientDataError as exc:
            row["notes"] = f"segmentation: {exc}"
        rows.append(row)
    return pd.DataFrame(rows)
