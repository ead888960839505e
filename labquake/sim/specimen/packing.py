"""Dense random packings of polydisperse spheres in a cylinder: two methods.

``"expansion"`` (:func:`pack_cylinder_expansion`, the default) is PFC's material genesis
(Potyondy & Cundall 2004, steps 1-2): the number of balls follows from a target porosity
(the reference's rule, see :func:`expansion_count`); they are placed at random inside the
cylinder at half size, overlaps allowed, their radii are expanded to the drawn sizes while
a frictionless linear-contact assembly with rigid walls relaxes under PFC local damping,
and then all radii are scaled by one common factor, servo-controlled, until the
isotropic (Love-Weber) stress equals a low target ``σ0`` and the assembly is at rest. That
last step is needed: the reference's 1321 balls of 4-6 mm fill 66.9 % of the 40 x 107 mm
cylinder by nominal volume, while a frictionless random packing against its curved wall
jams at ~60 %; at the drawn sizes the relaxed assembly would hold ~3.5 GPa (mean overlap
4 % of a radius). Scaling the radii by ~0.96 removes it and keeps the ball count and the
walls. The relaxation itself is the numba kernel of :mod:`labquake.sim.specimen._relax`.

``"geometric"`` (:func:`pack_cylinder`) is purely geometric, with no overlaps: radius
growth with overlap relaxation (Lubachevsky-Stillinger-like, done quasi-statically):
particles are placed uniformly at random at a fraction of their final size, then their
radii are grown in stages, and after each stage the overlap energy

    U = sum_pairs max(0, r_i + r_j - |x_i - x_j|)^2 + sum_i (wall penetration_i)^2

is minimised over the positions with L-BFGS (:func:`scipy.optimize.minimize`). Neighbour
pairs come from :class:`scipy.spatial.cKDTree`. At the final size the residual overlaps
are a small fraction of a particle radius; the engine's consolidation removes them. It
jams at a solid fraction of ~0.58 in the paper's cylinder (~1150 balls).

Either way the experiment consolidates the packing mechanically in the DEM engine
afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.spatial import cKDTree

from labquake.sim.dem.exactmath import cos_sin_array
from labquake.sim.dem.exactmath import hypot as _hypot
from labquake.errors import ConfigError


def _p4(x: float) -> float:
    """x⁴ by two products (not ``**``, which is libm's pow: not the same bits on every CPU)."""
    x2 = x * x
    return x2 * x2


def cylinder_solid_fraction(radii: np.ndarray, cylinder_radius: float, length: float) -> float:
    """Volume of the spheres over the volume of the cylinder they fill."""
    r = np.asarray(radii, dtype=float)
    v = 4.0 / 3.0 * np.pi * np.sum(r * r * r)
    return float(v / (np.pi * (cylinder_radius * cylinder_radius) * length))


@dataclass(frozen=True)
class Packing:
    """A packing of spheres in a cylinder of ``radius`` and ``length`` centred at the origin."""

    positions: np.ndarray  # (N, 3) m
    radii: np.ndarray  # (N,) m
    cylinder_radius: float
    length: float
    max_overlap: float  # largest residual overlap, as a fraction of the mean radius
    info: dict[str, Any] = field(default_factory=dict)  # method, porosity, locked-in stress, ...

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
    mean_v = (np.pi / 6.0 * (_p4(d_max) - _p4(d_min)) / (4.0 * (d_max - d_min)) if d_max > d_min
              else np.pi / 6.0 * d_min * d_min * d_min)
    n_guess = int(np.ceil(1.2 * target / mean_v)) + 10
    d = rng.uniform(d_min, d_max, size=n_guess)
    v = np.cumsum(np.pi / 6.0 * (d * d * d))
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
    rho = _hypot(pos[:, 0], pos[:, 1])
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
    volume = np.pi * (cylinder_radius * cylinder_radius) * length
    radii = draw_radii(rng, d_min, d_max, volume, solid_fraction)
    n = len(radii)
    # uniform random initial positions inside the cylinder
    u = rng.random(n)
    th = rng.uniform(0.0, 2.0 * np.pi, n)
    rho = np.sqrt(u) * np.maximum(cylinder_radius - radii, 0.0)
    z = rng.uniform(-0.5 * length + radii, 0.5 * length - radii)
    cth, sth = cos_sin_array(th)  # not numpy/libm: the same bits on every CPU
    pos = np.column_stack([rho * cth, rho * sth, z])

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
    rho = _hypot(pos[:, 0], pos[:, 1])
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


# --------------------------------------------------------------------------------------
# Radius expansion (PFC material genesis)
# --------------------------------------------------------------------------------------

#: The reference's 27 ball counts (ye2024.md §2) over the size widths 4.95-5.05 mm to
#: 4.00-6.00 mm all fill 0.669 ± 0.001 of the 40 x 107 mm cylinder by nominal ball volume
#: (diameters uniform in [d_min, d_max]): a constant porosity of 0.331.
REFERENCE_POROSITY = 0.331


def mean_ball_volume(d_min: float, d_max: float) -> float:
    """Expected volume (m³) of a sphere whose diameter is uniform in [d_min, d_max]."""
    if d_max > d_min:
        ed3 = (_p4(d_max) - _p4(d_min)) / (4.0 * (d_max - d_min))
    else:
        ed3 = d_min * d_min * d_min
    return math.pi / 6.0 * ed3


def expansion_count(cylinder_radius: float, length: float, d_min: float, d_max: float, porosity: float) -> int:
    """Number of balls that fill the cylinder to ``porosity`` by nominal ball volume.

    ``N = round((1 − porosity) · V / E[v])`` with V the cylinder volume and E[v] the mean
    ball volume (:func:`mean_ball_volume`), as PFC derives a ball count from a porosity.
    With :data:`REFERENCE_POROSITY` it gives the reference's counts within 0.3 %: 1322
    for 4.00-6.00 mm (reference 1321) and 1375 for 4.95-5.05 mm (1375).
    """
    volume = math.pi * (cylinder_radius * cylinder_radius) * length
    return int(round((1.0 - porosity) * volume / mean_ball_volume(d_min, d_max)))


def contact_stiffness(modulus: float, d_min: float, d_max: float) -> float:
    """Linear normal contact stiffness ``kn = E* π r / 2`` (N/m) at the mean radius r.

    The same deformability as the engine's particle contacts
    (:func:`labquake.sim.experiment.derived_quantities`), so packing stresses are in Pa.
    """
    r = 0.25 * (d_min + d_max)
    return modulus * math.pi * r / 2.0


def _contacts(positions: np.ndarray, radii: np.ndarray, cylinder_radius: float, length: float):
    """Touching particle pairs and wall contacts: (i, j, overlap, branch) and per-wall arrays."""
    pos = np.asarray(positions, float)
    rad = np.asarray(radii, float)
    pr = cKDTree(pos).query_pairs(2.0 * float(rad.max()), output_type="ndarray")
    i = pr[:, 0].astype(np.int64) if len(pr) else np.zeros(0, np.int64)
    j = pr[:, 1].astype(np.int64) if len(pr) else np.zeros(0, np.int64)
    branch = pos[j] - pos[i]
    dist = np.linalg.norm(branch, axis=1)
    ov = rad[i] + rad[j] - dist
    m = ov > 0.0
    rho = _hypot(pos[:, 0], pos[:, 1])
    half = 0.5 * length
    walls = {
        "lateral": np.maximum(rho + rad - cylinder_radius, 0.0),
        "top": np.maximum(pos[:, 2] + rad - half, 0.0),
        "bottom": np.maximum(-pos[:, 2] + rad - half, 0.0),
    }
    return i[m], j[m], ov[m], branch[m], dist[m], rho, walls


def love_weber_stress(
    positions: np.ndarray, radii: np.ndarray, kn: float, cylinder_radius: float, length: float
) -> np.ndarray:
    """Average stress (Pa, compression positive) of a frictionless linear-contact packing.

    Love-Weber over the sample volume V = π R² L:
    ``σ = (1/V) Σ_p Σ_{c ∈ p} (x_c − x_p) ⊗ f_c``, which for a particle pair is
    ``f ⊗ (x_j − x_i)`` with the normal force ``f = kn · overlap`` and for a wall contact
    ``f ⊗ (x_w − x_p)`` with ``x_w`` the foot of the centre on the wall (the sample
    volume ends at the walls). Every contact (walls included) has stiffness ``kn`` and no
    shear force.

    Returns
    -------
    numpy.ndarray
        The (3, 3) stress tensor.
    """
    pos = np.asarray(positions, float)
    rad = np.asarray(radii, float)
    i, j, ov, branch, dist, rho, walls = _contacts(pos, rad, cylinder_radius, length)
    sig = np.einsum("c,ci,cj->ij", kn * ov / np.maximum(dist, 1e-300), branch, branch)
    pen = walls["lateral"]
    w = pen > 0.0
    n = np.column_stack([pos[w, 0] / rho[w], pos[w, 1] / rho[w], np.zeros(int(w.sum()))])
    sig += np.einsum("c,ci,cj->ij", kn * pen[w] * (rad[w] - pen[w]), n, n)
    for key in ("top", "bottom"):
        pen = walls[key]
        sig[2, 2] += float(np.sum(kn * pen * (rad - pen)))
    return sig / (math.pi * (cylinder_radius * cylinder_radius) * length)


def wall_stresses(
    positions: np.ndarray, radii: np.ndarray, kn: float, cylinder_radius: float, length: float
) -> dict[str, float]:
    """Stresses (Pa) on the rigid walls: force over wall area.

    ``axial`` = mean platen force / (π R²), ``lateral`` = total radial force on the
    cylinder / (2 π R L), ``mean`` = (axial + 2 lateral) / 3. At rest these equal the
    Love-Weber stresses (:func:`love_weber_stress`): each particle's equilibrium turns
    the sum over contacts into the sum over the boundary.
    """
    pos = np.asarray(positions, float)
    rad = np.asarray(radii, float)
    walls = _contacts(pos, rad, cylinder_radius, length)[-1]
    axial = 0.5 * kn * (walls["top"].sum() + walls["bottom"].sum()) / (math.pi * (cylinder_radius * cylinder_radius))
    lateral = kn * walls["lateral"].sum() / (2.0 * math.pi * cylinder_radius * length)
    return {"axial": float(axial), "lateral": float(lateral), "mean": float((axial + 2.0 * lateral) / 3.0)}


def pack_cylinder_expansion(
    rng: np.random.Generator,
    cylinder_radius: float,
    length: float,
    d_min: float,
    d_max: float,
    kn: float,
    porosity: float = REFERENCE_POROSITY,
    n_particles: int = 0,
    target_stress: float = 5e6,
    stress_tol: float = 0.1,
    ratio_tol: float = 1e-3,
    start_scale: float = 0.5,
    grow_steps: int = 3000,
    max_steps: int = 400_000,
    local_damping: float = 0.7,
) -> Packing:
    """Pack the cylinder by PFC radius expansion (see the module docstring).

    Parameters
    ----------
    rng
        The seeded generator: diameters (uniform in [d_min, d_max]) and initial positions
        (uniform in the cylinder) are drawn from it, nothing else is random.
    cylinder_radius, length
        Cylinder size (m); the axis is z and the cylinder is centred at the origin.
    d_min, d_max
        Diameter range (m) of the drawn sizes.
    kn
        Normal stiffness (N/m) of the frictionless contacts and walls; it sets the stress
        scale only (the relaxed positions of equal linear springs do not depend on it).
    porosity
        Nominal porosity at the drawn sizes; gives the ball count by
        :func:`expansion_count`. The default is the reference's (0.331).
    n_particles
        Exact ball count instead (0: from ``porosity``).
    target_stress
        The locked-in isotropic stress σ0 (Pa) the radius servo aims at.
    stress_tol, ratio_tol
        Done when the Love-Weber mean stress is within ``stress_tol`` · σ0 of σ0 and
        PFC's mean unbalanced-force ratio (mean |unbalanced force| over mean contact
        force) is below ``ratio_tol``. If the balls cannot reach σ0 at their drawn size
        (a loose count), the radius scale stays 1 and only the ratio is required.
    start_scale, grow_steps
        Radii start at ``start_scale`` times their drawn size and grow linearly to it
        over ``grow_steps`` steps.
    max_steps
        Step limit; ``info["converged"]`` says whether the criteria were met.
    local_damping
        PFC local damping coefficient α.

    Returns
    -------
    Packing
        ``info`` holds the method, the counts, the nominal and final porosity, the radius
        scale, the locked-in stress (Love-Weber tensor components and mean, and the wall
        stresses), the overlaps, contacts per ball, floaters (< 3 contacts), steps and the
        unbalanced-force ratio.
    """
    from labquake.sim.specimen import _relax

    if not (0 < d_min <= d_max):
        raise ConfigError(f"need 0 < d_min <= d_max, got d_min={d_min}, d_max={d_max}")
    if d_max > min(2 * cylinder_radius, length) / 3.0:
        raise ConfigError(
            f"particles too large for the sample: d_max={d_max} m but the sample is "
            f"{2 * cylinder_radius} m wide and {length} m long; use d_max <= one third of the width"
        )
    if not (0.25 <= porosity <= 0.5):
        raise ConfigError(f"specimen.porosity must lie in [0.25, 0.5], got {porosity}")
    if n_particles < 0:
        raise ConfigError(f"specimen.n_particles must be >= 0 (0 = from the porosity), got {n_particles}")
    if not target_stress > 0.0:
        raise ConfigError(f"specimen.packing_stress must be > 0 Pa, got {target_stress}")
    n = int(n_particles) or expansion_count(cylinder_radius, length, d_min, d_max, porosity)
    volume = math.pi * (cylinder_radius * cylinder_radius) * length
    half = 0.5 * length
    radii = 0.5 * rng.uniform(d_min, d_max, size=n)
    u = rng.random(n)
    th = rng.uniform(0.0, 2.0 * math.pi, n)
    rho = np.sqrt(u) * (cylinder_radius - start_scale * radii)
    z = rng.uniform(-half + start_scale * radii, half - start_scale * radii)
    cth, sth = cos_sin_array(th)  # not numpy/libm: the same bits on every CPU
    pos = np.ascontiguousarray(np.column_stack([rho * cth, rho * sth, z]))
    vel = np.zeros_like(pos)
    frc = np.zeros_like(pos)
    r_mean = float(radii.mean())
    skin = 0.2 * r_mean
    # unit masses and stiffnesses: with up to Z = 12 contacts a ball's highest frequency is
    # about sqrt(2 Z / 3), so the stability limit 2 / omega is ~0.7
    dt = 0.4
    state: dict[str, Any] = {"pairs": None, "x0": None, "steps": 0}

    def rebuild() -> None:
        pr = cKDTree(pos).query_pairs(2.0 * float(radii.max()) + skin, output_type="ndarray")
        pr = pr[np.lexsort((pr[:, 1], pr[:, 0]))] if len(pr) else np.zeros((0, 2), np.int64)
        i, j = pr[:, 0].astype(np.int64), pr[:, 1].astype(np.int64)
        keep = np.linalg.norm(pos[j] - pos[i], axis=1) < radii[i] + radii[j] + skin
        state["pairs"] = (np.ascontiguousarray(i[keep]), np.ascontiguousarray(j[keep]))
        state["x0"] = pos.copy()

    def advance(n_steps: int, scale0: float, dscale: float) -> None:
        done = 0
        while done < n_steps:
            if state["pairs"] is None:
                rebuild()
            pi, pj = state["pairs"]
            k = _relax.run(pos, vel, radii, scale0 + dscale * done, dscale, pi, pj, cylinder_radius, half, dt,
                           local_damping, n_steps - done, state["x0"], 0.5 * skin, frc)
            done += k
            if done < n_steps:
                state["pairs"] = None
        state["steps"] += n_steps

    # 1. expansion from the reduced radii to the drawn ones
    advance(grow_steps, start_scale, (1.0 - start_scale) / grow_steps)
    # 2. relaxation at rest, radius servo to the locked-in stress sigma0
    scale = 1.0
    chunk, gain, max_ds = 100, 0.2, 1e-3
    converged = False
    ratio = p = 0.0
    while state["steps"] < max_steps:
        advance(chunk, scale, 0.0)
        if state["pairs"] is None:
            rebuild()
        pi, pj = state["pairs"]
        fsum, nc = _relax.forces(pos, radii, scale, pi, pj, cylinder_radius, half, frc)
        ratio = float(_relax.unbalanced_ratio(frc, fsum, nc))
        w, dw = _relax.virial(pos, radii, scale, pi, pj, cylinder_radius, half)
        p = kn * w / (3.0 * volume)
        loose = scale >= 1.0 and p < target_stress
        if ratio < ratio_tol and (loose or abs(p / target_stress - 1.0) <= stress_tol):
            converged = True
            break
        if dw > 0.0:
            ds = -gain * (p - target_stress) / (kn * dw / (3.0 * volume))
            scale = min(1.0, scale + max(-max_ds, min(max_ds, ds)))
    final = radii * scale
    sig = love_weber_stress(pos, final, kn, cylinder_radius, length)
    walls = wall_stresses(pos, final, kn, cylinder_radius, length)
    i, j, ov, _, _, _, wall_pen = _contacts(pos, final, cylinder_radius, length)
    per = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    per += sum((v > 0.0).astype(np.int64) for v in wall_pen.values())
    all_ov = np.concatenate([ov] + [v[v > 0.0] for v in wall_pen.values()])
    r_final = float(final.mean())
    max_ov = float(all_ov.max(initial=0.0) / r_final)
    info = {
        "packing": "expansion",
        "n_particles": n,
        "nominal_porosity": 1.0 - cylinder_solid_fraction(radii, cylinder_radius, length),
        "porosity": 1.0 - cylinder_solid_fraction(final, cylinder_radius, length),
        "radius_scale": float(scale),
        "locked_in_stress": float(np.trace(sig) / 3.0),
        "locked_in_stress_axial": float(sig[2, 2]),
        "locked_in_stress_lateral": float(0.5 * (sig[0, 0] + sig[1, 1])),
        "wall_stress": walls["mean"],
        "packing_stress_target": float(target_stress),
        "packing_contact_stiffness": float(kn),
        "mean_overlap": float(all_ov.mean() / r_final) if len(all_ov) else 0.0,
        "packing_max_overlap": max_ov,
        "contacts_per_ball": float(len(i) / n),
        "floaters": int(np.count_nonzero(per < 3)),
        "unbalanced_force_ratio": ratio,
        "relaxation_steps": int(state["steps"]),
        "converged": bool(converged),
    }
    return Packing(positions=pos, radii=final, cylinder_radius=float(cylinder_radius), length=float(length),
                   max_overlap=max_ov, info=info)
