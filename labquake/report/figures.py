"""The figures the campaign report draws itself, as PNG bytes.

The loading curves, the energy budget, the fault-crack KDFs with their episodes, the AE
source mechanisms (Hudson plot and shares per run) and a 3D image of the contact-force
network (pyvista when it can render, else matplotlib).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import LabquakeError
from labquake.io.rundir import RunDirectory
from labquake.report.reference import REFERENCE


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
