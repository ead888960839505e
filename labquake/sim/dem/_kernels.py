"""Numba kernels of the DEM engine. Only the engine calls these (:mod:`labquake.sim.dem.engine`
and its parts ``_controls``, ``_outputs``, ``_energy_budget`` and ``_state_layout``).

This is the one module of labquake over 600 lines, by design: the pair loop, the neighbour
list and the integrator compile as one unit, and the contact laws (one module each, in
:mod:`labquake.sim.dem.laws`) are inlined into the pair loop. Splitting the kernels across
modules would not shorten the compiled code and would scatter one loop over several files.

Conventions
-----------
* Pairs (i, j) of the half list have i < j (current, spatially sorted indices) and are
  grouped by i, sorted by j inside a group (CSR with ``istart``).
* ``n`` is the unit vector from i to j. Per-pair history vectors are expressed "for j
  relative to i" (shear spring displacement of j, shear force on j, moment on j); they flip
  sign when a re-sort reverses the order of a pair.
* ``hist[s, 0:3]``: linear contact shear spring (displacement) or, for a smooth joint, its
  shear force on j; ``hist[s, 3]``: smooth-joint normal force (compression +).
* ``hold[s]`` (only with fault healing, else an empty array): the hold time (s) of a
  smooth joint's healing (:func:`labquake.sim.dem.laws.smooth_joint.smooth_joint_healing`),
  carried with the slot's history; a scalar, so a re-sort does not flip it.
* Bond table (one row per installed bond, index ``pbd[s]``): ``bfn`` normal force
  (compression +), ``bfs`` shear force on j, ``bmom`` moment on j, ``bst`` 1 intact /
  2 broken, ``bprop`` columns (area, radius, tensile strength, cohesion, tan φ, kind,
  I, R/I, R/J, 1/area).
* The pair kernel ``_pair_range`` is written inline (no calls taking arrays inside the
  loop: numba would add reference counting per call) and compiled with a restricted set of
  fast-math flags (no reassociation), so the serial and the threaded specialisations
  compute bit-identical pair forces.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .exactmath import atan2 as _atan2
from .laws._vector import FASTMATH
from .laws.flat_joint import FJ_E0, FJ_ESTRIDE, FJ_T1
from .laws.flat_joint import flat_joint_accounted
from .laws.linear import linear_contact, rolling_resistance
from .laws.parallel_bond import parallel_bond, parallel_bond_break_energy
from .laws.smooth_joint import (
    smooth_joint_dissipation,
    smooth_joint_failure,
    smooth_joint_healing,
    smooth_joint_residual,
    smooth_joint_trial,
)

# ---- parameter vector layout (prm, float64)
P_DT = 0
P_KN = 1
P_KS = 2
P_MU = 3
P_ZETA = 4
P_RMU = 5
P_BKN = 6
P_BKS = 7
P_BMU = 8
P_JKN = 9
P_JKS = 10
P_JMU = 11
P_JNX = 12
P_JNY = 13
P_JNZ = 14
P_JSGN = 15
P_JAREA = 16
P_JRM = 17
P_HASJ = 18
P_ALPHA = 19
P_SKIN = 20
P_BRM = 21
P_NFJ = 22  # flat-joint elements per rock bond (0: parallel bonds)
P_BETA = 23  # parallel-bond moment contribution factor
P_HEAL = 24  # 1: smooth-joint healing on (labquake.sim.dem.FaultHealing), 0: off
P_HRATE = 25  # healing rate, Pa per decade of hold time
P_HTC = 26  # healing cut-off time t_c, s
P_HCMAX = 27  # largest healed cohesion, Pa
P_HTRAT = 28  # healed tensile strength / healed cohesion
P_HCRK = 29  # smallest healed cohesion whose loss is a re-rupture (a crack), Pa
NPRM = 30

# ---- wall state layout (wal, float64)
W_HASP = 0
W_ZB = 1
W_ZT = 2
W_ZT0 = 3
W_ZD = 4
W_PKN = 5
W_PMODE = 6  # 1 servo, 2 velocity
W_PVEL = 7
W_PTGT = 8
W_KF = 9
W_PGAIN = 10
W_PVMAX = 11
W_FTOP = 12
W_FBOT = 13
W_NTOP = 14
W_NBOT = 15
W_CMODE = 16  # 0 none, 1 pressure, 2 wall, 3 jacket (floating split cylinder)
W_CR = 17
W_CKN = 18
W_CTGT = 19
W_CGAIN = 20
W_CVMAX = 21
W_CF = 22
W_CN = 23
W_CAREA = 24
W_CSIG = 25
W_CX = 26
W_CY = 27
W_NTH = 28
W_NZ = 29
W_CREFF = 30
W_CRMIN = 32
W_CMARG = 33
W_PMU = 34  # platen friction coefficient (0: frictionless platens)
W_PKS = 35  # platen tangential contact stiffness (N/m)
# jacket (W_CMODE 3): two coaxial rigid segments of radius W_CR, segment s confining the
# particles of side s. Segment 0 is centred at (W_CX, W_CY), segment 1 at (W_JCX1, W_JCY1);
# W_JG*: the lateral force of segment s on its block (last wall step), W_JN*: its contacts;
# (W_JQX, W_JQY): the target lateral force on block 0 per unit σ_c·π·R² (uniform pressure
# on a saw-cut block's lateral surface; block 1: minus that); W_JAXIS 1: the segments float
# along the unit vector (W_JEX, W_JEY) only (the fault's horizontal dip direction, that of
# the blocks' offset; across it they stay put, as the wall), 0: in both directions (no fault)
W_JCX1 = 40
W_JCY1 = 41
W_JGX0 = 42
W_JGY0 = 43
W_JGX1 = 44
W_JGY1 = 45
W_JN0 = 46
W_JN1 = 47
W_JQX = 48
W_JQY = 49
W_JEX = 50
W_JEY = 51
W_JAXIS = 52
NWAL = 56
#: length of the wall vector before the jacket's slots (state dicts of older labquake)
NWAL_OLD = 40

# ---- counters (cnt, int64)
C_STEP = 0
C_NREB = 1
C_NCRK = 2
C_NEEDREB = 3
C_SORTEV = 4
C_NTHR = 5
C_NBOND = 6
C_NSORT = 7
C_HASEXT = 8
C_PARMIN = 9
NCNT = 10

# ---- energy accumulators (enr, float64, J, cumulative; see Engine.energy)
E_WALL = 0  # work of the moving walls: platen (or the frame's drive point), cylinder wall
E_PRES = 1  # work of the confining pressure boundary on the particles
E_DRIVE = 2  # work of the driver holding driven (fixed) particles at their velocity
E_EXT = 3  # work of the external forces on free particles
E_SET = 4  # energy put in by state changes between runs (initial state, set_velocities, ...)
E_FRIC = 5  # friction: Coulomb slip, rolling cap, loss of unbonded contacts and broken elements
E_VISC = 6  # viscous contact damping
E_LOCAL = 7  # local (PFC) damping
E_BREAK = 8  # released by bond / flat-joint element breaks
E_WKNOWN = 9  # 1 once the wall forces of the previous step are in wal (0: never computed yet)
E_PLATEN = 10  # lost by the massless platen on a frame spring when it jumps to its balance
NENR = 12

# ---- pair state flags (pst, int8)
F_BONDED = 1
F_BROKEN = 2
F_TOUCH = 4

CHUNK = 512  # slots per event-flag chunk
#: added to a smooth joint's failure mode in the event word when a healed joint re-ruptures
EV_HEALED = 4

# fast-math flags of the pair kernel (labquake.sim.dem._target): none in the portable mode (the
# default); otherwise no reassociation, but FMA contraction where the compile target has FMA.
_FM = FASTMATH


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _pair_range(s0, s1, scatter, pi, pj, pos, vel, omg, rad, mass, side, oid, hist, roll, hold, pst, pbd,
                bfn, bfs, bmom, bprop, bst, bfj, fjg, prm, frc, trq, pf, pti, ptj, evs, chf, ech, dep, dch):
    """Pair forces of slots s0..s1-1; updates the pairs' history.

    ``scatter``: add the forces to ``frc``/``trq`` directly (serial path, slot order);
    otherwise store them per slot in ``pf`` (force on i), ``pti``, ``ptj`` for the
    deterministic per-particle reduction. Bond failures are flagged in ``evs`` (1 tension,
    2 shear; for a flat joint 2 bits per element) and ``chf`` (per CHUNK of slots).

    Energy: the pairs' dissipation this step (friction, viscous damping, bond breaks; J)
    is summed in slot order per CHUNK of slots into ``ech[chunk]``, so the serial and the
    threaded path give the same sums. The viscous normal force of a linear contact is kept
    in ``hist[s, 3]`` (unused by that law) for the trapezoidal rule; a flat joint's dashpot
    is booked by the midpoint rule (its pair's history row stays cold: reading it costs
    ~3 % of a flat-jointed sample's step).
    An unbonded contact that stops touching leaves its old history in ``dep[s]`` (flag
    ``dchunk``) for :func:`_departures`, which books it after the loop: no arithmetic on
    it here, so nothing in this loop shares a subexpression with the bookkeeping (a shared
    product would change how LLVM contracts the force arithmetic, and so the forces).

    The loop only decides which law a pair follows; the laws are the inlined functions of
    :mod:`labquake.sim.dem.laws` (scalars in, scalars out, so no reference counting in the
    hot loop):

    * side[i] != side[j] with a joint: smooth joint (bonded or not; with healing,
      ``prm[P_HEAL]``, an unbonded joint heals while it holds, and a healed joint that
      fails with at least ``prm[P_HCRK]`` of cohesion flags ``mode + EV_HEALED``);
    * a rock pair holding a flat joint (``prm[P_NFJ]`` elements, ``pbd[s] >= 0``): the
      flat joint alone, bonded or broken, while its faces interact;
    * any other pair: linear contact (+ rolling resistance) while the spheres overlap,
      plus the parallel bond while it is intact.
    """
    # parameters in locals: stores into the history arrays could alias prm otherwise
    c_dt = prm[P_DT]
    c_hasj = prm[P_HASJ]
    c_jsgn = prm[P_JSGN]
    c_jnx = prm[P_JNX]
    c_jny = prm[P_JNY]
    c_jnz = prm[P_JNZ]
    c_jarea = prm[P_JAREA]
    c_jrm = prm[P_JRM]
    c_jkn = prm[P_JKN]
    c_jks = prm[P_JKS]
    c_jmu = prm[P_JMU]
    c_kn = prm[P_KN]
    c_ks = prm[P_KS]
    c_zeta = prm[P_ZETA]
    c_bmu = prm[P_BMU]
    c_mu = prm[P_MU]
    c_rmu = prm[P_RMU]
    c_bkn = prm[P_BKN]
    c_bks = prm[P_BKS]
    c_nfj = prm[P_NFJ]
    c_beta = prm[P_BETA]
    c_heal = prm[P_HEAL]
    c_hrate = prm[P_HRATE]
    c_htc = prm[P_HTC]
    c_hcmax = prm[P_HCMAX]
    c_htrat = prm[P_HTRAT]
    c_hcrk = prm[P_HCRK]
    has_roll = roll.shape[0] > 0
    has_hold = hold.shape[0] > 0
    heal = c_heal != 0.0 and has_hold  # the engine sizes hold with the pair list when healing
    a_fr = 0.0
    a_dp = 0.0
    a_bk = 0.0
    for s in range(s0, s1):
        # unsigned indices: no negative-index wraparound code
        i = np.uintp(pi[s])
        j = np.uintp(pj[s])
        e_fr = 0.0
        e_dp = 0.0
        e_bk = 0.0
        while True:
            dx = pos[j, 0] - pos[i, 0]
            dy = pos[j, 1] - pos[i, 1]
            dz = pos[j, 2] - pos[i, 2]
            ri = rad[i]
            rj = rad[j]
            rsum = ri + rj
            d2 = dx * dx + dy * dy + dz * dz
            st = pst[s]
            bonded = (st & F_BONDED) != 0
            cross = c_hasj != 0.0 and side[i] != side[j]
            fjp = c_nfj != 0.0 and (not cross) and pbd[s] >= 0
            # a broken installed joint still pressed together (or, healed with a tensile
            # strength, held in tension: only then is an unbonded joint's normal force < 0)
            kept = cross and pbd[s] >= 0 and hist[s, 3] != 0.0
            if (not bonded) and (not fjp) and d2 >= rsum * rsum and not kept:
                if st & F_TOUCH:
                    kind_dep = 2.0 if cross else 1.0
                    _keep_departure(s, kind_dep, hist, roll, has_roll, dep, dch)
                    hist[s, 0] = 0.0
                    hist[s, 1] = 0.0
                    hist[s, 2] = 0.0
                    hist[s, 3] = 0.0
                    if has_roll:
                        roll[s, 0] = 0.0
                        roll[s, 1] = 0.0
                        roll[s, 2] = 0.0
                    if has_hold:
                        hold[s] = 0.0
                    pst[s] = st & ~F_TOUCH
                r0, r1, r2, r3, r4, r5, r6, r7, r8, r9 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0
                break
            dt = c_dt
            dist = math.sqrt(d2)
            inv = 1.0 / dist
            nx = dx * inv
            ny = dy * inv
            nz = dz * inv
            ov = rsum - dist
            ai = ri - 0.5 * ov
            aj = rj - 0.5 * ov
            # relative velocity of j's contact point w.r.t. i's
            wx = aj * omg[j, 0] + ai * omg[i, 0]
            wy = aj * omg[j, 1] + ai * omg[i, 1]
            wz = aj * omg[j, 2] + ai * omg[i, 2]
            vx = vel[j, 0] - vel[i, 0] - (wy * nz - wz * ny)
            vy = vel[j, 1] - vel[i, 1] - (wz * nx - wx * nz)
            vz = vel[j, 2] - vel[i, 2] - (wx * ny - wy * nx)
            fjx = 0.0
            fjy = 0.0
            fjz = 0.0
            mjx = 0.0
            mjy = 0.0
            mjz = 0.0
            ev = 0
            newst = st
            if cross:
                # ---------------- smooth joint
                sg = c_jsgn if side[i] == 0 else -c_jsgn
                jx = sg * c_jnx
                jy = sg * c_jny
                jz = sg * c_jnz
                b = pbd[s]
                if bonded:
                    area = bprop[b, 0]
                elif c_jarea > 0.0:
                    area = c_jarea
                else:
                    rr = c_jrm * min(ri, rj)
                    area = math.pi * rr * rr
                if (not bonded) and ov <= 0.0 and not kept:
                    r0, r1, r2, r3, r4, r5, r6, r7, r8, r9 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0
                    break
                # relative motion of the contact point (rotations included, as PFC); the
                # force acts at the contact point
                h0 = hist[s, 0]
                h1 = hist[s, 1]
                h2 = hist[s, 2]
                h3 = hist[s, 3]
                fn, fsx, fsy, fsz = smooth_joint_trial(h0, h1, h2, h3, jx, jy, jz,
                                                       vx, vy, vz, dt, c_jkn, c_jks, area)
                tfn = fn
                tsx = fsx
                tsy = fsy
                tsz = fsz
                was_bonded = bonded
                if bonded:
                    ev = smooth_joint_failure(fn, fsx, fsy, fsz, bprop[b, 9], bprop[b, 2], bprop[b, 3], bprop[b, 4])
                    if ev != 0:
                        bonded = False
                        newst = (newst & ~F_BONDED) | F_BROKEN
                        bst[b] = 2
                        if ev == 1:
                            fn = 0.0
                if not bonded:
                    holds = False
                    if heal and not was_bonded:
                        # healing: while it holds, the trial force stands; a failure resets
                        # its hold time, and is a re-rupture with enough healed cohesion
                        hm, chl, hold[s] = smooth_joint_healing(fn, fsx, fsy, fsz, hold[s], dt, 1.0 / area, c_hrate,
                                                                c_htc, c_hcmax, c_htrat, c_jmu)
                        if hm == 0:
                            holds = fn != 0.0
                        elif chl > 0.0 and chl >= c_hcrk:
                            ev = hm + EV_HEALED
                    if not holds:
                        fn, fsx, fsy, fsz = smooth_joint_residual(fn, fsx, fsy, fsz, ov, c_jmu, b >= 0)
                    dsj = smooth_joint_dissipation(tfn, tsx, tsy, tsz, fn, fsx, fsy, fsz, h3, h0, h1, h2,
                                                   c_jkn * area, c_jks * area)
                    if was_bonded:
                        e_bk = dsj
                    elif ev != 0:
                        e_bk = dsj  # a healed joint's re-rupture releases its energy as a break
                    else:
                        e_fr = dsj
                hist[s, 0] = fsx
                hist[s, 1] = fsy
                hist[s, 2] = fsz
                hist[s, 3] = fn
                if bonded or fn != 0.0:
                    newst = newst | F_TOUCH
                else:
                    newst = newst & ~F_TOUCH
                fjx = fn * jx + fsx
                fjy = fn * jy + fsy
                fjz = fn * jz + fsz
            elif fjp:
                # ---------------- flat joint (bonded or broken, while its faces interact)
                vn = vx * nx + vy * ny + vz * nz
                b = pbd[s]
                csg = 1.0 if oid[i] < oid[j] else -1.0
                fn, fsx, fsy, fsz, mjx, mjy, mjz, ev, anyb, inter, e_fr, e_bk = flat_joint_accounted(
                    bfj, fjg, b, bprop[b, 1], bprop[b, 0], bprop[b, 10], bprop[b, 11], bprop[b, 2], bprop[b, 3],
                    bprop[b, 4], c_bmu, nx, ny, nz, csg, vn, vx - vn * nx, vy - vn * ny, vz - vn * nz,
                    omg[i, 0], omg[i, 1], omg[i, 2], omg[j, 0], omg[j, 1], omg[j, 2], dt)
                bfn[b] = fn
                bfs[b, 0] = fsx
                bfs[b, 1] = fsy
                bfs[b, 2] = fsz
                bmom[b, 0] = mjx
                bmom[b, 1] = mjy
                bmom[b, 2] = mjz
                if inter and c_zeta > 0.0:
                    mi = mass[i]
                    mj = mass[j]
                    fe0 = fn
                    fn -= 2.0 * c_zeta * math.sqrt(mi * mj / (mi + mj) * bprop[b, 10] * bprop[b, 0]) * vn
                    e_dp = -(fn - fe0) * vn * dt  # midpoint rule (see the docstring)
                if bonded and not anyb:
                    newst = (newst & ~F_BONDED) | F_BROKEN
                    bst[b] = 2
                if inter:
                    newst = newst | F_TOUCH
                else:
                    newst = newst & ~F_TOUCH
                fjx = fn * nx + fsx
                fjy = fn * ny + fsy
                fjz = fn * nz + fsz
            else:
                vn = vx * nx + vy * ny + vz * nz
                tx = vx - vn * nx
                ty = vy - vn * ny
                tz = vz - vn * nz
                if ov > 0.0:
                    # ------------- linear frictional contact
                    mu = c_bmu if (st & F_BROKEN) else c_mu
                    fn, fel, ftx, fty, ftz, sx, sy, sz, e_fr = linear_contact(
                        hist[s, 0], hist[s, 1], hist[s, 2], nx, ny, nz, tx, ty, tz, vn, ov, dt,
                        c_kn, c_ks, c_zeta, mass[i], mass[j], mu)
                    hist[s, 0] = sx
                    hist[s, 1] = sy
                    hist[s, 2] = sz
                    fd = fn - fel
                    fdo = hist[s, 3]
                    if fd != 0.0 or fdo != 0.0:
                        e_dp = -0.5 * (fdo + fd) * vn * dt
                        hist[s, 3] = fd
                    fjx = fn * nx + ftx
                    fjy = fn * ny + fty
                    fjz = fn * nz + ftz
                    if c_rmu > 0.0:
                        rbar = ri * rj / rsum
                        qx, qy, qz, e_rr = rolling_resistance(
                            roll[s, 0], roll[s, 1], roll[s, 2], nx, ny, nz,
                            (omg[j, 0] - omg[i, 0]) * dt, (omg[j, 1] - omg[i, 1]) * dt, (omg[j, 2] - omg[i, 2]) * dt,
                            c_ks * rbar * rbar, c_rmu * rbar * fel)
                        roll[s, 0] = qx
                        roll[s, 1] = qy
                        roll[s, 2] = qz
                        e_fr += e_rr
                        mjx += qx
                        mjy += qy
                        mjz += qz
                    newst = newst | F_TOUCH
                elif st & F_TOUCH:
                    _keep_departure(s, 1.0, hist, roll, has_roll, dep, dch)
                    hist[s, 0] = 0.0
                    hist[s, 1] = 0.0
                    hist[s, 2] = 0.0
                    hist[s, 3] = 0.0
                    if has_roll:
                        roll[s, 0] = 0.0
                        roll[s, 1] = 0.0
                        roll[s, 2] = 0.0
                    newst = newst & ~F_TOUCH
                if bonded:
                    # ------------- parallel bond
                    b = pbd[s]
                    fn, fsx, fsy, fsz, mx, my, mz, ev = parallel_bond(
                        bfn[b], bfs[b, 0], bfs[b, 1], bfs[b, 2], bmom[b, 0], bmom[b, 1], bmom[b, 2],
                        nx, ny, nz, tx, ty, tz, vn,
                        (omg[j, 0] - omg[i, 0]) * dt, (omg[j, 1] - omg[i, 1]) * dt, (omg[j, 2] - omg[i, 2]) * dt, dt,
                        bprop[b, 0], bprop[b, 6], c_bkn, c_bks, bprop[b, 9], bprop[b, 7], bprop[b, 8],
                        bprop[b, 2], bprop[b, 3], bprop[b, 4], c_beta)
                    if ev != 0:
                        e_bk = parallel_bond_break_energy(bfn[b], bfs[b, 0], bfs[b, 1], bfs[b, 2],
                                                          bmom[b, 0], bmom[b, 1], bmom[b, 2],
                                                          fn, fsx, fsy, fsz, mx, my, mz, nx, ny, nz,
                                                          bprop[b, 0], bprop[b, 6], c_bkn, c_bks)
                        newst = (newst & ~F_BONDED) | F_BROKEN
                        bst[b] = 2
                        bfn[b] = 0.0
                        bfs[b, 0] = 0.0
                        bfs[b, 1] = 0.0
                        bfs[b, 2] = 0.0
                        bmom[b, 0] = 0.0
                        bmom[b, 1] = 0.0
                        bmom[b, 2] = 0.0
                    else:
                        bfn[b] = fn
                        bfs[b, 0] = fsx
                        bfs[b, 1] = fsy
                        bfs[b, 2] = fsz
                        bmom[b, 0] = mx
                        bmom[b, 1] = my
                        bmom[b, 2] = mz
                        fjx += fn * nx + fsx
                        fjy += fn * ny + fsy
                        fjz += fn * nz + fsz
                        mjx += mx
                        mjy += my
                        mjz += mz
            if newst != st:
                pst[s] = newst
            fix = -fjx
            fiy = -fjy
            fiz = -fjz
            # n x F_i
            cx = ny * fiz - nz * fiy
            cy = nz * fix - nx * fiz
            cz = nx * fiy - ny * fix
            r0, r1, r2, r3, r4, r5, r6, r7, r8, r9 = (fix, fiy, fiz,
                                                      ai * cx - mjx, ai * cy - mjy, ai * cz - mjz,
                                                      aj * cx + mjx, aj * cy + mjy, aj * cz + mjz, ev)
            break

        if scatter:
            if (r0 != 0.0 or r1 != 0.0 or r2 != 0.0 or r3 != 0.0 or r4 != 0.0 or r5 != 0.0
                    or r6 != 0.0 or r7 != 0.0 or r8 != 0.0):
                frc[i, 0] += r0
                frc[i, 1] += r1
                frc[i, 2] += r2
                frc[j, 0] -= r0
                frc[j, 1] -= r1
                frc[j, 2] -= r2
                trq[i, 0] += r3
                trq[i, 1] += r4
                trq[i, 2] += r5
                trq[j, 0] += r6
                trq[j, 1] += r7
                trq[j, 2] += r8
        else:
            pf[s, 0] = r0
            pf[s, 1] = r1
            pf[s, 2] = r2
            pti[s, 0] = r3
            pti[s, 1] = r4
            pti[s, 2] = r5
            ptj[s, 0] = r6
            ptj[s, 1] = r7
            ptj[s, 2] = r8
        if r9 != 0:
            evs[s] = r9
            chf[s // CHUNK] = 1
        a_fr += e_fr
        a_dp += e_dp
        a_bk += e_bk
        if ((s + 1) & (CHUNK - 1)) == 0 or s + 1 == s1:
            c = s // CHUNK
            ech[c, 0] = a_fr
            ech[c, 1] = a_dp
            ech[c, 2] = a_bk
            a_fr = 0.0
            a_dp = 0.0
            a_bk = 0.0


@njit(cache=True, inline="always")
def _keep_departure(s, kind, hist, roll, has_roll, dep, dch):
    """Keep the history of slot ``s`` (an unbonded contact that stops touching; ``kind``
    1 linear contact, 2 smooth joint) for :func:`_departures`."""
    dep[s, 0] = hist[s, 0]
    dep[s, 1] = hist[s, 1]
    dep[s, 2] = hist[s, 2]
    dep[s, 3] = hist[s, 3]
    if has_roll:
        dep[s, 4] = roll[s, 0]
        dep[s, 5] = roll[s, 1]
        dep[s, 6] = roll[s, 2]
    dep[s, 7] = kind
    dch[s // CHUNK] = 1


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _departures(dep, dch, pi, pj, pos, vel, omg, rad, side, prm):
    """Energy bookkeeping of the contacts that stopped touching this step (kept by
    :func:`_keep_departure`, in slot order): the trapezoidal work done on each over the
    step (its old force only, the new one is zero) minus the change of its stored energy.

    Smooth joint: its stored ½Fn²/(kn A) + ½|Fs|²/(ks A) less the half-step work. Linear
    contact: its tangential and rolling springs (the elastic normal force is a function of
    the overlap and needs no bookkeeping) and the viscous normal force of its last step
    (``hist[s, 3]``). Returns the (friction, damping) dissipation; clears the flags.
    """
    dt = prm[P_DT]
    ks = prm[P_KS]
    rmu = prm[P_RMU]
    fr = 0.0
    dp = 0.0
    for c in range(dch.shape[0]):
        if dch[c] == 0:
            continue
        dch[c] = 0
        for s in range(c * CHUNK, min((c + 1) * CHUNK, pi.shape[0])):
            kind = dep[s, 7]
            if kind == 0.0:
                continue
            dep[s, 7] = 0.0
            i = pi[s]
            j = pj[s]
            dx = pos[j, 0] - pos[i, 0]
            dy = pos[j, 1] - pos[i, 1]
            dz = pos[j, 2] - pos[i, 2]
            dist = math.sqrt(dx * dx + dy * dy + dz * dz)
            nx = dx / dist
            ny = dy / dist
            nz = dz / dist
            ri = rad[i]
            rj = rad[j]
            ov = ri + rj - dist
            ai = ri - 0.5 * ov
            aj = rj - 0.5 * ov
            wx = aj * omg[j, 0] + ai * omg[i, 0]
            wy = aj * omg[j, 1] + ai * omg[i, 1]
            wz = aj * omg[j, 2] + ai * omg[i, 2]
            vx = vel[j, 0] - vel[i, 0] - (wy * nz - wz * ny)
            vy = vel[j, 1] - vel[i, 1] - (wz * nx - wx * nz)
            vz = vel[j, 2] - vel[i, 2] - (wx * ny - wy * nx)
            h0 = dep[s, 0]
            h1 = dep[s, 1]
            h2 = dep[s, 2]
            h3 = dep[s, 3]
            if kind == 2.0:
                sg = prm[P_JSGN] if side[i] == 0 else -prm[P_JSGN]
                jx = sg * prm[P_JNX]
                jy = sg * prm[P_JNY]
                jz = sg * prm[P_JNZ]
                if prm[P_JAREA] > 0.0:
                    area = prm[P_JAREA]
                else:
                    rr = prm[P_JRM] * min(ri, rj)
                    area = math.pi * rr * rr
                # force on j: h3 j + h; per spring o²/(2k) − ½ o·Δu
                vn = vx * jx + vy * jy + vz * jz
                d = h3 * h3 / (2.0 * prm[P_JKN] * area) - 0.5 * h3 * vn * dt
                if prm[P_JKS] > 0.0:
                    d += ((h0 * h0 + h1 * h1 + h2 * h2) / (2.0 * prm[P_JKS] * area)
                          - 0.5 * (h0 * (vx - vn * jx) + h1 * (vy - vn * jy) + h2 * (vz - vn * jz)) * dt)
                fr += d
                continue
            vn = vx * nx + vy * ny + vz * nz
            # tangential spring s (force −ks s): ½ks|s|² + ½ks s·Δu_t
            fr += 0.5 * ks * (h0 * (h0 + (vx - vn * nx) * dt) + h1 * (h1 + (vy - vn * ny) * dt)
                              + h2 * (h2 + (vz - vn * nz) * dt))
            if rmu > 0.0:
                rbar = ri * rj / (ri + rj)
                kr = ks * rbar * rbar
                if kr > 0.0:
                    q0 = dep[s, 4]
                    q1 = dep[s, 5]
                    q2 = dep[s, 6]
                    fr += ((q0 * q0 + q1 * q1 + q2 * q2) / (2.0 * kr)
                           - 0.5 * (q0 * (omg[j, 0] - omg[i, 0]) + q1 * (omg[j, 1] - omg[i, 1])
                                    + q2 * (omg[j, 2] - omg[i, 2])) * dt)
            dp -= 0.5 * h3 * vn * dt
    return fr, dp


@njit(cache=True)
def _emit_cracks(s, ev, pi, pj, pos, rad, side, oid, pbd, bprop, bfj, fjg, prm, crf, cri, cnt):
    """Append the crack records of slot ``s``'s failures this step (``ev`` as the pair
    loop flags them): one for a parallel bond or smooth joint, one per broken element
    (at its centroid) for a flat joint. A smooth joint's event word is its mode, plus
    :data:`EV_HEALED` for the re-rupture of a healed joint (``cri`` column 5 = 1); such a
    joint may never have been installed as a bond (``pbd[s]`` < 0): its size is then the
    joint radius of :func:`_pair_range`."""
    i = pi[s]
    j = pj[s]
    dx = pos[j, 0] - pos[i, 0]
    dy = pos[j, 1] - pos[i, 1]
    dz = pos[j, 2] - pos[i, 2]
    dist = math.sqrt(dx * dx + dy * dy + dz * dz)
    nx = dx / dist
    ny = dy / dist
    nz = dz / dist
    ov = rad[i] + rad[j] - dist
    ai = rad[i] - 0.5 * ov
    b = pbd[s]
    if b >= 0:
        kind = int(bprop[b, 5])
        size = bprop[b, 1]
    else:  # a healed smooth joint (only healing flags a pair without a bond)
        kind = 1
        if prm[P_JAREA] > 0.0:
            size = math.sqrt(prm[P_JAREA] / math.pi)
        else:
            size = prm[P_JRM] * min(rad[i], rad[j])
    cxp = pos[i, 0] + ai * nx
    cyp = pos[i, 1] + ai * ny
    czp = pos[i, 2] + ai * nz
    a = oid[i]
    c = oid[j]
    if kind == 0 and prm[P_NFJ] != 0.0:
        csg = 1.0 if a < c else -1.0
        t1x = bfj[b, FJ_T1]
        t1y = bfj[b, FJ_T1 + 1]
        t1z = bfj[b, FJ_T1 + 2]
        t2x = csg * (ny * t1z - nz * t1y)
        t2y = csg * (nz * t1x - nx * t1z)
        t2z = csg * (nx * t1y - ny * t1x)
        r = bprop[b, 1]
        for e in range(fjg.shape[0]):
            mode = (ev >> (2 * e)) & 3
            if mode != 0:
                c1 = r * fjg[e, 1]
                c2 = r * fjg[e, 2]
                _crack_row(crf, cri, cnt, cxp + c1 * t1x + c2 * t2x, cyp + c1 * t1y + c2 * t2y,
                           czp + c1 * t1z + c2 * t2z, nx, ny, nz, r * math.sqrt(fjg[e, 0]), kind, mode, a, c, 0)
        return
    if kind == 1:
        nx = prm[P_JNX]
        ny = prm[P_JNY]
        nz = prm[P_JNZ]
    _crack_row(crf, cri, cnt, cxp, cyp, czp, nx, ny, nz, size, kind, ev & 3, a, c, 1 if ev >= EV_HEALED else 0)


@njit(cache=True)
def _crack_row(crf, cri, cnt, x, y, z, nx, ny, nz, size, kind, mode, a, c, healed):
    k = cnt[C_NCRK]
    if k >= crf.shape[0]:
        return
    crf[k, 0] = x
    crf[k, 1] = y
    crf[k, 2] = z
    crf[k, 3] = nx
    crf[k, 4] = ny
    crf[k, 5] = nz
    crf[k, 6] = size
    cri[k, 0] = cnt[C_STEP] + 1
    cri[k, 1] = kind
    cri[k, 2] = mode - 1
    cri[k, 3] = min(a, c)
    cri[k, 4] = max(a, c)
    cri[k, 5] = healed
    cnt[C_NCRK] = k + 1


# --------------------------------------------------------------------------- neighbour list


@njit(cache=True)
def _cell_grid(pos, rad, skin):
    n = pos.shape[0]
    lo = np.empty(3)
    hi = np.empty(3)
    for d in range(3):
        lo[d] = pos[0, d]
        hi[d] = pos[0, d]
    for p in range(n):
        for d in range(3):
            v = pos[p, d]
            if v < lo[d]:
                lo[d] = v
            if v > hi[d]:
                hi[d] = v
    rmax = 0.0
    for p in range(n):
        if rad[p] > rmax:
            rmax = rad[p]
    cs = 2.0 * rmax + skin
    nc = np.empty(3, dtype=np.int64)
    while True:
        tot = 1
        for d in range(3):
            nc[d] = int((hi[d] - lo[d]) / cs) + 1
            tot *= nc[d]
        if tot <= 4 * n + 64:
            break
        cs *= 1.5
    cid = np.empty(n, dtype=np.int64)
    for p in range(n):
        cx = min(int((pos[p, 0] - lo[0]) / cs), nc[0] - 1)
        cy = min(int((pos[p, 1] - lo[1]) / cs), nc[1] - 1)
        cz = min(int((pos[p, 2] - lo[2]) / cs), nc[2] - 1)
        cid[p] = (cz * nc[1] + cy) * nc[0] + cx
    return cid, nc


@njit(cache=True)
def _build_pairs(pos, rad, skin, cid, nc):
    n = pos.shape[0]
    head, members = _bucket_sort(cid, nc[0] * nc[1] * nc[2])
    cap = 8 * n + 16
    pi = np.empty(cap, dtype=np.int32)
    pj = np.empty(cap, dtype=np.int32)
    istart = np.zeros(n + 1, dtype=np.int64)
    m = 0
    for i in range(n):
        c = cid[i]
        cx = c % nc[0]
        cy = (c // nc[0]) % nc[1]
        cz = c // (nc[0] * nc[1])
        xi = pos[i, 0]
        yi = pos[i, 1]
        zi = pos[i, 2]
        ri = rad[i] + skin
        row0 = m
        for ez in range(max(cz - 1, 0), min(cz + 2, nc[2])):
            for ey in range(max(cy - 1, 0), min(cy + 2, nc[1])):
                for ex in range(max(cx - 1, 0), min(cx + 2, nc[0])):
                    cc = (ez * nc[1] + ey) * nc[0] + ex
                    for q in range(head[cc], head[cc + 1]):
                        j = members[q]
                        if j <= i:
                            continue
                        ddx = pos[j, 0] - xi
                        ddy = pos[j, 1] - yi
                        ddz = pos[j, 2] - zi
                        cut = ri + rad[j]
                        if ddx * ddx + ddy * ddy + ddz * ddz < cut * cut:
                            if m >= cap:
                                cap2 = cap * 2
                                a = np.empty(cap2, dtype=np.int32)
                                b = np.empty(cap2, dtype=np.int32)
                                a[:m] = pi[:m]
                                b[:m] = pj[:m]
                                pi = a
                                pj = b
                                cap = cap2
                            pi[m] = i
                            pj[m] = j
                            m += 1
        # insertion sort of the row by j
        for a in range(row0 + 1, m):
            v = pj[a]
            b = a - 1
            while b >= row0 and pj[b] > v:
                pj[b + 1] = pj[b]
                b -= 1
            pj[b + 1] = v
        istart[i + 1] = m
    return pi[:m].copy(), pj[:m].copy(), istart


@njit(cache=True)
def _merge_pairs(pi, pj, istart, add_a, add_b):
    """Insert pairs (add_a < add_b, not present yet) into a CSR half list.

    Returns the merged (pi, pj, istart) and ``src``: for every new slot the old slot, or
    -(k+1) for the k-th added pair.
    """
    n = istart.shape[0] - 1
    m = pi.shape[0]
    na = add_a.shape[0]
    order = np.argsort(add_a * (n + 1) + add_b, kind="mergesort")
    cnt_add = np.zeros(n + 1, dtype=np.int64)
    for k in range(na):
        cnt_add[add_a[k] + 1] += 1
    nst = np.zeros(n + 1, dtype=np.int64)
    for p in range(n):
        nst[p + 1] = nst[p] + (istart[p + 1] - istart[p]) + cnt_add[p + 1]
    npi = np.empty(m + na, dtype=np.int32)
    npj = np.empty(m + na, dtype=np.int32)
    src = np.empty(m + na, dtype=np.int64)
    q = 0  # position in the sorted additions
    for p in range(n):
        w = nst[p]
        s = istart[p]
        e = istart[p + 1]
        while s < e or (q < na and add_a[order[q]] == p):
            take_add = False
            if q < na and add_a[order[q]] == p:
                if s >= e or add_b[order[q]] < pj[s]:
                    take_add = True
            npi[w] = p
            if take_add:
                npj[w] = add_b[order[q]]
                src[w] = -(order[q] + 1)
                q += 1
            else:
                npj[w] = pj[s]
                src[w] = s
                s += 1
            w += 1
    return npi, npj, nst, src


@njit(cache=True)
def _bucket_sort(keys, n_buckets):
    """Stable counting sort: (start (n_buckets+1,), order) with order[start[b]:start[b+1]]
    the indices k, ascending, whose keys[k] == b."""
    start = np.zeros(n_buckets + 1, dtype=np.int64)
    for k in range(keys.shape[0]):
        start[keys[k] + 1] += 1
    for b in range(n_buckets):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    order = np.empty(keys.shape[0], dtype=np.int64)
    for k in range(keys.shape[0]):
        b = keys[k]
        order[fill[b]] = k
        fill[b] += 1
    return start, order


@njit(cache=True)
def _gather_slots(src, hist, roll, hold, pst, pbd, has_roll, has_hold):
    """Per-slot state of a merged pair list: slot s takes old slot src[s] when src[s] >= 0;
    new slots (src[s] < 0) start history-free and unbonded."""
    m2 = src.shape[0]
    h2 = np.zeros((m2, 4))
    r2 = np.zeros((m2 if has_roll else 0, 3))
    t2 = np.zeros(m2 if has_hold else 0)
    s2 = np.zeros(m2, dtype=np.int8)
    b2 = np.full(m2, -1, dtype=np.int32)
    for s in range(m2):
        q = src[s]
        if q >= 0:
            for d in range(4):
                h2[s, d] = hist[q, d]
            if has_roll and roll.shape[0] > 0:
                for d in range(3):
                    r2[s, d] = roll[q, d]
            if has_hold and hold.shape[0] > 0:
                t2[s] = hold[q]
            s2[s] = pst[q]
            b2[s] = pbd[q]
    return h2, r2, t2, s2, b2


@njit(cache=True)
def _jcsr(pj, n):
    """For each particle, the pair slots where it is the second particle (CSR)."""
    return _bucket_sort(pj, n)


@njit(cache=True)
def _permute_rows(a, perm):
    out = np.empty_like(a)
    for k in range(perm.shape[0]):
        out[k] = a[perm[k]]
    a[:] = out


@njit(cache=True)
def _flip_bond(bfs, bmom, bfj, bb):
    """A re-sort reversed the pair of bond ``bb``: its vectors "for j relative to i" flip
    (shear force and moment; a flat joint's element shear forces). The flat joint's U, g
    and t1 do not depend on the order."""
    for d in range(3):
        bfs[bb, d] = -bfs[bb, d]
        bmom[bb, d] = -bmom[bb, d]
    if bfj.shape[0] > 0:
        for k in range(FJ_E0, bfj.shape[1], FJ_ESTRIDE):
            for d in range(3):
                bfj[bb, k + d] = -bfj[bb, k + d]


@njit(cache=True)
def _rebuild(pos, vel, omg, frc, trq, rad, mass, minv, iinv, fixed, side, oid, idx_of, ext, x0, ptan,
             pi, pj, hist, roll, hold, pst, pbd, bfn, bfs, bmom, bprop, bst, bfj, prm, crf, cri, cnt, do_sort):
    """Rebuild the half list (optionally re-sorting particles) and carry pair history over
    (the healing hold time too, with fault healing on).

    Pairs beyond the neighbour cutoff stay in the list while they are bonded or, for a
    flat joint, while its faces still carry force (``F_TOUCH``)."""
    n = pos.shape[0]
    skin = prm[P_SKIN]
    cid, nc = _cell_grid(pos, rad, skin)
    inv = np.arange(n)
    if do_sort:
        perm = np.argsort(cid, kind="mergesort")
        for k in range(n):
            inv[perm[k]] = k
        _permute_rows(pos, perm)
        _permute_rows(vel, perm)
        _permute_rows(omg, perm)
        _permute_rows(frc, perm)
        _permute_rows(trq, perm)
        _permute_rows(rad, perm)
        _permute_rows(mass, perm)
        _permute_rows(minv, perm)
        _permute_rows(iinv, perm)
        _permute_rows(fixed, perm)
        _permute_rows(side, perm)
        _permute_rows(oid, perm)
        _permute_rows(ext, perm)
        _permute_rows(ptan, perm)
        _permute_rows(cid, perm)
        for k in range(n):
            idx_of[oid[k]] = k
        cnt[C_NSORT] += 1
    npi, npj, istart = _build_pairs(pos, rad, skin, cid, nc)
    m_new = npi.shape[0]
    m_old = pi.shape[0]
    # old pairs in new indexing, oriented a < b, grouped by a (CSR)
    oa = np.empty(m_old, dtype=np.int64)
    ob = np.empty(m_old, dtype=np.int64)
    flip = np.zeros(m_old, dtype=np.bool_)
    ocount = np.zeros(n + 1, dtype=np.int64)
    for s in range(m_old):
        a = inv[pi[s]]
        b = inv[pj[s]]
        if a > b:
            a, b = b, a
            flip[s] = True
        oa[s] = a
        ob[s] = b
        ocount[a + 1] += 1
    for p in range(n):
        ocount[p + 1] += ocount[p]
    ofill = ocount[:-1].copy()
    oslot = np.empty(m_old, dtype=np.int64)
    for s in range(m_old):
        oslot[ofill[oa[s]]] = s
        ofill[oa[s]] += 1
    matched = np.zeros(m_old, dtype=np.bool_)
    nhist = np.zeros((m_new, 4))
    has_roll = roll.shape[0] > 0 or prm[P_RMU] > 0.0
    nroll = np.zeros((m_new if has_roll else 0, 3))
    has_hold = hold.shape[0] > 0 or prm[P_HEAL] != 0.0
    nhold = np.zeros(m_new if has_hold else 0)
    npst = np.zeros(m_new, dtype=np.int8)
    npbd = np.full(m_new, -1, dtype=np.int32)
    for s in range(m_new):
        a = npi[s]
        b = npj[s]
        for q in range(ocount[a], ocount[a + 1]):
            so = oslot[q]
            if ob[so] == b:
                matched[so] = True
                sg = -1.0 if flip[so] else 1.0
                nhist[s, 0] = sg * hist[so, 0]
                nhist[s, 1] = sg * hist[so, 1]
                nhist[s, 2] = sg * hist[so, 2]
                nhist[s, 3] = hist[so, 3]
                if has_roll and roll.shape[0] > 0:
                    nroll[s, 0] = sg * roll[so, 0]
                    nroll[s, 1] = sg * roll[so, 1]
                    nroll[s, 2] = sg * roll[so, 2]
                if has_hold and hold.shape[0] > 0:
                    nhold[s] = hold[so]
                npst[s] = pst[so]
                bb = pbd[so]
                npbd[s] = bb
                if bb >= 0 and flip[so]:
                    _flip_bond(bfs, bmom, bfj, bb)
                break
    # bonds (and interacting flat joints) whose pair drifted beyond the cutoff stay in the list
    keep = F_BONDED | F_TOUCH
    n_extra = 0
    for so in range(m_old):
        if (not matched[so]) and (pst[so] & keep):
            n_extra += 1
    if n_extra > 0:
        add_a = np.empty(n_extra, dtype=np.int64)
        add_b = np.empty(n_extra, dtype=np.int64)
        add_src = np.empty(n_extra, dtype=np.int64)
        k = 0
        for so in range(m_old):
            if (not matched[so]) and (pst[so] & keep):
                add_a[k] = oa[so]
                add_b[k] = ob[so]
                add_src[k] = so
                k += 1
        npi, npj, istart, src = _merge_pairs(npi, npj, istart, add_a, add_b)
        m2 = npi.shape[0]
        h2, r2, t2, s2, b2 = _gather_slots(src, nhist, nroll, nhold, npst, npbd, has_roll, has_hold)
        for s in range(m2):
            q = src[s]
            if q < 0:  # an intact bond carried over from its old slot
                so = add_src[-q - 1]
                sg = -1.0 if flip[so] else 1.0
                for d in range(3):
                    h2[s, d] = sg * hist[so, d]
                if has_roll and roll.shape[0] > 0:
                    for d in range(3):
                        r2[s, d] = sg * roll[so, d]
                if has_hold and hold.shape[0] > 0:
                    t2[s] = hold[so]
                h2[s, 3] = hist[so, 3]
                s2[s] = pst[so]
                bb = pbd[so]
                b2[s] = bb
                if bb >= 0 and flip[so]:
                    _flip_bond(bfs, bmom, bfj, bb)
        nhist = h2
        nroll = r2
        nhold = t2
        npst = s2
        npbd = b2
    for p in range(n):
        for d in range(3):
            x0[p, d] = pos[p, d]
    cnt[C_NREB] += 1
    cnt[C_NEEDREB] = 0
    jstart, jslots = _jcsr(npj, n)
    return npi, npj, istart, jstart, jslots, nhist, nroll, nhold, npst, npbd


# --------------------------------------------------------------------------- walls


@njit(cache=True, inline="always")
def _jacket_center(side_p, wal):
    """Centre (x, y) of the jacket segment that confines particles of side ``side_p``."""
    if side_p == 0:
        return wal[W_CX], wal[W_CY]
    return wal[W_JCX1], wal[W_JCY1]


@njit(cache=True)
def _jacket_walls(pos, rad, frc, side, wal, h):
    """Jacket (floating split cylinder): the rigid cylinder of radius ``wal[W_CR]`` split
    into two coaxial segments, one per fault block; particle p touches the segment of
    ``side[p]``. Records the total radial force and contacts (as the wall), and each
    segment's lateral force on its block and its contact count for the centring servo."""
    R = wal[W_CR]
    kn = wal[W_CKN]
    ftot = 0.0
    nc = 0
    gx0 = 0.0
    gy0 = 0.0
    gx1 = 0.0
    gy1 = 0.0
    n0 = 0
    n1 = 0
    for p in range(pos.shape[0]):
        cx, cy = _jacket_center(side[p], wal)
        x = pos[p, 0] - cx
        y = pos[p, 1] - cy
        rho = math.sqrt(x * x + y * y)
        o = rho + rad[p] - R
        if o > 0.0 and rho > 0.0:
            f = kn * o
            fx = f * x / rho
            fy = f * y / rho
            frc[p, 0] -= fx
            frc[p, 1] -= fy
            ftot += f
            nc += 1
            if side[p] == 0:
                gx0 -= fx
                gy0 -= fy
                n0 += 1
            else:
                gx1 -= fx
                gy1 -= fy
                n1 += 1
    _rigid_cylinder_summary(wal, ftot, nc, R, h)
    wal[W_JGX0] = gx0
    wal[W_JGY0] = gy0
    wal[W_JGX1] = gx1
    wal[W_JGY1] = gy1
    wal[W_JN0] = n0
    wal[W_JN1] = n1


@njit(cache=True, inline="always")
def _rigid_cylinder_summary(wal, ftot, nc, R, h):
    """Total force, contact count, area, mean radial stress and radius of a rigid
    cylinder wall (or of the jacket's two segments) in ``wal``."""
    wal[W_CF] = ftot
    wal[W_CN] = nc
    area = 2.0 * math.pi * R * h
    wal[W_CAREA] = area
    wal[W_CSIG] = ftot / area
    wal[W_CREFF] = R


@njit(cache=True, inline="always")
def _platen_friction(p, a, fn, vel, omg, frc, trq, ptan, col, ks, mu, dt):
    """Tangential force of a frictional platen on particle ``p`` (the platen is fixed in
    x and y): a linear spring of stiffness ``ks`` on the contact point's tangential
    displacement, capped at ``mu``·``fn`` (Coulomb), acting at the contact point
    ``a`` (signed, m) below (−r, bottom) or above (+r, top) the centre, so it turns the
    particle too. ``ptan[p, col:col + 2]`` holds the spring's elastic displacement.
    Returns the energy dissipated by slip in this step (trapezoidal, as the pair
    contacts')."""
    # velocity of the contact point: v + ω × (0, 0, a)
    vcx = vel[p, 0] + a * omg[p, 1]
    vcy = vel[p, 1] - a * omg[p, 0]
    ux0 = ptan[p, col]
    uy0 = ptan[p, col + 1]
    ux = ux0 + vcx * dt
    uy = uy0 + vcy * dt
    fx = -ks * ux
    fy = -ks * uy
    ft = math.sqrt(fx * fx + fy * fy)
    cap = mu * fn
    d = 0.0
    if ft > cap:
        sc = cap / ft
        fxc = fx * sc
        fyc = fy * sc
        # trial minus final force, times the mean of final and old, over 2 ks (x and y)
        d = ((fx - fxc) * (fxc - ks * ux0) + (fy - fyc) * (fyc - ks * uy0)) / (2.0 * ks)
        fx = fxc
        fy = fyc
        ux = -fx / ks
        uy = -fy / ks
    ptan[p, col] = ux
    ptan[p, col + 1] = uy
    frc[p, 0] += fx
    frc[p, 1] += fy
    # torque (0, 0, a) × (fx, fy, 0)
    trq[p, 0] -= a * fy
    trq[p, 1] += a * fx
    return d


@njit(cache=True, inline="always")
def _release_platen_spring(p, ptan, col, ks):
    """A platen contact that opened: its spring's energy ½·ks·|u|² is lost (as an
    unbonded pair contact's when it separates); returns it."""
    ux = ptan[p, col]
    uy = ptan[p, col + 1]
    if ux == 0.0 and uy == 0.0:
        return 0.0
    ptan[p, col] = 0.0
    ptan[p, col + 1] = 0.0
    return 0.5 * ks * (ux * ux + uy * uy)


@njit(cache=True)
def _walls(pos, vel, omg, rad, frc, trq, fixed, side, wal, binr, bini, pci, pcf, ptan, dt, enr):
    """Wall forces on the particles (platens, cylinder wall, jacket or pressure boundary).

    With platen friction (``W_PMU`` > 0) each platen contact also carries a tangential
    spring (:func:`_platen_friction`), whose elastic displacement is ``ptan`` (bottom
    x, y, top x, y per particle) and whose Coulomb slip and release go to ``enr[E_FRIC]``.

    In pressure mode the force of surface cell k goes to particle ``pci[k]`` (-1: none)
    as (``pcf[k, 0]``, ``pcf[k, 1]``), kept for the boundary work after the step. In
    jacket mode a particle touches the segment of its own ``side``."""
    n = pos.shape[0]
    if wal[W_HASP] != 0.0:
        zb = wal[W_ZB]
        zt = wal[W_ZT]
        kn = wal[W_PKN]
        ftop = 0.0
        fbot = 0.0
        ntop = 0
        nbot = 0
        mu = wal[W_PMU]
        for p in range(n):
            z = pos[p, 2]
            r = rad[p]
            o = r - (z - zb)
            if o > 0.0:
                f = kn * o
                frc[p, 2] += f
                fbot += f
                nbot += 1
                if mu > 0.0:
                    enr[E_FRIC] += _platen_friction(p, -r, f, vel, omg, frc, trq, ptan, 0, wal[W_PKS], mu, dt)
            elif mu > 0.0:
                enr[E_FRIC] += _release_platen_spring(p, ptan, 0, wal[W_PKS])
            o = r - (zt - z)
            if o > 0.0:
                f = kn * o
                frc[p, 2] -= f
                ftop += f
                ntop += 1
                if mu > 0.0:
                    enr[E_FRIC] += _platen_friction(p, r, f, vel, omg, frc, trq, ptan, 2, wal[W_PKS], mu, dt)
            elif mu > 0.0:
                enr[E_FRIC] += _release_platen_spring(p, ptan, 2, wal[W_PKS])
        wal[W_FTOP] = ftop
        wal[W_FBOT] = fbot
        wal[W_NTOP] = ntop
        wal[W_NBOT] = nbot
    cm = wal[W_CMODE]
    if cm == 0.0:
        return
    cx0 = wal[W_CX]
    cy0 = wal[W_CY]
    zb = wal[W_ZB]
    h = wal[W_ZT] - zb
    if cm == 2.0:
        R = wal[W_CR]
        kn = wal[W_CKN]
        ftot = 0.0
        nc = 0
        for p in range(n):
            x = pos[p, 0] - cx0
            y = pos[p, 1] - cy0
            rho = math.sqrt(x * x + y * y)
            o = rho + rad[p] - R
            if o > 0.0 and rho > 0.0:
                f = kn * o
                frc[p, 0] -= f * x / rho
                frc[p, 1] -= f * y / rho
                ftot += f
                nc += 1
        _rigid_cylinder_summary(wal, ftot, nc, R, h)
        return
    if cm == 3.0:
        _jacket_walls(pos, rad, frc, side, wal, h)
        return
    # membrane-like pressure: the load of each (theta, z) surface cell goes to the outermost
    # particle of the cell and its 8 neighbours (theta periodic), so cells whose own
    # outermost particle lies inside the sample hand their load to the true surface.
    nth = int(wal[W_NTH])
    nzb = int(wal[W_NZ])
    nb = nth * nzb
    for k in range(nb):
        binr[k] = -1.0
        bini[k] = -1
    dth = 2.0 * math.pi / nth
    dzb = h / nzb
    thresh = wal[W_CRMIN] - wal[W_CMARG]
    for p in range(n):
        if fixed[p]:
            continue
        x = pos[p, 0] - cx0
        y = pos[p, 1] - cy0
        rho = math.sqrt(x * x + y * y)
        ro = rho + rad[p]
        if ro < thresh:
            continue
        th = _atan2(y, x) + math.pi  # not libm's: the same bits on every CPU
        it = int(th / dth)
        if it >= nth:
            it = nth - 1
        iz = int((pos[p, 2] - zb) / dzb)
        if iz < 0:
            iz = 0
        elif iz >= nzb:
            iz = nzb - 1
        k = iz * nth + it
        if ro > binr[k]:
            binr[k] = ro
            bini[k] = p
    p_t = wal[W_CTGT]
    ftot = 0.0
    atot = 0.0
    rsum = 0.0
    rmin = 1e300
    nc = 0
    for iz in range(nzb):
        for it in range(nth):
            best = -1.0
            bp = -1
            for ez in range(max(iz - 1, 0), min(iz + 2, nzb)):
                for et in range(it - 1, it + 2):
                    kk = ez * nth + (et % nth)
                    if binr[kk] > best:
                        best = binr[kk]
                        bp = bini[kk]
            kc = iz * nth + it
            pci[kc] = bp
            pcf[kc, 0] = 0.0
            pcf[kc, 1] = 0.0
            if bp < 0:
                continue
            x = pos[bp, 0] - cx0
            y = pos[bp, 1] - cy0
            rho = math.sqrt(x * x + y * y)
            a = best * dth * dzb
            f = p_t * a
            if rho > 0.0:
                frc[bp, 0] -= f * x / rho
                frc[bp, 1] -= f * y / rho
                pcf[kc, 0] = -(f * x / rho)
                pcf[kc, 1] = -(f * y / rho)
            ftot += f
            atot += a
            rsum += best
            if best < rmin:
                rmin = best
            nc += 1
    wal[W_CF] = ftot
    wal[W_CN] = nc
    wal[W_CAREA] = atot
    wal[W_CSIG] = ftot / atot if atot > 0.0 else 0.0
    wal[W_CREFF] = rsum / nc if nc > 0 else wal[W_CR]
    wal[W_CRMIN] = rmin if nc > 0 else 0.0


@njit(cache=True, inline="always")
def _driven_power(p, frc, trq, ext, vel, omg):
    """Power of the pair and wall forces on driven particle ``p`` at its velocity (the
    external force on it counts as the driver's)."""
    return ((frc[p, 0] - ext[p, 0]) * vel[p, 0] + (frc[p, 1] - ext[p, 1]) * vel[p, 1]
            + (frc[p, 2] - ext[p, 2]) * vel[p, 2]
            + trq[p, 0] * omg[p, 0] + trq[p, 1] * omg[p, 1] + trq[p, 2] * omg[p, 2])


@njit(cache=True)
def _wall_forces_now(pos, rad, side, wal):
    """Top-platen force and cylinder-wall force (wall and jacket mode) of the current
    positions, and the jacket segments' lateral forces on their blocks (gx0, gy0, gx1,
    gy1; zero in the other modes), without changing ``wal`` (the energy accounting's start
    of the first step)."""
    ftop = 0.0
    fcyl = 0.0
    gx0 = 0.0
    gy0 = 0.0
    gx1 = 0.0
    gy1 = 0.0
    if wal[W_HASP] != 0.0:
        for p in range(pos.shape[0]):
            o = rad[p] - (wal[W_ZT] - pos[p, 2])
            if o > 0.0:
                ftop += wal[W_PKN] * o
    if wal[W_CMODE] == 2.0:
        for p in range(pos.shape[0]):
            x = pos[p, 0] - wal[W_CX]
            y = pos[p, 1] - wal[W_CY]
            rho = math.sqrt(x * x + y * y)
            o = rho + rad[p] - wal[W_CR]
            if o > 0.0 and rho > 0.0:
                fcyl += wal[W_CKN] * o
    elif wal[W_CMODE] == 3.0:
        for p in range(pos.shape[0]):
            cx, cy = _jacket_center(side[p], wal)
            x = pos[p, 0] - cx
            y = pos[p, 1] - cy
            rho = math.sqrt(x * x + y * y)
            o = rho + rad[p] - wal[W_CR]
            if o > 0.0 and rho > 0.0:
                f = wal[W_CKN] * o
                fcyl += f
                if side[p] == 0:
                    gx0 -= f * x / rho
                    gy0 -= f * y / rho
                else:
                    gx1 -= f * x / rho
                    gy1 -= f * y / rho
    return ftop, fcyl, gx0, gy0, gx1, gy1


@njit(cache=True)
def _move_walls(wal, dt, pos, rad):
    """Advance the top platen and the servo cylinder using the previous step's forces."""
    if wal[W_HASP] != 0.0:
        kn = wal[W_PKN]
        ntop = max(wal[W_NTOP], 1.0)
        if wal[W_PMODE] == 1.0:
            r = wal[W_CREFF] if wal[W_CMODE] != 0.0 else wal[W_CR]
            area = math.pi * r * r
            sig = wal[W_FTOP] / area
            g = wal[W_PGAIN] * area / (kn * ntop * dt)
            v = g * (wal[W_PTGT] - sig)
            vmax = wal[W_PVMAX]
            if v > vmax:
                v = vmax
            elif v < -vmax:
                v = -vmax
            wal[W_ZT] -= v * dt
            wal[W_ZD] = wal[W_ZT]
        else:
            kf = wal[W_KF]
            if kf > 0.0:
                # massless platen on a frame spring: solve F_particles(z) = kf (z - z_drive)
                # at the particles' new positions (piecewise linear: Newton, exact per set)
                wal[W_ZD] -= wal[W_PVEL] * dt
                zd = wal[W_ZD]
                zt = wal[W_ZT]
                for _it in range(3):
                    fp = 0.0
                    ncon = 0
                    for p in range(pos.shape[0]):
                        o = rad[p] - (zt - pos[p, 2])
                        if o > 0.0:
                            fp += kn * o
                            ncon += 1
                    resid = fp - kf * (zt - zd)
                    step = resid / (kn * ncon + kf)
                    zt += step
                    if abs(step) <= 1e-14 * (abs(zt) + 1e-300):
                        break
                wal[W_ZT] = zt
            else:
                wal[W_ZT] -= wal[W_PVEL] * dt
                wal[W_ZD] = wal[W_ZT]
    if wal[W_CMODE] == 3.0:
        _center_jacket(wal, dt)
    if wal[W_CMODE] == 2.0 or wal[W_CMODE] == 3.0:
        kn = wal[W_CKN]
        nc = max(wal[W_CN], 1.0)
        area = max(wal[W_CAREA], 1e-300)
        g = wal[W_CGAIN] * area / (kn * nc * dt)
        v = g * (wal[W_CSIG] - wal[W_CTGT])
        vmax = wal[W_CVMAX]
        if v > vmax:
            v = vmax
        elif v < -vmax:
            v = -vmax
        wal[W_CR] += v * dt


@njit(cache=True)
def _center_jacket(wal, dt):
    """Move each jacket segment's centre so that its lateral force on its block approaches
    what a uniform pressure equal to the measured mean radial stress exerts on that block's
    lateral surface: σ_c·π·R²·(W_JQX, W_JQY) on block 0, minus that on block 1. That force
    does not depend on where the block sits, so the segments float with the blocks and
    resist no lateral offset. Servo as the radius's: a centre shift Δc changes the
    segment's force on its block by about kn·(N_s/2)·Δc (N_s contacts around the
    segment), so Δc = −gain·2·(G_s − F_s)/(kn·N_s), at most ``W_CVMAX``·dt.

    With a fault (``W_JAXIS`` 1) the centres move along the dip direction (W_JEX, W_JEY)
    only: the thrust is fixed in the lab frame (as the joint's normal), so segments that
    also followed the blocks along strike would turn a rigid spin φ of the sample about
    its axis into the couple H·Δ·φ (H the thrust, Δ the segments' offset), which spins
    it up (frictionless walls and platens hold no spin back); held along strike, a spin
    meets the restoring couple of the segment contacts instead."""
    kn = wal[W_CKN]
    g = wal[W_CGAIN]
    step_max = wal[W_CVMAX] * dt
    R = wal[W_CR]
    fs = wal[W_CSIG] * math.pi * R * R
    tx = fs * wal[W_JQX]
    ty = fs * wal[W_JQY]
    along = wal[W_JAXIS] != 0.0
    ux = wal[W_JEX]
    uy = wal[W_JEY]
    for seg in range(2):
        if seg == 0:
            ex = wal[W_JGX0] - tx
            ey = wal[W_JGY0] - ty
            nc = max(wal[W_JN0], 1.0)
        else:
            ex = wal[W_JGX1] + tx
            ey = wal[W_JGY1] + ty
            nc = max(wal[W_JN1], 1.0)
        if along:
            ee = ex * ux + ey * uy
            ex = ee * ux
            ey = ee * uy
        c = -2.0 * g / (kn * nc)
        dx = c * ex
        dy = c * ey
        d = math.sqrt(dx * dx + dy * dy)
        if d > step_max:
            dx *= step_max / d
            dy *= step_max / d
        if seg == 0:
            wal[W_CX] += dx
            wal[W_CY] += dy
        else:
            wal[W_JCX1] += dx
            wal[W_JCY1] += dy


# --------------------------------------------------------------------------- forces + step loop


@njit(cache=True, parallel=True)
def _pair_forces_parallel(pi, pj, pos, vel, omg, rad, mass, side, oid, hist, roll, hold, pst, pbd,
                          bfn, bfs, bmom, bprop, bst, bfj, fjg, prm, frc, trq, pf, pti, ptj, evs, chf, ech, dep, dch):
    m = pi.shape[0]
    nch = (m + CHUNK - 1) // CHUNK
    for c in prange(nch):
        s0 = c * CHUNK
        s1 = min(s0 + CHUNK, m)
        _pair_range(s0, s1, False, pi, pj, pos, vel, omg, rad, mass, side, oid, hist, roll, hold, pst, pbd,
                    bfn, bfs, bmom, bprop, bst, bfj, fjg, prm, frc, trq, pf, pti, ptj, evs, chf, ech, dep, dch)


@njit(cache=True, parallel=True)
def _reduce_parallel(istart, jstart, jslots, pf, pti, ptj, frc, trq):
    n = frc.shape[0]
    for p in prange(n):
        fx = 0.0
        fy = 0.0
        fz = 0.0
        tx = 0.0
        ty = 0.0
        tz = 0.0
        for q in range(jstart[p], jstart[p + 1]):
            s = jslots[q]
            fx -= pf[s, 0]
            fy -= pf[s, 1]
            fz -= pf[s, 2]
            tx += ptj[s, 0]
            ty += ptj[s, 1]
            tz += ptj[s, 2]
        for s in range(istart[p], istart[p + 1]):
            fx += pf[s, 0]
            fy += pf[s, 1]
            fz += pf[s, 2]
            tx += pti[s, 0]
            ty += pti[s, 1]
            tz += pti[s, 2]
        frc[p, 0] = fx
        frc[p, 1] = fy
        frc[p, 2] = fz
        trq[p, 0] = tx
        trq[p, 1] = ty
        trq[p, 2] = tz


@njit(cache=True)
def _pair_forces_serial(pi, pj, pos, vel, omg, rad, mass, side, oid, hist, roll, hold, pst, pbd,
                        bfn, bfs, bmom, bprop, bst, bfj, fjg, prm, frc, trq, pf, pti, ptj, evs, chf, ech, dep, dch):
    n = frc.shape[0]
    for p in range(n):
        frc[p, 0] = 0.0
        frc[p, 1] = 0.0
        frc[p, 2] = 0.0
        trq[p, 0] = 0.0
        trq[p, 1] = 0.0
        trq[p, 2] = 0.0
    _pair_range(0, pi.shape[0], True, pi, pj, pos, vel, omg, rad, mass, side, oid, hist, roll, hold, pst, pbd,
                bfn, bfs, bmom, bprop, bst, bfj, fjg, prm, frc, trq, pf, pti, ptj, evs, chf, ech, dep, dch)


@njit(cache=True)
def _run(n_steps, pos, vel, omg, frc, trq, rad, mass, minv, iinv, fixed, side, oid, idx_of, ext, x0, ptan,
         pi, pj, istart, jstart, jslots, hist, roll, hold, pst, pbd,
         bfn, bfs, bmom, bprop, bst, bfj, fjg, prm, wal, cnt, crf, cri, enr):
    """``n_steps`` velocity-Verlet steps; the energy accumulators ``enr`` (``E_*``) advance
    with them (see :meth:`labquake.sim.dem.Engine.energy`): pair dissipation per chunk of
    slots (fixed order, so 1 and n threads agree), the work of the moving walls and of the
    drivers of fixed particles by the trapezoidal rule over the step, and the work of
    per-particle forces on free particles (local damping, pressure boundary, external
    forces) as force times the full-step velocity, which is how velocity Verlet changes
    the kinetic energy.

    With fault healing on, joints can break again and again, so the crack buffer has no
    fixed bound: the loop then returns early, before a step, when fewer than
    2·pairs·max(1, elements) rows are free (one step emits at most pairs·elements), and
    the engine grows the buffer and calls again (``cnt[C_STEP]`` tells how far it got)."""
    n = pos.shape[0]
    dt = prm[P_DT]
    hdt = 0.5 * dt
    alpha = prm[P_ALPHA]
    half_skin2 = (0.5 * prm[P_SKIN]) ** 2
    nthr = cnt[C_NTHR]
    m = pi.shape[0]
    mp = m if nthr > 1 else 0
    pf = np.empty((mp, 3))
    pti = np.empty((mp, 3))
    ptj = np.empty((mp, 3))
    evs = np.zeros(m, dtype=np.int32)
    chf = np.zeros(m // CHUNK + 1, dtype=np.int8)
    ech = np.zeros((m // CHUNK + 1, 3))
    dep = np.zeros((m, 8))
    dch = np.zeros(m // CHUNK + 1, dtype=np.int8)
    nb = int(wal[W_NTH] * wal[W_NZ])
    binr = np.empty(max(nb, 1))
    bini = np.empty(max(nb, 1), dtype=np.int64)
    pci = np.full(max(nb, 1), -1, dtype=np.int64)
    pcf = np.zeros((max(nb, 1), 2))
    hasext = cnt[C_HASEXT] != 0
    jacket = wal[W_CMODE] == 3.0
    if enr[E_WKNOWN] == 0.0:
        # before the first step wal holds no wall forces yet: the work of this step's wall
        # motion starts from the forces of the current positions
        ftop_start, fcyl_start, jgx0_start, jgy0_start, jgx1_start, jgy1_start = _wall_forces_now(pos, rad, side, wal)
    else:
        ftop_start = wal[W_FTOP]
        fcyl_start = wal[W_CF]
        jgx0_start = wal[W_JGX0]
        jgy0_start = wal[W_JGY0]
        jgx1_start = wal[W_JGX1]
        jgy1_start = wal[W_JGY1]
    heal = prm[P_HEAL] != 0.0
    crk_per_slot = max(1, fjg.shape[0])
    jcx0 = jcy0 = jcx1 = jcy1 = 0.0  # the jacket segments' centres and forces before a step
    jgx0 = jgy0 = jgx1 = jgy1 = 0.0
    for _ in range(n_steps):
        if heal and crf.shape[0] - cnt[C_NCRK] < 2 * m * crk_per_slot:
            break
        # -------- first half kick + drift
        dmax2 = 0.0
        e_drv = 0.0
        for p in range(n):
            if fixed[p] == 0:
                mi = minv[p]
                ii = iinv[p]
                for d in range(3):
                    vel[p, d] += hdt * frc[p, d] * mi
                    omg[p, d] += hdt * trq[p, d] * ii
            else:
                # a driven particle: its driver works against the last step's force over
                # the first half of this drift (trapezoidal rule; the rest after the forces)
                e_drv -= _driven_power(p, frc, trq, ext, vel, omg) * hdt
            for d in range(3):
                pos[p, d] += dt * vel[p, d]
            ddx = pos[p, 0] - x0[p, 0]
            ddy = pos[p, 1] - x0[p, 1]
            ddz = pos[p, 2] - x0[p, 2]
            dd = ddx * ddx + ddy * ddy + ddz * ddz
            if dd > dmax2:
                dmax2 = dd
        zt0 = wal[W_ZT]
        zd0 = wal[W_ZD]
        ftop0 = wal[W_FTOP] if enr[E_WKNOWN] != 0.0 else ftop_start
        cr0 = wal[W_CR]
        cf0 = wal[W_CF] if enr[E_WKNOWN] != 0.0 else fcyl_start
        if jacket:
            known = enr[E_WKNOWN] != 0.0
            jcx0 = wal[W_CX]
            jcy0 = wal[W_CY]
            jcx1 = wal[W_JCX1]
            jcy1 = wal[W_JCY1]
            jgx0 = wal[W_JGX0] if known else jgx0_start
            jgy0 = wal[W_JGY0] if known else jgy0_start
            jgx1 = wal[W_JGX1] if known else jgx1_start
            jgy1 = wal[W_JGY1] if known else jgy1_start
        _move_walls(wal, dt, pos, rad)
        if dmax2 > half_skin2 or cnt[C_NEEDREB] != 0:
            do_sort = cnt[C_SORTEV] > 0 and (cnt[C_NREB] % cnt[C_SORTEV]) == 0
            pi, pj, istart, jstart, jslots, hist, roll, hold, pst, pbd = _rebuild(
                pos, vel, omg, frc, trq, rad, mass, minv, iinv, fixed, side, oid, idx_of, ext, x0, ptan,
                pi, pj, hist, roll, hold, pst, pbd, bfn, bfs, bmom, bprop, bst, bfj, prm, crf, cri, cnt, do_sort)
            m = pi.shape[0]
            mp = m if nthr > 1 else 0
            pf = np.empty((mp, 3))
            pti = np.empty((mp, 3))
            ptj = np.empty((mp, 3))
            evs = np.zeros(m, dtype=np.int32)
            chf = np.zeros(m // CHUNK + 1, dtype=np.int8)
            ech = np.zeros((m // CHUNK + 1, 3))
            dep = np.zeros((m, 8))
            dch = np.zeros(m // CHUNK + 1, dtype=np.int8)
        # -------- forces
        if nthr > 1 and m >= cnt[C_PARMIN]:
            _pair_forces_parallel(pi, pj, pos, vel, omg, rad, mass, side, oid, hist, roll, hold, pst, pbd,
                                  bfn, bfs, bmom, bprop, bst, bfj, fjg, prm, frc, trq, pf, pti, ptj, evs, chf, ech, dep, dch)
            _reduce_parallel(istart, jstart, jslots, pf, pti, ptj, frc, trq)
        else:
            _pair_forces_serial(pi, pj, pos, vel, omg, rad, mass, side, oid, hist, roll, hold, pst, pbd,
                                bfn, bfs, bmom, bprop, bst, bfj, fjg, prm, frc, trq, pf, pti, ptj, evs, chf, ech, dep, dch)
        e_fr = 0.0
        e_dp = 0.0
        e_bk = 0.0
        for c in range(ech.shape[0]):
            e_fr += ech[c, 0]
            e_dp += ech[c, 1]
            e_bk += ech[c, 2]
        d_fr, d_dp = _departures(dep, dch, pi, pj, pos, vel, omg, rad, side, prm)
        enr[E_FRIC] += e_fr + d_fr
        enr[E_VISC] += e_dp + d_dp
        enr[E_BREAK] += e_bk
        for c in range(chf.shape[0]):
            if chf[c] != 0:
                chf[c] = 0
                for s in range(c * CHUNK, min((c + 1) * CHUNK, m)):
                    if evs[s] != 0:
                        _emit_cracks(s, evs[s], pi, pj, pos, rad, side, oid, pbd, bprop, bfj, fjg, prm, crf, cri, cnt)
                        evs[s] = 0
        if cnt[C_HASEXT] != 0:
            for p in range(n):
                for d in range(3):
                    frc[p, d] += ext[p, d]
        _walls(pos, vel, omg, rad, frc, trq, fixed, side, wal, binr, bini, pci, pcf, ptan, dt, enr)
        # -------- work of the moving walls (trapezoidal rule over the step)
        e_w = 0.0
        if wal[W_HASP] != 0.0:
            kf = wal[W_KF]
            if wal[W_PMODE] == 2.0 and kf > 0.0:
                # the frame's drive point: its force kf (zt - zd) along its displacement
                ff0 = kf * (zt0 - zd0)
                ff1 = kf * (wal[W_ZT] - wal[W_ZD])
                e_w += 0.5 * (ff0 + ff1) * (zd0 - wal[W_ZD])
                # the massless platen moves with the net force of contacts and frame on it
                # (zero at its balance): what that force does is lost (nonzero only where the
                # platen jumps to a new balance, e.g. from an unbalanced start)
                enr[E_PLATEN] += 0.5 * ((ftop0 - ff0) + (wal[W_FTOP] - ff1)) * (wal[W_ZT] - zt0)
            else:
                e_w += 0.5 * (ftop0 + wal[W_FTOP]) * (zt0 - wal[W_ZT])
        if wal[W_CMODE] == 2.0:
            e_w += 0.5 * (cf0 + wal[W_CF]) * (cr0 - wal[W_CR])
        elif jacket:
            # the common radius (as the wall), plus each segment's lateral force on its
            # block along the segment's shift
            e_w += 0.5 * (cf0 + wal[W_CF]) * (cr0 - wal[W_CR])
            e_w += 0.5 * ((jgx0 + wal[W_JGX0]) * (wal[W_CX] - jcx0) + (jgy0 + wal[W_JGY0]) * (wal[W_CY] - jcy0))
            e_w += 0.5 * ((jgx1 + wal[W_JGX1]) * (wal[W_JCX1] - jcx1) + (jgy1 + wal[W_JGY1]) * (wal[W_JCY1] - jcy1))
        enr[E_WALL] += e_w
        enr[E_WKNOWN] = 1.0
        # -------- local damping + second half kick
        e_loc = 0.0
        e_ext = 0.0
        for p in range(n):
            if fixed[p] == 0:
                mi = minv[p]
                ii = iinv[p]
                for d in range(3):
                    f = frc[p, d]
                    t = trq[p, d]
                    if alpha > 0.0:
                        f0 = f
                        t0 = t
                        v = vel[p, d]
                        if v > 0.0:
                            f -= alpha * abs(f)
                        elif v < 0.0:
                            f += alpha * abs(f)
                        w = omg[p, d]
                        if w > 0.0:
                            t -= alpha * abs(t)
                        elif w < 0.0:
                            t += alpha * abs(t)
                        frc[p, d] = f
                        trq[p, d] = t
                        vel[p, d] += hdt * f * mi
                        omg[p, d] += hdt * t * ii
                        # damping force x full-step velocity (exact for velocity Verlet)
                        e_loc -= ((f - f0) * vel[p, d] + (t - t0) * omg[p, d]) * dt
                    else:
                        vel[p, d] += hdt * f * mi
                        omg[p, d] += hdt * t * ii
                if hasext:
                    e_ext += (ext[p, 0] * vel[p, 0] + ext[p, 1] * vel[p, 1] + ext[p, 2] * vel[p, 2]) * dt
            else:
                # the driver holds the particle's velocity against the pair and wall forces
                e_drv -= _driven_power(p, frc, trq, ext, vel, omg) * hdt
        if wal[W_CMODE] == 1.0:
            e_p = 0.0
            for k in range(nb):
                q = pci[k]
                if q >= 0:
                    e_p += (pcf[k, 0] * vel[q, 0] + pcf[k, 1] * vel[q, 1]) * dt
            enr[E_PRES] += e_p
        enr[E_LOCAL] += e_loc
        enr[E_EXT] += e_ext
        enr[E_DRIVE] += e_drv
        cnt[C_STEP] += 1
    return pi, pj, istart, jstart, jslots, hist, roll, hold, pst, pbd


@njit(cache=True)
def _contacts(pi, pj, pos, vel, rad, mass, side, hist, pst, pbd, bfn, bfs, bprop, prm):
    # flat joints: bfn/bfs hold the joint's total force (elements summed) as the pair loop
    # left it; a joint whose faces interact is a contact even across a gap
    """Current contacts: rows of (slot, kind, bonded, fn, fsx, fsy, fsz, nx, ny, nz, px, py, pz, area)."""
    m = pi.shape[0]
    out = np.empty((m, 14))
    k = 0
    for s in range(m):
        i = pi[s]
        j = pj[s]
        dx = pos[j, 0] - pos[i, 0]
        dy = pos[j, 1] - pos[i, 1]
        dz = pos[j, 2] - pos[i, 2]
        dist = math.sqrt(dx * dx + dy * dy + dz * dz)
        ov = rad[i] + rad[j] - dist
        st = pst[s]
        bonded = (st & F_BONDED) != 0
        joint = prm[P_HASJ] != 0.0 and side[i] != side[j]
        b = pbd[s]
        fjp = prm[P_NFJ] != 0.0 and (not joint) and b >= 0
        # a broken installed joint still pressed together (or a healed one held in tension)
        # is a contact across a gap too
        if ov <= 0.0 and not bonded and not (fjp and (st & F_TOUCH)) and not (joint and hist[s, 3] != 0.0):
            continue
        nx = dx / dist
        ny = dy / dist
        nz = dz / dist
        ai = rad[i] - 0.5 * ov
        area = 0.0
        if joint:
            if (not bonded) and hist[s, 3] == 0.0 and hist[s, 0] == 0.0 and hist[s, 1] == 0.0 and hist[s, 2] == 0.0:
                if ov <= 0.0:
                    continue
            sg = prm[P_JSGN] if side[i] == 0 else -prm[P_JSGN]
            cnx = sg * prm[P_JNX]
            cny = sg * prm[P_JNY]
            cnz = sg * prm[P_JNZ]
            fn = hist[s, 3]
            fsx = -hist[s, 0]
            fsy = -hist[s, 1]
            fsz = -hist[s, 2]
            kind = 2
            if bonded:
                area = bprop[b, 0]
        else:
            cnx = nx
            cny = ny
            cnz = nz
            fn = 0.0
            fsx = 0.0
            fsy = 0.0
            fsz = 0.0
            if ov > 0.0 and not fjp:
                fn = prm[P_KN] * ov
                fsx = prm[P_KS] * hist[s, 0]
                fsy = prm[P_KS] * hist[s, 1]
                fsz = prm[P_KS] * hist[s, 2]
            kind = 1 if b >= 0 else 0
            if fjp:
                fn = bfn[b]
                fsx = -bfs[b, 0]
                fsy = -bfs[b, 1]
                fsz = -bfs[b, 2]
                area = bprop[b, 0]
            elif bonded:
                fn += bfn[b]
                fsx -= bfs[b, 0]
                fsy -= bfs[b, 1]
                fsz -= bfs[b, 2]
                area = bprop[b, 0]
        out[k, 0] = s
        out[k, 1] = kind
        out[k, 2] = 1.0 if bonded else 0.0
        out[k, 3] = fn
        out[k, 4] = fsx
        out[k, 5] = fsy
        out[k, 6] = fsz
        out[k, 7] = cnx
        out[k, 8] = cny
        out[k, 9] = cnz
        out[k, 10] = pos[i, 0] + ai * nx
        out[k, 11] = pos[i, 1] + ai * ny
        out[k, 12] = pos[i, 2] + ai * nz
        out[k, 13] = area
        k += 1
    return out[:k].copy()


@njit(cache=True)
def _add_pairs(pi, pj, istart, hist, roll, hold, pst, pbd, add_a, add_b, with_roll, with_hold):
    """Insert new, history-free pairs into the list (for bonds across a gap > skin)."""
    n = istart.shape[0] - 1
    npi, npj, nst, src = _merge_pairs(pi, pj, istart, add_a, add_b)
    h2, r2, t2, s2, b2 = _gather_slots(src, hist, roll, hold, pst, pbd, with_roll, with_hold)
    jstart, jslots = _jcsr(npj, n)
    return npi, npj, nst, jstart, jslots, h2, r2, t2, s2, b2


@njit(cache=True)
def _find_slots(istart, pj, lo, hi):
    out = np.full(lo.shape[0], -1, dtype=np.int64)
    for k in range(lo.shape[0]):
        a = lo[k]
        b = hi[k]
        for s in range(istart[a], istart[a + 1]):
            if pj[s] == b:
                out[k] = s
                break
    return out
