"""Benchmark of the macro-scale analysis: distance matrices and tree comparison.

27 runs × 3 metrics (hausdorff, chamfer, emd) × 2 cloud sets (foreshock, mainshock),
then B_k of Tf vs Tm with a 10,000-permutation null at every level k = 2..26, for each
metric. Clouds hold 200–2000 events (uniform), with 5 features shaped like the
reference's (radius, Mw, time, distance, direction). Prints the wall time of each stage
and the total, wall-clock and CPU (target: <= 60 s wall on a 2-core machine). The CPU
time tells what the work costs when other processes share the machine.

    python benchmarks/analysis_pipeline.py [--runs 27] [--min-events 200] [--max-events 2000]
                                           [--n-perm 10000] [--jobs 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def synthetic_cloud(rng: np.random.Generator, n: int, which: str) -> np.ndarray:
    radius = rng.lognormal(np.log(0.003), 0.3, n)
    mw = -8.0 + rng.exponential(np.log10(np.e), n)  # b = 1
    if which == "foreshock":  # lever arms of a few episodes
        arms = np.sort(rng.uniform(5e3, 4e5, rng.integers(3, 12)))
        time_f = rng.choice(arms, n)
    else:  # steps after the first mainshock event
        time_f = rng.exponential(3e3, n)
    distance = 0.03 * np.sqrt(rng.random(n))
    direction = rng.uniform(0, 360, n)
    return np.column_stack([radius, mw, time_f, distance, direction])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=27)
    ap.add_argument("--min-events", type=int, default=200)
    ap.add_argument("--max-events", type=int, default=2000)
    ap.add_argument("--n-perm", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metrics", default="hausdorff,chamfer,emd")
    args = ap.parse_args(argv)

    from labquake.distances import distance_matrix
    from labquake.trees import compare_trees

    rng = np.random.default_rng(args.seed)
    sets = {}
    for which in ("foreshock", "mainshock"):
        sizes = rng.integers(args.min_events, args.max_events + 1, args.runs)
        sets[which] = [synthetic_cloud(rng, int(s), which) for s in sizes]
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    print(f"labquake analysis benchmark: {args.runs} runs, clouds of {args.min_events}-{args.max_events} events, "
          f"metrics {metrics}, {args.n_perm} permutations, {args.jobs} threads "
          f"({os.cpu_count()} CPUs, {platform.processor() or platform.machine()})")
    t_all, c_all = time.perf_counter(), time.process_time()
    mats = {}
    for metric in metrics:
        for which, cl in sets.items():
            t, c = time.perf_counter(), time.process_time()
            mats[metric, which] = distance_matrix(cl, metric, n_jobs=args.jobs)
            print(f"  distance_matrix {metric:10s} {which:9s} {time.perf_counter() - t:8.2f} s wall "
                  f"{time.process_time() - c:8.2f} s cpu")
    for metric in metrics:
        t, c = time.perf_counter(), time.process_time()
        df = compare_trees(mats[metric, "foreshock"], mats[metric, "mainshock"], method="single",
                           null="permutation", n_perm=args.n_perm, seed=args.seed)
        print(f"  compare_trees   {metric:10s} {len(df)} levels {time.perf_counter() - t:8.2f} s wall "
              f"{time.process_time() - c:8.2f} s cpu")
    total, cpu = time.perf_counter() - t_all, time.process_time() - c_all
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"total wall time: {total:.1f} s, cpu time {cpu:.1f} s (target <= 60 s wall on 2 cores; "
          f"1-min load average {load:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
