"""Radius-expansion packing of the paper specimen: ball counts, porosity, locked-in stress, time.

Prints the ball count rule (``expansion_count`` at the reference's porosity 0.331) against
the reference's counts, then packs the paper preset's cylinder for a few seeds and size
widths and prints, for each: balls, nominal and final porosity, radius scale, the
locked-in Love-Weber stress (mean, axial, lateral) and the wall stress, the unbalanced
force ratio, relaxation steps, overlaps, contacts per ball, floaters, the particle pairs
within the reference's flat-joint installation gap (1.64 mm; the reference has 5.18
contacts per ball) and the CPU and wall time of ``build_specimen``.

    python benchmarks/specimen_packing.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from labquake.sim.config import load_config
from labquake.sim.specimen import build_specimen
from labquake.sim.specimen.packing import REFERENCE_POROSITY, expansion_count

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = [(4.95, 5.05, 1375), (4.90, 5.10, 1374), (4.75, 5.25, 1371), (4.50, 5.50, 1358), (4.25, 5.75, 1348),
             (4.10, 5.90, 1333), (4.00, 6.00, 1321)]
CASES = [(1, 4.0, 6.0), (2, 4.0, 6.0), (3, 4.0, 6.0), (1, 4.5, 5.5), (1, 4.95, 5.05)]


def main() -> None:
    print("ball count at porosity 0.331 (reference count):")
    for a, b, ref in REFERENCE:
        print(f"  {a:.2f}-{b:.2f} mm: {expansion_count(0.02, 0.107, a * 1e-3, b * 1e-3, REFERENCE_POROSITY)} ({ref})")
    for seed, a, b in CASES:
        cfg = load_config(ROOT / "simulations" / "paper.toml")
        cfg["seed"] = seed
        cfg["specimen"]["d_min"], cfg["specimen"]["d_max"] = a * 1e-3, b * 1e-3
        t_cpu, t_wall = time.process_time(), time.perf_counter()
        sp = build_specimen(cfg)
        cpu, wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
        i = sp.info
        pr = cKDTree(sp.positions).query_pairs(0.012, output_type="ndarray")
        gap = np.linalg.norm(sp.positions[pr[:, 0]] - sp.positions[pr[:, 1]], axis=1) - sp.radii[pr].sum(axis=1)
        print(f"seed {seed} {a:.2f}-{b:.2f} mm: balls={sp.n_particles} nominal_porosity={i['nominal_porosity']:.4f} "
              f"porosity={i['porosity']:.4f} radius_scale={i['radius_scale']:.4f} "
              f"locked_in={i['locked_in_stress'] / 1e6:.3f} MPa (axial {i['locked_in_stress_axial'] / 1e6:.2f}, "
              f"lateral {i['locked_in_stress_lateral'] / 1e6:.2f}, walls {i['wall_stress'] / 1e6:.3f}) "
              f"ratio={i['unbalanced_force_ratio']:.1e} steps={i['relaxation_steps']} "
              f"max_overlap={i['packing_max_overlap']:.1e} mean_overlap={i['mean_overlap']:.1e} (radii) "
              f"contacts/ball={i['contacts_per_ball']:.2f} floaters={i['floaters']} "
              f"pairs<=1.64mm/ball={np.count_nonzero(gap <= 1.64e-3) / sp.n_particles:.2f} cpu={cpu:.1f}s wall={wall:.1f}s")


if __name__ == "__main__":
    main()
