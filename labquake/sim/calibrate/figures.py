"""The calibration figures: one stress-strain figure per test and the summary figure.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from labquake.sim.calibrate.settings import CalibrationTest

# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------


def _figure(**kw):
    from matplotlib.figure import Figure

    return Figure(**kw)


def _save(fig, path: Path) -> None:
    from labquake.viz.analysis_figures import save

    save(fig, path, dpi=110)


def _test_figure(loading: pd.DataFrame, spec: CalibrationTest, seed: int, path: Path) -> None:
    fig = _figure(figsize=(6.4, 4.2))
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.13, top=0.9)
    ax = fig.subplots()
    sign = -1.0 if spec.kind == "tension" else 1.0
    col = "axial_stress" if spec.kind == "tension" else "differential_stress"
    load = sign * loading[col] / 1e6
    ax.plot(sign * loading["axial_strain"] * 100, load, color="tab:blue", label="axial (platens)")
    ax.plot(sign * loading["gauge_axial_strain"] * 100, load, color="tab:green", lw=0.9, label="axial (gauge)")
    ax.plot(sign * loading["radial_strain"] * 100, load, color="tab:orange", lw=0.9, label="radial (gauge)")
    ax.axvline(0, color="0.6", lw=0.5)
    ax.set_xlabel("strain, % (" + ("extension" if spec.kind == "tension" else "shortening") + " positive)")
    ax.set_ylabel("tensile stress, MPa" if spec.kind == "tension" else "differential stress, MPa")
    ax.set_title(f"{spec.name}, seed {seed}")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    _save(fig, path)


def _summary_figure(curves: list[tuple[CalibrationTest, int, pd.DataFrame]], path: Path) -> None:
    fig = _figure(figsize=(10, 4.2))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    ax_c, ax_t = fig.subplots(1, 2)
    names = sorted({s.name for s, _, _ in curves if s.kind != "tension"},
                   key=lambda n: -1 if n == "ucs" else float(n[len("triaxial"):].replace("p", ".")))
    colors = {n: c for n, c in zip(names, ["tab:blue", "tab:green", "tab:orange", "tab:red", "tab:purple", "tab:brown"] * 3)}
    seen: set[str] = set()
    for spec, seed, df in curves:
        if spec.kind == "tension":
            ax_t.plot(-df["axial_strain"] * 100, -df["axial_stress"] / 1e6, lw=1, label=f"seed {seed}")
            continue
        lab = spec.name if spec.name not in seen else None
        seen.add(spec.name)
        ax_c.plot(df["axial_strain"] * 100, df["differential_stress"] / 1e6, color=colors[spec.name], lw=1, label=lab)
        ax_c.plot(df["radial_strain"] * 100, df["differential_stress"] / 1e6, color=colors[spec.name], lw=0.7, ls="--")
    ax_c.axvline(0, color="0.6", lw=0.5)
    ax_c.set_xlabel("strain, % (axial shortening right, radial expansion left, dashed)")
    ax_c.set_ylabel("differential stress, MPa")
    ax_c.set_title("compression (UCS and triaxial)")
    ax_t.set_xlabel("axial extension, %")
    ax_t.set_ylabel("tensile stress, MPa")
    ax_t.set_title("direct tension")
    for ax in (ax_c, ax_t):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, frameon=False)
    _save(fig, path)
