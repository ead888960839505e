"""A real two-cycle run (issue 13): the cycles preset's physics (jacket, log-time healing
on a ground saw-cut) on a small sample, stopped after two stick-slips.

* the ``cycle`` index of every crack, AE event and slip agrees with the stick-slips of
  ``slips.parquet``, and every cycle has AE;
* SIGKILLed from outside after a checkpoint in the middle of the second cycle and resumed
  through the CLI, the run writes the tables of the uninterrupted run, bit for bit.

The sample is quick.toml's material and loading on a 20 x 50 mm cylinder (~310 balls),
which gives two stick-slips of 11-16 MPa in ~26 000 steps (~12 s of CPU here).
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

from labquake.sim.config import load_config
from labquake.sim.cycles import cycle_boundaries, cycle_index
from labquake.sim.experiment import simulate
from labquake.io.rundir import RunDirectory, dumps_toml

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("loading", "cracks", "events", "contacts", "monitored", "slips", "energy")
MIN_DROP = 5e6
CHECKPOINT = 2000
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def two_cycle_config() -> dict:
    cfg = load_config(ROOT / "simulations" / "quick.toml")
    cfg["specimen"].update(diameter=0.020, length=0.050)
    cfg["fault"].update(bonded_fraction=0.0, healing="log")
    cfg["loading"].update(confinement="jacket", stop_after_slips=2, stop_min_drop=MIN_DROP, max_steps=40000)
    cfg["recording"].update(checkpoint_interval=CHECKPOINT, n_monitored=10)
    return cfg


@pytest.fixture(scope="module")
def two_cycles(tmp_path_factory):
    cfg = two_cycle_config()
    path = tmp_path_factory.mktemp("cfg") / "two_cycles.toml"
    path.write_text(dumps_toml(cfg))
    run = simulate(cfg, tmp_path_factory.mktemp("ref") / "uninterrupted", progress=False)
    return path, run


def test_two_stick_slips_and_consistent_cycle_indices(two_cycles):
    _, run = two_cycles
    meta = run.read_meta()
    assert meta["status"] == "complete" and meta["stop_reason"] == "slips"
    # a ground saw-cut: no fault bonds, although fault pairs lie within the bonding gap
    assert meta["specimen"]["n_fault_bonds"] == 0 and meta["specimen"]["n_fault_contacts_bondable"] > 0
    assert meta["crack_counts"]["fault"] > 0  # every fault crack is a healed contact's re-rupture
    assert run.read_table("cracks").query("kind == 'fault'")["healed"].all()
    slips = run.read_table("slips")
    major = slips[slips["static_drop"] >= MIN_DROP]
    assert len(major) == 2 and meta["slips"]["n_cycles"] == 2
    assert major["is_mainshock"].all() and major["cycle"].tolist() == [0, 1]
    # the second stick-slip's recurrence, in time and in drive advance
    assert major["recurrence"].iloc[1] == pytest.approx((major["step_start"].iloc[1] - major["step_start"].iloc[0]) * meta["dt"])
    assert 0.0 < major["drive_recurrence"].iloc[1] < meta["drive"]["displacement"]
    bounds = cycle_boundaries(slips, MIN_DROP)
    assert bounds.tolist() == major["step_end"].tolist()
    cracks, events = run.read_table("cracks"), run.read_table("events")
    np.testing.assert_array_equal(cracks["cycle"], cycle_index(cracks["step"].to_numpy(), bounds))
    np.testing.assert_array_equal(events["cycle"], cycle_index(events["step_start"].to_numpy(), bounds))
    np.testing.assert_array_equal(slips["cycle"], cycle_index(slips["step_start"].to_numpy(), bounds))
    # an event's cycle is that of its cracks
    first_crack = cracks.groupby("event_id")["cycle"].min()
    ev = events.set_index("event_id")["cycle"]
    assert (ev.loc[first_crack.index] == first_crack).all()
    # AE in both cycles; the healed fault re-ruptures in the second
    assert (events.groupby("cycle").size().reindex([0, 1]) > 0).all()
    assert cracks.loc[cracks["cycle"] == 1, "healed"].any()


def _checkpoint_step(run_dir: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return int(json.loads((run_dir / "checkpoint" / "state.json").read_text())["step"])
    return None


def test_sigkill_in_the_second_cycle_then_resume_gives_the_same_tables(two_cycles, tmp_path):
    path, ref = two_cycles
    major = ref.read_table("slips").query("static_drop >= @MIN_DROP")
    # a checkpoint step inside the second cycle, after the first stick-slip has ended
    first_end, second_start = int(major["step_end"].iloc[0]), int(major["step_start"].iloc[1])
    target = (first_end // CHECKPOINT + 1) * CHECKPOINT
    assert first_end < target < second_start, "no checkpoint falls inside the second cycle"
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "labquake.cli", "simulate", str(path), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < 400:
        step = _checkpoint_step(out)
        if step is not None and step >= target:
            break
        time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run = RunDirectory(out)
    assert run.status == "running", "the run finished before the kill"
    step = _checkpoint_step(out)
    assert step is not None and first_end < step < second_start
    res = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stdout + res.stderr
    assert run.is_complete() and not run.checkpoint_dir.exists()
    for name in TABLES:
        pd.testing.assert_frame_equal(ref.read_table(name), run.read_table(name), check_exact=True, obj=name)


def test_acceptance_script_reports_the_run(two_cycles, capsys):
    """analysis/cycles_acceptance.py on the two-cycle run: its figures against the slips
    table, computed here independently."""
    import importlib.util

    _, run = two_cycles
    spec = importlib.util.spec_from_file_location("cycles_acceptance", ROOT / "analysis" / "cycles_acceptance.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    row = mod.run_row(run)
    major = run.read_table("slips").query("static_drop >= @MIN_DROP")
    assert row["stick_slips"] == 2 and row["fewest_events_in_a_cycle"] >= 1
    assert row["later_over_first_min"] == pytest.approx(major["static_drop"].iloc[1] / major["static_drop"].iloc[0])
    assert np.isnan(row["cv_loading"])  # one recurrence: no CV
    assert mod.main([str(run.path)]) == 0
    assert "- >= 10 stick-slips: 0" in capsys.readouterr().out
    assert mod.main([str(run.path / "missing")]) == 2
