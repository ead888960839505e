"""Dense polydisperse sphere pack for the DEM throughput benchmark (LJ-like units).

A cylinder (axis z, height = diameter) is filled by random sequential addition at a low
solid fraction, then the radii are grown in stages while a frictionless labquake run
relaxes the overlaps, until the solid fraction is about 0.64 (frictionless random close
packing); a final slight over-growth brings the mean coordination to about 6.5. The result
is cached in ``benchmarks/_work/``.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
from scipy.spatial import cKDTree

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "_work")

D_MIN, D_MAX = 0.8, 1.2          # diameters (mean 1)
KN = 2.0e5                       # normal stiffness (LJ-like units, as the LAMMPS anchor)
DENSITY = 1.0
PHI_TARGET = 0.64


def _mean_volume():
    # E[d^3] for d ~ U(D_MIN, D_MAX)
    ed3 = (D_MAX ** 4 - D_MIN ** 4) / (4.0 * (D_MAX - D_MIN))
    return math.pi / 6.0 * ed3


def container(n: int, phi: float = PHI_TARGET):
    """Cylinder radius and height (= 2 radius) holding n spheres at solid fraction phi."""
    vol = n * _mean_volume() / phi
    rc = (vol / (2.0 * math.pi)) ** (1.0 / 3.0)
    return rc, 2.0 * rc


def _rsa(n, rc, h, radii, rng):
    pos = np.empty((n, 3))
    placed = 0
    tree = None
    pts = []
    rmax = radii.max()
    order = np.argsort(-radii)
    radii = radii[order]
    tries = 0
    while placed < n:
        tries += 1
        if tries > 200 * n:
            raise RuntimeError("random sequential addition failed; lower the start fraction")
        r = radii[placed]
        rho = (rc - r) * math.sqrt(rng.random())
        th = 2.0 * math.pi * rng.random()
        p = np.array([rho * math.cos(th), rho * math.sin(th), r + (h - 2 * r) * rng.random()])
        if placed:
            if tree is None or len(pts) > 64:
                if pts:
                    tree = cKDTree(pos[:placed])
                    pts = []
            ok = True
            if tree is not None:
                idx = tree.query_ball_point(p, r + rmax)
                if idx:
                    d = np.linalg.norm(pos[idx] - p, axis=1)
                    if np.any(d < r + radii[idx]):
                        ok = False
            if ok:
                for q in pts:
                    if np.linalg.norm(pos[q] - p) < r + radii[q]:
                        ok = False
                        break
            if not ok:
                continue
        pos[placed] = p
        pts.append(placed)
        placed += 1
    return pos, radii


def dense_pack(n: int = 10_000, seed: int = 0, target_coordination: float = 6.5, verbose: bool = True):
    """Positions (n,3), radii (n,), container (rc, h) of a dense frictionless-jammed pack."""
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, f"dem_pack_{n}_{seed}.npz")
    if os.path.exists(path):
        z = np.load(path)
        return z["pos"], z["rad"], float(z["rc"]), float(z["h"])
    from labquake.sim.dem import ConfiningCylinder, Engine, LinearContact, Platens

    t0 = time.time()
    rng = np.random.default_rng(seed)
    rc, h = container(n)
    rad_final = 0.5 * rng.uniform(D_MIN, D_MAX, n)
    s = 0.62  # start at phi = 0.64 * s^3 ~ 0.15
    pos, rad_sorted = _rsa(n, rc, h, rad_final * s, rng)
    rad_final = rad_sorted / s
    contact = LinearContact(KN, 2.0 / 7.0 * KN, 0.0)
    while True:
        s_next = min(1.0, s + 0.04)
        rad = rad_final * s_next
        eng = Engine(pos, rad, DENSITY, contact,
                     platens=Platens(-1e-9, h + 1e-9, KN, mode="velocity", velocity=0.0),
                     cylinder=ConfiningCylinder(rc + 1e-9, KN, 0.0, servo_gain=0.0, mode="wall"),
                     dt=5e-4, local_damping=0.7, skin=0.2)
        eng.run(300 if s_next < 1.0 else 1500)
        pos = np.array(eng.positions)
        s = s_next
        if verbose:
            print(f"  pack: scale {s:.2f}, contacts {eng.contacts()['i'].size}, {time.time() - t0:.0f} s", flush=True)
        if s >= 1.0:
            break
    # slight over-growth until the mobile-interior coordination reaches the target
    grow = 1.0
    for _ in range(20):
        c = eng.contacts()
        zc = 2.0 * c["i"].size / n
        if verbose:
            print(f"  pack: growth {grow:.4f}, coordination {zc:.2f}", flush=True)
        if zc >= target_coordination:
            break
        grow *= 1.004
        rad = rad_final * grow
        eng = Engine(pos, rad, DENSITY, contact,
                     platens=Platens(-1e-9, h + 1e-9, KN, mode="velocity", velocity=0.0),
                     cylinder=ConfiningCylinder(rc + 1e-9, KN, 0.0, servo_gain=0.0, mode="wall"),
                     dt=5e-4, local_damping=0.7, skin=0.2)
        eng.run(800)
        pos = np.array(eng.positions)
    rad = rad_final * grow
    np.savez(path, pos=pos, rad=rad, rc=rc, h=h)
    return pos, rad, rc, h


def solid_fraction(rad, rc, h):
    return float(np.sum(4.0 / 3.0 * np.pi * rad ** 3) / (np.pi * rc * rc * h))
