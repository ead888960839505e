"""The per-run numbers of the campaign report, and the analysis tables it reads.

The peak, after and drop stresses of a run (from its mainshock in ``slips.parquet``, or
from the loading curve), and every readable ``analysis/*.parquet`` of a campaign (an
unreadable one is a warning, never silently replaced).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd


def stick_slip_stats(loading: pd.DataFrame) -> dict[str, float]:
    """Peak differential stress, the stress after the largest drop, and that drop [MPa].

    The drop is the largest fall of the differential stress below its running maximum
    (the mainshock's), ``after`` the stress at the bottom of that fall.
    """
    s = loading["differential_stress"].to_numpy(dtype=float) / 1e6
    if s.size == 0:
        return {"peak_mpa": math.nan, "after_mpa": math.nan, "drop_mpa": math.nan}
    runmax = np.maximum.accumulate(s)
    fall = runmax - s
    i = int(np.argmax(fall))
    return {"peak_mpa": float(s.max()), "after_mpa": float(s[i]), "drop_mpa": float(fall[i])}


def mainshock_stats(slips: pd.DataFrame) -> dict[str, float]:
    """Peak, after and static drop [MPa] of the mainshock in ``slips.parquet`` (the
    slip event with the largest static drop, :mod:`labquake.sim.slips`); NaN when the run
    had no slip event."""
    main = slips[slips["is_mainshock"].to_numpy(dtype=bool)]
    if len(main) == 0:
        return {"peak_mpa": math.nan, "after_mpa": math.nan, "drop_mpa": math.nan}
    m = main.iloc[0]
    peak = float(m["peak_stress"]) if "peak_stress" in main.columns else float(m["stress_start"])
    return {"peak_mpa": peak / 1e6, "after_mpa": float(m["stress_end"]) / 1e6, "drop_mpa": float(m["static_drop"]) / 1e6}


def _analysis_tables(campaign_dir: Path, warnings_out: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Every ``analysis/*.parquet``; an unreadable one is left out and reported in
    ``warnings_out`` (never silently replaced)."""
    out: dict[str, pd.DataFrame] = {}
    adir = campaign_dir / "analysis"
    if adir.is_dir():
        for p in sorted(adir.glob("*.parquet")):
            try:
                out[p.stem] = pd.read_parquet(p)
            except Exception as exc:  # noqa: BLE001 - any damage: a visible warning
                if warnings_out is not None:
                    msg = " ".join(str(exc).split())[:100]
                    warnings_out.append(f"analysis/{p.name} could not be read ({type(exc).__name__}: {msg}); "
                                        "its results are missing from this report; rerun the analysis")
    return out
