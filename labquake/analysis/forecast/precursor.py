"""Precursor alarms scored on a Molchan diagram.

Departure from a linear trend (the GNSS precursor line)
--------------------------------------------------------
At each sample time ``t`` of a series ``x`` (axial strain, fault slip, ...), a straight line
``x̂`` is fitted by least squares to the samples in ``[t - window, t - lead]``, and the
relative departure over the last ``lead`` is

    d(t) = (x(t) - x̂(t)) / (x̂(t) - x̂(t - lead)),

the excess over the trend's own increment in that time (0.18 is the proposed criterion: 18 %
more than the trend predicts). Only the past is used. ``d`` is NaN when the window holds
fewer than 3 samples, when the trend is flat, or when a mainshock onset falls inside
``(t - window, t]`` (the slip would be fitted as a trend).

Alarms and the Molchan diagram
------------------------------
An alarm function ``a(t)`` (here ``d``) declares an alarm wherever ``a >= threshold``. A
mainshock is *hit* when the alarm is on at the last valid sample before its onset. Over all
thresholds, the miss rate ``ν`` is plotted against the fraction of time in alarm ``τ``
(Molchan 1990). An alarm function that knows nothing lies on the diagonal ``ν = 1 - τ``.

The area under the Molchan curve equals the mean, over mainshocks, of the share of time
whose alarm value is at least that mainshock's (the time one must spend in alarm to hit
it). For an uninformative alarm it is 0.5 with standard error ``1/sqrt(12 N)`` (Zechar &
Jordan 2008); the *area skill* reported is ``1 - area`` (0.5 random, 1 perfect).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labquake.errors import ConfigError, InsufficientDataError, SchemaError

__all__ = ["GNSS_THRESHOLD", "MolchanResult", "trend_departure", "onset_values", "molchan"]

#: relative departure from the linear trend proposed as a precursor criterion
GNSS_THRESHOLD = 0.18


def _times(time, name="time") -> np.ndarray:
    t = np.asarray(time, dtype=float).reshape(-1)
    if t.size and (not np.isfinite(t).all() or np.any(np.diff(t) <= 0)):
        raise SchemaError(f"{name} must be finite and strictly increasing")
    return t


def trend_departure(time, x, *, window: float, lead: float, onsets=None) -> np.ndarray:
    """Relative departure ``d(t)`` of ``x`` from its trailing linear trend (module docstring).

    Parameters
    ----------
    time, x
        Samples of the series (time strictly increasing).
    window
        Length of the trailing window; the trend is fitted on ``[t - window, t - lead]``.
    lead
        Time over which the departure is measured (``0 < lead < window``).
    onsets
        Mainshock onsets: ``d`` is NaN where an onset lies in ``(t - window, t]``.

    Returns
    -------
    ndarray of ``d`` at every sample (NaN where undefined).
    """
    t = _times(time)
    v = np.asarray(x, dtype=float).reshape(-1)
    if v.shape != t.shape:
        raise SchemaError(f"time and x must have the same length, got {t.size} and {v.size}")
    window, lead = float(window), float(lead)
    if not (0.0 < lead < window):
        raise ConfigError(f"need 0 < lead < window, got lead={lead:g}, window={window:g}")
    out = np.full(t.size, np.nan)
    if t.size < 3:
        return out
    # centred and scaled copies so that the running sums do not cancel
    t0, ts = t[0], (t[-1] - t[0]) or 1.0
    u = (t - t0) / ts
    vm, vs = np.nanmean(v), (np.nanstd(v) or 1.0)
    w = (v - vm) / vs
    c = lambda a: np.concatenate([[0.0], np.cumsum(a)])  # noqa: E731
    S1, Su, Sw, Suu, Suw = c(np.ones_like(u)), c(u), c(w), c(u * u), c(u * w)
    lo = np.searchsorted(t, t - window, side="left")
    hi = np.searchsorted(t, t - lead, side="right")
    n = S1[hi] - S1[lo]
    su, sw, suu, suw = Su[hi] - Su[lo], Sw[hi] - Sw[lo], Suu[hi] - Suu[lo], Suw[hi] - Suw[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        var = suu - su * su / n
        slope = (suw - su * sw / n) / var
        icpt = (sw - slope * su) / n
        pred_t = icpt + slope * u
        inc = slope * (lead / ts)  # trend increment over `lead`, in scaled units
        d = (w - pred_t) / inc
    ok = (n >= 3) & (var > 1e-14 * np.maximum(n, 1)) & np.isfinite(d) & (np.abs(inc) > 0)
    out[ok] = d[ok]
    if onsets is not None:
        on = np.sort(np.asarray(onsets, dtype=float).reshape(-1))
        # an onset in (t - window, t] spoils the window
        k_hi = np.searchsorted(on, t, side="right")
        k_lo = np.searchsorted(on, t - window, side="right")
        out[k_hi > k_lo] = np.nan
    return out


def onset_values(time, values, onsets) -> np.ndarray:
    """The alarm value at the last sample strictly before each onset (NaN if none is valid)."""
    t = _times(time)
    a = np.asarray(values, dtype=float)
    on = np.asarray(onsets, dtype=float).reshape(-1)
    i = np.searchsorted(t, on, side="left") - 1
    out = np.full(on.size, np.nan)
    ok = i >= 0
    out[ok] = a[i[ok]]
    return out


@dataclass(frozen=True)
class MolchanResult:
    """A Molchan diagram and its summary numbers."""

    tau: np.ndarray = field(repr=False)  # fraction of time in alarm, per threshold
    nu: np.ndarray = field(repr=False)  # miss rate, per threshold
    thresholds: np.ndarray = field(repr=False)
    area: float  # area under ν(τ); 0.5 for random alarms
    area_se: float  # standard error of the area for random alarms, 1/sqrt(12 N)
    n_targets: int

    @property
    def skill(self) -> float:
        """Area skill ``1 - area`` (0.5: random guess; 1: perfect)."""
        return 1.0 - self.area


def molchan(sample_values, onset_vals, weights=None) -> MolchanResult:
    """Molchan diagram of an alarm function.

    Parameters
    ----------
    sample_values
        The alarm function at every valid time sample (NaN samples are dropped).
    onset_vals
        Its value at each mainshock (NaN: the mainshock can never be hit).
    weights
        Duration of each sample (default equal), for the fraction of time in alarm.
    """
    a = np.asarray(sample_values, dtype=float).reshape(-1)
    wts = np.ones_like(a) if weights is None else np.asarray(weights, dtype=float).reshape(-1)
    if wts.shape != a.shape:
        raise SchemaError("weights must have one value per sample")
    keep = np.isfinite(a)
    a, wts = a[keep], wts[keep]
    ov = np.asarray(onset_vals, dtype=float).reshape(-1)
    if a.size == 0:
        raise InsufficientDataError("no valid sample of the alarm function: the windows are longer than the record")
    if ov.size == 0:
        raise InsufficientDataError("no mainshock to score the alarms on")
    order = np.argsort(-a, kind="stable")
    a_sorted = a[order]
    cum = np.cumsum(wts[order]) / wts.sum()

    def frac_at_least(v):
        k = np.searchsorted(-a_sorted, -np.asarray(v, dtype=float), side="right")  # count with a >= v
        return np.where(k > 0, cum[np.maximum(k - 1, 0)], 0.0)

    tau_j = np.where(np.isfinite(ov), frac_at_least(np.nan_to_num(ov, nan=np.inf)), 1.0)
    thr = np.unique(np.concatenate([ov[np.isfinite(ov)], [np.inf, -np.inf]]))[::-1]
    tau = frac_at_least(thr)
    tau[thr == -np.inf] = 1.0
    nu = np.array([np.mean(~(ov >= th)) for th in thr])
    n = ov.size
    return MolchanResult(tau=tau, nu=nu, thresholds=thr, area=float(np.mean(tau_j)),
                         area_se=float(1.0 / np.sqrt(12.0 * n)), n_targets=int(n))
