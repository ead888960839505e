"""Bounds on the next record-breaking magnitude and their extreme-value calibration.

The idea follows Verdon & Eisner (2024, *SRL*): from the magnitudes seen so far, bracket the
next record-breaking magnitude between a lower estimate ``M_LE`` and an upper estimate
``M_UE``, normalise each observed next record by the bracket,

    z = (M_next - M_LE) / (M_UE - M_LE),

and turn a distribution fitted to the normalised values (a GEV; the field's published fit is
k = 0.23, σ = 0.1, μ = 0, and a shifted lognormal μ = -1.4, σ = 0.6, δ = 0.2 is the
alternative) into the probability of the next record.

Our bounds (exact, not a copy of the published formulas)
---------------------------------------------------------
With Gutenberg–Richter magnitudes above a completeness ``Mc`` (``β = b ln 10``), the next
event that breaks the current record ``R`` has magnitude ``R + E`` with ``E ~ Exp(β)``
(memorylessness). The current ``b`` and count enter through ``S = Σ (M_i - Mc)`` over the
``n`` magnitudes: ``βS ~ Gamma(n, 1)`` independently of ``βE ~ Exp(1)``, so ``E/S`` is a pivot
whose law does not depend on the unknown b:

    P(E > x S) = (1 + x)^(-n).

* ``M_UE`` (the Gutenberg–Richter upper limit with the current b and count) is the
  magnitude that the next record exceeds with probability ``α/2``:
  ``M_UE = R + S((α/2)^(-1/n) - 1)``.
* ``M_LE`` comes from the same law read in moment: the record's moment jumps by the factor
  ``J = 10^(1.5 E)`` (a Pareto jump of the moment, the "jump-limited moment model"), and
  ``M_LE`` is where the jump reaches its ``α/2`` quantile:
  ``M_LE = R + S((1 - α/2)^(-1/n) - 1)``.

So ``[M_LE, M_UE]`` covers the next record with probability exactly ``1 - α`` for every b
and every n (tested on 2000 synthetic sequences). When ``Mc`` is not given it is the sample
minimum; the ``n - 1`` excesses over the minimum are again independent exponentials, so
the law holds with ``n - 1``.

The GEV of :data:`FIELD_GEV` uses the MATLAB/hydrology sign of the shape (k > 0: heavy upper
tail); scipy's ``genextreme`` shape is ``c = -k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from labquake.errors import ConfigError, InsufficientDataError, SchemaError

__all__ = [
    "FIELD_GEV",
    "FIELD_LOGNORMAL",
    "RecordBounds",
    "record_bounds",
    "normalised_record",
    "field_distribution",
    "fit_gev",
    "crps",
    "crps_ensemble",
    "reliability",
]

#: published GEV of the normalised next record: shape k (MATLAB sign), scale σ, location μ
FIELD_GEV = {"k": 0.23, "sigma": 0.1, "mu": 0.0}
#: published shifted lognormal alternative: z + δ ~ LogNormal(μ, σ)
FIELD_LOGNORMAL = {"mu": -1.4, "sigma": 0.6, "delta": 0.2}


@dataclass(frozen=True)
class RecordBounds:
    """Bounds on the next record-breaking magnitude (see the module docstring)."""

    record: float  # current record R
    m_le: float  # lower estimate
    m_ue: float  # upper estimate
    s: float  # Σ (M - Mc)
    n: int  # exponential excesses in S
    mc: float
    alpha: float

    @property
    def b(self) -> float:
        """Maximum-likelihood b from the same excesses, ``n / (S ln 10)``."""
        return float(self.n / (self.s * np.log(10.0))) if self.s > 0 else float("nan")

    def cdf(self, m) -> np.ndarray:
        """Predictive CDF of the next record: ``1 - (1 + (m - R)/S)^(-n)`` for ``m >= R``."""
        x = np.maximum(np.asarray(m, dtype=float) - self.record, 0.0)
        return 1.0 - (1.0 + x / self.s) ** (-self.n)

    def ppf(self, p) -> np.ndarray:
        """Predictive quantile of the next record."""
        p = np.asarray(p, dtype=float)
        return self.record + self.s * ((1.0 - p) ** (-1.0 / self.n) - 1.0)


def record_bounds(magnitudes, *, alpha: float = 0.1, mc: float | None = None, min_events: int = 3) -> RecordBounds:
    """Bounds ``[M_LE, M_UE]`` on the next record-breaking magnitude.

    Parameters
    ----------
    magnitudes
        Magnitudes seen so far (any order).
    alpha
        ``1 - alpha`` is the nominal coverage of the bounds.
    mc
        Completeness magnitude (magnitudes below it are ignored); ``None``: the sample
        minimum, and the ``n - 1`` excesses over it are used.
    min_events
        Fewest magnitudes (above ``mc``) accepted.

    Returns
    -------
    RecordBounds

    Raises
    ------
    InsufficientDataError
        Fewer than ``min_events`` magnitudes, or all equal.
    """
    if not (0.0 < float(alpha) < 1.0):
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    m = np.asarray(magnitudes, dtype=float).reshape(-1)
    if not np.isfinite(m).all():
        raise SchemaError("magnitudes contain NaN or infinite values; drop them first")
    if mc is not None:
        m = m[m >= float(mc)]
    if m.size < max(int(min_events), 2):
        raise InsufficientDataError(
            f"record bounds need at least {max(int(min_events), 2)} magnitudes"
            f"{'' if mc is None else f' >= Mc={mc:g}'}, got {m.size}")
    if mc is None:
        mcv, n = float(m.min()), m.size - 1
    else:
        mcv, n = float(mc), m.size
    s = float(np.sum(m - mcv))
    if not s > 0:
        raise InsufficientDataError("record bounds need magnitudes that are not all equal")
    a = float(alpha)
    r = float(m.max())
    m_le = r + s * ((1.0 - a / 2.0) ** (-1.0 / n) - 1.0)
    m_ue = r + s * ((a / 2.0) ** (-1.0 / n) - 1.0)
    return RecordBounds(record=r, m_le=float(m_le), m_ue=float(m_ue), s=s, n=int(n), mc=mcv, alpha=a)


def normalised_record(m_next, bounds: RecordBounds) -> float:
    """``(M_next - M_LE) / (M_UE - M_LE)``."""
    return float((float(m_next) - bounds.m_le) / (bounds.m_ue - bounds.m_le))


def field_distribution(kind: str = "gev"):
    """The published distribution of the normalised next record (a frozen scipy law)."""
    if kind == "gev":
        return stats.genextreme(c=-FIELD_GEV["k"], loc=FIELD_GEV["mu"], scale=FIELD_GEV["sigma"])
    if kind == "lognormal":
        p = FIELD_LOGNORMAL
        return stats.lognorm(s=p["sigma"], loc=-p["delta"], scale=np.exp(p["mu"]))
    raise ConfigError(f"distribution {kind!r} is unknown; use 'gev' or 'lognormal'")


def fit_gev(z, min_values: int = 10):
    """A GEV fitted to normalised records ``z`` (scipy ``genextreme.fit``).

    Returns ``(frozen law, source)`` with ``source`` ``"fitted"``, or the published law and
    ``"field"`` when there are fewer than ``min_values`` finite values or the fit fails.
    """
    z = np.asarray(z, dtype=float)
    z = z[np.isfinite(z)]
    if z.size >= int(min_values) and np.ptp(z) > 0:
        with np.errstate(all="ignore"):
            try:
                c, loc, scale = stats.genextreme.fit(z)
            except (RuntimeError, ValueError):
                c = np.nan
        if np.isfinite(c) and scale > 0:
            return stats.genextreme(c=c, loc=loc, scale=scale), "fitted"
    return field_distribution("gev"), "field"


def crps(ppf, y: float, n_quantiles: int = 2000) -> float:
    """Continuous ranked probability score of a forecast given by its quantile function.

    ``CRPS = 2 ∫_0^1 (1{y < q(p)} - p)(q(p) - y) dp`` (the integrated quantile score),
    evaluated on ``n_quantiles`` midpoints. Lower is better; same unit as ``y``.
    """
    p = (np.arange(n_quantiles) + 0.5) / n_quantiles
    q = np.asarray(ppf(p), dtype=float)
    return float(2.0 * np.mean(((y < q).astype(float) - p) * (q - y)))


def crps_ensemble(sample, y: float) -> float:
    """CRPS of the empirical distribution of ``sample`` (closed form, Gneiting & Raftery 2007)."""
    x = np.asarray(sample, dtype=float)
    if x.size == 0:
        return float("nan")
    return float(np.mean(np.abs(x - y)) - 0.5 * np.mean(np.abs(x[:, None] - x[None, :])))


def reliability(pit, levels=None) -> tuple[np.ndarray, np.ndarray]:
    """Calibration curve: for each nominal level p, the observed share of PIT values ``<= p``."""
    u = np.asarray(pit, dtype=float)
    u = u[np.isfinite(u)]
    lv = np.linspace(0.1, 0.9, 9) if levels is None else np.asarray(levels, dtype=float)
    obs = np.array([np.mean(u <= p) if u.size else np.nan for p in lv])
    return lv, obs
