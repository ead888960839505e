"""Gaussian random field draws that give the same bits on every CPU.

The field's covariance matrix is factored by a pivoted Cholesky decomposition in numba
(strict IEEE arithmetic, fixed order, ties to the lowest index), not by LAPACK: LAPACK's
eigenvectors and BLAS products, and numpy's float64 ``exp``, round differently on different
CPUs (their kernels are picked at run time), and a last-bit change in one bond strength
changes the catalog.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from labquake.sim.dem.exactmath import exp


@njit(cache=True)
def _gaussian_covariance(points, length):
    """exp(−|x_i − x_j|² / 2ℓ²) for all pairs of ``points`` (n, 3)."""
    n = points.shape[0]
    c = np.empty((n, n))
    s = -0.5 / (length * length)
    for i in range(n):
        c[i, i] = 1.0
        for j in range(i):
            d2 = 0.0
            for k in range(points.shape[1]):
                d = points[i, k] - points[j, k]
                d2 += d * d
            v = exp(s * d2)
            c[i, j] = v
            c[j, i] = v
    return c


@njit(cache=True)
def _pivoted_cholesky(cov, tol):
    """Lower factor L (n × r) with L Lᵀ = cov up to a residual diagonal ≤ ``tol`` (greedy
    largest-pivot order, stops when every residual variance is ≤ tol)."""
    n = cov.shape[0]
    d = np.empty(n)
    for i in range(n):
        d[i] = cov[i, i]
    L = np.zeros((n, n))
    done = np.zeros(n, dtype=np.bool_)
    r = 0
    for k in range(n):
        piv = -1
        best = tol
        for i in range(n):
            if not done[i] and d[i] > best:
                best = d[i]
                piv = i
        if piv < 0:
            break
        done[piv] = True
        lkk = math.sqrt(d[piv])
        L[piv, k] = lkk
        for i in range(n):
            if done[i]:
                continue
            s = cov[i, piv]
            for j in range(k):
                s -= L[i, j] * L[piv, j]
            v = s / lkk
            L[i, k] = v
            d[i] -= v * v
        r = k + 1
    return L[:, :r]


@njit(cache=True)
def _matvec(L, z):
    n, r = L.shape
    out = np.zeros(n)
    for i in range(n):
        s = 0.0
        for k in range(r):
            s += L[i, k] * z[k]
        out[i] = s
    return out


def gaussian_field_draw(points: np.ndarray, length: float, z: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """The field ``L z`` at ``points`` for standard-normal ``z`` (one per point; the first
    r, the numerical rank, are used), with covariance exp(−r²/2ℓ²) to within ``tol``."""
    p = np.ascontiguousarray(points, dtype=np.float64).reshape(len(points), -1)
    cov = _gaussian_covariance(p, float(length))
    L = np.ascontiguousarray(_pivoted_cholesky(cov, float(tol)))
    return _matvec(L, np.ascontiguousarray(z, dtype=np.float64)[: L.shape[1]])
