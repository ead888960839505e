"""How many runs of a campaign fall within the reference study's ranges (issue 3).

For every run directory under CAMPAIGN_DIR this prints peak differential stress,
mainshock stress drop, foreshock bursts of fault cracks, the b-value (the reference's
least-squares estimator on on-fault events within 10 mm) and the fault-crack correlation
dimension (fault-plane coordinates, the reference's radii), computed exactly as
``analysis/validate_paper.py`` does, then the count of runs within each range and within
all five.

Usage::

    python analysis/campaign_ranges.py CAMPAIGN_DIR [--bandwidth 500]

``--bandwidth`` is the kernel of the burst count in steps (500: the campaign analysis of
``simulations/paper27.toml``; ``validate_paper.py`` uses 200).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from validate_paper import RANGES, b_value, foreshock_bursts, fractal_dimension  # noqa: E402

from labquake.errors import InsufficientDataError, LabquakeError  # noqa: E402
from labquake.io.rundir import find_runs  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaign")
    ap.add_argument("--bandwidth", type=float, default=500.0)
    args = ap.parse_args(argv)
    try:
        runs = find_runs(args.campaign)  # complete runs, by name
    except LabquakeError as exc:
        print(f"campaign_ranges: error: {exc}", file=sys.stderr)
        return 2
    if not runs:
        print(f"campaign_ranges: error: no run directories under {args.campaign}", file=sys.stderr)
        return 2
    values = {k: [] for k in RANGES}
    print(f"{'run':45s} {'peak':>7} {'drop':>7} {'bursts':>6} {'b':>6} {'D':>6}")
    for run in runs:
        meta = run.read_meta()
        row = {"peak": meta["peak_differential_stress"] / 1e6, "drop": meta["stress_drop"] / 1e6}
        for name, fn in (("bursts", lambda: foreshock_bursts(run, args.bandwidth)),
                         ("b", lambda: b_value(run, meta, "lsq")[0]), ("D", lambda: fractal_dimension(run, meta))):
            try:
                row[name] = float(fn())
            except InsufficientDataError:
                row[name] = float("nan")
        for k in RANGES:
            values[k].append(row[k])
        print(f"{run.path.name:45s} {row['peak']:7.1f} {row['drop']:7.1f} {row['bursts']:6.0f} {row['b']:6.2f} {row['D']:6.2f}")
    inside = np.ones(len(runs), dtype=bool)
    for k, (lo, hi) in RANGES.items():
        v = np.asarray(values[k], float)
        ok = (v >= lo) & (v <= hi)
        inside &= ok
        print(f"{k:6s}: {int(ok.sum())}/{len(v)} within {lo}-{hi}; mean {np.nanmean(v):.2f}, "
              f"min {np.nanmin(v):.2f}, max {np.nanmax(v):.2f}")
    print(f"all five within range: {int(inside.sum())}/{len(runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
