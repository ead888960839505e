"""b through the seismic cycle: the b-value against the time to the next mainshock.

:func:`b_through_cycle` pools the events between stick-slips over cycles, bins them by
their time to the next mainshock and estimates b with its bootstrap sd in every bin.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from labquake.analysis.cycle_stats.columns import B_CYCLE_COLUMNS
from labquake.errors import ConfigError, InsufficientDataError, SchemaError


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
