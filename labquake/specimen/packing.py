"""Dense random packing of polydisperse spheres in a cylinder.

The packing is purely geometric: the experiment consolidates it mechanically in the DEM
engine afterwards. The method is the classical "radius growth with overlap relaxation"
(Lubachevsky–Stillinger-like, done quasi-statically): particles are placed uniformly at
random at a fraction of their final size, then their radii are grown in stages, and after
each stage the overlap energy

    U = sum_pairs max(0, r_i + r_j - |x_i - x_j|)^2 + sum_i (wall penetration_i)^2

is minimised over the positions with L-BFGS (:func:`scipy.optimize.minimize`). Neighbour
pairs come from :class:`scipy.spatial.cKDTree`. At the final size the residual overlaps
are a small fraction of a particle radius; the engine's consolidation removes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.spatial import cKDTree

from labquake.errors import ConfigError


def cylinder_solid_fraction(radii: np.ndarray, cylinder_radius: float, length: float) -> float:
    """Volume of the spheres over the volume of the cylinder they fill."""
    v = 4.0 / 3.0 * np.pi * np.sum(np.asarray(radii, dtype=float) ** 3)
    return float(v / (np.pi * cylinder_radius**2 * length))


@dataclass(frozen=True)
class Packing:
    """A packing of spheres in a cylinder of ``radius`` and ``length`` centred at the origin."""

    positions: np.ndarray  # (N, 3) m
    radii: np.ndarray  # (N,) m
    cylinder_radius: float
    length: float
    max_overlap: float  # largest residual overlap, as a fraction of the mean radius

    @property
    def n_particles(self) -> int:
        return int(len(self.radii))

    @property
    def solid_fraction(self) -> float:
        return cylinder_solid_fraction(self.radii, self.cylinder_radius, self.length)


def draw_radii(rng: np.random.Generator, d_min: float, d_max: float, volume: float, solid_fraction: float) -> np.ndarray:
    """Diameters uniform in [d_min, d_max] until the spheres fill ``solid_fraction`` of ``volume``.

    Returns radii (m). The count follows from the draw, so it varies slightly with the seed.
    """
    target = solid_fraction * volume
    mean_v = np.pi / 6.0 * (d_max**4 - d_min**4) / (4.0 * (d_max - d_min)) if d_max > d_min else np.pi / 6.0 * d_min**3
    n_guess = int(np.ceil(1.2 * target / mean_v)) + 10
    d = rng.uniform(d_min, d_max, size=n_guess)
    v = np.cumsum(np.pi / 6.0 * d**3)
    n = int(np.searchsorted(v, target)) + 1
    return 0.5 * d[:n]


def _energy(x: np.ndarray, radii: np.ndarray, R: float, half_l: float, pairs_fn) -> tuple[float, np.ndarray]:
    pos = x.reshape(-1, 3)
    grad = np.zeros_like(pos)
    i, j = pairs_fn(pos)
    e = 0.0
    if len(i):
        d = pos[i] - pos[j]
        dist = np.sqrt(np.einsum("ij,ij->i", d, d))
        ov = radii[i] + radii[j] - dist
        m = ov > 0
        i, j, d, dist, ov = i[m], j[m], d[m], dist[m], ov[m]
        e += float(np.sum(ov**2))
        # dU/dx_i = -2 ov * d/|d|
        g = (-2.0 * ov / np.maximum(dist, 1e-300))[:, None] * d
        n = len(radii)
        for k in range(3):
            grad[:, k] += np.bincount(i, weights=g[:, k], minlength=n) - np.bincount(j, weights=g[:, k], minlength=n)
    # cylinder wall
    rho = np.hypot(pos[:, 0], pos[:, 1])
    pen = rho + radii - R
    m = pen > 0
    if np.any(m):
        e += float(np.sum(pen[m] ** 2))
        fac = 2.0 * pen[m] / np.maximum(rho[m], 1e-300)
        grad[m, 0] += fac * pos[m, 0]
        grad[m, 1] += fac * pos[m, 1]
    # end caps
    for sgn in (1.0, -1.0):
        pen = sgn * pos[:, 2] + radii - half_l
        m = pen > 0
        if np.any(m):
            e += float(np.sum(pen[m] ** 2))
            grad[m, 2] += 2.0 * sgn * pen[m]
    return e, grad.ravel()


def pack_cylinder(
    rng: np.random.Generator,
    cylinder_radius: float,
    length: float,
    d_min: float,
    d_max: float,
    solid_fraction: float = 0.62,
    n_stages: int = 12,
    max_iter: int = 400,
    overlap_tol: float = 0.01,
    max_rounds: int = 20,
) -> Packing:
    """Pack spheres with diameters uniform in [d_min, d_max] into a cylinder.

    Parameters
    ----------
    rng
        The seeded generator (sizes and initial positions are drawn from it).
    cylinder_radius, length
        Cylinder size (m); the axis is z and the cylinder is centred at the origin.
    d_min, d_max
        Diameter range (m).
    solid_fraction
        Target fraction of the cylinder filled by the spheres; 0.62 is about the densest
        random packing reachable against curved walls about eight diameters apart.
    n_stages, max_iter
        Radius-growth stages and L-BFGS iterations per stage.
    overlap_tol, max_rounds
        If the packing jams below the target (largest overlap above ``overlap_tol`` mean
        radii), the 0.5 % most overlapped particles are removed and the rest relaxed
        again, up to ``max_rounds`` times: the target is an upper bound.

    Returns
    -------
    Packing
    """
    if not (0 < d_min <= d_max):
        raise ConfigError(f"need 0 < d_min <= d_max, got d_min={d_min}, d_max={d_max}")
    if d_max > min(2 * cylinder_radius, length) / 3.0:
        raise ConfigError(
            f"particles too large for the sample: d_max={d_max} m but the sample is "
            f"{2 * cylinder_radius} m wide and {length} m long; use d_max <= one third of the width"
        )
    if not (0.05 <= solid_fraction <= 0.66):
        raise ConfigError(f"specimen.solid_fraction must lie in [0.05, 0.66], got {solid_fraction}")
    volume = np.pi * cylinder_radius**2 * length
    radii = draw_radii(rng, d_min, d_max, volume, solid_fraction)
    n = len(radii)
    # uniform random initial positions inside the cylinder
    u = rng.random(n)
    th = rng.uniform(0.0, 2.0 * np.pi, n)
    rho = np.sqrt(u) * np.maximum(cylinder_radius - radii, 0.0)
    z = rng.uniform(-0.5 * length + radii, 0.5 * length - radii)
    pos = np.column_stack([rho * np.cos(th), rho * np.sin(th), z])

    half_l = 0.5 * length
    scales = np.linspace(0.6, 1.0, n_stages)
    r_mean = float(radii.mean())
    for s in scales:
        rs = radii * s
        cutoff = 2.0 * rs.max()

        def pairs_fn(p, cutoff=cutoff):
            pr = cKDTree(p).query_pairs(cutoff, output_type="ndarray")
            return pr[:, 0], pr[:, 1]

        res = minimize(
            _energy, pos.ravel(), args=(rs, cylinder_radius, half_l, pairs_fn), jac=True,
            method="L-BFGS-B", options={"maxiter": max_iter, "ftol": 1e-14, "gtol": 1e-12 * r_mean},
        )
        pos = res.x.reshape(-1, 3)
    # jammed before the target? remove the most overlapped particles and relax again
    cutoff = 2.0 * radii.max()

    def pairs_fn(p, cutoff=cutoff):
        pr = cKDTree(p).query_pairs(cutoff, output_type="ndarray")
        return pr[:, 0], pr[:, 1]

    for _ in range(max_rounds):
        i, j = pairs_fn(pos)
        ov = np.maximum(radii[i] + radii[j] - np.linalg.norm(pos[i] - pos[j], axis=1), 0.0)
        if ov.max(initial=0.0) <= overlap_tol * r_mean:
            break
        per = np.bincount(i, weights=ov, minlength=len(radii)) + np.bincount(j, weights=ov, minlength=len(radii))
        drop = np.argsort(per, kind="stable")[::-1][: max(1, int(np.ceil(0.005 * len(radii))))]
        keep = np.setdiff1d(np.arange(len(radii)), drop)
        pos, radii = pos[keep], radii[keep]
        res = minimize(
            _energy, pos.ravel(), args=(radii, cylinder_radius, half_l, pairs_fn), jac=True,
            method="L-BFGS-B", options={"maxiter": max_iter, "ftol": 1e-14, "gtol": 1e-12 * r_mean},
        )
        pos = res.x.reshape(-1, 3)
    i, j = pairs_fn(pos)
    ov = radii[i] + radii[j] - np.linalg.norm(pos[i] - pos[j], axis=1)
    max_ov = float(max(ov.max(initial=0.0), 0.0) / r_mean)
    # keep everything strictly inside the walls (walls are where the engine puts them)
    rho = np.hypot(pos[:, 0], pos[:, 1])
    lim = cylinder_radius - radii
    f = np.where(rho > lim, lim / np.maximum(rho, 1e-300), 1.0)
    pos[:, 0] *= f
    pos[:, 1] *= f
    pos[:, 2] = np.clip(pos[:, 2], -half_l + radii, half_l - radii)
    return Packing(positions=pos, radii=radii, cylinder_radius=float(cylinder_radius), length=float(length), max_overlap=max_ov)


def pair_gaps(positions: np.ndarray, radii: np.ndarray, max_gap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (i < j) whose surface gap ``|x_i - x_j| - r_i - r_j`` is below ``max_gap``.

    Returns ``(i, j, gap)`` sorted by gap (negative gap = overlap).
    """
    pr = cKDTree(positions).query_pairs(2.0 * float(np.max(radii)) + max_gap, output_type="ndarray")
    if len(pr) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    i, j = pr[:, 0].astype(np.int64), pr[:, 1].astype(np.int64)
    gap = np.linalg.norm(positions[i] - positions[j], axis=1) - radii[i] - radii[j]
    m = gap < max_gap
    i, j, gap = i[m], j[m], gap[m]
    o = np.lexsort((j, i, gap))
    return i[o], j[o], gap[o]
