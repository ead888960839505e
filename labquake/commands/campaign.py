"""``labquake campaign SPEC --out DIR``: simulate a campaign on dask, analyse it, write report.html."""

from __future__ import annotations

import sys
import time

HELP = "run a campaign of simulations on dask, analyse it and write report.html"


def add_arguments(parser) -> None:
    parser.add_argument("spec", help="campaign spec (TOML: a run config plus a [campaign] table)")
    parser.add_argument("--out", metavar="DIR", help="campaign directory (default: runs/<campaign name>); a rerun skips its complete runs")
    parser.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="address of a running dask scheduler, e.g. tcp://host:8786, whose workers see DIR at the same path "
        "(default: a local cluster on 127.0.0.1)",
    )
    parser.add_argument("--workers", type=int, metavar="N", help="workers of the local cluster (default: one per CPU core)")
    parser.add_argument("--retries", type=int, metavar="N", help="times a run is retried after its worker died (local cluster; default: the spec's, else 2)")
    parser.add_argument("--no-analysis", action="store_true", help="simulate only: skip the analysis (the report is still written)")
    parser.add_argument("--no-report", action="store_true", help="do not write report.html")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from labquake.campaign import load_campaign, run_campaign
    from labquake.errors import ConfigError

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.retries is not None and not 0 <= args.retries <= 20:
        raise ConfigError(f"--retries must be from 0 to 20, got {args.retries}")
    if args.scheduler and args.workers is not None:
        raise ConfigError("--workers sizes the local cluster; with --scheduler the cluster's own workers are used")

    t0 = time.perf_counter()
    spec = load_campaign(args.spec)
    print(f"campaign {spec.name}: {len(spec.runs)} runs from {args.spec}", flush=True)
    try:
        res = run_campaign(
            spec, args.out, scheduler=args.scheduler, n_workers=args.workers, retries=args.retries,
            analysis=not args.no_analysis, report=not args.no_report, progress=not args.quiet,
            log=lambda msg: print(msg, flush=True),
        )
    except KeyboardInterrupt:
        print(
            "labquake: interrupted; complete runs are kept, rerun the same command to resume the others",
            file=sys.stderr,
        )
        return 130
    wall = time.perf_counter() - t0
    print(f"\nwall time {_hms(wall)}")
    for stage, secs in res.stages.items():
        note = "  (skipped, see above)" if stage in res.stage_errors else ""
        print(f"  {stage:<10} {_hms(secs):>9}{note}")
    n_ok = sum(1 for s in res.status.values() if s == "complete")
    print(f"runs: {n_ok} of {len(res.status)} complete in {res.out}")
    if res.report is not None:
        print(f"report: {res.report.resolve()}")
    return 0 if res.ok else 1


def _hms(secs: float) -> str:
    m, s = divmod(secs, 60)
    h, m = divmod(int(m), 60)
    if h:
        return f"{h}h{m:02d}m{s:04.1f}s"
    if m:
        return f"{m}m{s:04.1f}s"
    return f"{s:.1f}s"
