"""Matplotlib figures of the grain-scale analysis (Agg backend, no display needed).

Each ``*_figure`` function takes the tables written by :mod:`labquake.analysis.grains` and returns
a :class:`matplotlib.figure.Figure`; :func:`save` writes it atomically and closes it.
Time runs along x as "steps relative to the mainshock" (negative before it), as in the
reference figures.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["category_figure", "stress_strength_figure", "overlap_figure", "acceleration_figure", "save"]


def _figure(*args, **kwargs):
    # Figure() without pyplot: no global state, no GUI backend, safe in threads and CI
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


def save(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG atomically (temporary name, then rename)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from labquake.io.rundir import atomic_write

    FigureCanvasAgg(fig)

    def writer(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=dpi)

    return atomic_write(path, writer)


def _mid(df: pd.DataFrame) -> np.ndarray:
    return -0.5 * (df["window_start"].to_numpy(float) + df["window_end"].to_numpy(float))


def category_figure(categories: pd.DataFrame, shapes: Mapping[int, str] | None = None):
    """2×4 panels, one per shape category 1–8: proportion against time, normal and shear.

    Parameters
    ----------
    categories : DataFrame
        ``grains_categories.parquet`` (:func:`labquake.analysis.grains.category_proportions`).
    shapes : mapping of int to str, optional
        Each category's force-curve shape for the panel titles
        (:data:`labquake.analysis.grains.CATEGORY_SHAPES`); without it the titles are the
        category numbers. Passed in, so that the pictures do not import the analysis that
        calls them.
    """
    fig = _figure(figsize=(13, 6), layout="constrained")
    axes = fig.subplots(2, 4, sharex=True, sharey=True)
    for k, ax in enumerate(axes.ravel(), start=1):
        for comp, color, label in (("fn", "tab:blue", "normal"), ("fs", "tab:orange", "shear")):
            d = categories[(categories["component"] == comp) & (categories["category"] == k)]
            ax.plot(_mid(d), d["proportion"].to_numpy(float), "o-", ms=3, color=color, label=label)
        ax.set_title(f"{k}: {shapes[k]}" if shapes else f"category {k}", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("steps relative to mainshock")
    for ax in axes[:, 0]:
        ax.set_ylabel("proportion of contacts")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Contact-force shape categories before the mainshock")
    return fig


def stress_strength_figure(pdfs: pd.DataFrame, overlap: pd.DataFrame | None = None, max_panels: int = 24):
    """Histograms (PDFs) of shear stress and shear strength, one panel per window."""
    starts = sorted(pdfs["window_start"].unique())
    if overlap is not None and "n" in overlap:
        nonempty = set(overlap.loc[overlap["n"] > 0, "window_start"])
        starts = [s for s in starts if s in nonempty] or starts[:1]
    starts = starts[:max_panels]
    n = max(len(starts), 1)
    ncol = min(6, n)
    nrow = int(np.ceil(n / ncol))
    fig = _figure(figsize=(2.6 * ncol, 2.2 * nrow + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, sharex=True, squeeze=False)).ravel()
    width = float(np.min(np.diff(starts))) if len(starts) > 1 else None
    if overlap is not None and "window_end" in overlap:
        ends = dict(zip(overlap["window_start"], overlap["window_end"]))
    else:
        ends = {}
    for ax, s in zip(axes, starts):
        d = pdfs[pdfs["window_start"] == s]
        lo, hi = d["bin_lo"].to_numpy(float) / 1e6, d["bin_hi"].to_numpy(float) / 1e6
        ax.stairs(d["pdf_stress"].to_numpy(float) * 1e6, np.append(lo, hi[-1:]), fill=True, alpha=0.5,
                  color="tab:orange", label="shear stress")
        ax.stairs(d["pdf_strength"].to_numpy(float) * 1e6, np.append(lo, hi[-1:]), fill=True, alpha=0.5,
                  color="tab:blue", label="shear strength")
        e = ends.get(s, s + width if width else None)
        title = f"{-e / 1e3:g}k to {-s / 1e3:g}k steps" if e is not None else f"from {-s / 1e3:g}k steps"
        if overlap is not None:
            o = overlap.loc[overlap["window_start"] == s, "overlap"]
            if len(o) and np.isfinite(o.iloc[0]):
                title += f", overlap {o.iloc[0]:.2f}"
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(starts):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.supxlabel("stress [MPa]")
    fig.supylabel("probability density [1/MPa]")
    return fig


def overlap_figure(overlap: pd.DataFrame):
    """Overlap of the shear-stress and shear-strength PDFs against time to the mainshock."""
    fig = _figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot(_mid(overlap), overlap["overlap"].to_numpy(float), "ko-", ms=4)
    ax.set_xlabel("steps relative to mainshock")
    ax.set_ylabel("overlap of shear stress and strength PDFs")
    ax.grid(alpha=0.3)
    return fig


def acceleration_figure(accel: pd.DataFrame):
    """Difference of the Δslope histograms (shear − normal) against time, and the means."""
    fig = _figure(figsize=(7, 6), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    x = _mid(accel)
    ax1.plot(x, accel["difference"].to_numpy(float), "ko-", ms=4)
    ax1.set_ylabel("Σ(p_shear − p_normal)·Δ [N/step]")
    ax1.grid(alpha=0.3)
    ax2.plot(x, accel["mean_dslope_shear"].to_numpy(float), "o-", ms=3, color="tab:orange", label="shear")
    ax2.plot(x, accel["mean_dslope_normal"].to_numpy(float), "o-", ms=3, color="tab:blue", label="normal")
    ax2.set_ylabel("mean s2 − s1 [N/step]")
    ax2.set_xlabel("steps relative to mainshock")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    return fig
