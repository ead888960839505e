"""The campaign's event log stays true when a task dies between its run's last write and
its own log line (the race a killed dask worker can hit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labquake.campaign.execute import read_events, run_one
from labquake.io.rundir import RunDirectory


class WorkerKilled(BaseException):
    """Stands for the kill: ``run_one`` lets it through, as it cannot catch a SIGKILL."""


def complete_then_die(config, run_dir, **_):
    """A runner that completes the run and dies before returning."""
    rd = RunDirectory(run_dir)
    rd.start(config)
    rd.complete(wall_time_s=12.5)
    raise WorkerKilled


def complete(config, run_dir, **_):
    rd = RunDirectory(run_dir)
    rd.start(config)
    rd.complete(wall_time_s=3.0)


def _lifecycle(out: Path) -> list[tuple[str, str]]:
    return [(e["event"], e["worker"]) for e in read_events(out) if e["run"] == "run-01"]


def test_a_completion_the_dead_task_did_not_log_is_recorded_by_the_next_task(tmp_path):
    run_dir = tmp_path / "run-01"
    with pytest.raises(WorkerKilled):
        run_one({"name": "x"}, run_dir, runner="test_campaign_events:complete_then_die")
    assert RunDirectory(run_dir).is_complete()
    [(event, dead)] = _lifecycle(tmp_path)
    assert event == "start"  # the run is complete, its completion unlogged

    res = run_one({"name": "x"}, run_dir, runner="test_campaign_events:complete")  # the retry
    assert res["computed"] and res["worker"] == dead and res["wall_time_s"] == 12.5
    last = read_events(tmp_path)[-1]
    assert last["event"] == "computed" and last["recovered"] is True and last["wall_time_s"] == 12.5
    assert RunDirectory(run_dir).read_meta()["wall_time_s"] == 12.5  # not simulated again

    res = run_one({"name": "x"}, run_dir, runner="test_campaign_events:complete")  # a rerun
    assert not res["computed"]
    assert [e for e, _ in _lifecycle(tmp_path)] == ["start", "computed", "skipped"]


def test_a_logged_completion_is_not_recorded_twice(tmp_path):
    run_dir = tmp_path / "run-01"
    assert run_one({"name": "x"}, run_dir, runner="test_campaign_events:complete")["computed"]
    assert not run_one({"name": "x"}, run_dir, runner="test_campaign_events:complete")["computed"]
    assert [e for e, _ in _lifecycle(tmp_path)] == ["start", "computed", "skipped"]
