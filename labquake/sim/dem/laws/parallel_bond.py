"""Parallel bond (Potyondy & Cundall 2004): a cement disc acting beside the linear contact.

Bond radius R = λ·min(ri, rj), A = πR², I = πR⁴/4, J = 2I. The normal force, shear force,
bending and twisting moments grow incrementally from the relative motion of the contact
point and the relative rotation, with stiffness per area k̄n, k̄s. Peak stresses
σ = −Fn/A + β·|M_b|·R/I and τ = |Fs|/A + β·|M_t|·R/J (β: moment contribution factor,
PFC's ``pb_mcf``); tension breaks when σ > σ_t, else shear when τ > c + (Fn/A)·tanφ
(Fn compression +). After a break the pair is a linear contact with residual friction.
"""

from __future__ import annotations

import math

from numba import njit

from ._failure import failure_mode
from ._vector import FASTMATH, rot_keep


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def parallel_bond(fn0, f0x, f0y, f0z, m0x, m0y, m0z, nx, ny, nz, tx, ty, tz, vn, thx, thy, thz, dt,
                  area, ib, bkn, bks, inv_a, r_over_i, r_over_j, tensile_strength, cohesion, tan_phi, beta):
    """One step of an intact parallel bond.

    ``(fn0, f0, m0)``: the bond's normal force (compression +), shear force on j and moment
    on j; ``(tx, ty, tz)``, ``vn``: tangential and normal relative velocity of the contact
    point; ``th``: relative rotation increment of j. Returns
    ``(fn, fsx, fsy, fsz, mx, my, mz, mode)`` with ``mode`` 0 intact, 1 tension, 2 shear.
    """
    jb = 2.0 * ib
    fn = fn0 - bkn * area * vn * dt
    fsx, fsy, fsz = rot_keep(f0x, f0y, f0z, nx, ny, nz)
    kst = bks * area * dt
    fsx -= kst * tx
    fsy -= kst * ty
    fsz -= kst * tz
    mt = m0x * nx + m0y * ny + m0z * nz
    mbx, mby, mbz = rot_keep(m0x - mt * nx, m0y - mt * ny, m0z - mt * nz, nx, ny, nz)
    thn = thx * nx + thy * ny + thz * nz
    kb = bkn * ib
    mbx -= kb * (thx - thn * nx)
    mby -= kb * (thy - thn * ny)
    mbz -= kb * (thz - thn * nz)
    mt -= bks * jb * thn
    mb = math.sqrt(mbx * mbx + mby * mby + mbz * mbz)
    fs = math.sqrt(fsx * fsx + fsy * fsy + fsz * fsz)
    sig = -fn * inv_a + beta * mb * r_over_i
    tau = fs * inv_a + beta * abs(mt) * r_over_j
    mode = failure_mode(sig, tau, fn * inv_a, tensile_strength, cohesion, tan_phi)
    return fn, fsx, fsy, fsz, mbx + mt * nx, mby + mt * ny, mbz + mt * nz, mode


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def parallel_bond_break_energy(fn0, f0x, f0y, f0z, m0x, m0y, m0z, fn, fsx, fsy, fsz, mx, my, mz, nx, ny, nz,
                               area, ib, bkn, bks):
    """Energy released when a bond breaks in a step: the bond held the old force/moment
    (``*0``), its trial state (``fn``, ``fs``, ``m`` from :func:`parallel_bond`) broke and
    it carries nothing afterwards. The trapezoidal work done on it minus the change of its
    stored energy ½Fn²/(k̄n A) + ½|Fs|²/(k̄s A) + ½|M_b|²/(k̄n I) + ½M_t²/(k̄s J) is
    Σ t·o/(2k) over the four springs (t trial, o the old value carried into the new
    frame), about the energy the bond held."""
    d = fn * fn0 / (2.0 * bkn * area)
    mt0 = m0x * nx + m0y * ny + m0z * nz
    bx, by, bz = rot_keep(m0x - mt0 * nx, m0y - mt0 * ny, m0z - mt0 * nz, nx, ny, nz)
    mt = mx * nx + my * ny + mz * nz
    d += ((mx - mt * nx) * bx + (my - mt * ny) * by + (mz - mt * nz) * bz) / (2.0 * bkn * ib)
    if bks > 0.0:
        sx, sy, sz = rot_keep(f0x, f0y, f0z, nx, ny, nz)
        d += (fsx * sx + fsy * sy + fsz * sz) / (2.0 * bks * area)
        d += mt * mt0 / (2.0 * bks * 2.0 * ib)
    return d
