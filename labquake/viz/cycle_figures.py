"""Figures of repeated stick-slip cycles (:mod:`labquake.analysis.cycle_stats`); Agg canvas, no pyplot state."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labquake.viz.analysis_figures import _figure

__all__ = ["b_cycle_figure", "cycle_comparison_figure"]


def b_cycle_figure(b_cycle: pd.DataFrame):
    """b ± its bootstrap sd per bin of time to the next mainshock (``analysis/b_cycle.parquet``).

    The x axis runs from the start of the cycle (left) to failure (right); each point is
    labelled with its number of events. Bins without a b (too few events) are marked
    on the axis.
    """
    fig = _figure(figsize=(6.5, 3.8))
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.15, top=0.88)
    ax = fig.subplots()
    by = str(b_cycle["by"].iloc[0]) if len(b_cycle) else "fraction"
    x = b_cycle["centre"].to_numpy(float)
    b = b_cycle["b"].to_numpy(float)
    sd = b_cycle["b_sd"].to_numpy(float)
    sd = np.where(np.isfinite(sd), sd, b_cycle["b_sd_shi_bolt"].to_numpy(float))
    ok = np.isfinite(b)
    ax.errorbar(x[ok], b[ok], yerr=np.where(np.isfinite(sd[ok]), sd[ok], 0.0), fmt="o-", color="tab:red", ms=5,
                capsize=3, lw=1, label="b ± bootstrap sd (Aki–Utsu, Mc by max. curvature)")
    for xi, bi, n in zip(x[ok], b[ok], b_cycle["n_events"].to_numpy()[ok]):
        ax.annotate(f"n={n}", (xi, bi), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=7)
    if (~ok).any():
        lo = np.nanmin(b[ok]) if ok.any() else 0.0
        ax.plot(x[~ok], np.full((~ok).sum(), lo), "x", color="0.5", label="too few events for b")
    edges = np.r_[b_cycle["lo"].to_numpy(float), b_cycle["hi"].to_numpy(float)[-1:]] if len(b_cycle) else np.array([0, 1])
    ax.set_xlim(edges.max(), edges.min())  # start of the cycle left, failure right
    ax.set_xlabel("time to the next mainshock / cycle length" if by == "fraction" else "time to the next mainshock [s]")
    ax.set_ylabel("b-value")
    n_cyc = int(b_cycle["n_cycles"].max()) if len(b_cycle) else 0
    ax.set_title(f"b through the seismic cycle, pooled over the cycles (up to {n_cyc} per bin)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def _ecdf(ax, v, label: str, color: str) -> None:
    v = np.sort(np.asarray(v, float)[np.isfinite(np.asarray(v, float))])
    if v.size:
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=color, lw=1.4, label=f"{label} (n={v.size})")


def cycle_comparison_figure(sim: dict, lab: dict, sim_name: str = "simulated", lab_name: str = "Okubo FB03-087"):
    """Recurrence and stress drop, each over its run's mean, as ECDFs, and the foreshock
    count distribution, of a simulated campaign beside the laboratory data.

    ``sim`` and ``lab`` hold arrays ``recurrence``, ``drop`` (within-run normalised,
    :func:`labquake.analysis.cycle_stats.within_record_normalised`) and ``foreshocks`` (counts per
    cycle), and the CVs ``recurrence_cv``, ``drop_cv``.
    """
    fig = _figure(figsize=(11, 3.6))
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.16, top=0.86, wspace=0.28)
    axes = fig.subplots(1, 3)
    colors = ("tab:blue", "tab:orange")
    for ax, key, title in ((axes[0], "recurrence", "recurrence / run mean"), (axes[1], "drop", "stress drop / run mean")):
        for d, name, c in ((sim, sim_name, colors[0]), (lab, lab_name, colors[1])):
            cv = d.get(f"{key}_cv", np.nan)
            _ecdf(ax, d.get(key, []), f"{name}, CV {cv:.2f}" if np.isfinite(cv) else name, c)
        ax.axvline(1.0, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel(title)
        ax.set_ylabel("share of cycles ≤ x")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    ax = axes[2]
    cats = ["0", "1", "2", "3+"]
    for j, (d, name, c) in enumerate(((sim, sim_name, colors[0]), (lab, lab_name, colors[1]))):
        f = np.asarray(d.get("foreshocks", []), float)
        share = [np.mean(f == 0), np.mean(f == 1), np.mean(f == 2), np.mean(f >= 3)] if f.size else [np.nan] * 4
        ax.bar(np.arange(4) + (j - 0.5) * 0.38, share, width=0.38, color=c, label=f"{name} (n={f.size})")
    ax.set_xticks(np.arange(4))
    ax.set_xticklabels(cats)
    ax.set_xlabel("foreshocks in the cycle")
    ax.set_ylabel("share of cycles")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    fig.suptitle("Stick-slip cycles: simulated campaign beside the Okubo FB03-087 laboratory fault", fontsize=9)
    return fig
