"""Wall time and peak memory of one simulation of each preset (issue 3 performance targets).

Each preset runs in a fresh child process on one thread (numba's compiled kernels come
from the on-disk cache; a first run after a code change also pays the compilation, which
is reported separately as ``compile`` by a warm-up run of a tiny config).

Targets: paper preset through its mainshock <= 180 s on one core with peak memory
< 1 GB; quick preset < 30 s.

    python benchmarks/simulation_presets.py [--presets quick paper]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time, resource
from labquake.sim.config import load_config
from labquake.sim.experiment import simulate
cfg = load_config(sys.argv[1])
t = time.perf_counter()
run = simulate(cfg, sys.argv[2], progress=False, n_threads=1)
wall = time.perf_counter() - t
m = run.read_meta()
print(json.dumps({"wall": wall, "steps": m["steps"], "stop": m["stop_reason"], "particles": m["specimen"]["n_particles"],
                  "peak_mpa": m["peak_differential_stress"] / 1e6, "drop_mpa": m["stress_drop"] / 1e6,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_preset(path: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(Path(tmp) / "run")], cwd=ROOT,
                             capture_output=True, text=True, env=None)
        total = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"{path.name} failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_wall"] = total
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", nargs="+", default=["quick", "paper"])
    args = ap.parse_args()
    print(f"{'preset':>7} {'particles':>9} {'steps':>7} {'simulate s':>10} {'process s':>9} {'steps/s':>8} "
          f"{'peak RSS MB':>11} {'peak MPa':>8} {'drop MPa':>8} stop")
    for name in args.presets:
        r = run_preset(ROOT / "simulations" / f"{name}.toml")
        print(f"{name:>7} {r['particles']:>9} {r['steps']:>7} {r['wall']:>10.1f} {r['process_wall']:>9.1f} "
              f"{r['steps'] / r['wall']:>8.0f} {r['rss_mb']:>11.0f} {r['peak_mpa']:>8.1f} {r['drop_mpa']:>8.1f} {r['stop']}")
    print("targets: paper <= 180 s and < 1024 MB; quick < 30 s (one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
