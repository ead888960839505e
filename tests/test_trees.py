"""Trees, cuts, Fowlkes–Mallows B_k, its moments and its nulls."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.spatial.distance import pdist, squareform
from scipy.stats import false_discovery_control
from sklearn.metrics import fowlkes_mallows_score

from labquake.errors import ConfigError, InsufficientDataError, SchemaError
from labquake.analysis.trees import (
    benjamini_hochberg,
    build_tree,
    compare_trees,
    cut_levels,
    cutree,
    fm_moments,
    fowlkes_mallows,
    holm,
    random_trees,
)


def matrices(n=27, seed=0, noise=0.5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x + noise * rng.normal(size=(n, 3))
    return squareform(pdist(x)), squareform(pdist(y))


@pytest.mark.parametrize("method", ["single", "complete", "average", "weighted"])
def test_cuts_follow_merge_order(method):
    Da, _ = matrices(15, seed=1)
    Z = build_tree(Da, method)
    L = cut_levels(Z)
    for k in range(1, 16):
        lab = L[k]
        assert lab.max() == k - 1
        # R cutree numbering: clusters numbered by their first observation
        first = [int(np.flatnonzero(lab == c)[0]) for c in range(k)]
        assert first == sorted(first)
        # same partition as scipy's cut_tree (which also cuts by merge order)
        ref = cut_tree(Z, n_clusters=k).ravel()
        assert (np.unique(np.c_[lab, ref], axis=0).shape[0]) == k
    assert (cutree(Z, 4) == L[4]).all()


def test_cut_by_merge_order_not_height():
    # a non-monotone-looking but valid merge list: cutree undoes the last merges
    Z = np.array([[0, 1, 1.0, 2], [2, 3, 1.0, 2], [4, 5, 1.0, 3], [6, 7, 3.0, 5]])  # 5 leaves, tied heights
    L = cut_levels(Z)
    assert L[2].tolist() == [0, 0, 1, 1, 0]
    assert L[3].tolist() == [0, 0, 1, 1, 2]
    assert L[4].tolist() == [0, 0, 1, 2, 3]


def test_condensed_vs_square_quirk():
    Da, _ = matrices(10, seed=2)
    Z = build_tree(Da, "average")
    np.testing.assert_allclose(Z, linkage(squareform(Da), "average"))
    Zq = build_tree(Da, "average", square_quirk=True)
    with pytest.warns(Warning, match="uncondensed"):
        ref = linkage(Da, "average", metric="euclidean")
    np.testing.assert_allclose(Zq, ref)
    assert not np.allclose(Z[:, 2], Zq[:, 2])


def test_bk_equals_sklearn():
    Da, Db = matrices(27, seed=3)
    df = compare_trees(Da, Db, null="analytic")
    La, Lb = cut_levels(build_tree(Da)), cut_levels(build_tree(Db))
    assert df["k"].tolist() == list(range(2, 27))
    for _, r in df.iterrows():
        k = int(r["k"])
        assert r["B"] == pytest.approx(fowlkes_mallows_score(La[k], Lb[k]), abs=1e-14)
    rng = np.random.default_rng(4)
    for _ in range(20):
        a, b = rng.integers(0, 5, 30), rng.integers(0, 7, 30)
        assert fowlkes_mallows(a, b) == pytest.approx(fowlkes_mallows_score(a, b), abs=1e-14)


@pytest.mark.parametrize("n", [4, 5, 6, 7, 8])
def test_moments_exact_over_all_relabellings(n):
    rng = np.random.default_rng(n)
    perms = np.array(list(itertools.permutations(range(n))))
    for _ in range(4):
        k = int(rng.integers(2, n))
        a = np.r_[np.arange(k), rng.integers(0, k, n - k)]
        b = np.r_[np.arange(k), rng.integers(0, k, n - k)]
        rng.shuffle(a)
        rng.shuffle(b)
        B, E, V, P, Q = fm_moments(a, b)
        # B of every relabelling of b's leaves, via the contingency table
        allB = np.array([fowlkes_mallows(a, b[p]) for p in perms]) if n <= 6 else None
        m = np.zeros((len(perms), k, k))
        np.add.at(m, (np.repeat(np.arange(len(perms)), n), np.tile(a, len(perms)), b[perms].ravel()), 1)
        vals = ((m**2).sum((1, 2)) - n) / np.sqrt(P * Q)
        if allB is not None:
            np.testing.assert_allclose(vals, allB, atol=1e-14)
        assert abs(vals.mean() - E) < 1e-12
        assert abs(vals.var() - V) < 1e-12


def test_permutation_null_matches_moments():
    Da, Db = matrices(27, seed=5, noise=2.0)
    R = 10_000
    df = compare_trees(Da, Db, null="permutation", n_perm=R, seed=1)
    # the same null draws, to get each level's fourth moment for the standard error of sd
    # (B_k is far from normal at large k, so the normal-theory sd/√(2R) would be too small)
    La, Lb = cut_levels(build_tree(Da)), cut_levels(build_tree(Db))
    perms = np.random.default_rng(1).permuted(np.tile(np.arange(27), (R, 1)), axis=1)
    for _, r in df.iterrows():
        k = int(r["k"])
        m = np.zeros((R, k, k))
        np.add.at(m, (np.repeat(np.arange(R), 27), np.tile(La[k], R), Lb[k][perms].ravel()), 1)
        _, _, _, P, Q = fm_moments(La[k], Lb[k])
        vals = ((m**2).sum((1, 2)) - 27) / np.sqrt(P * Q)
        assert vals.mean() == pytest.approx(r["null_mean"], abs=1e-12)  # same draws as compare_trees
        s = vals.std(ddof=1)
        se_mean = s / np.sqrt(R)
        m4 = np.mean((vals - vals.mean()) ** 4)
        se_sd = np.sqrt(max(m4 - s**4, 0.0) / R) / (2 * s)
        assert abs(vals.mean() - r["E"]) < 3 * se_mean, k
        assert abs(s - r["sd"]) < 3 * se_sd, k


def test_p_values_and_adjustment():
    Da, Db = matrices(20, seed=6, noise=0.1)  # strongly related trees
    df = compare_trees(Da, Db, null="permutation", n_perm=199, seed=0)
    assert ((df["p"] >= 1 / 200) & (df["p"] <= 1)).all()
    assert df.loc[df["B"] == 1.0, "p"].ge(1 / 200).all()
    assert (df["p"] < 0.05).sum() >= 5
    assert (df["p_holm"] >= df["p"]).all() and (df["p_bh"] >= df["p"]).all()
    assert (df["p_holm"] >= df["p_bh"] - 1e-15).all()
    # the p formula with ties: nulls equal to B count
    same = compare_trees(Da, Da, null="permutation", n_perm=99, seed=0)
    assert (same["B"] == 1.0).all()
    assert (same["p"] == (1 + 0) / 100).sum() >= 1  # no permutation reaches B = 1 at most levels
    # deterministic under the seed
    again = compare_trees(Da, Db, null="permutation", n_perm=199, seed=0)
    assert (again["p"] == df["p"]).all()


def test_holm_and_bh_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    np.testing.assert_allclose(holm(p)[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(holm(p)[4])
    np.testing.assert_allclose(benjamini_hochberg(p)[:4], false_discovery_control(p[:4], method="bh"))
    np.testing.assert_allclose(benjamini_hochberg(p)[:4], [0.02, 0.04, 0.04, 0.02])


@pytest.mark.parametrize("model", ["linkage", "coalescent"])
def test_random_trees_null(model):
    trees = random_trees(12, 30, "single", model, seed=0)
    assert len(trees) == 30
    for Z in trees:
        assert Z.shape == (11, 4) and Z[-1, 3] == 12
        assert sorted(cut_levels(Z)[5].tolist()) != [0] * 12
    Da, Db = matrices(12, seed=7)
    df = compare_trees(Da, Db, null="random_trees", n_perm=300, seed=0, random_tree_model=model)
    assert df["null"].eq("random_trees").all() and (df["n_null"] == 300).all()
    assert ((df["p"] > 0) & (df["p"] <= 1)).all()
    assert (df["null_lo"] <= df["null_hi"]).all()


def test_bad_input():
    Da, Db = matrices(6, seed=8)
    with pytest.raises(InsufficientDataError, match="at least 3"):
        compare_trees(Da[:2, :2], Db[:2, :2])
    with pytest.raises(SchemaError, match="different numbers"):
        compare_trees(Da, Db[:5, :5])
    bad = Da.copy()
    bad[0, 1] += 1
    with pytest.raises(SchemaError, match="symmetric"):
        compare_trees(bad, Db)
    nan = Da.copy()
    nan[0, 1] = nan[1, 0] = np.nan
    with pytest.raises(SchemaError, match="NaN"):
        compare_trees(nan, Db)
    with pytest.raises(ConfigError):
        compare_trees(Da, Db, method="ward")
    with pytest.raises(ConfigError):
        compare_trees(Da, Db, null="bootstrap")
    three = compare_trees(Da[:3, :3], Db[:3, :3], null="permutation", n_perm=20)
    assert three["k"].tolist() == [2] and np.isnan(three["Var"].iloc[0])
