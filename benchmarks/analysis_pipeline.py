"""Benchmark of the macro-scale analysis: distance matrices and tree comparison.

27 runs × 3 metrics (hausdorff, chamfer, emd) × 2 cloud sets (foreshock, mainshock),
then B_k of Tf vs Tm with a 10,000-permutation null at every level k = 2..26, for each
metric. Clouds hold 200–2000 events (uniform), with 5 features shaped like the
reference's (radius, Mw, time, distance, direction). Prints the wall time of each stage
and the total, wall-clock and CPU (target: <= 60 s wall on a 2-core machine). The CPU
time tells what the work costs when other processes share the machine.

After the timed pipeline, ``--dense-pairs N`` (default 8) pairs of each cloud set are
solved again with POT's dense network simplex ``ot.emd2`` (the peer), one thread, and
the ratio of times and the largest difference of the two exact values are printed.

    python benchmarks/analysis_pipeline.py [--runs 27] [--min-events 200] [--max-events 2000]
                                           [--n-perm 10000] [--jobs 2] [--seed 0]
                                           [--dense-pairs 8]
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
    ap.add_argument("--dense-pairs", type=int, default=8)
    args = ap.parse_args(argv)

    from labquake.analysis.distances import distance_matrix
    from labquake.analysis.trees import compare_trees

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
    if "emd" in metrics and args.dense_pairs > 0:
        compare_with_dense(sets, args.dense_pairs)
    return 0


def compare_with_dense(sets: dict, n_pairs: int) -> None:
    """Time labquake's certified sparse EMD against POT's dense ``ot.emd2`` on the same pairs."""
    import ot
    from scipy.spatial.distance import cdist

    from labquake.analysis.distances import emd, pooled_scale

    for which, clouds in sets.items():
        cl = pooled_scale(clouds, "zscore")
        pairs = [(cl[i], cl[i + 1]) for i in range(min(n_pairs, len(cl) - 1))]
        t = time.perf_counter()
        ours = [emd(a, b) for a, b in pairs]
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        dense = [ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), cdist(a, b),
                         numItermax=50_000_000) for a, b in pairs]
        t_dense = time.perf_counter() - t
        diff = max(abs(x - float(y)) / float(y) for x, y in zip(ours, dense))
        print(f"  peer ot.emd2 (dense) {which:9s} {len(pairs)} pairs: labquake {t_ours:6.2f} s, "
              f"POT dense {t_dense:6.2f} s, ratio {t_dense / t_ours:5.2f}x, max rel. diff {diff:.1e}")


if __name__ == "__main__":
    raise SystemExit(main())
