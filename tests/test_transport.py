"""The sparse, certified EMD solver against POT's dense network simplex."""

import numpy as np
import ot
import pytest
from scipy.spatial.distance import cdist

from labquake.analysis.transport import earth_movers_distance, north_west_corner_support


def dense_emd(a, b):
    n, m = len(a), len(b)
    return float(ot.emd2(np.full(n, 1 / n), np.full(m, 1 / m), cdist(a, b), numItermax=50_000_000))


def catalog_like(rng, n):
    """5 features like the analysis clouds: one takes a few discrete values (lever arms)."""
    levels = rng.normal(size=rng.integers(3, 8))
    return np.column_stack([rng.lognormal(0, 0.3, n), rng.exponential(1, n), rng.choice(levels, n) * 3,
                            np.sqrt(rng.random(n)), rng.uniform(-1.7, 1.7, n)])


@pytest.mark.parametrize("n,m", [(300, 410), (517, 229), (1, 50), (64, 64)])
def test_equals_dense_network_simplex(n, m):
    rng = np.random.default_rng(n * 1000 + m)
    a, b = catalog_like(rng, n), catalog_like(rng, m) + 0.2
    assert earth_movers_distance(a, b) == pytest.approx(dense_emd(a, b), rel=1e-12, abs=1e-13)


def test_result_does_not_depend_on_the_first_graph():
    rng = np.random.default_rng(7)
    a, b = catalog_like(rng, 250), catalog_like(rng, 180)
    values = [earth_movers_distance(a, b, neighbours=k) for k in (1, 4, 64)]
    assert values == pytest.approx([dense_emd(a, b)] * 3, rel=1e-12)


def test_ties_and_duplicate_points():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 3, size=(40, 2)).astype(float)  # many identical points
    a, b = base[:25], base[15:]
    assert earth_movers_distance(a, b) == pytest.approx(dense_emd(a, b), rel=1e-12, abs=1e-13)
    assert earth_movers_distance(a, a) == 0.0


def test_translation_is_the_distance_for_a_shifted_copy():
    # moving every point by the same vector t costs |t| and nothing is cheaper (Jensen)
    rng = np.random.default_rng(4)
    a = rng.normal(size=(200, 3))
    t = np.array([0.3, -0.4, 1.2])
    assert earth_movers_distance(a, a + t) == pytest.approx(np.linalg.norm(t), rel=1e-12)


@pytest.mark.parametrize("n,m", [(1, 1), (3, 7), (10, 4), (6, 9), (12, 12)])
def test_north_west_corner_support_is_a_feasible_plan(n, m):
    rows, cols = north_west_corner_support(n, m)
    assert len(rows) <= n + m - 1
    # mass on each arc = overlap of row interval [i m, (i+1) m) and column interval [j n, (j+1) n)
    lo = np.maximum(rows * m, cols * n)
    hi = np.minimum((rows + 1) * m, (cols + 1) * n)
    mass = (hi - lo) / (n * m)
    assert (mass > 0).all()
    assert np.allclose(np.bincount(rows, mass, n), 1 / n)
    assert np.allclose(np.bincount(cols, mass, m), 1 / m)
