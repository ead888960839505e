"""Benchmark: grain-scale analysis of a campaign, and rendering a paper-size snapshot.

Targets (issue 5):

* grain analysis of 27 runs × 100 contacts × ~40,000 samples: <= 30 s;
* rendering a ~7000-contact snapshot off-screen to PNG: <= 5 s.

Usage::

    python benchmarks/grains_render.py             # both, full size
    python benchmarks/grains_render.py --quick     # a small smoke run (CI-sized)
    python benchmarks/grains_render.py --no-io     # grains from arrays only (no parquet)

The grain benchmark is end to end by default: it writes 27 synthetic run directories
(contacts.parquet and monitored.parquet in the run-directory schema, once, under
``benchmarks/_work/``) and times :func:`labquake.analysis.grains.analyze_campaign_grains` on
them, figures included; episodes are given (30 foreshocks and a mainshock per run), so
the KDF segmentation, which is not part of this module, is not timed. It also times the
array core alone (pivot, fits, classification, statistics). Rendering times
``labquake.viz.scene.render_run`` on a snapshot of ~2,700 particles and ~7,000 contacts,
in a fresh process (Python start and imports included) and in a warm one.

Wall times on a shared machine include waiting for the CPU; the process CPU times
printed beside them do not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "_work" / "grains_render"
INTERVAL = 20  # steps between contact samples


def synthetic_episodes(n_samples: int, n_fore: int = 30) -> pd.DataFrame:
    """n_fore foreshock episodes and a mainshock covering the whole record."""
    total = n_samples * INTERVAL
    bounds = np.linspace(0, total, n_fore + 2).astype(np.int64)
    start, end = bounds[:-1], bounds[1:]
    peak = (start + (end - start) * 0.6).astype(np.int64) // INTERVAL * INTERVAL
    ms = n_fore
    return pd.DataFrame({
        "episode_id": np.arange(n_fore + 1), "start": start, "end": end, "peak": peak,
        "n_events": np.r_[np.full(n_fore, 5), 200], "is_mainshock": np.arange(n_fore + 1) == ms,
        "lever_arm": peak[ms] - peak,
    })


def synthetic_forces(rng, n_contacts: int, n_samples: int, eps: pd.DataFrame):
    """Random-walk normal and shear forces with jumps at each episode peak; a few break."""
    steps = np.arange(n_samples, dtype=np.int64) * INTERVAL
    walk = np.cumsum(rng.normal(scale=0.5, size=(2, n_contacts, n_samples)), axis=2)
    trend = rng.normal(scale=2e-4, size=(2, n_contacts, 1)) * steps
    jumps = np.zeros((2, n_contacts, n_samples))
    for p in eps["peak"].to_numpy():
        jumps[:, :, steps >= p] += rng.normal(scale=20.0, size=(2, n_contacts, 1))
    fn = 800.0 + walk[0] + trend[0] + jumps[0]
    fs = 300.0 + np.abs(walk[1] + trend[1] + jumps[1])
    broken = np.zeros((n_contacts, n_samples), dtype=bool)
    for k in rng.choice(n_contacts, n_contacts // 10, replace=False):
        broken[k, rng.integers(n_samples // 2, n_samples):] = True
    fn[broken] = 0.0
    fs[broken] = 0.0
    return steps, fn, fs, broken


def write_campaign(n_runs: int, n_contacts: int, n_samples: int, seed: int = 0) -> Path:
    from labquake.io.rundir import RunDirectory, empty_table

    camp = WORK / f"campaign_{n_runs}x{n_contacts}x{n_samples}"
    done = camp / ".complete"
    if done.exists():
        return camp
    rng = np.random.default_rng(seed)
    eps = synthetic_episodes(n_samples)
    for r in range(n_runs):
        run = RunDirectory(camp / f"run{r:03d}")
        run.start({"seed": r}, meta={"fault": {"contact_area": 2e-5, "cohesion": 55e6, "friction_angle_deg": 30.0},
                                     "contact_interval": INTERVAL})
        steps, fn, fs, broken = synthetic_forces(rng, n_contacts, n_samples, eps)
        n = n_contacts * n_samples
        cols = {"step": np.tile(steps, n_contacts), "time": np.tile(steps * 1e-8, n_contacts),
                "contact_id": np.repeat(np.arange(n_contacts, dtype=np.int64), n_samples),
                "fn": fn.ravel(), "fs": fs.ravel(), "broken": broken.ravel()}
        df = pd.DataFrame(cols)
        for c in empty_table("contacts").columns:
            if c not in df:
                df[c] = np.zeros(n)
        run.write_table("contacts", df)
        mon = pd.DataFrame({"contact_id": np.arange(n_contacts, dtype=np.int64),
                            "particle_a": np.arange(n_contacts, dtype=np.int64),
                            "particle_b": np.arange(n_contacts, dtype=np.int64) + 1,
                            "x": rng.normal(size=n_contacts) * 0.01, "y": rng.normal(size=n_contacts) * 0.01,
                            "z": rng.normal(size=n_contacts) * 0.01, "model": "smoothjoint"})
        run.write_table("monitored", mon)
        run.complete()
        eps.to_parquet(run.path / "episodes_for_benchmark.parquet")
        print(f"  wrote {run.path.name}", end="\r", flush=True)
    done.write_text("ok")
    print()
    return camp


def bench_core(n_runs: int, n_contacts: int, n_samples: int) -> dict:
    from labquake.analysis import grains

    rng = np.random.default_rng(1)
    eps = synthetic_episodes(n_samples)
    data = [synthetic_forces(rng, n_contacts, n_samples, eps) for _ in range(min(n_runs, 3))]
    t0, c0 = time.perf_counter(), time.process_time()
    recs = []
    for r in range(n_runs):
        steps, fn, fs, broken = data[r % len(data)]
        rec = grains.segment_contacts(steps, {"fn": fn, "fs": fs}, broken, eps)
        rec["run"] = f"run{r}"
        recs.append(rec)
    records = pd.concat(recs, ignore_index=True)
    t_fit = time.perf_counter() - t0
    grains.category_proportions(records)
    grains.stress_strength(records)
    grains.acceleration_difference(records)
    grains.headline_shares(records)
    t_all, c_all = time.perf_counter() - t0, time.process_time() - c0
    return {"records": len(records), "fits_s": round(t_fit, 3), "fits_and_statistics_s": round(t_all, 3),
            "cpu_s": round(c_all, 3)}


def bench_campaign(n_runs: int, n_contacts: int, n_samples: int) -> dict:
    from labquake.analysis.grains import analyze_campaign_grains

    t0 = time.perf_counter()
    camp = write_campaign(n_runs, n_contacts, n_samples)
    t_write = time.perf_counter() - t0
    eps = {p.parent.name: pd.read_parquet(p) for p in camp.glob("*/episodes_for_benchmark.parquet")}
    t0, c0 = time.perf_counter(), time.process_time()
    out = analyze_campaign_grains(camp, episodes=eps, figures=True)
    t_figs, c_figs = time.perf_counter() - t0, time.process_time() - c0
    head = pd.read_parquet(out["grains_headline"]).iloc[-1].to_dict()
    return {"setup_write_s": round(t_write, 1), "end_to_end_with_figures_s": round(t_figs, 2),
            "end_to_end_cpu_s": round(c_figs, 2), "headline_ALL": head}


def make_snapshot(run_dir: Path, n_particles: int = 2700, target_contacts: int = 7000, seed: int = 0) -> int:
    """A cylinder of particles (40 mm × 107 mm) with ~target_contacts neighbour contacts."""
    from scipy.spatial import cKDTree

    from labquake.geometry import FaultPlane
    from labquake.io.rundir import RunDirectory
    from labquake.io.vtk import write_snapshot

    rng = np.random.default_rng(seed)
    pts = np.empty((0, 3))
    while len(pts) < n_particles:
        p = rng.uniform([-0.02, -0.02, -0.0535], [0.02, 0.02, 0.0535], (n_particles, 3))
        pts = np.vstack([pts, p[np.hypot(p[:, 0], p[:, 1]) < 0.02]])
    pos = pts[:n_particles]
    tree = cKDTree(pos)
    lo, hi = 0.001, 0.01
    for _ in range(30):  # bisect the neighbour distance for the wanted contact count
        mid = (lo + hi) / 2
        if len(tree.query_pairs(mid, output_type="ndarray")) < target_contacts:
            lo = mid
        else:
            hi = mid
    pairs = tree.query_pairs(hi, output_type="ndarray")
    m = len(pairs)
    run = RunDirectory(run_dir)
    run.start({"seed": seed}, meta={"fault": FaultPlane(30.0).to_dict()})
    step = 400_000
    write_snapshot(run.path, step, pos, np.full(n_particles, 1.1e-3), pairs[:, 0], pairs[:, 1],
                   rng.gamma(2.0, 300.0, m), rng.gamma(2.0, 120.0, m), np.full(m, 1), np.ones(m, bool))
    return m


def bench_render() -> dict:
    run_dir = WORK / "render_run"
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)
    m = make_snapshot(run_dir)
    out = WORK / "render.png"
    cmd = [sys.executable, "-m", "labquake.cli", "render", str(run_dir), "--step", "400000", "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    t_cold = time.perf_counter() - t0
    from labquake.viz.scene import render_run

    render_run(run_dir, 400_000, out)  # warm up imports and the GL context
    t0, c0 = time.perf_counter(), time.process_time()
    render_run(run_dir, 400_000, out)
    t_warm, c_warm = time.perf_counter() - t0, time.process_time() - c0
    return {"contacts": m, "cli_fresh_process_s": round(t_cold, 2), "render_run_warm_s": round(t_warm, 2),
            "render_run_warm_cpu_s": round(c_warm, 2), "png": str(out)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 runs × 20 contacts × 4000 samples")
    ap.add_argument("--no-io", action="store_true", help="skip the end-to-end (parquet) grain benchmark")
    ap.add_argument("--no-render", action="store_true")
    args = ap.parse_args()
    size = (3, 20, 4000) if args.quick else (27, 100, 40_000)
    WORK.mkdir(parents=True, exist_ok=True)
    res: dict = {"size": {"runs": size[0], "contacts": size[1], "samples": size[2]}, "cpus": os.cpu_count()}
    res["grains_core"] = bench_core(*size)
    print("grains (arrays):", json.dumps(res["grains_core"]), flush=True)
    if not args.no_io:
        res["grains_campaign"] = bench_campaign(*size)
        print("grains (campaign, parquet):", json.dumps(res["grains_campaign"], default=str), flush=True)
    if not args.no_render:
        res["render"] = bench_render()
        print("render:", json.dumps(res["render"]), flush=True)
    ok = res["grains_core"]["fits_and_statistics_s"] <= 30
    if "grains_campaign" in res:
        ok &= res["grains_campaign"]["end_to_end_with_figures_s"] <= 30
    if "render" in res:
        ok &= res["render"]["cli_fresh_process_s"] <= 5
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
