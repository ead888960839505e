"""A whole PFC3D source directory to a labquake run directory (:func:`read_pfc`, :func:`import_pfc`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import ConfigError, DataFormatError
from labquake.geometry import FaultPlane
from labquake.io.pfc3d.config import (
    DEFAULT_CONTACT_AREA,
    DEFAULT_CONTACT_INTERVAL,
    PfcImportConfig,
    load_config,
)
from labquake.io.pfc3d.diagnostics import ImportReport
from labquake.io.pfc3d.files import (
    _read_generic,
    read_ae_file,
    read_crack_file,
    read_event_file,
)
from labquake.io.pfc3d.histories import _read_histories
from labquake.io.pfc3d.install import _check_target, build_and_install
from labquake.io.pfc3d.scan import _LAYOUT_WORDS, SourceFile, scan_source
from labquake.io.pfc3d.stress import _read_stress
from labquake.io.pfc3d.text import LAYOUTS, Parsed, parse_layout
from labquake.io.rundir import (
    RunDirectory,
    atomic_write_parquet,
    validate_table,
    with_derived,
)

# --------------------------------------------------------------------------------------
# The whole source directory
# --------------------------------------------------------------------------------------


@dataclass
class PfcRun:
    """The tables read from a PFC3D source directory, before anything is written."""

    tables: dict[str, pd.DataFrame]
    extras: dict[str, pd.DataFrame]  # relative path in the run directory -> table
    meta: dict[str, Any]
    config: dict[str, Any]
    report: ImportReport


def _pick_run(files: list[SourceFile], run_id: int | None, report: ImportReport) -> int | None:
    runs = sorted({f.run for f in files if f.run is not None})
    if run_id is None:
        if len(runs) > 1:
            raise ConfigError(f"{report.src}: files of several runs ({', '.join(map(str, runs))}); "
                              f"choose one with --run-id")
        return runs[0] if runs else None
    if runs and run_id not in runs:
        raise ConfigError(f"{report.src}: no files of run {run_id}; runs found: {', '.join(map(str, runs))}")
    return run_id


def read_pfc(src_dir: str | os.PathLike, config: PfcImportConfig | str | os.PathLike | None = None, *,
             run_id: int | None = None, dt: float | None = None,
             contact_interval: int | None = None) -> PfcRun:
    """Read and validate everything in ``src_dir``; writes nothing.

    ``config`` is a :class:`PfcImportConfig`, a TOML path, or None (then ``src_dir/pfc.toml``
    if present, else the defaults). ``run_id``, ``dt`` and ``contact_interval`` override it.
    """
    t0 = time.perf_counter()
    src = Path(src_dir)
    files, ignored = scan_source(src)
    report = ImportReport(src=str(src))
    if config is None:
        cfg_files = [f for f in files if f.layout == "config"]
        config = cfg_files[0].path if cfg_files else None
    cfg = config if isinstance(config, PfcImportConfig) else load_config(config)
    cfg = cfg.with_overrides(run_id=run_id, dt=dt, contact_interval=contact_interval)
    report.settings.append(f"config {cfg.source}" if cfg.source else "config: defaults (no pfc.toml)")
    report.ignored.extend(ignored)
    run = _pick_run([f for f in files if f.layout != "config"], cfg.run_id, report)
    report.run_id = run
    keep: list[SourceFile] = []
    for f in files:
        if f.layout == "config":
            continue
        if f.run is not None and run is not None and f.run != run:
            report.ignored.append((f.name, f"belongs to run {f.run}, not run {run}"))
            continue
        keep.append(f)
    report.found = [(f.name, f.layout) for f in keep]
    data_layouts = {"crk", "ms", "ae", "ae_unclustered", "hist", "sh", "ss", "balls", "contact_table", "sj"}
    if not any(f.layout in data_layouts for f in keep):
        raise DataFormatError(
            f"{src}: no PFC3D exports found (expected files such as crk<run>-<trial>.txt, ms<run>-<trial>.txt, "
            f"cn<run>-<trial>.txt, S<run>-sh.csv, balls.csv)"
        )
    report.settings.append(f"dt {cfg.dt:g} s")

    tables: dict[str, pd.DataFrame] = {}
    extras: dict[str, pd.DataFrame] = {}

    # --- contact area from smooth joints, fault settings -------------------------------
    contact_area = cfg.fault.contact_area
    for f in [f for f in keep if f.layout == "sj"]:
        sj = _read_sj(f, cfg)
        extras["pfc/smooth_joints.parquet"] = sj
        detail = f"{len(sj)} smooth joints"
        if contact_area is None and len(sj):
            contact_area = float(sj["area"].mean())
            detail += f"; fault contact_area = mean area {contact_area:.4g} m²"
        report.mapped.append((f.name, "pfc/smooth_joints.parquet", detail))
    if contact_area is None:
        contact_area = DEFAULT_CONTACT_AREA
        report.filled.append(f"meta fault.contact_area = {DEFAULT_CONTACT_AREA:g} m² (reference default)")

    # --- cracks, events, per-crack tensors (first trial) -------------------------------
    crack_trials = _first_trial(keep, ("crk", "ms", "ae", "ae_unclustered"), report)
    cracks = None
    for f in keep:
        if f.layout == "crk" and f.trial == crack_trials.get("crk"):
            cracks, parsed = read_crack_file(f.path, cfg)
            _note_filled_cracks(cracks, parsed, report)
            nf = int((cracks["kind"] == "fault").sum())
            report.mapped.append((f.name, "cracks.parquet", f"{len(cracks)} cracks: {nf} fault, {len(cracks) - nf} rock"))
            tables["cracks"] = cracks
    ae = None
    for f in keep:
        if f.layout in ("ae", "ae_unclustered") and f.trial == crack_trials.get(f.layout):
            df, _ = read_ae_file(f.path, cfg)
            target = "pfc/ae.parquet" if f.layout == "ae" else "pfc/ae_unclustered.parquet"
            extras[target] = df
            if f.layout == "ae":
                ae = df
            report.mapped.append((f.name, target, f"{len(df)} per-crack moment tensors"))
    for f in keep:
        if f.layout == "ms" and f.trial == crack_trials.get("ms"):
            events, parsed = read_event_file(f.path, cfg, report)
            rule = _set_on_fault(events, parsed, cracks, ae, cfg)
            report.mapped.append((f.name, "events.parquet",
                                  f"{len(events)} events, {int(events['on_fault'].sum())} on the fault ({rule})"))
            tables["events"] = events

    # --- contact histories ------------------------------------------------------------
    interval = cfg.contact_interval
    hist = [f for f in keep if f.layout in ("hist", "c_model", "b_coord", "global_step", "cextra")]
    if hist:
        contacts, monitored, interval = _read_histories(hist, cfg, report)
        if contacts is not None:
            tables["contacts"] = contacts
            tables["monitored"] = monitored
    if interval is None:
        interval = DEFAULT_CONTACT_INTERVAL
        if "contacts" not in tables:
            report.filled.append(f"meta contact_interval = {DEFAULT_CONTACT_INTERVAL} steps (reference default)")

    # --- stress histories -------------------------------------------------------------
    sh = [f for f in keep if f.layout == "sh"]
    ss = [f for f in keep if f.layout == "ss"]
    if sh or ss:
        tables["loading"] = _read_stress(sh[0] if sh else None, ss[0] if ss else None, cfg, interval, report)

    # --- generic tables ---------------------------------------------------------------
    for f in keep:
        if f.layout in ("balls", "contact_table"):
            df, target = _read_generic(f, report)
            extras[target] = df

    for name in list(tables):
        tables[name] = with_derived(name, tables[name])  # e.g. the events' iso_ratio from iso and dev
        validate_table(name, tables[name], f"{name} (from {src})")
    report.counts = {k: len(v) for k, v in tables.items()}

    plane = FaultPlane(angle_deg=cfg.fault.angle_deg, centre=tuple(cfg.fault.centre))
    fault = plane.to_dict()
    fault.update(contact_area=float(contact_area), cohesion=cfg.fault.cohesion,
                 friction_angle_deg=cfg.fault.friction_angle_deg, tensile_strength=cfg.fault.tensile_strength,
                 on_fault_distance=cfg.fault.on_fault_distance)
    for k, v in cfg.fault_extra.items():
        fault.setdefault(k, v)
    meta = {
        "source": "pfc3d",
        "dt": cfg.dt,
        "contact_interval": int(interval),
        "fault": fault,
        "sample": {"height": cfg.sample_height, "diameter": cfg.sample_diameter,
                   "confining_stress": cfg.confining_stress},
        "units": "SI; compression positive",
        "counts": report.counts,
    }
    config_out = {
        "source": {"format": "pfc3d", "dir": str(src.resolve()), "run_id": run, "trials": report.trials},
        "pfc_import": cfg.to_dict(),
        "dt": cfg.dt,
        "contact_interval": int(interval),
    }
    report.wall_time_s = time.perf_counter() - t0
    return PfcRun(tables, extras, meta, config_out, report)


def _first_trial(files: list[SourceFile], layouts, report: ImportReport) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for lay in layouts:
        fs = sorted((f for f in files if f.layout == lay), key=lambda f: f.trial or 0)
        if not fs:
            continue
        out[lay] = fs[0].trial
        first = fs[0].path.read_bytes() if len(fs) > 1 else b""
        for other in fs[1:]:
            same = other.path.read_bytes() == first
            report.ignored.append((other.name, f"{_LAYOUT_WORDS[lay]} of trial {other.trial}; trial {fs[0].trial} is "
                                               f"used" + (" (identical)" if same else "")))
            if not same:
                report.warn(f"{other.name} differs from {fs[0].name}; only trial {fs[0].trial} is imported")
    return out


def _note_filled_cracks(cracks: pd.DataFrame, parsed: Parsed, report: ImportReport) -> None:
    extra = list(parsed.frame.columns[LAYOUTS["crk"].width:])
    given = {c.partition(":")[0] for c in extra}
    if "size" not in given:
        report.filled.append("cracks.size = 0 (bond radius not in the crack file)")
    if "particle_a" not in given or "particle_b" not in given:
        report.filled.append("cracks.particle_a/particle_b = -1 (ball ids not in the crack file)")
    unnamed = [c for c in extra if c.startswith("extra_")]
    if unnamed:
        why = (f"{len(unnamed)} extra column(s) after the crack normal "
               f"(name them under [columns] crk to keep them)")
        report.ignored.append((Path(parsed.where).name, why))


def _set_on_fault(events: pd.DataFrame, parsed: Parsed, cracks: pd.DataFrame | None, ae: pd.DataFrame | None,
                  cfg: PfcImportConfig) -> str:
    """Mark events that involve a fault crack and lie within ``on_fault_distance`` of the
    fault plane (reference §3). Returns a description of the rule used."""
    declared = "on_fault" in {c.partition(":")[0] for c in cfg.columns.get("ms", ())}
    if declared:
        return "from the on_fault column"
    if len(events) == 0:
        return "no events"
    plane = FaultPlane(angle_deg=cfg.fault.angle_deg, centre=tuple(cfg.fault.centre))
    near = np.abs(plane.signed_distance(events[["x", "y", "z"]].to_numpy())) < cfg.fault.on_fault_distance
    if cracks is None or len(cracks) == 0:
        events["on_fault"] = np.zeros(len(events), dtype=bool)
        return "no crack file: none marked"
    fault_cracks = cracks[cracks["kind"] == "fault"]
    if ae is not None and len(ae):
        # per-crack tensors name each crack's event (cluster_id); match them to cracks by
        # step and nearest position
        m = ae[["step", "x", "y", "z", "cluster_id"]].reset_index(names="ae_row").merge(
            cracks[["step", "x", "y", "z", "kind"]], on="step", suffixes=("", "_c"))
        if len(m):
            d2 = (m["x"] - m["x_c"]) ** 2 + (m["y"] - m["y_c"]) ** 2 + (m["z"] - m["z_c"]) ** 2
            m = m.assign(d2=d2.to_numpy()).sort_values(["ae_row", "d2"], kind="mergesort")
            best = m.drop_duplicates("ae_row")
            fault_clusters = set(best.loc[best["kind"] == "fault", "cluster_id"].tolist())
            involved = events["event_id"].isin(fault_clusters).to_numpy()
            events["on_fault"] = involved & near
            return (f"events whose per-crack tensors include a fault crack, within "
                    f"{cfg.fault.on_fault_distance:g} m of the fault plane")
    # no per-crack tensors: an event involves a fault crack when one breaks between its first
    # and last step (this contains the reference's rule, a fault crack at step_start or step_end)
    fsteps = np.sort(fault_cracks["step"].to_numpy())
    lo = np.searchsorted(fsteps, events["step_start"].to_numpy(), side="left")
    hi = np.searchsorted(fsteps, events["step_end"].to_numpy(), side="right")
    events["on_fault"] = (hi > lo) & near
    return (f"events with a fault crack between their first and last step, within "
            f"{cfg.fault.on_fault_distance:g} m of the fault plane")


def _read_sj(f: SourceFile, cfg: PfcImportConfig) -> pd.DataFrame:
    parsed = parse_layout(f.path, LAYOUTS["sj"], extra_names=cfg.columns.get("sj", ()))
    df = parsed.frame.copy()
    return df[[c for c in df.columns if not c.startswith("extra_")]].reset_index(drop=True)

def write_run(run: PfcRun, out: str | os.PathLike, *, force: bool = False) -> RunDirectory:
    """Write a :class:`PfcRun` as a complete run directory at ``out`` (all or nothing)."""
    out = Path(out)
    _check_target(out, force)
    t0 = time.perf_counter()
    run.report.out = str(out)

    def fill(tmp: Path) -> None:
        rd = RunDirectory(tmp)
        meta = dict(run.meta)
        meta["pfc_import"] = run.report.to_dict()
        rd.start(run.config, meta)
        for name, df in run.tables.items():
            rd.write_table(name, df)
        for rel, df in run.extras.items():
            atomic_write_parquet(tmp / rel, df)
        rd.complete(wall_time_s=run.report.wall_time_s + (time.perf_counter() - t0))

    build_and_install(out, fill, force)
    return RunDirectory(out)


def import_pfc(src_dir: str | os.PathLike, out: str | os.PathLike,
               config: PfcImportConfig | str | os.PathLike | None = None, *, run_id: int | None = None,
               dt: float | None = None, contact_interval: int | None = None,
               force: bool = False) -> ImportReport:
    """Import the PFC3D exports in ``src_dir`` into the run directory ``out``.

    Everything is read and validated first; the run directory is then built beside
    ``out`` and renamed into place, so an error leaves no partial directory behind.
    Returns the :class:`ImportReport` (also stored in ``meta.json`` under ``pfc_import``).
    """
    out = Path(out)
    _check_target(out, force)
    run = read_pfc(src_dir, config, run_id=run_id, dt=dt, contact_interval=contact_interval)
    write_run(run, out, force=force)
    return run.report
