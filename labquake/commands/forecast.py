"""``labquake forecast CAMPAIGN_DIR``: next-record bounds, precursors, time to failure and
2-of-3 consensus detection, each scored against its baseline (:mod:`labquake.analysis.forecast`)."""

from __future__ import annotations

import argparse

HELP = "score EVT record bounds, strain precursors, time-to-failure regression and 2-of-3 detection against baselines"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign_dir", help="campaign directory holding run directories (or the Okubo FB03-087 data directory)")
    parser.add_argument("--okubo", default=None, metavar="DIR",
                        help="also score the Okubo FB03-087 laboratory data in DIR (e.g. tests/data/okubo-4m-fb03-087)")
    parser.add_argument("--out", default=None, help="output directory (default CAMPAIGN_DIR/forecast)")
    parser.add_argument("--alpha", type=float, default=0.1, help="1 - alpha is the nominal coverage of the EVT bounds (default 0.1)")
    parser.add_argument("--group-by", default="run", choices=("run", "cycle"),
                        help="cross-validation groups of the time-to-failure regression (default run)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--jobs", type=int, default=None, help="processes for the time-to-failure folds (default 1)")
    parser.add_argument("--no-figures", action="store_true", help="write skill.json and the tables only")
    parser.add_argument("--report", action="store_true",
                        help="then rewrite CAMPAIGN_DIR/report.html, which shows the forecasts in its own section")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3g}"


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from labquake.errors import ConfigError
    from labquake.analysis.forecast import METHODS, forecast_campaign

    if not 0.0 < args.alpha < 1.0:
        raise ConfigError(f"--alpha must be in (0, 1), got {args.alpha}")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    if args.report and args.out is not None and \
            Path(args.out).resolve() != (Path(args.campaign_dir) / "forecast").resolve():
        raise ConfigError("--report shows CAMPAIGN_DIR/forecast in the report; drop --out to use it")
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(desc="read runs", unit="run", leave=False, disable=None)  # None: only on a terminal
    try:
        paths = forecast_campaign(args.campaign_dir, okubo=args.okubo, out=args.out, alpha=args.alpha,
                                  group_by=args.group_by, seed=args.seed, figures=not args.no_figures,
                                  n_jobs=args.jobs,
                                  progress=(lambda name: bar.update(1)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    doc = json.loads(paths["skill"].read_text(encoding="utf-8"))
    meta = doc["_meta"]
    if not args.quiet:
        for name, why in meta.get("excluded_runs", {}).items():
            print(f"  excluded {name}: {why}")
    print(f"{'method':<10} {'data':<10} {'score':>8} {'baseline':>9}  {'n':>6}  what")
    for m in METHODS:
        for data, e in doc[m].items():
            if not e.get("applies", True):
                print(f"{m:<10} {data:<10} {'–':>8} {'–':>9}  {'–':>6}  does not apply: {e['reason']}")
                continue
            arrow = "higher" if e["higher_is_better"] else "lower"
            print(f"{m:<10} {data:<10} {_fmt(e['score']):>8} {_fmt(e['baseline']):>9}  {e['n']:>6}  "
                  f"{e['score_name']} ({arrow} is better) vs {e['baseline_name']}; n in {e['n_unit']}")
    print(f"  wrote {paths['skill']} and {len(paths) - 1} figures and tables in {meta['wall_s']:.1f} s")
    if args.report:
        from labquake.report import write_report

        print(f"  report: {write_report(args.campaign_dir)}")
    return 0
