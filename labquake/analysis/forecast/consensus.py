"""k-of-n consensus detection ("2 of 3", as in automatic earthquake quick-report systems).

Each detector gives detection times. A detection at ``t`` keeps its detector *on* over
``[t, t + window)`` (overlapping intervals of one detector merge: a detector votes once).
An event is published at each time where the number of detectors on rises to ``k`` or more,
that is at the start of each maximal interval where at least ``k`` distinct detectors are
on (the coincidence sum of network triggers).

Scoring against a truth list (:func:`match`): detections and true events are paired one to
one, in time order, when they are at most ``tolerance`` apart. The miss rate is the share
of true events left unpaired; the false rate the share of detections left unpaired.

Detectors of a run (built by :func:`labquake.analysis.forecast.skill.consensus_skill`):

* ``catalog``: the AE event catalog (crack clustering), one detection per event onset;
* ``kinetic``: jumps of kinetic energy, the rising crossings of the sample-to-sample
  increment of ``log10`` KE above its median plus ``k`` robust standard deviations
  (1.4826 MAD; :func:`robust_threshold`, :func:`burst_times`). Kinetic energy stays raised
  after a burst (the contacts are lightly damped), so its level would not do;
* ``slip``: rising crossings of the fault slip rate (the time derivative of ``fault_slip``)
  above the same kind of robust threshold.

Truth: the crack catalog, grouped into bursts (:func:`crack_bursts`): cracks closer than
``gap`` (the AE clustering's time window) belong to one burst, timed at its first crack.
The tolerance of the pairing is two loading samples, the time resolution of the kinetic
energy and slip records.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from labquake.errors import ConfigError, SchemaError

__all__ = ["coincidence", "match", "rates", "burst_times", "robust_threshold", "crack_bursts"]


def _sorted_times(t, name: str) -> np.ndarray:
    v = np.asarray(t, dtype=float).reshape(-1)
    if not np.isfinite(v).all():
        raise SchemaError(f"detection times of {name} contain NaN or infinite values")
    return np.sort(v)


def _union(t: np.ndarray, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge [t_i, t_i + window) into disjoint intervals (t sorted)."""
    if t.size == 0:
        return t, t
    gaps = np.flatnonzero(np.diff(t) > window)  # a new interval starts after a gap > window
    starts = t[np.concatenate([[0], gaps + 1])]
    ends = t[np.concatenate([gaps, [t.size - 1]])] + window
    return starts, ends


def coincidence(detections: Mapping[str, np.ndarray], window: float, k: int = 2) -> np.ndarray:
    """Times at which at least ``k`` distinct detectors agree within ``window``.

    Parameters
    ----------
    detections
        Detector name -> detection times.
    window
        Each detection keeps its detector on for ``[t, t + window)``.
    k
        Votes needed (2 for "2 of 3").

    Returns
    -------
    Sorted publication times (starts of the maximal intervals with >= k detectors on).
    """
    window = float(window)
    if not window > 0:
        raise ConfigError(f"coincidence window must be > 0, got {window!r}")
    if int(k) < 1:
        raise ConfigError(f"k must be >= 1, got {k!r}")
    pos, delta = [], []
    for name, t in detections.items():
        s, e = _union(_sorted_times(t, name), window)
        pos += [e, s]
        delta += [np.full(e.size, -1), np.full(s.size, 1)]
    if not pos:
        return np.empty(0)
    x = np.concatenate(pos)
    dl = np.concatenate(delta)
    # at equal times, ends (-1) come before starts (+1): intervals are half-open
    order = np.lexsort((dl, x))
    x, dl = x[order], dl[order]
    count = np.cumsum(dl)
    before = np.concatenate([[0], count[:-1]])
    rise = (count >= k) & (before < k)
    return x[rise]


def match(detected, truth, tolerance: float) -> tuple[int, int, int]:
    """One-to-one pairing in time order; returns ``(pairs, n_detected, n_truth)``.

    A detection pairs with the earliest unpaired true event within ``tolerance`` of it
    (greedy two-pointer sweep over both sorted lists).
    """
    d = _sorted_times(detected, "detector")
    g = _sorted_times(truth, "truth")
    i = j = pairs = 0
    while i < d.size and j < g.size:
        if abs(d[i] - g[j]) <= tolerance:
            pairs += 1
            i += 1
            j += 1
        elif d[i] < g[j]:
            i += 1
        else:
            j += 1
    return pairs, int(d.size), int(g.size)


def rates(detected, truth, tolerance: float) -> dict[str, float]:
    """Miss rate, false rate and F1 of ``detected`` against ``truth`` (see :func:`match`)."""
    p, nd, ng = match(detected, truth, tolerance)
    miss = 1.0 - p / ng if ng else float("nan")
    false = 1.0 - p / nd if nd else 0.0
    f1 = 2.0 * p / (nd + ng) if nd + ng else float("nan")
    return {"miss_rate": float(miss), "false_rate": float(false), "f1": float(f1), "n_detected": nd,
            "n_truth": ng, "n_paired": int(p)}


def robust_threshold(x, k: float) -> float:
    """``median(x) + k * 1.4826 * MAD(x)`` over the finite values of ``x``."""
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    med = float(np.median(v))
    mad = 1.4826 * float(np.median(np.abs(v - med)))
    return med + float(k) * mad


def burst_times(time, x, threshold: float) -> np.ndarray:
    """Times of the rising crossings of ``x`` to ``>= threshold`` (the first sample counts if above)."""
    t = np.asarray(time, dtype=float).reshape(-1)
    v = np.asarray(x, dtype=float).reshape(-1)
    if t.shape != v.shape:
        raise SchemaError("time and x must have the same length")
    above = v >= threshold
    above[~np.isfinite(v)] = False
    prev = np.concatenate([[False], above[:-1]])
    return t[above & ~prev]


def crack_bursts(times, gap: float) -> np.ndarray:
    """Onsets of bursts of cracks: cracks at most ``gap`` apart form one burst."""
    t = np.sort(np.asarray(times, dtype=float).reshape(-1))
    if t.size == 0:
        return t
    return t[np.concatenate([[0], np.flatnonzero(np.diff(t) > gap) + 1])]
