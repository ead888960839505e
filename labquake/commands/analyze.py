"""``labquake analyze CAMPAIGN_DIR``: the macro-scale analysis of every run of a campaign."""

from __future__ import annotations

import argparse

HELP = "segment, compute b/D2, build clouds, distances and trees, and compare Tf with Tm (B_k) for a campaign"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from labquake.analysis.distances import METRICS
    from labquake.analysis.trees import LINKAGES, NULLS

    parser.add_argument("campaign_dir", help="campaign directory holding run directories")
    parser.description = (f"{HELP}. Options not given on the command line default to the campaign's own "
                          "[campaign.analysis] table (campaign.toml), then to the values shown.")
    parser.add_argument("--metrics", default=None,
                        help=f"comma-separated distance metrics (of {', '.join(METRICS)}; default hausdorff,chamfer,emd)")
    parser.add_argument("--method", default=None, choices=LINKAGES, help="linkage method (default single)")
    parser.add_argument("--null", default=None, choices=NULLS, help="null for the B_k p-values (default permutation)")
    parser.add_argument("--n-perm", type=int, default=None, help="null draws (default 1000)")
    parser.add_argument("--seed", type=int, default=None, help="seed of every random choice (default 0)")
    parser.add_argument("--bandwidth", default=None,
                        help="KDF bandwidth in steps, or isj / silverman / scott (default 2000)")
    parser.add_argument("--grid", type=float, default=None, help="KDF grid spacing in steps (default 20)")
    parser.add_argument("--prominence", type=float, default=None,
                        help="minimum depth of an episode boundary, in lone-event bump heights (default 0.05)")
    parser.add_argument("--min-events", type=int, default=None, help="exclude runs with a smaller cloud (default 2)")
    parser.add_argument("--n-boot", type=int, default=None, help="bootstrap resamples for b-value errors (default 200)")
    parser.add_argument("--paper-quirks", action="store_true",
                        help="reproduce the reference code's two cloud-feature quirks")
    parser.add_argument("--square-quirk", action="store_true",
                        help="link the square distance matrices as observations (reference code quirk)")
    parser.add_argument("--jobs", type=int, default=None, help="threads for the distance matrices (default: all cores)")
    parser.add_argument("--per-cycle", action="store_true", default=None,
                        help="make each (run, stick-slip cycle) a leaf of the trees instead of each run "
                             "(analysis/cycles.parquet is written either way)")
    parser.add_argument("--no-figures", action="store_true", help="write the tables only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


#: built-in defaults of the options a campaign's [campaign.analysis] table may set
_DEFAULTS = {"metrics": "hausdorff,chamfer,emd", "method": "single", "null": "permutation", "n_perm": 1000, "seed": 0,
             "bandwidth": "2000", "grid": 20.0, "prominence": 0.05, "min_events": 2, "n_boot": 200,
             "per_cycle": False}


def _campaign_analysis_options(campaign_dir: str) -> dict:
    """The ``[campaign.analysis]`` table of ``CAMPAIGN_DIR/campaign.toml`` (empty if none)."""
    from pathlib import Path

    from labquake.campaign import check_campaign_options
    from labquake.errors import ConfigError
    from labquake.io.rundir import read_toml

    spec = Path(campaign_dir) / "campaign.toml"
    if not spec.is_file():
        return {}
    camp = read_toml(spec).get("campaign", {})
    options = camp.get("analysis", {}) if isinstance(camp, dict) else {}
    if not isinstance(options, dict):
        raise ConfigError(f"{spec}: [campaign.analysis] must be a table of keyword arguments")
    options = check_campaign_options("analysis", options, lambda msg: ConfigError(f"{spec}: {msg}"))
    if isinstance(options.get("metrics"), (list, tuple)):
        options["metrics"] = ",".join(options["metrics"])
    return {k: v for k, v in options.items() if k in _DEFAULTS}


def _number(text: str):
    try:
        v = float(text)
    except ValueError:
        return text
    return int(v) if v.is_integer() else v


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from labquake.errors import ConfigError
    from labquake.analysis.pipeline import analyze_campaign

    from_campaign = _campaign_analysis_options(args.campaign_dir)
    for key, default in _DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, from_campaign.get(key, default))
    if from_campaign:
        print(f"{args.campaign_dir}: using the campaign's analysis options {from_campaign} where not given")
    if args.n_perm < 1:
        raise ConfigError(f"--n-perm must be >= 1, got {args.n_perm}")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    grid = _number(str(args.grid))
    bandwidth = _number(str(args.bandwidth))
    paths = analyze_campaign(
        args.campaign_dir, metrics=metrics, n_perm=args.n_perm, seed=args.seed, method=args.method, null=args.null,
        bandwidth=bandwidth, grid=grid, prominence=args.prominence, paper_quirks=args.paper_quirks,
        square_quirk=args.square_quirk, min_events=args.min_events, n_boot=args.n_boot, n_jobs=args.jobs,
        figures=not args.no_figures, progress=not args.quiet, per_cycle=bool(args.per_cycle),
    )
    runs = pd.read_parquet(paths["runs"])
    excluded = runs.loc[~runs["included"]]
    print(f"{args.campaign_dir}: {int(runs['included'].sum())} of {len(runs)} runs analysed")
    for _, r in excluded.iterrows():
        print(f"  excluded {r['run']}: {r['reason']}")
    if "bk" in paths:
        bk = pd.read_parquet(paths["bk"])
        for metric, g in bk.groupby("metric", sort=False):
            sig = g.loc[g["p_holm"] < 0.05, "k"].tolist()
            print(f"  {metric}: B_k significant (Holm p < 0.05) at k = {sig if sig else 'none'}")
    if "cycles" in paths:
        for line in _cycles_lines(pd.read_parquet(paths["cycles"]), bool(args.per_cycle)):
            print(f"  {line}")
    tables = sorted(p for k, p in paths.items() if not k.startswith("fig_"))
    figs = sorted(p for k, p in paths.items() if k.startswith("fig_"))
    print(f"  wrote {len(tables)} tables under {tables[0].parent if tables else '-'}"
          + (f" and {len(figs)} figures under {figs[0].parent}" if figs else ""))
    return 0


def _cycles_lines(cycles, per_cycle: bool) -> list[str]:
    """What ``analysis/cycles.parquet`` holds, in a few lines."""
    import math

    from labquake.analysis.cycle_stats import cycles_summary

    s = cycles_summary(cycles)
    if not s["n_cycles"]:
        return [f"cycles: no complete stick-slip cycle in {s['n_runs']} run(s) (analysis/cycles.parquet is empty)"]

    def num(v: float) -> str:
        return "n/a" if math.isnan(v) else f"{v:.2f}"

    out = [f"cycles: {s['n_cycles']} complete cycle(s) in {s['n_runs']} run(s), at most {s['max_cycles']} per run; "
           f"{s['n_intervals']} recurrence interval(s), recurrence CV {num(s['recurrence_cv'])}, "
           f"stress-drop CV {num(s['drop_cv'])} (within-run)"]
    if s["n_b_nan"] or s["n_d2_nan"]:
        top = sorted(s["reasons"].items(), key=lambda kv: -kv[1])[:3]
        out.append(f"cycles too small: b NaN in {s['n_b_nan']}, D2 NaN in {s['n_d2_nan']} "
                   f"({'; '.join(f'{n}x {r}' for r, n in top)})")
    if per_cycle:
        out.append(f"trees: {int(cycles['in_trees'].sum())} (run, cycle) leaves of {len(cycles)} cycle(s)")
    elif s["max_cycles"] > 1:
        out.append("note: runs with several cycles enter the run-level trees as one whole-run catalog; "
                   "--per-cycle makes each (run, cycle) a leaf")
    return out
