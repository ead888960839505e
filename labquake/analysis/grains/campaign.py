"""The grain analysis of a run directory and of a whole campaign.

:func:`analyze_run_grains` reads a run's monitored contacts and segments them;
:func:`analyze_campaign_grains` does every run of a campaign and writes
``analysis/grains_*.parquet`` and ``figures/grains_*.png``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from labquake.analysis.grains.fits import CATEGORY_SHAPES
from labquake.analysis.grains.records import contact_arrays, segment_contacts
from labquake.analysis.grains.windows import (
    _fault_params,
    acceleration_difference,
    category_proportions,
    headline_shares,
    stress_strength,
    time_windows,
)
from labquake.errors import InsufficientDataError, RunStateError, SchemaError


def _read_columns(path: Path, columns: Sequence[str], frame: bool = True):
    """Only the named columns of a run table: a DataFrame, or (``frame=False``) a dict of
    numpy arrays straight from Arrow (no pandas conversion)."""
    import pyarrow.parquet as pq

    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except Exception as exc:
        raise SchemaError(f"{path}: not a readable parquet file ({type(exc).__name__})") from None
    for col in columns:
        if col not in names:
            raise SchemaError(f"{path}: missing column {col!r}")
    if frame:
        return pd.read_parquet(path, columns=list(columns), engine="pyarrow")
    tbl = pq.read_table(path, columns=list(columns))
    out = {}
    for col in columns:
        arr = tbl.column(col)
        if arr.null_count:
            raise SchemaError(f"{path}: column {col!r} has missing values")
        out[col] = arr.to_numpy()
    return out


def analyze_run_grains(run, episodes: pd.DataFrame | None = None, components: Sequence[str] = ("fn", "fs"),
                       rtol: float = 1e-9, initially_broken: bool = False) -> pd.DataFrame:
    """Segment records of one run directory (see :func:`segment_contacts`), with the run's
    fault parameters and, when ``monitored.parquet`` exists, each contact's x, y, z."""
    from labquake.io.rundir import RunDirectory

    run = run if isinstance(run, RunDirectory) else RunDirectory(run)
    meta = run.read_meta()
    path = run.table_path("contacts")
    if not path.exists():
        raise RunStateError(f"{path}: missing; the grain analysis needs monitored contacts")
    df = _read_columns(path, ["step", "contact_id", "broken", *components], frame=False)
    if episodes is None:
        from labquake.analysis.segment import segment_run

        episodes = segment_run(run)
    arrs = contact_arrays(df, components)
    rec = segment_contacts(arrs["steps"], {c: arrs[c] for c in components}, arrs["broken"], episodes,
                           contact_id=arrs["contact_id"], rtol=rtol, initially_broken=initially_broken)
    fp = _fault_params(fault=meta.get("fault"))
    rec.insert(0, "run", run.name)
    for k, v in fp.items():
        rec[k] = v
    if run.has_table("monitored"):
        mon = _read_columns(run.table_path("monitored"), ["contact_id", "x", "y", "z"])
        rec = rec.merge(mon, on="contact_id", how="left")
    return rec


def analyze_campaign_grains(
    campaign_dir: str | os.PathLike,
    window: int = 25_000,
    span: int = 600_000,
    area: float | None = None,
    cohesion: float | None = None,
    friction_angle_deg: float | None = None,
    components: Sequence[str] = ("fn", "fs"),
    episodes: Callable[[Any], pd.DataFrame] | Mapping[str, pd.DataFrame] | None = None,
    figures: bool = True,
    rtol: float = 1e-9,
    initially_broken: bool = False,
) -> dict[str, Path]:
    """Grain analysis of every complete run of a campaign.

    Writes under ``campaign_dir``: ``analysis/grains_segments.parquet`` (one row per run,
    foreshock episode and contact), ``grains_categories.parquet``,
    ``grains_stress_strength.parquet``, ``grains_pdfs.parquet``,
    ``grains_acceleration.parquet``, ``grains_headline.parquet``, and the figures
    ``figures/grains_categories.png``, ``grains_stress_strength.png``,
    ``grains_overlap.png``, ``grains_acceleration.png``. Returns name → path.

    ``episodes`` overrides :func:`labquake.analysis.segment.segment_run`: a callable taking the
    run, or a mapping from run name to an episodes table. ``area``/``cohesion``/
    ``friction_angle_deg`` override every run's fault parameters (meta.json ``fault``,
    else the reference 2e-5 m², 55 MPa, 30°). ``initially_broken``: see
    :func:`broken_codes` (by default a contact flagged broken from its first sample is
    treated as unbonded, not as broken).
    """
    from labquake.io.rundir import atomic_write_parquet, find_runs

    for comp in ("fn", "fs"):
        if comp not in components:
            raise SchemaError(f"components must include 'fn' and 'fs', got {list(components)}")
    time_windows(window, span)  # validates
    root = Path(campaign_dir)
    runs = [r for r in find_runs(root) if r.has_table("contacts")]
    if not runs:
        raise InsufficientDataError(f"{root}: no complete run with contacts.parquet; simulate or import runs first")
    recs, skipped = [], []
    for run in runs:
        try:
            if episodes is None:
                eps = None
            elif callable(episodes):
                eps = episodes(run)
            else:
                eps = episodes.get(run.name)
                if eps is None:
                    raise InsufficientDataError(f"no episodes given for run {run.name!r}")
            recs.append(analyze_run_grains(run, eps, components=components, rtol=rtol,
                                           initially_broken=initially_broken))
        except InsufficientDataError as exc:  # e.g. no fault cracks: no episodes to cut at
            skipped.append(f"{run.name}: {exc}")
    if skipped:
        import warnings

        warnings.warn(f"grain analysis skipped {len(skipped)} run(s): {'; '.join(skipped)}", stacklevel=2)
    if not recs:
        raise InsufficientDataError(f"{root}: no run could be analysed ({'; '.join(skipped)})")
    records = pd.concat(recs, ignore_index=True)
    if area is not None or cohesion is not None or friction_angle_deg is not None:
        fp = _fault_params(area, cohesion, friction_angle_deg)
        for k, v in fp.items():
            if {"contact_area": area, "cohesion": cohesion, "friction_angle_deg": friction_angle_deg}[k] is not None:
                records[k] = v
    cats = category_proportions(records, window, span)
    overlap, pdfs = stress_strength(records, window, span)
    accel = acceleration_difference(records, window, span)
    head = headline_shares(records, by="run", rtol=rtol)

    out: dict[str, Path] = {}
    adir = root / "analysis"
    for name, df in (("segments", records), ("categories", cats), ("stress_strength", overlap),
                     ("pdfs", pdfs), ("acceleration", accel), ("headline", head)):
        out[f"grains_{name}"] = atomic_write_parquet(adir / f"grains_{name}.parquet", df)
    if figures:
        from labquake.viz import grain_figures as gf

        fdir = root / "figures"
        out["grains_categories_png"] = gf.save(gf.category_figure(cats, CATEGORY_SHAPES), fdir / "grains_categories.png")
        out["grains_stress_strength_png"] = gf.save(gf.stress_strength_figure(pdfs, overlap),
                                                    fdir / "grains_stress_strength.png")
        out["grains_overlap_png"] = gf.save(gf.overlap_figure(overlap), fdir / "grains_overlap.png")
        out["grains_acceleration_png"] = gf.save(gf.acceleration_figure(accel), fdir / "grains_acceleration.png")
    return out
