"""The sample's shear-wave speed, measured by time of flight (for the AE time window).

Hazzard & Young's clustering window is the time a shear wave needs to cross an event's
size, so it needs the S-wave speed *of the sample* (bonded packing, porosity, confinement,
fault), not the speed of an ideal lattice of its contacts.

Method (:func:`measure_shear_wave_speed`), on two copies of the engine (the run itself is
not touched): a torsional pulse along the sample axis. The fundamental torsional mode of a
cylinder travels at the shear-wave speed at every frequency (no geometric dispersion), and
the frictionless platens and lateral boundary do not resist it (a sideways kick of a slab,
tried first, bounces against the lateral wall and gives no clean pulse).

1. in copy A the particles of a slab one mean diameter thick at the bottom of the sample
   get the extra velocity of a rigid rotation about the sample axis, ``v0`` at the rim;
   copy B runs unperturbed;
2. both copies run side by side; every ``sample_every`` steps the angular velocity about
   the axis of each receiver slab (one mean diameter thick, centred at ``receivers`` ×
   length above the bottom; mass-weighted, Σm(x v_y − y v_x)/Σm(x² + y²)) is recorded in
   both, and the response is their difference over the kick's angular velocity, so the
   loading and any motion of the sample's own cancel (the pulse is small and the response
   linear: on the quick preset v0 = 0.1 and 1 m/s give the same speed to 0.05 %);
3. each receiver's arrival is the time its response first reaches half the maximum of its
   first pulse (linearly interpolated); the speed is 1 / slope of the least-squares line of
   arrival time against distance from the source slab (the source's rise time falls into
   the intercept);
4. the copies run until the farthest receiver's first pulse has fallen to half its
   maximum, at most ``max_steps``.

On the quick preset (847 particles) the two copies run about 2 × 260 steps, about 1.5 % of
the run's steps.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

__all__ = ["measure_shear_wave_speed", "first_pulse_arrival"]

METHOD = ("time of flight of a torsional pulse (rigid-rotation kick of a bottom slab) along the sample axis; "
          "response = slab angular velocity of the kicked minus an unkicked copy of the engine; arrivals at half "
          "the first-pulse maximum; speed = 1 / slope of arrival time against distance")


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line y = slope·x + intercept with exactly rounded sums (math.fsum), not
    LAPACK (np.polyfit), whose kernels round differently on different CPUs."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.size
    mx = math.fsum(x) / n
    my = math.fsum(y) / n
    dx = x - mx
    sxx = math.fsum(dx * dx)
    slope = math.fsum(dx * (y - my)) / sxx if sxx > 0.0 else math.nan
    return slope, my - slope * mx


def first_pulse_arrival(t: np.ndarray, r: np.ndarray, detect: float) -> tuple[float, bool]:
    """Arrival time of the first positive pulse of ``r(t)`` and whether the pulse is complete.

    The first pulse starts where ``r`` first exceeds ``detect``; its maximum is the largest
    value before ``r`` falls below half of the running maximum; the arrival is where ``r``
    first reaches half that maximum (linear interpolation). NaN if ``r`` never exceeds
    ``detect``; ``complete`` is False while the pulse has not fallen back to half its peak.
    """
    t = np.asarray(t, dtype=float)
    r = np.asarray(r, dtype=float)
    above = np.flatnonzero(r > detect)
    if above.size == 0:
        return math.nan, False
    k0 = int(above[0])
    peak = r[k0]
    complete = False
    for k in range(k0, r.size):
        if r[k] > peak:
            peak = r[k]
        elif r[k] < 0.5 * peak:
            complete = True
            break
    half = 0.5 * peak
    k = int(np.argmax(r >= half))
    if k == 0:
        return float(t[0]), complete
    f = (half - r[k - 1]) / (r[k] - r[k - 1])
    return float(t[k - 1] + f * (t[k] - t[k - 1])), complete


def measure_shear_wave_speed(eng: Any, v0: float = 0.1, receivers: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
                             sample_every: int = 2, max_steps: int | None = None,
                             speed_guess: float | None = None) -> dict[str, Any]:
    """Measure the S-wave speed of the sample in ``eng`` (see the module docstring).

    Parameters
    ----------
    eng
        An engine with ``state_dict``/``from_state_dict``, ``positions``, ``radii``,
        ``velocities``, ``set_velocities``, ``run``, ``dt`` (a :class:`labquake.sim.dem.Engine`);
        it is copied, never advanced.
    v0
        Rim velocity of the source slab's rotation kick [m/s] (small: the response must
        stay linear).
    receivers
        Receiver slab centres as fractions of the sample length above its bottom.
    sample_every
        Steps between samples of the receiver velocities.
    max_steps
        Step limit of each copy (default: four crossings of the farthest receiver at
        ``speed_guess``, or 4000 steps without a guess).
    speed_guess
        A speed estimate [m/s] (e.g. the lattice estimate), only for the default step limit.

    Returns
    -------
    dict
        ``s_wave_speed`` [m/s] (NaN if fewer than 3 receivers saw the pulse), ``method``,
        ``receiver_distance`` [m], ``arrival_time`` [s], ``fit_rms`` [s] (rms residual of
        the line), ``steps`` (per copy), ``engine_steps`` (both copies), ``wall_time_s``,
        ``v0``.
    """
    t0 = time.perf_counter()
    state = eng.state_dict()
    klass = type(eng)
    a = klass.from_state_dict(state)
    b = klass.from_state_dict(state)
    for c in (a, b):
        c.n_threads = getattr(eng, "n_threads", 1)
    pos = np.asarray(eng.positions)
    rad = np.asarray(eng.radii)
    z = pos[:, 2]
    zmin = float(np.min(z - rad))
    length = float(np.max(z + rad)) - zmin
    dm = 2.0 * float(rad.mean())
    src = np.flatnonzero(z - zmin < dm)
    zc = zmin + np.asarray(receivers, dtype=float) * length
    slabs = [np.flatnonzero(np.abs(z - c) < 0.5 * dm) for c in zc]
    dist = zc - float(np.mean(z[src]))
    xy = pos[:, :2] - 0.5 * (pos[:, :2].min(axis=0) + pos[:, :2].max(axis=0))  # about the sample axis
    rim = float(np.max(np.sqrt(xy[:, 0] * xy[:, 0] + xy[:, 1] * xy[:, 1]) + rad))  # not libm's hypot
    omega = v0 / rim
    vel = np.asarray(a.velocities)[src].copy()
    vel[:, 0] -= omega * xy[src, 1]
    vel[:, 1] += omega * xy[src, 0]
    a.set_velocities(src, vel)
    m = np.asarray(eng.masses)

    def spin(v: np.ndarray) -> np.ndarray:
        return np.array([np.sum(m[s] * (xy[s, 0] * v[s, 1] - xy[s, 1] * v[s, 0])) / np.sum(m[s] * (xy[s] ** 2).sum(axis=1))
                         if s.size else 0.0 for s in slabs])

    dt = float(eng.dt)
    if max_steps is None:
        max_steps = int(math.ceil(4.0 * dist.max() / speed_guess / dt)) if speed_guess else 4000
    detect = 0.05
    times, resp = [0.0], [np.zeros(len(slabs))]
    steps = 0
    while steps < max_steps:
        n = min(sample_every, max_steps - steps)
        a.run(n)
        b.run(n)
        steps += n
        times.append(steps * dt)
        resp.append((spin(np.asarray(a.velocities)) - spin(np.asarray(b.velocities))) / omega)
        if steps % (10 * sample_every) == 0 or steps >= max_steps:
            _, done = first_pulse_arrival(np.asarray(times), np.asarray(resp)[:, -1], detect)
            if done:
                break
    tt = np.asarray(times)
    r = np.asarray(resp)
    arr = np.array([first_pulse_arrival(tt, r[:, k], detect)[0] for k in range(len(slabs))])
    ok = np.isfinite(arr)
    speed, rms = math.nan, math.nan
    if ok.sum() >= 3:
        slope, icpt = _line_fit(dist[ok], arr[ok])
        if slope > 0:
            speed = float(1.0 / slope)
            rms = float(np.sqrt(np.mean((arr[ok] - (slope * dist[ok] + icpt)) ** 2)))
    return {"s_wave_speed": speed, "method": METHOD, "receiver_distance": [float(x) for x in dist],
            "arrival_time": [float(x) for x in arr], "fit_rms": rms, "steps": int(steps), "engine_steps": int(2 * steps),
            "wall_time_s": float(time.perf_counter() - t0), "v0": float(v0)}
