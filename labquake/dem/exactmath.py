"""Elementary functions from +, −, ×, ÷ and √ only: bit-identical on every CPU.

libm's ``sin``, ``cos``, ``atan2``, ``exp``, ``log``… are not correctly rounded, and glibc
picks one of several builds of each (an FMA build, an SSE2 build) by the CPU at run time;
numpy's float64 ``exp``, ``log``, ``tan``, ``arctan`` take AVX-512 code paths on AVX-512
CPUs. Either way the last bit of a result depends on the machine, and the simulation
amplifies a last bit into a different catalog. The functions here use only exactly
rounded IEEE operations (compiled without fast-math flags, so without FMA contraction), in
a fixed order, so they give the same bits on any CPU. They are accurate to a few ulp, which
is all the physics needs.

Scalar functions are numba ``njit`` (callable from kernels and from Python); the ``*_array``
forms take and return float64 arrays of any shape.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k·_LN2_HI is exact for |k| < 2^20
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_INV_LN10 = 0.43429448190325182765
_HALF_PI = 1.5707963267948966
_PI = 3.141592653589793


@njit(cache=True, inline="always")
def cos_sin(x):
    """(cos x, sin x). The argument is halved (exactly) until |x| ≤ 1/8, the Taylor series
    taken there (truncation < 1e-25), and the double-angle formulas applied back. Meant for
    moderate angles (the rotation of one time step, angles of a few radians)."""
    k = 0
    while k < 64 and not (abs(x) <= 0.125):
        x *= 0.5
        k += 1
    x2 = x * x
    s = x * (1.0 - x2 * (1.0 / 6.0) * (1.0 - x2 * (1.0 / 20.0) * (1.0 - x2 * (1.0 / 42.0) * (
        1.0 - x2 * (1.0 / 72.0) * (1.0 - x2 * (1.0 / 110.0) * (1.0 - x2 * (1.0 / 156.0)))))))
    c = 1.0 - x2 * 0.5 * (1.0 - x2 * (1.0 / 12.0) * (1.0 - x2 * (1.0 / 30.0) * (1.0 - x2 * (1.0 / 56.0) * (
        1.0 - x2 * (1.0 / 90.0) * (1.0 - x2 * (1.0 / 132.0))))))
    for _ in range(k):
        s, c = 2.0 * s * c, (c - s) * (c + s)
    return c, s


@njit(cache=True)
def tan(x):
    """tan x (|x| < π/2 in practice: friction angles)."""
    c, s = cos_sin(x)
    return s / c


@njit(cache=True, inline="always")
def atan2(y, x):
    """atan2(y, x) in (−π, π]; (0, 0) gives 0. The ratio min/max ∈ [0, 1] is reduced by
    atan t = 2·atan(t / (1 + √(1 + t²))) until t ≤ 0.1 and the series taken to t²¹."""
    ax = abs(x)
    ay = abs(y)
    if ax == 0.0 and ay == 0.0:
        return 0.0
    swap = ay > ax
    t = ax / ay if swap else ay / ax
    k = 0
    while t > 0.1:
        t = t / (1.0 + math.sqrt(1.0 + t * t))
        k += 1
    t2 = t * t
    p = 1.0 / 21.0
    p = 1.0 / 19.0 - t2 * p
    p = 1.0 / 17.0 - t2 * p
    p = 1.0 / 15.0 - t2 * p
    p = 1.0 / 13.0 - t2 * p
    p = 1.0 / 11.0 - t2 * p
    p = 1.0 / 9.0 - t2 * p
    p = 1.0 / 7.0 - t2 * p
    p = 1.0 / 5.0 - t2 * p
    p = 1.0 / 3.0 - t2 * p
    a = t - t * t2 * p
    for _ in range(k):
        a *= 2.0
    if swap:
        a = _HALF_PI - a
    if x < 0.0:
        a = _PI - a
    if y < 0.0:
        a = -a
    return a


@njit(cache=True)
def exp(x):
    """e^x: x = k·ln2 + r (Cody–Waite, |r| ≤ ln2/2), a degree-16 Taylor series of e^r,
    then the exact scaling by 2^k. 0 below −745, inf above 709.8."""
    if x != x:
        return x
    if x > 709.78:
        return math.inf
    if x < -745.2:
        return 0.0
    k = math.floor(x * _INV_LN2 + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = 1.0
    for n in range(16, 0, -1):
        p = 1.0 + p * r * (1.0 / n)
    return math.ldexp(p, int(k))


@njit(cache=True)
def log(x):
    """ln x for x > 0 (nan below 0, −inf at 0): x = f·2^e with f ∈ [√½, √2), then
    ln f = 2·atanh s, s = (f − 1)/(f + 1), by its series to s³¹."""
    if not (x > 0.0):
        return -math.inf if x == 0.0 else math.nan
    if x == math.inf:
        return x
    f, e = math.frexp(x)  # x = f·2^e, f ∈ [0.5, 1)
    if f < 0.7071067811865476:
        f *= 2.0
        e -= 1
    s = (f - 1.0) / (f + 1.0)
    s2 = s * s
    p = 1.0 / 31.0
    for n in range(29, 0, -2):
        p = 1.0 / n + s2 * p
    return e * _LN2_HI + (e * _LN2_LO + 2.0 * s * p)


@njit(cache=True)
def log10(x):
    """log10 x = ln x / ln 10."""
    return log(x) * _INV_LN10


@njit(cache=True)
def _exp_flat(x, out):
    for i in range(x.shape[0]):
        out[i] = exp(x[i])


@njit(cache=True)
def _tan_flat(x, out):
    for i in range(x.shape[0]):
        out[i] = tan(x[i])


@njit(cache=True)
def _log10_flat(x, out):
    for i in range(x.shape[0]):
        out[i] = log10(x[i])


def _apply(kernel, x) -> np.ndarray:
    a = np.ascontiguousarray(x, dtype=np.float64)
    flat = a.reshape(-1)
    out = np.empty_like(flat)
    kernel(flat, out)
    return out.reshape(a.shape)


def exp_array(x) -> np.ndarray:
    """:func:`exp` elementwise."""
    return _apply(_exp_flat, x)


def tan_array(x) -> np.ndarray:
    """:func:`tan` elementwise."""
    return _apply(_tan_flat, x)


def log10_array(x) -> np.ndarray:
    """:func:`log10` elementwise."""
    return _apply(_log10_flat, x)
