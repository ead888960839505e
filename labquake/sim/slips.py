"""Stick-slip events of the saw-cut fault, detected from the fault's slip rate.

The slip rate is the relative velocity of the two fault blocks along the fault's dip
direction: the mean velocity of the hanging-wall particles within one maximum diameter
of the fault minus that of the footwall particles (the same band that
:class:`labquake.sim.recorders.LoadingRecorder` uses for ``fault_slip``), positive in the
sense the axial load drives it.

The detector is fed the fault slip every few steps and averages the rate over the last
``window`` steps, ``(slip(t) - slip(t - window)) / (window dt)``, which filters the
blocks' elastic ringing (a period of a few hundred steps in the paper specimen).
An event is detected at the first sample whose slip rate exceeds ``rate_on``; it
**starts** at its onset: the last sample in the averaging window before that at which
the slip rate over one sample interval was still below ``rate_off`` (the fault's
ringing raises and lowers the stress by a few MPa every few hundred steps, so the
highest stress in the window can lie well before the slip began); its starting stress
is the highest stress between the onset and the detection. It **ends**
at the first sample of a stretch of ``quiet_steps`` steps during which the slip rate
stays below ``rate_off``. Over that quiet stretch the stress rings down around its new
static value; the event's final stress is the mean over the stretch, so that ringing
and dynamic undershoot are not counted in the static drop::

    static_drop        = stress_start - stress_end
    dynamic_overshoot  = stress_end - (lowest stress between start and end)
    slip               = fault slip at the end of the quiet stretch - at the start
    duration           = (step_end - step_start) * dt
    reload             = k_load * (drive-point advance during the event)
    reload_bound       = frame_stiffness * (drive-point advance during the event) / area
    peak_stress        = highest stress between the previous event's end and this start
    drive_start        = the loading-frame drive point's position at the start (m, z; it
                         moves down as the drive advances)

``reload`` is the stress the drive adds during the event. By superposition it is the
advance times the loading system's stiffness ``k_load`` (frame spring and sample in
series, Pa of differential stress per m of drive), measured as the least-squares slope
of stress against drive advance over the last ``stiffness_samples`` samples before the
event (outside events); where the drive did not move enough over them to measure a
slope, ``k_load`` falls back to the frame's own ``frame_stiffness / area``.
``reload_bound`` is that upper bound (the frame spring against a rigid sample) always.
With the adaptive drive (:mod:`labquake.sim.drive`) both are small fractions of the drop.

:attr:`SlipDetector.onset_rate`, the slip rate over the last ``onset_window`` steps, is
what the adaptive drive watches: it rises one or two samples after the slip begins, far
sooner than the averaged rate. Stresses are differential (σ1 − σ3, Pa); the fault's mean
shear and normal stresses are those resolved on the fault plane from the boundary
stresses, ``tau = q sin(2 beta) / 2`` and ``sigma_n = sigma_3 + q sin^2(beta)`` with
``beta`` the fault's angle to the axis (the saw-cut convention of the laboratory).

The stick-slips, cycles, recurrence times and mainshocks (each cycle's stick-slip) are
labelled by :func:`labquake.sim.cycles.label_cycles`. Each detector keeps its whole
state as plain data (:meth:`SlipDetector.to_state`), so a resumed run continues the same
events.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SlipDetector", "SLIP_COLUMNS", "resolved_fault_stresses", "slips_table"]

#: columns of ``slips.parquet``, in order
SLIP_COLUMNS = (
    "step_start", "step_end", "stress_start", "stress_end", "static_drop", "dynamic_overshoot", "slip", "duration",
    "peak_slip_rate", "shear_stress_before", "shear_stress_after", "normal_stress_before", "normal_stress_after",
    "drive_advance", "reload", "reload_bound", "peak_stress", "drive_start", "is_mainshock", "cycle", "recurrence",
    "drive_recurrence",
)
_ROW_COLUMNS = SLIP_COLUMNS[:-4]  # what the detector records; the rest follow from the cycles (labquake.sim.cycles)


def resolved_fault_stresses(differential: float, confining: float, angle_deg: float) -> tuple[float, float]:
    """Shear and normal stress resolved on a fault at ``angle_deg`` to the σ1 axis (Pa).

    ``tau = q sin(2 beta) / 2``, ``sigma_n = sigma_3 + q sin^2 beta`` with ``q`` the
    differential stress; compression positive.
    """
    from labquake.sim.dem.exactmath import cos_sin

    c, s = cos_sin(math.radians(angle_deg))  # not libm: the same bits on every CPU
    return differential * (s * c), confining + differential * (s * s)


class SlipDetector:
    """Detect stick-slip events from samples of the fault slip rate.

    Parameters
    ----------
    rate_on, rate_off
        Slip rates (m/s) at which an event starts, and below which it may end.
    quiet_steps
        Steps the slip rate must stay below ``rate_off`` for the event to end.
    window
        Steps over which the slip rate is averaged.
    dt
        Time step (s).
    angle_deg
        Fault angle to the σ1 axis (resolved stresses).
    frame_stiffness, area
        Loading-frame spring stiffness (N/m) and the specimen's cross-section (m²), for
        the ``reload_bound`` (and the ``reload`` where no slope can be measured).
    onset_window
        Steps over which :attr:`onset_rate` is measured (at least one sample interval).
    stiffness_samples
        Samples outside events over which the loading stiffness is fitted.
    """

    def __init__(self, rate_on: float, rate_off: float, quiet_steps: int, window: int, dt: float, angle_deg: float,
                 frame_stiffness: float, area: float, onset_window: int = 20, stiffness_samples: int = 100) -> None:
        if not (rate_on > 0.0 and 0.0 < rate_off <= rate_on):
            raise ValueError(f"slip rates must satisfy 0 < rate_off <= rate_on, got {rate_off} and {rate_on}")
        if onset_window < 1 or stiffness_samples < 2:
            raise ValueError(f"onset_window must be >= 1 step and stiffness_samples >= 2, got {onset_window} and {stiffness_samples}")
        self.rate_on = float(rate_on)
        self.rate_off = float(rate_off)
        self.quiet_steps = int(quiet_steps)
        self.window = int(window)
        self.dt = float(dt)
        self.angle_deg = float(angle_deg)
        self.frame_stiffness = float(frame_stiffness)
        self.area = float(area)
        self.onset_window = int(onset_window)
        self.stiffness_samples = int(stiffness_samples)
        #: the open event: [step_start, stress_start, slip_start, drive_start, sigma3_start, stress_min, peak_rate, peak,
        #: k_load]
        self.open: list[float] | None = None
        #: the quiet stretch under way: [step, n samples, sum of stress, slip]
        self.quiet: list[float] | None = None
        self.rows: list[tuple] = []
        self.hist_step: list[int] = []  # the samples of the last `window` steps
        self.hist_slip: list[float] = []
        self.hist_stress: list[float] = []
        self.hist_drive: list[float] = []
        self.load_step: list[int] = []  # the last samples outside events (loading stiffness)
        self.load_stress: list[float] = []
        self.load_drive: list[float] = []
        self.peak = -math.inf  # highest stress since the last event ended (the cycle's peak)
        self.rate = 0.0  # the latest averaged slip rate
        self.onset_rate = 0.0  # the latest slip rate over onset_window steps

    # ------------------------------------------------------------------ state
    @property
    def active(self) -> bool:
        """Whether an event is under way (started and not yet ended)."""
        return self.open is not None

    @property
    def n_events(self) -> int:
        return len(self.rows)

    def to_state(self) -> dict[str, Any]:
        """The detector as plain data (see :mod:`labquake.io.checkpoint`)."""
        return {"params": np.array([self.rate_on, self.rate_off, self.quiet_steps, self.window, self.dt, self.angle_deg,
                                    self.frame_stiffness, self.area, self.peak, self.rate, self.onset_window,
                                    self.stiffness_samples, self.onset_rate], dtype=float),
                "load": np.array([self.load_step, self.load_stress, self.load_drive], dtype=float).reshape(3, len(self.load_step)),
                "hist_step": np.asarray(self.hist_step, dtype=np.int64),
                "hist": np.array([self.hist_slip, self.hist_stress, self.hist_drive], dtype=float).reshape(3, len(self.hist_step)),
                "open": None if self.open is None else np.asarray(self.open, dtype=float),
                "quiet": None if self.quiet is None else np.asarray(self.quiet, dtype=float),
                "rows": np.asarray(self.rows, dtype=float).reshape(len(self.rows), len(_ROW_COLUMNS))}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SlipDetector":
        """Rebuild a detector from :meth:`to_state`."""
        p = np.asarray(state["params"], dtype=float)
        self = cls(p[0], p[1], int(p[2]), int(p[3]), p[4], p[5], p[6], p[7], int(p[10]), int(p[11]))
        self.peak, self.rate, self.onset_rate = float(p[8]), float(p[9]), float(p[12])
        load = np.asarray(state["load"], dtype=float)
        self.load_step = [int(x) for x in load[0]]
        self.load_stress, self.load_drive = ([float(x) for x in row] for row in load[1:])
        self.hist_step = [int(x) for x in state["hist_step"]]
        hist = np.asarray(state["hist"], dtype=float)
        self.hist_slip, self.hist_stress, self.hist_drive = ([float(x) for x in row] for row in hist)
        self.open = None if state["open"] is None else [float(x) for x in state["open"]]
        self.quiet = None if state["quiet"] is None else [float(x) for x in state["quiet"]]
        rows = np.asarray(state["rows"], dtype=float)
        if rows.ndim == 2 and rows.shape[1] < len(_ROW_COLUMNS):  # an older labquake recorded no drive_start
            rows = np.hstack([rows, np.full((len(rows), len(_ROW_COLUMNS) - rows.shape[1]), np.nan)])
        self.rows = [(int(r[0]), int(r[1]), *(float(x) for x in r[2:])) for r in rows]
        return self

    # ------------------------------------------------------------------ update
    def observe_stress(self, differential: float) -> None:
        """Track the cycle's peak stress without detecting events (before detection starts)."""
        if self.open is None:
            self.peak = max(self.peak, float(differential))

    def update(self, step: int, slip: float, differential: float, confining: float, drive_z: float) -> str | None:
        """Feed one sample; returns ``"start"`` or ``"end"`` when an event starts or ends.

        ``slip`` is the fault slip (m), ``drive_z`` the loading-frame drive point's
        position (m, it moves down as the drive advances).
        """
        step = int(step)
        self.hist_step.append(step)
        self.hist_slip.append(float(slip))
        self.hist_stress.append(float(differential))
        self.hist_drive.append(float(drive_z))
        while len(self.hist_step) > 2 and self.hist_step[1] <= step - self.window:
            del self.hist_step[0], self.hist_slip[0], self.hist_stress[0], self.hist_drive[0]
        span = step - self.hist_step[0]
        slip_rate = (float(slip) - self.hist_slip[0]) / (span * self.dt) if span >= self.window else 0.0
        self.rate = slip_rate
        self.onset_rate = self._rate_since(step - self.onset_window)
        if self.open is None:
            self.peak = max(self.peak, float(differential))
            if slip_rate > self.rate_on:
                k = self._onset()
                k_load = self._loading_stiffness(self.hist_step[k])
                self.open = [float(self.hist_step[k]), max(self.hist_stress[k:]), self.hist_slip[k], self.hist_drive[k],
                             float(confining), float(differential), float(slip_rate), self.peak, k_load]
                self.quiet = None
                return "start"
            self.load_step.append(step)
            self.load_stress.append(float(differential))
            self.load_drive.append(float(drive_z))
            if len(self.load_step) > self.stiffness_samples:
                del self.load_step[0], self.load_stress[0], self.load_drive[0]
            return None
        ev = self.open
        ev[5] = min(ev[5], float(differential))
        ev[6] = max(ev[6], float(slip_rate))
        if slip_rate >= self.rate_off:
            self.quiet = None
            return None
        if self.quiet is None:
            self.quiet = [float(step), 0.0, 0.0, float(slip)]
        self.quiet[1] += 1.0
        self.quiet[2] += float(differential)
        if step - self.quiet[0] < self.quiet_steps:
            return None
        self._close(step, slip, confining, drive_z)
        return "end"

    def _rate_since(self, since: int) -> float:
        """Slip rate from the latest sample at or before step ``since`` to now (0 without one)."""
        for k in range(len(self.hist_step) - 2, -1, -1):
            if self.hist_step[k] <= since:
                return (self.hist_slip[-1] - self.hist_slip[k]) / ((self.hist_step[-1] - self.hist_step[k]) * self.dt)
        return 0.0

    def _onset(self) -> int:
        """Index in the window of the event's onset: the last sample before which the slip
        rate over one sample interval was still below ``rate_off`` (the window's first
        sample when the fault was sliding faster throughout)."""
        for k in range(len(self.hist_step) - 1, 0, -1):
            rate = (self.hist_slip[k] - self.hist_slip[k - 1]) / ((self.hist_step[k] - self.hist_step[k - 1]) * self.dt)
            if rate < self.rate_off:
                return k
        return 0

    def _loading_stiffness(self, before: int) -> float:
        """Differential stress per m of drive advance (Pa/m): the least-squares slope over
        the samples outside events up to step ``before``; the frame's own stiffness / area
        where the drive did not move enough over them to measure one."""
        n = sum(1 for s in self.load_step if s <= before)
        z = -np.asarray(self.load_drive[:n], dtype=float)  # advance is downward
        q = np.asarray(self.load_stress[:n], dtype=float)
        if z.size >= 2 and np.ptp(z) > 0.0:
            zc = z - z.mean()
            k = float(np.dot(zc, q - q.mean()) / np.dot(zc, zc))
            # a slope needs the drive to have moved by more than the stress noise explains
            if 0.0 < k <= self.frame_stiffness / self.area and k * np.ptp(z) > 3.0 * float(np.std(q - k * zc - q.mean())):
                return k
        return self.frame_stiffness / self.area

    def _close(self, step: int, slip: float, confining: float, drive_z: float) -> None:
        ev, q = self.open, self.quiet
        assert ev is not None and q is not None
        step_start, stress_start, slip_start, drive_start, sig3_start, stress_min, peak_rate, peak, k_load = ev
        stress_end = q[2] / q[1]
        tau_b, sn_b = resolved_fault_stresses(stress_start, sig3_start, self.angle_deg)
        tau_a, sn_a = resolved_fault_stresses(stress_end, confining, self.angle_deg)
        advance = drive_start - float(drive_z)
        self.rows.append((int(step_start), int(q[0]), stress_start, stress_end, stress_start - stress_end,
                          stress_end - min(stress_min, stress_end), float(slip) - slip_start,
                          (q[0] - step_start) * self.dt, peak_rate, tau_b, tau_a, sn_b, sn_a, advance,
                          k_load * advance, self.frame_stiffness * advance / self.area, peak, drive_start))
        self.open = None
        self.peak = -math.inf
        self.quiet = None

    def count(self, min_drop: float) -> int:
        """Events with a static drop of at least ``min_drop`` (Pa)."""
        return sum(1 for r in self.rows if r[4] >= min_drop)

    def table(self, min_drop: float = 0.0) -> pd.DataFrame:
        """``slips.parquet``: one row per ended event, labelled with its cycle; stick-slips
        are the events with a static drop of at least ``min_drop`` (Pa)."""
        return slips_table(self.rows, min_drop, self.dt)


def slips_table(rows: list[tuple] | None = None, min_drop: float = 0.0, dt: float = 1.0) -> pd.DataFrame:
    """``slips.parquet`` from detector rows (an empty, typed table without them), with
    cycles labelled by :func:`labquake.sim.cycles.label_cycles`."""
    from labquake.sim.cycles import label_cycles

    df = pd.DataFrame(rows or [], columns=list(_ROW_COLUMNS))
    for c in ("step_start", "step_end"):
        df[c] = df[c].astype("int64")
    for c in _ROW_COLUMNS[2:]:
        df[c] = df[c].astype(float)
    return label_cycles(df, min_drop, dt)[list(SLIP_COLUMNS)]
