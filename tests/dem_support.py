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
