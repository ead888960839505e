"""Synthetic multi-cycle run directories with known answers (this module has no tests).

:func:`write_cycles_run` writes a complete run directory whose fault slips, AE events and
cracks follow a list of :class:`CycleSpec`: each cycle has a known length, stick-slip
drop, foreshock bursts (a burst at a known fraction of the cycle before its onset, with
magnitudes from a Gutenberg–Richter law of known b) and a mainshock burst during the
stick-slip. The cycle labels, recurrence and mainshocks come from
:func:`labquake.sim.cycles.label_cycles` and :func:`labquake.sim.cycles.cycle_index`, as a
simulation writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labquake.sim.cycles import cycle_boundaries, cycle_index, label_cycles
from labquake.geometry import FaultPlane
from labquake.io.rundir import RunDirectory

DT = 1e-7
MIN_DROP = 10e6
SLIP_STEPS = 2000  # onset to end of every stick-slip
M_MIN = -8.0
B_EARLY, B_LATE, B_MAIN = 1.4, 0.7, 1.0  # b of bursts with ttf_fraction > 0.5, <= 0.5, and of the mainshock burst


@dataclass
class CycleSpec:
    """One cycle: ``length`` steps from the previous stick-slip's end to this onset."""

    length: int
    drop: float  # Pa
    bursts: tuple[float, ...] = ()  # ttf fractions of the foreshock bursts: (onset - t) / length
    burst_size: int = 60
    n_main: int = 150
    precursor: bool = False  # a 2 MPa slip (not a stick-slip) at mid-cycle

    @property
    def n_foreshocks(self) -> int:
        return len(self.bursts) * self.burst_size


@dataclass
class Truth:
    """What a written run must give back."""

    onsets: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)


def gr_magnitudes(rng, n: int, b: float) -> np.ndarray:
    """Magnitudes from a Gutenberg–Richter law of slope ``b`` above :data:`M_MIN`."""
    return M_MIN + rng.exponential(np.log10(np.e) / b, n)


def write_cycles_run(path, specs, seed: int = 0, *, tail_events: int = 5, stick_slips: bool = True) -> Truth:
    """A complete run directory following ``specs`` (see the module docstring).

    ``stick_slips=False`` makes every drop 2 MPa (below the 10 MPa threshold): a run that
    never had a stick-slip. A few events follow the last stick-slip (the tail cycle).
    """
    rng = np.random.default_rng(seed)
    fp = FaultPlane(30.0)
    truth = Truth()
    slips, ev_steps, ev_mw = [], [], []
    t0 = 0
    for spec in specs:
        start, onset = t0, t0 + spec.length
        end = onset + SLIP_STEPS
        truth.starts.append(start)
        truth.onsets.append(onset)
        truth.ends.append(end)
        drop = spec.drop if stick_slips else 2e6
        slips.append((onset, end, drop))
        if spec.precursor:
            mid = start + spec.length // 2
            slips.append((mid, mid + 300, 2e6))
        for f in spec.bursts:
            c = onset - f * spec.length
            st = np.clip(np.round(rng.normal(c, 200.0, spec.burst_size)), start + 1, onset - 1).astype(np.int64)
            ev_steps.append(st)
            ev_mw.append(gr_magnitudes(rng, spec.burst_size, B_EARLY if f > 0.5 else B_LATE))
        ev_steps.append(rng.integers(onset, end + 1, spec.n_main).astype(np.int64))
        ev_mw.append(gr_magnitudes(rng, spec.n_main, B_MAIN))
        t0 = end
    last = t0 + 20_000
    ev_steps.append(rng.integers(t0 + 100, last, tail_events).astype(np.int64))
    ev_mw.append(gr_magnitudes(rng, tail_events, B_MAIN))
    steps = np.concatenate(ev_steps)
    mw = np.concatenate(ev_mw)
    order = np.argsort(steps, kind="stable")
    steps, mw = steps[order], mw[order]
    n = steps.size

    sl = pd.DataFrame(slips, columns=["step_start", "step_end", "static_drop"]).sort_values("step_start")
    sl = sl.assign(step_start=sl["step_start"].astype(np.int64), step_end=sl["step_end"].astype(np.int64))
    sl = sl.assign(stress_start=200e6, stress_end=200e6 - sl["static_drop"], dynamic_overshoot=0.0, slip=1e-5,
                   duration=(sl["step_end"] - sl["step_start"]) * DT, peak_slip_rate=0.1, reload=1e5, reload_bound=2e5,
                   peak_stress=200e6)
    sl = label_cycles(sl.reset_index(drop=True), MIN_DROP, DT)
    bounds = cycle_boundaries(sl, MIN_DROP)

    uv = rng.uniform(-0.02, 0.02, (n, 2))
    pos = fp.from_fault_coords(np.column_stack([uv, rng.normal(0, 1e-5, n)]))
    m0 = 10 ** (1.5 * (mw + 6.0))
    zeros = np.zeros(n)
    cyc = cycle_index(steps, bounds)
    events = pd.DataFrame({
        "event_id": np.arange(n, dtype=np.int64), "step_start": steps, "step_end": steps + 20,
        "x": pos[:, 0], "y": pos[:, 1], "z": pos[:, 2], "radius": rng.uniform(0.002, 0.006, n),
        "m0": m0, "mw": mw, "m11": m0, "m12": zeros, "m13": zeros, "m22": -m0, "m23": zeros, "m33": zeros,
        "iso": zeros, "dev": m0, "n_cracks": np.ones(n, dtype=np.int64), "on_fault": np.ones(n, bool), "cycle": cyc,
    })
    nrm = np.tile(fp.normal, (n, 1))
    cracks = pd.DataFrame({
        "crack_id": np.arange(n, dtype=np.int64), "step": steps, "time": steps * DT,
        "x": pos[:, 0], "y": pos[:, 1], "z": pos[:, 2], "nx": nrm[:, 0], "ny": nrm[:, 1], "nz": nrm[:, 2],
        "size": np.full(n, 0.002), "kind": np.array(["fault"] * n, dtype=object),
        "mode": np.array(["shear"] * n, dtype=object), "particle_a": np.zeros(n, np.int64),
        "particle_b": np.ones(n, np.int64), "cycle": cyc,
    })
    ls = np.arange(0, last + 1, 500, dtype=np.int64)
    stress = np.full(ls.size, 150e6)
    loading = pd.DataFrame({
        "step": ls, "time": ls * DT, "axial_stress": stress + 150e6, "confining_stress": np.full(ls.size, 150e6),
        "differential_stress": stress, "axial_strain": ls * 1e-8, "volumetric_strain": ls * 1e-9,
        "platen_displacement": ls * 1e-9, "fault_slip": ls * 1e-10, "kinetic_energy": np.zeros(ls.size),
    })
    rd = RunDirectory(path)
    rd.start({"seed": seed, "loading": {"stop_min_drop": MIN_DROP}},
             {"dt": DT, "axial_start_step": 0, "stop_criterion": {"min_drop": MIN_DROP},
              "fault": {**fp.to_dict(), "contact_area": 2e-5, "cohesion": 55e6, "friction_angle_deg": 30.0,
                        "tensile_strength": 55e6}})
    rd.write_table("cracks", cracks)
    rd.write_table("events", events)
    rd.write_table("loading", loading)
    rd.write_table("slips", sl)
    rd.complete()
    return truth


#: three runs of several cycles each (run -> specs); cycle 4 of run A is too small for b or D2
CAMPAIGN_SPECS: dict[str, list[CycleSpec]] = {
    "run-01_a": [CycleSpec(80_000, 40e6, (0.8, 0.3)), CycleSpec(60_000, 30e6, (0.8,), precursor=True),
                 CycleSpec(70_000, 35e6, (0.3,)), CycleSpec(90_000, 45e6, (0.85, 0.6, 0.2)),
                 CycleSpec(65_000, 25e6, (), n_main=6), CycleSpec(75_000, 38e6, (0.75, 0.25))],
    "run-02_b": [CycleSpec(100_000, 50e6, (0.8, 0.3)), CycleSpec(120_000, 60e6, (0.7,)),
                 CycleSpec(80_000, 40e6, (0.9, 0.4)), CycleSpec(110_000, 55e6, (0.3,)),
                 CycleSpec(95_000, 52e6, (0.8, 0.2))],
    "run-03_c": [CycleSpec(70_000, 20e6, (0.6, 0.3)), CycleSpec(72_000, 22e6, (0.8, 0.45)),
                 CycleSpec(68_000, 21e6, (0.7,)), CycleSpec(66_000, 18e6, (0.35,), precursor=True)],
}
