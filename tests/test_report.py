"""report.html: self-contained, with every section, and robust to a missing analysis."""

from __future__ import annotations

import base64
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from test_campaign_support import tiny_campaign

from labquake.io.rundir import find_runs
from labquake.report import REFERENCE, per_run_table, stick_slip_stats, write_report

PNG = b"\x89PNG\r\n\x1a\n"


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href", "data") and v is not None:
                self.refs.append((tag, k, v))


def test_stick_slip_stats_of_a_known_curve():
    # MPa: rises to 200, drops to 150 (foreshock), rises to 250, drops to 120 (mainshock), 130
    s = np.array([0, 100, 200, 150, 250, 120, 130.0])
    st = stick_slip_stats(pd.DataFrame({"differential_stress": s * 1e6}))
    assert st == pytest.approx({"peak_mpa": 250.0, "after_mpa": 120.0, "drop_mpa": 130.0})


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    c = tiny_campaign(tmp_path_factory)
    assert c.proc.returncode == 0, c.proc.stdout + c.proc.stderr
    return c.dir


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_report_is_self_contained_and_complete(campaign):
    text = (campaign / "report.html").read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(text)
    imgs = [v for t, k, v in parser.refs if t == "img"]
    assert len(imgs) >= 8
    for tag, attr, v in parser.refs:  # nothing to fetch: every reference is embedded
        assert v.startswith("data:") or v.startswith("#"), (tag, attr, v[:80])
    for v in imgs:
        assert base64.b64decode(v.split(",", 1)[1]).startswith(PNG)
    assert "<script" not in text and "<link" not in text
    for title in ("Loading curves", "KDFs", "Reproduction of the reference ranges", "Dendrograms", "B_k",
                  "Grain scale", "Contact-force network (3D)", "Campaign config", "Software versions"):
        assert title in text, title
    # the per-run table: every run, the measured values, the reference ranges
    table = per_run_table(campaign)
    assert len(table) == len(find_runs(campaign)) == 6
    for _, row in table.iterrows():
        assert row["run"] in text
        assert f"{row['peak_mpa']:.3g}" in text
    for ref in REFERENCE.values():
        assert f"{ref.lo:g}–{ref.hi:g}" in text
    assert "p_holm" in text and "dask" in text and "[campaign]" in text


@pytest.mark.slow
def test_report_without_analysis_still_shows_the_runs(campaign, tmp_path):
    out = tmp_path / "c"
    shutil.copytree(campaign, out, ignore=shutil.ignore_patterns("analysis", "figures", "report.html"))
    path = write_report(out)
    text = path.read_text()
    assert "None (the analysis did not run" in text
    assert all(r.name in text for r in find_runs(out))
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) >= 2  # own loading + KDF figures
    # without analysis/seismicity.parquet the report computes b and D2 itself: the same numbers
    pd.testing.assert_frame_equal(per_run_table(out), per_run_table(campaign))


def _events_run(root, name, eigs, modes):
    """A complete run directory whose events have the given moment-tensor eigenvalues
    (rotated), one tension or shear crack each."""
    from labquake.io.rundir import RunDirectory, empty_table

    rd = RunDirectory(root / name)
    rd.start({"name": name})
    rows, cracks = [], []
    rng = np.random.default_rng(len(name))
    for k, (e, mode) in enumerate(zip(eigs, modes)):
        q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        m = q @ np.diag(e) @ q.T
        iso = np.trace(m) / 3
        dev = np.sqrt(np.sum(np.linalg.eigvalsh(m - iso * np.eye(3)) ** 2) / 2)
        rows.append({"event_id": k, "step_start": 10 * k, "step_end": 10 * k + 5, "x": 0.0, "y": 0.0, "z": 0.0,
                     "radius": 1e-3, "m0": 1.0, "mw": -6.0, "m11": m[0, 0], "m12": m[0, 1], "m13": m[0, 2],
                     "m22": m[1, 1], "m23": m[1, 2], "m33": m[2, 2], "iso": iso, "dev": dev, "n_cracks": 1,
                     "on_fault": mode == "shear"})
        cracks.append({"crack_id": k, "step": 10 * k, "time": 0.0, "x": 0.0, "y": 0.0, "z": 0.0, "nx": 1.0, "ny": 0.0,
                       "nz": 0.0, "size": 1e-3, "kind": "fault" if mode == "shear" else "rock", "mode": mode,
                       "particle_a": 0, "particle_b": 1, "event_id": k})
    ev = pd.DataFrame(rows).astype({c: t for c, t in empty_table("events").dtypes.items() if c not in ("iso_ratio", "cycle")})
    rd.write_table("events", ev)
    rd.write_table("cracks", pd.DataFrame(cracks))
    rd.complete()
    return rd


def test_report_shows_the_hudson_plot_and_the_source_type_shares(tmp_path):
    from labquake.report import source_mechanisms

    crack, dc, closing, clvd = (3, 1, 1), (1, 0, -1), (-3, -1, -1), (2, -1, -1)
    _events_run(tmp_path, "run-01", [crack, dc, closing, clvd], ["tension", "shear", "shear", "shear"])
    _events_run(tmp_path, "run-02", [crack, crack], ["tension", "tension"])
    table, shares = source_mechanisms(find_runs(tmp_path))
    assert len(table) == 6 and set(table["run"]) == {"run-01", "run-02"}
    s = shares.set_index("run")
    assert s.loc["all", "events"] == 6
    assert s.loc["all", ["tensile %", "shear %", "implosive %", "CLVD %"]].tolist() == pytest.approx([50, 50 / 3, 50 / 3, 50 / 3])
    assert s.loc["run-02", "tensile %"] == 100.0 and s.loc["run-02", "tensile-crack events"] == 2
    # an opening crack (lambda = mu): iso / dev = (5/3) / sqrt(4/3)
    assert s.loc["all", "their median iso/dev"] == pytest.approx((5 / 3) / np.sqrt(4 / 3))
    path = write_report(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "AE source mechanisms" in text and 'id="fig-hudson"' in text
    assert (tmp_path / "figures" / "report_hudson.png").read_bytes().startswith(PNG)
    assert "tensile %" in text and "their median iso/dev" in text
