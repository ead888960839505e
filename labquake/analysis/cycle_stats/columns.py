"""The columns of the cycle tables, and their empty, typed forms.

:data:`CYCLE_COLUMNS` (``analysis/cycles.parquet``) and :data:`B_CYCLE_COLUMNS`
(``analysis/b_cycle.parquet``) with the dtype of each column; :func:`empty_cycles` and
:func:`empty_b_cycle` give the empty tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
