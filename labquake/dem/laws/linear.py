"""Linear frictional contact with tangential history (LAMMPS ``gran/hooke/history`` type).

Fn = kn·overlap − 2ζ√(m_eff·kn)·v_n. The tangential spring vector s is rotated into the
current tangent plane keeping its length, incremented by v_t·dt, and the shear force
−ks·s is capped at μ·kn·overlap; when it slips, s is rewritten so that the spring stays
consistent with the force. Optional rolling resistance (PFC ``rr`` linear): a rolling
moment spring k_r = ks·R̄², capped at μ_r·R̄·Fn.
"""

from __future__ import annotations

import math

from numba import njit

from ._vector import FASTMATH, cap_vector, rot_keep


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def linear_contact(s0, s1, s2, nx, ny, nz, tx, ty, tz, vn, ov, dt, kn, ks, zeta, mi, mj, mu):
    """One step of a touching linear contact (overlap ``ov`` > 0).

    Returns ``(fn, fel, ftx, fty, ftz, sx, sy, sz)``: normal force on j along n
    (compression +, damping included), its elastic part, the shear force on j and the new
    tangential spring vector.
    """
    sx, sy, sz = rot_keep(s0, s1, s2, nx, ny, nz)
    sx += tx * dt
    sy += ty * dt
    sz += tz * dt
    fel = kn * ov
    fn = fel
    if zeta > 0.0:
        meff = mi * mj / (mi + mj)
        fn -= 2.0 * zeta * math.sqrt(meff * kn) * vn
    ftx = -ks * sx
    fty = -ks * sy
    ftz = -ks * sz
    ftx, fty, ftz, slipping = cap_vector(ftx, fty, ftz, mu * fel)
    if slipping and ks > 0.0:  # keep the spring consistent with the slip force
        sx = -ftx / ks
        sy = -fty / ks
        sz = -ftz / ks
    return fn, fel, ftx, fty, ftz, sx, sy, sz


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def rolling_resistance(q0, q1, q2, nx, ny, nz, thx, thy, thz, kr, cap):
    """Rolling moment on j after a relative rotation increment (thx, thy, thz) of j.

    The moment is rotated into the tangent plane, incremented by −k_r·θ_t and capped at
    ``cap``. Returns the new moment (qx, qy, qz).
    """
    qx, qy, qz = rot_keep(q0, q1, q2, nx, ny, nz)
    thn = thx * nx + thy * ny + thz * nz
    qx -= kr * (thx - thn * nx)
    qy -= kr * (thy - thn * ny)
    qz -= kr * (thz - thn * nz)
    qx, qy, qz, _ = cap_vector(qx, qy, qz, cap)
    return qx, qy, qz
