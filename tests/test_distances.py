"""Cloud distances against brute force and SciPy, and the properties of the matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import wasserstein_distance_nd

from labquake.analysis.distances import (
    METRICS,
    chamfer,
    distance_matrix,
    emd,
    emd_greedy,
    hausdorff,
    pooled_scale,
)
from labquake.errors import (
    ConfigError,
    ConvergenceError,
    InsufficientDataError,
    SchemaError,
)


def clouds(seed=0, n=6, lo=5, hi=40, d=5):
    rng = np.random.default_rng(seed)
    scale = np.array([0.003, 0.5, 5000.0, 0.01, 90.0])[:d]  # feature scales like radius, Mw, time, distance, angle
    return [rng.normal(size=(int(s), d)) * scale * rng.uniform(0.5, 2, d) + rng.normal(size=d) * scale
            for s in rng.integers(lo, hi, n)]


def test_emd_equals_scipy_wasserstein_nd():
    rng = np.random.default_rng(1)
    for n, m, d in [(7, 7, 2), (12, 5, 3), (30, 17, 5), (1, 9, 4)]:
        a, b = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.5
        assert emd(a, b) == pytest.approx(wasserstein_distance_nd(a, b), abs=1e-9)
    a = rng.normal(size=(40, 5))
    assert emd(a, a) == pytest.approx(0.0, abs=1e-12)


def test_emd_fails_loudly_when_not_converged():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(60, 3)), rng.normal(size=(70, 3))
    with pytest.raises(ConvergenceError, match="iteration limit reached; raise num_iter_max"):
        emd(a, b, num_iter_max=5)


def test_emd_greedy_upper_bound():
    rng = np.random.default_rng(3)
    for n, m in [(10, 10), (9, 14), (25, 6)]:
        a, b = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
        assert emd_greedy(a, b) >= emd(a, b) - 1e-12
    # well-separated pairs: the greedy matching is optimal
    a = np.arange(10.0)[:, None] * 10
    b = a[::-1] + 0.1
    assert emd_greedy(a, b) == pytest.approx(emd(a, b)) == pytest.approx(0.1)


def brute_hausdorff(a, b):
    d = cdist(a, b)
    return max(d.min(axis=1).max(), d.min(axis=0).max())


def test_hausdorff_and_chamfer_equal_brute_force():
    rng = np.random.default_rng(4)
    for n, m in [(1, 1), (3, 8), (50, 20), (200, 150)]:
        a, b = rng.normal(size=(n, 5)), rng.normal(size=(m, 5)) * 2
        assert hausdorff(a, b) == pytest.approx(brute_hausdorff(a, b), rel=1e-12)
        d2 = cdist(a, b) ** 2
        assert chamfer(a, b) == pytest.approx(d2.min(1).sum() + d2.min(0).sum(), rel=1e-12)
        assert chamfer(a, b, "mean") == pytest.approx(d2.min(1).mean() + d2.min(0).mean(), rel=1e-12)


def test_mahalanobis_hausdorff_matrix_equals_brute_force():
    cs = clouds(5)
    D = distance_matrix(cs, "hausdorff", n_jobs=1)
    VI = np.linalg.inv(np.cov(np.vstack(cs), rowvar=False))
    for i, j in [(0, 1), (2, 5), (3, 4)]:
        d = cdist(cs[i], cs[j], "mahalanobis", VI=VI)
        assert D[i, j] == pytest.approx(max(d.min(1).max(), d.min(0).max()), rel=1e-9)
    Z = distance_matrix(cs, "hausdorff_z", n_jobs=1)
    pooled = np.vstack(cs)
    mu, sd = pooled.mean(0), pooled.std(0, ddof=1)
    assert Z[0, 1] == pytest.approx(brute_hausdorff((cs[0] - mu) / sd, (cs[1] - mu) / sd), rel=1e-12)
    E = distance_matrix(cs, "emd", n_jobs=1)
    assert E[2, 3] == pytest.approx(wasserstein_distance_nd((cs[2] - mu) / sd, (cs[3] - mu) / sd), abs=1e-9)


@pytest.mark.parametrize("metric", METRICS)
def test_matrix_properties(metric):
    cs = clouds(6)
    D = distance_matrix(cs, metric)
    assert D.shape == (6, 6)
    assert (D == D.T).all()
    assert (np.diag(D) == 0).all()
    assert (D >= 0).all() and (D[~np.eye(6, dtype=bool)] > 0).all()
    # translating every cloud by the same vector changes nothing
    shift = np.array([0.01, -3.0, 1e4, 0.5, 200.0])
    Dt = distance_matrix([c + shift for c in cs], metric)
    np.testing.assert_allclose(Dt, D, rtol=1e-9, atol=1e-12)
    # threads do not change the result
    np.testing.assert_array_equal(distance_matrix(cs, metric, n_jobs=1), distance_matrix(cs, metric, n_jobs=3))


def test_dataframe_clouds_use_feature_columns():
    from labquake.analysis.clouds import FEATURES

    cs = clouds(7, n=3)
    frames = [pd.DataFrame(c, columns=list(FEATURES)).assign(event_id=np.arange(len(c))) for c in cs]
    np.testing.assert_allclose(distance_matrix(frames, "chamfer"), distance_matrix(cs, "chamfer"), rtol=1e-12)


def test_pooled_scale_whitens():
    cs = clouds(8)
    w = np.vstack(pooled_scale(cs, "mahalanobis"))
    np.testing.assert_allclose(np.cov(w, rowvar=False), np.eye(5), atol=1e-9)
    # a constant feature: left unscaled (z-score), dropped direction (Mahalanobis)
    const = [np.c_[c[:, :4], np.ones(len(c))] for c in cs]
    assert np.isfinite(distance_matrix(const, "hausdorff")).all()
    assert np.isfinite(distance_matrix(const, "chamfer")).all()


def test_bad_input():
    cs = clouds(9, n=4)
    with pytest.raises(InsufficientDataError, match="empty"):
        distance_matrix(cs[:3] + [np.empty((0, 5))], "hausdorff")
    with pytest.raises(InsufficientDataError, match="single|fewer than min_points"):
        distance_matrix(cs[:3] + [cs[3][:1]], "emd", names=["a", "b", "c", "lonely"])
    assert np.isfinite(distance_matrix(cs[:3] + [cs[3][:1]], "emd", min_points=1)).all()
    nan = cs[3].copy()
    nan[0, 2] = np.nan
    with pytest.raises(SchemaError, match="NaN"):
        distance_matrix(cs[:3] + [nan], "chamfer")
    with pytest.raises(SchemaError, match="different numbers of features"):
        distance_matrix([cs[0], cs[1][:, :3]], "hausdorff")
    with pytest.raises(InsufficientDataError):
        distance_matrix([cs[0]], "hausdorff")
    with pytest.raises(ConfigError):
        distance_matrix(cs, "cosine")
    with pytest.raises(InsufficientDataError):
        hausdorff(np.empty((0, 2)), np.ones((3, 2)))
