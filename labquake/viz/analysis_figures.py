"""Matplotlib figures of the macro-scale analysis (Agg canvas, no display, no pyplot state).

Each ``*_figure`` function takes plain arrays or the tables of :mod:`labquake.analysis.pipeline`
and returns a :class:`matplotlib.figure.Figure`; :func:`save` writes it as PNG atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "kdf_figure",
    "loading_figure",
    "seismicity_figure",
    "dendrogram_figure",
    "bk_figure",
    "distance_figure",
    "energy_budget_figure",
    "save",
    "short_labels",
    "REFERENCE_RANGES",
]

#: Reference ranges of the thesis runs (ye2024.md §5): (mean, sd, min, max)
REFERENCE_RANGES = {"b": (0.99, 0.27, 0.61, 1.67), "d2": (1.72, 0.15, 1.42, 1.95)}


_RUN_NUMBER = __import__("re").compile(r"^run-(\d+)(?:_|$)")
#: a (run, cycle) leaf name, labquake.analysis.cycle_stats.leaf_name
_CYCLE_LEAF = __import__("re").compile(r"^(.*)#c(\d+)$")


def short_labels(names) -> list[str]:
    """Short labels ``R01``, ``R02``, ... for run names, for figure ticks (the report has the key).

    A campaign run ``run-<NN>_...`` is ``R<NN>`` whatever else is plotted with it, so a label
    means the same run in every figure. Other names are numbered in sorted order. A
    (run, cycle) leaf ``<run>#c<k>`` of the per-cycle trees is its run's label and ``c<k>``
    (``R01c3``). Labels are made unique.
    """
    names = [str(n) for n in names]
    leaves = [_CYCLE_LEAF.match(n) for n in names]
    if any(leaves):  # (run, cycle) leaves of the per-cycle trees: the run's label + c<cycle>
        bases = [m.group(1) if m else n for m, n in zip(leaves, names)]
        uniq = list(dict.fromkeys(bases))
        lab = dict(zip(uniq, short_labels(uniq)))
        return _unique([lab[b] + (f"c{int(m.group(2))}" if m else "") for b, m in zip(bases, leaves)])
    nums = [_RUN_NUMBER.match(n) for n in names]
    width = max(2, len(str(len(names))))
    if all(nums):
        width = max(width, max(len(str(int(m.group(1)))) for m in nums))
        out = [f"R{int(m.group(1)):0{width}d}" for m in nums]
    else:
        rank = {n: i for i, n in enumerate(sorted(set(names)), 1)}
        out = [f"R{rank[n]:0{width}d}" for n in names]
    return _unique(out)


def _unique(out: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    for i, lab in enumerate(out):  # duplicates (a run listed twice) get a suffix
        seen[lab] = seen.get(lab, 0) + 1
        if seen[lab] > 1:
            out[i] = f"{lab}.{seen[lab]}"
    return out


def _figure(*args, **kwargs):
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


def save(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG atomically (temporary name, then rename)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from labquake.io.rundir import atomic_write

    FigureCanvasAgg(fig)
    # bbox_inches="tight": rotated tick labels are never cut at the figure's edge
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.1))


def _shade_episodes(ax, episodes: pd.DataFrame) -> None:
    ms_pos = int(np.flatnonzero(episodes["is_mainshock"].to_numpy())[0])
    for pos, (_, e) in enumerate(episodes.iterrows()):
        color = "tab:red" if pos == ms_pos else ("tab:blue" if pos < ms_pos else "0.6")
        ax.axvspan(float(e["start"]), float(e["end"]), color=color, alpha=0.15 if pos == ms_pos else 0.08, lw=0)
    for b in episodes["start"].to_numpy(float)[1:]:
        ax.axvline(b, color="0.3", lw=0.6, ls=":")


def kdf_figure(grid_t, density, episodes: pd.DataFrame, title: str = "", unit: str = "step"):
    """The KDF with episode boundaries (dotted), foreshock episodes blue, the mainshock red."""
    fig = _figure(figsize=(8, 3.2))
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.15, top=0.9)
    ax = fig.subplots()
    _shade_episodes(ax, episodes)
    ax.plot(np.asarray(grid_t, float), np.asarray(density, float), color="k", lw=1)
    ax.plot(episodes["peak"].to_numpy(float), np.interp(episodes["peak"].to_numpy(float), np.asarray(grid_t, float),
                                                      np.asarray(density, float)), "v", color="tab:orange", ms=4)
    ax.set_xlabel(unit)
    ax.set_ylabel("kernel density [events]")
    bw = episodes.attrs.get("bandwidth")
    ax.set_title(f"{title}  KDF of fault cracks" + (f" (σ = {bw:g} {unit}s)" if bw else "") +
                 f", {len(episodes)} episodes", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def loading_figure(loading: pd.DataFrame, episodes: pd.DataFrame | None, title: str = ""):
    """Differential stress [MPa] against step, with the episodes shaded."""
    fig = _figure(figsize=(8, 3.2))
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.15, top=0.9)
    ax = fig.subplots()
    if episodes is not None and len(episodes):
        _shade_episodes(ax, episodes)
    ax.plot(loading["step"].to_numpy(float), loading["differential_stress"].to_numpy(float) / 1e6, color="k", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("differential stress [MPa]")
    ax.set_title(f"{title}  loading curve with episodes (blue foreshock, red mainshock)", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def seismicity_figure(stats: pd.DataFrame):
    """b (Aki ML and LSQ) and D2 (3-D, fault plane, reference 2-D) per run against the
    reference means ± sd (dark band) and ranges (light band)."""
    width = max(6.0, 0.35 * len(stats) + 3)
    fig = _figure(figsize=(width, 6))
    fig.subplots_adjust(left=0.8 / width, right=1 - 0.15 / width, bottom=0.13, top=0.97, hspace=0.08)
    ax_b, ax_d = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(stats))
    for ax, key, cols in (
        (ax_b, "b", (("b_aki", "Aki–Utsu ML", "o"), ("b_lsq", "LSQ (reference)", "s"), ("b_bpositive", "b-positive", "^"))),
        (ax_d, "d2", (("d2_3d", "3-D", "o"), ("d2_fault", "fault plane", "s"), ("d2_reference", "2-D reference", "^"))),
    ):
        mean, sd, lo, hi = REFERENCE_RANGES[key]
        ax.axhspan(lo, hi, color="0.92", zorder=0, label="reference range")
        ax.axhspan(mean - sd, mean + sd, color="0.8", zorder=0, label="reference mean ± sd")
        for j, (col, lab, mk) in enumerate(cols):
            if col not in stats.columns:
                continue
            y = stats[col].to_numpy(float)
            err = stats.get(f"{col}_sigma", stats.get(f"{col}_stderr"))
            yerr = None if err is None else np.asarray(err, float)
            ax.errorbar(x + (j - 1) * 0.15, y, yerr=yerr, fmt=mk, ms=4, lw=0.8, capsize=2, label=lab)
        ax.set_ylabel("b-value" if key == "b" else "D2")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=3)
    ax_d.set_xticks(x)
    ax_d.set_xticklabels(short_labels(stats["run"].astype(str).tolist()), rotation=90, fontsize=7)
    ax_d.set_xlabel("run (key in the report)", fontsize=8)
    return fig


def dendrogram_figure(Z_f, Z_m, labels, metric: str, method: str = "single"):
    """Dendrograms of the foreshock tree Tf and the mainshock tree Tm, one above the other.

    Leaves carry the short run labels of :func:`short_labels` (the report has the key),
    rotated upright, and the figure widens with the number of runs so they never overlap.
    """
    from scipy.cluster.hierarchy import dendrogram

    labels = short_labels(labels)
    n = len(labels)
    width = max(7.0, 0.28 * n + 1.5)
    fig = _figure(figsize=(width, 7.5))
    fig.subplots_adjust(left=0.9 / width, right=1 - 0.2 / width, bottom=0.1, top=0.94, hspace=0.45)
    axes = fig.subplots(2, 1)
    fs = 8 if n <= 40 else 6
    for ax, Z, name in ((axes[0], Z_f, "Tf (foreshock clouds)"), (axes[1], Z_m, "Tm (mainshock clouds)")):
        dendrogram(np.asarray(Z, float), labels=list(labels), ax=ax, leaf_font_size=fs, leaf_rotation=90,
                   color_threshold=0, above_threshold_color="k")
        ax.set_title(f"{name}: {metric}, {method} linkage", fontsize=9)
        ax.set_ylabel(f"{metric} distance")
    axes[1].set_xlabel("run (key in the report)", fontsize=8)
    return fig


def bk_figure(bk: pd.DataFrame, metric: str):
    """B_k against k with E(B_k) ± 2 sd (analytic) and the null's 95 % band."""
    fig = _figure(figsize=(7, 4))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.12, top=0.92)
    ax = fig.subplots()
    k = bk["k"].to_numpy(float)
    E, sd = bk["E"].to_numpy(float), bk["sd"].to_numpy(float)
    ax.fill_between(k, E - 2 * sd, E + 2 * sd, color="0.85", label="E(B_k) ± 2 sd (Fowlkes–Mallows)")
    ax.plot(k, E, color="0.4", lw=1)
    null = str(bk["null"].iloc[0]) if "null" in bk.columns and len(bk) else "analytic"
    if null != "analytic":
        ax.plot(k, bk["null_lo"].to_numpy(float), "--", color="tab:blue", lw=0.9, label=f"{null} null 2.5–97.5 %")
        ax.plot(k, bk["null_hi"].to_numpy(float), "--", color="tab:blue", lw=0.9)
    ax.plot(k, bk["B"].to_numpy(float), "o-", color="tab:red", ms=4, label="observed B_k")
    sig = bk["p_holm"].to_numpy(float) < 0.05 if "p_holm" in bk.columns else np.zeros(len(bk), bool)
    if sig.any():
        ax.plot(k[sig], bk["B"].to_numpy(float)[sig], "*", color="k", ms=9, label="Holm p < 0.05")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("k (number of clusters)")
    ax.set_ylabel("B_k")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Fowlkes–Mallows B_k of Tf vs Tm ({metric})", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def distance_figure(D_f, D_m, labels, metric: str):
    """The foreshock and mainshock distance matrices as images."""
    labels = short_labels(labels)
    n = len(labels)
    side = max(4.5, 0.2 * n + 1.5)
    fs = 7 if n <= 40 else 5
    fig = _figure(figsize=(2 * side + 1.6, side + 0.4))
    fig.subplots_adjust(left=0.06, right=0.97, bottom=0.1, top=0.94, wspace=0.2)
    axes = fig.subplots(1, 2)
    for ax, D, name in ((axes[0], D_f, "foreshock"), (axes[1], D_m, "mainshock")):
        im = ax.imshow(np.asarray(D, float), cmap="viridis")
        ax.set_title(f"{metric}: {name} clouds", fontsize=9)
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set_xticklabels(labels, rotation=90, fontsize=fs)
        ax.set_yticklabels(labels, fontsize=fs)
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


#: the energy terms of an ``energy`` table, their legend labels and colours, in plot order
ENERGY_TERMS = (("boundary_work", "boundary work", "k"), ("strain_energy", "strain", "tab:blue"),
                ("kinetic_energy", "kinetic", "tab:orange"), ("friction_dissipation", "friction", "tab:red"),
                ("damping_dissipation", "damping", "tab:green"), ("bond_break_energy", "bond breaks", "tab:purple"))


def _energy_unit(value: float) -> tuple[float, str]:
    """A readable unit for energies up to ``value`` J: (factor to divide by, label)."""
    for f, u in ((1e3, "kJ"), (1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ")):
        if value >= f:
            return f, u
    return 1e-9, "nJ"


def energy_budget_figure(energies, titles=None, max_panels: int = 6):
    """The energy budget of up to ``max_panels`` runs (tables of ``energy.parquet``), one
    column each: the terms against step (work and dissipation cumulative) above, the
    residual as a share of the run's final boundary work below (%)."""
    from matplotlib.ticker import MaxNLocator

    energies = list(energies)[:max_panels]
    titles = list(titles or [""] * len(energies))[:len(energies)]
    n = len(energies)
    fig = _figure(figsize=(3.4 * n + 0.6, 4.6))
    axes = fig.subplots(2, n, squeeze=False, sharex="col", gridspec_kw={"height_ratios": [3, 1]})
    for k, (e, title) in enumerate(zip(energies, titles)):
        ax, rx = axes[0, k], axes[1, k]
        step = e["step"].to_numpy(float)
        wb = e["boundary_work"].to_numpy(float)
        scale = float(np.max(np.abs(wb))) if len(wb) else 1.0
        f, unit = _energy_unit(scale)
        for col, label, color in ENERGY_TERMS:
            ax.plot(step, e[col].to_numpy(float) / f, color=color, lw=1.2 if col == "boundary_work" else 0.9, label=label)
        w_end = abs(wb[-1]) if len(wb) and wb[-1] != 0 else 1.0
        res = 100.0 * e["residual"].to_numpy(float) / w_end
        rx.plot(step, res, color="0.3", lw=0.9)
        rx.axhline(0.0, color="0.6", lw=0.5)
        end = float(res[-1]) if len(res) else float("nan")
        ax.set_title(f"{title}  residual {end:.2g} % of W".strip(), fontsize=8)
        ax.set_ylabel(f"energy [{unit}]", fontsize=8)
        for a in (ax, rx):
            a.grid(alpha=0.3)
            a.tick_params(labelsize=7)
            a.xaxis.set_major_locator(MaxNLocator(4))
            a.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useMathText=True)
        rx.yaxis.set_major_locator(MaxNLocator(3))
        rx.set_xlabel("step", fontsize=8)
        if k == 0:
            rx.set_ylabel("residual / W [%]", fontsize=8)
    axes[0, 0].legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return fig
