"""Per-run figures of a multi-cycle campaign against issue 13's acceptance.

    python analysis/cycles_acceptance.py DIR [DIR ...]

Each DIR is a run directory, or a folder of run directories (a campaign). For every
complete run it prints: stick-slips (static drop >= the run's ``loading.stop_min_drop``),
the recurrence CV at the nominal loading rate (``slips.parquet`` ``drive_recurrence`` over
the drive's full speed; docs/cycles.md) and over simulated time, the first stick-slip's
drop and the later ones over it, the fewest AE events in a cycle, the mean peak stress of
the cycles and the wall time; then how many runs meet each criterion:

* at least 10 stick-slips;
* recurrence CV between 0.05 and 0.6 (at the loading rate; the simulated-time CV beside);
* later static drops within a factor 3 of the first;
* AE events in every cycle.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labquake.analysis.cycle_stats import coefficient_of_variation, run_cycles  # noqa: E402
from labquake.errors import LabquakeError  # noqa: E402
from labquake.io.rundir import RunDirectory, run_directories  # noqa: E402


def run_row(rd: RunDirectory) -> dict:
    """One run's figures, from its cycles (:func:`labquake.analysis.cycle_stats.run_cycles`)."""
    meta = rd.read_meta()
    cycles = run_cycles(rd)
    major = cycles[cycles["complete"].astype(bool)]
    n = len(major)
    drops = major["static_drop"].to_numpy(float)
    per_cycle = rd.read_table("events").groupby("cycle").size().reindex(range(n), fill_value=0)
    ratio = drops[1:] / drops[0] if n >= 2 else np.array([np.nan])
    return {
        "run": rd.name, "steps": int(meta["steps"]), "wall_s": round(float(meta.get("wall_time_s", np.nan))),
        "stick_slips": n, "cv_loading": coefficient_of_variation(major["loading_recurrence"]),
        "cv_time": coefficient_of_variation(major["recurrence"]),
        "first_drop_mpa": drops[0] / 1e6 if n else np.nan, "later_over_first_min": float(np.min(ratio)),
        "later_over_first_max": float(np.max(ratio)), "fewest_events_in_a_cycle": int(per_cycle.min()) if n else 0,
        "cycle_peak_mpa": float(major["peak_stress"].mean() / 1e6) if n else np.nan,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", help="run directories or campaign folders")
    args = ap.parse_args(argv)
    try:
        table = pd.DataFrame([run_row(rd) for rd in run_directories(args.dirs)])
    except (LabquakeError, OSError, KeyError, json.JSONDecodeError) as exc:
        print(f"cycles_acceptance: error: {exc}", file=sys.stderr)
        return 2
    print(f"Command: `python analysis/cycles_acceptance.py {' '.join(args.dirs)}`\n")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    t = table
    within3 = (t["later_over_first_min"] >= 1 / 3) & (t["later_over_first_max"] <= 3)
    print(f"\nruns: {len(t)}")
    print(f"- >= 10 stick-slips: {(t['stick_slips'] >= 10).sum()}")
    print(f"- recurrence CV in [0.05, 0.6] at the loading rate: {t['cv_loading'].between(0.05, 0.6).sum()} "
          f"(range {t['cv_loading'].min():.3f}-{t['cv_loading'].max():.3f}); over simulated time: "
          f"{t['cv_time'].between(0.05, 0.6).sum()} (range {t['cv_time'].min():.3f}-{t['cv_time'].max():.3f})")
    print(f"- later drops within x3 of the first: {int(within3.sum())}")
    print(f"- AE in every cycle: {(t['fewest_events_in_a_cycle'] > 0).sum()}")
    print(f"- wall time: median {t['wall_s'].median():.0f} s, max {t['wall_s'].max():.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
