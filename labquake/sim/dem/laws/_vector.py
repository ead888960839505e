"""Scalar vector helpers shared by the contact laws (inlined into the pair loop)."""

from __future__ import annotations

import math

from numba import njit

from .._target import FASTMATH  # noqa: F401 - the laws and the pair kernel import it from here


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def rot_keep(x, y, z, nx, ny, nz):
    """Project (x,y,z) onto the plane normal to n and restore its length.

    The length factor is 1/sqrt(1 - q) with q = (v·n)²/|v|²; for the small q of one time
    step its series 1 + q/2 + 3q²/8 is used (relative error < 1e-12 for q < 1e-4).
    """
    old2 = x * x + y * y + z * z
    if old2 == 0.0:
        return 0.0, 0.0, 0.0
    d = x * nx + y * ny + z * nz
    x -= d * nx
    y -= d * ny
    z -= d * nz
    q = d * d / old2
    if q < 1e-4:
        f = 1.0 + q * (0.5 + 0.375 * q)
    elif q < 1.0:
        f = math.sqrt(1.0 / (1.0 - q))
    else:
        return 0.0, 0.0, 0.0
    return x * f, y * f, z * f


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def cap_vector(x, y, z, cap):
    """Scale (x, y, z) down to length ``cap`` if it is longer (Coulomb / rolling limit).
    Scalars only, so it inlines without reference counting. Returns x, y, z, capped."""
    v2 = x * x + y * y + z * z
    if v2 > cap * cap:
        f = cap / math.sqrt(v2)
        return x * f, y * f, z * f, True
    return x, y, z, False


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def cross(ax, ay, az, bx, by, bz):
    """a × b."""
    return ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
