"""The campaign report: one self-contained ``report.html`` (every image embedded).

:func:`write_report` reads everything from the campaign directory, so a report can be
rebuilt at any time from results on disk: the runs, ``campaign.toml`` and
``campaign.json`` (written by :mod:`labquake.batch`), ``analysis/*.parquet`` and
``figures/*.png`` (written by :func:`labquake.pipeline.analyze_campaign` and
:func:`labquake.grains.analyze_campaign_grains`). Missing pieces are stated in the report,
never fatal: a report of a campaign whose analysis failed still shows the runs.

The report holds the loading curves and fault-crack KDFs, a table of peak stress, stress
drop, b and D2 per run against the reference ranges of Ye et al. (2024), the dendrograms
and B_k (with p-values), the grain-scale figures (contact categories, stress/strength
overlap, acceleration), one 3D image of the contact-force network, and the campaign's
config and software versions.
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
#: :func:`labquake.seismicity.run_statistics`, heading, reference key)
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
#: the stages of a campaign (labquake.batch), in order
STAGE_ORDER = ("prepare", "simulate", "analysis", "grains", "report")
#: per-run figures, listed by name (the report shows overview figures of all runs instead)
PER_RUN_PREFIXES = ("loading_", "kdf_")

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


def _analysis_tables(campaign_dir: Path) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    adir = campaign_dir / "analysis"
    if adir.is_dir():
        for p in sorted(adir.glob("*.parquet")):
            with contextlib.suppress(Exception):
                out[p.stem] = pd.read_parquet(p)
    return out


def per_run_table(campaign_dir: str | os.PathLike, tables: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per complete run: peak, after, drop [MPa] (from the loading curve), the
    :data:`STAT_COLUMNS` (b and D2) and ``n_events`` (fault events).

    b and D2 come from ``analysis/seismicity.parquet`` when the campaign analysis wrote
    it, else from :func:`labquake.seismicity.run_statistics` on each run's events.
    """
    campaign_dir = Path(campaign_dir)
    tables = _analysis_tables(campaign_dir) if tables is None else tables
    runs = find_runs(campaign_dir)
    rows = []
    for rd in runs:
        row: dict[str, Any] = {"run": rd.name}
        try:
            row.update(stick_slip_stats(rd.read_table("loading", ["differential_stress"])))
        except LabquakeError:
            row.update(peak_mpa=math.nan, after_mpa=math.nan, drop_mpa=math.nan)
        rows.append(row)
    df = pd.DataFrame(rows, columns=["run", "peak_mpa", "after_mpa", "drop_mpa"])
    stats = tables.get("seismicity")
    if stats is None or "run" not in stats.columns:
        stats = _compute_stats(runs)
    stats = stats.drop_duplicates("run").set_index("run").reindex(df["run"])
    for col in [c for c, _, _ in STAT_COLUMNS] + ["n_events"]:
        df[col] = stats[col].to_numpy(dtype=float) if col in stats.columns else math.nan
    return df


def _compute_stats(runs: Sequence[RunDirectory]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    try:
        from labquake.seismicity import run_statistics
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
    """Differential stress against axial strain, every run."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    n = 0
    for rd in runs:
        with contextlib.suppress(LabquakeError):
            lo = rd.read_table("loading", ["axial_strain", "differential_stress"])
            ax.plot(lo["axial_strain"] * 100, lo["differential_stress"] / 1e6, lw=0.8, label=rd.name)
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


def kdf_figure(runs: Sequence[RunDirectory], bandwidth: float = 2000, episodes: Mapping[str, pd.DataFrame] | None = None,
               max_runs: int = 30) -> bytes | None:
    """Fault-crack KDFs (:func:`labquake.segment.kdf`, σ = ``bandwidth`` steps) with their
    episodes shaded, one panel per run (at most ``max_runs``): the mainshock red,
    foreshocks blue. ``episodes`` (run name -> episodes table) are those the campaign
    analysis used; a run without them is segmented here."""
    from labquake.segment import kdf, segment_run

    plt = _plt()
    data = []
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
                data.append((rd.name, st.size, g, d, eps))
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
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _img(data: bytes, caption: str, alt: str | None = None) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{b64}" alt="{_e(alt or caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
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
    head = '<th class="l">run</th><th class="l">parameters</th>' + "".join(f"<th>{_e(t)}</th>" for _, t, _ in cols) + "<th>fault events</th>"
    rows = []
    for _, r in df.iterrows():
        cells = [f'<td class="l">{_e(r["run"])}</td>']
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
    summ = ['<td class="l"><b>mean (min–max)</b></td><td></td>']
    refrow = ['<td class="l"><b>reference range</b></td><td class="l">Ye et al. (2024)</td>']
    inrow = ['<td class="l"><b>runs in range</b></td><td></td>']
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


def write_report(campaign_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write ``report.html`` for a campaign directory (atomically) and return its path."""
    campaign_dir = Path(campaign_dir)
    out = Path(out) if out is not None else campaign_dir / REPORT_FILE
    runs = find_runs(campaign_dir)
    state = _read_json(campaign_dir / "campaign.json")
    tables = _analysis_tables(campaign_dir)
    figdir = campaign_dir / "figures"
    name = state.get("name") or campaign_dir.name
    spec_path = campaign_dir / "campaign.toml"
    run_states = state.get("runs") or {}
    parts: list[str] = []
    add = parts.append

    def own_figure(fname: str, data: bytes | None) -> bytes | None:
        """A figure the report makes: also saved in figures/ for use elsewhere."""
        if data is not None:
            with contextlib.suppress(LabquakeError):
                atomic_write_bytes(figdir / fname, data)
        return data

    # -- summary -------------------------------------------------------------------------
    n_all = len(run_states) or len(runs)
    failed = {k: v for k, v in run_states.items() if v.get("status") == "failed"}
    unfinished = [k for k, v in run_states.items() if v.get("status") not in ("complete", "failed")]
    add(f"<h1>labquake campaign <code>{_e(name)}</code></h1>")
    add(
        f"<p>{len(runs)} of {n_all} runs complete"
        + (f', <span class="warn">{len(failed)} failed</span>' if failed else "")
        + (f', <span class="warn">{len(unfinished)} not finished</span>' if unfinished else "")
        + f". Campaign directory <code>{_e(campaign_dir.resolve())}</code>. Written "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.</p>"
    )
    stages = state.get("stages_s") or {}
    stages = {k: stages[k] for k in sorted(stages, key=lambda k: (STAGE_ORDER.index(k) if k in STAGE_ORDER else 99, k))}
    if stages:
        add('<table><tr><th class="l">stage</th><th>wall time [s]</th></tr>'
            + "".join(f'<tr><td class="l">{_e(k)}</td><td>{v:.1f}</td></tr>' for k, v in stages.items())
            + f'<tr><td class="l"><b>total</b></td><td><b>{sum(stages.values()):.1f}</b></td></tr></table>')
    stage_errors = state.get("stage_errors") or {}
    if failed or stage_errors:
        add("<h2>Problems</h2><ul>")
        for k, v in failed.items():
            add(f'<li class="warn">run {_e(k)} failed: {_e(v.get("error"))}</li>')
        for k, v in stage_errors.items():
            add(f'<li class="warn">stage {_e(k)}: {_e(v)}</li>')
        add("</ul>")

    # -- reproduction table ----------------------------------------------------------------
    add("<h2>Reproduction of the reference ranges</h2>")
    if runs:
        add(_reproduction_table(per_run_table(campaign_dir, tables), {k: v.get("overrides", {}) for k, v in run_states.items()}))
    else:
        add('<p class="warn">No complete run.</p>')
    if "runs" in tables and {"run", "included"} <= set(tables["runs"].columns):
        excl = tables["runs"][~tables["runs"]["included"].astype(bool)]
        if len(excl):
            add(f'<p class="warn">{len(excl)} run(s) left out of the cloud and tree analysis:</p>' + _table(excl))

    # -- loading curves and KDFs (overviews of every run) -----------------------------------
    per_run = sorted(p.name for p in figdir.glob("*.png") if p.name.startswith(PER_RUN_PREFIXES)) if figdir.is_dir() else []
    add("<h2>Loading curves</h2>")
    data = own_figure(f"{OWN_PREFIX}loading.png", loading_figure(runs))
    add(_img(data, "Differential stress against axial strain, every complete run.") if data else '<p class="note">No loading curve.</p>')
    add("<h2>Fault-crack KDFs and episodes</h2>")
    settings = (read_toml(spec_path).get("campaign", {}) if spec_path.exists() else {}).get("analysis", {})
    eps = tables.get("episodes")
    eps = {r: g.reset_index(drop=True) for r, g in eps.groupby("run")} if eps is not None and "run" in eps else None
    data = own_figure(f"{OWN_PREFIX}kdf.png", kdf_figure(runs, settings.get("bandwidth", 2000), eps))
    add(_img(data, "Kernel density of fault-crack steps per run, with the episodes of the segmentation.") if data else '<p class="note">No fault crack.</p>')
    if per_run:
        add(f'<p class="note">Per-run figures in <code>figures/</code>: {_e(", ".join(per_run))}.</p>')

    # -- analysis figures ------------------------------------------------------------------
    pngs = sorted(p for p in figdir.glob("*.png") if not p.name.startswith((OWN_PREFIX, *PER_RUN_PREFIXES))) if figdir.is_dir() else []
    for prefix, title in FIGURE_SECTIONS:
        figs = [p for p in pngs if p.name.startswith(prefix)]
        pngs = [p for p in pngs if p not in figs]
        if not figs and not (prefix == "bk_" and "bk" in tables):
            continue
        add(f"<h2>{_e(title)}</h2>")
        for p in figs:
            add(_img(p.read_bytes(), p.name))
        if prefix == "bk_" and "bk" in tables:
            add(_bk_table(tables["bk"]))
        if prefix == "grains_" and "grains_headline" in tables:
            head = tables["grains_headline"]
            add("<p>Shares of the grain-scale records (reference: "
                + "; ".join(f"{_e(k)}: {_e(v)}" for k, v in GRAIN_REFERENCE.items()) + ")</p>" + _table(head))

    add("<h2>Contact-force network (3D)</h2>")
    fn = force_network_image(runs)
    if fn is not None:
        own_figure(f"{OWN_PREFIX}force_network.png", fn[0])
        add(_img(fn[0], f"Contact forces, {fn[1]}."))
    else:
        add('<p class="note">No run has snapshots.</p>')
    if pngs:
        add("<h2>Other figures</h2>")
        for p in pngs:
            add(_img(p.read_bytes(), p.name))

    add(forecast_section(campaign_dir))

    # -- tables, config, versions ----------------------------------------------------------
    add("<h2>Analysis tables</h2>")
    if tables:
        add('<table><tr><th class="l">file</th><th>rows</th><th class="l">columns</th></tr>')
        for k, t in tables.items():
            add(f'<tr><td class="l">analysis/{_e(k)}.parquet</td><td>{len(t)}</td><td class="l">{_e(", ".join(map(str, t.columns)))}</td></tr>')
        add("</table>")
    else:
        add('<p class="note">None (the analysis did not run or wrote nothing).</p>')
    add("<h2>Campaign config</h2>")
    add(f"<pre>{_e(spec_path.read_text(encoding='utf-8'))}</pre>" if spec_path.exists() else '<p class="note">campaign.toml not found.</p>')
    add("<h2>Software versions</h2><table>" + "".join(f'<tr><td class="l">{_e(k)}</td><td class="l">{_e(v)}</td></tr>' for k, v in _versions().items()) + "</table>")

    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>labquake campaign {_e(name)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    atomic_write_text(out, doc)
    return out


def forecast_section(campaign_dir: str | os.PathLike) -> str:
    """The "Forecasting" section: every skill score of ``forecast/skill.json`` next to its
    baseline (:mod:`labquake.forecast`), the reasons where a method does not apply, and the
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


def _bk_table(bk: pd.DataFrame) -> str:
    """B_k per level and metric with its p-values (permutation null, analytic, Holm)."""
    cols = [c for c in ("metric", "method", "k", "B", "E", "p", "p_analytic", "p_holm", "p_bh", "null", "n_null") if c in bk.columns]
    note = ""
    if "p" in bk.columns and "metric" in bk.columns:
        sig = bk[bk["p"] < 0.05].groupby("metric")["k"].apply(lambda k: ", ".join(str(int(x)) for x in k))
        levels = "; ".join(f"{m}: k = {v}" for m, v in sig.items()) or "none"
        note = (f'<p>Levels with p &lt; 0.05: {_e(levels)}. Reference (Ye et al. 2024): p &gt; 0.2% at every '
                "level except k = 2 and k = 8, so \u201cno relation between foreshocks and mainshock\u201d "
                "cannot be rejected.</p>")
    return note + _table(bk[cols], max_rows=200)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


__all__ = ["REFERENCE", "Reference", "force_network_image", "forecast_section", "kdf_figure", "loading_figure", "per_run_table", "stick_slip_stats", "write_report"]
