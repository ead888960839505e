"""Seismic cycles of a run: which stick-slip cycle each slip, AE event and crack belongs to.

A *stick-slip* is a slip event (:mod:`labquake.sim.slips`) whose static drop is at least
``loading.stop_min_drop``, the size the stop rule counts; smaller slip events are slips
within a cycle (precursory slips, foreshocks). Cycle ``k`` (0, 1, …) runs from the end of
stick-slip ``k - 1`` (the start of axial loading for ``k = 0``) to the end of stick-slip
``k``, its mainshock, which it includes; whatever follows the last stick-slip (the run's
tail, or a cycle the run stopped in) is cycle ``n``. The boundary is the stick-slip's
``step_end``, the start of the quiet stretch after it: the ringing and aftershocks that
follow belong to the next cycle, as in the laboratory, where a cycle runs from one
mainshock to the next.

``recurrence`` is the time (s) from the previous stick-slip's start to this slip's start
(NaN before the first). ``drive_recurrence`` is the drive point's advance (m) over the same
interval: the load-point displacement a laboratory recurrence corresponds to. With the
adaptive drive (:mod:`labquake.sim.drive`) simulated time is not loading time: the drive runs
``slow_factor`` times slower during every slip and its quiet stretch, a pause of a nearly
fixed number of steps in every interval, where the laboratory's event takes milliseconds
of a cycle of seconds. ``drive_recurrence / platen_velocity`` is the recurrence at the
nominal loading rate, the quantity comparable with a laboratory record (NaN where the
drive position was not recorded). ``is_mainshock`` marks each cycle's stick-slip; a run with no
stick-slip at all marks its largest slip event instead, so that a run stopped by
``max_steps`` still has a mainshock to compare (as before cycles were counted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["cycle_boundaries", "cycle_index", "label_cycles"]


def cycle_boundaries(slips: pd.DataFrame, min_drop: float) -> np.ndarray:
    """The steps at which cycles end: ``step_end`` of the slip events with a static drop
    of at least ``min_drop`` (Pa), sorted."""
    major = slips["static_drop"].to_numpy(float) >= float(min_drop)
    return np.sort(slips["step_end"].to_numpy(np.int64)[major])


def cycle_index(steps: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """The cycle (0, 1, …) of each step: the number of cycle boundaries before it (a
    boundary step itself belongs to the cycle it ends)."""
    return np.searchsorted(np.asarray(boundaries, np.int64), np.asarray(steps, np.int64), side="left").astype(np.int64)


def label_cycles(slips: pd.DataFrame, min_drop: float, dt: float) -> pd.DataFrame:
    """``slips`` with ``cycle``, ``recurrence``, ``drive_recurrence`` and ``is_mainshock`` set
    from its stick-slips (static drop >= ``min_drop``); ``dt`` is the time step (s)."""
    out = slips.copy()
    start = out["step_start"].to_numpy(np.int64)
    drop = out["static_drop"].to_numpy(float)
    major = drop >= float(min_drop)
    out["cycle"] = cycle_index(start, cycle_boundaries(out, min_drop))
    major_starts = np.sort(start[major])
    k = np.searchsorted(major_starts, start, side="left")  # stick-slips that started before this row
    prev = major_starts[np.maximum(k - 1, 0)] if major_starts.size else np.zeros_like(start)
    out["recurrence"] = np.where(k > 0, (start - prev) * float(dt), np.nan)
    if "drive_start" in out.columns:
        z = out["drive_start"].to_numpy(float)
        z_major = z[major][np.argsort(start[major], kind="stable")]
        z_prev = z_major[np.maximum(k - 1, 0)] if z_major.size else np.zeros_like(z)
        out["drive_recurrence"] = np.where(k > 0, z_prev - z, np.nan)  # the drive point moves down
    else:
        out["drive_recurrence"] = np.nan
    main = major.copy()
    if len(out) and not main.any():
        main[int(np.argmax(drop))] = True
    out["is_mainshock"] = main
    return out
