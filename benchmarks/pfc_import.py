"""Benchmark: import a paper-size PFC3D export (about 1e4 cracks, 1e3 events, 100 monitored
contacts × 4e4 samples, i.e. 14 history files of 4e4 × 101 numbers) into a run directory.

The input is a seeded synthetic run (``labquake.io.pfc3d.synthetic``) exported with
``labquake.io.pfc3d.export`` (reference layouts, single-space separated, shortest
round-trip numbers). Only the import is timed: parsing, validation and writing the run
directory. Target: <= 10 s.

    python benchmarks/pfc_import.py [--workdir DIR] [--repeat 3] [--plain]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one, removed after)")
    ap.add_argument("--repeat", type=int, default=3, help="timed imports (the best is reported)")
    ap.add_argument("--plain", action="store_true", help="export the reference columns only")
    ap.add_argument("--digits", type=int, default=7,
                    help="significant digits of the exported numbers, like PFC's text output (0: exact)")
    ap.add_argument("--reuse", action="store_true", help="reuse WORKDIR/pfc from an earlier run")
    ap.add_argument("--budget", type=float, default=10.0, help="target seconds (exit 1 when exceeded)")
    args = ap.parse_args(argv)

    from labquake.io.pfc3d import PfcImportWarning, import_pfc
    from labquake.io.pfc3d.export import export_pfc
    from labquake.io.pfc3d.synthetic import PAPER_SIZE, make_synthetic_run

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="lq-pfc-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if not (args.reuse and (work / "pfc" / "pfc.toml").exists()):
            t0 = time.perf_counter()
            shutil.rmtree(work / "orig", ignore_errors=True)
            make_synthetic_run(work / "orig", seed=487, **PAPER_SIZE)
            t1 = time.perf_counter()
            export_pfc(work / "orig", work / "pfc", run_id=487, plain=args.plain, digits=args.digits or None,
                       force=True)
            t2 = time.perf_counter()
            print(f"setup: synthetic run {t1 - t0:.1f} s, export {t2 - t1:.1f} s")
        size = sum(p.stat().st_size for p in (work / "pfc").iterdir())
        print(f"input: {len(list((work / 'pfc').iterdir()))} files, {size / 1e6:.0f} MB of text "
              f"({'exact' if not args.digits else f'{args.digits} significant digits'})")
        times = []
        for i in range(args.repeat):
            out = work / f"imported{i}"
            shutil.rmtree(out, ignore_errors=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PfcImportWarning)
                s = time.perf_counter()
                report = import_pfc(work / "pfc", out)
                times.append(time.perf_counter() - s)
            shutil.rmtree(out, ignore_errors=True)
        counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
        best = min(times)
        print(f"import ({counts}): best {best:.2f} s of {', '.join(f'{t:.2f}' for t in times)} "
              f"(target <= {args.budget:g} s)")
        return 0 if best <= args.budget else 1
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
