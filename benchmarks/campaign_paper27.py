"""Benchmark: the reference study's campaign (simulations/paper27.toml) end to end.

27 paper-scale simulations on a local dask cluster (one worker per core), then the
campaign analysis (pipeline and grains) and report.html. Target (issue 7): <= 60 minutes
wall time on the 2-core reference machine. Prints the wall time and the per-stage
breakdown, the per-run simulation times, and writes them as JSON beside the campaign.

Usage::

    python benchmarks/campaign_paper27.py                  # the whole campaign
    python benchmarks/campaign_paper27.py --runs 4         # the first 4 runs, and an
                                                           # estimate for all 27
    python benchmarks/campaign_paper27.py --out DIR --workers N

A rerun into the same ``--out`` skips complete runs (that is the campaign's resume), so
use a fresh directory (the default is removed first unless ``--keep``) for a timing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "simulations" / "paper27.toml"
TARGET_S = 3600.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "_work" / "paper27")
    ap.add_argument("--workers", type=int, default=None, help="local workers (default: one per core)")
    ap.add_argument("--runs", type=int, default=None, help="only the first N runs (then extrapolate to 27)")
    ap.add_argument("--keep", action="store_true", help="keep an existing --out (complete runs are skipped)")
    args = ap.parse_args(argv)

    from labquake.campaign import load_campaign, read_events, run_campaign

    spec = load_campaign(SPEC)
    n_all = len(spec.runs)
    if args.runs:
        spec = replace(spec, runs=spec.runs[: args.runs])
    if args.out.exists() and not args.keep:
        shutil.rmtree(args.out)
    workers = args.workers or os.cpu_count() or 1
    print(f"paper27 benchmark: {len(spec.runs)} of {n_all} runs, {workers} workers, into {args.out}", flush=True)

    t0 = time.perf_counter()
    res = run_campaign(spec, args.out, n_workers=workers, progress=True)
    wall = time.perf_counter() - t0

    sims = [e["wall_time_s"] for e in read_events(args.out) if e.get("event") == "computed"]
    result = {
        "runs": len(spec.runs),
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "wall_time_s": round(wall, 1),
        "stages_s": {k: round(v, 1) for k, v in res.stages.items()},
        "runs_complete": sum(s == "complete" for s in res.status.values()),
        "runs_failed": sorted(res.errors),
        "stage_errors": res.stage_errors,
        "simulation_s": {
            "mean": round(sum(sims) / len(sims), 1) if sims else None,
            "max": round(max(sims), 1) if sims else None,
            "n": len(sims),
        },
    }
    if len(spec.runs) < n_all and sims:
        # simulation scales with the number of run "waves" on the workers; analysis with the runs
        waves_all, waves = math.ceil(n_all / workers), math.ceil(len(spec.runs) / workers)
        est = res.stages["simulate"] * waves_all / waves + sum(
            v * (n_all / len(spec.runs) if k in ("analysis", "grains", "report") else 1.0)
            for k, v in res.stages.items() if k != "simulate"
        )
        result["estimate_all_27_s"] = round(est, 0)
    (args.out / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")

    print(f"\nwall time {wall / 60:.1f} min (target for all 27 runs: {TARGET_S / 60:.0f} min)")
    for k, v in res.stages.items():
        print(f"  {k:<10} {v:8.1f} s" + ("  (failed)" if k in res.stage_errors else ""))
    if sims:
        print(f"simulation per run: mean {result['simulation_s']['mean']} s, max {result['simulation_s']['max']} s")
    if "estimate_all_27_s" in result:
        print(f"estimate for all {n_all} runs: {result['estimate_all_27_s'] / 60:.1f} min")
    if res.report:
        print(f"report: {res.report.resolve()}")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
