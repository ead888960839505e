"""Helpers shared by the engine tests."""

from __future__ import annotations

import numpy as np


def run_collect(eng, chunks: int, size: int) -> dict[str, np.ndarray]:
    """Run ``eng`` for ``chunks`` × ``size`` steps, popping the cracks after each chunk;
    returns the crack records concatenated."""
    parts = []
    for _ in range(chunks):
        eng.run(size)
        parts.append(eng.pop_cracks())
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def saw_cut_pack(normal, seed: int = 7):
    """A small jittered fcc cylinder (radius 4 mm, height 12 mm, grains 0.75 mm) centred
    on the origin, cut by the plane through the centre with ``normal``: positions, radii
    and each particle's side (0/1) of the cut."""
    from labquake.sim.dem.lattice import fcc_cylinder

    rng = np.random.default_rng(seed)
    rad_s, h, r0 = 4e-3, 12e-3, 0.75e-3
    pos, rad = fcc_cylinder(rad_s, h, r0, rng, rmin_ratio=0.9)
    pos += rng.normal(0.0, 0.01 * r0, pos.shape)
    pos[:, 2] -= h / 2
    side = (pos @ np.asarray(normal) > 0).astype(np.int8)
    return pos, rad, side
