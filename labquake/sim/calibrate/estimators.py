"""Estimators of intact-rock properties from stress-strain curves (pure functions): tangent
modulus and Poisson's ratio, the Mohr-Coulomb envelope, strain-gauge fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from labquake.errors import (
    InsufficientDataError,
)

# --------------------------------------------------------------------------------------
# Estimators (pure functions)
# --------------------------------------------------------------------------------------


def _window(load: np.ndarray, level: float, window: float) -> tuple[np.ndarray, float]:
    load = np.asarray(load, dtype=float)
    if load.size < 2 or not np.any(np.isfinite(load)):
        raise InsufficientDataError("a stress-strain curve needs at least 2 finite samples")
    k = int(np.nanargmax(load))
    peak = float(load[k])
    if not peak > 0.0:
        raise InsufficientDataError(f"the load never rises above zero (peak {peak:g})")
    pre = np.arange(k + 1)
    sel = pre[(load[: k + 1] >= (level - window) * peak) & (load[: k + 1] <= (level + window) * peak)]
    if sel.size < 2:
        raise InsufficientDataError(
            f"only {sel.size} pre-peak sample(s) between {level - window:.0%} and {level + window:.0%} of the peak; "
            "record the curve more often (calibration.record_interval)")
    return sel, peak


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    xm = x - x.mean()
    den = float(np.dot(xm, xm))
    if den == 0.0:
        raise InsufficientDataError("the strain does not change over the fitting window")
    return float(np.dot(xm, y - y.mean()) / den)


def tangent_modulus(stress: Sequence[float], strain: Sequence[float], level: float = 0.5, window: float = 0.1) -> float:
    """Tangent modulus at ``level`` x peak stress, from a local least-squares fit.

    The fit uses the samples before the peak whose stress lies within
    ``(level +- window)`` x peak, and returns the slope of stress against strain.

    Parameters
    ----------
    stress, strain
        The loading curve in time order (same sign convention for both, load positive).
    level, window
        Fraction of the peak where the tangent is taken, and the half-width of the
        fitting window (fractions of the peak).

    Returns
    -------
    float
        The modulus, in the unit of stress / strain.

    Raises
    ------
    InsufficientDataError
        Fewer than 2 pre-peak samples in the window, or no rise at all.
    """
    s = np.asarray(stress, dtype=float)
    e = np.asarray(strain, dtype=float)
    if s.shape != e.shape:
        raise ValueError("stress and strain must have the same length")
    sel, _ = _window(s, level, window)
    return _slope(e[sel], s[sel])


def tangent_poisson(stress: Sequence[float], axial_strain: Sequence[float], lateral_strain: Sequence[float],
                    level: float = 0.5, window: float = 0.1) -> float:
    """Tangent Poisson's ratio ``-d(lateral)/d(axial)`` over the window of :func:`tangent_modulus`.

    ``axial_strain`` and ``lateral_strain`` share one sign convention (e.g. contraction
    positive, so a sample shortened axially has a negative lateral strain). The window
    is chosen on ``stress`` (load positive).
    """
    s = np.asarray(stress, dtype=float)
    a = np.asarray(axial_strain, dtype=float)
    lat = np.asarray(lateral_strain, dtype=float)
    if not (s.shape == a.shape == lat.shape):
        raise ValueError("stress, axial_strain and lateral_strain must have the same length")
    sel, _ = _window(s, level, window)
    return -_slope(a[sel], lat[sel])


def mohr_coulomb(sigma3: Sequence[float], sigma1: Sequence[float]) -> dict[str, float]:
    """Mohr-Coulomb envelope from peak stresses: least squares ``sigma1 = UCS' + q sigma3``.

    Returns ``{"ucs_intercept", "q", "friction_angle_deg", "cohesion"}`` (stresses in the
    unit of the input), with ``phi = asin((q - 1)/(q + 1))`` and
    ``c = UCS' (1 - sin phi) / (2 cos phi)``. Friction angle and cohesion are NaN when
    q <= 0 (no envelope).

    Raises
    ------
    InsufficientDataError
        Fewer than two distinct confining stresses.
    """
    s3 = np.asarray(sigma3, dtype=float)
    s1 = np.asarray(sigma1, dtype=float)
    if s3.shape != s1.shape:
        raise ValueError("sigma3 and sigma1 must have the same length")
    ok = np.isfinite(s3) & np.isfinite(s1)
    s3, s1 = s3[ok], s1[ok]
    if np.unique(s3).size < 2:
        raise InsufficientDataError("a Mohr-Coulomb fit needs peaks at two or more confining stresses")
    q = _slope(s3, s1)
    ucs = float(s1.mean() - q * s3.mean())
    if q <= 0.0:
        return {"ucs_intercept": ucs, "q": q, "friction_angle_deg": math.nan, "cohesion": math.nan}
    sphi = (q - 1.0) / (q + 1.0)
    phi = math.asin(sphi)
    c = ucs * (1.0 - sphi) / (2.0 * math.cos(phi))
    return {"ucs_intercept": ucs, "q": q, "friction_angle_deg": math.degrees(phi), "cohesion": c}


class GaugeFit:
    """Least-squares affine strain of a set of particles since a reference state.

    ``u = c + G x0`` is fitted to the displacements of the particles ``ids`` (reference
    positions ``x0``); :meth:`strains` returns the axial strain ``-G_zz`` and the radial
    strain ``-(G_xx + G_yy)/2``, contraction positive. The pseudo-inverse is computed once.
    """

    def __init__(self, positions0: np.ndarray, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        if self.ids.size < 4:
            raise InsufficientDataError(f"the strain gauge needs at least 4 particles, got {self.ids.size}; "
                                        "raise calibration.gauge_fraction")
        self.x0 = np.asarray(positions0, float)[self.ids].copy()
        design = np.column_stack([np.ones(len(self.ids)), self.x0])
        self.pinv = np.linalg.pinv(design)

    def gradient(self, positions: np.ndarray) -> np.ndarray:
        """The displacement gradient G (3 x 3), G[i, j] = du_i/dx_j."""
        u = np.asarray(positions, float)[self.ids] - self.x0
        return (self.pinv @ u)[1:].T

    def strains(self, positions: np.ndarray) -> tuple[float, float]:
        g = self.gradient(positions)
        return float(-g[2, 2]), float(-0.5 * (g[0, 0] + g[1, 1]))
