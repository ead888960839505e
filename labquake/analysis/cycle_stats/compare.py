"""Statistics across cycles, and the side-by-side comparison of two data sets.

Recurrence and stress-drop CVs (within-run normalised), the set of cycles compared, the
compared quantities of a data set (:data:`COMPARISON_ROWS`), the table of the simulated
cycles beside the laboratory ones, and its formatting.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import InsufficientDataError


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
