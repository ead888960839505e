"""PFC radius-expansion packing (labquake.sim.specimen.packing.pack_cylinder_expansion)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from labquake.sim.config import load_config, resolve_config
from labquake.errors import ConfigError
from labquake.sim.specimen import build_specimen, load_specimen, save_specimen
from labquake.sim.specimen.packing import (
    REFERENCE_POROSITY,
    contact_stiffness,
    expansion_count,
    love_weber_stress,
    pack_cylinder_expansion,
    wall_stresses,
)

ROOT = Path(__file__).resolve().parents[1]

# 20 x 40 mm, 3.5-4.5 mm grains: ~250 balls, packed in about two seconds
SMALL = {"specimen": {"diameter": 0.02, "length": 0.04, "d_min": 0.0035, "d_max": 0.0045}, "seed": 5}


@pytest.fixture(scope="module")
def small():
    cfg = resolve_config(SMALL)
    return cfg, build_specimen(cfg)


def _kn(cfg):
    s = cfg["specimen"]
    return contact_stiffness(cfg["rock"]["modulus"], s["d_min"], s["d_max"])


def test_ball_counts_follow_the_reference_rule():
    # ye2024.md §2: 4.00-6.00 mm -> 1321 balls, 4.50-5.50 -> 1358, 4.95-5.05 -> 1375
    n = {w: expansion_count(0.02, 0.107, 5e-3 - w, 5e-3 + w, REFERENCE_POROSITY) for w in (1e-3, 0.5e-3, 0.05e-3)}
    assert n[1e-3] == pytest.approx(1321, rel=0.01)
    assert n[0.5e-3] == pytest.approx(1358, rel=0.01)
    assert n[0.05e-3] == pytest.approx(1375, rel=0.01)
    # wider size ranges hold fewer balls (their mean ball volume is larger), as in the reference
    assert n[0.05e-3] > n[0.5e-3] > n[1e-3]
    # a looser nominal porosity gives fewer balls
    assert expansion_count(0.02, 0.107, 4e-3, 6e-3, 0.36) < n[1e-3]


def test_small_specimen_count_walls_and_convergence(small):
    cfg, sp = small
    s = cfg["specimen"]
    R, L = 0.5 * s["diameter"], s["length"]
    assert sp.info["packing"] == "expansion" and sp.info["converged"]
    assert sp.n_particles == expansion_count(R, L, s["d_min"], s["d_max"], s["porosity"]) == sp.info["n_particles"]
    # every centre inside the rigid walls; no ball pokes through by more than the overlap bound
    rho = np.hypot(sp.positions[:, 0], sp.positions[:, 1])
    assert np.all(rho < R) and np.all(np.abs(sp.positions[:, 2]) < 0.5 * L)
    assert np.all(rho + sp.radii <= R + 1e-3 * sp.radii.mean())
    assert np.all(np.abs(sp.positions[:, 2]) + sp.radii <= 0.5 * L + 1e-3 * sp.radii.mean())
    # PFC's mean unbalanced-force ratio below its tolerance
    assert sp.info["unbalanced_force_ratio"] < 1e-3
    # the radii are the drawn ones (uniform in [d_min, d_max]) times one common scale
    k = sp.info["radius_scale"]
    assert 0.9 < k <= 1.0
    assert 2 * sp.radii.min() >= k * s["d_min"] - 1e-15 and 2 * sp.radii.max() <= k * s["d_max"] + 1e-15


def test_overlaps_after_relaxation_are_small(small):
    """Bound: the mean overlap at the locked-in stress σ0 follows from Love-Weber,
    δ̄ ≈ 3 σ0 V / (kn Σ_c l_c); contact forces in a jammed packing have an exponential
    tail, so the largest of ~10³ contacts is ~ln(10³) ≈ 7 times the mean: 15 δ̄ bounds
    it. At 5 MPa that is below 1e-3 of a radius (the spheres nearly touch)."""
    cfg, sp = small
    s = cfg["specimen"]
    R, L = 0.5 * s["diameter"], s["length"]
    from scipy.spatial import cKDTree

    pr = cKDTree(sp.positions).query_pairs(2 * sp.radii.max(), output_type="ndarray")
    i, j = pr[:, 0], pr[:, 1]
    d = np.linalg.norm(sp.positions[i] - sp.positions[j], axis=1)
    ov = sp.radii[i] + sp.radii[j] - d
    touch = ov > 0
    assert touch.sum() >= sp.n_particles  # a connected, load-bearing packing
    v = math.pi * R**2 * L
    mean_bound = 3 * s["packing_stress"] * v / (_kn(cfg) * d[touch].sum())
    assert ov.max() <= 15 * mean_bound
    assert ov.max() <= 1e-3 * sp.radii.mean()
    assert ov.max() / sp.radii.mean() <= sp.info["packing_max_overlap"] < 1e-3  # walls included there


def test_porosity_in_the_expected_range(small):
    """Frictionless random close packing is porosity 0.36 in bulk; the wall layers of a
    cylinder five grains wide loosen it (0.40 at eight grains, see the slow test). The
    nominal porosity at the drawn sizes is the target up to the random size draw."""
    cfg, sp = small
    s = cfg["specimen"]
    assert 0.37 < sp.info["porosity"] < 0.47
    assert sp.info["porosity"] == pytest.approx(1 - sp.solid_fraction)
    # N drawn diameters: the nominal solid volume scatters by sqrt(N var(v)) (3 sd allowed)
    d = np.linspace(s["d_min"], s["d_max"], 10001)
    v = np.pi / 6 * d**3
    sd = np.sqrt(sp.n_particles * v.var()) / (np.pi * (0.5 * s["diameter"]) ** 2 * s["length"])
    assert abs(sp.info["nominal_porosity"] - s["porosity"]) < 3 * sd
    assert sp.info["nominal_porosity"] < sp.info["porosity"]


def test_love_weber_stress_equals_the_wall_pressure_at_rest(small):
    cfg, sp = small
    s = cfg["specimen"]
    R, L = 0.5 * s["diameter"], s["length"]
    sig = love_weber_stress(sp.positions, sp.radii, _kn(cfg), R, L)
    walls = wall_stresses(sp.positions, sp.radii, _kn(cfg), R, L)
    p = np.trace(sig) / 3
    # the stress servo's target, within its 10 % tolerance
    assert p == pytest.approx(s["packing_stress"], rel=0.1)
    assert sp.info["locked_in_stress"] == pytest.approx(p)
    # contact forces inside == forces on the walls / wall areas (per component)
    assert p == pytest.approx(walls["mean"], rel=0.01)
    assert sig[2, 2] == pytest.approx(walls["axial"], rel=0.03)
    assert 0.5 * (sig[0, 0] + sig[1, 1]) == pytest.approx(walls["lateral"], rel=0.03)
    assert abs(sig[0, 1]) < 0.1 * p
    # a disturbed packing is not at rest: the two measures part
    moved = sp.positions * np.array([1.0, 1.0, 0.999])
    assert love_weber_stress(moved, sp.radii, _kn(cfg), R, L)[2, 2] != pytest.approx(
        wall_stresses(moved, sp.radii, _kn(cfg), R, L)["axial"], rel=0.03)


def test_love_weber_of_two_balls_between_the_platens():
    """Two equal balls on the axis, pressed by the platens: equilibrium needs equal
    overlaps δ, and then σ_zz = kn δ / (π R²) exactly (the platen force over its area)."""
    a, delta, kn, R = 1e-3, 2e-6, 1e8, 5e-3
    z0 = a - delta / 2  # ball-ball overlap 2a - 2 z0 = δ
    L = 2 * (z0 + a - delta)  # ball-platen overlap z0 + a - L/2 = δ
    pos = np.array([[0.0, 0.0, -z0], [0.0, 0.0, z0]])
    sig = love_weber_stress(pos, np.full(2, a), kn, R, L)
    assert sig[2, 2] == pytest.approx(kn * delta / (math.pi * R**2), rel=1e-9)
    assert sig[0, 0] == sig[1, 1] == 0.0
    assert wall_stresses(pos, np.full(2, a), kn, R, L)["axial"] == pytest.approx(sig[2, 2], rel=1e-9)


def test_same_seed_same_packing_other_seed_differs(small):
    cfg, sp = small
    again = build_specimen(cfg)
    np.testing.assert_array_equal(again.positions, sp.positions)
    np.testing.assert_array_equal(again.radii, sp.radii)
    assert again.info == sp.info
    other = build_specimen(resolve_config({**SMALL, "seed": 6}))
    assert other.n_particles == sp.n_particles and not np.allclose(other.positions, sp.positions)


def test_exact_count_and_info_survive_save_and_load(tmp_path):
    cfg = resolve_config({**SMALL, "specimen": {**SMALL["specimen"], "n_particles": 200}})
    sp = build_specimen(cfg)
    assert sp.n_particles == 200 and sp.info["n_particles"] == 200
    back = load_specimen(save_specimen(sp, tmp_path / "s.npz"))
    assert back.info == sp.info
    np.testing.assert_array_equal(back.radii, sp.radii)


def test_a_loose_count_keeps_the_drawn_sizes():
    rng = np.random.default_rng(2)
    pk = pack_cylinder_expansion(rng, 0.01, 0.04, 0.0035, 0.0045, kn=1e8, n_particles=120)
    assert pk.info["converged"] and pk.info["radius_scale"] == 1.0
    assert pk.info["locked_in_stress"] < 5e6


@pytest.mark.parametrize(
    "specimen, match",
    [
        ({"packing": "pfc"}, "specimen.packing must be 'expansion'"),
        ({"packing": 3}, "specimen.packing' must be a string"),
        ({"porosity": 0.6}, "specimen.porosity must lie in"),
        ({"n_particles": -5}, "specimen.n_particles must be >= 0"),
        ({"n_particles": 10.5}, "specimen.n_particles' must be an integer"),
        ({"packing_stress": 200e6}, "specimen.packing_stress must lie between 0 and loading.confining_stress"),
        ({"packing_stress": 0.0}, "specimen.packing_stress"),
    ],
)
def test_bad_packing_settings_are_one_line_config_errors(specimen, match):
    with pytest.raises(ConfigError, match=match) as err:
        resolve_config({"specimen": specimen})
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_paper_specimen_has_the_reference_ball_count():
    cfg = load_config(ROOT / "simulations" / "paper.toml")
    assert cfg["specimen"]["packing"] == "expansion"
    sp = build_specimen(cfg)
    assert sp.n_particles == pytest.approx(1321, rel=0.01)
    assert sp.info["converged"]
    assert 0.37 < sp.info["porosity"] < 0.43
    assert sp.info["locked_in_stress"] == pytest.approx(cfg["specimen"]["packing_stress"], rel=0.1)
    assert sp.info["wall_stress"] == pytest.approx(sp.info["locked_in_stress"], rel=0.01)
    assert sp.info["packing_max_overlap"] < 1e-3
