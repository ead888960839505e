"""``labquake render RUN_DIR --step N --out file.png``: a 3D picture of a snapshot."""

from __future__ import annotations

import time
from pathlib import Path

HELP = "render a snapshot's contact-force network (with fault, cracks, AE events) to PNG, off-screen"


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory (with snapshots/)")
    parser.add_argument("--step", type=int, required=True, metavar="N",
                        help="step of the snapshot (see snapshots/snapshot_<step>.vtm)")
    parser.add_argument("--out", required=True, metavar="FILE.png", help="PNG file to write")
    parser.add_argument("--force", choices=("normal", "shear", "total"), default="total",
                        help="force magnitude that sets tube size and colour (default: total)")
    parser.add_argument("--particles", action="store_true", help="also draw the particles (translucent)")
    parser.add_argument("--no-events", action="store_true", help="do not draw AE events")
    parser.add_argument("--no-cracks", action="store_true", help="do not draw cracks")
    parser.add_argument("--size", default="1000x1000", metavar="WxH", help="image size in pixels (default 1000x1000)")


def _size(text: str) -> tuple[int, int]:
    from labquake.errors import ConfigError

    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like 1000x800, got {text!r}") from None
    if not (16 <= w <= 8000 and 16 <= h <= 8000):
        raise ConfigError(f"--size must be between 16 and 8000 pixels each way, got {text!r}")
    return w, h


def run(args) -> int:
    from labquake.errors import OutputError, RunStateError

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise RunStateError(f"{run_dir}: run directory not found")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise OutputError(f"{out}: --out must name a .png file")
    size = _size(args.size)
    from labquake.viz.scene import render_run

    t0 = time.perf_counter()
    path = render_run(run_dir, args.step, out, force=args.force, particles=args.particles,
                      events=not args.no_events, cracks=not args.no_cracks, window_size=size)
    print(f"wrote {path} ({time.perf_counter() - t0:.1f} s)")
    return 0
