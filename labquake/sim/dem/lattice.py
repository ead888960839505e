"""Simple regular packs for tests, benchmarks and smoke runs (not the specimen builder).

:func:`fcc_cylinder` fills a cylinder with a face-centred-cubic lattice of nearly touching
spheres (solid fraction ≈ 0.74·(mean radius/r0)³), which is stable and settles in a few
hundred steps under confinement. Real specimens come from :mod:`labquake.sim.specimen`.
"""

from __future__ import annotations

import numpy as np


def fcc_cylinder(radius: float, height: float, r0: float, rng: np.random.Generator | None = None,
                 rmin_ratio: float = 0.97, z0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Spheres on an FCC lattice (nearest-neighbour distance 2·r0) inside a z-cylinder.

    Returns (positions (N, 3), radii (N,)); radii are uniform in [rmin_ratio·r0, r0].
    The cylinder axis is x = y = 0, its base at ``z0``; every sphere lies inside.
    """
    if rng is None:
        rng = np.random.default_rng(0)
    a = 2.0 * np.sqrt(2.0) * r0
    n = int(np.ceil(2.0 * radius / a)) + 2
    nz = int(np.ceil(height / a)) + 2
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) * a
    i, j, k = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), np.arange(0, nz), indexing="ij")
    cells = np.column_stack([i.ravel(), j.ravel(), k.ravel()]).astype(float) * a
    p = (cells[:, None, :] + base[None]).reshape(-1, 3)
    p[:, 2] += z0 + r0
    keep = ((np.hypot(p[:, 0], p[:, 1]) <= radius - r0) & (p[:, 2] >= z0 + r0 - 1e-12)
            & (p[:, 2] <= z0 + height - r0 + 1e-12))
    p = np.ascontiguousarray(p[keep])
    rad = r0 * rng.uniform(rmin_ratio, 1.0, len(p))
    return p, rad
