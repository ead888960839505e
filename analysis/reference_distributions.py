"""A campaign's per-run distributions against the reference study's own 27 runs (issue 11).

For every run directory under CAMPAIGN_DIR this computes

* peak differential stress, mainshock stress drop and the stress after it (``meta.json``);
* the b-value: the reference's least-squares estimator on the on-fault events within
  10 mm of the fault (as ``validate_paper.py``);
* D: the reference code's correlation dimension of those events' (x, y) positions (radii
  from 1.5 min(d) to max(d)/2.5);
* the saw-cut sample's Young's modulus: tangent at 50 % of the peak of the axial stage
  of ``loading.parquet`` (differential stress against axial strain,
  :func:`labquake.sim.calibrate.tangent_modulus`);
* crack counts and the tensile share of rock and of fault cracks, and the share of the
  installed fault bonds that broke;

then prints, for peak, drop, the stress after, b and D, the mean and standard deviation
next to the reference's (``ye2024.md``: the 27-run table and the thesis' per-run b and D)
and the two-sample Kolmogorov-Smirnov p-value (scipy); the same for the rock and fault
crack counts and their tensile shares against the 12 runs whose crack types the thesis
sheet lists (``ye2024.md``: per run 101-209 fault cracks, 121-402 rock cracks), with the
runs inside the reference's min-max; the median saw-cut modulus against the reference's
44-52 GPa (a range: no per-run values are public); and the share of fault bonds broken.
When the campaign holds only some of the paper27 runs (``run-NN_...``), the reference
column of the 27-run quantities uses the same rows NN only.

It also tests whether the ensemble has the reference's structure, not only its marginals:
over the reference's 27 runs the stress after the mainshock follows the peak (Pearson
r = 0.90) and the drop hardly does (r = 0.11). For each pair it prints the campaign's r
beside the reference's and the two-sided p-value of Fisher's z-test for two independent
correlations (H0: the same population correlation).

Usage::

    python analysis/reference_distributions.py CAMPAIGN_DIR [--json OUT.json] [--only REGEX] [--skip REGEX]

``--only`` and ``--skip`` select runs by directory name, for a campaign that holds several
ensembles (``simulations/paper27_wall_study.toml``: ``--skip bondedfraction`` gives its
first 27 runs, ``--only bondedfraction0.6`` the other 27).

Catalogs are portable across x86-64 CPUs for the same labquake, numpy and numba versions
(``tests/test_portable.py``); quote figures with the versions and the machine they came
from all the same.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from validate_paper import b_value  # noqa: E402

from labquake.campaign import load_campaign  # noqa: E402
from labquake.sim.calibrate import tangent_modulus  # noqa: E402
from labquake.errors import InsufficientDataError, LabquakeError  # noqa: E402
from labquake.io.rundir import atomic_write_json, find_runs  # noqa: E402

#: ye2024.md section 2: the 27 runs (peak, drop in MPa) and the thesis' per-run b and D
REFERENCE = {
    "peak": [280, 340, 235, 210, 285, 220, 280, 175, 295, 285, 200, 230, 230, 150,
             180, 250, 240, 230, 230, 275, 195, 200, 226, 265, 200, 215, 210],
    "drop": [70, 90, 115, 95, 75, 95, 85, 75, 70, 65, 90, 110, 60, 65,
             95, 80, 80, 45, 100, 70, 50, 80, 38, 85, 50, 70, 45],
    "b": [1.67, 0.92, 0.70, 1.07, 1.00, 1.16, 1.12, 0.82, 0.98, 0.63, 0.83, 1.38, 1.08, 1.14,
          0.70, 1.12, 0.61, 0.98, 0.68, 1.63, 0.89, 1.17, 0.63, 1.00, 0.98, 0.78, 1.01],
    "D": [1.83, 1.80, 1.69, 1.82, 1.95, 1.47, 1.84, 1.65, 1.84, 1.65, 1.76, 1.54, 1.90, 1.70,
          1.89, 1.62, 1.87, 1.78, 1.49, 1.79, 1.68, 1.92, 1.61, 1.42, 1.64, 1.56, 1.62],
}
#: the differential stress after the mainshock (peak - drop, MPa)
REFERENCE["after"] = [p - d for p, d in zip(REFERENCE["peak"], REFERENCE["drop"])]
#: ye2024.md, "Crack types in saw-cut runs" (thesis parameter sheet, 12 runs): flat-joint
#: shear, flat-joint tension, smooth-joint shear, smooth-joint tension cracks per run
CRACK_TYPES = np.array([(163, 145, 123, 17), (205, 197, 148, 31), (136, 98, 149, 34), (111, 101, 124, 28),
                        (201, 169, 153, 36), (149, 117, 138, 24), (128, 84, 95, 22), (127, 96, 170, 39),
                        (129, 111, 103, 16), (48, 73, 80, 21), (120, 84, 109, 26), (89, 61, 89, 26)], float)
#: the per-run crack distributions those 12 runs give (rock = flat joints, fault = smooth joints)
REFERENCE_CRACKS = {
    "rock_cracks": CRACK_TYPES[:, 0] + CRACK_TYPES[:, 1],
    "fault_cracks": CRACK_TYPES[:, 2] + CRACK_TYPES[:, 3],
    "rock_tensile_pct": 100.0 * CRACK_TYPES[:, 1] / (CRACK_TYPES[:, 0] + CRACK_TYPES[:, 1]),
    "fault_tensile_pct": 100.0 * CRACK_TYPES[:, 3] / (CRACK_TYPES[:, 2] + CRACK_TYPES[:, 3]),
}
#: the reference's saw-cut modulus (ye2024.md, thesis parameter sheet: a range, no per-run values)
TARGETS = {"modulus_gpa": (44.0, 52.0)}


def compare(x: np.ndarray, ref: np.ndarray) -> dict:
    """Mean, sd and size of the finite values of ``x`` beside the reference sample's, and
    the two-sample Kolmogorov-Smirnov p-value (scipy)."""
    x = x[np.isfinite(x)]
    return {"mean": float(x.mean()) if x.size else float("nan"),
            "sd": float(x.std(ddof=1)) if x.size > 1 else float("nan"),
            "n": int(x.size), "ref_mean": float(ref.mean()), "ref_sd": float(ref.std(ddof=1)), "ref_n": int(ref.size),
            "ks_p": float(ks_2samp(x, ref).pvalue) if x.size else float("nan")}


#: pairs of per-run quantities whose correlation over the runs is compared with the reference's
CORRELATIONS = (("peak", "after"), ("peak", "drop"))


def compare_correlations(x: np.ndarray, y: np.ndarray, x_ref: np.ndarray, y_ref: np.ndarray) -> dict:
    """Pearson r of (x, y) over the runs beside the reference's, with the two-sided p-value of
    Fisher's z-test for two independent correlations:
    z = (atanh r − atanh r_ref) / sqrt(1/(n − 3) + 1/(n_ref − 3)), standard normal under H0.

    Runs where either value is not finite are left out; with fewer than 4 runs (or a
    constant column) r and p are NaN.
    """
    from scipy.stats import norm, pearsonr

    def r_of(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
        a, b = np.asarray(a, float), np.asarray(b, float)
        ok = np.isfinite(a) & np.isfinite(b)
        a, b = a[ok], b[ok]
        if a.size < 4 or np.ptp(a) == 0.0 or np.ptp(b) == 0.0:
            return float("nan"), int(a.size)
        return float(pearsonr(a, b).statistic), int(a.size)

    r, n = r_of(x, y)
    r_ref, n_ref = r_of(x_ref, y_ref)
    p = float("nan")
    if np.isfinite(r) and np.isfinite(r_ref):
        z = (np.arctanh(np.clip(r, -0.999999, 0.999999)) - np.arctanh(np.clip(r_ref, -0.999999, 0.999999))) \
            / np.sqrt(1.0 / (n - 3) + 1.0 / (n_ref - 3))
        p = float(2.0 * norm.sf(abs(z)))
    return {"r": r, "n": n, "ref_r": r_ref, "ref_n": n_ref, "fisher_p": p}


def run_row(run) -> dict:
    """The per-run quantities (NaN where a statistic has too little data)."""
    from labquake.analysis.clouds import fault_events
    from labquake.geometry import FaultPlane
    from labquake.analysis.seismicity import correlation_dimension

    meta = run.read_meta()
    row = {"run": run.path.name, "peak": meta["peak_differential_stress"] / 1e6, "drop": meta["stress_drop"] / 1e6,
           "after": (meta["peak_differential_stress"] - meta["stress_drop"]) / 1e6,
           "balls": meta.get("balls", float("nan")), "bonds_per_ball": meta.get("bonds_per_ball", float("nan"))}
    try:
        row["b"] = b_value(run, meta, "lsq")[0]
    except InsufficientDataError:
        row["b"] = float("nan")
    ev = fault_events(run.read_table("events"), FaultPlane.from_dict(meta["fault"]), 0.01)
    try:
        row["D"] = float(correlation_dimension(ev[["x", "y"]].to_numpy(float), scaling="reference").d2)
    except InsufficientDataError:
        row["D"] = float("nan")
    ld = run.read_table("loading")
    ax = ld[ld["stage"] == "axial"]
    try:
        row["modulus_gpa"] = tangent_modulus(ax["differential_stress"].to_numpy(float),
                                             ax["axial_strain"].to_numpy(float)
                                             - float(ax["axial_strain"].iloc[0])) / 1e9
    except InsufficientDataError:
        row["modulus_gpa"] = float("nan")
    cr = run.read_table("cracks", columns=["kind", "mode", "healed"])
    kind, mode = cr["kind"].astype(str), cr["mode"].astype(str)
    for k in ("rock", "fault"):
        sel = kind == k
        row[f"{k}_cracks"] = int(sel.sum())
        row[f"{k}_tensile_pct"] = 100.0 * float((mode[sel] == "tension").mean()) if sel.any() else float("nan")
    # the share of the installed fault bonds that broke (the reference's run-to-run spread of
    # fault cracks and of the stress after the mainshock points to partial ruptures)
    n_fault_bonds = meta.get("specimen", {}).get("n_fault_bonds", 0)
    row["fault_bonds"] = n_fault_bonds
    n_broken = int(((kind == "fault") & ~cr["healed"].astype(bool)).sum())  # a healed joint's re-rupture is no bond
    row["fault_bonds_broken_pct"] = 100.0 * n_broken / n_fault_bonds if n_fault_bonds else float("nan")
    return row


def select_runs(runs: list, only: str | None = None, skip: str | None = None) -> list:
    """The runs whose directory name matches the regular expression ``only`` (all when
    None) and does not match ``skip`` (none skipped when None), in their order; a
    campaign that holds several ensembles (``simulations/paper27_wall_study.toml``) is
    compared one ensemble at a time."""
    keep = re.compile(only) if only else None
    drop = re.compile(skip) if skip else None
    return [r for r in runs if (keep is None or keep.search(r.name)) and not (drop and drop.search(r.name))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaign")
    ap.add_argument("--json", help="also write the rows and the summary to this JSON file")
    ap.add_argument("--only", metavar="REGEX", help="use only the runs whose directory name matches REGEX")
    ap.add_argument("--skip", metavar="REGEX", help="leave out the runs whose directory name matches REGEX")
    args = ap.parse_args(argv)
    try:
        runs = select_runs(find_runs(args.campaign), args.only, args.skip)  # complete runs, by name
    except LabquakeError as exc:
        print(f"labquake: error: {exc}", file=sys.stderr)
        return 2
    except re.error as exc:
        print(f"labquake: error: --only/--skip: not a regular expression: {exc}", file=sys.stderr)
        return 2
    if not runs:
        print(f"labquake: error: no complete run directories under {args.campaign}"
              + (" that --only/--skip select" if args.only or args.skip else ""), file=sys.stderr)
        return 2
    rows = [run_row(r) for r in runs]
    cols = ("peak", "drop", "after", "b", "D", "modulus_gpa", "rock_cracks", "rock_tensile_pct", "fault_cracks",
            "fault_tensile_pct", "fault_bonds_broken_pct", "bonds_per_ball")
    print(f"{'run':36s}" + "".join(f"{c[:9]:>10s}" for c in cols))
    for r in rows:
        print(f"{r['run'][:36]:36s}" + "".join(f"{r[c]:10.2f}" for c in cols))
    summary = {}
    # paper27 run directories are named run-NN_...: NN is the reference's row k
    # (its name, with the particle sizes and seed, as simulations/paper27.toml names it; the
    # runs of another campaign, such as quick's run-01..08, are not reference rows)
    paper27 = {run.name: k for k, run in enumerate(load_campaign(ROOT.parent / "simulations" / "paper27.toml").runs)}
    idx = [paper27.get(r["run"], -1) for r in rows]
    matched = all(i >= 0 for i in idx) and len(set(idx)) == len(idx) and len(idx) < 27
    if matched:
        print(f"\nthe {len(rows)} runs are rows {sorted(i + 1 for i in idx)} of the reference's 27: "
              "the reference column uses those rows only")
    views = [("all 27 reference runs", None)] + ([("the same reference rows", sorted(idx))] if matched else [])
    for title, rows_ref in views:
        print(f"\n{len(rows)} runs against {title} | quantity | labquake mean +- sd | reference mean +- sd | KS p")
        for k, ref in REFERENCE.items():
            ref = np.asarray(ref, float) if rows_ref is None else np.asarray(ref, float)[rows_ref]
            entry = compare(np.array([r[k] for r in rows], float), ref)
            summary.setdefault(k, {})[title] = entry
            print(f"| {k} | {entry['mean']:.3g} +- {entry['sd']:.2g} (n={entry['n']}) | "
                  f"{entry['ref_mean']:.3g} +- {entry['ref_sd']:.2g} | {entry['ks_p']:.2g} |")
    # a correlation is a property of the population of runs: always against all 27
    print(f"\n{len(rows)} runs against all 27 reference runs: how the quantities follow one another "
          "| pair | labquake Pearson r | reference r | Fisher z p")
    for kx, ky in CORRELATIONS:
        entry = compare_correlations(np.array([r[kx] for r in rows], float), np.array([r[ky] for r in rows], float),
                                     np.asarray(REFERENCE[kx], float), np.asarray(REFERENCE[ky], float))
        summary[f"r_{kx}_{ky}"] = entry
        print(f"| {ky} with {kx} | {entry['r']:.2f} (n={entry['n']}) | {entry['ref_r']:.2f} (n={entry['ref_n']}) | "
              f"{entry['fisher_p']:.2g} |")
    print(f"\n{len(rows)} runs against the reference's 12 runs with crack types | quantity | labquake mean +- sd "
          "| reference mean +- sd | KS p | runs within the reference's min-max")
    for k, ref in REFERENCE_CRACKS.items():
        x = np.array([r[k] for r in rows], float)
        entry = compare(x, ref)
        lo, hi = float(ref.min()), float(ref.max())
        entry.update(ref_range=[lo, hi], in_range_runs=int(((x >= lo) & (x <= hi)).sum()))
        summary[k] = {"the reference's 12 runs with crack types": entry}
        print(f"| {k} | {entry['mean']:.3g} +- {entry['sd']:.2g} (n={entry['n']}) | {entry['ref_mean']:.3g} +- "
              f"{entry['ref_sd']:.2g} | {entry['ks_p']:.2g} | {entry['in_range_runs']} of {entry['n']} "
              f"within {lo:.3g}-{hi:.3g} |")
    for k, (lo, hi) in TARGETS.items():
        x = np.array([r[k] for r in rows], float)
        x = x[np.isfinite(x)]
        med = float(np.median(x)) if x.size else float("nan")
        summary[k] = {"median": med, "target": [lo, hi], "in_range_runs": int(((x >= lo) & (x <= hi)).sum())}
        print(f"| {k} | median {med:.3g} | target {lo:g}-{hi:g} | {summary[k]['in_range_runs']} of {x.size} runs in range |")
    x = np.array([r["fault_bonds_broken_pct"] for r in rows], float)
    x = x[np.isfinite(x)]
    if x.size:
        summary["fault_bonds_broken_pct"] = {"median": float(np.median(x)), "min": float(x.min()),
                                             "max": float(x.max())}
        print(f"| fault bonds broken | median {np.median(x):.3g} % | {x.min():.3g}-{x.max():.3g} % "
              f"over {x.size} runs |")
    if args.json:
        atomic_write_json(args.json, {"rows": rows, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
