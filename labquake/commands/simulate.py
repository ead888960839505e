"""``labquake simulate CONFIG.toml --out DIR [--resume] [--threads N]``."""

from __future__ import annotations

import argparse

HELP = "run one triaxial saw-cut stick-slip simulation into a run directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="run config (TOML), e.g. simulations/quick.toml")
    parser.add_argument("--out", required=True, help="run directory to write (must not exist, unless --resume)")
    parser.add_argument("--resume", action="store_true", help="continue a killed run from its last checkpoint")
    parser.add_argument("--threads", type=int, default=1, help="engine threads (default 1); N > 1 forces the threaded force path; the catalog does not depend on it")
    parser.add_argument("--seed", type=int, default=None, help="override the config's seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from labquake.sim.config import load_config, resolve_config
    from labquake.errors import ConfigError
    from labquake.sim.experiment import simulate

    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    cfg = load_config(args.config)
    if args.seed is not None:
        cfg["seed"] = args.seed
        cfg = resolve_config(cfg)
    rd = simulate(cfg, args.out, resume=args.resume, progress=not args.quiet, n_threads=args.threads)
    meta = rd.read_meta()
    peak = meta.get("peak_differential_stress")
    print(
        f"{rd.path}: {meta['status']}, {meta.get('steps', 0)} steps, stop: {meta.get('stop_reason', '?')}, "
        f"peak {peak / 1e6 if peak else float('nan'):.1f} MPa, drop {meta.get('stress_drop', 0.0) / 1e6:.1f} MPa, "
        f"{meta['counts'].get('cracks', 0)} cracks ({meta.get('crack_counts', {}).get('fault', 0)} fault), "
        f"{meta['counts'].get('events', 0)} AE events, {meta.get('wall_time_s', 0.0):.1f} s"
    )
    return 0
