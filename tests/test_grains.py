"""Grain-scale analysis: two-piece fits, shape categories, PDF overlap, headline shares."""

import numpy as np
import pandas as pd
import pytest
from run_support import write_monitored_run

from labquake.analysis.grains import (
    analyze_campaign_grains,
    acceleration_difference,
    category_proportions,
    classify_shapes,
    contact_arrays,
    headline_shares,
    histogram_pdf,
    pdf_overlap,
    segment_contacts,
    stress_strength,
    two_piece_fit,
)

# (s1, J, s2) signs of each category, from the reference table (signs of s1, J/s1, J/s2)
SHAPES = {1: (+1, -1, +1), 2: (+1, +1, +1), 3: (+1, +1, -1), 4: (+1, -1, -1),
          5: (-1, +1, -1), 6: (-1, -1, -1), 7: (-1, -1, +1), 8: (-1, +1, +1)}

STEPS = np.arange(0, 60_000, 20)
# three foreshock episodes and the mainshock, contiguous, end exclusive
EPISODES = pd.DataFrame({
    "episode_id": [0, 1, 2, 3],
    "start": [0, 15_000, 30_000, 45_000],
    "end": [15_000, 30_000, 45_000, 60_000],
    "peak": [9_000, 21_010, 38_000, 52_000],
    "n_events": [5, 7, 4, 40],
    "is_mainshock": [False, False, False, True],
    "lever_arm": [43_000, 30_990, 14_000, 0],
})


def _series(signs_per_episode, rng, noise=0.02, base=500.0):
    """A force series whose episodes have the given (s1, J, s2) signs."""
    y = np.full(len(STEPS), base)
    for (_, ep), sg in zip(EPISODES.iterrows(), signs_per_episode):
        m = (STEPS >= ep.start) & (STEPS < ep.end)
        x = STEPS[m].astype(float) - ep.peak
        s1, J, s2 = (sg[0] * rng.uniform(1e-3, 3e-3), sg[1] * rng.uniform(2, 6), sg[2] * rng.uniform(1e-3, 3e-3))
        y[m] = np.where(x < 0, base + s1 * x, base + J + s2 * x)
    return y + rng.normal(scale=noise, size=len(STEPS))


def test_each_of_the_eight_shapes_is_classified():
    rng = np.random.default_rng(7)
    cats = list(SHAPES)
    # contact k has shape cats[(k + e) % 8] in foreshock episode e, so all 8 appear in all episodes
    F = np.array([_series([SHAPES[cats[(k + e) % 8]] for e in range(4)], rng) for k in range(16)])
    broken = np.zeros_like(F, dtype=bool)
    rec = segment_contacts(STEPS, {"fn": F, "fs": F[::-1]}, broken, EPISODES, share_cut=False)
    assert len(rec) == 3 * 16 and set(rec["episode_id"]) == {0, 1, 2}
    want = np.array([cats[(k + e) % 8] for e in range(3) for k in range(16)])
    np.testing.assert_array_equal(rec["fn_category"].to_numpy(), want)
    # the reference's convention (cut sample in both fits) classifies them the same way
    rec2 = segment_contacts(STEPS, {"fn": F, "fs": F[::-1]}, broken, EPISODES)
    np.testing.assert_array_equal(rec2["fn_category"].to_numpy(), want)
    assert (rec["fn_r2_pre"] > 0.9).all() and (rec["fn_r2_post"] > 0.9).all()


def test_broken_contacts_are_9_or_10():
    rng = np.random.default_rng(3)
    F = np.array([_series([SHAPES[2]] * 4, rng) for _ in range(5)])
    broken = np.zeros_like(F, dtype=bool)
    broken[1, STEPS >= 25_000] = True  # after the cut of episode 1 (21,010): 9 there, 10 in episode 2
    broken[2, STEPS >= 21_020] = True  # at the cut of episode 1 (21,010 lies midway: ties go later)
    broken[3, STEPS >= 5_000] = True   # before the first cut: 10 everywhere
    broken[4] = True                   # flagged from the first sample: unbonded, never broke
    rec = segment_contacts(STEPS, {"fn": F, "fs": F}, broken, EPISODES, share_cut=False)
    got = rec.pivot(index="contact_id", columns="episode_id", values="fn_category").to_numpy()
    np.testing.assert_array_equal(got, [[2, 2, 2], [2, 9, 10], [2, 9, 10], [10, 10, 10], [2, 2, 2]])
    rec = segment_contacts(STEPS, {"fn": F, "fs": F}, broken, EPISODES, initially_broken=True)
    assert (rec.loc[rec["contact_id"] == 4, "fn_category"] == 10).all()


def test_classify_table_and_zero_signs():
    s1, J, s2 = np.array([SHAPES[k] for k in range(1, 9)], dtype=float).T
    np.testing.assert_array_equal(classify_shapes(s1, J, s2, scale=1.0), np.arange(1, 9))
    # J/s1 and J/s2 columns of the reference table
    assert all(np.sign(j / a) == t for (a, j, b), t in zip(SHAPES.values(), [-1, 1, 1, -1, -1, 1, 1, -1]))
    assert classify_shapes([0.0], [1.0], [1.0], scale=1.0)[0] == 0
    assert classify_shapes([1e-15], [1.0], [1.0], scale=1.0)[0] == 0  # rounding noise is zero


def test_fits_match_polyfit_with_gaps_and_edges():
    rng = np.random.default_rng(0)
    steps = np.cumsum(rng.integers(10, 30, 3000))
    y = np.cumsum(rng.normal(size=(5, 3000)), axis=1) + 1e4  # far from zero: tests centring
    eps = pd.DataFrame({"start": [steps[10], steps[500], steps[2000], steps[2990]],
                        "end": [steps[400], steps[1500], steps[2999], steps[2999] + 1],
                        "peak": [steps[100], steps[500], steps[2500], steps[2995]]})
    fit = two_piece_fit(steps, y, eps)
    for e, (a, c, b) in enumerate([(10, 100, 399), (500, 500, 1499), (2000, 2500, 2998), (2990, 2995, 2999)]):
        for i in range(5):
            x0 = steps[c]
            if c - a + 1 >= 2:
                p = np.polyfit(steps[a:c + 1] - x0, y[i, a:c + 1], 1)
                assert fit["s1"][e, i] == pytest.approx(p[0], rel=1e-7, abs=1e-12)
                assert fit["pre_at_cut"][e, i] == pytest.approx(p[1], rel=1e-9)
            else:
                assert np.isnan(fit["s1"][e, i])  # a single sample cannot be fitted
            q = np.polyfit(steps[c:b + 1] - x0, y[i, c:b + 1], 1)
            assert fit["s2"][e, i] == pytest.approx(q[0], rel=1e-7, abs=1e-12)
            assert fit["jump"][e, i] == pytest.approx(q[1] - (p[1] if c > a else np.nan), rel=1e-6, nan_ok=True)
            r = y[i, c:b + 1] - np.polyval(q, steps[c:b + 1] - x0)
            r2 = 1 - (r @ r) / np.sum((y[i, c:b + 1] - y[i, c:b + 1].mean()) ** 2)
            assert fit["r2_post"][e, i] == pytest.approx(r2, abs=1e-8)
    assert list(fit["n_pre"]) == [91, 1, 501, 6] and list(fit["n_post"]) == [300, 1000, 499, 5]
    # an episode outside the record gives NaN, not an error
    beyond = pd.DataFrame({"start": [steps[-1] + 100], "end": [steps[-1] + 200], "peak": [steps[-1] + 150]})
    fit = two_piece_fit(steps, y, beyond)
    assert np.isnan(fit["s1"]).all() and np.isnan(fit["jump"]).all() and list(fit["n_pre"]) == [0]


def test_overlap_identical_one_disjoint_zero():
    edges = np.linspace(0, 300e6, 100)
    rng = np.random.default_rng(1)
    a = rng.uniform(60e6, 200e6, 5000)
    pa = histogram_pdf(a, edges)
    assert pdf_overlap(pa, pa, np.diff(edges)) == pytest.approx(1.0)
    pb = histogram_pdf(rng.uniform(220e6, 290e6, 5000), edges)
    pc = histogram_pdf(rng.uniform(10e6, 50e6, 5000), edges)
    assert pdf_overlap(pc, pb, np.diff(edges)) == 0.0
    half = histogram_pdf(np.concatenate([rng.uniform(10e6, 50e6, 5000), a]), edges)
    assert 0.3 < pdf_overlap(half, pa, np.diff(edges)) < 0.7


def _records_shear_rises_normal_constant(n_contacts=30):
    rng = np.random.default_rng(11)
    fn = np.full((n_contacts, len(STEPS)), 800.0)  # constant normal force: constant strength
    fs = np.array([_series([SHAPES[rng.choice([1, 2, 3, 4])] for _ in range(4)], rng, noise=0.0, base=300.0)
                   for _ in range(n_contacts)])
    rec = segment_contacts(STEPS, {"fn": fn, "fs": fs}, np.zeros_like(fn, dtype=bool), EPISODES)
    rec["run"] = "r1"
    return rec


def test_headline_share_is_100_percent_when_only_shear_rises():
    rec = _records_shear_rises_normal_constant()
    assert (rec["fn_s1"] == 0).all()  # exactly zero: fits are centred on the cut value
    h = headline_shares(rec)
    assert list(h["run"]) == ["r1", "ALL"]
    assert (h["share_shear_rising_strength_not"] == 1.0).all()
    assert h["n_records"].iloc[-1] == 90
    # shapes 1 and 4 drop at the cut: the unloading share is their share
    assert h["share_unloading"].iloc[-1] == pytest.approx(np.isin(rec["fs_category"], [1, 4]).mean())


def test_windows_proportions_stress_and_acceleration():
    rec = _records_shear_rises_normal_constant()
    cats = category_proportions(rec, window=25_000, span=50_000)
    assert set(cats["window_start"]) == {0, 25_000}
    fs = cats[cats["component"] == "fs"].groupby("window_start")["proportion"].sum()
    np.testing.assert_allclose(fs.to_numpy(), 1.0)
    fn0 = cats[(cats["component"] == "fn") & (cats["category"] == 0)]
    np.testing.assert_allclose(fn0["proportion"], 1.0)  # constant normal force: undetermined
    # lever arms 14,000 (window 0) and 30,990 and 43,000 (window 1)
    assert list(cats.drop_duplicates("window_start")["n_records"]) == [30, 60]
    ov, pdfs = stress_strength(rec, window=25_000, span=50_000)
    assert list(ov["n"]) == [30, 60]
    # strength = 55 MPa + tan30 * 800 N / 2e-5 m^2 ~ 78 MPa; stress ~ 15 MPa: disjoint
    assert ov["strength_mean"].iloc[0] == pytest.approx(55e6 + np.tan(np.pi / 6) * 800 / 2e-5)
    assert (ov["overlap"] == 0).all()
    assert len(pdfs) == 2 * 99
    acc = acceleration_difference(rec, window=25_000, span=50_000)
    assert (acc["mean_dslope_normal"] == 0).all()
    assert np.isfinite(acc["difference"]).all()


def test_contact_arrays_pivot_and_fill():
    steps = np.array([0, 20, 40, 60])
    df = pd.DataFrame({"step": np.tile(steps, 2), "contact_id": np.repeat([7, 3], 4),
                       "fn": np.arange(8.0), "fs": -np.arange(8.0),
                       "broken": [False, False, True, True, False, False, False, False]})
    arr = contact_arrays(df.sample(frac=1.0, random_state=0))
    np.testing.assert_array_equal(arr["contact_id"], [3, 7])
    np.testing.assert_array_equal(arr["fn"], [[4, 5, 6, 7], [0, 1, 2, 3]])
    np.testing.assert_array_equal(arr["broken"][1], [False, False, True, True])
    arr = contact_arrays(df.drop(index=[1, 6]))  # missing samples are filled
    np.testing.assert_array_equal(arr["fn"], [[4, 5, 5, 7], [0, 0, 2, 3]])


def _write_run(path, fs, fn, broken, fault=None):
    return write_monitored_run(path, STEPS, fn, fs, broken, meta={"fault": fault} if fault else None)


def test_campaign_writes_tables_and_figures(tmp_path):
    rng = np.random.default_rng(2)
    fn = np.full((8, len(STEPS)), 800.0) + rng.normal(scale=0.01, size=(8, len(STEPS)))
    fs = np.array([_series([SHAPES[1]] * 4, rng, base=1500.0) for _ in range(8)])
    broken = np.zeros_like(fn, dtype=bool)
    broken[0, 100:] = True
    _write_run(tmp_path / "c" / "run1", fs, fn, broken)
    _write_run(tmp_path / "c" / "run2", fs[::-1], fn, broken[::-1],
               fault={"contact_area": 4e-5, "cohesion": 10e6, "friction_angle_deg": 20.0})
    out = analyze_campaign_grains(
        tmp_path / "c", episodes={"run1": EPISODES, "run2": EPISODES}, span=50_000)
    for name in ("segments", "categories", "stress_strength", "pdfs", "acceleration", "headline"):
        assert out[f"grains_{name}"] == tmp_path / "c" / "analysis" / f"grains_{name}.parquet"
    for name in ("categories", "stress_strength", "overlap", "acceleration"):
        p = out[f"grains_{name}_png"]
        assert p.name == f"grains_{name}.png" and p.stat().st_size > 10_000
    seg = pd.read_parquet(out["grains_segments"])
    assert len(seg) == 2 * 3 * 8 and set(seg["run"]) == {"run1", "run2"}
    assert (seg.loc[seg["run"] == "run2", "contact_area"] == 4e-5).all()
    assert (seg.loc[seg["run"] == "run1", "cohesion"] == 55e6).all()  # reference fallback
    assert (seg["x"] == 0.001).all()
    assert (seg.loc[seg["contact_id"] == (0), "fs_category"].isin([10])).sum() == 3  # run1 contact 0
    head = pd.read_parquet(out["grains_headline"])
    assert list(head["run"]) == ["run1", "run2", "ALL"]
    assert head["share_unloading"].iloc[-1] == 1.0  # every intact record has shape 1 (a drop)


def test_campaign_errors(tmp_path):
    from labquake.errors import InsufficientDataError, RunStateError
    from labquake.analysis.grains import analyze_campaign_grains

    with pytest.raises(RunStateError, match="not found"):
        analyze_campaign_grains(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InsufficientDataError, match="no complete run"):
        analyze_campaign_grains(tmp_path / "empty")


def test_contact_arrays_grid_layouts_agree():
    rng = np.random.default_rng(5)
    steps, ids = np.array([40, 0, 20]), np.array([9, 2, 5, 7])
    S, C = np.meshgrid(steps, ids, indexing="ij")  # step-major rows
    fn = rng.normal(size=S.shape)
    base = pd.DataFrame({"step": S.ravel(), "contact_id": C.ravel(), "fn": fn.ravel(), "fs": -fn.ravel(),
                         "broken": (S > 20).ravel()})
    want = contact_arrays(base.sample(frac=1.0, random_state=1).reset_index(drop=True))  # general path
    for df in (base, base.sort_values(["contact_id", "step"]).reset_index(drop=True)):
        got = contact_arrays({c: df[c].to_numpy() for c in df})
        for k in ("steps", "contact_id", "fn", "fs", "broken"):
            np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    np.testing.assert_array_equal(want["steps"], [0, 20, 40])
    np.testing.assert_array_equal(want["contact_id"], [2, 5, 7, 9])
