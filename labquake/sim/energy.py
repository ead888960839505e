"""The energy budget of a run: the ``energy`` table and per-event energetics.

:class:`EnergyRecorder` samples :meth:`labquake.sim.dem.Engine.energy` (at the loading
interval in :func:`labquake.sim.experiment.simulate`) into ``energy.parquet``: one row per
sample, J, with

* ``boundary_work``: cumulative work done on the sample's system by its boundaries (the
  drive point of the loading-frame spring or the moving platen, the confining cylinder
  wall or pressure, drivers of fixed particles, external forces), plus the energy stored
  in the initial state and energy changes made between runs (preloading the frame spring
  at the start of axial loading, installing bonds);
* ``strain_energy``: current, in contacts, bonds and flat joints (moments included),
  smooth joints, the wall-contact springs and the loading-frame spring;
* ``kinetic_energy``: current, translational + rotational;
* ``friction_dissipation``, ``damping_dissipation`` (local and viscous contact damping),
  ``bond_break_energy``: cumulative;
* ``residual`` = boundary work − (strain + kinetic + friction + damping + bond break): the
  integration error of the budget, ~0 (``docs/energy.md``).

The other columns break the terms down (``boundary_work_*``, ``strain_*``,
``kinetic_*``, ``damping_*``, the keys of :meth:`~labquake.sim.dem.Engine.energy`).

:func:`event_energetics` turns the rows of an event window (a stick-slip of
``slips.parquet``) into a radiated-energy proxy, the seismic efficiency and the apparent
stress; :func:`slip_energetics` does it for every row of a slips table.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import InsufficientDataError, ParameterError

__all__ = ["EnergyRecorder", "ENERGY_COLUMNS", "event_energetics", "slip_energetics"]

#: the columns of the run-directory contract, in order
ENERGY_COLUMNS = ("step", "boundary_work", "strain_energy", "kinetic_energy", "friction_dissipation",
                  "damping_dissipation", "bond_break_energy", "residual")
#: the breakdown columns that follow them
DETAIL_COLUMNS = ("boundary_work_walls", "boundary_work_pressure", "boundary_work_driven", "boundary_work_external",
                  "boundary_work_set", "strain_contacts", "strain_bonds", "strain_joints", "strain_walls",
                  "strain_frame", "kinetic_translational", "kinetic_rotational", "damping_viscous", "damping_local",
                  "damping_platen")
_VALUES = ENERGY_COLUMNS[1:] + DETAIL_COLUMNS


class EnergyRecorder:
    """Rows of :meth:`labquake.sim.dem.Engine.energy` (the ``energy`` table)."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.values: list[np.ndarray] = []

    @property
    def n(self) -> int:
        return len(self.steps)

    @property
    def last_step(self) -> int | None:
        return self.steps[-1] if self.steps else None

    def record(self, eng: Any) -> dict[str, float]:
        """Append one row for the engine's current state and return it."""
        e = eng.energy()
        row = np.array([float(e[k]) for k in _VALUES])
        self.steps.append(int(eng.step_count))
        self.values.append(row)
        return {"step": int(eng.step_count), **dict(zip(_VALUES, row.tolist()))}

    def to_state(self) -> dict[str, Any]:
        """The recorder as plain arrays for a checkpoint."""
        vals = np.array(self.values, dtype=float).reshape(len(self.values), len(_VALUES))
        return {"step": np.array(self.steps, dtype=np.int64), "values": vals, "columns": list(_VALUES)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "EnergyRecorder":
        """Rebuild a recorder from :meth:`to_state`."""
        self = cls()
        steps = np.asarray(state["step"], dtype=np.int64)
        vals = np.asarray(state["values"], dtype=float)
        if list(state.get("columns", _VALUES)) != list(_VALUES):
            raise ValueError("energy recorder: other columns")
        if vals.ndim != 2 or vals.shape != (len(steps), len(_VALUES)):
            raise ValueError("energy recorder: rows of unequal length")
        self.steps = [int(s) for s in steps]
        self.values = [row.copy() for row in vals]
        return self

    def table(self) -> pd.DataFrame:
        """The ``energy`` table (one row per sample)."""
        vals = np.array(self.values, dtype=float).reshape(len(self.values), len(_VALUES))
        df = pd.DataFrame({"step": np.array(self.steps, dtype=np.int64)})
        for k, name in enumerate(_VALUES):
            df[name] = vals[:, k]
        return df


def _window_rows(energy: pd.DataFrame, step_start: int, step_end: int) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    missing = [c for c in ENERGY_COLUMNS if c not in energy.columns]
    if missing:
        raise ParameterError(f"energy table lacks the column(s) {', '.join(missing)}; pass the rows of energy.parquet")
    if step_end <= step_start:
        raise ParameterError(f"the event window must have step_end > step_start, got [{step_start}, {step_end}]")
    e = energy.sort_values("step", kind="mergesort").reset_index(drop=True)
    steps = e["step"].to_numpy()
    if len(steps) < 2:
        raise InsufficientDataError("the energy table has fewer than 2 rows; record it more often")
    # the last sample at or before the start, the first at or after the end (clipped to the table)
    i0 = max(int(np.searchsorted(steps, step_start, side="right")) - 1, 0)
    i1 = min(int(np.searchsorted(steps, step_end, side="left")), len(steps) - 1)
    if i1 <= i0:
        raise InsufficientDataError(
            f"no energy sample inside the window [{step_start}, {step_end}] (samples every ~"
            f"{int(np.median(np.diff(steps)))} steps); record energy.parquet more often")
    return e.iloc[i0], e.iloc[i1], e.iloc[i0:i1 + 1]


def event_energetics(energy_df: pd.DataFrame, step_start: int, step_end: int, slip: float,
                     fault_area: float) -> dict[str, float]:
    """Energetics of one event (a stick-slip) from the rows of ``energy.parquet``.

    The window runs from the last sample at or before ``step_start`` to the first at or
    after ``step_end`` (their steps are returned as ``step_from``, ``step_to``); choose a
    window that ends when the sample is quiet again.

    Radiated-energy proxy: the energy the event put into elastic waves. In the DEM the
    waves are absorbed by the damping, so the proxy is the damping dissipation over the
    window plus the kinetic energy still in the sample at its end::

        E_R = ΔD_damping + ΔE_kinetic
            = ΔW_boundary − ΔE_strain − ΔD_friction − ΔE_break − Δresidual

    (the second line is the budget: boundary work minus the released strain energy and
    the non-radiated losses). The losses ``dissipated`` = ΔD_friction + ΔE_break (frictional
    heat and fracture energy). Seismic efficiency η = E_R / (E_R + dissipated). Apparent
    stress σ_a = μ E_R / M0 with M0 = μ A ū, i.e. E_R / (A ū) for fault area A
    (``fault_area``, m²; π R²/sin θ for a saw-cut at θ to the axis of a cylinder of radius R)
    and mean slip ū (``slip``, m; NaN when the slip is not positive).

    Returns a dict: ``radiated_energy``, ``seismic_efficiency``, ``apparent_stress`` (Pa),
    ``dissipated_energy``, ``friction_dissipation``, ``bond_break_energy``,
    ``damping_dissipation``, ``released_strain_energy`` (−ΔE_strain), ``boundary_work``,
    ``kinetic_energy_change``, ``peak_kinetic_energy`` (the largest sample in the window
    above the starting kinetic energy, a lower bound of the radiated energy),
    ``residual_change`` (the budget error over the window), ``step_from``, ``step_to``.
    """
    area = float(fault_area)
    if not math.isfinite(area) or area <= 0.0:
        raise ParameterError(f"fault_area must be a positive area in m², got {fault_area!r}")
    a, b, w = _window_rows(energy_df, int(step_start), int(step_end))
    d = {k: float(b[k] - a[k]) for k in ENERGY_COLUMNS[1:]}
    er = d["damping_dissipation"] + d["kinetic_energy"]
    lost = d["friction_dissipation"] + d["bond_break_energy"]
    u = float(slip)
    total = er + lost
    return {
        "radiated_energy": er,
        "seismic_efficiency": er / total if total > 0.0 else float("nan"),
        "apparent_stress": er / (area * u) if math.isfinite(u) and u > 0.0 else float("nan"),
        "dissipated_energy": lost,
        "friction_dissipation": d["friction_dissipation"],
        "bond_break_energy": d["bond_break_energy"],
        "damping_dissipation": d["damping_dissipation"],
        "released_strain_energy": -d["strain_energy"],
        "boundary_work": d["boundary_work"],
        "kinetic_energy_change": d["kinetic_energy"],
        "peak_kinetic_energy": float(w["kinetic_energy"].max() - a["kinetic_energy"]),
        "residual_change": d["residual"],
        "step_from": int(a["step"]),
        "step_to": int(b["step"]),
    }


def slip_energetics(energy_df: pd.DataFrame, slips: pd.DataFrame, fault_area: float) -> pd.DataFrame:
    """:func:`event_energetics` for every row of a slips table (columns ``step_start``,
    ``step_end``, ``slip``); one row per slip, in the slips' order, with the slips' index.
    Windows without an energy sample inside give NaN."""
    rows = []
    for _, s in slips.iterrows():
        try:
            rows.append(event_energetics(energy_df, int(s["step_start"]), int(s["step_end"]), float(s["slip"]), fault_area))
        except InsufficientDataError:
            rows.append({})
    out = pd.DataFrame(rows, index=slips.index)
    return out
