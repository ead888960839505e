"""Does the energy budget close? Issue 12's energy acceptance, from run directories.

For each run directory (simulated runs with ``energy.parquet``) prints:

* the whole run: the final boundary work W and the largest |residual| over the run, as a
  share of W (acceptance: < 1 %);
* the mainshock window (``slips.parquet``: the row marked ``is_mainshock``, else the
  largest ``static_drop``; without slips, the largest kinetic-energy event, from the last
  quiet sample before its peak to the first after it): the change of the residual as a
  share of the energy dissipated in the window (friction + damping + bond breaks;
  acceptance: < 5 %), and the event's radiated energy, seismic efficiency and apparent
  stress (:func:`labquake.sim.energy.event_energetics`, fault area π R²/sin θ of the saw-cut).

Usage::

    python analysis/energy_closure.py RUN_DIR [RUN_DIR ...] [--json OUT.json]

Exit status 1 if a run misses either acceptance.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from labquake.sim.energy import event_energetics
from labquake.errors import LabquakeError
from labquake.io.rundir import RunDirectory


def _window(run: RunDirectory, e) -> tuple[int, int, float, str]:
    if run.has_table("slips"):
        s = run.read_table("slips")
        if len(s):
            row = s[s["is_mainshock"]].iloc[0] if s["is_mainshock"].any() else s.loc[s["static_drop"].idxmax()]
            return int(row["step_start"]), int(row["step_end"]), float(row["slip"]), "slips.parquet mainshock"
    ke = e["kinetic_energy"].to_numpy()
    k = int(np.argmax(ke))
    quiet = ke < 0.05 * ke[k]
    i0 = int(np.flatnonzero(quiet[:k])[-1]) if quiet[:k].any() else 0
    i1 = k + int(np.argmax(quiet[k:])) if quiet[k:].any() else len(ke) - 1
    return int(e["step"].iloc[i0]), int(e["step"].iloc[i1]), float("nan"), "largest kinetic-energy event"


def closure(path: str) -> dict:
    run = RunDirectory(path)
    e = run.read_table("energy")
    cfg = run.read_config()
    w = float(e["boundary_work"].iloc[-1])
    worst = float(np.max(np.abs(e["residual"])))
    s0, s1, slip, source = _window(run, e)
    radius = 0.5 * cfg["specimen"]["diameter"]
    area = math.pi * radius * radius / math.sin(math.radians(cfg["fault"]["angle_deg"]))
    ev = event_energetics(e, s0, s1, slip, area)
    lost = ev["dissipated_energy"] + ev["damping_dissipation"]
    out = {"run": str(run.path), "steps": int(e["step"].iloc[-1]), "boundary_work": w, "max_abs_residual": worst,
           "run_share": worst / abs(w), "window": [s0, s1], "window_source": source, "window_dissipated": lost,
           "window_residual": ev["residual_change"], "window_share": abs(ev["residual_change"]) / lost if lost > 0 else math.inf,
           "window_boundary_work": ev["boundary_work"], "window_released_strain_energy": ev["released_strain_energy"],
           **{k: ev[k] for k in ("radiated_energy", "seismic_efficiency", "apparent_stress")}}
    out["ok"] = out["run_share"] < 0.01 and out["window_share"] < 0.05
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    try:
        rows = [closure(p) for p in args.runs]
    except LabquakeError as exc:
        print(f"energy_closure: error: {exc}", file=sys.stderr)
        return 2
    for r in rows:
        print(f"{r['run']}: {r['steps']} steps, W = {r['boundary_work']:.4g} J, max |residual| {r['max_abs_residual']:.3g} J "
              f"= {100 * r['run_share']:.3g} % of W")
        print(f"  {r['window_source']} steps {r['window'][0]}-{r['window'][1]}: dissipated {r['window_dissipated']:.4g} J, "
              f"residual change {r['window_residual']:.3g} J = {100 * r['window_share']:.3g} % of it; "
              f"E_R {r['radiated_energy']:.3g} J, efficiency {r['seismic_efficiency']:.3g}, "
              f"apparent stress {r['apparent_stress'] / 1e6:.3g} MPa  {'ok' if r['ok'] else 'FAILS'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
