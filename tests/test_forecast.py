"""Forecasts with known answers: EVT coverage, precursor ramps and noise, exact consensus
logic, time to failure on a deterministic-rate catalog; and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from labquake.errors import ConfigError, InsufficientDataError
from labquake.analysis.forecast import (
    METHODS,
    Record,
    catalog_windows,
    coincidence,
    find_mainshocks,
    forecast_campaign,
    match,
    molchan,
    okubo_record,
    rates,
    record_bounds,
    score_ttf,
    trend_departure,
)
from labquake.analysis.forecast import evt
from labquake.analysis.forecast.precursor import onset_values
from labquake.analysis.forecast.skill import evt_skill, pick_alarm_skill
from labquake.io.rundir import RunDirectory

OKUBO = Path(__file__).parent / "data" / "okubo-4m-fb03-087"
N_SEQ = 2000


# --------------------------------------------------------------------------------------
# EVT: bounds on the next record-breaking magnitude
# --------------------------------------------------------------------------------------


def gr_sequences(b: float, n: int, mc: float, seed: int):
    """``N_SEQ`` GR catalogs of ``n`` events, and the next record of each.

    The first later event above the record R has the GR law conditioned on M > R (true of
    any iid sequence), drawn by inverting the CDF on (F(R), 1): no use of the
    exponential's memorylessness, on which the bounds rest.
    """
    rng = np.random.default_rng(seed)
    beta = b * np.log(10.0)
    past = mc + rng.exponential(1.0 / beta, size=(N_SEQ, n))
    F = lambda m: 1.0 - np.exp(-beta * (m - mc))  # noqa: E731
    Finv = lambda u: mc - np.log1p(-u) / beta  # noqa: E731
    fr = F(past.max(axis=1))
    nxt = Finv(fr + rng.random(N_SEQ) * (1.0 - fr))
    return past, nxt


def coverage(past, nxt, **kw) -> float:
    inside = []
    for m, y in zip(past, nxt):
        bd = record_bounds(m, **kw)
        inside.append(bd.m_le <= y <= bd.m_ue)
    return float(np.mean(inside))


@pytest.mark.parametrize("b, n, alpha, given_mc", [(1.0, 8, 0.1, True), (1.5, 30, 0.1, False), (0.8, 15, 0.32, True)])
def test_evt_bounds_cover_next_record_at_nominal_rate(b, n, alpha, given_mc):
    past, nxt = gr_sequences(b, n, mc=-5.0, seed=int(10 * b + n))
    cov = coverage(past, nxt, alpha=alpha, mc=-5.0 if given_mc else None)
    se = np.sqrt(alpha * (1 - alpha) / N_SEQ)
    assert abs(cov - (1 - alpha)) <= 3 * se, (cov, 1 - alpha, se)


def test_evt_coverage_test_has_power_plugin_bounds_undercover():
    """The same test fails for plug-in bounds (b estimated, then treated as known)."""
    alpha, n = 0.1, 8
    past, nxt = gr_sequences(1.0, n, mc=-5.0, seed=3)
    inside = []
    for m, y in zip(past, nxt):
        beta_hat = n / np.sum(m + 5.0)  # Aki ML with Mc known
        lo = m.max() - np.log(1 - alpha / 2) / beta_hat
        hi = m.max() - np.log(alpha / 2) / beta_hat
        inside.append(lo <= y <= hi)
    se = np.sqrt(alpha * (1 - alpha) / N_SEQ)
    assert np.mean(inside) < (1 - alpha) - 3 * se


def test_evt_bounds_are_the_predictive_quantiles():
    m = np.array([-5.0, -4.2, -4.9, -3.7, -4.6])
    bd = record_bounds(m, alpha=0.2, mc=-5.0)
    s = np.sum(m + 5.0)
    assert bd.record == -3.7 and bd.n == 5 and bd.s == pytest.approx(s)
    # P(next record > x) = (1 + (x - R)/S)^-n
    assert (1 + (bd.m_ue - bd.record) / s) ** -5 == pytest.approx(0.1)
    assert (1 + (bd.m_le - bd.record) / s) ** -5 == pytest.approx(0.9)
    assert bd.cdf(bd.ppf(0.37)) == pytest.approx(0.37)
    assert bd.b == pytest.approx(5 / (s * np.log(10)))
    # Mc = sample minimum: the n - 1 excesses over it
    bd2 = record_bounds(m, alpha=0.2)
    assert bd2.n == 4 and bd2.mc == -5.0


def test_field_distributions_match_their_formulas():
    z = np.array([-0.15, 0.0, 0.05, 0.2, 0.7])
    k, sig, mu = 0.23, 0.1, 0.0
    gev_cdf = np.exp(-(1 + k * (z - mu) / sig) ** (-1 / k))  # MATLAB-sign GEV, k > 0 heavy upper tail
    assert np.allclose(evt.field_distribution("gev").cdf(z), gev_cdf)
    ln_cdf = stats.norm.cdf((np.log(z + 0.2) - (-1.4)) / 0.6)
    assert np.allclose(evt.field_distribution("lognormal").cdf(z), ln_cdf)


def test_crps_against_closed_forms():
    mu, sd, y = 0.3, 0.7, 1.1
    zz = (y - mu) / sd
    exact = sd * (zz * (2 * stats.norm.cdf(zz) - 1) + 2 * stats.norm.pdf(zz) - 1 / np.sqrt(np.pi))
    assert evt.crps(stats.norm(mu, sd).ppf, y, n_quantiles=20000) == pytest.approx(exact, rel=1e-3)
    x = np.array([0.0, 1.0, 3.0])
    # ensemble CRPS = ∫ (F_n(t) - 1{t >= y})² dt, integrated by hand for y = 2
    assert evt.crps_ensemble(x, 2.0) == pytest.approx((1 / 3) ** 2 * 1 + (2 / 3) ** 2 * 1 + (1 / 3) ** 2 * 1)


def test_gev_fit_recovers_parameters_and_falls_back_to_field():
    law = stats.genextreme(c=-0.2, loc=0.05, scale=0.12)
    z = law.rvs(size=3000, random_state=np.random.default_rng(1))
    fitted, src = evt.fit_gev(z)
    assert src == "fitted"
    assert fitted.kwds["c"] == pytest.approx(-0.2, abs=0.05)
    assert np.allclose(fitted.ppf([0.1, 0.5, 0.9]), law.ppf([0.1, 0.5, 0.9]), atol=0.02)
    _, src = evt.fit_gev(z[:5])
    assert src == "field"


def test_evt_needs_three_magnitudes():
    with pytest.raises(InsufficientDataError, match="at least 3 magnitudes") as ei:
        record_bounds([-5.0, -4.0])
    assert "\n" not in str(ei.value)
    with pytest.raises(ConfigError):
        record_bounds([-5, -4, -3], alpha=1.5)


# --------------------------------------------------------------------------------------
# Precursor: trend departure and Molchan diagram
# --------------------------------------------------------------------------------------

DT, W, L = 1.0, 200.0, 50.0


def ramp_series(onsets, r, n=6000, v=2e-3):
    t = np.arange(n) * DT
    x = v * t
    for on in onsets:  # extra slope r v over the last L before each onset
        seg = (t >= on - L) & (t < on)
        x[seg] += r * v * (t[seg] - (on - L))
    return t, x


def test_trend_departure_is_zero_on_a_line_and_r_on_a_planted_ramp():
    t = np.arange(1000.0)
    d = trend_departure(t, 3.0 + 0.5 * t, window=W, lead=L)
    assert np.nanmax(np.abs(d)) < 1e-9 and np.isfinite(d[300:]).all()
    onsets = [1500.0, 3000.0, 4500.0]
    t, x = ramp_series(onsets, r=0.25)
    d = trend_departure(t, x, window=W, lead=L, onsets=onsets)
    # the last sample before an onset sits at on - DT: the ramp has run for L - DT,
    # and the trend window [t - W, t - L] lies wholly before the ramp
    expected = 0.25 * (L - DT) / L
    assert np.allclose(onset_values(t, d, onsets), expected, rtol=1e-9)
    # onsets inside (t - W, t] blank the departure
    assert np.isnan(d[(t >= 1500) & (t < 1500 + W)]).all() and np.isfinite(d[t == 1500 + W]).all()


def test_planted_ramp_is_detected_at_the_planted_threshold():
    onsets = np.arange(1000.0, 5900.0, 700.0)
    t, x = ramp_series(onsets, r=0.25)
    d = trend_departure(t, x, window=W, lead=L, onsets=onsets)
    at = onset_values(t, d, onsets)
    planted = 0.25 * (L - DT) / L
    assert (at >= planted * (1 - 1e-9)).all()  # hit at the planted threshold ...
    assert not (at >= planted * (1 + 1e-6)).any()  # ... and missed just above it
    valid = np.isfinite(d)
    m = molchan(d[valid], at)
    assert m.skill > 0.95  # the ramp occupies a small share of the time


def test_pure_noise_sits_on_the_molchan_diagonal():
    rng = np.random.default_rng(7)
    onsets = np.sort(rng.choice(np.arange(W + 10, 120_000, 1.0), size=300, replace=False))
    onsets = onsets[np.concatenate([[True], np.diff(onsets) > 2 * W])]
    t = np.arange(120_000) * DT
    x = 1e-3 * t + rng.normal(0, 0.02, t.size)
    d = trend_departure(t, x, window=W, lead=L, onsets=onsets)
    at = onset_values(t, d, onsets)
    m = molchan(d[np.isfinite(d)], at)
    assert m.n_targets == onsets.size > 100
    assert abs(m.area - 0.5) <= 3 * m.area_se, (m.area, m.area_se)
    # every point of the curve is near the diagonal nu = 1 - tau (binomial band)
    band = 4 * np.sqrt(0.25 / m.n_targets) + 1.0 / m.n_targets
    assert np.all(np.abs(m.nu - (1 - m.tau)) <= band)


def test_molchan_area_is_mean_alarm_time_needed():
    samples = np.array([0.0, 1.0, 2.0, 3.0])  # equal durations
    m = molchan(samples, [3.0, 1.0, np.nan])  # needs 1/4, 3/4 and all of the time
    assert m.area == pytest.approx((0.25 + 0.75 + 1.0) / 3)
    assert m.nu[0] == 1.0 and m.nu[-1] == pytest.approx(1 / 3) and m.tau[-1] == 1.0


# --------------------------------------------------------------------------------------
# 2-of-3 consensus
# --------------------------------------------------------------------------------------


def test_consensus_logic_is_exact():
    det = {"a": [0.0, 10.0, 20.0], "b": [0.5, 30.0], "c": [10.2, 40.0]}
    assert coincidence(det, window=1.0, k=2).tolist() == [0.5, 10.2]
    # half-open windows: a detection exactly `window` later does not overlap
    assert coincidence({"a": [0.0], "b": [1.0]}, window=1.0).size == 0
    assert coincidence({"a": [0.0], "b": [0.999]}, window=1.0).tolist() == [0.999]
    # one detector votes once, however often it fires
    assert coincidence({"a": [0.0, 0.2, 0.4], "b": [5.0]}, window=1.0).size == 0
    # all three needed for k = 3; a second rise after a drop publishes again
    det3 = {"a": [0.0, 5.0], "b": [0.3, 5.1], "c": [0.6, 9.0]}
    assert coincidence(det3, window=1.0, k=3).tolist() == [0.6]
    assert coincidence(det3, window=1.0, k=2).tolist() == [0.3, 5.1]
    # a continuous overlap is one event, not one per detection
    assert coincidence({"a": [0.0, 0.8, 1.6], "b": [0.1, 0.9, 1.7]}, window=1.0).tolist() == [0.1]
    with pytest.raises(ConfigError):
        coincidence(det, window=0.0)


def test_matching_and_rates_are_exact():
    truth = [0.0, 10.0, 20.0, 30.0]
    det = [0.4, 9.0, 9.5, 25.0]  # 0.4 -> 0; 9.0 -> 10; 9.5 unpaired; 25 unpaired; 20, 30 missed
    assert match(det, truth, tolerance=1.0) == (2, 4, 4)
    r = rates(det, truth, tolerance=1.0)
    assert r["miss_rate"] == 0.5 and r["false_rate"] == 0.5 and r["f1"] == 0.5


# --------------------------------------------------------------------------------------
# Time to failure
# --------------------------------------------------------------------------------------


def deterministic_rate_record(name: str, recurrences, seed: int, a: float = 40.0, c: float = 30.0) -> Record:
    """Cycles whose event rate is a / (T - t + c): the count in any window is a function
    of the time to failure only, so the time to failure is recoverable from the rate."""
    rng = np.random.default_rng(seed)
    times, onsets, start = [], [], 0.0
    for T in recurrences:
        # N(t) = a ln((T + c) / (T - t + c)); event k at N = k
        k = np.arange(1, int(a * np.log((T + c) / c)))
        times.append(start + T + c - (T + c) * np.exp(-k / a))
        onsets.append(start + T)
        start += T
    t = np.concatenate(times)
    mw = -6 + rng.exponential(1 / np.log(10), t.size)
    ev = pd.DataFrame({"time": t, "mw": mw, "m0": 10 ** (1.5 * mw + 9.1)})
    ms = pd.DataFrame({"cycle": np.arange(len(onsets)), "onset": onsets, "end": onsets})
    return Record(name=name, unit="s", start=0.0, mainshocks=ms, events=ev, data="simulated")


@pytest.fixture(scope="module")
def ttf_windows():
    rng = np.random.default_rng(11)
    recs = [deterministic_rate_record(f"r{i}", rng.uniform(800, 1600, 3), seed=i) for i in range(4)]
    return pd.concat([catalog_windows(r, window=80.0, stride=40.0, group_by="cycle") for r in recs], ignore_index=True)


def test_ttf_on_a_deterministic_rate_reaches_r2_above_0_9(ttf_windows):
    assert ttf_windows["group"].nunique() == 12  # leave one of 12 cycles out
    assert (ttf_windows["ttf"] > 0).all()
    res = score_ttf(ttf_windows, features=["rate", "log_moment", "mean_mw", "log_interevent"], n_shuffle=3)
    assert res["gbr"]["r2"] > 0.9, res["gbr"]
    assert res["shuffled"]["r2"] <= 0.05, res["shuffled"]
    assert res["climatology"]["r2"] < res["gbr"]["r2"]  # recurrences vary, so elapsed time alone is worse
    assert next(iter(res["importance"])) in ("rate", "log_interevent")


def test_ttf_window_longer_than_every_cycle_is_a_one_line_error():
    rec = deterministic_rate_record("r", [500.0, 600.0], seed=0)
    win = catalog_windows(rec, window=700.0)
    assert win.empty
    with pytest.raises(InsufficientDataError, match="at least 10 windows") as ei:
        score_ttf(win)
    assert "\n" not in str(ei.value)
    one = catalog_windows(deterministic_rate_record("r", [1000.0], seed=0), window=50.0)
    with pytest.raises(InsufficientDataError, match="at least 2 runs or cycles"):
        score_ttf(one)


# --------------------------------------------------------------------------------------
# Run directories, the command and its errors
# --------------------------------------------------------------------------------------


def write_run(root: Path, name: str, seed: int, *, drop: bool = True, n_events: int = 80) -> Path:
    """A small synthetic run directory: a stick-slip at ``onset``, foreshocks whose rate
    rises toward it, a burst of larger events after it, KE and slip jumps at the events."""
    rng = np.random.default_rng(seed)
    rd = RunDirectory(root / name)
    rd.start({"name": name, "seed": seed})
    step = np.arange(0, 12001, 50)
    onset = int(8000 + 50 * rng.integers(-20, 20))
    stress = 300e6 * step / onset
    if drop:
        stress = np.where(step <= onset, stress, 0.55 * 300e6 + 1e3 * (step - onset))
    n_fore = n_events if n_events < 4 else int(0.7 * n_events)
    fore = np.sort(onset - (onset - 1000) * rng.random(n_fore) ** 2.5).astype(np.int64)
    after = np.sort(onset + rng.integers(1, 400, n_events - n_fore)).astype(np.int64)
    ev_steps = np.concatenate([fore, after])
    mw = np.concatenate([-6 + rng.exponential(0.43, n_fore), -5 + rng.exponential(0.43, n_events - n_fore)])
    n = ev_steps.size
    z = np.zeros(n)
    events = pd.DataFrame({"event_id": np.arange(n), "step_start": ev_steps, "step_end": ev_steps + 20,
                           "x": rng.normal(0, 0.005, n), "y": rng.normal(0, 0.005, n), "z": rng.normal(0, 0.005, n),
                           "radius": 1e-3 + z, "m0": 10 ** (1.5 * mw + 9.1), "mw": mw, "m11": z, "m12": z, "m13": z,
                           "m22": z, "m23": z, "m33": z, "iso": z, "dev": z, "n_cracks": np.ones(n, np.int64),
                           "on_fault": np.ones(n, bool)})
    cracks = pd.DataFrame({"crack_id": np.arange(n), "step": ev_steps, "time": ev_steps * 1e-8,
                           "x": events["x"], "y": events["y"], "z": events["z"], "nx": z, "ny": z, "nz": 1 + z,
                           "size": 1e-3 + z, "kind": "fault", "mode": "shear", "particle_a": np.arange(n),
                           "particle_b": np.arange(n) + 1})
    hits = np.searchsorted(step, ev_steps)
    ke = 1e-3 * (1 + 0.1 * rng.random(step.size))
    np.add.at(ke, np.minimum(hits, step.size - 1), 1e-2 * 10 ** (mw - mw.min()))
    slip = 1e-6 * step / step[-1] + np.where(step > onset, 1e-4, 0.0)
    loading = pd.DataFrame({"step": step, "time": step * 1e-8, "axial_stress": stress + 1e7, "confining_stress": 1e7 + 0 * stress,
                            "differential_stress": stress, "axial_strain": 1e-6 * step, "volumetric_strain": 0 * stress,
                            "platen_displacement": 7e-8 * step, "fault_slip": slip, "kinetic_energy": ke})
    for tname, df in (("loading", loading), ("events", events), ("cracks", cracks)):
        rd.write_table(tname, df)
    rd.complete()
    return rd.path


def test_find_mainshocks_from_the_loading_record_and_from_slips():
    step = np.arange(0, 1000, 10)
    s = np.where(step <= 600, step * 1.0, 300.0)
    ms = find_mainshocks(pd.DataFrame({"step": step, "differential_stress": s}))
    assert ms[["cycle", "onset", "end"]].values.tolist() == [[0, 600.0, 610.0]]
    # a cycle column in slips.parquet gives one mainshock per cycle, no code change
    slips = pd.DataFrame({"cycle": [0, 0, 1, 2, 2], "step_start": [100, 300, 700, 900, 990],
                          "step_end": [120, 330, 750, 905, 999], "static_drop": [1.0, 5.0, 3.0, 2.0, 0.5],
                          "is_mainshock": [False, True, True, False, False]})
    ms = find_mainshocks(None, slips=slips)
    assert ms["onset"].tolist() == [300.0, 700.0, 900.0] and ms["end"].tolist() == [330.0, 750.0, 905.0]


def test_a_cycle_column_in_slips_gives_several_mainshocks_per_run(tmp_path):
    from labquake.analysis.forecast import run_record

    path = write_run(tmp_path, "run-cycles", seed=5)
    onset = float(pd.read_parquet(path / "loading.parquet").pipe(
        lambda lo: lo.loc[lo["differential_stress"].idxmax(), "step"]))
    slips = pd.DataFrame({"cycle": [0, 1, 1], "step_start": [4000, onset - 500, onset],
                          "step_end": [4100, onset - 450, onset + 300], "static_drop": [5e6, 1e6, 9e7],
                          "is_mainshock": [True, False, True]})
    slips.to_parquet(path / "slips.parquet")
    rec = run_record(path)
    assert rec.mainshocks[["onset", "end"]].values.tolist() == [[4000.0, 4100.0], [onset, onset + 300]]
    assert rec.cycle_bounds().tolist() == [[0.0, 4000.0], [4100.0, onset]]
    win = catalog_windows(rec, window=400.0, group_by="cycle")
    assert set(win["cycle"]) == {0, 1} and win.groupby("cycle")["ttf"].min().tolist() == [200.0, 200.0]
    assert (win["t_end"] <= np.where(win["cycle"] == 0, 4000.0, onset)).all()


def test_no_mainshock_is_a_one_line_error():
    step = np.arange(0, 1000, 10)
    with pytest.raises(InsufficientDataError, match="no mainshock") as ei:
        find_mainshocks(pd.DataFrame({"step": step, "differential_stress": step * 1.0}), source="run-x")
    assert "run-x" in str(ei.value) and "\n" not in str(ei.value)


def run_cli(*args) -> tuple[int, str, str]:
    import contextlib
    import io

    from labquake.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["forecast", *map(str, args)])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def synthetic_campaign(tmp_path_factory):
    root = tmp_path_factory.mktemp("fc") / "camp"
    for i in range(4):
        write_run(root, f"run-{i}", seed=i)
    return root


def test_forecast_command_writes_skill_json(synthetic_campaign, tmp_path):
    out = tmp_path / "fc"
    rc, so, se = run_cli(synthetic_campaign, "--out", out)
    assert rc == 0, se
    doc = json.loads((out / "skill.json").read_text())
    for m in METHODS:
        e = doc[m]["simulated"]
        assert e["data"] == "simulated" and e["applies"], (m, e)
        assert np.isfinite(e["score"]) and np.isfinite(e["baseline"]) and e["n"] > 0
    assert doc["evt"]["simulated"]["n"] == 4 and doc["precursor"]["simulated"]["n"] == 4
    assert doc["_meta"]["n_runs"] == 4
    assert {p.name for p in out.glob("*.png")} >= {f"{m}_simulated.png" for m in METHODS}
    assert "consensus" in so and "baseline" in so
    rc, _, se = run_cli(synthetic_campaign, "--out", out, "--report")
    assert rc == 2 and "drop --out" in se and not (synthetic_campaign / "report.html").exists()


def test_forecast_report_flag_rewrites_the_campaign_report(synthetic_campaign):
    rc, so, se = run_cli(synthetic_campaign, "--report", "--no-figures")
    assert rc == 0, se
    html = (synthetic_campaign / "report.html").read_text()
    assert "<h2>Forecasting" in html and '<td class="l">ttf</td>' in html


def test_report_section_lists_every_score_beside_its_baseline(synthetic_campaign, tmp_path):
    from labquake.report import forecast_section

    assert "Not computed" in forecast_section(tmp_path)
    forecast_campaign(synthetic_campaign, figures=True)
    html = forecast_section(synthetic_campaign)
    doc = json.loads((synthetic_campaign / "forecast" / "skill.json").read_text())
    for m in METHODS:
        e = doc[m]["simulated"]
        assert f'<td class="l">{m}</td><td class="l">simulated</td>' in html
        assert e["baseline_name"].replace("'", "&#x27;") in html
    assert html.count("<img") == len(list((synthetic_campaign / "forecast").glob("*.png"))) >= 4


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case, message", [
    ("one_run", "at least 2"),
    ("no_mainshock", "no mainshock"),
    ("too_few_events", "at least 3 per run"),
])
def test_bad_campaigns_give_one_line_errors_and_keep_results(tmp_path, case, message):
    root = tmp_path / case
    if case == "one_run":
        write_run(root, "run-0", seed=0)
    elif case == "no_mainshock":
        for i in range(3):
            write_run(root, f"run-{i}", seed=i, drop=False)
    else:
        for i in range(3):
            write_run(root, f"run-{i}", seed=i, n_events=2)
    out = root / "forecast"
    out.mkdir(parents=True)
    (out / "skill.json").write_text('{"earlier": true}\n')
    before = _tree(root)
    rc, so, se = run_cli(root)
    assert rc == 2
    assert se.startswith("labquake: error: ") and se.count("\n") == 1 and "Traceback" not in se
    assert message in se, se
    assert _tree(root) == before  # nothing written, nothing lost


# --------------------------------------------------------------------------------------
# Okubo FB03-087
# --------------------------------------------------------------------------------------


def test_okubo_record():
    rec = okubo_record(OKUBO)
    assert len(rec.mainshocks) == 55 and len(rec.events) == 133
    assert int(np.isfinite(rec.events["mw"]).sum()) == 44  # every catalogued event matched to its own pick
    b = rec.cycle_bounds()
    assert (b[:, 1] > b[:, 0]).all() and (b[1:, 0] > b[:-1, 1]).all()


def test_okubo_pick_alarms_and_record_sequence():
    rec = okubo_record(OKUBO)
    pa = pick_alarm_skill(rec)
    assert pa["data"] == "okubo" and pa["n"] == 55
    assert pa["baseline"] == 0.5 and 0.0 <= pa["score"] <= 1.0
    # independent check of the hit rate: stick-slips with a pick in the 0.1 s before onset
    t = np.sort(rec.events["time"].to_numpy())
    on = rec.mainshocks["onset"].to_numpy()
    hit = [(np.any((t < o) & (t >= o - 0.1))) for o in on]
    assert pa["hit_rate"] == pytest.approx(np.mean(hit))
    ev = evt_skill([rec], sequence=True)
    mw = rec.events.dropna(subset=["mw"]).sort_values("time")["mw"].to_numpy()
    n_records = sum(mw[r] > mw[:r].max() for r in range(5, mw.size))
    assert ev["n"] == n_records or (not ev["applies"] and n_records < 2)


@pytest.mark.slow
def test_forecast_on_okubo_directory(tmp_path):
    rc, so, se = run_cli(OKUBO, "--out", tmp_path / "ok", "--no-figures")
    assert rc == 0, se
    doc = json.loads((tmp_path / "ok" / "skill.json").read_text())
    assert doc["consensus"]["okubo"]["applies"] is False and "one detector" in doc["consensus"]["okubo"]["reason"]
    assert doc["ttf"]["okubo"]["n_groups"] == 55 and doc["ttf"]["okubo"]["data"] == "okubo"
    assert not list(OKUBO.glob("forecast*"))
