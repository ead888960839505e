"""The cycles of the Okubo FB03-087 laboratory fault, in the columns of the simulated ones.

:func:`okubo_cycles` reads the 4 m biaxial granite-fault data set (its stick-slips,
macroscopic stress drops and picked gouge events) and segments each cycle like the
simulated cracks; :func:`default_okubo_dir` finds the data set.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import InsufficientDataError, SchemaError

#: KDE bandwidth and grid for the Okubo picks [s] (as tests/test_segment.py chooses them:
#: within a stick-slip the picks span <= 0.046 s, stick-slips are >= 1.1 s apart)
OKUBO_BANDWIDTH = 0.15
OKUBO_GRID = 0.0015
OKUBO_NAME = "okubo-fb03-087"


def default_okubo_dir() -> Path | None:
    """The Okubo FB03-087 data set: ``$LABQUAKE_OKUBO_DIR``, else the copy in the source
    tree (``tests/data/okubo-4m-fb03-087``); None when neither holds it."""
    from labquake.analysis.forecast.data import is_okubo_dir

    for p in (os.environ.get("LABQUAKE_OKUBO_DIR"),
              Path(__file__).resolve().parents[3] / "tests" / "data" / "okubo-4m-fb03-087"):  # the repository root
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
