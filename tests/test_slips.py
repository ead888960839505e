"""Slip-event detection from the fault slip rate (labquake.sim.slips) and the adaptive drive
(labquake.sim.drive), on synthetic signals with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labquake.sim.config import resolve_config
from labquake.sim.drive import AdaptiveDrive
from labquake.errors import ConfigError
from labquake.sim.slips import SLIP_COLUMNS, SlipDetector, resolved_fault_stresses

DT = 1e-7
EVERY = 20  # steps between samples


def _stick_slip(n_events: int = 2, drop: float = 40e6, slip: float = 1e-4, rise: int = 400, period: int = 40000):
    """A sawtooth: in each cycle of ``period`` steps the stress rises linearly, then falls
    by ``drop`` while the fault slips ``slip`` at a constant rate over ``rise`` steps,
    with a damped ring-down (first undershoot 30 % of the drop) afterwards. Returns
    per-sample (step, slip, stress, drive_z)."""
    steps = np.arange(0, n_events * period + 20000, EVERY)
    stress = np.empty(steps.size)
    u = np.empty(steps.size)
    base, rate, ts = 100e6, 0.02e6, period - 5000  # Pa, Pa per step, start of the slip in a cycle
    for k, s in enumerate(steps):
        i, t = divmod(int(s), period)
        if i >= n_events or t < ts:
            stress[k] = base + rate * t
            u[k] = min(i, n_events) * slip
            continue
        frac = min(1.0, (t - ts) / rise)
        tr = t - ts - rise
        ring = 0.3 * drop * math.exp(-tr / 600.0) * math.cos(2 * math.pi * tr / 900.0) if tr >= 0 else 0.0
        stress[k] = base + rate * ts - frac * drop - ring
        u[k] = i * slip + frac * slip
    return steps, u, stress, -1e-6 * steps.astype(float) * DT


def _feed(det: SlipDetector, steps, u, stress, drive):
    for s, a, q, z in zip(steps, u, stress, drive):
        det.update(int(s), float(a), float(q), 150e6, float(z))


def _detector(**kw):
    args = dict(rate_on=0.5, rate_off=0.2, quiet_steps=1000, window=200, dt=DT, angle_deg=30.0,
                frame_stiffness=2e9, area=1.2566e-3)
    args.update(kw)
    return SlipDetector(**args)


def test_a_single_slip_is_one_event_with_its_drop_slip_and_overshoot():
    drop, slip, rise = 40e6, 1e-4, 400
    steps, u, stress, drive = _stick_slip(n_events=1, drop=drop, slip=slip, rise=rise)
    det = _detector()
    _feed(det, steps, u, stress, drive)
    t = det.table()
    assert list(t.columns) == list(SLIP_COLUMNS) and len(t) == 1
    ev = t.iloc[0]
    # slip rate: slip / (rise dt) = 2.5 m/s, averaged over the 200-step window
    assert ev.peak_slip_rate == pytest.approx(slip / (rise * DT), rel=1e-6)
    assert ev.slip == pytest.approx(slip, rel=1e-9)
    # the quiet stretch's mean stress is the new static level (ringing averages out)
    assert ev.static_drop == pytest.approx(drop, rel=0.03)
    # the dynamic undershoot: from the ring's first trough (30 % of the drop below the
    # static level) up to the estimated final stress
    final = 100e6 + 0.02e6 * (40000 - 5000) - drop
    assert ev.stress_start == pytest.approx(final + drop, rel=1e-12)
    assert ev.dynamic_overshoot == pytest.approx(ev.stress_end - (final - 0.3 * drop), rel=1e-9)
    assert ev.dynamic_overshoot == pytest.approx(0.3 * drop, rel=0.1)
    assert ev.is_mainshock
    # the event starts at the stress peak where the slip began
    assert ev.step_start == 40000 - 5000
    tau, sn = resolved_fault_stresses(ev.stress_start, 150e6, 30.0)
    assert ev.shear_stress_before == pytest.approx(tau) and ev.normal_stress_before == pytest.approx(sn)


def test_resolved_stresses_follow_mohr_on_a_30_degree_fault():
    tau, sn = resolved_fault_stresses(200e6, 150e6, 30.0)
    assert tau == pytest.approx(200e6 * math.sqrt(3) / 4)
    assert sn == pytest.approx(150e6 + 50e6)


def test_two_cycles_give_two_events_and_the_largest_drop_is_the_mainshock():
    steps, u, stress, drive = _stick_slip(n_events=2)
    stress = stress.copy()
    second = steps >= 40000
    stress[second] -= np.where(steps[second] > 75000, 10e6, 0.0)  # the second drop is 10 MPa larger (after its peak at 75000)
    det = _detector()
    _feed(det, steps, u, stress, drive)
    assert det.count(45e6) == 1 and det.count(1e6) == 2
    # both drops count as stick-slips: two cycles, each with its mainshock, 40000 steps apart
    t = det.table(min_drop=1e6)
    assert len(t) == 2
    assert t.is_mainshock.tolist() == [True, True] and t.cycle.tolist() == [0, 1]
    assert math.isnan(t.recurrence.iloc[0]) and t.recurrence.iloc[1] == pytest.approx(40000 * DT, rel=1e-12)
    # only the larger one is a stick-slip: the smaller one is a slip within its cycle
    t = det.table(min_drop=45e6)
    assert t.is_mainshock.tolist() == [False, True] and t.cycle.tolist() == [0, 0]
    assert t.recurrence.isna().all()
    # no stick-slip at all: the largest slip event stands in as the mainshock
    assert det.table(min_drop=100e6).is_mainshock.tolist() == [False, True]


def test_ringing_below_the_off_rate_does_not_keep_an_event_open():
    steps, u, stress, drive = _stick_slip(n_events=1)
    u = u + 2e-6 * np.sin(2 * math.pi * steps / 3000.0) * (steps > 36000)  # ~0.04 m/s ringing of the blocks
    det = _detector()
    _feed(det, steps, u, stress, drive)
    ev = det.table().iloc[0]
    assert ev.step_end - ev.step_start < 2000


def test_state_round_trip_continues_identically():
    steps, u, stress, drive = _stick_slip(n_events=2)
    a = _detector()
    _feed(a, steps, u, stress, drive)
    b = _detector()
    half = steps.size // 2 + 7  # inside the first event's quiet stretch or near it
    _feed(b, steps[:half], u[:half], stress[:half], drive[:half])
    b = SlipDetector.from_state(b.to_state())
    _feed(b, steps[half:], u[half:], stress[half:], drive[half:])
    assert a.table().equals(b.table())


def test_adaptive_drive_slows_while_dynamic_and_recovers_after_quiet_steps():
    d = AdaptiveDrive(0.2, 100.0, ke_ratio=0.5, crack_count=10, quiet_steps=1000)
    assert d.velocity == 0.2
    assert not d.update(0, kinetic=0.01, elastic=1.0, new_cracks=0, slipping=False)
    assert d.update(20, kinetic=0.6, elastic=1.0, new_cracks=0, slipping=False) and d.velocity == pytest.approx(0.002)
    assert not d.update(500, kinetic=0.0, elastic=1.0, new_cracks=0, slipping=False)  # not quiet long enough
    assert d.update(1020, kinetic=0.0, elastic=1.0, new_cracks=0, slipping=False) and d.velocity == 0.2
    assert d.update(1040, kinetic=0.0, elastic=1.0, new_cracks=10, slipping=False)  # a crack burst
    assert not d.update(1060, kinetic=0.0, elastic=1.0, new_cracks=0, slipping=True)  # still slow: slipping
    assert d.slow_steps == 1000 + 20 and d.n_slowdowns == 2
    e = AdaptiveDrive.from_state(d.to_state())
    assert e.to_state() == d.to_state()
    const = AdaptiveDrive(0.2, 1.0, 0.5, 10, 1000)
    assert not const.update(0, 100.0, 1.0, 100, True) and const.velocity == 0.2


def test_the_retired_stop_trigger_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="stop_drop_fraction was retired.*stop_after_slips"):
        resolve_config({"loading": {"stop_drop_fraction": 0.15}})
    with pytest.raises(ConfigError, match="slip_rate_off"):
        resolve_config({"loading": {"slip_rate_on": 0.1, "slip_rate_off": 0.2}})
    with pytest.raises(ConfigError, match="loading.drive"):
        resolve_config({"loading": {"drive": "fast"}})


def test_a_sample_that_never_rests_cannot_stall_the_drive():
    d = AdaptiveDrive(0.2, 1000.0, ke_ratio=0.5, crack_count=0, quiet_steps=1000, max_slow_steps=5000)
    fast_at = []
    for s in range(0, 20000, 20):
        d.update(s, kinetic=10.0, elastic=1.0, new_cracks=0, slipping=False)
        if d.velocity == 0.2:
            fast_at.append(s)
    # slow from step 0, forced fast at 5000 for 1000 steps, slow again, forced fast at 11000 ...
    assert d.n_forced == 3 and fast_at == [*range(5000, 6000, 20), *range(11000, 12000, 20), *range(17000, 18000, 20)]
    assert AdaptiveDrive.from_state(d.to_state()).to_state() == d.to_state()


def _ringing_then_slip(k_load: float = 1e12, v: float = 0.2, onset: int = 35000, rise: int = 400, drop: float = 30e6,
                       slip: float = 1e-4, crest: float = 3e6):
    """Linear loading at drive speed ``v`` with stress = k_load x drive advance, a ringing
    crest of ``crest`` Pa centred 150 steps before the slip's onset (the fault still
    locked), then a slip of ``slip`` over ``rise`` steps that drops the stress by
    ``drop`` while the drive keeps advancing. Returns (step, slip, stress, drive_z)."""
    steps = np.arange(0, onset + 20000, EVERY)
    z = -v * steps * DT
    stress = 100e6 + k_load * (-z)
    stress = stress + crest * np.exp(-(((steps - (onset - 150)) / 60.0) ** 2))
    frac = np.clip((steps - onset) / rise, 0.0, 1.0)
    return steps, slip * frac, stress - drop * frac, z


def test_an_event_starts_at_the_slips_onset_not_at_an_earlier_ringing_crest():
    steps, u, stress, drive = _ringing_then_slip()
    det = _detector()
    onset_seen = None
    for s, a, q, z in zip(steps, u, stress, drive):
        det.update(int(s), float(a), float(q), 150e6, float(z))
        if onset_seen is None and det.onset_rate > det.rate_on:
            onset_seen = int(s)
    ev = det.table().iloc[0]
    assert ev.step_start == 35000  # the crest at 34850 is higher, but the fault was still locked
    # the one-sample rate sees the slip at its first sample; the 200-step average later
    assert onset_seen == 35000 + EVERY
    assert ev.stress_start == pytest.approx(stress[steps == 35000][0], rel=1e-12)


def test_reload_is_the_measured_loading_stiffness_times_the_drive_advance():
    k_load = 1e12  # Pa of differential stress per m of drive: below the frame's 2e9 N/m / A
    steps, u, stress, drive = _ringing_then_slip(k_load=k_load, crest=0.0)
    det = _detector()
    _feed(det, steps, u, stress, drive)
    ev = det.table().iloc[0]
    # the advance runs to the end of the quiet stretch, whose mean stress is the final stress
    assert ev.drive_advance == pytest.approx(0.2 * (ev.step_end + 1000 - ev.step_start) * DT, rel=1e-9)
    assert ev.reload == pytest.approx(k_load * ev.drive_advance, rel=1e-6)
    assert ev.reload_bound == pytest.approx(2e9 / 1.2566e-3 * ev.drive_advance, rel=1e-12)
    assert ev.reload < 0.7 * ev.reload_bound
    # a drive that stood still over the samples before the event (while the stress kept
    # rising) gives no measurable slope: the frame's bound stands in
    held = np.where(steps <= 30000, drive, np.where(steps < 35000, drive[steps == 30000][0], drive - (drive[steps == 35000][0] - drive[steps == 30000][0])))
    stalled = _detector()
    _feed(stalled, steps, u, stress, held)
    ev = stalled.table().iloc[0]
    assert ev.drive_advance > 0.0 and ev.reload == ev.reload_bound
