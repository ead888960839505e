"""Numba kernel of the radius-expansion packer: frictionless damped relaxation in a cylinder.

Only :mod:`labquake.sim.specimen.packing` calls these. The units are scaled for statics:
every particle has unit mass and every contact (particle-particle and particle-wall) is a
linear frictionless spring of unit stiffness, so a force equals an overlap (m). The
static equilibrium of linear springs of equal stiffness does not depend on that
stiffness, and density scaling does not change a static state (PFC's static solve does
the same); the caller multiplies forces by the real contact stiffness afterwards.

Walls are rigid: a cylinder of radius ``cyl_r`` about z and two planes at z = ±``half_l``.
Local damping is PFC's: the force component ``F`` on a particle moving with velocity
``v`` becomes ``F − α|F|sign(v)``.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True)
def forces(pos, rad, scale, pi, pj, cyl_r, half_l, frc):
    """Contact forces (unit stiffness) on every particle into ``frc``.

    Radii are ``scale * rad``. Returns (sum of contact force magnitudes, number of
    contacts), walls included.
    """
    n = pos.shape[0]
    for i in range(n):
        frc[i, 0] = 0.0
        frc[i, 1] = 0.0
        frc[i, 2] = 0.0
    fsum = 0.0
    nc = 0
    for k in range(pi.shape[0]):
        i = pi[k]
        j = pj[k]
        dx = pos[j, 0] - pos[i, 0]
        dy = pos[j, 1] - pos[i, 1]
        dz = pos[j, 2] - pos[i, 2]
        d = math.sqrt(dx * dx + dy * dy + dz * dz)
        ov = scale * (rad[i] + rad[j]) - d
        if ov > 0.0 and d > 0.0:
            f = ov / d
            frc[i, 0] -= f * dx
            frc[i, 1] -= f * dy
            frc[i, 2] -= f * dz
            frc[j, 0] += f * dx
            frc[j, 1] += f * dy
            frc[j, 2] += f * dz
            fsum += ov
            nc += 1
    for i in range(n):
        r = scale * rad[i]
        rho = math.sqrt(pos[i, 0] * pos[i, 0] + pos[i, 1] * pos[i, 1])
        pen = rho + r - cyl_r
        if pen > 0.0 and rho > 0.0:
            frc[i, 0] -= pen * pos[i, 0] / rho
            frc[i, 1] -= pen * pos[i, 1] / rho
            fsum += pen
            nc += 1
        pen = pos[i, 2] + r - half_l
        if pen > 0.0:
            frc[i, 2] -= pen
            fsum += pen
            nc += 1
        pen = -pos[i, 2] + r - half_l
        if pen > 0.0:
            frc[i, 2] += pen
            fsum += pen
            nc += 1
    return fsum, nc


@njit(cache=True)
def run(pos, vel, rad, scale0, dscale, pi, pj, cyl_r, half_l, dt, alpha, n_steps, x0, half_skin, frc):
    """Up to ``n_steps`` damped steps (velocity Verlet-like, unit masses).

    The radius scale grows linearly, ``scale0 + dscale * step`` (``dscale`` 0: fixed
    radii). Stops early, after the step where some particle has moved more than
    ``half_skin`` from ``x0`` (the neighbour list must then be rebuilt). Returns the
    number of steps done.
    """
    n = pos.shape[0]
    hs2 = half_skin * half_skin
    for it in range(n_steps):
        forces(pos, rad, scale0 + dscale * it, pi, pj, cyl_r, half_l, frc)
        moved = 0.0
        for i in range(n):
            for c in range(3):
                f = frc[i, c]
                v = vel[i, c]
                if v > 0.0:
                    f -= alpha * abs(f)
                elif v < 0.0:
                    f += alpha * abs(f)
                v += f * dt
                vel[i, c] = v
                pos[i, c] += v * dt
            ddx = pos[i, 0] - x0[i, 0]
            ddy = pos[i, 1] - x0[i, 1]
            ddz = pos[i, 2] - x0[i, 2]
            d2 = ddx * ddx + ddy * ddy + ddz * ddz
            if d2 > moved:
                moved = d2
        if moved > hs2:
            return it + 1
    return n_steps


@njit(cache=True)
def unbalanced_ratio(frc, fsum, nc):
    """PFC's average ratio: mean unbalanced force magnitude over mean contact force."""
    n = frc.shape[0]
    s = 0.0
    for i in range(n):
        s += math.sqrt(frc[i, 0] ** 2 + frc[i, 1] ** 2 + frc[i, 2] ** 2)
    if nc == 0 or fsum <= 0.0:
        return 0.0
    return (s / n) / (fsum / nc)


@njit(cache=True)
def virial(pos, rad, scale, pi, pj, cyl_r, half_l):
    """Love-Weber trace and its affine radius derivative (unit stiffness).

    Returns ``(w, dw)``: ``w = Σ_c f_c · l_c`` over particle contacts (branch vector
    centre to centre) and wall contacts (centre to the wall, where the sample volume
    ends), so the mean stress is ``kn w / (3 V)``; ``dw`` is ``dw/dscale`` with the
    particles held in place.
    """
    w = 0.0
    dw = 0.0
    for k in range(pi.shape[0]):
        i = pi[k]
        j = pj[k]
        dx = pos[j, 0] - pos[i, 0]
        dy = pos[j, 1] - pos[i, 1]
        dz = pos[j, 2] - pos[i, 2]
        d = math.sqrt(dx * dx + dy * dy + dz * dz)
        ov = scale * (rad[i] + rad[j]) - d
        if ov > 0.0:
            w += ov * d
            dw += (rad[i] + rad[j]) * d
    for i in range(pos.shape[0]):
        r = scale * rad[i]
        rho = math.sqrt(pos[i, 0] * pos[i, 0] + pos[i, 1] * pos[i, 1])
        for pen in (rho + r - cyl_r, pos[i, 2] + r - half_l, -pos[i, 2] + r - half_l):
            if pen > 0.0:
                w += pen * (r - pen)
                dw += rad[i] * (r - pen)
    return w, dw
