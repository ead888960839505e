"""A seeded synthetic run directory with the statistics of a stick-slip run.

Used by the PFC3D round-trip tests and the import benchmark: it exercises every column
of every table without running the simulator. Fault cracks come in foreshock bursts that
grow towards a mainshock burst (so a KDE segmentation finds episodes), rock cracks are
scattered through the sample, events group consecutive cracks and carry moment tensors
whose magnitudes follow a Gutenberg-Richter law (b ≈ 1), and the monitored contacts have
force, displacement and velocity histories on a full step × contact grid.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from labquake.geometry import FaultPlane
from labquake.io.rundir import RunDirectory


def synthetic_tables(seed: int = 0, n_cracks: int = 2000, n_events: int = 300, n_contacts: int = 20,
                     n_samples: int = 1500, interval: int = 20, dt: float = 1e-7,
                     angle_deg: float = 30.0) -> tuple[dict[str, pd.DataFrame], dict]:
    """The five run-directory tables and the meta.json fields of a synthetic run."""
    rng = np.random.default_rng(seed)
    plane = FaultPlane(angle_deg=angle_deg)
    radius, height = 0.02, 0.107
    total = n_samples * interval

    # --- cracks: foreshock bursts growing towards the mainshock, plus background ---------
    n_fault = int(0.35 * n_cracks)
    n_bursts = 6
    centres = np.sort(rng.uniform(0.12, 0.8, n_bursts - 1)) * total
    centres = np.append(centres, 0.9 * total)
    weights = np.append(rng.uniform(0.5, 1.5, n_bursts - 1), 6.0)
    weights /= weights.sum()
    which = rng.choice(n_bursts, size=n_fault, p=weights)
    fsteps = rng.normal(centres[which], np.where(which == n_bursts - 1, 0.01, 0.006) * total)
    n_rock = n_cracks - n_fault
    rsteps = np.concatenate([rng.uniform(0.05, 0.95, n_rock // 2) * total,
                             rng.normal(centres[rng.integers(0, n_bursts, n_rock - n_rock // 2)], 0.02 * total)])
    steps = np.clip(np.concatenate([fsteps, rsteps]), 1, total - 1).astype(np.int64)
    kind = np.array(["fault"] * n_fault + ["rock"] * n_rock, dtype=object)
    # positions: fault cracks on the plane within the sample, rock cracks in the cylinder
    u = rng.uniform(-1, 1, (n_fault, 2)) * [radius / np.sin(np.deg2rad(angle_deg)) * 0.9, radius * 0.9]
    fpos = plane.from_fault_coords(np.column_stack([u, rng.normal(0, 0.0005, n_fault)]))
    r = radius * np.sqrt(rng.uniform(0, 0.95, n_rock))
    th = rng.uniform(0, 2 * np.pi, n_rock)
    rpos = np.column_stack([r * np.cos(th), r * np.sin(th), rng.uniform(-height / 2, height / 2, n_rock)])
    pos = np.vstack([fpos, rpos])
    nrm = rng.normal(size=(n_cracks, 3))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    nrm[:n_fault] = plane.normal
    order = np.argsort(steps, kind="stable")
    steps, kind, pos, nrm = steps[order], kind[order], pos[order], nrm[order]
    mode = np.where(rng.random(n_cracks) < 0.6, "shear", "tension").astype(object)
    pa_ = rng.integers(0, 1350, n_cracks)
    cracks = pd.DataFrame({
        "crack_id": np.arange(n_cracks, dtype=np.int64), "step": steps, "time": steps * dt,
        "x": pos[:, 0], "y": pos[:, 1], "z": pos[:, 2], "nx": nrm[:, 0], "ny": nrm[:, 1], "nz": nrm[:, 2],
        "size": rng.uniform(0.0015, 0.003, n_cracks), "kind": kind, "mode": mode,
        "particle_a": pa_.astype(np.int64), "particle_b": (pa_ + rng.integers(1, 50, n_cracks)).astype(np.int64),
    })

    # --- events: consecutive cracks grouped, moment tensors with G-R magnitudes ----------
    n_events = min(n_events, n_cracks)
    cuts = np.sort(rng.choice(np.arange(1, n_cracks), size=n_events - 1, replace=False))
    groups = np.split(np.arange(n_cracks), cuts)
    mw = -8.5 + rng.exponential(1 / np.log(10), n_events)  # b = 1
    rows = []
    for i, g in enumerate(groups):
        m0_target = 10 ** (1.5 * (mw[i] + 6.0))
        a = rng.normal(size=(3, 3))
        t = (a + a.T) / 2
        eig = np.linalg.eigvalsh(t)
        t *= m0_target / np.sqrt(np.sum(eig ** 2) / 2)
        eig = np.linalg.eigvalsh(t)
        m0 = float(np.sqrt(np.sum(eig ** 2) / 2))
        p = pos[g].mean(axis=0)
        iso = float(np.trace(t) / 3)
        rows.append((i + 1, int(steps[g].min()), int(steps[g].max()), *p,
                     float(rng.uniform(0.002, 0.008)), m0, (2 / 3) * np.log10(m0) - 6,
                     t[0, 0], t[0, 1], t[0, 2], t[1, 1], t[1, 2], t[2, 2], iso,
                     float(np.sqrt(np.sum((eig - iso) ** 2) / 2)), len(g),
                     bool((kind[g] == "fault").any() and abs(plane.signed_distance(p)[0]) < 0.01)))
    eid = np.zeros(n_cracks, dtype=np.int64)
    for i, g in enumerate(groups):
        eid[g] = i + 1
    cracks["event_id"] = eid  # extra column, as the simulator writes
    events = pd.DataFrame(rows, columns=["event_id", "step_start", "step_end", "x", "y", "z", "radius", "m0",
                                         "mw", "m11", "m12", "m13", "m22", "m23", "m33", "iso", "dev",
                                         "n_cracks", "on_fault"])
    for c in ("event_id", "step_start", "step_end", "n_cracks"):
        events[c] = events[c].astype(np.int64)
    events["n_fault_cracks"] = np.array([int((kind[g] == "fault").sum()) for g in groups], dtype=np.int64)

    # --- monitored contacts on a full step × contact grid ----------------------------
    csteps = np.arange(n_samples, dtype=np.int64) * interval
    ids = np.sort(rng.choice(100_000, size=n_contacts, replace=False)).astype(np.int64)
    u = rng.uniform(-1, 1, (n_contacts, 2)) * [radius * 1.5, radius * 0.8]
    cpos = plane.from_fault_coords(np.column_stack([u, np.zeros(n_contacts)]))
    models = rng.choice(np.array(["smoothjoint", "smoothjoint", "smoothjoint", "flatjoint", "linear"], dtype=object),
                        n_contacts)
    pa_ = rng.integers(0, 1350, n_contacts)
    monitored = pd.DataFrame({"contact_id": ids, "particle_a": pa_.astype(np.int64),
                              "particle_b": (pa_ + 1 + rng.integers(0, 40, n_contacts)).astype(np.int64),
                              "x": cpos[:, 0], "y": cpos[:, 1], "z": cpos[:, 2], "model": models})
    shape = (n_samples, n_contacts)
    fn = np.abs(np.cumsum(rng.normal(0, 20.0, shape), axis=0) + rng.uniform(500, 3000, n_contacts))
    fs = np.abs(np.cumsum(rng.normal(0, 15.0, shape), axis=0) + rng.uniform(100, 1500, n_contacts))
    break_at = np.where(rng.random(n_contacts) < 0.3, rng.integers(0, n_samples, n_contacts), n_samples)
    broken = np.arange(n_samples)[:, None] >= break_at[None, :]
    cols = {"step": np.repeat(csteps, n_contacts), "time": np.repeat(csteps, n_contacts) * dt,
            "contact_id": np.tile(ids, n_samples), "fn": fn.ravel(), "fs": fs.ravel(), "broken": broken.ravel()}
    for side in "ab":
        vel = rng.normal(0, 1e-3, (3, *shape))
        disp = np.cumsum(vel * interval * dt, axis=1)
        disp -= disp[:, :1]
        for k, ax in enumerate("xyz"):
            cols[f"{side}_u{ax}"] = disp[k].ravel()
            cols[f"{side}_v{ax}"] = vel[k].ravel()
    contacts = pd.DataFrame(cols)

    # --- loading curve with stress drops at the bursts ---------------------------------
    lt = csteps
    conf = np.full(n_samples, 150e6)
    diff = 2.4e8 * (lt / total) + 2e6 * rng.normal(size=n_samples)
    for c, w in zip(centres, weights):
        diff -= 3e8 * w * (lt > c)
    diff = np.abs(diff) + 1e6
    strain = 0.02 * lt / total
    loading = pd.DataFrame({
        "step": lt, "time": lt * dt, "axial_stress": diff + conf, "confining_stress": conf,
        "differential_stress": diff, "axial_strain": strain, "volumetric_strain": 0.3 * strain,
        "platen_displacement": strain * height, "fault_slip": np.maximum.accumulate(rng.random(n_samples)) * 1e-4,
        "kinetic_energy": rng.exponential(1e-3, n_samples),
    })
    fault = plane.to_dict()
    fault.update(contact_area=2e-5, cohesion=55e6, friction_angle_deg=30.0, tensile_strength=55e6)
    meta = {"dt": dt, "contact_interval": interval, "fault": fault,
            "sample": {"height": height, "diameter": 2 * radius, "confining_stress": 150e6}}
    tables = {"loading": loading, "cracks": cracks, "events": events, "contacts": contacts, "monitored": monitored}
    return tables, meta


def make_synthetic_run(path: str | os.PathLike, seed: int = 0, **kw) -> RunDirectory:
    """Write a complete synthetic run directory at ``path`` (see :func:`synthetic_tables`)."""
    tables, meta = synthetic_tables(seed, **kw)
    rd = RunDirectory(Path(path))
    rd.start({"seed": seed, "synthetic": {k: v for k, v in kw.items()}}, meta)
    for name, df in tables.items():
        rd.write_table(name, df)
    rd.complete(wall_time_s=0.0, counts={k: len(v) for k, v in tables.items()})
    return rd


#: the size of one run of the reference study (for the import benchmark)
PAPER_SIZE = dict(n_cracks=10_000, n_events=1_000, n_contacts=100, n_samples=40_000)
