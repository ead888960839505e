"""b-value estimators and the correlation dimension on synthetic catalogs and point sets."""

from __future__ import annotations

import numpy as np
import pytest

from labquake.errors import ConfigError, InsufficientDataError, SchemaError
from labquake.analysis.seismicity import (
    LOG10E,
    b_value,
    correlation_dimension,
    event_positions,
    mc_bstab,
    mc_maxc,
    shi_bolt,
)

N = 2000
SEED = 2024  # one seed for every single-catalog test (see test_b_errors_calibrated for many)


def gr_continuous(b: float, seed: int, mmin: float = -0.5) -> np.ndarray:
    """Gutenberg–Richter magnitudes above mmin: exponential with rate b ln 10."""
    return mmin + np.random.default_rng(seed).exponential(LOG10E / b, N)


def gr_binned(b: float, seed: int, dm: float = 0.1) -> np.ndarray:
    """Binned G-R magnitudes with the lowest bin centred on 0."""
    return np.round((np.random.default_rng(seed).exponential(LOG10E / b, N) - dm / 2) / dm) * dm


@pytest.mark.parametrize("b", [0.5, 1.0, 1.5])
@pytest.mark.parametrize("method,kwargs", [
    ("aki", {}),
    ("tinti", {}),
    ("aki", {"mc": "bstab"}),
    ("bpositive", {}),
    ("lsq", {"n_boot": 200}),
])
def test_b_recovered_continuous(b, method, kwargs):
    r = b_value(gr_continuous(b, seed=SEED), method, **kwargs)
    assert abs(r.b - b) < 2 * r.sigma, (r.b, r.sigma)
    assert r.sigma > 0 and r.n >= 100


@pytest.mark.parametrize("b", [0.5, 1.0, 1.5])
@pytest.mark.parametrize("method,mc", [("aki", 0.0), ("tinti", 0.0), ("tinti", "maxc"), ("bpositive", None)])
def test_b_recovered_binned(b, method, mc):
    r = b_value(gr_binned(b, seed=SEED), method, mc=mc, dm=0.1)
    assert abs(r.b - b) < 2 * r.sigma, (r.b, r.sigma)


@pytest.mark.parametrize("method,mc,dm", [("aki", "maxc", None), ("tinti", "maxc", 0.1), ("bpositive", None, 0.1)])
def test_b_errors_calibrated(method, mc, dm):
    """Over 200 catalogs the estimators are unbiased and the 2σ interval holds ~95 %."""
    z = []
    for seed in range(200):
        m = gr_binned(1.0, seed) if dm else gr_continuous(1.0, seed)
        r = b_value(m, method, mc=mc, dm=dm)
        z.append((r.b - 1.0) / r.sigma)
    z = np.asarray(z)
    assert abs(z.mean()) < 0.3
    assert 0.8 < z.std() < 1.25
    assert np.mean(np.abs(z) < 2) > 0.9


def test_bootstrap_close_to_shi_bolt():
    r = b_value(gr_continuous(1.0, seed=3), "aki", n_boot=300, seed=1)
    assert 0.7 < r.sigma_boot / r.sigma_shi_bolt < 1.4
    assert r.sigma == r.sigma_boot
    assert b_value(gr_continuous(1.0, seed=3), "aki").sigma == pytest.approx(r.sigma_shi_bolt)


def test_estimators_by_hand():
    m = np.array([0.0, 0.1, 0.1, 0.3, 0.6, 1.0, 0.2, 0.0, 0.4, 0.5])
    r = b_value(m, "aki", mc=0.0)
    assert r.b == pytest.approx(LOG10E / m.mean())
    r = b_value(m, "aki", mc=0.0, dm=0.1)
    assert r.b == pytest.approx(LOG10E / (m.mean() + 0.05))
    r = b_value(m, "tinti", mc=0.0, dm=0.1)
    assert r.b == pytest.approx(np.log(1 + 0.1 / m.mean()) / (0.1 * np.log(10)))
    assert r.sigma_shi_bolt == pytest.approx(2.3 * r.b**2 * np.sqrt(((m - m.mean()) ** 2).sum() / (10 * 9)))
    assert shi_bolt(m, 1.0) == pytest.approx(2.3 * np.sqrt(((m - m.mean()) ** 2).sum() / 90))
    # LSQ: 10 thresholds from min to max
    thr = np.linspace(m.min(), m.max(), 10)
    n_ge = np.array([(m >= t - 1e-12).sum() for t in thr])
    slope = np.polyfit(thr, np.log10(n_ge), 1)[0]
    assert b_value(m, "lsq").b == pytest.approx(-slope)


def test_mc_rules():
    m = gr_binned(1.0, seed=5)
    assert mc_maxc(m, dm=0.1) == pytest.approx(0.2)  # modal bin 0.0, + 0.2
    assert mc_maxc(m, dm=0.1, correction=0.0) == pytest.approx(0.0)
    assert mc_maxc(gr_continuous(1.0, seed=5, mmin=1.0)) == pytest.approx(1.2)
    # an incomplete catalog: G-R above 1.0, thinned below it
    rng = np.random.default_rng(6)
    full = np.round(rng.exponential(LOG10E, 20000) / 0.1) * 0.1
    keep = rng.random(full.size) < np.clip(0.2 + 0.8 * full, 0, 1)
    mc = mc_bstab(full[keep], dm=0.1)
    assert 0.5 <= mc <= 1.3
    r = b_value(full[keep], "aki", mc="bstab", dm=0.1)
    assert abs(r.b - 1.0) < 2 * r.sigma


def test_b_bad_input():
    with pytest.raises(InsufficientDataError):
        b_value(np.array([1.0, 2.0]), "aki")
    with pytest.raises(SchemaError):
        b_value(np.r_[gr_continuous(1.0, 0)[:50], np.nan], "aki")
    with pytest.raises(ConfigError):
        b_value(gr_continuous(1.0, 0), "maximum-entropy")
    with pytest.raises(ConfigError):
        b_value(gr_continuous(1.0, 0), "aki", mc="guess")
    with pytest.raises(InsufficientDataError):
        b_value(gr_continuous(1.0, 0), "aki", mc=10.0)


# ---------------------------------------------------------------------------------------
# Correlation dimension
# ---------------------------------------------------------------------------------------


def sierpinski(n: int, rng) -> np.ndarray:
    v = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    idx = rng.integers(0, 3, n + 100)
    p = rng.random(2)
    out = np.empty((n + 100, 2))
    for i, k in enumerate(idx):
        p = (p + v[k]) / 2
        out[i] = p
    return out[100:]


@pytest.fixture(scope="module")
def point_sets():
    rng = np.random.default_rng(0)
    n = 3000
    t = rng.random(n)
    line = np.column_stack([t, 2 * t, -t]) + 5.0  # a line in 3-D
    u, v = rng.random(n), rng.random(n)
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    plane = np.column_stack([u, v, np.zeros(n)]) @ rot.T  # a tilted square
    cube = rng.random((n, 3))
    return {"line": (line, 1.0), "plane": (plane, 2.0), "cube": (cube, 3.0),
            "sierpinski": (sierpinski(n, rng), np.log(3) / np.log(2))}


@pytest.mark.parametrize("name", ["line", "plane", "cube", "sierpinski"])
def test_d2_recovered(point_sets, name):
    pts, true = point_sets[name]
    r = correlation_dimension(pts)
    assert abs(r.d2 - true) < 0.1, r
    assert 0 < r.c_min < r.c_max <= 0.1 and r.r_min < r.r_max
    assert r.n == pts.shape[0]


def test_d2_reference_scaling_and_subsampling(point_sets):
    pts, _ = point_sets["plane"]
    ref = correlation_dimension(pts, scaling="reference")
    from scipy.spatial.distance import pdist

    d = np.sort(pdist(pts))
    assert ref.r_min == pytest.approx(1.5 * d[d > 0][0], rel=1e-9)
    assert ref.r_max == pytest.approx(d[-1] / 2.5, rel=1e-9)
    sub = correlation_dimension(pts, max_points=1500, seed=1)
    assert sub.n == 1500 and abs(sub.d2 - 2.0) < 0.15
    # invariant to translation and scale
    a = correlation_dimension(point_sets["cube"][0])
    b = correlation_dimension(point_sets["cube"][0] * 7.0 + 3.0)
    assert a.d2 == pytest.approx(b.d2, abs=1e-9)


def test_d2_bad_input():
    with pytest.raises(InsufficientDataError):
        correlation_dimension(np.random.default_rng(0).random((5, 3)))
    with pytest.raises(SchemaError):
        correlation_dimension(np.full((50, 3), np.nan))
    with pytest.raises(ConfigError):
        correlation_dimension(np.random.default_rng(0).random((500, 3)), scaling="visual")


def test_event_positions_fault_coordinates():
    import pandas as pd

    from labquake.geometry import FaultPlane

    fp = FaultPlane(30.0)
    uv = np.random.default_rng(0).uniform(-0.01, 0.01, (20, 2))
    xyz = fp.from_fault_coords(np.column_stack([uv, np.zeros(20)]))
    ev = pd.DataFrame({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]})
    np.testing.assert_allclose(event_positions(ev, "fault", fp.to_dict()), uv, atol=1e-15)
    np.testing.assert_allclose(event_positions(ev, "2d"), xyz[:, :2])
    assert event_positions(ev, "3d").shape == (20, 3)
    with pytest.raises(ConfigError):
        event_positions(ev, "4d")
