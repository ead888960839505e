"""Specimen packing, fault blocks, bond selection and save/load (labquake.specimen)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from labquake.config import resolve_config
from labquake.errors import ConfigError, DataFormatError
from labquake.geometry import FaultPlane
from labquake.specimen import (
    bond_strengths,
    build_specimen,
    check_matches,
    load_specimen,
    save_specimen,
    select_bonds,
)
from labquake.specimen.packing import pack_cylinder, pair_gaps

SMALL = {"specimen": {"diameter": 0.02, "length": 0.04, "d_min": 0.0035, "d_max": 0.0045, "solid_fraction": 0.55}, "seed": 5}


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
