"""``labquake analyze CAMPAIGN_DIR``: the macro-scale analysis of every run of a campaign."""

from __future__ import annotations

import argparse

HELP = "segment, compute b/D2, build clouds, distances and trees, and compare Tf with Tm (B_k) for a campaign"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from labquake.distances import METRICS
    from labquake.trees import LINKAGES, NULLS

    parser.add_argument("campaign_dir", help="campaign directory holding run directories")
    parser.add_argument("--metrics", default="hausdorff,chamfer,emd",
                        help=f"comma-separated distance metrics (of {', '.join(METRICS)}; default hausdorff,chamfer,emd)")
    parser.add_argument("--method", default="single", choices=LINKAGES, help="linkage method (default single)")
    parser.add_argument("--null", default="permutation", choices=NULLS, help="null for the B_k p-values (default permutation)")
    parser.add_argument("--n-perm", type=int, default=1000, help="null draws (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--bandwidth", default="2000",
                        help="KDF bandwidth in steps, or isj / silverman / scott (default 2000)")
    parser.add_argument("--grid", type=float, default=20, help="KDF grid spacing in steps (default 20)")
    parser.add_argument("--prominence", type=float, default=0.05,
                        help="minimum depth of an episode boundary, in lone-event bump heights (default 0.05)")
    parser.add_argument("--min-events", type=int, default=2, help="exclude runs with a smaller cloud (default 2)")
    parser.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples for b-value errors (default 200)")
    parser.add_argument("--paper-quirks", action="store_true",
                        help="reproduce the reference code's two cloud-feature quirks")
    parser.add_argument("--square-quirk", action="store_true",
                        help="link the square distance matrices as observations (reference code quirk)")
    parser.add_argument("--jobs", type=int, default=None, help="threads for the distance matrices (default: all cores)")
    parser.add_argument("--no-figures", action="store_true", help="write the tables only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _number(text: str):
    try:
        v = float(text)
    except ValueError:
        return text
    return int(v) if v.is_integer() else v


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from labquake.errors import ConfigError
    from labquake.pipeline import analyze_campaign

    if args.n_perm < 1:
        raise ConfigError(f"--n-perm must be >= 1, got {args.n_perm}")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    grid = _number(str(args.grid))
    paths = analyze_campaign(
        args.campaign_dir, metrics=metrics, n_perm=args.n_perm, seed=args.seed, method=args.method, null=args.null,
        bandwidth=_number(args.bandwidth), grid=grid, prominence=args.prominence, paper_quirks=args.paper_quirks,
        square_quirk=args.square_quirk, min_events=args.min_events, n_boot=args.n_boot, n_jobs=args.jobs,
        figures=not args.no_figures, progress=not args.quiet,
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
    tables = sorted(p for k, p in paths.items() if not k.startswith("fig_"))
    figs = sorted(p for k, p in paths.items() if k.startswith("fig_"))
    print(f"  wrote {len(tables)} tables under {tables[0].parent if tables else '-'}"
          + (f" and {len(figs)} figures under {figs[0].parent}" if figs else ""))
    return 0
