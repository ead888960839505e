"""``labquake campaign`` end to end: simulate, analyse, report; resuming; clear errors."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from types import SimpleNamespace

import pytest
from test_campaign_support import ROOT, TINY_SPEC, events, labquake, tiny_campaign, tree_state, wait_for

from labquake.campaign import scheduling as batch

from labquake import cli
from labquake.io.rundir import RunDirectory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


@pytest.fixture(scope="session")
def campaign(tmp_path_factory):
    return tiny_campaign(tmp_path_factory)


def test_campaign_end_to_end(campaign):
    proc, out = campaign.proc, campaign.dir
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spec = batch.load_campaign(TINY_SPEC)
    for r in spec.runs:
        assert RunDirectory(out / r.name).is_complete()
    # what the command prints: the dashboard, the wall time per stage, where the report is
    assert re.search(r"dashboard: http://127\.0\.0\.1:\d+/status", proc.stdout)
    assert "wall time" in proc.stdout
    for stage in ("simulate", "analysis", "grains", "report"):
        assert re.search(rf"^\s+{stage}\s+\d", proc.stdout, re.M), stage
    report = re.search(r"^report: (.+)$", proc.stdout, re.M).group(1)
    assert report == str((out / "report.html").resolve()) and os.path.getsize(report) > 10_000
    # the analysis stages wrote their outputs into the campaign directory
    assert (out / "analysis" / "seismicity.parquet").exists()
    assert (out / "analysis" / "grains_segments.parquet").exists()
    state = batch.read_state(out)
    assert {v["status"] for v in state["runs"].values()} == {"complete"}
    assert not state.get("stage_errors"), state.get("stage_errors")
    assert (out / "campaign.toml").read_text().count("[campaign]") == 1


def test_rerun_skips_complete_runs(campaign, tmp_path):
    out = tmp_path / "c"
    shutil.copytree(campaign.dir, out)
    before = tree_state(out)
    n_events = len(events(out))
    proc = labquake("campaign", TINY_SPEC, "--out", out, "--no-analysis", "--no-report", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "6 of 6 runs already complete, skipped" in proc.stdout
    assert len(events(out)) == n_events  # nothing was submitted
    after = tree_state(out)
    runs = [k for k in before if k.startswith("run-")]
    assert runs and all(after[k] == before[k] for k in runs)


def test_killed_campaign_resumes_without_recomputing(tmp_path):
    """Kill the whole campaign (command, scheduler and workers) mid-way, then rerun it."""
    out = tmp_path / "c"
    cmd = [sys.executable, "-m", "labquake.cli", "campaign", str(TINY_SPEC), "--out", str(out), "--workers", "2",
           "--no-analysis", "--no-report", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: sum(e["event"] == "computed" for e in events(out)) >= 2, timeout=300)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    spec = batch.load_campaign(TINY_SPEC)
    complete = [r.name for r in spec.runs if RunDirectory(out / r.name).is_complete()]
    assert 2 <= len(complete) < len(spec.runs)
    before = {n: tree_state(out / n) for n in complete}
    checkpointed = {r.name for r in spec.runs if r.name not in complete and RunDirectory(out / r.name).checkpoint_dir.exists()}
    n_before = len(events(out))

    rerun = labquake("campaign", TINY_SPEC, "--out", out, "--workers", "2", "--no-analysis", "--no-report", "--quiet")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    for n in complete:  # complete runs untouched: same files, same mtimes
        assert tree_state(out / n) == before[n]
    new = events(out)[n_before:]
    assert not {e["run"] for e in new} & set(complete)  # never even submitted again
    for e in new:  # an interrupted run with a checkpoint continues from it
        if e["event"] == "start" and e["run"] in checkpointed:
            assert e["resume"] is True
    computed = Counter(e["run"] for e in events(out) if e["event"] == "computed")
    for r in spec.runs:  # every run simulated to the end once (a kill may beat a log line)
        assert computed[r.name] == 1 or (r.name in complete and computed[r.name] == 0), (r.name, computed)
    for r in spec.runs:
        assert RunDirectory(out / r.name).is_complete()


# -- errors: one line, exit status 2, nothing already written destroyed ----------------------


def _cli(capsys, *args) -> SimpleNamespace:
    code = cli.main(["campaign", *map(str, args)])
    cap = capsys.readouterr()
    return SimpleNamespace(code=code, out=cap.out, err=cap.err)


def _one_line_error(res, *words) -> None:
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labquake: error: "), res.err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_malformed_spec_leaves_results_intact(campaign, tmp_path, capsys):
    before = tree_state(campaign.dir)
    bad = tmp_path / "bad.toml"
    for text, word in (("[campaign\nname = 'tiny'", "invalid TOML"),
                       ("[campaign]\nname = 'tiny'\n[campaign.sweep]\n'specimen.d_maxx' = [0.003]\n", "d_maxx")):
        bad.write_text(text)
        _one_line_error(_cli(capsys, bad, "--out", campaign.dir), str(bad), word)
    assert tree_state(campaign.dir) == before


def test_unwritable_or_full_output_dir(campaign, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    _one_line_error(_cli(capsys, TINY_SPEC, "--out", blocker / "c"), "cannot create output directory")
    _one_line_error(_cli(capsys, TINY_SPEC, "--out", blocker), "not a directory")
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        _one_line_error(_cli(capsys, TINY_SPEC, "--out", ro), "cannot write")

    # a full disk, on the existing campaign: refused up front, results untouched
    before = tree_state(campaign.dir)
    monkeypatch.setattr(batch.shutil, "disk_usage", lambda p: SimpleNamespace(total=2**30, used=2**30, free=2**20))
    _one_line_error(_cli(capsys, TINY_SPEC, "--out", campaign.dir), "MiB free")
    assert tree_state(campaign.dir) == before


def test_disk_full_while_writing_is_one_line_error(campaign, tmp_path, capsys, monkeypatch):
    """ENOSPC on the first write (campaign.toml) after the checks: still one line, nothing lost."""
    out = tmp_path / "c"
    shutil.copytree(campaign.dir, out)
    (out / "campaign.toml").write_text("# edited, so that it is rewritten\n")
    before = tree_state(out)
    real_replace = os.replace

    def full(src, dst, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    res = _cli(capsys, TINY_SPEC, "--out", out)
    monkeypatch.setattr(os, "replace", real_replace)
    _one_line_error(res, "No space left on device")
    assert tree_state(out) == before


def test_changed_spec_does_not_mix_into_existing_campaign(campaign, tmp_path, capsys):
    text, n = re.subn(r"(?m)^tail_steps = (\d+)", lambda m: f"tail_steps = {int(m.group(1)) + 100}", TINY_SPEC.read_text())
    assert n == 1
    spec = TINY_SPEC.with_name(f".changed-{os.getpid()}.toml")  # beside it: same relative specimen file
    spec.write_text(text)
    before = tree_state(campaign.dir)
    try:
        _one_line_error(_cli(capsys, spec, "--out", campaign.dir), "different config", "loading.tail_steps")
    finally:
        spec.unlink()
    assert tree_state(campaign.dir) == before
