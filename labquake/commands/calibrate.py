"""``labquake calibrate CONFIG --out DIR [--seeds 1 2 3] [--tests ucs,tension,triaxial]``."""

from __future__ import annotations

import argparse

HELP = "run intact-rock calibration tests (UCS, direct tension, triaxial) on the unfaulted cylinder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{HELP}. The loading protocol comes from the config's optional [calibration] table "
        "(see labquake.sim.calibrate.CalibrationSettings); a rerun with the same --out skips complete tests "
        "and resumes a killed one from its checkpoint.")
    parser.add_argument("config", help="run config (TOML), e.g. simulations/paper.toml")
    parser.add_argument("--out", required=True, metavar="DIR", help="calibration directory (new, or one to resume)")
    parser.add_argument("--seeds", nargs="+", default=None, metavar="SEED",
                        help="specimen seeds (default: the config's seed); the properties are averaged over them")
    parser.add_argument("--tests", default="ucs,tension,triaxial",
                        help="comma-separated tests: ucs, tension, triaxial (all confinements) or triaxial<S> "
                             "(S in MPa, e.g. triaxial30); default ucs,tension,triaxial")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="tests run at once in separate processes (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from labquake.sim.calibrate import calibrate, load_calibration_config, parse_seeds, parse_tests
    from labquake.errors import ConfigError

    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    cfg, settings = load_calibration_config(args.config)
    parse_tests(args.tests, settings)  # names checked before anything is written
    doc = calibrate(cfg, args.out, seeds=seeds, tests=args.tests, settings=settings, progress=not args.quiet,
                    jobs=args.jobs)
    print(f"{args.out}: {len(doc['per_test'])} tests x seeds in {doc['wall_time_s']:.0f} s")
    for name, e in doc["properties"].items():
        if e["mean"] is None:
            continue
        flag = "" if "within_target" not in e else ("  (target " + e["target"]["text"] + ": "
                                                    + ("in" if e["within_target"] else "OUT") + ")")
        print(f"  {name:20s} {e['mean']:10.3f}{flag}")
    print(f"  wrote {args.out}/calibration.json, calibration.md, calibration.parquet, stress_strain.png")
    return 0
