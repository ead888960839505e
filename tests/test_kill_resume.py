"""SIGKILL at a random step between checkpoints, then resume: the tables equal an
uninterrupted run's (issue 14).

The kill comes from outside, as on a real machine: once a run has written a checkpoint,
the test waits a random time (drawn from a seeded generator, shorter than one checkpoint
interval takes) and SIGKILLs the process group, so the run dies somewhere between two
checkpoints (or while writing one). Runs use the tiny campaign's specimen and physics.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_campaign_support import ROOT, TINY_SPEC

from labquake.campaign import scheduling as batch
from labquake.sim.experiment import simulate
from labquake.io.rundir import RunDirectory, dumps_toml

TABLES = ("loading", "cracks", "events", "contacts", "monitored", "slips", "energy")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _checkpoint_step(run_dir: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return int(json.loads((run_dir / "checkpoint" / "state.json").read_text())["step"])
    return None


def _kill_between_checkpoints(proc: subprocess.Popen, run_dirs: list[Path], delay: float, timeout: float = 300) -> int | None:
    """Wait for the first checkpoint in any of ``run_dirs``, then ``delay`` s, then SIGKILL
    the process group. Returns the checkpoint step seen, or None if the process ended first."""
    t0 = time.monotonic()
    seen = None
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        steps = [s for s in (_checkpoint_step(d) for d in run_dirs) if s is not None]
        if steps:
            seen = min(steps)
            break
        time.sleep(0.01)
    if seen is not None and proc.poll() is None:
        time.sleep(delay)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return seen


def _assert_same_tables(a: RunDirectory, b: RunDirectory) -> None:
    assert a.is_complete() and b.is_complete()
    for name in TABLES:
        pd.testing.assert_frame_equal(a.read_table(name), b.read_table(name), check_exact=True, obj=name)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    cfg = batch.load_campaign(TINY_SPEC).runs[0].config
    cfg = dict(cfg, recording=dict(cfg["recording"], checkpoint_interval=1000))
    path = tmp_path_factory.mktemp("cfg") / "tiny_run.toml"
    path.write_text(dumps_toml(cfg))
    ref = simulate(cfg, tmp_path_factory.mktemp("ref") / "uninterrupted", progress=False)
    return path, cfg, ref


def test_cli_sigkill_between_checkpoints_then_resume(tiny_config, tmp_path):
    path, cfg, ref = tiny_config
    rng = np.random.default_rng(14)
    killed = 0
    for attempt in range(4):
        out = tmp_path / f"killed{attempt}"
        cmd = [sys.executable, "-m", "labquake.cli", "simulate", str(path), "--out", str(out), "--quiet"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        seen = _kill_between_checkpoints(proc, [out], delay=float(rng.uniform(0.0, 0.3)) / (attempt + 1))
        run = RunDirectory(out)
        if run.is_complete():  # the run beat the kill: try again with a shorter delay
            continue
        killed += 1
        assert seen is not None and run.status == "running"  # SIGKILL: no chance to mark itself failed
        step = _checkpoint_step(out)
        assert step is not None and step % 1000 == 0 and step >= seen
        res = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        _assert_same_tables(ref, run)
        assert not run.checkpoint_dir.exists()
        break
    assert killed == 1, "the run finished before every kill"


def test_campaign_sigkill_between_checkpoints_then_rerun(tiny_config, tmp_path):
    _, cfg, _ = tiny_config
    spec_text = TINY_SPEC.read_text().replace("seeds = [1, 2, 3, 4, 5, 6]", "seeds = [1, 2]")
    spec_text = spec_text.replace('file = "tiny_specimen.npz"', f'file = "{(TINY_SPEC.parent / "tiny_specimen.npz").as_posix()}"')
    spec_text = spec_text.replace("checkpoint_interval = 2000", "checkpoint_interval = 1000")
    spec_path = tmp_path / "tiny2.toml"
    spec_path.write_text(spec_text)
    spec = batch.load_campaign(spec_path)
    rng = np.random.default_rng(1414)
    for attempt in range(4):
        out = tmp_path / f"c{attempt}"
        cmd = [sys.executable, "-m", "labquake.cli", "campaign", str(spec_path), "--out", str(out), "--workers", "1",
               "--no-analysis", "--no-report", "--quiet"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        _kill_between_checkpoints(proc, [out / r.name for r in spec.runs], delay=float(rng.uniform(0.0, 0.3)) / (attempt + 1))
        interrupted = [r for r in spec.runs
                       if not RunDirectory(out / r.name).is_complete() and _checkpoint_step(out / r.name) is not None]
        if interrupted:
            break
    assert interrupted, "every run finished before the kill"
    rerun = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=400)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    starts = [e for e in batch.read_events(out) if e.get("event") == "start" and e["run"] == interrupted[0].name]
    assert starts[-1]["resume"] is True
    for r in spec.runs:  # every run, the interrupted ones included, equals its uninterrupted run
        ref = simulate(r.config, tmp_path / "ref" / r.name, progress=False)
        _assert_same_tables(ref, RunDirectory(out / r.name))
