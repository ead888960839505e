"""Building saw-cut specimens: packing, fault blocks, bond selection, save/load.

A :class:`Specimen` is the geometric sample that several loading runs can share:

* a dense random packing of spheres in the cylinder (:mod:`labquake.sim.specimen.packing`):
  PFC radius expansion to the reference's ball counts (``specimen.packing =
  "expansion"``, the default) or the no-overlap geometric packer (``"geometric"``);
  ``info`` records the method, porosity and locked-in stress (it goes into meta.json);
* the block label of each particle (``side``: 0 below / 1 above the saw-cut plane, the
  side its centre lies on); pairs whose particles lie on different sides cross the fault
  and interact through the smooth joint.

Bonds are installed by the experiment once the packing is consolidated to the confining
stress (:func:`select_bonds` on the consolidated positions, :func:`bond_strengths` drawn
from the run's seeded generator). Two rules: with ``specimen.installation_gap`` > 0, every
pair of one block within that gap (PFC's flat-joint installation gap; the reference
bonds about 5.2 joints per ball this way) and every pair across the fault within
``max_bond_gap`` (:func:`select_by_installation_gap`); otherwise the closest pairs,
smallest surface gap first, up to the target mean coordination number, never farther apart
than ``max_bond_gap`` mean diameters (:func:`select_bonds`). A pair that crosses the fault
becomes a bonded smooth joint, any other pair a rock bond.

The specimen file is a compressed ``.npz`` written atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labquake.errors import ConfigError, DataFormatError
from labquake.geometry import FaultPlane
from labquake.io.rundir import atomic_write_bytes
from labquake.sim.run_config import RunConfig, as_run_config
from labquake.sim.specimen.packing import (
    Packing,
    contact_stiffness,
    cylinder_solid_fraction,
    love_weber_stress,
    pack_cylinder,
    pack_cylinder_expansion,
    pair_gaps,
)

__all__ = ["Specimen", "build_specimen", "select_bonds", "select_by_installation_gap", "bond_strengths", "gaussian_random_field", "asperity_patches", "save_specimen", "load_specimen",
           "check_matches", "pack_cylinder", "pack_cylinder_expansion"]

_FORMAT = 2


@dataclass(frozen=True)
class Specimen:
    """A packed, fault-cut cylinder (see the module docstring)."""

    positions: np.ndarray  # (N, 3) m, centred at the origin, axis z
    radii: np.ndarray  # (N,) m
    side: np.ndarray  # (N,) int8, 1 on the fault normal's side
    diameter: float
    length: float
    d_min: float
    d_max: float
    fault_angle_deg: float
    seed: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_particles(self) -> int:
        return int(len(self.radii))

    @property
    def solid_fraction(self) -> float:
        return cylinder_solid_fraction(self.radii, 0.5 * self.diameter, self.length)


def select_bonds(
    positions: np.ndarray, radii: np.ndarray, coordination: float, max_gap: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closest pairs, smallest surface gap first, up to a mean ``coordination``.

    Parameters
    ----------
    positions, radii
        The packing.
    coordination
        Target mean number of bonds per particle (2 B / N).
    max_gap
        Largest surface gap (m) that may be bonded; fewer bonds result if the target
        would need wider gaps.

    Returns
    -------
    (i, j, gap)
        Pair indices (i < j) and their surface gaps (m), sorted by (i, j).
    """
    i, j, gap = pair_gaps(np.asarray(positions, float), np.asarray(radii, float), max_gap)
    n_target = int(round(coordination * len(radii) / 2.0))
    i, j, gap = i[:n_target], j[:n_target], gap[:n_target]
    o = np.lexsort((j, i))
    return i[o], j[o], gap[o]


def select_by_installation_gap(
    positions: np.ndarray, radii: np.ndarray, side: np.ndarray, installation_gap: float, fault_max_gap: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs to bond the way PFC installs flat joints: every pair of the same block whose
    surface gap is at most ``installation_gap`` (m), and every pair across the fault whose
    gap is at most ``fault_max_gap`` (m; the smooth joints of the saw-cut).

    Returns
    -------
    (i, j, gap)
        Pair indices (i < j) and their surface gaps (m), sorted by (i, j).
    """
    i, j, gap = pair_gaps(np.asarray(positions, float), np.asarray(radii, float), max(installation_gap, fault_max_gap))
    cross = np.asarray(side)[i] != np.asarray(side)[j]
    keep = np.where(cross, gap <= fault_max_gap, gap <= installation_gap)
    i, j, gap = i[keep], j[keep], gap[keep]
    o = np.lexsort((j, i))
    return i[o], j[o], gap[o]


def build_specimen(config: RunConfig | Mapping[str, Any]) -> Specimen:
    """Pack and cut a specimen from a resolved run config (see :mod:`labquake.sim.config`).

    ``specimen.packing`` chooses the method (:func:`pack_cylinder_expansion` with
    ``porosity``, ``n_particles`` and ``packing_stress``, or :func:`pack_cylinder` with
    ``solid_fraction``). The packing contacts have the engine's contact stiffness (from
    ``rock.modulus``), so the locked-in stress in ``info`` is in Pa. All random draws come
    from a generator seeded with ``config['seed']``.
    """
    config = as_run_config(config)  # validated once; a RunConfig passes through
    s = config.specimen
    rng = np.random.default_rng([int(config.seed), 0x5BEC])
    R = 0.5 * s.diameter
    kn = contact_stiffness(config.rock.modulus, s.d_min, s.d_max)
    packing: Packing
    if s.packing == "expansion":
        packing = pack_cylinder_expansion(rng, R, s.length, s.d_min, s.d_max, kn, porosity=s.porosity,
                                          n_particles=s.n_particles, target_stress=s.packing_stress)
        info = dict(packing.info)
    elif s.packing == "geometric":
        packing = pack_cylinder(rng, R, s.length, s.d_min, s.d_max, solid_fraction=s.solid_fraction)
        sig = love_weber_stress(packing.positions, packing.radii, kn, R, s.length)
        info = {"packing": "geometric", "porosity": 1.0 - packing.solid_fraction, "packing_max_overlap": packing.max_overlap,
                "locked_in_stress": float(np.trace(sig) / 3.0)}
    else:
        raise ConfigError(f"specimen.packing must be 'expansion' or 'geometric', got {s['packing']!r}")
    fault = FaultPlane(angle_deg=config.fault.angle_deg)
    side = (fault.signed_distance(packing.positions) > 0.0).astype(np.int8)
    return Specimen(
        positions=packing.positions, radii=packing.radii, side=side, diameter=float(s.diameter),
        length=float(s.length), d_min=float(s.d_min), d_max=float(s.d_max),
        fault_angle_deg=float(config.fault.angle_deg), seed=int(config.seed), info=info,
    )


def bond_strengths(
    rng: np.random.Generator,
    is_fault: np.ndarray,
    config: RunConfig | Mapping[str, Any],
    contact_points: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-bond tensile strength, cohesion and friction angle, drawn from ``rng``.

    Strengths are Gaussian, ``mean + std * z``, floored at 10 % of the mean (a Gaussian
    tail must not create bonds of zero or negative strength). Fault bonds take the
    ``[fault]`` values, rock bonds the ``[rock]`` values.

    With ``fault.strength_correlation_length`` ℓ > 0 and
    ``fault.strength_correlated_fraction`` ρ > 0, the fault bonds' standard scores are
    ``z = √ρ·g + √(1−ρ)·w``: ``g`` is one Gaussian random field shared by tensile
    strength and cohesion (covariance ``exp(−r²/2ℓ²)`` between the bonds' contact
    points, so strong and weak asperity patches) and ``w`` is independent per bond and
    per strength. The marginal mean and standard deviation of each strength are
    unchanged. ``contact_points`` (``(n_bonds, 3)``, m) is then required.
    """
    config = as_run_config(config)  # validated once; a RunConfig passes through
    fault = np.asarray(is_fault, dtype=bool)
    z = {"tensile_strength": rng.standard_normal(len(fault)), "cohesion": rng.standard_normal(len(fault))}
    ell = float(config.fault.get("strength_correlation_length", 0.0))
    rho = float(config.fault.get("strength_correlated_fraction", 0.0))
    if ell > 0.0 and rho > 0.0 and fault.any():
        if contact_points is None:
            raise ValueError("correlated fault-bond strengths need the bonds' contact points")
        field = gaussian_random_field(rng, np.asarray(contact_points, float)[fault], ell)
        for key in z:
            z[key][fault] = np.sqrt(rho) * field + np.sqrt(1.0 - rho) * z[key][fault]
    out: dict[str, np.ndarray] = {}
    for key in ("tensile_strength", "cohesion"):
        mean = np.where(fault, config.fault[key], config.rock[key])
        std = np.where(fault, config.fault[key + "_std"], config.rock[key + "_std"])
        out[key] = np.maximum(mean + std * z[key], 0.1 * mean)
    out["friction_angle_deg"] = np.where(fault, config.fault.friction_angle_deg, config.rock.friction_angle_deg).astype(float)
    return out


def asperity_patches(rng: np.random.Generator, points: np.ndarray, fraction: float, length: float,
                     area: str = "exact") -> np.ndarray:
    """Which of the fault contacts at ``points`` are bonded (the real contact area).

    With ``length`` > 0 the bonded contacts are the excursion set of a Gaussian random
    field (:func:`gaussian_random_field`), so they form patches of about that size; with
    ``length`` 0 the score is uniform and independent per contact. ``area`` sets the level:

    * ``"exact"``: the level that keeps ``round(fraction · n)`` contacts, the same share in
      every realisation;
    * ``"random"``: the fixed level Φ⁻¹(1 − ``fraction``) of the unit-variance field (a
      contact is bonded with probability ``fraction`` for ``length`` 0), so ``fraction``
      is the expected share and the realised share varies from draw to draw, as a real
      contact area does: with few correlation areas on the fault, widely (on the paper
      specimen, 168 fault contacts and ℓ = 8 mm, a share of 0.45 ± 0.15).

    ``fraction`` 1 bonds all (and draws nothing).
    """
    if area not in ("exact", "random"):
        raise ValueError(f"area must be 'exact' or 'random', got {area!r}")
    n = len(points)
    keep = int(round(fraction * n))
    if fraction >= 1.0 or (area == "exact" and keep >= n):
        return np.ones(n, dtype=bool)
    score = gaussian_random_field(rng, points, length) if length > 0.0 else rng.random(n)
    if area == "random":
        from scipy.special import ndtri

        return score > (ndtri(1.0 - fraction) if length > 0.0 else 1.0 - fraction)
    mask = np.zeros(n, dtype=bool)
    mask[np.argsort(-score, kind="stable")[:keep]] = True
    return mask


def gaussian_random_field(rng: np.random.Generator, points: np.ndarray, length: float) -> np.ndarray:
    """One draw of a zero-mean, unit-variance Gaussian field at ``points`` with the
    covariance ``exp(−|x−y|²/2ℓ²)``.

    Drawn from a pivoted Cholesky factor L of the covariance matrix (L Lᵀ equals it to
    within 1e-12 on the diagonal; r = rank columns) as L z with z the first r of
    ``len(points)`` standard normals, which suits the few hundred fault bonds. Computed in
    strict IEEE arithmetic in numba (:mod:`labquake.sim.specimen._field`), not by LAPACK/BLAS,
    so the field has the same bits on every CPU.
    """
    from labquake.sim.specimen._field import gaussian_field_draw

    pts = np.asarray(points, dtype=float)
    return gaussian_field_draw(pts, length, rng.standard_normal(len(pts)))


_ARRAYS = ("positions", "radii", "side")
_SCALARS = ("diameter", "length", "d_min", "d_max", "fault_angle_deg", "seed")


def save_specimen(specimen: Specimen, path: str | os.PathLike) -> Path:
    """Write the specimen to a compressed ``.npz`` file, atomically."""
    import json

    buf = io.BytesIO()
    payload = {k: getattr(specimen, k) for k in _ARRAYS}
    payload.update({k: np.asarray(getattr(specimen, k)) for k in _SCALARS})
    payload["format"] = np.asarray(_FORMAT)
    payload["info_json"] = np.asarray(json.dumps(specimen.info))
    np.savez_compressed(buf, **payload)
    return atomic_write_bytes(path, buf.getvalue())


def load_specimen(path: str | os.PathLike) -> Specimen:
    """Read a specimen written by :func:`save_specimen`."""
    import json

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format"]) != _FORMAT:
                raise DataFormatError(f"{path}: specimen format {int(z['format'])}, expected {_FORMAT}; rebuild the specimen")
            arrays = {k: np.array(z[k]) for k in _ARRAYS}
            scalars = {k: z[k].item() for k in _SCALARS}
            info = json.loads(str(z["info_json"]))
    except FileNotFoundError:
        raise ConfigError(f"specimen file {path} not found; fix specimen.file or set it to \"\" to build one") from None
    except (KeyError, ValueError, OSError) as exc:
        raise DataFormatError(f"{path}: not a labquake specimen file ({type(exc).__name__}: {exc})") from None
    arrays["side"] = arrays["side"].astype(np.int8)
    scalars["seed"] = int(scalars["seed"])
    return Specimen(**arrays, **{k: (float(v) if k != "seed" else v) for k, v in scalars.items()}, info=info)


def check_matches(specimen: Specimen, config: RunConfig | Mapping[str, Any], source: str = "specimen file") -> None:
    """Raise :class:`ConfigError` if a loaded specimen's geometry differs from the config's."""
    config = as_run_config(config)  # validated once; a RunConfig passes through
    s = config.specimen
    for key in ("diameter", "length", "d_min", "d_max"):
        if not np.isclose(getattr(specimen, key), s[key], rtol=1e-9, atol=0.0):
            raise ConfigError(
                f"{source} has {key}={getattr(specimen, key)} but the config says specimen.{key}={s[key]}; "
                "make them equal or build a new specimen"
            )
    if not np.isclose(specimen.fault_angle_deg, config.fault.angle_deg):
        raise ConfigError(
            f"{source} was cut at {specimen.fault_angle_deg} deg but the config says fault.angle_deg="
            f"{config['fault']['angle_deg']}; make them equal or build a new specimen"
        )
