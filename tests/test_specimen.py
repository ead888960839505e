"""Specimen packing, fault blocks, bond selection and save/load (labquake.sim.specimen)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from labquake.sim.config import resolve_config
from labquake.errors import ConfigError, DataFormatError
from labquake.geometry import FaultPlane
from labquake.sim.specimen import (
    asperity_patches,
    bond_strengths,
    gaussian_random_field,
    build_specimen,
    check_matches,
    load_specimen,
    save_specimen,
    select_bonds,
)
from labquake.sim.specimen.packing import pack_cylinder, pair_gaps

SMALL = {"specimen": {"diameter": 0.02, "length": 0.04, "d_min": 0.0035, "d_max": 0.0045, "solid_fraction": 0.55,
                      "packing": "geometric"}, "seed": 5}


@pytest.fixture(scope="module")
def small_specimen():
    return build_specimen(resolve_config(SMALL))


def test_packing_is_dense_inside_the_cylinder_and_sizes_in_range(small_specimen):
    sp = small_specimen
    d = 2 * sp.radii
    assert d.min() >= 0.0035 and d.max() <= 0.0045
    rho = np.hypot(sp.positions[:, 0], sp.positions[:, 1]) + sp.radii
    assert np.all(rho <= 0.01 + 1e-12)
    assert np.all(np.abs(sp.positions[:, 2]) + sp.radii <= 0.02 + 1e-12)
    # solid fraction at most the target, close to it, and overlaps tiny (<= 1 % of a radius)
    assert 0.52 <= sp.solid_fraction <= 0.55 + 1e-9
    i, j, gap = pair_gaps(sp.positions, sp.radii, 1e-3)
    assert gap.min() >= -0.01 * sp.radii.mean() - 1e-12


def test_same_seed_same_specimen_other_seed_differs(small_specimen):
    again = build_specimen(resolve_config(SMALL))
    np.testing.assert_array_equal(again.positions, small_specimen.positions)
    rng = np.random.default_rng(6)
    other = pack_cylinder(rng, 0.01, 0.04, 0.0035, 0.0045, solid_fraction=0.3)
    assert other.positions.shape != small_specimen.positions.shape or not np.allclose(other.positions, small_specimen.positions)


def test_sides_follow_the_fault_plane(small_specimen):
    sp = small_specimen
    sd = FaultPlane(30.0).signed_distance(sp.positions)
    np.testing.assert_array_equal(sp.side, (sd > 0).astype(np.int8))
    assert 0 < sp.side.sum() < sp.n_particles


def test_bond_selection_reaches_the_coordination_with_closest_pairs(small_specimen):
    sp = small_specimen
    i, j, gap = select_bonds(sp.positions, sp.radii, 5.2, 0.05 * 0.004)
    assert 2 * len(i) / sp.n_particles == pytest.approx(5.2, abs=0.01)
    assert np.all(i < j)
    # independent check: every unbonded pair is at least as far apart as the farthest bond
    tree = cKDTree(sp.positions)
    pairs = tree.query_pairs(0.0045 + 1e-3, output_type="ndarray")
    g = np.linalg.norm(sp.positions[pairs[:, 0]] - sp.positions[pairs[:, 1]], axis=1) - sp.radii[pairs[:, 0]] - sp.radii[pairs[:, 1]]
    bonded = set(zip(i.tolist(), j.tolist()))
    unb = np.array([gg for (a, b), gg in zip(pairs.tolist(), g) if (a, b) not in bonded])
    assert unb.min() >= gap.max() - 1e-15
    # a gap cap binds
    i2, _, gap2 = select_bonds(sp.positions, sp.radii, 12.0, 0.0)
    assert gap2.max() <= 0.0 and len(i2) < 6 * sp.n_particles


def test_bond_strengths_statistics_and_fault_values():
    cfg = resolve_config({})
    rng = np.random.default_rng(0)
    is_fault = np.zeros(20000, bool)
    is_fault[:5000] = True
    st = bond_strengths(rng, is_fault, cfg)
    rock_t = st["tensile_strength"][~is_fault]
    assert rock_t.mean() == pytest.approx(cfg["rock"]["tensile_strength"], rel=0.01)
    assert rock_t.std() == pytest.approx(cfg["rock"]["tensile_strength_std"], rel=0.05)
    assert np.all(st["tensile_strength"] > 0) and np.all(st["cohesion"] > 0)
    np.testing.assert_allclose(st["friction_angle_deg"][is_fault], cfg["fault"]["friction_angle_deg"])
    np.testing.assert_allclose(st["friction_angle_deg"][~is_fault], cfg["rock"]["friction_angle_deg"])


def test_gaussian_random_field_has_the_stated_covariance():
    # three points at 0, l/2 and 2l: correlations exp(-1/8), exp(-2) and exp(-9/8); 4000 draws
    ell = 0.008
    pts = np.array([[0.0, 0.0, 0.0], [0.5 * ell, 0.0, 0.0], [0.0, 2.0 * ell, 0.0]])
    rng = np.random.default_rng(11)
    g = np.array([gaussian_random_field(rng, pts, ell) for _ in range(4000)])
    np.testing.assert_allclose(g.mean(axis=0), 0.0, atol=4 / np.sqrt(4000))
    np.testing.assert_allclose(g.std(axis=0), 1.0, atol=0.05)
    c = np.corrcoef(g.T)
    for (a, b), r in {(0, 1): 0.5 ** 2 / 2, (0, 2): 2.0, (1, 2): (0.25 + 4.0) / 2}.items():
        # standard error of a correlation coefficient ~ (1 - rho^2) / sqrt(n)
        assert c[a, b] == pytest.approx(np.exp(-r), abs=4 * (1 - np.exp(-2 * r)) / np.sqrt(4000) + 1e-3)


def test_correlated_fault_strengths_keep_marginals_and_form_patches():
    ell, rho = 0.008, 0.8
    cfg = resolve_config({"fault": {"strength_correlation_length": ell, "strength_correlated_fraction": rho}})
    plain = resolve_config({})
    rng = np.random.default_rng(3)
    pts = rng.uniform(-0.04, 0.04, size=(400, 3)) * [1, 1, 0]
    is_fault = np.r_[np.ones(400, bool), np.zeros(50, bool)]
    points = np.vstack([pts, np.zeros((50, 3))])
    draws = [bond_strengths(np.random.default_rng(s), is_fault, cfg, points) for s in range(60)]
    t = np.array([d["tensile_strength"][:400] for d in draws])
    c = np.array([d["cohesion"][:400] for d in draws])
    f = cfg["fault"]
    # marginals unchanged (the 10 % floor sits 2.0 sd below the mean: a 2 % tail)
    assert t.mean() == pytest.approx(f["tensile_strength"], rel=0.03)
    assert t.std() == pytest.approx(f["tensile_strength_std"], rel=0.06)
    # tensile strength and cohesion share the field: correlation rho
    zt, zc = (t - t.mean()) / t.std(), (c - c.mean()) / c.std()
    assert np.mean(zt * zc) == pytest.approx(rho, abs=0.05)
    # close bonds (< l/4 apart) are correlated by about rho, far ones (> 4 l) not at all
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    near, far = (d > 0) & (d < ell / 4), d > 4 * ell
    cov = np.einsum("ki,kj->ij", zt, zt) / len(draws)
    assert cov[near].mean() == pytest.approx(rho * np.exp(-1 / 32), abs=0.08)
    assert abs(cov[far].mean()) < 0.05
    # rock bonds and a zero correlated fraction draw exactly what independent scatter draws
    off = bond_strengths(np.random.default_rng(0), is_fault, plain, points)
    ind = bond_strengths(np.random.default_rng(0), is_fault, plain)
    np.testing.assert_array_equal(off["tensile_strength"], ind["tensile_strength"])
    np.testing.assert_array_equal(draws[0]["tensile_strength"][400:],
                                  bond_strengths(np.random.default_rng(0), is_fault, plain)["tensile_strength"][400:])


def test_asperity_patches_bond_the_stated_share_in_patches():
    rng = np.random.default_rng(5)
    pts = np.column_stack([rng.uniform(0, 0.08, 600), rng.uniform(0, 0.04, 600), np.zeros(600)])
    ell = 0.008
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    nearest = d.argmin(axis=1)
    same = []
    for seed in range(20):
        mask = asperity_patches(np.random.default_rng(seed), pts, 0.5, ell)
        assert mask.sum() == 300
        same.append(np.mean(mask[nearest[mask]]))  # P(nearest neighbour bonded | bonded)
        rand = asperity_patches(np.random.default_rng(seed), pts, 0.5, 0.0)
        assert rand.sum() == 300
    # patches: a bonded contact's nearest neighbour is bonded far more often than the 50 % of
    # a random choice (nearest spacing ~2 mm << l = 8 mm)
    assert np.mean(same) > 0.85
    all_on = asperity_patches(np.random.default_rng(0), pts, 1.0, ell)
    assert all_on.all()


def test_asperity_patches_random_area_is_a_fixed_level_excursion_set():
    rng = np.random.default_rng(5)
    pts = np.column_stack([rng.uniform(0, 0.08, 600), rng.uniform(0, 0.04, 600), np.zeros(600)])
    ell = 0.008
    shares = []
    for seed in range(40):
        exact = asperity_patches(np.random.default_rng(seed), pts, 0.45, ell)
        rand = asperity_patches(np.random.default_rng(seed), pts, 0.45, ell, area="random")
        # the same field: the fixed-level set and the fixed-count set are nested level sets
        assert (rand & ~exact).sum() == 0 or (exact & ~rand).sum() == 0
        shares.append(rand.mean())
    shares = np.asarray(shares)
    # the share's expectation is the fraction; with ~80 mm x 40 mm / (2 pi l^2) ~ 8
    # correlation areas it scatters by ~sqrt(f(1 - f)/8) ~ 0.18 (a fixed count: 0)
    assert abs(shares.mean() - 0.45) < 3 * shares.std() / np.sqrt(len(shares))
    assert 0.08 < shares.std() < 0.3
    # independent contacts: Bernoulli(f), binomial scatter
    ind = np.array([asperity_patches(np.random.default_rng(s), pts, 0.3, 0.0, area="random").mean() for s in range(200)])
    assert abs(ind.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 600 / 200)
    assert ind.std() == pytest.approx(np.sqrt(0.3 * 0.7 / 600), rel=0.25)
    with pytest.raises(ValueError, match="exact' or 'random"):
        asperity_patches(np.random.default_rng(0), pts, 0.5, ell, area="fixed")
    with pytest.raises(ConfigError, match="fault.bonded_area"):
        resolve_config({**SMALL, "fault": {"bonded_area": "fixed"}})


def test_save_load_roundtrip_and_mismatch(tmp_path, small_specimen):
    p = save_specimen(small_specimen, tmp_path / "s.npz")
    back = load_specimen(p)
    np.testing.assert_array_equal(back.positions, small_specimen.positions)
    np.testing.assert_array_equal(back.side, small_specimen.side)
    assert back.fault_angle_deg == 30.0 and back.seed == 5
    check_matches(back, resolve_config(SMALL))
    with pytest.raises(ConfigError, match="fault.angle_deg"):
        check_matches(back, resolve_config({**SMALL, "fault": {"angle_deg": 45.0}}))
    with pytest.raises(ConfigError, match="specimen.diameter"):
        check_matches(back, resolve_config({"specimen": {**SMALL["specimen"], "diameter": 0.03}}))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataFormatError):
        load_specimen(tmp_path / "junk.npz")
    with pytest.raises(ConfigError, match="not found"):
        load_specimen(tmp_path / "none.npz")


def test_too_large_particles_rejected():
    with pytest.raises(ConfigError, match="too large"):
        pack_cylinder(np.random.default_rng(0), 0.01, 0.04, 0.008, 0.009)
