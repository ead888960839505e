"""``labquake import-pfc SRC_DIR --out RUN_DIR``: PFC3D exports → a run directory."""

from __future__ import annotations

import argparse
import warnings

HELP = "import PFC3D exports (cracks, events, contact and stress histories) into a run directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", metavar="SRC_DIR", help="folder holding the PFC3D export files")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to create")
    parser.add_argument("--run-id", type=int, default=None, metavar="N",
                        help="run number in the file names (e.g. 487 for crk487-1.txt); default: the only one found")
    parser.add_argument("--dt", type=float, default=None, metavar="SECONDS",
                        help="PFC time step (default 1e-7 s, or dt from the config)")
    parser.add_argument("--contact-interval", type=int, default=None, metavar="STEPS",
                        help="steps between contact-history samples when the files do not say (default 20)")
    parser.add_argument("--config", default=None, metavar="pfc.toml",
                        help="import settings (fault geometry and strength, units, extra columns); "
                             "default SRC_DIR/pfc.toml if present")
    parser.add_argument("--force", action="store_true", help="replace RUN_DIR if it already exists")
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")


def run(args: argparse.Namespace) -> int:
    from labquake.io.pfc3d import PfcImportWarning, import_pfc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PfcImportWarning)  # they are listed in the report
        report = import_pfc(args.src, args.out, args.config, run_id=args.run_id, dt=args.dt,
                            contact_interval=args.contact_interval, force=args.force)
    if args.quiet:
        counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
        print(f"imported {args.src} into {args.out}: {counts}; {len(report.warnings)} warning(s)")
    else:
        print(report)
    return 0
