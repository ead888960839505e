"""Cycles beside the Okubo FB03-087 laboratory data: the Okubo cycles against an
independent reading of the raw CSV files, analysis/cycles_vs_okubo.py and the report section."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cycles_support import CAMPAIGN_SPECS, CycleSpec, write_cycles_run

from labquake.analysis.cycle_stats import compare_cycles, comparison_set, cycle_set_stats, format_value, okubo_cycles
from labquake.errors import RunStateError

ROOT = Path(__file__).resolve().parents[1]
OKUBO = ROOT / "tests" / "data" / "okubo-4m-fb03-087"
SCRIPT = ROOT / "analysis" / "cycles_vs_okubo.py"


def raw_okubo() -> dict[str, np.ndarray]:
    """The Okubo quantities straight from the CSV files, without labquake's readers."""
    timing = pd.read_csv(OKUBO / "mainshock_timing_fb03-087.csv")
    stats = pd.read_csv(OKUBO / "stickslip_macroscopic_stats_fb03-087.csv")
    text = (OKUBO / "gouge_event_picks_fb03-087.csv").read_bytes().decode()
    lines = [ln for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
             if ln.strip(", ") and not ln.lstrip('"').startswith("#")]
    header = lines[0].split(",")
    picks = np.array([float(ln.split(",")[header.index("picktime")]) for ln in lines[1:]])
    on = timing["mainshock_onset_all"].to_numpy()
    term = timing["mainshock_termination_all"].to_numpy()
    assert (timing["Stickslip_eventID"].to_numpy() == np.arange(1, 57)).all()
    assert (stats["stickslip_eventID"].to_numpy() == np.arange(1, 57)).all()
    fore = np.array([((picks > term[i - 1]) & (picks < on[i])).sum() for i in range(1, 56)])
    return {"recurrence": np.diff(on), "drop": stats["macroshearstress_drop[MPa]"].to_numpy()[1:] * 1e6,
            "foreshocks": fore, "picks": picks, "on": on, "term": term}


@pytest.fixture(scope="module")
def okubo():
    return okubo_cycles(OKUBO)


def test_okubo_cycles_match_the_raw_files(okubo):
    raw = raw_okubo()
    assert len(raw["picks"]) == 133 and len(okubo) == 55
    assert okubo["stick_slip_id"].tolist() == list(range(2, 57))
    np.testing.assert_allclose(okubo["recurrence"], raw["recurrence"])
    np.testing.assert_allclose(okubo["static_drop"], raw["drop"])
    assert okubo["n_foreshocks"].tolist() == raw["foreshocks"].tolist()
    np.testing.assert_allclose(okubo["onset"], raw["on"][1:])
    np.testing.assert_allclose(okubo["start"], raw["term"][:-1])
    st = cycle_set_stats(okubo)
    cv = lambda v: np.std(v, ddof=1) / np.mean(v)  # noqa: E731
    assert st["recurrence_cv"] == pytest.approx(cv(raw["recurrence"]))
    assert st["drop_cv"] == pytest.approx(cv(raw["drop"]))
    assert st["share_with_foreshocks"] == pytest.approx(np.mean(raw["foreshocks"] > 0))
    assert st["foreshocks_mean"] == pytest.approx(raw["foreshocks"].mean())
    shares = [np.mean(raw["foreshocks"] == k) for k in (0, 1, 2)] + [np.mean(raw["foreshocks"] >= 3)]
    assert [st["share_0"], st["share_1"], st["share_2"], st["share_3plus"]] == pytest.approx(shares)
    # the facts as they stand (a change in the data or the reader shows here)
    assert int((raw["foreshocks"] > 0).sum()) == 47 and int(raw["foreshocks"].sum()) == 96
    assert format_value("recurrence_cv", st["recurrence_cv"]) == "0.41"
    assert format_value("drop_cv", st["drop_cv"]) == "0.13"


def test_okubo_catalog_foreshocks_are_among_the_pick_foreshocks(okubo):
    cat = pd.read_csv(OKUBO / "gouge_event_catalog_fb03-087_G3_Q50.csv", skipinitialspace=True)
    f = cat[cat["event_label"].str.strip() == "F"]
    per = f.groupby("stickslip_id").size()
    o = okubo.set_index("stick_slip_id")
    assert (o["n_foreshock_catalog"] <= o["n_foreshocks"]).all()
    assert int(o["n_foreshock_catalog"].sum()) == int(per[per.index >= 2].sum())
    # an aftershock (A) lies after its stick-slip's onset, so it is never counted as a foreshock
    timing = pd.read_csv(OKUBO / "mainshock_timing_fb03-087.csv").set_index("Stickslip_eventID")
    a = cat[cat["event_label"].str.strip() == "A"]
    assert (a["event_onset_time"].to_numpy() >= timing.loc[a["stickslip_id"], "mainshock_onset_all"].to_numpy()).all()


def test_okubo_kde_per_cycle(okubo):
    seg = okubo[okubo["n_episodes"] > 0]
    # the picks of a stick-slip span <= 0.05 s, far below sigma = 0.15 s: mostly one episode
    assert len(seg) == int((okubo["n_events"] > 0).sum())
    assert (seg["n_episodes"] == 1).mean() > 0.85
    assert okubo.loc[okubo["n_events"] == 0, "notes"].str.startswith("segmentation:").all()


def test_okubo_errors_are_one_line(tmp_path):
    with pytest.raises(RunStateError, match="not the Okubo FB03-087 data set") as info:
        okubo_cycles(tmp_path)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------
# a simulated cycles campaign beside it: the script and the report
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    from labquake.analysis.pipeline import analyze_campaign

    root = tmp_path_factory.mktemp("cyc") / "cycles-campaign"
    for i, (name, specs) in enumerate(CAMPAIGN_SPECS.items()):
        write_cycles_run(root / name, specs, seed=i)
    analyze_campaign(root, metrics=("hausdorff",), n_perm=20, n_boot=20, figures=True)
    return root


@pytest.fixture(scope="module")
def single_cycle_campaign(tmp_path_factory):
    from labquake.analysis.pipeline import analyze_campaign

    root = tmp_path_factory.mktemp("one") / "single"
    for i in range(3):
        write_cycles_run(root / f"run-0{i + 1}_s", [CycleSpec(60_000, 30e6, (0.8, 0.3))], seed=10 + i)
    analyze_campaign(root, metrics=("hausdorff",), n_perm=20, n_boot=0, figures=True)
    return root


def run_script(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_script_prints_the_side_by_side_table(campaign, okubo):
    p = run_script(campaign, "--okubo", OKUBO)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert f"Command: `python analysis/cycles_vs_okubo.py {campaign} --okubo {OKUBO}`" in out
    assert "| quantity | cycles-campaign | Okubo FB03-087 | how |" in out
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:4]] for ln in out.splitlines()
            if ln.startswith("| ") and not ln.startswith("| quantity")}
    cyc = pd.read_parquet(campaign / "analysis" / "cycles.parquet")
    sim, lab = cycle_set_stats(comparison_set(cyc)), cycle_set_stats(okubo)
    assert rows["cycles compared"] == ["12", "55"]
    assert rows["recurrence CV"] == [format_value("recurrence_cv", sim["recurrence_cv"]), "0.41"]
    assert rows["stress-drop CV"] == [format_value("drop_cv", sim["drop_cv"]), "0.13"]
    assert rows["share of cycles with foreshocks"] == [format_value("share_with_foreshocks", sim["share_with_foreshocks"]),
                                                       f"{100 * 47 / 55:.0f} %"]
    assert rows["KDE mainshock episode holds the stick-slip"][0] == "100 %"
    assert rows["cycles with a KDE foreshock episode"][1] == format_value("share_foreshock_episode",
                                                                          lab["share_foreshock_episode"])


def test_script_without_analysis_computes_the_cycles(tmp_path):
    for i, name in enumerate(("run-01_a", "run-02_b")):
        write_cycles_run(tmp_path / name, CAMPAIGN_SPECS[name], seed=i)
    p = run_script(tmp_path)
    assert p.returncode == 0, p.stderr
    assert "computed here from the runs" in p.stdout and "| cycles compared | 9 | 55 |" in p.stdout
    assert not (tmp_path / "analysis").exists()  # nothing written


def test_script_errors_are_one_line(tmp_path, single_cycle_campaign):
    def one_line(p, text):
        assert p.returncode == 2, (p.stdout, p.stderr)
        assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr and text in p.stderr, p.stderr

    one_line(run_script(tmp_path / "nowhere"), "campaign directory not found")
    # every run has one cycle: nothing between two stick-slips, unless first cycles are asked for
    one_line(run_script(single_cycle_campaign), "no complete cycle between two stick-slips")
    p = run_script(single_cycle_campaign, "--include-first")
    assert p.returncode == 0 and "| cycles compared | 3 | 55 |" in p.stdout
    # a campaign with no complete cycle at all: runs whose slips table is empty
    from labquake.io.rundir import RunDirectory, empty_table

    write_cycles_run(tmp_path / "c" / "run-01", [CycleSpec(50_000, 30e6)], seed=1)
    RunDirectory(tmp_path / "c" / "run-01").write_table("slips", empty_table("slips"))
    one_line(run_script(tmp_path / "c", "--include-first"), "no complete stick-slip cycle in any run")
    # a damaged cycles table, a wrong Okubo directory
    (tmp_path / "c" / "analysis").mkdir()
    (tmp_path / "c" / "analysis" / "cycles.parquet").write_bytes(b"not parquet")
    one_line(run_script(tmp_path / "c"), "not a readable parquet file")
    one_line(run_script(single_cycle_campaign, "--include-first", "--okubo", tmp_path), "not the Okubo FB03-087 data set")


def test_report_section_beside_okubo(campaign, okubo):
    from labquake.report import write_report

    text = write_report(campaign).read_text(encoding="utf-8")
    i = text.index('id="cycles"')
    sec = text[i:text.index("<h2", i + 10)]
    assert "12 simulated cycle(s) between two stick-slips in 3 run(s)" in sec
    table = compare_cycles(comparison_set(pd.read_parquet(campaign / "analysis" / "cycles.parquet")), okubo)
    for key, val in (("recurrence_cv", "0.41"), ("drop_cv", "0.13")):
        row = table[table["key"] == key].iloc[0]
        assert f'<td class="l">{row["quantity"]}</td><td class="l">{format_value(key, row["simulated"])}</td>' \
               f'<td class="l">{val}</td>' in sec
    assert 'id="fig-cycles"' in sec and 'id="fig-b_cycle"' in sec and "macroscopic shear-stress drop" in sec
    assert (campaign / "figures" / "report_cycles.png").read_bytes()[:4] == b"\x89PNG"
    assert text.count('id="fig-b_cycle"') == 1 and "b_cycle.png</figcaption>" not in text  # not again under "Other"


def test_report_section_of_single_cycle_runs_is_one_line(single_cycle_campaign, tmp_path):
    import shutil

    from labquake.report import write_report

    text = write_report(single_cycle_campaign).read_text(encoding="utf-8")
    i = text.index('id="cycles"')
    sec = text[i:text.index("<h2", i + 10)]
    assert sec.count("<p") == 1 and "Every run has a single stick-slip cycle (3 complete cycle(s) in 3 run(s))" in sec
    assert "fig-cycles" not in sec and "<table" not in sec
    # without the analysis: one line that says how to make it
    bare = tmp_path / "bare"
    shutil.copytree(single_cycle_campaign, bare, ignore=shutil.ignore_patterns("analysis", "figures", "report.html"))
    text = write_report(bare).read_text(encoding="utf-8")
    i = text.index('id="cycles"')
    assert "Not computed: run <code>labquake analyze" in text[i:text.index("<h2", i + 10)]
