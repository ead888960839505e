"""The campaign report: one self-contained ``report.html`` (every image embedded).

:func:`write_report` reads everything from the campaign directory, so a report can be
rebuilt at any time from results on disk: the runs, ``campaign.toml`` and
``campaign.json`` (written by :mod:`labquake.campaign`), ``analysis/*.parquet`` and
``figures/*.png`` (written by :func:`labquake.analysis.pipeline.analyze_campaign` and
:func:`labquake.analysis.grains.analyze_campaign_grains`). Missing pieces are stated in the report,
never fatal: a report of a campaign whose analysis failed still shows the runs.

The report opens with a summary (runs complete, reference ranges met, B_k levels
significant after multiple-testing correction, and every warning), a key from the short
run labels ``R01``, ``R02``, ... used in the figures to the run names and parameters, and a
figure index. It then holds the loading curves and fault-crack KDFs, a table of peak
stress, stress drop, b and D2 per run against the reference ranges of Ye et al. (2024),
the stick-slip cycles beside the Okubo FB03-087 laboratory fault (:func:`cycles_section`),
the AE source mechanisms (a Hudson source-type plot of every event and the share of
tensile, shear, implosive and CLVD events per run, :func:`source_mechanisms`),
the dendrograms and B_k (raw, Holm and Benjamini–Hochberg p-values), the grain-scale
figures, a gallery of the per-run figures, one 3D image of the contact-force network, and
the campaign's config and software versions.

Significance: the headline counts B_k levels whose **Holm**-adjusted p is below ``alpha``
(and lists the Benjamini–Hochberg-adjusted and raw p beside them). ``family="metric"``
adjusts over the levels of each metric (as :func:`labquake.analysis.trees.compare_trees` and the
B_k figures do); ``family="all"`` adjusts over every level of every metric together
(family-wise control across the metrics).

Honesty: an analysis table that exists but cannot be read is a visible warning (its
numbers are not recomputed with other settings behind the reader's back), and the outputs
of a stage that failed (``campaign.json``: ``stage_errors``, ``stale``) are labelled
**stale** wherever they are shown.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import LabquakeError
from labquake.io.rundir import (
    RunDirectory,
    atomic_write_bytes,
    atomic_write_text,
    find_runs,
    read_toml,
    software_versions,
)

REPORT_FILE = "report.html"
#: figures the report makes itself are written to figures/ with this prefix
OWN_PREFIX = "report_"


@dataclass(frozen=True)
class Reference:
    """A quantity of the reference study and the range a reproduction should fall in."""

    label: str
    lo: float
    hi: float
    unit: str
    source: str


#: Ye, Lui & Young (2024) and the first author's thesis runs (shared/reference/ye2024.md §2, §5)
REFERENCE: dict[str, Reference] = {
    "peak_mpa": Reference("peak differential stress", 150.0, 340.0, "MPa", "27 PFC3D runs, mean ≈ 235 MPa"),
    "drop_mpa": Reference("stress drop", 38.0, 115.0, "MPa", "27 PFC3D runs, mean ≈ 76 MPa"),
    "b": Reference("b-value", 0.6, 1.7, "", "thesis runs, b = 0.99 ± 0.27 (0.61–1.67)"),
    "d2": Reference("fractal dimension D2", 1.4, 2.0, "", "thesis runs, D = 1.72 ± 0.15 (1.42–1.95)"),
}

#: statistics of the per-run table: (column of analysis/seismicity.parquet, i.e. of
#: :func:`labquake.analysis.seismicity.run_statistics`, heading, reference key)
STAT_COLUMNS: list[tuple[str, str, str]] = [
    ("b_aki", "b (Aki ML)", "b"),
    ("b_lsq", "b (LSQ, reference code)", "b"),
    ("d2_3d", "D2 (3-D)", "d2"),
    ("d2_reference", "D2 (2-D, reference code)", "d2"),
]

#: sections of figures/*.png by file-name prefix (pipeline and grain figures), in report order
FIGURE_SECTIONS: list[tuple[str, str]] = [
    ("seismicity", "Catalog statistics: b-values and D2"),
    ("distances_", "Distances between the runs' foreshock and mainshock clouds"),
    ("dendrograms_", "Dendrograms of the foreshock (Tf) and mainshock (Tm) trees"),
    ("bk_", "B_k: Fowlkes–Mallows comparison of Tf and Tm"),
    ("grains_", "Grain scale: contact categories, stress–strength overlap, acceleration"),
]
#: the stages of a campaign (labquake.campaign), in order
STAGE_ORDER = ("prepare", "simulate", "analysis", "grains", "report")
#: per-run figures, listed by name (the report shows overview figures of all runs instead)
PER_RUN_PREFIXES = ("loading_", "kdf_")

#: pipeline figures shown in the cycles section (not again under "Other figures")
CYCLE_FIGURES = ("b_cycle",)

#: reference shares of the grain-scale records (ye2024.md §1)
GRAIN_REFERENCE = {
    "share_shear_rising_strength_not": "about 25% (shear force accumulates without a gain in shear strength)",
    "share_unloading": "about 10% (unloading by the foreshock)",
}

# --------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------


def stick_slip_stats(loading: pd.DataFrame) -> dict[str, float]:
    """Peak differential stress, the stress after the largest drop, and that drop [MPa].

    The drop is the largest fall of the differential stress below its running maximum
    (the mainshock's), ``after`` the stress at the bottom of that fall.
    """
    s = loading["differential_stress"].to_numpy(dtype=float) / 1e6
    if s.size == 0:
        return {"peak_mpa": math.nan, "after_mpa": math.nan, "drop_mpa": math.nan}
    runmax = np.maximum.accumulate(s)
    fall = runmax - s
    i = int(np.argmax(fall))
    return {"peak_mpa": float(s.max()), "after_mpa": float(s[i]), "drop_mpa": float(fall[i])}


def mainshock_stats(slips: pd.DataFrame) -> dict[str, float]:
    """Peak, after and static drop [MPa] of the mainshock in ``slips.parquet`` (the
    slip event with the largest static drop, :mod:`labquake.sim.slips`); NaN when the run
    had no slip event."""
    main = slips[slips["is_mainshock"].to_numpy(dtype=bool)]
    if len(main) == 0:
        return {"peak_mpa": math.nan, "after_mpa": math.nan, "drop_mpa": math.nan}
    m = main.iloc[0]
    peak = float(m["peak_stress"]) if "peak_stress" in main.columns else float(m["stress_start"])
    return {"peak_mpa": peak / 1e6, "after_mpa": float(m["stress_end"]) / 1e6, "drop_mpa": float(m["static_drop"]) / 1e6}


def _analysis_tables(campaign_dir: Path, warnings_out: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Every ``analysis/*.parquet``; an unreadable one is left out and reported in
    ``warnings_out`` (never silently replaced)."""
    out: dict[str, pd.DataFrame] = {}
    adir = campaign_dir / "analysis"
    if adir.is_dir():
        for p in sorted(adir.glob("*.parquet")):
            try:
                out[p.stem] = pd.read_parquet(p)
            except Exception as exc:  # noqa: BLE001 - any damage: a visible warning
                if warnings_out is not None:
                    msg = " ".join(str(exc).split())[:100]
                    warnings_out.append(f"analysis/{p.name} could not be read ({type(exc).__name__}: {msg}); "
                                        "its results are missing from this report; rerun the analysis")
    return out


def per_run_table(campaign_dir: str | os.PathLike, tables: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per complete run: peak, after, drop [MPa] (of the mainshock in
    ``slips.parquet``, or from the loading curve for runs without one), the
    :data:`STAT_COLUMNS` (b and D2) and ``n_events`` (fault events).

    b and D2 come from ``analysis/seismicity.parquet`` when the campaign analysis wrote
    it, else (no such file) from :func:`labquake.analysis.seismicity.run_statistics` on each run's
    events. When the file exists but cannot be read (or lacks the ``run`` column), b and
    D2 are left empty rather than recomputed with other settings.
    """
    campaign_dir = Path(campaign_dir)
    tables = _analysis_tables(campaign_dir) if tables is None else tables
    runs = find_runs(campaign_dir)
    rows = []
    for rd in runs:
        row: dict[str, Any] = {"run": rd.name}
        try:  # the slip events where the run has them, else (imported runs) the loading curve
            row.update(mainshock_stats(rd.read_table("slips")) if rd.has_table("slips")
                       else stick_slip_stats(rd.read_table("loading", ["differential_stress"])))
        except LabquakeError:
            row.update(peak_mpa=math.nan, after_mpa=math.nan, drop_mpa=math.nan)
        rows.append(row)
    df = pd.DataFrame(rows, columns=["run", "peak_mpa", "after_mpa", "drop_mpa"])
    stats = tables.get("seismicity")
    if stats is None and not (campaign_dir / "analysis" / "seismicity.parquet").exists():
        stats = _compute_stats(runs)
    elif stats is None or "run" not in stats.columns:
        stats = pd.DataFrame({"run": []})
    stats = stats.drop_duplicates("run").set_index("run").reindex(df["run"])
    for col in [c for c, _, _ in STAT_COLUMNS] + ["n_events"]:
        df[col] = stats[col].to_numpy(dtype=float) if col in stats.columns else math.nan
    return df


def _compute_stats(runs: Sequence[RunDirectory]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    try:
        from labquake.analysis.seismicity import run_statistics
    except ImportError:
        return pd.DataFrame({"run": [rd.name for rd in runs]})
    for rd in runs:
        try:
            rows.append(run_statistics(rd, n_boot=0))
        except (LabquakeError, ValueError):  # no events table, too few events
            rows.append({"run": rd.name})
    return pd.DataFrame(rows) if rows else pd.DataFrame({"run": []})


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def loading_figure(runs: Sequence[RunDirectory]) -> bytes | None:
    """Differential stress against axial strain, every run (legend: short run labels)."""
    from labquake.viz.analysis_figures import short_labels

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    n = 0
    for rd, lab in zip(runs, short_labels([r.name for r in runs])):
        with contextlib.suppress(LabquakeError):
            lo = rd.read_table("loading", ["axial_strain", "differential_stress"])
            ax.plot(lo["axial_strain"] * 100, lo["differential_stress"] / 1e6, lw=0.8, label=lab)
            n += 1
    if not n:
        plt.close(fig)
        return None
    ax.axhspan(REFERENCE["peak_mpa"].lo, REFERENCE["peak_mpa"].hi, color="0.9", zorder=0, label="reference peak range")
    ax.set_xlabel("axial strain [%]")
    ax.set_ylabel("differential stress [MPa]")
    ax.set_title("Loading curves")
    if n <= 12:
        ax.legend(fontsize=6, ncol=2)
    return _png(fig)


def energy_figure(runs: Sequence[RunDirectory], max_runs: int = 6) -> tuple[bytes, int] | None:
    """The energy budget (``energy.parquet``) of the first ``max_runs`` runs that have one,
    and how many runs lack it (runs made before the table existed); None if none has it."""
    from labquake.viz.analysis_figures import energy_budget_figure, short_labels

    labels = dict(zip([r.name for r in runs], short_labels([r.name for r in runs])))
    tables, names, missing = [], [], 0
    for rd in runs:
        if not rd.has_table("energy"):
            missing += 1
            continue
        if len(tables) < max_runs:
            with contextlib.suppress(LabquakeError):
                tables.append(rd.read_table("energy"))
                names.append(labels[rd.name])
    if not tables:
        return None
    fig = energy_budget_figure(tables, names, max_panels=max_runs)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue(), missing


def kdf_figure(runs: Sequence[RunDirectory], bandwidth: float = 2000, episodes: Mapping[str, pd.DataFrame] | None = None,
               max_runs: int = 30) -> bytes | None:
    """Fault-crack KDFs (:func:`labquake.analysis.segment.kdf`, σ = ``bandwidth`` steps) with their
    episodes shaded, one panel per run (at most ``max_runs``): the mainshock red,
    foreshocks blue. ``episodes`` (run name -> episodes table) are those the campaign
    analysis used; a run without them is segmented here."""
    from labquake.analysis.segment import kdf, segment_run

    from labquake.viz.analysis_figures import short_labels

    plt = _plt()
    data = []
    labels = dict(zip([r.name for r in runs], short_labels([r.name for r in runs])))
    for rd in runs[:max_runs]:
        with contextlib.suppress(LabquakeError):
            cr = rd.read_table("cracks", ["step", "kind"])
            st = cr.loc[cr["kind"].astype(str) == "fault", "step"].to_numpy()
            if st.size:
                g, d = kdf(st, bandwidth=bandwidth)
                eps = (episodes or {}).get(rd.name)
                if eps is None:
                    with contextlib.suppress(LabquakeError):
                        eps = segment_run(rd, bandwidth=bandwidth)
                data.append((labels[rd.name], st.size, g, d, eps))
    if not data:
        return None
    ncol = min(3, len(data))
    nrow = math.ceil(len(data) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.2 * nrow), squeeze=False)
    for ax, (name, n, g, d, eps) in zip(axes.flat, data):
        ax.plot(g, d, lw=1, color="k")
        if eps is not None:
            for _, e in eps.iterrows():
                if e["is_mainshock"]:
                    ax.axvspan(e["start"], e["end"], color="tab:red", alpha=0.2, lw=0)
                elif e["lever_arm"] > 0:
                    ax.axvspan(e["start"], e["end"], color="tab:blue", alpha=0.12, lw=0)
            for b in eps["start"].to_numpy(float)[1:]:
                ax.axvline(b, color="0.3", lw=0.6, ls=":")
        ax.set_title(f"{name} ({n} fault cracks)", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("step", fontsize=7)
    for ax in list(axes.flat)[len(data):]:
        ax.axis("off")
    fig.suptitle(f"Fault-crack KDFs (σ = {bandwidth:g} steps); red: mainshock episode, blue: foreshock episodes, dotted: episode bounds", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def source_mechanisms(runs: Sequence[RunDirectory]) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Hudson source types of every run's AE events and the share of each class per run.

    Returns the classified events (:func:`labquake.sim.ae.moment.classify_events`, with a
    ``run`` column) and a table with one row per run plus an ``all`` row: ``events``, the
    percentage of each class of :data:`labquake.sim.ae.moment.SOURCE_TYPES`, the median
    iso/dev of all events and of the events made only of tensile cracks (an opening crack
    must be positive) with their number. None when no run has events.
    """
    from labquake.sim.ae.moment import SOURCE_TYPES, classify_events

    parts = []
    for rd in runs:
        with contextlib.suppress(LabquakeError, KeyError):
            ev = rd.read_table("events")
            cr = None
            with contextlib.suppress(LabquakeError):
                cr = rd.read_table("cracks")
                if "event_id" not in cr.columns:
                    cr = None
            if len(ev):
                t = classify_events(ev, cr)
                t.insert(0, "run", rd.name)
                parts.append(t)
    if not parts:
        return None
    table = pd.concat(parts, ignore_index=True)

    def row(name: str, t: pd.DataFrame) -> dict[str, Any]:
        out: dict[str, Any] = {"run": name, "events": len(t)}
        for kind in SOURCE_TYPES:
            out[f"{kind} %"] = 100.0 * float((t["source_type"].astype(str) == kind).mean())
        out["median iso/dev"] = float(t["iso_ratio"].median())
        ten = t[t["crack_modes"] == "tension"] if "crack_modes" in t else t.iloc[:0]
        out["tensile-crack events"] = len(ten)
        out["their median iso/dev"] = float(ten["iso_ratio"].median()) if len(ten) else math.nan
        return out

    rows = [row(name, g) for name, g in table.groupby("run", sort=True)]
    if len(rows) > 1:
        rows.append(row("all", table))
    return table, pd.DataFrame(rows)


def hudson_figure(table: pd.DataFrame) -> bytes:
    """The Hudson source-type plot of the classified events of every run."""
    from labquake.viz.ae_figures import hudson_figure as _hudson

    n_runs = table["run"].nunique()
    return _png(_hudson(table, f"AE source types, {n_runs} run{'s' if n_runs != 1 else ''} (Hudson et al. 1989, equal-area)"))


def force_network_image(runs: Sequence[RunDirectory]) -> tuple[bytes, str] | None:
    """A 3D image of the contact-force network of one snapshot, and its caption.

    Takes the first run with snapshots and its snapshot closest to the peak stress. Uses
    :mod:`labquake.viz.scene` (pyvista, off-screen) when it can, else a matplotlib 3D
    plot of the strongest contacts.
    """
    for rd in runs:
        try:
            from labquake.io.vtk import list_snapshots, read_snapshot

            steps = list_snapshots(rd.path)
        except (ImportError, LabquakeError, OSError):
            continue
        if not steps:
            continue
        step = steps[len(steps) // 2]
        with contextlib.suppress(LabquakeError):
            lo = rd.read_table("loading", ["step", "differential_stress"])
            peak = int(lo["step"].iloc[int(np.argmax(lo["differential_stress"].to_numpy()))])
            step = min(steps, key=lambda s: abs(s - peak))
        caption = f"{rd.name}, step {step}"
        png = _scene_png(rd, step)
        if png is not None:
            return png, caption + " (pyvista)"
        try:
            snap = read_snapshot(rd.path, step)
        except (LabquakeError, OSError, KeyError):
            continue
        png = _mpl_force_network(snap, caption)
        if png is not None:
            return png, caption
    return None


def _scene_png(rd: RunDirectory, step: int) -> bytes | None:
    """The pyvista scene of :func:`labquake.viz.scene.render_run`, or None without GL."""
    import tempfile

    try:
        from labquake.viz.scene import render_run

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "scene.png"
            render_run(rd.path, step, out, window_size=(900, 900), events=False, cracks=False)
            return out.read_bytes()
    except Exception:  # noqa: BLE001 - no OpenGL here, or no scene module: matplotlib instead
        return None


def _mpl_force_network(snap: Mapping[str, Any], caption: str, max_contacts: int = 4000) -> bytes | None:
    """Matplotlib fallback: the strongest contacts of a snapshot (:func:`read_snapshot`) as lines."""
    pos = np.asarray(snap["positions"], dtype=float)
    ci, cj = np.asarray(snap["contact_i"]), np.asarray(snap["contact_j"])
    fn = np.asarray(snap["fn"], dtype=float)
    if pos.ndim != 2 or len(pos) == 0 or ci.size == 0:
        return None
    order = np.argsort(-fn)[:max_contacts]
    plt = _plt()
    from matplotlib import colormaps
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    segs = np.stack([pos[ci[order]], pos[cj[order]]], axis=1) * 1e3
    f = np.clip(fn[order], 0, None)
    fmax = float(f.max()) if f.size and f.max() > 0 else 1.0
    fig = plt.figure(figsize=(5, 6))
    ax = fig.add_subplot(projection="3d")
    ax.add_collection(Line3DCollection(segs, colors=colormaps["inferno_r"](f / fmax), linewidths=0.3 + 2.5 * f / fmax))
    lo, hi = pos.min(axis=0) * 1e3, pos.max(axis=0) * 1e3
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_zlim(lo[2], hi[2])
    ax.set_box_aspect(hi - lo + 1e-9)
    ax.set_xlabel("x [mm]")
    ax.set_ylabel("y [mm]")
    ax.set_zlabel("z [mm]")
    ax.set_title(f"Contact normal forces, {caption}\n(max {fmax:.3g} N; width and colour follow the force)", fontsize=8)
    return _png(fig)


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;margin-top:2em}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f0f0f0}
td.l,th.l{text-align:left}.out{background:#fde2e2}.in{background:#e3f6e3}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:0.85em;color:#555}
pre{background:#f6f6f6;padding:0.8em;overflow-x:auto;font-size:0.8em}
.warn{color:#a00}.note{color:#555;font-size:0.9em}
.stale{background:#a00;color:#fff;font-weight:bold;padding:0 4px;border-radius:3px;text-transform:uppercase;font-size:0.8em}
.stale-figure img{opacity:0.55}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:0.8em}
.gallery figure{margin:0}
ol.index{columns:3;font-size:0.85em}
#summary ul{line-height:1.5}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _img(data: bytes, caption: str, alt: str | None = None, anchor: str | None = None, stale: bool = False) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    ident = f' id="{_e(anchor)}"' if anchor else ""
    mark = _STALE + " " if stale else ""
    cls = ' class="stale-figure"' if stale else ""
    return (
        f'<figure{ident}{cls}><img src="data:image/png;base64,{b64}" alt="{_e(alt or caption)}">'
        f"<figcaption>{mark}{_e(caption)}</figcaption></figure>"
    )


def _num(v: Any, fmt: str = "{:.3g}") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _e(v)
    return "–" if math.isnan(f) else fmt.format(f)


def _table(df: pd.DataFrame, max_rows: int = 60, floatfmt: str = "{:.4g}") -> str:
    if df.empty:
        return '<p class="note">(empty table)</p>'
    head = "".join(f'<th class="l">{_e(c)}</th>' if not pd.api.types.is_numeric_dtype(df[c]) else f"<th>{_e(c)}</th>" for c in df.columns)
    body = []
    for _, row in df.head(max_rows).iterrows():
        cells = []
        for c in df.columns:
            v = row[c]
            if pd.api.types.is_numeric_dtype(df[c]) and not isinstance(v, (bool, np.bool_)):
                cells.append(f"<td>{_num(v, floatfmt)}</td>")
            else:
                cells.append(f'<td class="l">{_e(v)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="note">{len(df) - max_rows} more rows in the parquet file.</p>' if len(df) > max_rows else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _reproduction_table(df: pd.DataFrame, overrides: Mapping[str, Mapping[str, Any]]) -> str:
    cols = [("peak_mpa", "peak [MPa]", "peak_mpa"), ("after_mpa", "after drop [MPa]", ""), ("drop_mpa", "stress drop [MPa]", "drop_mpa")]
    cols += [(c, t, ref) for c, t, ref in STAT_COLUMNS if df[c].notna().any()]
    has_label = "label" in df.columns
    head = (('<th class="l">label</th>' if has_label else "") + '<th class="l">run</th><th class="l">parameters</th>'
            + "".join(f"<th>{_e(t)}</th>" for _, t, _ in cols) + "<th>fault events</th>")
    lead = '<td></td>' if has_label else ""
    rows = []
    for _, r in df.iterrows():
        cells = ([f'<td class="l">{_e(r["label"])}</td>'] if has_label else []) + [f'<td class="l">{_e(r["run"])}</td>']
        ov = overrides.get(r["run"], {})
        cells.append(f'<td class="l">{_e(", ".join(f"{k}={v}" for k, v in ov.items()))}</td>')
        for key, _, refkey in cols:
            v = r[key]
            ref = REFERENCE.get(refkey)
            cls = ""
            if ref is not None and isinstance(v, (int, float)) and not math.isnan(v):
                cls = ' class="in"' if ref.lo <= v <= ref.hi else ' class="out"'
            cells.append(f"<td{cls}>{_num(v)}</td>")
        cells.append(f"<td>{_num(r['n_events'], '{:.0f}')}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    # summary rows
    summ = [lead + '<td class="l"><b>mean (min–max)</b></td><td></td>']
    refrow = [lead + '<td class="l"><b>reference range</b></td><td class="l">Ye et al. (2024)</td>']
    inrow = [lead + '<td class="l"><b>runs in range</b></td><td></td>']
    for key, _, refkey in cols:
        v = pd.to_numeric(df[key], errors="coerce").dropna()
        summ.append(f"<td>{_num(v.mean())} ({_num(v.min())}–{_num(v.max())})</td>" if len(v) else "<td>–</td>")
        ref = REFERENCE.get(refkey)
        if ref is None:
            refrow.append("<td></td>")
            inrow.append("<td></td>")
        else:
            refrow.append(f"<td>{ref.lo:g}–{ref.hi:g}</td>")
            inrow.append(f"<td>{int(((v >= ref.lo) & (v <= ref.hi)).sum())} / {len(v)}</td>" if len(v) else "<td>–</td>")
    for extra in (summ, refrow, inrow):
        rows.append("<tr>" + "".join(extra) + "<td></td></tr>")
    refs = "".join(f"<li>{_e(r.label)}: {r.lo:g}–{r.hi:g} {_e(r.unit)} ({_e(r.source)})</li>" for r in REFERENCE.values())
    return (
        f"<table><tr>{head}</tr>{''.join(rows)}</table>"
        '<p class="note">Green: inside the reference range, red: outside. Stresses are differential, '
        "compression positive; the drop is the largest fall below the running maximum. References "
        f"(shared/reference/ye2024.md §2, §5):</p><ul class=\"note\">{refs}</ul>"
    )


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    v = software_versions()
    for pkg in ("dask", "distributed", "matplotlib", "pyvista", "vtk", "tqdm"):
        with contextlib.suppress(md.PackageNotFoundError):
            v.setdefault(pkg, md.version(pkg))
    return v


def bk_significance(bk: pd.DataFrame, family: str = "metric", alpha: float = 0.05) -> pd.DataFrame:
    """B_k rows with Holm and Benjamini–Hochberg adjusted p over the chosen family.

    Parameters
    ----------
    bk
        ``analysis/bk.parquet`` (columns ``metric``, ``k``, ``B``, ``p``; others kept).
    family
        ``"metric"``: adjust over the levels of each metric; ``"all"``: over every level
        of every metric together (family-wise control across the metrics).
    alpha
        Significance level of the ``holm_significant`` and ``bh_significant`` columns.

    Returns
    -------
    A new DataFrame with ``p_raw``, ``p_holm``, ``p_bh`` (replacing any of those names in
    ``bk``), ``holm_significant`` and ``bh_significant``.
    """
    from labquake.errors import ConfigError
    from labquake.analysis.trees import benjamini_hochberg, holm

    if family not in ("metric", "all"):
        raise ConfigError(f"family must be 'metric' or 'all', got {family!r}")
    if not (0.0 < float(alpha) < 1.0):
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha}")
    out = bk.copy()
    p = pd.to_numeric(out["p"], errors="coerce").to_numpy(dtype=float)
    out["p_raw"] = p
    out["p_holm"] = np.nan
    out["p_bh"] = np.nan
    groups = [np.arange(len(out))] if family == "all" or "metric" not in out.columns else \
        [np.flatnonzero((out["metric"] == m).to_numpy()) for m in pd.unique(out["metric"])]
    ph = np.full(len(out), np.nan)
    pb = np.full(len(out), np.nan)
    for idx in groups:
        ph[idx] = holm(p[idx])
        pb[idx] = benjamini_hochberg(p[idx])
    out["p_holm"] = ph
    out["p_bh"] = pb
    out["holm_significant"] = ph < alpha
    out["bh_significant"] = pb < alpha
    return out


def _significance_headline(bk: pd.DataFrame, family: str, alpha: float) -> tuple[str, str]:
    """(HTML paragraph, one-line summary) of the B_k levels significant after correction."""
    sig = bk_significance(bk, family, alpha)
    fam = ("over the levels of each metric" if family == "metric"
           else "over all levels of all metrics together (family-wise across the metrics)")
    per_metric = []
    short = []
    metrics = list(pd.unique(sig["metric"])) if "metric" in sig.columns else [""]
    for m in metrics:
        g = sig[sig["metric"] == m] if m else sig
        hit = g[g["holm_significant"]]
        if len(hit):
            levels = "; ".join(f"k = {int(r.k)} (Holm p = {r.p_holm:.3g}, BH p = {r.p_bh:.3g}, raw p = {r.p_raw:.3g})"
                               for r in hit.itertuples())
        else:
            levels = "none"
        per_metric.append(f"<li><b>{_e(m)}</b>: {_e(levels)}</li>")
        short.append(f"{m}: {', '.join(str(int(k)) for k in hit['k']) if len(hit) else 'none'}")
    n_raw = int((sig["p_raw"] < alpha).sum())
    n_holm = int(sig["holm_significant"].sum())
    n_bh = int(sig["bh_significant"].sum())
    html_text = (
        f"<p><b>B_k levels significant after correction</b> (Holm-adjusted p &lt; {alpha:g}, adjusted {_e(fam)}; "
        f"Benjamini–Hochberg and raw p beside):</p><ul>{''.join(per_metric)}</ul>"
        f'<p class="note">{n_holm} of {len(sig)} levels pass Holm, {n_bh} pass Benjamini–Hochberg (false discovery '
        f"rate), {n_raw} have a raw p &lt; {alpha:g} before any correction. Reference (Ye et al. 2024): p &gt; 0.2% "
        "at every level except k = 2 and k = 8, so \u201cno relation between foreshocks and mainshock\u201d cannot be "
        "rejected.</p>"
    )
    line = (f"{n_holm} of {len(sig)} B_k levels significant after Holm correction (p < {alpha:g}, "
            f"{'per metric' if family == 'metric' else 'across all metrics'}): " + "; ".join(short)
            + f" ({n_raw} with raw p < {alpha:g})")
    return html_text, line


#: outputs of each analysis stage of a campaign (glob patterns under the campaign directory)
STAGE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "analysis": ("analysis/runs.parquet", "analysis/episodes.parquet", "analysis/seismicity.parquet",
                 "analysis/clouds.parquet", "analysis/distances.parquet", "analysis/linkage.parquet",
                 "analysis/bk.parquet", "analysis/cycles.parquet", "analysis/b_cycle.parquet",
                 "analysis/cycle_episodes.parquet", "analysis/cycle_clouds.parquet", "figures/seismicity*.png",
                 "figures/distances_*.png", "figures/dendrograms_*.png", "figures/bk_*.png", "figures/kdf_*.png",
                 "figures/loading_*.png", "figures/b_cycle.png"),
    "grains": ("analysis/grains_*.parquet", "figures/grains_*.png"),
}


def stage_outputs(campaign_dir: str | os.PathLike, stage: str) -> list[str]:
    """The files of ``stage`` (:data:`STAGE_OUTPUTS`) present in a campaign, relative paths."""
    root = Path(campaign_dir)
    found: set[str] = set()
    for pattern in STAGE_OUTPUTS.get(stage, ()):
        found.update(p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file())
    return sorted(found)


def _stale_files(campaign_dir: Path, state: Mapping[str, Any]) -> dict[str, str]:
    """relative path -> the failed stage, for every output a failed stage left behind."""
    stale: dict[str, str] = {}
    recorded = state.get("stale") if isinstance(state.get("stale"), Mapping) else {}
    errors = state.get("stage_errors") if isinstance(state.get("stage_errors"), Mapping) else {}
    for stage in set(recorded) | (set(errors) & set(STAGE_OUTPUTS)):
        files = recorded.get(stage)
        if not isinstance(files, list):  # a failed stage without a list: all its outputs are suspect
            files = stage_outputs(campaign_dir, stage)
        for f in files:
            if (campaign_dir / str(f)).exists():
                stale[str(f)] = stage
    return stale


_STALE = '<span class="stale">stale</span>'


def write_report(campaign_dir: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 family: str = "metric", alpha: float = 0.05) -> Path:
    """Write ``report.html`` for a campaign directory (atomically) and return its path.

    Parameters
    ----------
    campaign_dir
        The campaign directory.
    out
        Where to write (default ``campaign_dir/report.html``).
    family
        Multiple-testing family of the B_k significance headline: ``"metric"`` (the levels
        of each metric) or ``"all"`` (every level of the three metrics together).
    alpha
        Significance level of the headline.
    """
    from labquake.viz.analysis_figures import short_labels

    bk_significance(pd.DataFrame({"p": []}), family, alpha)  # validates family and alpha
    campaign_dir = Path(campaign_dir)
    out = Path(out) if out is not None else campaign_dir / REPORT_FILE
    runs = find_runs(campaign_dir)
    warn: list[str] = []
    state = _read_json(campaign_dir / "campaign.json", warn)
    tables = _analysis_tables(campaign_dir, warn)
    figdir = campaign_dir / "figures"
    name = state.get("name") or campaign_dir.name
    spec_path = campaign_dir / "campaign.toml"
    run_states = state.get("runs") or {}
    stale = _stale_files(campaign_dir, state)
    stale_tables = {Path(f).stem for f in stale if f.startswith("analysis/")}
    parts: list[str] = []
    add = parts.append
    gallery: list[tuple[str, str]] = []  # (anchor, title) of every figure shown, for the index

    def own_figure(fname: str, data: bytes | None) -> bytes | None:
        """A figure the report makes: also saved in figures/ for use elsewhere."""
        if data is not None:
            with contextlib.suppress(LabquakeError):
                atomic_write_bytes(figdir / fname, data)
        return data

    def figure(data: bytes, caption: str, anchor: str, title: str, is_stale: bool = False) -> str:
        gallery.append((anchor, title + (" (stale)" if is_stale else "")))
        return _img(data, caption, anchor=anchor, stale=is_stale)

    # -- labels ----------------------------------------------------------------------------
    all_names = sorted(set(run_states) | {rd.name for rd in runs})
    label_of = dict(zip(all_names, short_labels(all_names)))

    # -- numbers for the summary -------------------------------------------------------------
    n_all = len(run_states) or len(runs)
    failed = {k: v for k, v in run_states.items() if v.get("status") == "failed"}
    unfinished = [k for k, v in run_states.items() if v.get("status") not in ("complete", "failed")]
    per_run = per_run_table(campaign_dir, tables) if runs else None
    if per_run is not None:
        per_run.insert(0, "label", [label_of.get(r, r) for r in per_run["run"]])
    if per_run is not None and "seismicity" in tables and "run" not in tables["seismicity"].columns:
        warn.append("b and D2 are not shown: analysis/seismicity.parquet has no 'run' column; rerun the analysis")
    for k, v in failed.items():
        warn.append(f"run {label_of.get(k, k)} ({k}) failed: {v.get('error')}")
    if unfinished:
        warn.append(f"{len(unfinished)} run(s) not finished: {', '.join(unfinished[:6])}{' ...' if len(unfinished) > 6 else ''}")
    stage_errors = state.get("stage_errors") or {}
    for k, v in stage_errors.items():
        warn.append(f"stage {k} failed: {v}")
    if stale:
        by_stage: dict[str, int] = {}
        for st in stale.values():
            by_stage[st] = by_stage.get(st, 0) + 1
        for st, n in by_stage.items():
            warn.append(f"{n} output(s) of the failed {st} stage are from an earlier attempt and are marked stale")
    if "runs" in tables and {"run", "included"} <= set(tables["runs"].columns):
        excl = tables["runs"][~tables["runs"]["included"].astype(bool)]
        if len(excl):
            warn.append(f"{len(excl)} run(s) left out of the cloud and tree analysis (see the reproduction section)")

    # -- header and summary ------------------------------------------------------------------
    add(f"<h1>labquake campaign <code>{_e(name)}</code></h1>")
    add('<section id="summary"><h2>Summary</h2><ul>')
    add(f"<li><b>Runs</b>: {len(runs)} of {n_all} complete"
        + (f', <span class="warn">{len(failed)} failed</span>' if failed else "")
        + (f', <span class="warn">{len(unfinished)} not finished</span>' if unfinished else "") + ".</li>")
    if per_run is not None:
        met = []
        for key, ref in REFERENCE.items():
            cols = [(c, t) for c, t, r in STAT_COLUMNS if r == key] if key in ("b", "d2") else [(key, ref.label)]
            shown = 0
            for c, title in cols:
                v = pd.to_numeric(per_run.get(c, pd.Series(dtype=float)), errors="coerce").dropna()
                if len(v):
                    met.append(f"{title} {int(((v >= ref.lo) & (v <= ref.hi)).sum())}/{len(v)}")
                    shown += 1
            if not shown:
                met.append(f"{ref.label} – (not computed)")
        add(f"<li><b>Reference ranges met</b> (runs inside the range of Ye et al. 2024): {_e('; '.join(met))}.</li>")
    if "bk" in tables and {"p", "k"} <= set(tables["bk"].columns):
        _, line = _significance_headline(tables["bk"], family, alpha)
        add(f"<li><b>B_k</b>: {_e(line)}{' ' + _STALE if 'bk' in stale_tables else ''}.</li>")
    else:
        add("<li><b>B_k</b>: not computed.</li>")
    if warn:
        add(f'<li class="warn"><b>Warnings ({len(warn)})</b>:<ul>' + "".join(f"<li>{_e(w)}</li>" for w in warn)
            + "</ul></li>")
    else:
        add("<li><b>Warnings</b>: none.</li>")
    add(f'</ul><p class="note">Campaign directory <code>{_e(campaign_dir.resolve())}</code>. Written '
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.</p></section>")
    index_pos = len(parts)  # the figure index goes here once every figure is known
    add("")

    # -- run key -------------------------------------------------------------------------------
    add('<h2 id="run-key">Run key</h2><p class="note">Figures label runs by these short labels.</p>')
    key_rows = []
    complete = {rd.name for rd in runs}
    for rn in all_names:
        stt = run_states.get(rn, {}).get("status") or ("complete" if rn in complete else "")
        ov = run_states.get(rn, {}).get("overrides", {})
        key_rows.append({"label": label_of[rn], "run": rn, "status": stt,
                         "parameters": ", ".join(f"{k}={v}" for k, v in ov.items())})
    add(_table(pd.DataFrame(key_rows, columns=["label", "run", "status", "parameters"]), max_rows=10_000))

    stages = state.get("stages_s") or {}
    stages = {k: stages[k] for k in sorted(stages, key=lambda k: (STAGE_ORDER.index(k) if k in STAGE_ORDER else 99, k))}
    if stages:
        add('<h2>Stages</h2><table><tr><th class="l">stage</th><th>wall time [s]</th></tr>'
            + "".join(f'<tr><td class="l">{_e(k)}</td><td>{v:.1f}</td></tr>' for k, v in stages.items())
            + f'<tr><td class="l"><b>total</b></td><td><b>{sum(stages.values()):.1f}</b></td></tr></table>')

    # -- reproduction table ----------------------------------------------------------------
    add("<h2>Reproduction of the reference ranges</h2>")
    if per_run is not None:
        if "seismicity" in stale_tables:
            add(f"<p>{_STALE}: b and D2 come from an analysis attempt older than the failed stage.</p>")
        add(_reproduction_table(per_run, {k: v.get("overrides", {}) for k, v in run_states.items()}))
    else:
        add('<p class="warn">No complete run.</p>')
    if "runs" in tables and {"run", "included"} <= set(tables["runs"].columns):
        excl = tables["runs"][~tables["runs"]["included"].astype(bool)]
        if len(excl):
            add(f'<p class="warn">{len(excl)} run(s) left out of the cloud and tree analysis:</p>' + _table(excl))

    # -- loading curves and KDFs (overviews of every run) -----------------------------------
    per_run_figs = sorted(p for p in figdir.glob("*.png") if p.name.startswith(PER_RUN_PREFIXES)) if figdir.is_dir() else []
    add("<h2>Loading curves</h2>")
    data = own_figure(f"{OWN_PREFIX}loading.png", loading_figure(runs))
    add(figure(data, "Differential stress against axial strain, every complete run (labels: run key).",
               "fig-loading", "Loading curves") if data else '<p class="note">No loading curve.</p>')
    add("<h2>Energy budget</h2>")
    en = energy_figure(runs)
    if en is not None:
        own_figure(f"{OWN_PREFIX}energy.png", en[0])
        note = (f" {en[1]} run(s) have no energy.parquet (made before it existed) and are not shown."
                if en[1] else "")
        add(figure(en[0], "Energy budget per run (first six with energy.parquet): boundary work W, strain and kinetic "
                   "energy, cumulative friction, damping and bond-break losses; below, the residual "
                   "W − (all the others) as a share of W." + note, "fig-energy", "Energy budget"))
    else:
        add('<p class="note">No run has an energy budget (energy.parquet; runs made before it existed).</p>')
    add("<h2>Fault-crack KDFs and episodes</h2>")
    settings = (_read_toml_quiet(spec_path, warn).get("campaign", {}) if spec_path.exists() else {}).get("analysis", {})
    eps = tables.get("episodes")
    eps = {r: g.reset_index(drop=True) for r, g in eps.groupby("run")} if eps is not None and "run" in eps else None
    data = own_figure(f"{OWN_PREFIX}kdf.png", kdf_figure(runs, settings.get("bandwidth", 2000), eps))
    add(figure(data, "Kernel density of fault-crack steps per run, with the episodes of the segmentation.",
               "fig-kdf", "Fault-crack KDFs") if data else '<p class="note">No fault crack.</p>')

    # -- stick-slip cycles, beside the Okubo laboratory data -------------------------------------
    add(cycles_section(campaign_dir, tables, own_figure, figure, stale_tables, stale))

    # -- AE source mechanisms ------------------------------------------------------------------
    add('<h2 id="source-mechanisms">AE source mechanisms</h2>')
    sm = source_mechanisms(runs)
    if sm is not None:
        table, shares = sm
        data = own_figure(f"{OWN_PREFIX}hudson.png", hudson_figure(table))
        add(figure(data, "Hudson source-type plot of every AE event (equal-area u–v projection; squares: textbook "
                   "sources). Classes by Hudson's k (isotropic share, −1 implosion … +1 explosion) and T (−1 CLVD+ … "
                   "+1 CLVD−): tensile k ≥ 0.2, implosive k ≤ −0.2, shear |k| < 0.2 and |T| ≤ 0.5, CLVD |k| < 0.2 "
                   "and |T| > 0.5 (labquake.sim.ae.moment).", "fig-hudson", "AE source types (Hudson plot)"))
        shares = shares.copy()
        shares.insert(0, "label", [label_of.get(r, r) for r in shares["run"]])
        add('<p class="note">Share of each source type per run, and the median iso/dev (isotropic part over the '
            "deviatoric scalar moment, opening positive) of all events and of the events made only of tensile "
            "cracks.</p>" + _table(shares, max_rows=10_000))
    else:
        add('<p class="note">No run has AE events.</p>')

    # -- analysis figures ------------------------------------------------------------------
    pngs = sorted(p for p in figdir.glob("*.png")
                  if not p.name.startswith((OWN_PREFIX, *PER_RUN_PREFIXES, *CYCLE_FIGURES))) if figdir.is_dir() else []
    for prefix, title in FIGURE_SECTIONS:
        figs = [p for p in pngs if p.name.startswith(prefix)]
        pngs = [p for p in pngs if p not in figs]
        if not figs and not (prefix == "bk_" and "bk" in tables):
            continue
        add(f"<h2>{_e(title)}</h2>")
        if prefix == "bk_" and "bk" in tables and {"p", "k"} <= set(tables["bk"].columns):
            head, _ = _significance_headline(tables["bk"], family, alpha)
            add((f"<p>{_STALE}: from an analysis attempt older than the failed stage.</p>" if "bk" in stale_tables else "") + head)
        for p in figs:
            rel = f"figures/{p.name}"
            add(figure(p.read_bytes(), p.name, _anchor(p.name), p.stem, rel in stale))
        if prefix == "bk_" and "bk" in tables:
            add(_bk_table(tables["bk"], family, alpha))
        if prefix == "grains_" and "grains_headline" in tables:
            head = tables["grains_headline"]
            add(("<p>" + _STALE + "</p>" if "grains_headline" in stale_tables else "")
                + "<p>Shares of the grain-scale records (reference: "
                + "; ".join(f"{_e(k)}: {_e(v)}" for k, v in GRAIN_REFERENCE.items()) + ")</p>" + _table(head))

    add("<h2>Contact-force network (3D)</h2>")
    fn = force_network_image(runs)
    if fn is not None:
        own_figure(f"{OWN_PREFIX}force_network.png", fn[0])
        add(figure(fn[0], f"Contact forces, {fn[1]}.", "fig-force-network", "Contact-force network"))
    else:
        add('<p class="note">No run has snapshots.</p>')
    if pngs:
        add("<h2>Other figures</h2>")
        for p in pngs:
            add(figure(p.read_bytes(), p.name, _anchor(p.name), p.stem, f"figures/{p.name}" in stale))

    # -- per-run figures: a gallery ------------------------------------------------------------
    if per_run_figs:
        add('<h2 id="per-run-figures">Per-run figures</h2><div class="gallery">')
        for p in per_run_figs:
            kind, _, run_part = p.stem.partition("_")
            rn = next((n for n in all_names if _safe_name(n) == run_part), run_part)
            lab = label_of.get(rn, run_part)
            add(figure(p.read_bytes(), f"{lab} {kind} ({rn})", _anchor(p.name), f"{lab} {kind}",
                       f"figures/{p.name}" in stale))
        add("</div>")

    add(forecast_section(campaign_dir))

    # -- tables, config, versions ----------------------------------------------------------
    add("<h2>Analysis tables</h2>")
    if tables:
        add('<table><tr><th class="l">file</th><th>rows</th><th class="l">columns</th></tr>')
        for k, t in tables.items():
            mark = " " + _STALE if k in stale_tables else ""
            add(f'<tr><td class="l">analysis/{_e(k)}.parquet{mark}</td><td>{len(t)}</td><td class="l">{_e(", ".join(map(str, t.columns)))}</td></tr>')
        add("</table>")
    else:
        add('<p class="note">None (the analysis did not run or wrote nothing).</p>')
    add("<h2>Campaign config</h2>")
    add(f"<pre>{_e(spec_path.read_text(encoding='utf-8'))}</pre>" if spec_path.exists() else '<p class="note">campaign.toml not found.</p>')
    add("<h2>Software versions</h2><table>" + "".join(f'<tr><td class="l">{_e(k)}</td><td class="l">{_e(v)}</td></tr>' for k, v in _versions().items()) + "</table>")

    # -- the figure index (a gallery of links), now that every figure is known --------------
    if gallery:
        parts[index_pos] = ('<nav id="figures"><h2>Figures</h2><ol class="index">'
                            + "".join(f'<li><a href="#{_e(a)}">{_e(t)}</a></li>' for a, t in gallery)
                            + "</ol></nav>")

    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>labquake campaign {_e(name)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    atomic_write_text(out, doc)
    return out


#: how the cycles of the two data sets are defined (the report's and docs/cycles.md's words)
CYCLE_DEFINITIONS = (
    "<b>Simulated</b>: a stick-slip is a slip event of <code>slips.parquet</code> with a static drop of at least "
    "<code>loading.stop_min_drop</code>; a cycle runs from the end of one stick-slip to the end of the next "
    "(labquake.sim.cycles). The drop is the differential-stress static drop; foreshocks are the fault AE events "
    "(on the fault, within 10 mm of its plane) between the previous stick-slip's end and this onset; the KDE "
    "segments each cycle's fault cracks (the campaign's bandwidth, in steps). "
    "<b>Okubo FB03-087</b> (4 m biaxial granite fault, Okubo et al., MIT licence; "
    "<code>tests/data/okubo-4m-fb03-087</code>): the 56 mainshocks of <code>mainshock_timing</code> (onset "
    "<code>mainshock_onset_all</code>, end <code>mainshock_termination_all</code>), so 55 cycles between two "
    "stick-slips; the drop is the macroscopic shear-stress drop of <code>stickslip_macroscopic_stats</code>; "
    "foreshocks are the visually picked gouge events (<code>picktime</code>) between the previous stick-slip's end "
    "and this onset (the picks were searched near the stick-slips only); the KDE segments each cycle's picks "
    "(σ = 0.15 s). Compared: cycles between two stick-slips (a recurrence is defined); recurrence and drop are "
    "divided by their run's mean before the CV, since the scales differ. The simulated recurrence is taken at the "
    "nominal loading rate (the drive's advance between stick-slip onsets over its full speed), as a laboratory "
    "recurrence at a constant loading rate is: the adaptive drive runs 1000 times slower during every slip and its "
    "quiet stretch, a nearly fixed pause that pads every interval of simulated time (that CV is the next row)."
)


def cycles_section(campaign_dir: str | os.PathLike, tables: Mapping[str, pd.DataFrame], own_figure=None, figure=None,
                   stale_tables: set[str] | frozenset[str] = frozenset(), stale: Mapping[str, str] | None = None,
                   okubo_dir: str | os.PathLike | None = None) -> str:
    """The "Stick-slip cycles" section: the simulated cycles (``analysis/cycles.parquet``)
    beside the Okubo FB03-087 laboratory data (:func:`labquake.analysis.cycle_stats.compare_cycles`),
    their distributions, and b through the seismic cycle (``figures/b_cycle.png``).

    When every run has a single cycle the comparison is one line; a missing analysis is
    one line too. ``own_figure(name, png)`` and ``figure(png, caption, anchor, title,
    stale)`` are :func:`write_report`'s (saving into figures/ and the figure index);
    without them figures are embedded directly.
    """
    from labquake.analysis import cycle_stats as cs
    campaign_dir = Path(campaign_dir)
    stale = stale or {}
    own_figure = own_figure or (lambda name, data: data)
    figure = figure or (lambda data, caption, anchor, title, is_stale=False: _img(data, caption, anchor=anchor,
                                                                                   stale=is_stale))
    out = ['<h2 id="cycles">Stick-slip cycles, beside the Okubo FB03-087 laboratory fault</h2>']
    cyc = tables.get("cycles")
    if cyc is None or not set(cs.CYCLE_COLUMNS) <= set(cyc.columns):
        out.append('<p class="note">Not computed: run <code>labquake analyze CAMPAIGN_DIR</code> (it writes '
                   "analysis/cycles.parquet).</p>")
        return "\n".join(out)
    mark = f"{_STALE} " if "cycles" in stale_tables else ""
    summ = cs.cycles_summary(cyc)
    sim = cs.comparison_set(cyc)
    if not len(sim):
        out.append(f"<p>{mark}Every run has a single stick-slip cycle ({summ['n_cycles']} complete cycle(s) in "
                   f"{summ['n_runs']} run(s)), so there is no recurrence or cycle-to-cycle variability to compare "
                   "with the laboratory; a cycles campaign (<code>simulations/cycles.toml</code>) has them.</p>")
    else:
        lab, lab_note = pd.DataFrame(), ""
        okubo = Path(okubo_dir) if okubo_dir is not None else cs.default_okubo_dir()
        try:
            lab = cs.okubo_cycles(okubo) if okubo is not None else lab
            if okubo is None:
                lab_note = "the Okubo data set was not found (set LABQUAKE_OKUBO_DIR); its column is empty. "
        except LabquakeError as exc:
            lab_note = f"the Okubo data could not be read ({exc}); its column is empty. "
        if lab.empty:
            lab = pd.DataFrame(columns=["run", "recurrence", "loading_recurrence", "static_drop", "n_foreshocks", "n_episodes",
                                        "n_foreshock_episodes", "kde_mainshock_at_slip"])
        table = cs.format_comparison(cs.compare_cycles(sim, lab)).rename(columns={"okubo": "Okubo FB03-087"})
        out.append(f"<p>{mark}{len(sim)} simulated cycle(s) between two stick-slips in {sim['run'].nunique()} run(s) "
                   f"(of {summ['n_cycles']} complete cycles); the figures below are printed whether or not they "
                   "agree with the laboratory.</p>")
        out.append(_table(table[["quantity", "simulated", "Okubo FB03-087", "how"]], max_rows=100))
        if lab_note:
            out.append(f'<p class="warn">{_e(lab_note)}</p>')
        out.append(f'<p class="note">{CYCLE_DEFINITIONS} The same table in markdown: '
                   "<code>python analysis/cycles_vs_okubo.py CAMPAIGN_DIR</code>.</p>")
        try:
            from labquake.viz.cycle_figures import cycle_comparison_figure

            fig = cycle_comparison_figure(cs.distribution_data(sim), cs.distribution_data(lab))
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(fig)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            data = own_figure(f"{OWN_PREFIX}cycles.png", buf.getvalue())
            out.append(figure(data, "Recurrence and stress drop over their run's mean (ECDF) and the foreshock count "
                              "per cycle: simulated cycles (blue) beside Okubo FB03-087 (orange).", "fig-cycles",
                              "Cycles beside Okubo FB03-087"))
        except ImportError:  # pragma: no cover - matplotlib is a dependency
            pass
    b_png = campaign_dir / "figures" / "b_cycle.png"
    if b_png.is_file():
        out.append(figure(b_png.read_bytes(), "b (Aki–Utsu above the maximum-curvature Mc, ± bootstrap sd) against "
                          "the time to the next mainshock as a fraction of the cycle, pooled over every complete "
                          "cycle (analysis/b_cycle.parquet). The laboratory observation is that b falls before "
                          "failure.", "fig-b_cycle", "b through the seismic cycle", "figures/b_cycle.png" in stale))
    return "\n".join(out)


def forecast_section(campaign_dir: str | os.PathLike) -> str:
    """The "Forecasting" section: every skill score of ``forecast/skill.json`` next to its
    baseline (:mod:`labquake.analysis.forecast`), the reasons where a method does not apply, and the
    figures of ``forecast/``. Says how to make them when ``labquake forecast`` has not run."""
    fdir = Path(campaign_dir) / "forecast"
    doc = _read_json(fdir / "skill.json")
    out = ["<h2>Forecasting: next record, precursors, time to failure, 2-of-3 detection</h2>"]
    if not doc:
        return out[0] + '<p class="note">Not computed: run <code>labquake forecast CAMPAIGN_DIR</code>.</p>'
    rows = []
    for method in ("evt", "precursor", "ttf", "consensus"):
        for data, e in (doc.get(method) or {}).items():
            if not e.get("applies", True):
                rows.append(f'<tr><td class="l">{_e(method)}</td><td class="l">{_e(data)}</td><td>–</td><td>–</td>'
                            f'<td>–</td><td class="l">does not apply: {_e(e.get("reason"))}</td></tr>')
                continue
            better = "higher" if e.get("higher_is_better") else "lower"
            s, b = e.get("score"), e.get("baseline")
            wins = s is not None and b is not None and ((s > b) if e.get("higher_is_better") else (s < b))
            rows.append(f'<tr><td class="l">{_e(method)}</td><td class="l">{_e(data)}</td>'
                        f'<td class="{"in" if wins else "out"}">{_num(s)}</td><td>{_num(b)}</td>'
                        f'<td>{_num(e.get("n"), "{:.0f}")} {_e(e.get("n_unit", ""))}</td>'
                        f'<td class="l">{_e(e.get("score_name"))} ({better} is better) vs {_e(e.get("baseline_name"))}'
                        f'{"; " + _e(e["note"]) if e.get("note") else ""}</td></tr>')
    out.append('<table><tr><th class="l">method</th><th class="l">data</th><th>score</th><th>baseline</th>'
               '<th>n</th><th class="l">what</th></tr>' + "".join(rows) + "</table>")
    out.append('<p class="note">Green: the method beats its baseline; red: it does not. Scores are out of '
               "sample (leave one run or cycle out, folds fixed before scoring); details in "
               "<code>forecast/skill.json</code>.</p>")
    for p in sorted(fdir.glob("*.png")):
        out.append(_img(p.read_bytes(), p.name))
    return "\n".join(out)


def _anchor(fname: str) -> str:
    return "fig-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(fname).stem)


def _safe_name(name: str) -> str:
    """The file-name form of a run name used by the per-run figures of the pipeline."""
    from labquake.analysis.pipeline import _safe

    return _safe(name)


def _read_toml_quiet(path: Path, warn: list[str]) -> dict[str, Any]:
    try:
        return read_toml(path)
    except LabquakeError as exc:
        warn.append(f"campaign.toml could not be read: {exc}")
        return {}


def _bk_table(bk: pd.DataFrame, family: str = "metric", alpha: float = 0.05) -> str:
    """B_k per level and metric with raw, Holm and BH p-values over the chosen family."""
    if {"p", "k"} <= set(bk.columns):
        bk = bk_significance(bk, family, alpha)
    cols = [c for c in ("metric", "method", "k", "B", "E", "p_raw", "p_holm", "p_bh", "p_analytic", "null", "n_null")
            if c in bk.columns]
    note = (f'<p class="note">p_raw: the null\u2019s p before correction; p_holm and p_bh adjusted '
            f"{'over the levels of each metric' if family == 'metric' else 'over all levels of all metrics'}.</p>")
    return note + _table(bk[cols], max_rows=200)


def _read_json(path: Path, warn: list[str] | None = None) -> dict[str, Any]:
    """A JSON object, or {} (with a warning when the file exists but is damaged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        if warn is not None:
            warn.append(f"{path.name} could not be read ({type(exc).__name__}); run states and stage errors are missing")
        return {}


__all__ = ["REFERENCE", "Reference", "STAGE_OUTPUTS", "mainshock_stats", "bk_significance", "cycles_section",
           "force_network_image", "forecast_section", "kdf_figure", "loading_figure",
           "per_run_table", "stage_outputs", "stick_slip_stats", "write_report"]
