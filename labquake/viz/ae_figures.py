"""Matplotlib figures of AE source mechanisms (Agg canvas, no display, no pyplot state).

:func:`hudson_figure` draws the Hudson, Pearce & Rogers (1989) source-type plot in its
equal-area (u, v) projection: the diamond of all moment tensors, the T = 0 and k = 0
lines, the textbook sources, and one point per event coloured by its class
(:func:`labquake.sim.ae.moment.source_type`). Save it with :func:`labquake.viz.analysis_figures.save`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["hudson_figure", "TYPE_COLORS"]

#: colours of the source-type classes
TYPE_COLORS = {"tensile": "tab:red", "shear": "tab:green", "implosive": "tab:blue", "CLVD": "tab:purple"}

#: textbook sources: label, (T, k), label offset in points
_POINTS = [("ISO+", (0.0, 1.0), (4, 2)), ("ISO−", (0.0, -1.0), (4, -9)), ("DC", (0.0, 0.0), (4, 3)),
           ("CLVD+", (-1.0, 0.0), (-30, 3)), ("CLVD−", (1.0, 0.0), (4, 3)), ("crack+", (-1.0, 5 / 9), (-34, 2)),
           ("crack−", (1.0, -5 / 9), (4, -8)), ("dipole+", (-1.0, 1 / 3), (-40, -2)), ("dipole−", (1.0, -1 / 3), (4, -6))]


def hudson_figure(table: pd.DataFrame, title: str = "", k_volumetric: float = 0.2):
    """Hudson source-type plot of classified events (:func:`labquake.sim.ae.moment.classify_events`
    rows: ``hudson_u``, ``hudson_v``, ``source_type``, ``on_fault``); fault events are
    circles, rock-only events crosses. The legend gives each class's share."""
    from matplotlib.figure import Figure

    from labquake.sim.ae.moment import SOURCE_TYPES, hudson_uv

    fig = Figure(figsize=(6.4, 5.6))
    fig.subplots_adjust(left=0.06, right=0.74, bottom=0.06, top=0.9)
    ax = fig.subplots()
    ax.plot([0, -4 / 3, 0, 4 / 3, 0], [1, -1 / 3, -1, 1 / 3, 1], color="k", lw=1)
    ax.plot([0, 0], [-1, 1], color="0.6", lw=0.6, ls=":")  # T = 0
    kk = np.linspace(-1, 1, 201)
    for t in (-1.0, -0.5, 0.5, 1.0):  # lines of constant T
        u, v = hudson_uv(np.full_like(kk, t), kk)
        ax.plot(u, v, color="0.85", lw=0.5, zorder=0)
    tt = np.linspace(-1, 1, 201)
    for k in (0.0, k_volumetric, -k_volumetric):  # k = 0 and the class limits
        u, v = hudson_uv(tt, np.full_like(tt, k))
        ax.plot(u, v, color="0.6" if k == 0 else "0.75", lw=0.6, ls=":" if k == 0 else "--", zorder=0)
    n = len(table)
    for kind in SOURCE_TYPES:
        sel = table["source_type"].astype(str) == kind
        share = sel.mean() if n else 0.0
        fault = sel & table["on_fault"].astype(bool)
        ax.scatter(table.loc[fault, "hudson_u"], table.loc[fault, "hudson_v"], s=14, marker="o", facecolors="none",
                   edgecolors=TYPE_COLORS[kind], lw=0.8, label=f"{kind} {100 * share:.0f}% ({int(sel.sum())})")
        ax.scatter(table.loc[sel & ~fault, "hudson_u"], table.loc[sel & ~fault, "hudson_v"], s=12, marker="x",
                   color=TYPE_COLORS[kind], lw=0.7)
    for lab, (t, k), off in _POINTS:
        u, v = hudson_uv(t, k)
        ax.plot(float(u), float(v), "s", color="k", ms=3)
        ax.annotate(lab, (float(u), float(v)), textcoords="offset points", xytext=off, fontsize=7)
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.1, 1.1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False,
              title=f"{n} events\n○ fault, × rock only", title_fontsize=7)
    ax.set_title(title or "Hudson source-type plot (equal-area u–v)", fontsize=9)
    return fig
