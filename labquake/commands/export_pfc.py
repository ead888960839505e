"""``labquake export-pfc RUN_DIR --out DIR``: a run directory → PFC3D layouts."""

from __future__ import annotations

import argparse

HELP = "export a run directory in the PFC3D file layouts (import-pfc reads them back)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run directory to export")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to create for the PFC3D files")
    parser.add_argument("--run-id", type=int, default=1, metavar="N", help="run number in the file names (default 1)")
    parser.add_argument("--plain", action="store_true",
                        help="reference columns only (no labquake extra columns, no cb broken-flag files)")
    parser.add_argument("--trial-size", type=int, default=None, metavar="N",
                        help="split the monitored contacts into trials of N contacts (default: one trial)")
    parser.add_argument("--digits", type=int, default=None, metavar="N",
                        help="round floats to N significant digits like PFC's text output (default: exact)")
    parser.add_argument("--force", action="store_true", help="replace DIR if it already exists")


def run(args: argparse.Namespace) -> int:
    from labquake.io.pfc3d.export import export_pfc

    report = export_pfc(args.run_dir, args.out, run_id=args.run_id, plain=args.plain,
                        trial_size=args.trial_size, digits=args.digits, force=args.force)
    print(report)
    return 0
