"""Repeated stick-slip cycles (labquake.analysis.cycle_stats): per-cycle rows, CVs, b through the
cycle, per-cycle trees, on synthetic multi-cycle run directories with known answers."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from cycles_support import (
    B_EARLY,
    B_LATE,
    CAMPAIGN_SPECS,
    DT,
    M_MIN,
    SLIP_STEPS,
    CycleSpec,
    write_cycles_run,
)

from labquake.analysis.cycle_stats import (
    B_CYCLE_COLUMNS,
    CYCLE_COLUMNS,
    analyze_run_cycles,
    b_through_cycle,
    coefficient_of_variation,
    comparison_set,
    cycles_summary,
    within_record_normalised,
)
from labquake.errors import ConfigError, InsufficientDataError, SchemaError


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Three multi-cycle runs, a run that never had a stick-slip, and a run made before
    slips.parquet existed (one cycle from its loading curve)."""
    from test_pipeline import write_synthetic_run

    root = tmp_path_factory.mktemp("cycles")
    truth = {name: write_cycles_run(root / name, specs, seed=i) for i, (name, specs) in enumerate(CAMPAIGN_SPECS.items())}
    write_cycles_run(root / "run-04_noss", CAMPAIGN_SPECS["run-03_c"][:2], seed=7, stick_slips=False)
    write_synthetic_run(root / "run-05_old", seed=3)
    return root, truth


@pytest.fixture(scope="module")
def analysed(campaign):
    from labquake.analysis.pipeline import analyze_campaign

    root, _ = campaign
    paths = analyze_campaign(root, metrics=("hausdorff",), n_perm=20, n_boot=50, seed=0, figures=True)
    return paths, pd.read_parquet(paths["cycles"]), pd.read_parquet(paths["b_cycle"])


def test_one_row_per_complete_cycle_with_known_times_drops_and_foreshocks(campaign, analysed):
    _, truth = campaign
    _, cyc, _ = analysed
    assert list(cyc.columns) == list(CYCLE_COLUMNS)
    for name, specs in CAMPAIGN_SPECS.items():
        t = cyc[cyc["run"] == name].sort_values("cycle")
        # the tail after the last stick-slip, and the 2 MPa precursory slips, give no row
        assert t["cycle"].tolist() == list(range(len(specs)))
        assert t["complete"].all() and (t["source"] == "slips").all()
        assert t["start"].tolist() == truth[name].starts
        assert t["onset"].tolist() == truth[name].onsets
        assert t["end"].tolist() == truth[name].ends
        rec = (np.diff(truth[name].onsets) * DT).tolist()
        assert math.isnan(t["recurrence"].iloc[0])
        np.testing.assert_allclose(t["recurrence"].iloc[1:], rec)
        np.testing.assert_allclose(t["static_drop"], [s.drop for s in specs])
        assert t["n_foreshocks"].tolist() == [s.n_foreshocks for s in specs]
        assert t["n_events"].tolist() == [s.n_foreshocks + s.n_main for s in specs]
        assert t["n_foreshock_episodes"].tolist() == [len(s.bursts) for s in specs]
        assert t["n_episodes"].tolist() == [len(s.bursts) + 1 for s in specs]
        assert t["kde_mainshock_at_slip"].all()
    # a run that never had a stick-slip: its largest slip closes one cycle, not complete
    noss = cyc[cyc["run"] == "run-04_noss"]
    assert len(noss) == 1 and not noss["complete"].iloc[0]
    # a run from before slips.parquet: one cycle from its loading curve (3 foreshock bursts)
    old = cyc[cyc["run"] == "run-05_old"]
    assert len(old) == 1 and old["source"].iloc[0] == "loading" and old["complete"].iloc[0]
    assert old["n_foreshock_episodes"].iloc[0] == 3 and math.isnan(old["recurrence"].iloc[0])


def test_b_and_d2_per_cycle_and_nan_with_the_reason_for_small_cycles(analysed):
    _, cyc, _ = analysed
    small = cyc[(cyc["run"] == "run-01_a") & (cyc["cycle"] == 4)].iloc[0]
    assert small["n_events"] == 6 and math.isnan(small["b"]) and math.isnan(small["D2"])
    assert "b: b-value needs at least 10 magnitudes, got 6" in small["notes"]
    assert "D2: correlation dimension needs at least 10 points, got 6" in small["notes"]
    big = cyc[cyc["n_events"] >= 200]
    assert big["b"].notna().all() and big["D2"].notna().all() and (big["notes"] == "").all()
    # events uniform on the fault plane: D2 = 2
    assert big["D2"].between(1.6, 2.4).all() and abs(big["D2"].median() - 2.0) < 0.15
    # every event is above M_MIN: b is finite, positive, between the bursts' b-values and 1 (mainshock)
    assert big["b"].between(B_LATE - 0.2, B_EARLY + 0.2).all() and (big["mc"] >= M_MIN).all()
    s = cycles_summary(cyc)
    assert s["n_b_nan"] == 1 and s["n_d2_nan"] == 1 and s["n_cycles"] == 16 and s["max_cycles"] == 6
    assert s["reasons"] == {"b: b-value needs at least N magnitudes, got N": 1,
                            "D2: correlation dimension needs at least N points, got N": 1}


def test_recurrence_and_stress_drop_cv_against_an_independent_computation(analysed):
    _, cyc, _ = analysed
    rec, drop = [], []
    for specs in CAMPAIGN_SPECS.values():
        onsets = np.cumsum([s.length + SLIP_STEPS for s in specs]) - SLIP_STEPS
        r = np.diff(onsets) * DT
        rec.append(r / r.mean())
        d = np.array([s.drop for s in specs[1:]])
        drop.append(d / d.mean())
    rec, drop = np.concatenate(rec), np.concatenate(drop)
    sim = comparison_set(cyc)
    assert len(sim) == sum(len(s) - 1 for s in CAMPAIGN_SPECS.values())
    from labquake.analysis.cycle_stats import cycle_set_stats

    st = cycle_set_stats(sim)
    assert st["recurrence_cv"] == pytest.approx(rec.std(ddof=1) / rec.mean())
    assert st["drop_cv"] == pytest.approx(drop.std(ddof=1) / drop.mean())
    fs = np.concatenate([[s.n_foreshocks for s in specs[1:]] for specs in CAMPAIGN_SPECS.values()])
    assert st["share_with_foreshocks"] == pytest.approx(np.mean(fs > 0))
    assert st["foreshocks_mean"] == pytest.approx(fs.mean()) and st["share_0"] == pytest.approx(np.mean(fs == 0))
    # the summary's within-run CV counts every complete cycle with a recurrence
    assert cycles_summary(cyc)["recurrence_cv"] == pytest.approx(rec.std(ddof=1) / rec.mean())


def test_b_through_the_cycle_recovers_the_b_of_each_phase(analysed):
    paths, _, bc = analysed
    assert list(bc.columns) == list(B_CYCLE_COLUMNS) and len(bc) == 5
    assert paths["fig_b_cycle"].read_bytes()[:4] == b"\x89PNG"
    late, early = bc[bc["hi"] <= 0.4 + 1e-9], bc[bc["lo"] >= 0.6 - 1e-9]
    assert len(late) == 2 and len(early) == 2
    for rows, b_true in ((late, B_LATE), (early, B_EARLY)):
        for r in rows.itertuples():
            assert r.n_events > 100 and r.b_sd > 0
            assert abs(r.b - b_true) < 3 * r.b_sd, (r.lo, r.hi, r.b, r.b_sd, b_true)
    assert early["b"].min() - late["b"].max() > 3 * max(early["b_sd"].max(), late["b_sd"].max())  # b falls before failure


def test_b_through_cycle_pooled_over_many_cycles_with_a_known_trend():
    rng = np.random.default_rng(5)
    parts = []
    b_of = lambda f: 0.7 + 0.8 * f  # noqa: E731 - b falls from 1.5 at the cycle's start to 0.7 at failure
    for cyc in range(40):
        f = rng.uniform(0, 1, 1500)
        b = b_of(np.ceil(f * 5) / 5 - 0.1)  # constant within each of 5 bins
        parts.append(pd.DataFrame({"run": "r", "cycle": cyc, "ttf_fraction": f, "ttf": f * 0.01,
                                   "mw": M_MIN + rng.exponential(np.log10(np.e) / b)}))
    ev = pd.concat(parts, ignore_index=True)
    bc = b_through_cycle(ev, n_bins=5, n_boot=100, mc=M_MIN)
    assert (bc["n_cycles"] == 40).all() and bc["n_events"].sum() == len(ev)
    for r in bc.itertuples():
        assert abs(r.b - b_of(r.centre)) < 3 * r.b_sd, (r.centre, r.b, r.b_sd)
        assert 0.5 * r.b_sd_shi_bolt < r.b_sd < 2 * r.b_sd_shi_bolt
    # absolute times to failure, explicit edges (s); events beyond the last edge are left out
    bt = b_through_cycle(ev, by="time", edges=[0, 0.002, 0.004], n_boot=0, mc=M_MIN)
    assert bt["by"].eq("time").all() and bt["n_events"].sum() == int((ev["ttf"] <= 0.004).sum())
    assert abs(bt["b"].iloc[0] - 0.78) < 0.05 and bt["b_sd"].isna().all()
    # equal-count bins by default for absolute times
    bq = b_through_cycle(ev, by="time", n_bins=4, n_boot=0)
    assert bq["n_events"].max() - bq["n_events"].min() <= 2


def test_b_through_cycle_errors_are_one_line():
    ev = pd.DataFrame({"ttf_fraction": np.linspace(0, 1, 50), "mw": np.linspace(-8, -7, 50)})
    with pytest.raises(InsufficientDataError, match="no event between stick-slips"):
        b_through_cycle(ev.iloc[:0])
    with pytest.raises(SchemaError, match="NaN or infinite"):
        b_through_cycle(ev.assign(mw=np.r_[np.nan, ev["mw"].iloc[1:]]))
    with pytest.raises(SchemaError, match="negative"):
        b_through_cycle(ev.assign(ttf_fraction=ev["ttf_fraction"] - 0.5))
    with pytest.raises(SchemaError, match="lack columns"):
        b_through_cycle(ev.drop(columns="mw"))
    for kw, msg in (({"by": "phase"}, "by must be"), ({"n_bins": 0}, "n_bins"), ({"edges": [0.5, 0.2]}, "edges")):
        with pytest.raises(ConfigError, match=msg) as info:
            b_through_cycle(ev, **kw)
        assert "\n" not in str(info.value)
    # a bin too small for b: NaN with the reason, never an error
    small = b_through_cycle(ev, n_bins=10, n_boot=0)
    assert small["b"].isna().all() and small["notes"].str.contains("at least").all()


def test_cv_helpers():
    assert coefficient_of_variation([2.0, 2.0, 2.0]) == 0.0
    assert math.isnan(coefficient_of_variation([1.0])) and math.isnan(coefficient_of_variation([np.nan, 1.0]))
    assert coefficient_of_variation([1.0, 3.0]) == pytest.approx(np.std([1, 3], ddof=1) / 2)
    v = within_record_normalised([1.0, 3.0, 10.0, 30.0, 5.0, np.nan], ["a", "a", "b", "b", "c", "d"])
    np.testing.assert_allclose(v[:4], [0.5, 1.5, 0.5, 1.5])
    assert np.isnan(v[4:]).all()  # a run with a single value says nothing about its variability


def test_a_run_with_an_empty_catalog_gives_nan_rows_not_an_error(tmp_path):
    from labquake.io.rundir import RunDirectory, empty_table

    write_cycles_run(tmp_path / "r", [CycleSpec(50_000, 30e6, (0.5,)), CycleSpec(50_000, 30e6)], seed=2)
    rd = RunDirectory(tmp_path / "r")
    rd.write_table("events", empty_table("events"))
    rd.write_table("cracks", empty_table("cracks"))
    res = analyze_run_cycles(rd, n_boot=0)
    t = res.table
    assert len(t) == 2 and (t["n_events"] == 0).all() and t["b"].isna().all() and t["D2"].isna().all()
    assert t["notes"].str.contains("segmentation: no events to segment").all() and res.b_events.empty
    # and a run whose slips table is empty has no cycle at all: a reason, no row
    rd.write_table("slips", empty_table("slips"))
    res = analyze_run_cycles(rd)
    assert res.table.empty and "no slip event" in res.error and list(res.table.columns) == list(CYCLE_COLUMNS)


def test_per_cycle_trees_have_run_cycle_leaves(campaign, analysed):
    from labquake.analysis.pipeline import analyze_campaign

    root, _ = campaign
    _, cyc, _ = analysed
    before = {p.name: p.read_bytes() for p in (root / "analysis").glob("*.parquet")
              if p.stem in ("runs", "episodes", "seismicity", "clouds")}
    paths = analyze_campaign(root, metrics=("hausdorff",), n_perm=20, n_boot=50, figures=False, per_cycle=True)
    # the per-run tables do not depend on the tree mode
    for name, data in before.items():
        pd.testing.assert_frame_equal(pd.read_parquet(root / "analysis" / name), pd.read_parquet(io.BytesIO(data)))
    c2 = pd.read_parquet(paths["cycles"])
    leaves = c2.loc[c2["in_trees"], "leaf"].tolist()
    # every cycle with a foreshock cloud is a leaf; the cycles with no foreshock are not
    assert set(leaves) == set(c2.loc[c2["n_foreshock_cloud"] >= 2, "leaf"])
    assert "run-01_a#c4" not in leaves and "run-01_a#c3" in leaves and len(leaves) == 16
    assert c2.loc[c2["leaf"] == "run-01_a#c4", "notes"].str.contains("trees: a cloud has fewer").all()
    dist = pd.read_parquet(paths["distances"])
    assert set(dist["run_a"]) == set(leaves)
    link = pd.read_parquet(paths["linkage"])
    assert (link.groupby("cloud").size() == len(leaves) - 1).all()
    cl = pd.read_parquet(paths["cycle_clouds"])
    assert set(cl.loc[cl["cloud"] == "foreshock", "leaf"]) >= set(leaves)
    # the cycle ids of the clouds' events are those of their cycle
    ev = pd.read_parquet(root / "run-02_b" / "events.parquet")
    merged = cl[cl["run"] == "run-02_b"].merge(ev[["event_id", "cycle"]], on="event_id", suffixes=("", "_ev"))
    assert (merged["cycle"] == merged["cycle_ev"]).all()


def test_one_multi_cycle_run_is_enough_for_per_cycle_trees(tmp_path, capsys):
    from labquake.cli import main

    write_cycles_run(tmp_path / "run-01_only", CAMPAIGN_SPECS["run-02_b"], seed=1)
    # per run: too few runs for the trees, but cycles.parquet is written first
    rc = main(["analyze", str(tmp_path), "--quiet", "--no-figures", "--n-perm", "20", "--n-boot", "0",
               "--metrics", "hausdorff"])
    err = capsys.readouterr().err
    assert rc == 2 and "1 complete run(s); the tree comparison needs at least 3" in err and err.count("\n") == 1
    assert len(pd.read_parquet(tmp_path / "analysis" / "cycles.parquet")) == 5
    rc = main(["analyze", str(tmp_path), "--quiet", "--no-figures", "--n-perm", "20", "--n-boot", "0",
               "--metrics", "hausdorff", "--per-cycle"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "cycles: 5 complete cycle(s) in 1 run(s), at most 5 per run; 4 recurrence interval(s)" in out
    assert "trees: 5 (run, cycle) leaves of 5 cycle(s)" in out
    bk = pd.read_parquet(tmp_path / "analysis" / "bk.parquet")
    assert bk["k"].tolist() == [2, 3, 4]


def test_cli_reports_cycles_and_suggests_per_cycle(campaign, capsys, tmp_path):
    import shutil

    from labquake.cli import main

    root, _ = campaign
    camp = tmp_path / "c"
    shutil.copytree(root, camp, ignore=shutil.ignore_patterns("analysis", "figures"))
    assert main(["analyze", str(camp), "--quiet", "--no-figures", "--n-perm", "20", "--n-boot", "0",
                 "--metrics", "hausdorff"]) == 0
    out = capsys.readouterr().out
    assert "cycles: 16 complete cycle(s) in 5 run(s), at most 6 per run; 12 recurrence interval(s)" in out
    assert "b NaN in 1, D2 NaN in 1" in out and "--per-cycle makes each (run, cycle) a leaf" in out
    # [campaign.analysis] per_cycle = true is the campaign's own default
    (camp / "campaign.toml").write_text('[campaign]\nname = "c"\n[campaign.analysis]\nper_cycle = true\n')
    assert main(["analyze", str(camp), "--quiet", "--no-figures", "--n-perm", "20", "--n-boot", "0",
                 "--metrics", "hausdorff"]) == 0
    assert "(run, cycle) leaves" in capsys.readouterr().out


def test_single_cycle_runs_give_one_row_each(tmp_path):
    from labquake.analysis.cycle_stats import campaign_cycles

    for i in range(3):  # one stick-slip and a tail, as today's presets
        write_cycles_run(tmp_path / f"run-0{i}", [CycleSpec(60_000, 30e6, (0.5,))], seed=i, tail_events=8)
    cyc, bev, errors = campaign_cycles(tmp_path, n_boot=0)
    assert len(cyc) == 3 and (cyc["cycle"] == 0).all() and cyc["complete"].all() and not errors
    assert cyc["recurrence"].isna().all() and comparison_set(cyc).empty
    assert len(comparison_set(cyc, include_first=True)) == 3
    assert set(bev["cycle"]) == {0} and (bev["ttf_fraction"].between(0, 1)).all()


def test_short_labels_of_cycle_leaves():
    from labquake.viz.analysis_figures import short_labels

    assert short_labels(["run-01_x#c0", "run-01_x#c12", "run-03_y#c1"]) == ["R01c0", "R01c12", "R03c1"]
    assert short_labels(["run-01_x", "run-03_y"]) == ["R01", "R03"]  # run names unchanged


def test_recurrence_is_compared_at_the_nominal_loading_rate(tmp_path):
    """With the adaptive drive, simulated time pads every interval with the slow phases;
    the compared recurrence is the drive's advance between stick-slip onsets over its full
    speed, and the simulated-time CV is printed beside it."""
    from cycles_support import MIN_DROP

    from labquake.analysis.cycle_stats import cycle_set_stats, run_cycles
    from labquake.sim.cycles import label_cycles
    from labquake.io.rundir import RunDirectory

    specs = CAMPAIGN_SPECS["run-01_a"]
    write_cycles_run(tmp_path / "run", specs, seed=3)
    rd = RunDirectory(tmp_path / "run")
    sl = rd.read_table("slips")
    speed = 0.2
    # the drive advanced a known, irregular distance before each slip
    advance = np.array([30e-6, 41e-6, 27e-6, 36e-6, 33e-6, 45e-6, 38e-6, 29e-6, 31e-6, 40e-6, 35e-6, 26e-6])[:len(sl)]
    sl = label_cycles(sl.assign(drive_start=-np.cumsum(advance)), MIN_DROP, DT)
    rd.write_table("slips", sl)
    rd.update_meta(drive={"fast_velocity": speed, "mode": "adaptive"})
    cyc = run_cycles(rd)
    main = sl[sl["is_mainshock"]].sort_values("step_start")
    z = main["drive_start"].to_numpy()
    expected = np.concatenate([[np.nan], (z[:-1] - z[1:]) / speed])
    np.testing.assert_allclose(cyc["loading_recurrence"].to_numpy(), expected, rtol=1e-12)
    rec = expected[1:]
    st = cycle_set_stats(cyc[np.isfinite(cyc["recurrence"])].assign(n_foreshocks=0, n_episodes=0,
                                                                      n_foreshock_episodes=0,
                                                                      kde_mainshock_at_slip=False))
    assert st["recurrence_cv"] == pytest.approx(rec.std(ddof=1) / rec.mean())
    t = cyc["recurrence"].to_numpy()[1:]
    assert st["recurrence_cv_time"] == pytest.approx(t.std(ddof=1) / t.mean())
    assert st["recurrence_cv"] != pytest.approx(st["recurrence_cv_time"])
