"""The report: corrected significance headline, stale outputs, corrupt tables, layout (issue 14).

A synthetic campaign directory (runs with a loading curve only, analysis tables written by
hand) keeps these tests fast; the end-to-end report is tested in test_report.py.
"""

from __future__ import annotations

import json
import os
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labquake.io.rundir import RunDirectory, atomic_write_parquet
from labquake.report import bk_significance, write_report
from labquake.analysis.trees import benjamini_hochberg, holm

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def _loading(peak_mpa: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 60
    s = np.concatenate([np.linspace(0, peak_mpa, 40), np.linspace(peak_mpa * 0.6, peak_mpa * 0.65, 20)]) * 1e6
    return pd.DataFrame({
        "step": np.arange(n, dtype=np.int64) * 100, "time": np.arange(n) * 1e-6, "axial_stress": s + 150e6,
        "confining_stress": np.full(n, 150e6), "differential_stress": s, "axial_strain": np.linspace(0, 0.01, n),
        "volumetric_strain": np.linspace(0, 0.005, n), "platen_displacement": np.linspace(0, 1e-4, n),
        "fault_slip": np.linspace(0, 1e-5, n), "kinetic_energy": rng.random(n)})


RUN_NAMES = [f"run-{i:02d}_dmax0.{i:04d}_long_parameter_name_seed{i}" for i in range(1, 9)]


def _campaign(tmp_path: Path, n_runs: int = 8) -> Path:
    camp = tmp_path / "camp"
    runs = {}
    for i, name in enumerate(RUN_NAMES[:n_runs]):
        rd = RunDirectory(camp / name)
        rd.start({"name": name, "seed": i})
        rd.write_table("loading", _loading(200 + 20 * i, i))
        rd.complete()
        runs[name] = {"index": i + 1, "status": "complete", "error": None, "overrides": {"specimen.d_max": 0.001 * (i + 1)}}
    (camp / "campaign.json").write_text(json.dumps({"name": "synthetic", "runs": runs, "stages_s": {"simulate": 1.0}}))
    adir = camp / "analysis"
    atomic_write_parquet(adir / "seismicity.parquet", pd.DataFrame({
        "run": RUN_NAMES[:n_runs], "b_aki": np.linspace(0.5, 1.9, n_runs), "b_lsq": np.linspace(0.6, 1.2, n_runs),
        "d2_3d": np.full(n_runs, 1.7), "d2_reference": np.full(n_runs, 1.6), "n_events": np.full(n_runs, 100)}))
    atomic_write_parquet(adir / "bk.parquet", _bk())
    fdir = camp / "figures"
    fdir.mkdir()
    for m in ("hausdorff", "chamfer", "emd"):
        for pre in ("bk_", "dendrograms_", "distances_"):
            (fdir / f"{pre}{m}.png").write_bytes(PNG)
    for name in RUN_NAMES[:n_runs]:
        (fdir / f"kdf_{name}.png").write_bytes(PNG)
        (fdir / f"loading_{name}.png").write_bytes(PNG)
    return camp


def _bk() -> pd.DataFrame:
    """25 levels x 3 metrics; many raw p < 0.05, few survive Holm."""
    rows = []
    rng = np.random.default_rng(0)
    for m in ("hausdorff", "chamfer", "emd"):
        for k in range(2, 27):
            p = 0.001 if (m, k) in (("emd", 2), ("hausdorff", 8)) else (0.004 if (m, k) == ("chamfer", 3) else
                                                                          float(rng.uniform(0.01, 0.049) if k % 3 == 0 else rng.uniform(0.2, 0.9)))
            rows.append({"metric": m, "method": "single", "k": k, "B": 0.5, "E": 0.4, "p": p, "p_analytic": p,
                         "null": "permutation", "n_null": 999})
    return pd.DataFrame(rows)


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])


def _summary(text: str) -> str:
    return text[text.index('<section id="summary">'): text.index("</section>")]


# ---- significance -------------------------------------------------------------------------


def test_adjusted_p_per_metric_and_across_metrics():
    bk = _bk()
    per = bk_significance(bk, "metric")
    for m, g in per.groupby("metric"):
        np.testing.assert_allclose(g["p_holm"], holm(bk.loc[bk.metric == m, "p"]))
        np.testing.assert_allclose(g["p_bh"], benjamini_hochberg(bk.loc[bk.metric == m, "p"]))
    allm = bk_significance(bk, "all")
    np.testing.assert_allclose(allm["p_holm"], holm(bk["p"]))
    # 75 tests: raw 0.001 * 75 = 0.075 is not significant across the metrics, 0.001 * 25 is within one
    assert per["holm_significant"].sum() == 2 and allm["holm_significant"].sum() == 0
    assert (per["p_raw"] < 0.05).sum() > 10


def test_headline_counts_holm_levels_with_raw_p_beside(tmp_path):
    camp = _campaign(tmp_path)
    text = write_report(camp).read_text()
    head = _summary(text)
    n_raw = int((_bk()["p"] < 0.05).sum())
    assert f"2 of 75 B_k levels significant after Holm correction" in head
    assert f"({n_raw} with raw p &lt; 0.05)" in head
    # the B_k section: Holm, BH and raw p beside each level, never a raw-p count as the headline
    assert re.search(r"k = 2 \(Holm p = 0\.025, BH p = [0-9.]+, raw p = 0\.001\)", text)
    assert "Levels with p &lt; 0.05" not in text
    assert "p_raw" in text and "p_holm" in text and "p_bh" in text


def test_family_all_controls_across_the_three_metrics(tmp_path):
    camp = _campaign(tmp_path)
    text = write_report(camp, family="all").read_text()
    assert "0 of 75 B_k levels significant after Holm correction (p &lt; 0.05, across all metrics)" in _summary(text)
    with pytest.raises(Exception, match="family"):
        write_report(camp, family="everything")


def test_campaign_report_options_reach_the_report(tmp_path, monkeypatch):
    from labquake.campaign import scheduling as batch

    seen = {}
    monkeypatch.setattr("labquake.report.write_report", lambda out, **kw: seen.update(kw) or Path(out) / "report.html")
    spec = tmp_path / "spec.toml"
    spec.write_text('[campaign]\nname = "x"\n[campaign.report]\nfamily = "all"\nalpha = 0.01\n')
    s = batch.load_campaign(spec)
    monkeypatch.setattr(batch, "simulate_runs", lambda *a, **k: ({}, {}, [], None))
    batch.run_campaign(s, tmp_path / "out", analysis=False, log=lambda m: None)
    assert seen == {"family": "all", "alpha": 0.01}


# ---- honesty: corrupt tables, stale outputs ------------------------------------------------


def test_a_corrupt_table_is_a_visible_warning_not_a_silent_recompute(tmp_path, monkeypatch):
    camp = _campaign(tmp_path)
    (camp / "analysis" / "seismicity.parquet").write_bytes(b"PAR1 this is not parquet")
    called = []
    monkeypatch.setattr("labquake.report._compute_stats", lambda runs: called.append(1) or pd.DataFrame({"run": []}))
    text = write_report(camp).read_text()
    head = _summary(text)
    assert "analysis/seismicity.parquet could not be read" in head and 'class="warn"' in head
    assert not called  # not recomputed with other settings


def test_a_failed_stage_marks_its_older_outputs_stale(tmp_path):
    from labquake.campaign import scheduling as batch

    camp = _campaign(tmp_path)
    old = time.time() - 3600
    for p in list((camp / "analysis").glob("*.parquet")) + list((camp / "figures").glob("*.png")):
        os.utime(p, (old, old))
    since = time.time()
    time.sleep(0.05)  # file times are kernel ticks, a little behind time.time()
    (camp / "analysis" / "seismicity.parquet").touch()  # rewritten by the failed attempt before it failed
    stale = batch._stale_outputs(camp, "analysis", since)
    assert "analysis/bk.parquet" in stale and "figures/bk_emd.png" in stale
    assert "analysis/seismicity.parquet" not in stale
    state = json.loads((camp / "campaign.json").read_text())
    state.update(stage_errors={"analysis": "ValueError: boom"}, stale={"analysis": stale})
    (camp / "campaign.json").write_text(json.dumps(state))
    text = write_report(camp).read_text()
    head = _summary(text)
    assert "stage analysis failed: ValueError: boom" in head
    assert "marked stale" in head
    fig = re.search(r'<figure id="fig-bk_emd" class="stale-figure">.*?</figure>', text, re.S)
    assert fig and '<span class="stale">stale</span>' in fig.group(0)
    assert re.search(r'analysis/bk\.parquet <span class="stale">stale</span>', text)
    # the seismicity table was rewritten: not marked
    assert not re.search(r'analysis/seismicity\.parquet <span class="stale">', text)


def test_a_failed_stage_without_a_list_marks_all_its_outputs(tmp_path):
    camp = _campaign(tmp_path)
    state = json.loads((camp / "campaign.json").read_text())
    state["stage_errors"] = {"analysis": "boom"}
    (camp / "campaign.json").write_text(json.dumps(state))
    text = write_report(camp).read_text()
    assert re.search(r'<figure id="fig-dendrograms_emd" class="stale-figure">', text)


def test_run_campaign_records_stale_outputs_of_a_failing_stage(tmp_path, monkeypatch):
    from labquake.campaign import scheduling as batch

    camp = _campaign(tmp_path)
    spec = tmp_path / "spec.toml"
    spec.write_text('[campaign]\nname = "x"\n')
    s = batch.load_campaign(spec)

    def failing(campaign_dir, **kw):
        raise ValueError("the analysis broke")

    monkeypatch.setattr(batch, "simulate_runs", lambda *a, **k: ({}, {}, [], None))
    monkeypatch.setattr(batch, "analysis_functions", lambda: {"analysis": failing})
    monkeypatch.setattr(batch, "_check_existing", lambda out, spec: None)
    batch.run_campaign(s, camp, log=lambda m: None)
    st = batch.read_state(camp)
    assert "analysis/bk.parquet" in st["stale"]["analysis"]
    text = (camp / "report.html").read_text()
    assert "stale" in _summary(text)

    monkeypatch.setattr(batch, "analysis_functions", lambda: {"analysis": lambda campaign_dir, **kw: None})
    batch.run_campaign(s, camp, log=lambda m: None)
    assert batch.read_state(camp)["stale"] == {}


# ---- layout --------------------------------------------------------------------------------


def test_summary_key_and_gallery(tmp_path):
    camp = _campaign(tmp_path)
    text = write_report(camp).read_text()
    head = _summary(text)
    assert text.index('<section id="summary">') < text.index("<h2>Reproduction")
    assert "8 of 8 complete" in head and "Reference ranges met" in head and "Warnings" in head
    assert "peak differential stress 8/8" in head  # 200..340 MPa all inside 150-340
    # run key: every run with its short label
    key = text[text.index('id="run-key"'):]
    key = key[: key.index("</table>")]
    for i, name in enumerate(RUN_NAMES, 1):
        assert re.search(rf"<td class=\"l\">R{i:02d}</td><td class=\"l\">{re.escape(name)}</td>", key)
    # gallery: every per-run figure is shown once, and the index links to every figure
    p = _Parser()
    p.feed(text)
    for name in RUN_NAMES:
        assert f"fig-kdf_{name}" in p.ids and f"fig-loading_{name}" in p.ids
    links = [h for h in p.hrefs if h.startswith("#")]
    assert len(links) >= 2 * len(RUN_NAMES) + 9
    assert all(h[1:] in p.ids for h in links)
    assert "Per-run figures in <code>figures/</code>" not in text  # no paragraph of file names


def test_figure_tick_labels_are_short_and_do_not_overlap():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from scipy.cluster.hierarchy import linkage

    from labquake.viz.analysis_figures import dendrogram_figure, distance_figure, short_labels

    names = [f"run-{i:02d}_dmax0.{i:04d}_long_parameter_name_seed{i}" for i in range(1, 28)]
    assert short_labels(names)[:3] == ["R01", "R02", "R03"]
    assert short_labels(["b", "a"]) == ["R02", "R01"]
    rng = np.random.default_rng(1)
    X = rng.random((27, 3))
    D = np.linalg.norm(X[:, None] - X[None], axis=-1)
    Z = linkage(X, "single")
    for fig in (dendrogram_figure(Z, Z, names, "emd"), distance_figure(D, D, names, "emd")):
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        r = canvas.get_renderer()
        fb = fig.bbox
        for ax in fig.axes:
            for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
                texts = [t for t in ticks if t.get_text()]
                if not texts or ax.get_label() == "<colorbar>":
                    continue
                boxes = [t.get_window_extent(r) for t in texts]
                for t, b in zip(texts, boxes):
                    assert len(t.get_text()) <= 4, t.get_text()
                    assert fb.x0 - 1 <= b.x0 and b.x1 <= fb.x1 + 1 and fb.y0 - 1 <= b.y0 and b.y1 <= fb.y1 + 1, t.get_text()
                for a in range(len(boxes)):
                    for c in range(a + 1, len(boxes)):
                        assert not boxes[a].overlaps(boxes[c]), (texts[a].get_text(), texts[c].get_text())
