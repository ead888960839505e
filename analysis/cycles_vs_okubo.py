"""A cycles campaign beside the Okubo FB03-087 laboratory fault (issue 13): a markdown table.

Prints, for the simulated campaign and for the real 4 m laboratory fault of Okubo et al.
(FB03-087, 56 stick-slips), side by side: the recurrence CV and the stress-drop CV (each
value over its run's mean, since the scales differ), the share of cycles with foreshocks,
the foreshock count distribution, and how the KDE segmentation behaves on each cycle.
The numbers are printed whether they agree or not. Definitions: ``docs/cycles.md``.

Usage::

    python analysis/cycles_vs_okubo.py CAMPAIGN_DIR [--okubo tests/data/okubo-4m-fb03-087]
                                       [--include-first] [--okubo-bandwidth 0.15]

The simulated cycles are read from ``CAMPAIGN_DIR/analysis/cycles.parquet`` (written by
``labquake analyze``); without it they are computed here with the default analysis
settings. Only cycles between two stick-slips are compared (the Okubo record's 55; each
run's first cycle, from the start of loading, only with ``--include-first``). A bad
directory, a campaign without such a cycle or an unreadable table is one line on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

import pandas as pd  # noqa: E402

from labquake.analysis import cycle_stats as cs  # noqa: E402
from labquake.errors import InsufficientDataError, LabquakeError, RunStateError, SchemaError  # noqa: E402

DEFAULT_OKUBO = ROOT.parent / "tests" / "data" / "okubo-4m-fb03-087"


def simulated_cycles(campaign: Path) -> tuple[pd.DataFrame, str]:
    """The campaign's cycles table and where it came from."""
    if not campaign.is_dir():
        raise RunStateError(f"{campaign}: campaign directory not found")
    path = campaign / "analysis" / "cycles.parquet"
    if path.is_file():
        try:
            table = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - any damage is one line
            raise SchemaError(f"{path}: not a readable parquet file ({type(exc).__name__}); rerun labquake analyze") from None
        missing = [c for c in cs.CYCLE_COLUMNS if c not in table.columns]
        if missing:
            raise SchemaError(f"{path}: lacks columns {missing}; rerun labquake analyze")
        return table, str(path)
    table, _, _ = cs.campaign_cycles(campaign, n_boot=0)
    return table, f"computed here from the runs of {campaign} (no analysis/cycles.parquet)"


def markdown(table: pd.DataFrame, sim_name: str) -> str:
    rows = [f"| quantity | {sim_name} | Okubo FB03-087 | how |", "|---|---:|---:|---|"]
    for r in cs.format_comparison(table).itertuples(index=False):
        rows.append(f"| {r.quantity} | {r.simulated} | {r.okubo} | {r.how} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaign", help="campaign directory (its analysis/cycles.parquet, or its runs)")
    ap.add_argument("--okubo", default=str(DEFAULT_OKUBO), help="the Okubo FB03-087 data set directory")
    ap.add_argument("--include-first", action="store_true",
                    help="also compare each run's first cycle (from the start of loading)")
    ap.add_argument("--okubo-bandwidth", type=float, default=cs.OKUBO_BANDWIDTH,
                    help=f"KDE bandwidth for the Okubo picks, s (default {cs.OKUBO_BANDWIDTH})")
    args = ap.parse_args(argv)
    cmd = "python analysis/cycles_vs_okubo.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    campaign = Path(args.campaign)
    try:
        cycles, source = simulated_cycles(campaign)
        sim = cs.comparison_set(cycles, include_first=args.include_first)
        n = int(cycles["complete"].astype(bool).sum()) if len(cycles) else 0
        if not n:
            raise InsufficientDataError(f"{campaign}: no complete stick-slip cycle in any run, so nothing to compare; "
                                        "check that the runs reached a stick-slip (slips.parquet)")
        if not len(sim):
            raise InsufficientDataError(
                f"{campaign}: no complete cycle between two stick-slips to compare ({n} complete cycle(s), each the "
                "first of its run); simulate a cycles campaign, or pass --include-first")
        lab = cs.okubo_cycles(args.okubo, bandwidth=args.okubo_bandwidth, grid=args.okubo_bandwidth / 100.0)
        table = cs.compare_cycles(sim, lab)
    except LabquakeError as exc:
        print(f"cycles_vs_okubo: error: {exc}", file=sys.stderr)
        return 2
    print(f"# Stick-slip cycles: {campaign.name} beside Okubo FB03-087\n")
    print(f"Command: `{cmd}`\n")
    print(f"Simulated cycles: {source}; {len(sim)} compared in {sim['run'].nunique()} run(s)"
          f"{' (first cycles included)' if args.include_first else ''}. Okubo: {args.okubo} "
          f"(55 cycles between its 56 stick-slips; KDE σ = {args.okubo_bandwidth:g} s).\n")
    print(markdown(table, campaign.name))
    print("\nDefinitions: docs/cycles.md. The figures are printed whether they agree or not.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
