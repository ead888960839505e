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


_PIO2_1 = 1.57079632673412561417e00  # π/2 split (fdlibm): n·_PIO2_1 is exact for |n| < 2^20
_PIO2_1T = 6.07710050650619224932e-11
_TWO_OVER_PI = 6.36619772367581382433e-01


@njit(cache=True, inline="always")
def cos_sin(x):
    """(cos x, sin x): x = n·π/2 + r with |r| ≤ π/4 (Cody–Waite), Taylor series of r to
    r²³ / r²² (truncation < 1e-26), then the quadrant. About 1 ulp for |x| < 1e5."""
    if not (abs(x) < 1e300):
        return math.nan, math.nan
    n = 0.0
    r = x
    if abs(x) > 0.78539816339744827:
        n = math.floor(x * _TWO_OVER_PI + 0.5)
        r = (x - n * _PIO2_1) - n * _PIO2_1T
    r2 = r * r
    ps = 1.0 / (22.0 * 23.0)
    pc = 1.0 / (21.0 * 22.0)
    for m in range(10, 0, -1):  # m = 10..1: sin terms 2m(2m+1), cos terms (2m−1)2m
        ps = 1.0 / ((2.0 * m) * (2.0 * m + 1.0)) * (1.0 - r2 * ps)
        pc = 1.0 / ((2.0 * m - 1.0) * (2.0 * m)) * (1.0 - r2 * pc)
    s = r - r * r2 * ps
    c = 1.0 - r2 * pc
    q = int(n) & 3
    if q == 0:
        return c, s
    if q == 1:
        return -s, c
    if q == 2:
        return -c, -s
    return s, -c


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
def _cos_sin_flat(x, c, s):
    for i in range(x.shape[0]):
        c[i], s[i] = cos_sin(x[i])


@njit(cache=True)
def _log10_flat(x, out):
    for i in range(x.shape[0]):
        out[i] = log10(x[i])


def _asarray(x) -> np.ndarray:
    return np.array(x, dtype=np.float64, order="C")  # keeps a 0-d shape (ascontiguousarray does not)


def _apply(kernel, x) -> np.ndarray:
    a = _asarray(x)
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


@njit(cache=True)
def _atan2_flat(y, x, out):
    for i in range(x.shape[0]):
        out[i] = atan2(y[i], x[i])


def atan2_array(y, x) -> np.ndarray:
    """:func:`atan2` elementwise (the membrane kernel's angle, for numpy code that must bin
    particles exactly as the kernel does)."""
    yy, xx = np.broadcast_arrays(_asarray(y), _asarray(x))
    yf = np.ascontiguousarray(yy).reshape(-1)
    xf = np.ascontiguousarray(xx).reshape(-1)
    out = np.empty_like(xf)
    _atan2_flat(yf, xf, out)
    return out.reshape(xx.shape)


def cos_sin_array(x) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cos_sin` elementwise: (cos x, sin x)."""
    a = _asarray(x)
    flat = a.reshape(-1)
    c, s = np.empty_like(flat), np.empty_like(flat)
    _cos_sin_flat(flat, c, s)
    return c.reshape(a.shape), s.reshape(a.shape)


def hypot(x, y) -> np.ndarray:
    """√(x² + y²) elementwise by IEEE operations (numpy's hypot is libm's, which glibc builds
    differently for FMA and non-FMA CPUs). For lengths far from overflow."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return np.sqrt(x * x + y * y)


def log10_array(x) -> np.ndarray:
    """:func:`log10` elementwise."""
    return _apply(_log10_flat, x)
