"""Segmentation: synthetic catalogs and the real Okubo FB03-087 laboratory picks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from labquake.errors import ConfigError, InsufficientDataError, SchemaError
from labquake.analysis.segment import (
    EPISODE_COLUMNS,
    assign_episodes,
    episode_roles,
    isj_bandwidth,
    kdf,
    label_by_onsets,
    segment_episodes,
    segment_run,
)

OKUBO = Path(__file__).parent / "data" / "okubo-4m-fb03-087"

# Okubo picks are in seconds. Within a stick-slip episode the picks span <= 0.046 s and
# consecutive episodes are >= 1.148 s apart (README). A Gaussian mixture of two groups
# separated by g has a dip between them when g > 2σ, and a group of width w stays one
# bump when w < 2σ, so any σ in (0.023, 0.57) s separates them; we take σ = 0.15 s, near
# the geometric mean of the two limits, and the reference's grid/bandwidth ratio of 1/100.
OKUBO_BANDWIDTH = 0.15
OKUBO_GRID = 0.0015


def read_okubo_picks() -> pd.DataFrame:
    """The picks file: CR line endings, '#' comment lines (one of them quoted), an empty row."""
    raw = (OKUBO / "gouge_event_picks_fb03-087.csv").read_bytes().decode("utf-8")
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    keep = [ln for ln in lines if ln.strip() and not ln.lstrip('"').startswith("#") and ln.strip(", ")]
    return pd.read_csv(io.StringIO("\n".join(keep)), skipinitialspace=True)


@pytest.fixture(scope="module")
def picks() -> pd.DataFrame:
    return read_okubo_picks()


@pytest.fixture(scope="module")
def okubo_episodes(picks):
    return segment_episodes(picks["picktime"].to_numpy(), bandwidth=OKUBO_BANDWIDTH, grid=OKUBO_GRID)


# ---------------------------------------------------------------------------------------
# Okubo FB03-087
# ---------------------------------------------------------------------------------------


def test_okubo_picks_parsed(picks):
    assert len(picks) == 133
    assert picks["event_id"].nunique() == 52
    assert picks["picktime"].is_monotonic_increasing


def test_okubo_52_episodes_ari_1(picks, okubo_episodes):
    assert list(okubo_episodes.columns) == list(EPISODE_COLUMNS)
    assert len(okubo_episodes) == 52
    lab = assign_episodes(picks["picktime"].to_numpy(), okubo_episodes)
    assert (lab >= 0).all()
    assert adjusted_rand_score(picks["event_id"], lab) == 1.0
    assert okubo_episodes["n_events"].sum() == 133


@pytest.mark.parametrize("bandwidth", [0.05, 0.1, 0.3, 0.4, "isj"])
def test_okubo_robust_to_bandwidth(picks, bandwidth):
    ep = segment_episodes(picks["picktime"].to_numpy(), bandwidth=bandwidth, grid=OKUBO_GRID)
    lab = assign_episodes(picks["picktime"].to_numpy(), ep)
    assert adjusted_rand_score(picks["event_id"], lab) == 1.0


def test_okubo_foreshock_aftershock_labels(okubo_episodes):
    cat = pd.read_csv(OKUBO / "gouge_event_catalog_fb03-087_G3_Q50.csv", skipinitialspace=True)
    timing = pd.read_csv(OKUBO / "mainshock_timing_fb03-087.csv")
    assert len(cat) == 44
    t = cat["event_onset_time"].to_numpy()
    for episodes in (okubo_episodes,  # episodes of the picks
                     segment_episodes(t, bandwidth=OKUBO_BANDWIDTH, grid=OKUBO_GRID)):  # of the catalog itself
        lab = label_by_onsets(t, episodes, timing["mainshock_onset_all"].to_numpy(),
                              timing["Stickslip_eventID"].to_numpy())
        assert (lab["mainshock_id"].to_numpy() == cat["stickslip_id"].to_numpy()).all()
        assert (lab["label"].to_numpy() == cat["event_label"].to_numpy()).all()
    # the coarser onset list puts 3 foreshocks after "their" mainshock (README)
    coarse = pd.read_csv(OKUBO / "mainshock_times_fb03-087.csv", header=None)[0].to_numpy()
    lab = label_by_onsets(t, okubo_episodes, coarse, np.arange(1, coarse.size + 1))
    assert (lab["label"].to_numpy() != cat["event_label"].to_numpy()).sum() == 3


# ---------------------------------------------------------------------------------------
# Synthetic catalogs
# ---------------------------------------------------------------------------------------


def bursts(rng, centres, sizes, sigma):
    t = np.concatenate([rng.normal(c, sigma, s) for c, s in zip(centres, sizes)])
    lab = np.repeat(np.arange(len(centres)), sizes)
    return np.round(t).astype(np.int64), lab


def test_synthetic_steps_mainshock_and_lever_arm():
    rng = np.random.default_rng(1)
    steps, lab = bursts(rng, [50_000, 90_000, 140_000, 200_000], [20, 35, 15, 300], 1500)
    ep = segment_episodes(steps, bandwidth=2000, grid=20)
    assert len(ep) == 4
    assert adjusted_rand_score(lab, assign_episodes(steps, ep)) == 1.0
    assert ep["is_mainshock"].tolist() == [False, False, False, True]
    assert (ep["lever_arm"] == ep["peak"].iloc[3] - ep["peak"]).all()
    assert ep["lever_arm"].iloc[3] == 0
    # integer steps and integer grid give integer bounds on the grid
    for c in ("start", "end", "peak", "lever_arm"):
        assert np.issubdtype(ep[c].dtype, np.integer), c
    assert (ep["start"] % 20 == 0).all() and (ep["peak"] % 20 == 0).all()
    assert (ep["end"].to_numpy()[:-1] == ep["start"].to_numpy()[1:]).all()
    assert ep["start"].iloc[0] <= steps.min() and ep["end"].iloc[-1] > steps.max()
    assert episode_roles(ep).tolist() == ["foreshock"] * 3 + ["mainshock"]
    assert ep.attrs["bandwidth"] == 2000


def test_mainshock_is_most_events_not_last():
    rng = np.random.default_rng(2)
    steps, _ = bursts(rng, [10_000, 40_000, 70_000], [10, 200, 30], 800)
    ep = segment_episodes(steps, bandwidth=2000, grid=20)
    assert ep["is_mainshock"].tolist() == [False, True, False]
    assert episode_roles(ep).tolist() == ["foreshock", "mainshock", "aftershock"]
    assert ep["lever_arm"].iloc[2] < 0
    last = segment_episodes(steps, bandwidth=2000, grid=20, mainshock="last")
    assert last["is_mainshock"].tolist() == [False, False, True]


def test_time_unit_invariance():
    rng = np.random.default_rng(3)
    steps, lab = bursts(rng, [20_000, 45_000, 80_000], [25, 40, 120], 1200)
    ep_steps = segment_episodes(steps, bandwidth=2000, grid=20)
    seconds = steps * 1e-7
    ep_sec = segment_episodes(seconds, bandwidth=2000e-7, grid=20e-7)
    assert len(ep_steps) == len(ep_sec)
    a = assign_episodes(steps, ep_steps)
    b = assign_episodes(seconds, ep_sec)
    assert adjusted_rand_score(a, b) == 1.0
    np.testing.assert_allclose(ep_sec["peak"].to_numpy(), ep_steps["peak"].to_numpy() * 1e-7, rtol=0, atol=1e-12)


def test_kdf_matches_direct_sum():
    rng = np.random.default_rng(4)
    t = rng.uniform(0, 5000, 60)
    g, d = kdf(t, bandwidth=300.0, grid=10.0)
    direct = np.exp(-0.5 * ((g[:, None] - t[None, :]) / 300.0) ** 2).sum(1)
    np.testing.assert_allclose(d, direct, rtol=0, atol=1e-12)
    assert g[0] <= t.min() - 4 * 300 and g[-1] >= t.max() + 4 * 300


def test_prominence_filters_shallow_dips():
    # two groups 2.2 σ apart: a shallow dip between them
    t = np.r_[np.zeros(10), np.full(10, 2.2)]
    all_minima = segment_episodes(t, bandwidth=1.0, grid=0.01, prominence=0)
    assert len(all_minima) == 2
    filtered = segment_episodes(t, bandwidth=1.0, grid=0.01, prominence=1.0)
    assert len(filtered) == 1
    assert filtered["n_events"].iloc[0] == 20


def test_empty_segments_are_merged():
    # a lone event far away with a tiny bandwidth; minima in event-free gaps would make
    # empty segments if the density had ripples; every episode must hold events
    rng = np.random.default_rng(5)
    t = np.r_[rng.normal(0, 1, 30), rng.normal(100, 1, 30), 500.0]
    ep = segment_episodes(t, bandwidth=2.0, grid=0.1, prominence=0)
    assert (ep["n_events"] > 0).all()
    assert len(ep) == 3
    # a constructed case: minima on both sides of an empty stretch
    t2 = np.r_[np.zeros(5), np.full(5, 10.0)]
    ep2 = segment_episodes(t2, bandwidth=1.0, grid=0.05, prominence=0)
    assert (ep2["n_events"] > 0).all() and len(ep2) == 2


def test_isj_bandwidth_on_normal_sample():
    x = np.random.default_rng(6).normal(0, 1, 2000)
    h = isj_bandwidth(x)
    silverman = 0.9 * np.std(x, ddof=1) * x.size ** -0.2
    assert 0.8 * silverman < h < 1.25 * silverman
    # scale equivariance
    assert isj_bandwidth(1000 * x + 5) == pytest.approx(1000 * h, rel=1e-6)
    # a bimodal sample gets a narrower bandwidth than the normal-reference rule
    y = np.r_[x[:1000] * 0.2 - 3, x[1000:] * 0.2 + 3]
    assert isj_bandwidth(y) < 0.5 * 0.9 * np.std(y, ddof=1) * y.size ** -0.2


def test_bad_input():
    with pytest.raises(InsufficientDataError, match="no events"):
        segment_episodes(np.array([], dtype=np.int64))
    with pytest.raises(SchemaError, match="NaN"):
        segment_episodes(np.array([1.0, np.nan, 3.0]))
    with pytest.raises(ConfigError):
        segment_episodes(np.arange(10), bandwidth=-1)
    with pytest.raises(ConfigError):
        segment_episodes(np.arange(10), bandwidth="nope")
    with pytest.raises(ConfigError):
        segment_episodes(np.arange(10), grid=0)
    with pytest.raises(InsufficientDataError):
        isj_bandwidth([1.0, 1.0])
    one = segment_episodes(np.array([1234]))
    assert len(one) == 1 and bool(one["is_mainshock"].iloc[0]) and one["peak"].iloc[0] == 1240


def test_segment_run_uses_fault_cracks(tmp_path):
    from test_pipeline import write_synthetic_run

    rd = write_synthetic_run(tmp_path / "r0", seed=0)
    ep = segment_run(rd)
    assert len(ep) == 4  # 3 foreshock bursts + mainshock in the synthetic run
    assert ep["is_mainshock"].tolist() == [False, False, False, True]
    no_fault = write_synthetic_run(tmp_path / "r1", seed=1, fault_cracks=False)
    with pytest.raises(InsufficientDataError, match="no fault cracks"):
        segment_run(no_fault)
