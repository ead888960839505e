"""Smooth joint (PFC): the fault contact, whose frame is the fixed joint plane.

The normal is the joint-plane normal (oriented from side-0 to side-1 particles), not the
centre line, so the two blocks slide past each other along the plane. Normal and shear
force grow from the relative velocity of the contact point (translation and rotation of
both particles, as PFC) resolved in that frame (stiffness per area × area); the force
acts at the contact point, so it turns the particles, and the joint opens or closes where
they roll. Bonded:
breaks in tension when −Fn/A > σ_t, in shear when |Fs|/A > c + (Fn/A)·tanφ. Unbonded
(after a break, or contacts formed later across the fault): no tension, |Fs| ≤ μ_r·Fn.
A joint that was installed as a bond keeps its faces (PFC's notional surfaces, installed
touching across the pair's gap): after a shear break it stays in contact while its normal
force is compressive, whether or not the spheres overlap, so a broken joint that is still
pressed together keeps its compression and slides at residual friction; once its faces
open (Fn ≤ 0) it is an ordinary unbonded contact. A contact formed later across the fault
exists while the spheres overlap.
"""

from __future__ import annotations

import math

from numba import njit

from ._failure import failure_mode
from ._vector import FASTMATH, cap_vector


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def smooth_joint_trial(h0, h1, h2, h3, jx, jy, jz, vx, vy, vz, dt, kn_per_area, ks_per_area, area):
    """Incremental update: returns the trial ``(fn, fsx, fsy, fsz)`` (fn compression +,
    shear force stored as the joint's history vector)."""
    vn = vx * jx + vy * jy + vz * jz
    fn = h3 - kn_per_area * area * vn * dt
    kst = ks_per_area * area * dt
    fsx = h0 - kst * (vx - vn * jx)
    fsy = h1 - kst * (vy - vn * jy)
    fsz = h2 - kst * (vz - vn * jz)
    return fn, fsx, fsy, fsz


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def smooth_joint_failure(fn, fsx, fsy, fsz, inv_area, tensile_strength, cohesion, tan_phi):
    """Failure mode of a bonded smooth joint under the trial force (0 intact)."""
    fs = math.sqrt(fsx * fsx + fsy * fsy + fsz * fsz)
    return failure_mode(-fn * inv_area, fs * inv_area, fn * inv_area, tensile_strength, cohesion, tan_phi)


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def smooth_joint_residual(fn, fsx, fsy, fsz, ov, mu, installed):
    """Unbonded joint: no tension, Coulomb cap; no force once the faces open (``fn`` ≤ 0)
    or, for a contact not ``installed`` as a bond, once the spheres separate."""
    if fn <= 0.0 or (ov <= 0.0 and not installed):
        return 0.0, 0.0, 0.0, 0.0
    fsx, fsy, fsz, _ = cap_vector(fsx, fsy, fsz, mu * fn)
    return fn, fsx, fsy, fsz


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def smooth_joint_dissipation(fn_t, fsx_t, fsy_t, fsz_t, fn, fsx, fsy, fsz, fn_o, fsx_o, fsy_o, fsz_o, kn_area, ks_area):
    """Energy the joint dissipates in a step whose trial force (``*_t``, from the old force
    ``*_o``) was changed by a break, the tension cut-off or the Coulomb cap into the final
    force: the trapezoidal work done on the joint minus the change of its stored energy
    ½Fn²/(kn·A) + ½|Fs|²/(ks·A), i.e. Σ (t − c)·(c + o)/(2k) over normal and shear."""
    d = (fn_t - fn) * (fn + fn_o) / (2.0 * kn_area)
    if ks_area > 0.0:
        d += ((fsx_t - fsx) * (fsx + fsx_o) + (fsy_t - fsy) * (fsy + fsy_o) + (fsz_t - fsz) * (fsz + fsz_o)) / (2.0 * ks_area)
    return d
