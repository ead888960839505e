"""The engine of a run: derived quantities of a config, the engine built on a specimen, and
its bonds installed (flat joints / parallel bonds in the rock, smooth joints on the fault).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from labquake.geometry import FaultPlane
from labquake.io.rundir import dumps_toml
from labquake.sim.run_config import RunConfig, as_run_config
from labquake.sim.specimen import (
    Specimen,
    asperity_patches,
    bond_strengths,
    select_bonds,
    select_by_installation_gap,
)
from labquake.sim.specimen.packing import pair_gaps


def _p4(x: float) -> float:
    """x⁴ by two products (not ``**``, which is libm's pow: not the same bits on every CPU)."""
    x2 = x * x
    return x2 * x2


# --------------------------------------------------------------------------------------
# Derived quantities
# --------------------------------------------------------------------------------------


def derived_quantities(config: RunConfig | Mapping[str, Any]) -> dict[str, float]:
    """Contact stiffnesses, wave speeds and the quasi-static measures implied by a config.

    * contact normal stiffness ``kn = E* pi r^2 / (2 r)`` (PFC's ``emod`` deformability with
      the mean radius r), bond normal stiffness per area ``E* / (2 r)``;
    * P-wave speed of the bonded lattice ``v_p = d sqrt(k_total / m)`` (mean diameter d,
      mean mass m with density scaling, k_total = bond normal stiffness, plus the contact's
      for parallel bonds);
      shear-wave speed ``v_s = v_p / sqrt(kn/ks)``;
    * inertial number ``I = eps_dot d sqrt(rho / sigma_3)`` with ``eps_dot = v / L``.
    """
    config = as_run_config(config)  # validated once; a RunConfig passes through
    s, r, ld, e = config.specimen, config.rock, config.loading, config.engine
    d = 0.5 * (s.d_min + s.d_max)
    rm = 0.5 * d
    kn = r.modulus * math.pi * rm * rm / (2.0 * rm)
    kn_pa = r.modulus / (2.0 * rm)
    bond_area = math.pi * (r.radius_multiplier * rm) * (r.radius_multiplier * rm)
    # a flat joint replaces the contact; a parallel bond acts beside it
    k_total = kn_pa * bond_area + (0.0 if r.bond_model == "flat_joint" else kn)
    # mean particle mass: E[d^3] for d uniform in [d_min, d_max]
    if s.d_max > s.d_min:
        ed3 = (_p4(s.d_max) - _p4(s.d_min)) / (4.0 * (s.d_max - s.d_min))
    else:
        ed3 = s.d_min * s.d_min * s.d_min
    rho = s.density * e.density_scale
    m = rho * math.pi / 6.0 * ed3
    vp = d * math.sqrt(k_total / m)
    vs = vp / math.sqrt(r.stiffness_ratio)
    strain_rate = ld.platen_velocity / s.length
    inertial = strain_rate * d * math.sqrt(rho / ld.confining_stress)
    return {
        "mean_diameter": d, "kn": kn, "ks": kn / r.stiffness_ratio, "bond_kn_per_area": kn_pa,
        "bond_ks_per_area": kn_pa / r.stiffness_ratio, "p_wave_speed": vp, "s_wave_speed": vs,
        "strain_rate": strain_rate, "inertial_number": inertial,
        "platen_speed_over_p_wave_speed": ld.platen_velocity / vp,
    }


def parallel_min_pairs(n_threads: int) -> int:
    """The engine's ``parallel_min_pairs`` for ``n_threads`` engine threads.

    Always 0: ``--threads N`` with N > 1 *forces* the threaded pair-force path whatever the
    number of pairs, and with one thread the engine runs its serial kernel whatever this
    value (the choice is made by the thread count alone). The engine's own default (20 000 pairs) is
    above the pair count of every shipped preset (the paper specimen has a few thousand),
    so without this ``--threads`` changed nothing. The tables do not depend on the choice:
    forces are computed per pair in parallel and reduced per particle in a fixed order
    (``tests/test_threads.py`` checks 1 against 2 threads on the paper specimen).
    """
    del n_threads  # the thread count alone decides; kept for a future measured threshold
    return 0


def build_engine(config: RunConfig | Mapping[str, Any], specimen: Specimen, n_threads: int = 1):
    """Construct the engine for a specimen, unbonded, with the consolidation settings.

    ``n_threads > 1`` forces the threaded force path (see :func:`parallel_min_pairs`).
    """
    config = as_run_config(config)  # validated once; a RunConfig passes through
    from labquake.sim import dem
    s, r, f, ld, e = (config[k] for k in ("specimen", "rock", "fault", "loading", "engine"))
    dq = derived_quantities(config)
    fault = FaultPlane(angle_deg=f.angle_deg)
    contact = dem.LinearContact(kn=dq["kn"], ks=dq["ks"], mu=r.friction, damping_ratio=e.damping_ratio,
                                rolling_mu=r.rolling_friction)
    if r.bond_model == "flat_joint":
        bond = dem.FlatJoint(modulus=r.modulus, stiffness_ratio=r.stiffness_ratio,
                             radius_multiplier=r.radius_multiplier, residual_mu=r.residual_friction,
                             n_radial=r.radial_elements, n_circumferential=r.circumferential_elements)
    else:
        bond = dem.RockBond(kn_per_area=dq["bond_kn_per_area"], ks_per_area=dq["bond_ks_per_area"],
                            radius_multiplier=r.radius_multiplier, residual_mu=r.residual_friction,
                            moment_factor=r.moment_factor)
    joint = dem.SmoothJoint(normal=tuple(fault.normal), kn_per_area=f.kn_per_area, ks_per_area=f.ks_per_area,
                            residual_mu=f.residual_friction, area=f.contact_area, healing=dem.fault_healing(f))
    kw = ld.wall_stiffness_factor * dq["kn"]
    half = 0.5 * specimen.length
    platens = dem.Platens(z_bottom=-half, z_top=half, kn=kw, mode="servo", target_stress=ld.confining_stress,
                          servo_gain=ld.servo_gain, friction=ld.platen_friction)
    cyl = dem.ConfiningCylinder(radius=0.5 * specimen.diameter, kn=kw, target_stress=ld.confining_stress,
                                servo_gain=ld.servo_gain, mode=ld.confinement)
    eng = dem.Engine(specimen.positions, specimen.radii, s.density, contact, bond=bond, joint=joint,
                     side=specimen.side, platens=platens, cylinder=cyl, dt=(e.dt or None), dt_safety=e.dt_safety,
                     local_damping=e.consolidation_local_damping, density_scale=e.density_scale, n_threads=n_threads,
                     parallel_min_pairs=parallel_min_pairs(n_threads))
    return eng


def install_specimen_bonds(eng: Any, config: RunConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Bond the packing: every pair within the installation gap (``specimen.installation_gap``
    > 0, PFC's way), or the closest pairs up to the target coordination number.

    The experiment bonds the stress-free packing and then consolidates it (as PFC
    bonded-particle models are prepared), so that the bonds carry their share of the
    confining load: bonds installed at 150 MPa with zero force break in tension as soon
    as the sample dilates laterally under axial load, although their contacts stay in
    compression (a flat joint would carry that compression itself). Strengths are drawn
    from a generator seeded with the run's seed. Returns a summary for meta.json: the
    reference's coordination number (contacts per ball: bonded pairs and touching pairs)
    and bonds per ball among it.
    """
    config = as_run_config(config)  # validated once; a RunConfig passes through
    s = config.specimen
    pos = np.asarray(eng.positions)
    rad = np.asarray(eng.radii)
    side = np.asarray(eng.side)
    d_mean = 0.5 * (s.d_min + s.d_max)
    if s.installation_gap > 0.0:
        bi, bj, gap = select_by_installation_gap(pos, rad, side, s.installation_gap * d_mean, s.max_bond_gap * d_mean)
    else:
        bi, bj, gap = select_bonds(pos, rad, s.coordination, s.max_bond_gap * d_mean)
    is_fault = side[bi] != side[bj]
    contact_points = pos[bi] + (pos[bj] - pos[bi]) * (rad[bi] / (rad[bi] + rad[bj]))[:, None]
    n_fault_contacts = int(np.count_nonzero(is_fault))
    f = config.fault
    if f.bonded_fraction < 1.0:
        patches = asperity_patches(np.random.default_rng([int(config.seed), 0xA5BE]), contact_points[is_fault],
                                   f.bonded_fraction, f.strength_correlation_length, f.bonded_area)
        keep = ~is_fault
        keep[np.flatnonzero(is_fault)[patches]] = True
        bi, bj, gap, is_fault, contact_points = bi[keep], bj[keep], gap[keep], is_fault[keep], contact_points[keep]
    rng = np.random.default_rng([int(config.seed), 0xB0D])
    st = bond_strengths(rng, is_fault, config, contact_points)
    n = eng.install_bonds(bi, bj, st["tensile_strength"], st["cohesion"], st["friction_angle_deg"],
                          max_gap=max(s.installation_gap, s.max_bond_gap) * d_mean * 1.000001)
    ti, tj, _ = pair_gaps(pos, rad, 0.0)  # touching pairs
    bonded_keys = set(zip(bi.tolist(), bj.tolist()))
    n_contacts = int(n) + sum((int(a), int(b)) not in bonded_keys for a, b in zip(np.minimum(ti, tj), np.maximum(ti, tj)))
    return {"n_bonds": int(n), "balls": int(len(rad)), "contacts_per_ball": n_contacts / len(rad),
            "bonds_per_ball": int(n) / len(rad), "bond_model": config.rock.bond_model,
            "installation_gap_m": float(s.installation_gap * d_mean), "n_fault_bonds": int(np.count_nonzero(is_fault)), "n_rock_bonds": int(np.count_nonzero(~is_fault)),
            "n_fault_contacts_bondable": n_fault_contacts,
            "coordination": 2.0 * n / len(rad), "largest_bonded_gap_m": float(gap.max()) if len(gap) else 0.0,
            "touching_fraction": float(np.mean(gap <= 0.0)) if len(gap) else 0.0}


def _set_local_damping(eng: Any, alpha: float) -> None:
    """Change the engine's local damping between stages (consolidation -> axial loading)."""
    eng.set_damping(local_damping=alpha)

def _roundtrip(cfg: Mapping[str, Any]) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(dumps_toml(cfg))
