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

Healing (optional, ``SmoothJoint(healing=FaultHealing(...))``; ``docs/healing.md``)
-----------------------------------------------------------------------------------
An unbonded joint (broken, or formed later across the fault) that is pressed together
(Fn > 0) and stuck (its trial shear force within its strength) accumulates a hold time t;
its healed cohesion is c_h(t) = rate·log10(1 + t/t_c), at most c_max (Dieterich-type
log-time healing). While it holds, its strength is the intact law's with c_h, the healed
tensile strength σ_h = ratio·c_h and the residual friction μ_r (so c_h = 0 is the plain
residual joint): it fails in tension when −Fn/A > σ_h, else in shear when
|Fs|/A > c_h + (Fn/A)·μ_r. A failure (sliding, or opening) resets t to 0 and the joint
follows the residual law in that step; a failure with c_h at or above the crack
threshold is a re-rupture and emits a crack.
"""

from __future__ import annotations

import math

from numba import njit

from ..exactmath import log10
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


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def healed_cohesion(hold, rate, cutoff_time, max_cohesion):
    """Healed cohesion (Pa) after a hold time ``hold`` (s): rate·log10(1 + t/t_c), at most
    ``max_cohesion``; 0 for t = 0. ``log10`` is :func:`labquake.sim.dem.exactmath.log10` (the
    same bits on every CPU)."""
    if hold <= 0.0:
        return 0.0
    c = rate * log10(1.0 + hold / cutoff_time)
    if c > max_cohesion:
        return max_cohesion
    return c


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def smooth_joint_healing(fn, fsx, fsy, fsz, hold, dt, inv_area, rate, cutoff_time, max_cohesion, tensile_ratio, mu):
    """Healing of an unbonded joint under its trial force (``fn`` compression +).

    Returns ``(mode, c_h, hold)``: ``mode`` 0 while the healed joint holds, else
    :data:`TENSION` / :data:`SHEAR` (its failure: it slides or opens); ``c_h`` the healed
    cohesion it had in this step (from the old hold time); the new hold time: +dt while
    it holds in compression, unchanged while it holds in tension (only with a healed
    tensile strength), 0 after a failure or when its faces carry nothing (``fn`` = 0).
    The caller keeps the trial force while it holds (``mode`` 0 and ``fn`` != 0) and
    applies :func:`smooth_joint_residual` otherwise.
    """
    c = healed_cohesion(hold, rate, cutoff_time, max_cohesion)
    fs = math.sqrt(fsx * fsx + fsy * fsy + fsz * fsz)
    mode = failure_mode(-fn * inv_area, fs * inv_area, fn * inv_area, tensile_ratio * c, c, mu)
    if mode != 0:
        return mode, c, 0.0
    if fn > 0.0:
        return 0, c, hold + dt
    if fn < 0.0:
        return 0, c, hold
    return 0, c, 0.0
