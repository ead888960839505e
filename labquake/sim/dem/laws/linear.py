"""Linear frictional contact with tangential history (LAMMPS ``gran/hooke/history`` type).

Fn = kn·overlap − 2ζ√(m_eff·kn)·v_n. The tangential spring vector s is rotated into the
current tangent plane keeping its length, incremented by v_t·dt, and the shear force
−ks·s is capped at μ·kn·overlap; when it slips, s is rewritten so that the spring stays
consistent with the force. Optional rolling resistance (PFC ``rr`` linear): a rolling
moment spring k_r = ks·R̄², capped at μ_r·R̄·Fn.

Energy (:meth:`labquake.sim.dem.Engine.energy`): the springs store ½kn·overlap², ½|F_s|²/ks
and ½|M_r|²/k_r. When a cap cuts a trial spring the step dissipates, by the trapezoidal
rule over the step (exact for an incremental linear spring),
D = (t − c)·(c + r)/(2k), with r the rotated old, t the trial and c the capped
force (or moment); :func:`cap_dissipation`.
"""

from __future__ import annotations

import math

from numba import njit

from ._vector import FASTMATH, cap_vector, rot_keep


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def linear_contact(s0, s1, s2, nx, ny, nz, tx, ty, tz, vn, ov, dt, kn, ks, zeta, mi, mj, mu):
    """One step of a touching linear contact (overlap ``ov`` > 0).

    Returns ``(fn, fel, ftx, fty, ftz, sx, sy, sz, dfr)``: normal force on j along n
    (compression +, damping included), its elastic part, the shear force on j, the new
    tangential spring vector and the energy the Coulomb cap dissipated this step (J).
    """
    sx, sy, sz = rot_keep(s0, s1, s2, nx, ny, nz)
    rx = sx
    ry = sy
    rz = sz
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
    dfr = 0.0
    if slipping and ks > 0.0:  # keep the spring consistent with the slip force
        csx = -ftx / ks
        csy = -fty / ks
        csz = -ftz / ks
        # in spring units (F = -ks s): D = ½ks (s_t − s_c)·(s_c + s_r)
        dfr = 0.5 * ks * ((sx - csx) * (csx + rx) + (sy - csy) * (csy + ry) + (sz - csz) * (csz + rz))
        sx = csx
        sy = csy
        sz = csz
    return fn, fel, ftx, fty, ftz, sx, sy, sz, dfr


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def rolling_resistance(q0, q1, q2, nx, ny, nz, thx, thy, thz, kr, cap):
    """Rolling moment on j after a relative rotation increment (thx, thy, thz) of j.

    The moment is rotated into the tangent plane, incremented by −k_r·θ_t and capped at
    ``cap``. Returns the new moment (qx, qy, qz) and the energy the cap dissipated (J).
    """
    qx, qy, qz = rot_keep(q0, q1, q2, nx, ny, nz)
    rx = qx
    ry = qy
    rz = qz
    thn = thx * nx + thy * ny + thz * nz
    qx -= kr * (thx - thn * nx)
    qy -= kr * (thy - thn * ny)
    qz -= kr * (thz - thn * nz)
    cx, cy, cz, capped = cap_vector(qx, qy, qz, cap)
    d = 0.0
    if capped and kr > 0.0:
        d = cap_dissipation(qx, qy, qz, cx, cy, cz, rx, ry, rz, kr)
    return cx, cy, cz, d


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def cap_dissipation(tx, ty, tz, cx, cy, cz, rx, ry, rz, k):
    """Energy an incremental linear spring (stiffness ``k``) dissipates in a step whose
    trial force t (from the rotated old force r) was cut to c: the trapezoidal work done on
    it minus the change of its stored energy, (t − c)·(c + r)/(2k)."""
    return ((tx - cx) * (cx + rx) + (ty - cy) * (cy + ry) + (tz - cz) * (cz + rz)) / (2.0 * k)
