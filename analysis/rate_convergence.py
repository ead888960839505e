"""Does the drive rate shape the stick-slip? Issue 12's rate-convergence check.

Runs a preset (default ``simulations/paper.toml``) for several seeds at several drive
settings (the adaptive drive's full speed, ``loading.platen_velocity``; each setting 4x
slower than the last by default), then prints per run and per setting:

* the mainshock's peak stress and static drop (``slips.parquet``);
* its peak slip rate over the drive rate during the event (the slow rate) and over the
  full-speed rate, and its reload (measured loading stiffness × drive advance) and the
  rigid-sample reload bound, both over its static drop;
* the number of foreshock episodes: the reference's KDE segmentation of the fault cracks
  before the mainshock, with the bandwidth and grid fixed in *drive displacement*
  (``--bandwidth-um``, default 30 µm: the reference's 2000 steps at 0.2 m/s and
  dt = 7.5e-8 s), not in steps;
* the b-value (least squares, the reference's; on-fault events within 10 mm) with its
  bootstrap standard deviation;
* the wall time.

and the checks between the two slowest settings: peak and drop change < 5 % or less than
the seed spread, slip-rate ratio >= 100, reload < 5 % of the drop, episode count within
±1, b within its bootstrap sd; and the reload check at every setting (a setting can be
made the preset only where it passes). ``--dt-check V`` also runs the seeds at setting V with
``engine.dt_safety`` halved (and the loading windows counted in steps doubled, so that
they keep their physical length) and compares the Mw distributions (two-sample KS,
p > 0.05). A slower drive gets proportionally more ``max_steps``.

Runs go to ``OUT/v<velocity>[_halfdt]/seed<k>`` and are resumed when present, so the
script can be stopped and rerun. ``--jobs`` runs that many simulations at once.

Usage::

    python analysis/rate_convergence.py OUT [--preset P] [--seeds 1 2 3]
        [--velocities 0.2 0.05 0.0125] [--jobs 2] [--dt-check 0.05] [--json OUT.json]

Numbers from one machine do not repeat exactly on another unless the catalogs are
portable; quote them with that caveat.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from validate_paper import b_value  # noqa: E402

from labquake.sim.config import load_config  # noqa: E402
from labquake.errors import InsufficientDataError, LabquakeError  # noqa: E402
from labquake.io.rundir import RunDirectory  # noqa: E402


def _run_dir(out: Path, velocity: float, seed: int, half_dt: bool) -> Path:
    return out / (f"v{velocity:g}" + ("_halfdt" if half_dt else "")) / f"seed{seed}"


def _simulate(preset: str, out: str, velocity: float, seed: int, half_dt: bool) -> float:
    from labquake.sim.experiment import simulate

    cfg = load_config(preset)
    ld = cfg["loading"]
    cfg["seed"] = int(seed)
    # a slower drive needs proportionally more steps to reach the same displacement
    ld["max_steps"] = int(ld["max_steps"] * max(1.0, ld["platen_velocity"] / float(velocity)))
    ld["platen_velocity"] = float(velocity)
    if half_dt:  # the same physical windows in twice the steps
        cfg["engine"]["dt_safety"] = 0.5 * cfg["engine"]["dt_safety"]
        for key in ("max_steps", "slip_rate_window", "slip_quiet_steps", "quiet_steps", "max_slow_steps", "tail_steps",
                    "min_axial_steps"):
            ld[key] = 2 * ld[key]
    t = time.perf_counter()
    simulate(cfg, out, resume=True, progress=False)
    return time.perf_counter() - t


def foreshock_episodes(run: RunDirectory, start_step: int, bandwidth_m: float) -> int:
    """Foreshock episodes: KDE episodes of the fault cracks before ``start_step`` (the
    mainshock's), with the time axis the drive displacement."""
    from labquake.analysis.segment import segment_episodes

    ld = run.read_table("loading")
    ax = ld[ld["stage"] == "axial"]
    cr = run.read_table("cracks", columns=["step", "kind"])
    st = cr.loc[(cr["kind"].astype(str) == "fault") & (cr["step"] < start_step), "step"].to_numpy()
    if st.size == 0:
        return 0
    disp = np.interp(st, ax["step"].to_numpy(float), ax["drive_displacement"].to_numpy(float))
    try:
        ep = segment_episodes(disp, bandwidth=bandwidth_m, grid=bandwidth_m / 100.0)
    except InsufficientDataError:
        return 0
    return int(len(ep))


def run_row(path: Path, velocity: float, seed: int, bandwidth_m: float) -> dict:
    run = RunDirectory(path)
    meta = run.read_meta()
    cfg = run.read_config()
    ld = cfg["loading"]
    row = {"velocity": velocity, "seed": seed, "stop": meta["stop_reason"], "steps": meta["steps"],
           "wall_s": meta["wall_time_s"], "slow_steps": meta.get("drive", {}).get("slow_steps", 0)}
    slips = run.read_table("slips")
    main = slips[slips["is_mainshock"]]
    if len(main) == 0:
        return row | {k: float("nan") for k in ("peak", "drop", "rate_over_drive", "rate_over_fast", "reload_pct",
                                                "reload_bound_pct", "episodes", "b", "b_sd", "n_slips")}
    m = main.iloc[0]
    slow = ld["platen_velocity"] / (ld["slow_factor"] if ld["drive"] == "adaptive" else 1.0)
    row.update(peak=m["peak_stress"] / 1e6, drop=m["static_drop"] / 1e6, n_slips=int(len(slips)),
               rate_over_drive=m["peak_slip_rate"] / slow, rate_over_fast=m["peak_slip_rate"] / ld["platen_velocity"],
               reload_pct=100.0 * m["reload"] / m["static_drop"],
               reload_bound_pct=100.0 * m["reload_bound"] / m["static_drop"],
               episodes=foreshock_episodes(run, int(m["step_start"]), bandwidth_m))
    try:
        row["b"], _, row["b_sd"] = b_value(run, meta, "lsq")
    except InsufficientDataError:
        row["b"] = row["b_sd"] = float("nan")
    return row


def _mw(path: Path) -> np.ndarray:
    from labquake.analysis.clouds import fault_events
    from labquake.geometry import FaultPlane

    run = RunDirectory(path)
    ev = fault_events(run.read_table("events"), FaultPlane.from_dict(run.read_meta()["fault"]), 0.01)
    return ev["mw"].to_numpy(float)


def checks(rows: list[dict], slow: float, slower: float) -> list[tuple[str, bool, str]]:
    """The acceptance checks between two settings (slower = the slowest)."""
    a = {r["seed"]: r for r in rows if r["velocity"] == slow}
    b = {r["seed"]: r for r in rows if r["velocity"] == slower}
    seeds = sorted(set(a) & set(b))
    out = []
    for key in ("peak", "drop"):
        xa = np.array([a[s][key] for s in seeds], float)
        xb = np.array([b[s][key] for s in seeds], float)
        rel = np.abs(xb - xa) / np.abs(xb)
        spread = float(np.nanstd(xb, ddof=1)) if len(seeds) > 1 else float("nan")
        mean_change = abs(float(np.nanmean(xb) - np.nanmean(xa)))
        ok = bool(np.all(rel < 0.05) or mean_change < spread)
        out.append((f"{key}: per-seed change < 5 % or mean change < seed sd", ok,
                    f"changes {', '.join(f'{100 * x:.1f}%' for x in rel)}; mean change {mean_change:.1f} MPa, seed sd {spread:.1f} MPa"))
    r = np.array([b[s]["rate_over_drive"] for s in seeds], float)
    out.append(("peak slip rate / drive rate >= 100", bool(np.all(r >= 100)), ", ".join(f"{x:.0f}" for x in r)))
    rl = np.array([b[s]["reload_pct"] for s in seeds], float)
    out.append(("reload < 5 % of the static drop", bool(np.all(rl < 5)), ", ".join(f"{x:.1f}%" for x in rl)))
    ep = [(a[s]["episodes"], b[s]["episodes"]) for s in seeds]
    out.append(("foreshock episodes within +-1", all(abs(x - y) <= 1 for x, y in ep), ", ".join(f"{x}->{y}" for x, y in ep)))
    bb = [(a[s]["b"], b[s]["b"], b[s]["b_sd"]) for s in seeds]
    out.append(("b within its bootstrap sd", all(abs(x - y) <= sd for x, y, sd in bb),
                ", ".join(f"{x:.2f}->{y:.2f} (sd {sd:.2f})" for x, y, sd in bb)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--preset", default=str(ROOT.parent / "simulations" / "paper.toml"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--velocities", type=float, nargs="+", default=[0.2, 0.05, 0.0125])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--bandwidth-um", type=float, default=30.0)
    ap.add_argument("--dt-check", type=float, default=None, help="rerun this velocity with dt_safety halved")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    out = Path(args.out)
    try:
        load_config(args.preset)
    except LabquakeError as exc:
        print(f"labquake: error: {exc}", file=sys.stderr)
        return 2
    jobs = [(v, s, False) for v in args.velocities for s in args.seeds]
    if args.dt_check is not None:
        jobs += [(args.dt_check, s, True) for s in args.seeds]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futs = {pool.submit(_simulate, args.preset, str(_run_dir(out, v, s, h)), v, s, h): (v, s, h) for v, s, h in jobs}
        for f, key in futs.items():
            f.result()
    bw = args.bandwidth_um * 1e-6
    rows = [run_row(_run_dir(out, v, s, False), v, s, bw) for v in args.velocities for s in args.seeds]
    cols = ("velocity", "seed", "peak", "drop", "rate_over_drive", "rate_over_fast", "reload_pct", "reload_bound_pct",
            "episodes", "b", "b_sd", "n_slips", "steps", "slow_steps", "wall_s")
    print("| " + " | ".join(cols) + " | stop |")
    print("|" + "---|" * (len(cols) + 1))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols) + f" | {r['stop']} |")
    summary: dict = {"rows": rows}
    if len(args.velocities) >= 2:
        v1, v2 = sorted(args.velocities)[1], sorted(args.velocities)[0]
        print(f"\nchecks between the two slowest settings ({v1:g} -> {v2:g} m/s):")
        res = checks(rows, v1, v2)
        for name, ok, detail in res:
            print(f"- [{'x' if ok else ' '}] {name}: {detail}")
        summary["checks"] = [{"check": n, "pass": ok, "detail": d} for n, ok, d in res]
    print("\nreload < 5 % of the static drop at each setting (measured; rigid-sample bound):")
    for v in args.velocities:
        rl = [(r["reload_pct"], r["reload_bound_pct"]) for r in rows if r["velocity"] == v]
        ok = all(x < 5 for x, _ in rl)
        print(f"- [{'x' if ok else ' '}] {v:g} m/s: " + ", ".join(f"{x:.1f}% ({y:.1f}%)" for x, y in rl))
        summary.setdefault("reload_by_setting", []).append({"velocity": v, "pass": ok, "pct": rl})
    if args.dt_check is not None:
        a = np.concatenate([_mw(_run_dir(out, args.dt_check, s, False)) for s in args.seeds])
        b = np.concatenate([_mw(_run_dir(out, args.dt_check, s, True)) for s in args.seeds])
        p = float(ks_2samp(a, b).pvalue)
        print(f"\nMw of seeds {args.seeds} at {args.dt_check:g} m/s, dt_safety vs dt_safety/2: "
              f"n = {a.size} vs {b.size}, KS p = {p:.3g} ({'indistinguishable' if p > 0.05 else 'DIFFERENT'} at 0.05)")
        summary["dt_check"] = {"velocity": args.dt_check, "n": [int(a.size), int(b.size)], "ks_p": p}
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
