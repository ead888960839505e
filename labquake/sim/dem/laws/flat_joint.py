"""Flat joint (Potyondy 2012, PFC ``flatjoint``): a bonded interface of elements that
break one by one.

Geometry
--------
The interface is a disc of radius R = λ·min(ri, rj) (λ: radius multiplier) centred on the
contact point, normal to the centre line n, split into ``Nr`` rings × ``Nal`` sectors
(the reference uses 1 × 3: three 120° sectors). Element e has area A_e, first moment
S_e = A_e·c_e (c_e its centroid) and second-moment tensor J_e = ∫_e x xᵀ dA about the disc
centre; :func:`element_geometry` gives them per unit radius, exactly (annular sectors).
The element layout turns with the particles: the in-plane reference direction t1 is
carried into each new contact plane (length kept) and turned about n by the mean spin of
the two particles; t2 = n_c × t1 with n_c the normal oriented from the lower to the higher
particle id, so the layout does not depend on the engine's internal particle order.

Deformation and forces
----------------------
The two faces are rigid, so the normal displacement over the disc is a linear field
u(x) = U + g·x (compression +): U grows by −v_n·dt, the in-plane gradient g by −n × Δφ
(Δφ the relative rotation increment of j). Stiffness per area k̄n = E*/(ri + rj) (PFC's
``emod`` deformability), k̄s = k̄n/κ. Element e carries

* normal force F_e = k̄n·∫_e u dA = k̄n·(U·A_e + g·S_e) (on j along n, compression +),
* the first moment of its normal stress m_e = k̄n·∫_e u x dA = k̄n·(U·S_e + J_e·g),
  which gives the moment m_e × n on j about the contact point,
* shear force F_s,e (on j), incremented by −k̄s·A_e·Δu_s at its centroid, where Δu_s is
  the relative tangential displacement of the contact point plus the relative twist
  (Δφ·n)·(n × c_e); it acts at the centroid (moment c_e × F_s,e).

So bending and twisting are carried element by element: summed over all elements the
bending stiffness is exactly k̄n·πR⁴/4. The total force and moment on j are the sums.

Failure
-------
Each bonded element breaks on its own average stresses: in tension when −F_e/A_e > σ_t,
else in shear when |F_s,e|/A_e > c + (F_e/A_e)·tanφ. Every break emits one crack (at the
element centroid). A broken element carries no tension: when F_e ≤ 0 (its part of the
faces open, judged on the element's mean) it carries nothing, otherwise it keeps F_e and
m_e and slides with |F_s,e| ≤ μ_r·F_e. The joint persists, with its flat faces, while
its faces interact, also after its last element broke (it still resists rolling); it is
installed across the initial gap of the pair, stress-free (U = 0, g = 0).

Energy
------
Element e stores ½k̄n∫_e u² dA = ½(U·F_e + g·m_e) (while bonded or in compression) and
½|F_s,e|²/(k̄s·A_e). :func:`flat_joint_accounted` also returns, per step, the energy the
broken elements dissipate (friction: Coulomb slip, and the loss when a broken element's
faces open) and the energy released by the elements that break in the step: for each
such element the trapezoidal work done on it over the step minus the change of its
stored energy. With the trial state (the old state advanced by this step's motion, in
the new element frame) these are: shear capped or dropped, (t − c)·(c + r)/(2k̄s A_e)
(r the old, t the trial, c the final shear force); a field that carried load and lets
go (faces open, or a tensile break), ½(F_t·U_old + m_t·g_old); a field that appears
(faces close), −½(F·U_old + m·g_old). Intact elements are elastic and not accounted.

State (one row of ``bfj`` per bond; see the ``FJ_*`` offsets)
--------------------------------------------------------------
``U``, ``g`` (3), ``t1`` (3), then per element ``F_s,e`` (3) and its bond flag (1 bonded,
0 broken).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..exactmath import cos_sin
from ._failure import failure_mode
from ._vector import FASTMATH, cap_vector, rot_keep

FJ_U = 0
FJ_G = 1
FJ_T1 = 4
FJ_E0 = 7
FJ_ESTRIDE = 4
#: largest number of elements: the break modes of one step are packed 2 bits per element
#: into an int32 event word
MAX_ELEMENTS = 15


def state_width(n_elements: int) -> int:
    """Columns of the flat-joint state table for ``n_elements`` elements."""
    return FJ_E0 + FJ_ESTRIDE * int(n_elements)


def element_geometry(n_radial: int, n_circumferential: int) -> np.ndarray:
    """Element table of a unit-radius flat joint, one row per element.

    Columns: area fraction A_e/A, centroid (c1, c2) in the (t1, t2) frame, and the second
    moments J11, J22, J12 about the disc centre, all for R = 1 (scale by R, R⁴). Element
    (ring k, sector l) spans radii [k/Nr, (k+1)/Nr] and angles [2πl/Nal, 2π(l+1)/Nal].
    """
    nr = int(n_radial)
    na = int(n_circumferential)
    rows = []
    for k in range(nr):
        a, b = k / nr, (k + 1) / nr
        for ell in range(na):
            t0, t1 = 2.0 * math.pi * ell / na, 2.0 * math.pi * (ell + 1) / na
            dth = t1 - t0
            area = 0.5 * (b * b - a * a) * dth
            r3 = (b * b * b - a * a * a) / 3.0  # not ** (libm pow): the same bits on every CPU
            r4 = ((b * b) * (b * b) - (a * a) * (a * a)) / 4.0
            (c0, sn0), (c1, sn1) = cos_sin(t0), cos_sin(t1)  # not libm: the same bits on every CPU
            s1 = r3 * (sn1 - sn0)
            s2 = r3 * (c0 - c1)
            ds2 = 0.25 * (cos_sin(2.0 * t1)[1] - cos_sin(2.0 * t0)[1])
            j11 = r4 * (0.5 * dth + ds2)
            j22 = r4 * (0.5 * dth - ds2)
            j12 = r4 * 0.5 * (sn1 * sn1 - sn0 * sn0)
            rows.append((area / math.pi, s1 / area, s2 / area, j11, j22, j12))
    return np.ascontiguousarray(np.array(rows, dtype=np.float64))


def initial_state(normals: np.ndarray, n_elements: int) -> np.ndarray:
    """Stress-free state rows for joints with centre-line normals ``normals`` (m, 3):
    U = 0, g = 0, all elements bonded, t1 any unit vector in the joint plane."""
    n = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
    out = np.zeros((n.shape[0], state_width(n_elements)))
    ref = np.where(np.abs(n[:, 2:3]) < 0.9, np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]]))
    t1 = np.cross(n, ref)
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    out[:, FJ_T1:FJ_T1 + 3] = t1
    for e in range(int(n_elements)):
        out[:, FJ_E0 + FJ_ESTRIDE * e + 3] = 1.0
    return out


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def element_frame(bfj, b, nx, ny, nz, csg):
    """t1, t2 of joint ``b`` in the current plane (csg: +1 if n points from the lower to
    the higher particle id, else −1)."""
    t1x = bfj[b, FJ_T1]
    t1y = bfj[b, FJ_T1 + 1]
    t1z = bfj[b, FJ_T1 + 2]
    cx = csg * nx
    cy = csg * ny
    cz = csg * nz
    return t1x, t1y, t1z, cy * t1z - cz * t1y, cz * t1x - cx * t1z, cx * t1y - cy * t1x


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def flat_joint(bfj, fjg, b, radius, area, kn, ks, tensile_strength, cohesion, tan_phi, mu_r,
               nx, ny, nz, csg, vn, tx, ty, tz, wix, wiy, wiz, wjx, wjy, wjz, dt):
    """One step of flat joint ``b``; updates its row of ``bfj`` in place.

    :func:`flat_joint_accounted` without the energy terms. Returns ``(fn, fsx, fsy, fsz,
    mx, my, mz, events, any_bonded, interacting)``.
    """
    fn, fsx, fsy, fsz, mx, my, mz, events, any_bonded, interacting, _f, _b = flat_joint_accounted(
        bfj, fjg, b, radius, area, kn, ks, tensile_strength, cohesion, tan_phi, mu_r,
        nx, ny, nz, csg, vn, tx, ty, tz, wix, wiy, wiz, wjx, wjy, wjz, dt)
    return fn, fsx, fsy, fsz, mx, my, mz, events, any_bonded, interacting


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def flat_joint_accounted(bfj, fjg, b, radius, area, kn, ks, tensile_strength, cohesion, tan_phi, mu_r,
                         nx, ny, nz, csg, vn, tx, ty, tz, wix, wiy, wiz, wjx, wjy, wjz, dt):
    """One step of flat joint ``b``; updates its row of ``bfj`` in place.

    ``vn``, ``(tx, ty, tz)``: normal and tangential relative velocity of j's contact point;
    ``wi``, ``wj``: angular velocities. Returns ``(fn, fsx, fsy, fsz, mx, my, mz, events,
    any_bonded, interacting)``: total normal force on j along n (compression +), total
    shear force on j, moment on j about the contact point, the break modes of this step
    packed 2 bits per element (element e: ``(events >> 2e) & 3``), whether an element is
    still bonded and whether the faces carry any force, then the energy (J) the broken
    elements dissipated this step and the energy released by the elements that broke in it.
    """
    ne = fjg.shape[0]
    # ---- element frame: carried into the new plane, turned by the mean spin about n
    t1x, t1y, t1z = rot_keep(bfj[b, FJ_T1], bfj[b, FJ_T1 + 1], bfj[b, FJ_T1 + 2], nx, ny, nz)
    psi = 0.5 * ((wix + wjx) * nx + (wiy + wjy) * ny + (wiz + wjz) * nz) * dt
    if psi != 0.0:
        cp, sp = cos_sin(psi)  # not libm's: the same bits on every CPU
        ux = ny * t1z - nz * t1y
        uy = nz * t1x - nx * t1z
        uz = nx * t1y - ny * t1x
        t1x = t1x * cp + ux * sp
        t1y = t1y * cp + uy * sp
        t1z = t1z * cp + uz * sp
    tl = 1.0 / math.sqrt(t1x * t1x + t1y * t1y + t1z * t1z)
    t1x *= tl
    t1y *= tl
    t1z *= tl
    cnx = csg * nx
    cny = csg * ny
    cnz = csg * nz
    t2x = cny * t1z - cnz * t1y
    t2y = cnz * t1x - cnx * t1z
    t2z = cnx * t1y - cny * t1x
    # ---- normal displacement field u(x) = U + g·x
    dpx = (wjx - wix) * dt
    dpy = (wjy - wiy) * dt
    dpz = (wjz - wiz) * dt
    u0o = bfj[b, FJ_U]
    u0 = u0o - vn * dt
    gx, gy, gz = rot_keep(bfj[b, FJ_G], bfj[b, FJ_G + 1], bfj[b, FJ_G + 2], nx, ny, nz)
    gox = gx
    goy = gy
    goz = gz
    gx -= ny * dpz - nz * dpy
    gy -= nz * dpx - nx * dpz
    gz -= nx * dpy - ny * dpx
    g1 = gx * t1x + gy * t1y + gz * t1z
    g2 = gx * t2x + gy * t2y + gz * t2z
    # the old gradient in the new element frame (energy accounting of broken elements)
    g1o = gox * t1x + goy * t1y + goz * t1z
    g2o = gox * t2x + goy * t2y + goz * t2z
    twist = (wjx - wix) * nx + (wjy - wiy) * ny + (wjz - wiz) * nz  # relative spin about n
    r4 = radius * radius * radius * radius
    fn = 0.0
    fsx = 0.0
    fsy = 0.0
    fsz = 0.0
    mx = 0.0
    my = 0.0
    mz = 0.0
    events = 0
    any_bonded = False
    interacting = False
    dfric = 0.0
    dbreak = 0.0
    for e in range(ne):
        ae = area * fjg[e, 0]
        c1 = radius * fjg[e, 1]
        c2 = radius * fjg[e, 2]
        cx = c1 * t1x + c2 * t2x
        cy = c1 * t1y + c2 * t2y
        cz = c1 * t1z + c2 * t2z
        fe = kn * ae * (u0 + g1 * c1 + g2 * c2)
        m1 = kn * (u0 * ae * c1 + r4 * (fjg[e, 3] * g1 + fjg[e, 5] * g2))
        m2 = kn * (u0 * ae * c2 + r4 * (fjg[e, 5] * g1 + fjg[e, 4] * g2))
        k0 = FJ_E0 + FJ_ESTRIDE * e
        sx, sy, sz = rot_keep(bfj[b, k0], bfj[b, k0 + 1], bfj[b, k0 + 2], nx, ny, nz)
        srx = sx
        sry = sy
        srz = sz
        kst = ks * ae * dt
        sx -= kst * (tx + twist * (ny * cz - nz * cy))
        sy -= kst * (ty + twist * (nz * cx - nx * cz))
        sz -= kst * (tz + twist * (nx * cy - ny * cx))
        stx = sx
        sty = sy
        stz = sz
        bonded = bfj[b, k0 + 3] != 0.0
        was_bonded = bonded
        dn = 0.0
        if bonded:
            inv_ae = 1.0 / ae
            mode = failure_mode(-fe * inv_ae, math.sqrt(sx * sx + sy * sy + sz * sz) * inv_ae, fe * inv_ae,
                                tensile_strength, cohesion, tan_phi)
            if mode != 0:
                events |= mode << (2 * e)
                bonded = False
                bfj[b, k0 + 3] = 0.0
        if bonded:
            any_bonded = True
            interacting = True
        elif fe <= 0.0:
            if was_bonded or u0o + g1o * c1 + g2o * c2 > 0.0:
                # it carried its field and lets go of it: ½ F_trial·(old state)
                dn = 0.5 * (fe * u0o + m1 * g1o + m2 * g2o)
            fe = 0.0
            m1 = 0.0
            m2 = 0.0
            sx = 0.0
            sy = 0.0
            sz = 0.0
        else:
            if not (was_bonded or u0o + g1o * c1 + g2o * c2 > 0.0):
                # its faces close again: the field appears with only half its work done
                dn = -0.5 * (fe * u0o + m1 * g1o + m2 * g2o)
            sx, sy, sz, _ = cap_vector(sx, sy, sz, mu_r * fe)
            interacting = True
        bfj[b, k0] = sx
        bfj[b, k0 + 1] = sy
        bfj[b, k0 + 2] = sz
        fn += fe
        fsx += sx
        fsy += sy
        fsz += sz
        # moment on j about the contact point: m_e × n + c_e × F_s,e
        mex = m1 * t1x + m2 * t2x
        mey = m1 * t1y + m2 * t2y
        mez = m1 * t1z + m2 * t2z
        mx += (mey * nz - mez * ny) + (cy * sz - cz * sy)
        my += (mez * nx - mex * nz) + (cz * sx - cx * sz)
        mz += (mex * ny - mey * nx) + (cx * sy - cy * sx)
        if not bonded:
            # a broken (or breaking) element: work minus stored-energy change (see Energy)
            d = dn
            if ks > 0.0:
                # shear, an incremental spring: (t − c)·(c + r)/(2k), r the rotated old, t
                # the trial, c the final force
                d += ((stx - sx) * (sx + srx) + (sty - sy) * (sy + sry) + (stz - sz) * (sz + srz)) / (2.0 * ks * ae)
            if was_bonded:
                dbreak += d
            else:
                dfric += d
    bfj[b, FJ_U] = u0
    bfj[b, FJ_G] = gx
    bfj[b, FJ_G + 1] = gy
    bfj[b, FJ_G + 2] = gz
    bfj[b, FJ_T1] = t1x
    bfj[b, FJ_T1 + 1] = t1y
    bfj[b, FJ_T1 + 2] = t1z
    return fn, fsx, fsy, fsz, mx, my, mz, events, any_bonded, interacting, dfric, dbreak
