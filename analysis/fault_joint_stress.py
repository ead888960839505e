"""How far do the fault's smooth joints stay from tension? From a run's monitored contacts.

The reference's fault cracks are 12–23 % tensile; ours are all shear (issue 11,
``docs/stick-slip.md``). This script measures the margin from what every run records: the
monitored fault contacts (``monitored.parquet``, model ``smoothjoint``) and their normal
force every ``contact_interval`` steps (``contacts.parquet``), as stress on the fault's
contact area (``fault.contact_area``; force / area, compression positive). For each run
it prints:

* the mean normal stress of the monitored joints at the first and last record of the
  mainshock window (from ``--before`` steps before ``meta.json``'s ``peak_step`` to
  ``--after`` steps after it);
* over that window, each joint's lowest normal stress: its smallest value, 10 % quantile
  and median over the joints, how many go below zero and how many reach the fault's
  tensile strength (``fault.tensile_strength``, i.e. a stress of −σt);
* over the whole run, the 10 % quantile and median of each joint's lowest stress in bands
  of distance from the sample's axis (``--bands``, as fractions of the sample radius);
* the opening a joint at the median normal stress needs to reach −σt, (σ + σt) / kn with
  kn the joint's normal stiffness per area (``fault.kn_per_area``), and that opening as a
  strain across one mean grain diameter.

Usage::

    python analysis/fault_joint_stress.py RUN_OR_CAMPAIGN_DIR [...] [--before 500] [--after 6000]
        [--bands 0.5 0.75 0.9] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labquake.errors import LabquakeError  # noqa: E402
from labquake.io.rundir import RunDirectory, atomic_write_json, run_directories  # noqa: E402


def lowest_stress(con: pd.DataFrame, area: float) -> pd.Series:
    """Each contact's lowest normal stress (Pa, compression positive) over the rows of
    ``con`` (columns ``contact_id`` and ``fn``, N)."""
    return con.groupby("contact_id")["fn"].min() / area


def joint_stress_margin(rd: RunDirectory, before: int = 500, after: int = 6000,
                        bands: tuple[float, ...] = (0.5, 0.75, 0.9)) -> dict:
    """The tension margin of a run's monitored smooth joints (see the module docstring).

    Parameters
    ----------
    rd
        A complete run directory with ``monitored`` and ``contacts`` tables.
    before, after
        The mainshock window, in steps before and after ``peak_step`` of ``meta.json``.
    bands
        Inner edges (fractions of the sample radius) of the radial bands after the first.

    Returns
    -------
    dict
        Stresses in MPa; see the keys.
    """
    cfg = rd.read_config()
    meta = rd.read_meta()
    fault = cfg["fault"]
    area = float(fault["contact_area"])
    sigma_t = float(fault["tensile_strength"])
    kn = float(fault["kn_per_area"])
    radius = 0.5 * float(cfg["specimen"]["diameter"])
    grain = 0.5 * (float(cfg["specimen"]["d_min"]) + float(cfg["specimen"]["d_max"]))
    if "peak_step" not in meta:
        raise LabquakeError(f"{rd.path}: meta.json has no peak_step (did the run reach its axial loading?)")
    peak = int(meta["peak_step"])
    mon = rd.read_table("monitored")
    mon = mon[mon["model"].astype(str).str.contains("smooth")].set_index("contact_id")
    if mon.empty:
        raise LabquakeError(f"{rd.path}: no smooth joint among the monitored contacts")
    con = rd.read_table("contacts", columns=["step", "contact_id", "fn"])
    con = con[con["contact_id"].isin(mon.index)]
    win = con[(con["step"] >= peak - before) & (con["step"] <= peak + after)]
    if win.empty:
        raise LabquakeError(f"{rd.path}: no monitored record within {before} steps before and {after} after the peak")
    steps = win["step"].to_numpy()
    mean_first = float(win.loc[steps == steps.min(), "fn"].mean() / area)
    mean_last = float(win.loc[steps == steps.max(), "fn"].mean() / area)
    low = lowest_stress(win, area)
    whole = lowest_stress(con, area)
    r = np.hypot(mon["x"], mon["y"]).reindex(whole.index) / radius
    edges = (0.0, *bands, np.inf)
    band_rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        v = whole[(r >= lo) & (r < hi)].to_numpy()
        band_rows.append({"from_radius": lo, "to_radius": float(hi), "joints": int(v.size),
                          "lowest_q10_mpa": float(np.quantile(v, 0.1)) / 1e6 if v.size else float("nan"),
                          "lowest_median_mpa": float(np.median(v)) / 1e6 if v.size else float("nan")})
    median_stress = float(win["fn"].median() / area)
    opening = (median_stress + sigma_t) / kn
    return {
        "run": str(rd.path), "joints": int(low.size), "window": [peak - before, peak + after],
        "mean_first_mpa": mean_first / 1e6, "mean_last_mpa": mean_last / 1e6,
        "lowest_min_mpa": float(low.min()) / 1e6, "lowest_q10_mpa": float(np.quantile(low, 0.1)) / 1e6,
        "lowest_median_mpa": float(low.median()) / 1e6, "below_zero": int((low < 0.0).sum()),
        "reaching_tensile_strength": int((low <= -sigma_t).sum()), "tensile_strength_mpa": sigma_t / 1e6,
        "median_stress_mpa": median_stress / 1e6, "opening_to_tension_um": opening * 1e6,
        "opening_strain_per_grain": opening / grain, "bands": band_rows,
    }


def ensemble_line(rows: list[dict]) -> str:
    """One line over several runs: the monitored joints in all of them, how many went below
    zero and how many reached the tensile strength in their mainshock windows, the runs'
    lowest stresses (median and smallest) and their median openings to tension."""
    joints = sum(r["joints"] for r in rows)
    low = np.array([r["lowest_min_mpa"] for r in rows])
    opening = np.array([r["opening_to_tension_um"] for r in rows])
    strain = np.array([r["opening_strain_per_grain"] for r in rows])
    return (f"ensemble: {len(rows)} runs, {joints} monitored joints; in the mainshock windows "
            f"{sum(r['below_zero'] for r in rows)} below 0 MPa, "
            f"{sum(r['reaching_tensile_strength'] for r in rows)} at the tensile strength; each run's lowest: "
            f"median {np.median(low):.1f}, smallest {low.min():.1f} MPa; opening to tension at the median stress: "
            f"{np.median(opening):.0f} um ({np.min(opening):.0f}-{np.max(opening):.0f}), "
            f"{100 * np.median(strain):.2f} % strain across a grain")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", help="run or campaign directories")
    ap.add_argument("--before", type=int, default=500, help="window start, steps before the peak")
    ap.add_argument("--after", type=int, default=6000, help="window end, steps after the peak")
    ap.add_argument("--bands", type=float, nargs="*", default=[0.5, 0.75, 0.9],
                    help="inner edges of the radial bands, as fractions of the sample radius")
    ap.add_argument("--json", default=None, help="write the rows here as JSON")
    args = ap.parse_args(argv)
    try:
        rows = [joint_stress_margin(rd, args.before, args.after, tuple(args.bands))
                for rd in run_directories(args.paths)]
    except (LabquakeError, OSError, KeyError) as exc:
        print(f"fault_joint_stress: error: {exc}", file=sys.stderr)
        return 2
    for r in rows:
        print(f"{r['run']}: {r['joints']} monitored smooth joints, window steps {r['window'][0]}-{r['window'][1]}")
        print(f"  mean normal stress {r['mean_first_mpa']:.1f} -> {r['mean_last_mpa']:.1f} MPa over the window")
        print(f"  lowest per joint in the window: min {r['lowest_min_mpa']:.1f}, q10 {r['lowest_q10_mpa']:.1f}, "
              f"median {r['lowest_median_mpa']:.1f} MPa; {r['below_zero']} below 0, "
              f"{r['reaching_tensile_strength']} at -{r['tensile_strength_mpa']:.0f} MPa (tensile strength)")
        for b in r["bands"]:
            line = f"  r/R {b['from_radius']:.2f}-{b['to_radius']:.2f}: {b['joints']} joints"
            if b["joints"]:
                line += f", lowest over the run q10 {b['lowest_q10_mpa']:.1f}, median {b['lowest_median_mpa']:.1f} MPa"
            print(line)
        print(f"  opening to tension at the median {r['median_stress_mpa']:.0f} MPa: {r['opening_to_tension_um']:.0f} um "
              f"= {100 * r['opening_strain_per_grain']:.2f} % strain across a grain")
    if len(rows) > 1:
        print(ensemble_line(rows))
    if args.json:
        atomic_write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
