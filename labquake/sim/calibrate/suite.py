"""The calibration suite: every test for every seed, then ``calibration.json``, ``calibration.md``
and the figures (:func:`calibrate`).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import (
    ConfigError,
    InsufficientDataError,
    OutputError,
    RunStateError,
)
from labquake.sim.calibrate.estimators import mohr_coulomb
from labquake.sim.calibrate.figures import _summary_figure
from labquake.sim.calibrate.procedure import _clean, run_test
from labquake.sim.calibrate.settings import (
    _MARKER,
    PROPERTIES,
    REFERENCE_ONLY,
    TARGETS,
    CalibrationSettings,
    CalibrationTest,
    parse_seeds,
    parse_tests,
)

# --------------------------------------------------------------------------------------
# The suite
# --------------------------------------------------------------------------------------


def _check_out(out: Path, marker_text: str) -> None:
    from labquake.io.rundir import atomic_write_text

    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a directory; choose another --out")
    marker = out / _MARKER
    if marker.exists():
        if marker.read_text(encoding="utf-8") != marker_text:
            raise RunStateError(f"{out} holds a calibration of a different config or [calibration] settings; "
                                "use another --out")
        return
    if out.exists() and any(not p.name.startswith(".") for p in out.iterdir()):
        raise OutputError(f"{out} is not empty and is not a calibration directory; choose another --out")
    atomic_write_text(marker, marker_text)


def _specimen_path(out: Path, cfg: Mapping[str, Any], seed: int) -> Path:
    """The seed's specimen: ``specimen.file`` if the config names one, else built once
    and kept in ``DIR/specimens/``."""
    from labquake.sim.config import resolve_config
    from labquake.sim.specimen import (
        build_specimen,
        check_matches,
        load_specimen,
        save_specimen,
    )

    if cfg["specimen"]["file"]:
        p = Path(cfg["specimen"]["file"])
        check_matches(load_specimen(p), cfg, source=str(p))
        return p
    p = out / "specimens" / f"seed{seed}.npz"
    if not p.exists():
        c = copy.deepcopy(dict(cfg))
        c["seed"] = int(seed)
        save_specimen(build_specimen(resolve_config(c)), p)
    return p


def _job(args: tuple) -> dict[str, Any]:
    cfg, settings, spec, seed, spec_file, out, progress, position, interrupt = args
    return run_test(cfg, settings, spec, seed, spec_file, out, progress=progress, position=position,
                    _interrupt_at_step=interrupt)


def calibrate(
    cfg: Mapping[str, Any],
    out: str | os.PathLike,
    seeds: Sequence[int] | None = None,
    tests: str | Sequence[str] = "ucs,tension,triaxial",
    settings: CalibrationSettings | None = None,
    progress: bool = True,
    jobs: int = 1,
    _interrupt_at_step: int | None = None,
) -> dict[str, Any]:
    """Run the calibration suite and write ``DIR/calibration.json``, ``.md``, ``.parquet``
    and the figures (see the module docstring).

    Parameters
    ----------
    cfg
        A resolved run config (:func:`load_calibration_config`).
    out
        The calibration directory; a rerun with the same config skips complete tests and
        resumes killed ones.
    seeds
        Specimen seeds (one specimen, and one set of bond strengths, per seed); default
        the config's seed.
    tests
        Comma-separated test names (:func:`parse_tests`).
    settings
        The loading protocol (default :class:`CalibrationSettings`).
    progress
        tqdm bars.
    jobs
        Tests run at once, in separate processes (the engine is single-threaded at this size).

    Returns
    -------
    dict
        The content of ``calibration.json``.
    """
    from labquake.io.rundir import dumps_toml
    from labquake.sim.assembly import _roundtrip

    settings = settings or CalibrationSettings()
    specs = parse_tests(tests, settings)
    seeds = parse_seeds([cfg["seed"]] if seeds is None else seeds)
    if int(jobs) < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    base = copy.deepcopy(dict(cfg))
    base.pop("seed", None)
    marker_text = dumps_toml({"config": _roundtrip({k: v for k, v in base.items()}), "calibration": settings.to_table()})
    out = Path(out)
    _check_out(out, marker_text)
    t0 = time.perf_counter()
    spec_files = {seed: _specimen_path(out, cfg, seed) for seed in seeds}
    jobs_list = [(dict(cfg), settings, spec, seed, str(spec_files[seed]), str(out / f"{spec.name}-seed{seed}"), progress,
                  k % max(int(jobs), 1), _interrupt_at_step) for k, (seed, spec) in enumerate((s, t) for s in seeds for t in specs)]
    if int(jobs) > 1 and len(jobs_list) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # longest first (the more confined a triaxial, the longer it hardens;
        # tension is the shortest), so that no long test starts last and the workers
        # finish together; the results keep the tests' order
        order = sorted(range(len(jobs_list)), key=lambda k: _expected_cost(jobs_list[k][2]), reverse=True)
        with ProcessPoolExecutor(max_workers=int(jobs), mp_context=mp.get_context("spawn")) as pool:
            futures = {k: pool.submit(_job, jobs_list[k]) for k in order}
            results = [futures[k].result() for k in range(len(jobs_list))]
    else:
        results = [_job(a) for a in jobs_list]
    return write_report(out, cfg, seeds, specs, settings, results, wall_time_s=time.perf_counter() - t0)


def _expected_cost(spec: CalibrationTest) -> tuple[int, float]:
    """A sort key for a test's expected run time: triaxial (by confinement), then UCS,
    then tension."""
    return ({"triaxial": 2, "ucs": 1}.get(spec.kind, 0), spec.confinement)


def _unfinished(r: Mapping[str, Any] | None) -> bool:
    """Whether a test stopped before showing that its peak is final (older results
    without ``peak_reached`` count as finished)."""
    return r is not None and r.get("peak_reached") is False


def _lower_bounds(results: list[dict[str, Any]], seeds: Sequence[int], specs: Sequence[CalibrationTest]) -> dict[str, list]:
    """Per strength property, per seed: whether its value is only a lower bound (its test
    ended at ``max_strain`` before its peak was shown final); the envelope's properties
    are where any of its tests is."""
    by = {(r["seed"], r["test"]): r for r in results}
    out: dict[str, list] = {"ucs_mpa": [], "tension_mpa": [], "cohesion_mpa": [], "friction_angle_deg": []}
    for c in (5, 10, 30):
        out[f"sigma1_{c}_mpa"] = []
    for seed in seeds:
        out["ucs_mpa"].append(_unfinished(by.get((seed, "ucs"))))
        out["tension_mpa"].append(_unfinished(by.get((seed, "tension"))))
        for c in (5, 10, 30):
            out[f"sigma1_{c}_mpa"].append(_unfinished(by.get((seed, f"triaxial{c}"))))
        env = any(_unfinished(by.get((seed, spec.name))) for spec in specs if spec.kind != "tension")
        out["cohesion_mpa"].append(env)
        out["friction_angle_deg"].append(env)
    return out


def _per_seed_properties(results: list[dict[str, Any]], seeds: Sequence[int], specs: Sequence[CalibrationTest]) -> dict[str, list]:
    by = {(r["seed"], r["test"]): r for r in results}
    props: dict[str, list] = {p: [] for p in PROPERTIES}
    extra: dict[str, list] = {"youngs_gauge_gpa": [], "mc_ucs_intercept_mpa": [], "mc_q": []}
    for seed in seeds:
        ucs = by.get((seed, "ucs"))
        ten = by.get((seed, "tension"))
        props["ucs_mpa"].append(ucs["peak_mpa"] if ucs else None)
        props["tension_mpa"].append(ten["peak_mpa"] if ten else None)
        props["youngs_gpa"].append(ucs["youngs_gpa"] if ucs else None)
        props["poisson"].append(ucs["poisson"] if ucs else None)
        extra["youngs_gauge_gpa"].append(ucs["youngs_gauge_gpa"] if ucs else None)
        for c in (5, 10, 30):
            r = by.get((seed, f"triaxial{c}"))
            props[f"sigma1_{c}_mpa"].append(r["sigma1_mpa"] if r else None)
        s3, s1 = [], []
        for spec in specs:
            r = by.get((seed, spec.name))
            if r and spec.kind != "tension" and r.get("sigma1_mpa") is not None and math.isfinite(r["sigma1_mpa"]):
                s3.append(spec.confinement / 1e6)
                s1.append(r["sigma1_mpa"])
        try:
            mc = mohr_coulomb(s3, s1)
        except InsufficientDataError:
            mc = None
        props["cohesion_mpa"].append(mc["cohesion"] if mc else None)
        props["friction_angle_deg"].append(mc["friction_angle_deg"] if mc else None)
        extra["mc_ucs_intercept_mpa"].append(mc["ucs_intercept"] if mc else None)
        extra["mc_q"].append(mc["q"] if mc else None)
    props.update(extra)
    return props


def write_report(out: Path, cfg: Mapping[str, Any], seeds: Sequence[int], specs: Sequence[CalibrationTest],
                 settings: CalibrationSettings, results: list[dict[str, Any]], wall_time_s: float) -> dict[str, Any]:
    """Write calibration.json, calibration.md, calibration.parquet and stress_strain.png."""
    from labquake.io.rundir import (
        RunDirectory,
        atomic_write_json,
        atomic_write_parquet,
        atomic_write_text,
    )

    props = _per_seed_properties(results, seeds, specs)
    bounds = _lower_bounds(results, seeds, specs)
    properties: dict[str, Any] = {}
    for name, vals in props.items():
        fin = [v for v in vals if v is not None and math.isfinite(v)]
        mean = float(np.mean(fin)) if fin else None
        entry: dict[str, Any] = {"mean": mean, "per_seed": vals, "sd": float(np.std(fin, ddof=1)) if len(fin) > 1 else None}
        if name in bounds:
            entry["lower_bound"] = bounds[name]
        if name in TARGETS:
            lo, hi, text = TARGETS[name]
            entry["target"] = {"low": lo, "high": hi, "text": text}
            entry["within_target"] = None if mean is None else bool(lo <= mean <= hi)
        properties[name] = entry
    doc = {
        "config_name": cfg.get("name"),
        "seeds": list(seeds),
        "tests": [s.name for s in specs],
        "properties": properties,
        "targets": {k: {"low": lo, "high": hi, "text": t} for k, (lo, hi, t) in TARGETS.items()},
        "reference_only": REFERENCE_ONLY,
        "settings": settings.to_table(),
        "definitions": {
            "stress": "platen (grip) force / nominal section pi (D/2)^2, compression positive; sigma1 = sigma3 + peak differential",
            "youngs_gpa": f"UCS tangent modulus at {settings.fit_level:.0%} of the peak, local least-squares fit, stress vs platen strain",
            "poisson": "UCS, -d(radial)/d(axial) of the particle strain gauge (central "
                       f"{settings.gauge_fraction:.0%} of the length) over the same window",
            "mohr_coulomb": "least squares sigma1 = UCS' + q sigma3 over UCS and triaxial peaks per seed; "
                            "phi = asin((q-1)/(q+1)), c = UCS'(1 - sin phi)/(2 cos phi)",
        },
        "per_test": {f"{r['test']}-seed{r['seed']}": r for r in results},
        "wall_time_s": wall_time_s,
    }
    doc = _clean(doc)
    atomic_write_json(out / "calibration.json", doc)
    rows = []
    for r in results:
        rows.append({"test": r["test"], "seed": int(r["seed"]), "kind": r["kind"], "confinement_mpa": r["confinement_mpa"],
                     "peak_mpa": r.get("peak_mpa"), "sigma1_mpa": r.get("sigma1_mpa"), "youngs_gpa": r.get("youngs_gpa"),
                     "youngs_gauge_gpa": r.get("youngs_gauge_gpa"), "poisson": r.get("poisson"),
                     "strain_at_peak": r.get("strain_at_peak"),
                     "cracks_tension": (r.get("cracks") or {}).get("tension"), "cracks_shear": (r.get("cracks") or {}).get("shear"),
                     "end_imbalance_at_peak": r.get("end_imbalance_at_peak"), "stop_reason": r.get("stop_reason"),
                     "peak_reached": not _unfinished(r), "steps": r.get("steps"), "wall_time_s": r.get("wall_time_s")})
    atomic_write_parquet(out / "calibration.parquet", pd.DataFrame(rows).astype({"seed": "int64"}))
    atomic_write_text(out / "calibration.md", _markdown(doc, rows))
    curves = []
    for r in results:
        spec = next(s for s in specs if s.name == r["test"])
        curves.append((spec, int(r["seed"]), RunDirectory(out / f"{r['test']}-seed{r['seed']}").read_table("loading")))
    if curves:
        _summary_figure(curves, out / "stress_strain.png")
    return doc


def _fmt(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{nd}f}"


_LABELS = {
    "ucs_mpa": ("UCS", "MPa", 1), "tension_mpa": ("direct tension", "MPa", 1), "youngs_gpa": ("Young's modulus (platens)", "GPa", 1),
    "youngs_gauge_gpa": ("Young's modulus (gauge)", "GPa", 1), "poisson": ("Poisson's ratio", "", 3),
    "sigma1_5_mpa": ("sigma1 at 5 MPa", "MPa", 1), "sigma1_10_mpa": ("sigma1 at 10 MPa", "MPa", 1),
    "sigma1_30_mpa": ("sigma1 at 30 MPa", "MPa", 1), "cohesion_mpa": ("cohesion c", "MPa", 1),
    "friction_angle_deg": ("friction angle phi", "deg", 1), "mc_ucs_intercept_mpa": ("envelope intercept UCS'", "MPa", 1),
    "mc_q": ("envelope slope q", "", 2),
}


def _markdown(doc: Mapping[str, Any], rows: list[dict[str, Any]]) -> str:
    seeds = doc["seeds"]
    lines = [f"# Intact-rock calibration: {doc.get('config_name')}", "",
             f"Seeds {', '.join(map(str, seeds))}; tests {', '.join(doc['tests'])}; "
             f"{doc['wall_time_s']:.0f} s wall time. Mean over the seeds against the reference "
             "(Ye, Lui & Young 2024; ye2024.md).", "",
             "| property | mean | per seed | target | in/out |", "|---|---|---|---|---|"]
    for name, e in doc["properties"].items():
        label, unit, nd = _LABELS.get(name, (name, "", 2))
        target = e.get("target", {}).get("text") or REFERENCE_ONLY.get(name, "")
        inout = {True: "in", False: "**out**", None: "-"}[e.get("within_target")] if "target" in e else ""
        lower = e.get("lower_bound") or [False] * len(e["per_seed"])
        per = ", ".join((">= " if lb else "") + _fmt(v, nd) for v, lb in zip(e["per_seed"], lower))
        if any(lower):
            inout += " (lower bound: a test ended at max_strain)"
        lines.append(f"| {label}{', ' + unit if unit else ''} | {_fmt(e['mean'], nd)} | {per} | {target} | {inout} |")
    lines += ["", "## Tests", "", "| test | seed | peak MPa | sigma1 MPa | E GPa | E gauge GPa | nu | cracks tension/shear "
              "| end imbalance at peak | stop | steps | wall s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['test']} | {r['seed']} | {_fmt(r['peak_mpa'])} | {_fmt(r['sigma1_mpa'])} | {_fmt(r['youngs_gpa'])} | "
                     f"{_fmt(r['youngs_gauge_gpa'])} | {_fmt(r['poisson'], 3)} | {r['cracks_tension']}/{r['cracks_shear']} | "
                     f"{_fmt(r['end_imbalance_at_peak'], 3)} | {r['stop_reason']} | {r['steps']} | {_fmt(r['wall_time_s'], 0)} |")
    st = doc["settings"]
    qs = [r for r in doc["per_test"].values() if r.get("platen_speed_over_p_wave_speed") is not None]
    if qs:
        lines += ["", f"Loading: axial strain rate {st['strain_rate']:g} /s (tension {st['tension_strain_rate']:g} /s), "
                  f"platen speed / P-wave speed of the lattice <= {max(r['platen_speed_over_p_wave_speed'] for r in qs):.1e}, "
                  f"local damping {qs[0].get('local_damping')}; the end imbalance is |top - bottom| / mean platen (grip) "
                  "stress at the peak (0 = quasi-static)."]
    d = doc["definitions"]
    lines += ["", "## Definitions", ""] + [f"- **{k}**: {v}" for k, v in d.items()] + [""]
    return "\n".join(lines)
