"""Forecasting, precursors and consensus detection on lab catalogs, scored against baselines.

Four methods, each scored out of sample against a baseline (:mod:`labquake.analysis.forecast.skill`):

``evt``
    Bounds ``[M_LE, M_UE]`` on the next record-breaking magnitude from the foreshocks, and
    its probability from a GEV fitted to the normalised records (:mod:`.evt`). Score: CRPS
    of the forecast of the mainshock's next record, against climatology.
``precursor``
    Alarms when the axial strain (or fault slip) departs from its trailing linear trend
    (:mod:`.precursor`). Score: Molchan area skill, against the random-guess diagonal.
``ttf``
    Time to the next mainshock regressed on windows of catalog and contact-force features
    with gradient boosting and a linear model, leave-one-run-out (:mod:`.ttf`). Score: R²,
    against climatology (mean recurrence minus elapsed time) and a shuffled target.
``consensus``
    AE catalog, kinetic-energy bursts and slip-rate bursts, published when 2 of 3 agree
    (:mod:`.consensus`). Score: F1 against crack bursts, against the best single detector.

:func:`forecast_campaign` runs them on every complete run of a campaign (and, with
``okubo=``, on the Okubo FB03-087 laboratory data) and writes, under ``forecast/``:

``skill.json``
    ``{method: {data: entry}}`` with ``data`` ``"simulated"`` or ``"okubo"``; each entry
    has ``score``, ``baseline`` (and their names, ``higher_is_better``), ``n`` and
    ``n_unit`` (mainshocks, windows or true events), details, or ``applies: false`` and
    the ``reason``.
``<method>_<data>.png``, ``<method>_<data>.parquet``
    The figures and the per-mainshock / per-window tables.

Everything is computed before anything is written, and each file is written atomically,
so a failed forecast leaves earlier results intact.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from labquake.errors import InsufficientDataError, LabquakeError
from labquake.analysis.forecast.consensus import coincidence, match, rates
from labquake.analysis.forecast.data import Record, find_mainshocks, is_okubo_dir, okubo_record, run_record
from labquake.analysis.forecast.evt import RecordBounds, record_bounds
from labquake.analysis.forecast.precursor import GNSS_THRESHOLD, MolchanResult, molchan, trend_departure
from labquake.analysis.forecast.skill import (
    consensus_skill,
    evt_skill,
    not_applicable,
    pick_alarm_skill,
    precursor_skill,
    ttf_skill,
)
from labquake.analysis.forecast.ttf import catalog_windows, score_ttf

__all__ = [
    "METHODS",
    "Record",
    "RecordBounds",
    "MolchanResult",
    "GNSS_THRESHOLD",
    "find_mainshocks",
    "run_record",
    "okubo_record",
    "is_okubo_dir",
    "record_bounds",
    "trend_departure",
    "molchan",
    "catalog_windows",
    "score_ttf",
    "coincidence",
    "match",
    "rates",
    "evt_skill",
    "precursor_skill",
    "ttf_skill",
    "consensus_skill",
    "campaign_records",
    "score_records",
    "score_okubo",
    "forecast_campaign",
    "SKILL_FILE",
]

METHODS = ("evt", "precursor", "ttf", "consensus")
SKILL_FILE = "skill.json"


def campaign_records(campaign_dir, *, min_events: int = 3,
                     progress: Callable[[str], None] | None = None) -> tuple[list[Record], dict[str, str]]:
    """Records of every complete run of a campaign, and the runs left out with the reason.

    A run is left out when it has no mainshock or fewer than ``min_events`` AE events.

    Raises
    ------
    InsufficientDataError
        No run left, or fewer than 2 mainshocks in all (the forecasts are scored out of
        sample, leaving one run or cycle out).
    """
    from labquake.io.rundir import find_runs

    runs = find_runs(campaign_dir)
    records, excluded = [], {}
    for rd in runs:
        try:
            rec = run_record(rd)
        except LabquakeError as exc:
            excluded[rd.name] = str(exc)
        else:
            if len(rec.events) < int(min_events):
                excluded[rd.name] = f"{len(rec.events)} AE event(s); the forecasts need at least {min_events} per run"
            else:
                records.append(rec)
        if progress:
            progress(rd.name)
    if not records:
        why = "; ".join(f"{k}: {v}" for k, v in excluded.items()) or "no complete run"
        raise InsufficientDataError(f"{campaign_dir}: no run to forecast ({why})")
    n_ms = sum(len(r.mainshocks) for r in records)
    if n_ms < 2:
        raise InsufficientDataError(
            f"{campaign_dir}: {len(records)} run(s) with {n_ms} mainshock(s); forecasts are scored leaving one run "
            "or cycle out, so they need at least 2 — run a campaign of several runs")
    return records, excluded


def score_records(records: list[Record], *, alpha: float = 0.1, group_by: str = "run", seed: int = 0,
                  n_jobs: int | None = None) -> dict[str, dict]:
    """The four skill entries of simulated records (see :mod:`labquake.analysis.forecast.skill`)."""
    out = {}
    timings = {}
    for name, fn in (("evt", lambda: evt_skill(records, alpha=alpha)),
                     ("precursor", lambda: precursor_skill(records)),
                     ("ttf", lambda: ttf_skill(records, group_by=group_by, seed=seed, n_jobs=n_jobs)),
                     ("consensus", lambda: consensus_skill(records))):
        t0 = time.perf_counter()
        out[name] = fn()
        timings[name] = time.perf_counter() - t0
    for name, e in out.items():
        e["wall_s"] = timings[name]
    return out


def score_okubo(path, *, alpha: float = 0.1, seed: int = 0, n_jobs: int | None = None) -> dict[str, dict]:
    """The four skill entries on the Okubo FB03-087 data (what does not apply says why)."""
    rec = okubo_record(path)
    return {
        "evt": evt_skill([rec], alpha=alpha, sequence=True),
        "precursor": pick_alarm_skill(rec),
        "ttf": ttf_skill([rec], group_by="cycle", seed=seed, n_jobs=n_jobs),
        "consensus": not_applicable("consensus", "okubo", "the data set has one detector only (the gouge-event "
                                    "picks): no kinetic-energy or slip-rate record to vote with"),
    }


def _plain(entry: dict) -> dict:
    """The JSON part of a skill entry (no tables or figures)."""
    import numpy as np

    def conv(v):
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, (np.floating, float)):
            return None if not np.isfinite(v) else float(v)
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, np.bool_):
            return bool(v)
        return v

    return conv({k: v for k, v in entry.items() if k not in ("table", "figures")})


def forecast_campaign(campaign_dir, *, okubo: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                      alpha: float = 0.1, group_by: str = "run", seed: int = 0, figures: bool = True,
                      n_jobs: int | None = None,
                      progress: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Score every method on a campaign (and on the Okubo data) and write ``forecast/``.

    Parameters
    ----------
    campaign_dir
        A campaign directory; or the Okubo FB03-087 data directory itself (then only the
        Okubo scores are computed, and ``out`` should be given).
    okubo
        The Okubo FB03-087 data directory, to score it beside the campaign.
    out
        Output directory (default ``campaign_dir/forecast``).
    alpha
        ``1 - alpha`` is the nominal coverage of the EVT bounds.
    group_by
        Cross-validation groups of the time-to-failure regression: ``"run"`` or ``"cycle"``.
    n_jobs
        Processes for the cross-validation folds of the time-to-failure regression.

    Returns
    -------
    dict of the written paths (``"skill"``, ``"fig_<method>_<data>"``, ``"table_<method>_<data>"``).
    """
    from labquake.io.rundir import atomic_write_parquet, atomic_write_text

    root = Path(campaign_dir)
    out = Path(out) if out is not None else root / "forecast"
    t0 = time.perf_counter()
    entries: dict[str, dict[str, dict]] = {m: {} for m in METHODS}
    excluded: dict[str, str] = {}
    if is_okubo_dir(root):
        okubo, sim = root, None
    else:
        records, excluded = campaign_records(root, progress=progress)
        sim = score_records(records, alpha=alpha, group_by=group_by, seed=seed, n_jobs=n_jobs)
        for m in METHODS:
            entries[m]["simulated"] = sim[m]
    if okubo is not None:
        ok = score_okubo(okubo, alpha=alpha, seed=seed, n_jobs=n_jobs)
        for m in METHODS:
            entries[m]["okubo"] = ok[m]
    # ---- everything computed: write ------------------------------------------------
    written: dict[str, Path] = {}
    for m, per in entries.items():
        for data, e in per.items():
            if e.get("table") is not None:
                written[f"table_{m}_{data}"] = atomic_write_parquet(out / f"{m}_{data}.parquet",
                                                                     e["table"].reset_index(drop=True))
            if figures:
                from labquake.viz.analysis_figures import save

                for name, fig in (e.get("figures") or {}).items():
                    written[f"fig_{name}_{data}"] = save(fig, out / f"{name}_{data}.png")
    doc = {m: {d: _plain(e) for d, e in per.items()} for m, per in entries.items()}
    doc["_meta"] = {"campaign": str(root.resolve()), "okubo": str(Path(okubo).resolve()) if okubo else None,
                    "alpha": alpha, "group_by": group_by, "seed": seed, "excluded_runs": excluded,
                    "wall_s": time.perf_counter() - t0}
    if sim is not None:
        doc["_meta"]["n_runs"] = len(records)
        doc["_meta"]["n_mainshocks"] = int(sum(len(r.mainshocks) for r in records))
    written["skill"] = atomic_write_text(out / SKILL_FILE, json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return written
