"""Helpers shared by tests that need a synthetic run directory with monitored contacts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labquake.io.rundir import RunDirectory, empty_table


def write_monitored_run(path: Path, steps: np.ndarray, fn: np.ndarray, fs: np.ndarray, broken: np.ndarray,
                        config: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None,
                        positions: np.ndarray | None = None, models: list[str] | None = None) -> RunDirectory:
    """A complete run directory whose ``contacts`` table holds contact k's ``fn[k]``,
    ``fs[k]`` and ``broken[k]`` at ``steps`` (particle motions zero) and whose
    ``monitored`` table places contact k at ``positions[k]`` (default 1 mm on each axis)
    with the contact model ``models[k]`` (default ``smoothjoint``)."""
    run = RunDirectory(path)
    run.start(config or {"seed": 1}, meta=meta)
    n_c, n_s = fn.shape
    df = empty_table("contacts").reindex(range(n_c * n_s))
    df["step"] = np.tile(steps, n_c).astype(np.int64)
    df["time"] = df["step"] * 1e-8
    df["contact_id"] = np.repeat(np.arange(n_c), n_s).astype(np.int64)
    df["fn"], df["fs"], df["broken"] = fn.ravel(), fs.ravel(), broken.ravel()
    for c in df.columns:
        if c[0] in "ab" and c[1] == "_":
            df[c] = 0.0
    run.write_table("contacts", df)
    mon = empty_table("monitored").reindex(range(n_c))
    mon["contact_id"] = np.arange(n_c, dtype=np.int64)
    mon["particle_a"], mon["particle_b"] = mon["contact_id"], mon["contact_id"] + n_c
    pos = np.full((n_c, 3), 0.001) if positions is None else np.asarray(positions, dtype=float)
    mon["x"], mon["y"], mon["z"] = pos[:, 0], pos[:, 1], pos[:, 2]
    mon["model"] = ["smoothjoint"] * n_c if models is None else list(models)
    run.write_table("monitored", mon)
    run.complete()
    return run
