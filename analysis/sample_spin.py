"""How fast does a run's sample turn about its axis? The jacket's spin-up check.

Nothing holds a sample's rotation about its axis (walls and platens are frictionless), and
the jacket's offset segments drive one (``docs/stick-slip.md``, "The jacket spins a loaded
sample up"). This script measures it from what every run records: the monitored fault
contacts' positions (``monitored.parquet``) and their particles' velocities every
``contact_interval`` steps (``contacts.parquet``). At each recorded step it fits a rigid
rotation about the vertical axis through the origin (the sample's axis) to the mean of
the two particles' horizontal velocities, ``v_t = omega * r`` by least squares, and
prints omega (rad/s), the fit's relative residual (a rigid spin fits to a few per cent)
and the radial velocity's rms, in ``--rows`` rows per run.

Usage::

    python analysis/sample_spin.py RUN_OR_CAMPAIGN_DIR [...] [--rows 12]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labquake.errors import LabquakeError  # noqa: E402
from labquake.io.rundir import RunDirectory, run_directories  # noqa: E402


def rigid_spin(x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray) -> tuple[float, float, float]:
    """Least-squares rigid angular velocity about the z axis through the origin.

    Parameters
    ----------
    x, y
        Horizontal positions (m).
    vx, vy
        Horizontal velocities (m/s).

    Returns
    -------
    omega, residual, radial_rms
        omega (rad/s, counter-clockwise seen from +z) minimising
        sum (v_t - omega r)^2 with v_t the tangential velocity; the rms of the misfit over
        the rms of v_t (0 for a rigid spin; nan when nothing moves); the rms radial velocity
        (m/s).
    """
    x, y, vx, vy = (np.asarray(a, dtype=float) for a in (x, y, vx, vy))
    r = np.hypot(x, y)
    keep = r > 0.0
    if not np.any(keep):
        raise LabquakeError("no contact off the sample axis: no spin to fit")
    x, y, vx, vy, r = x[keep], y[keep], vx[keep], vy[keep], r[keep]
    vt = (x * vy - y * vx) / r
    vr = (x * vx + y * vy) / r
    omega = float(r @ vt / (r @ r))
    scale = float(np.sqrt(np.mean(vt * vt)))
    resid = float(np.sqrt(np.mean((vt - omega * r) ** 2)) / scale) if scale > 0.0 else float("nan")
    return omega, resid, float(np.sqrt(np.mean(vr * vr)))


def run_spin(rd: RunDirectory) -> pd.DataFrame:
    """Per recorded step of a run: ``step``, ``omega``, ``residual``, ``radial_rms``."""
    mon = rd.read_table("monitored").set_index("contact_id")
    con = rd.read_table("contacts")
    if con.empty:
        raise LabquakeError(f"{rd.path}: contacts.parquet is empty: no monitored fault contacts to fit")
    rows = []
    for step, g in con.groupby("step", sort=True):
        g = g[g["contact_id"].isin(mon.index)]
        if g.empty:
            continue
        pos = mon.loc[g["contact_id"]]
        om, res, vr = rigid_spin(pos["x"].to_numpy(), pos["y"].to_numpy(),
                                 0.5 * (g["a_vx"] + g["b_vx"]).to_numpy(), 0.5 * (g["a_vy"] + g["b_vy"]).to_numpy())
        rows.append((int(step), om, res, vr))
    return pd.DataFrame(rows, columns=["step", "omega", "residual", "radial_rms"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", help="run or campaign directories")
    ap.add_argument("--rows", type=int, default=12, help="rows printed per run")
    args = ap.parse_args(argv)
    try:
        for rd in run_directories(args.paths, complete_only=False):
            t = run_spin(rd)
            pick = t.iloc[np.unique(np.linspace(0, len(t) - 1, max(args.rows, 1)).round().astype(int))]
            print(f"{rd.name}: largest |omega| {t['omega'].abs().max():.1f} rad/s")
            print(pick.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    except (LabquakeError, OSError, KeyError) as exc:
        print(f"sample_spin: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
