"""One campaign task: one run, on a dask worker or in this process.

:func:`run_one` calls the runner (``simulate(config, run_dir, resume=True)`` by default), so a
complete run is skipped and an interrupted one resumes from its checkpoint. A task that
raises marks its run failed (``meta.json`` status ``failed`` with the error) and returns;
every task event is appended to the campaign's ``campaign.log.jsonl``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from labquake.errors import LabquakeError
from labquake.io.rundir import (
    RunDirectory,
    atomic_write_text,
    dumps_toml,
)

#: the function a task calls, as "module:attribute"
DEFAULT_RUNNER = "labquake.sim.experiment:simulate"
EVENT_LOG = "campaign.log.jsonl"
LOCK_DIR = ".locks"
LOG_DIR = "logs"

# --------------------------------------------------------------------------------------
# One task: one run
# --------------------------------------------------------------------------------------


def _load_runner(runner: str) -> Callable[..., Any]:
    module, _, attr = runner.partition(":")
    return getattr(importlib.import_module(module), attr or "simulate")


def _worker_id() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _log_event(campaign_dir: Path, **event: Any) -> None:
    """Append one JSON line to the campaign's event log (small O_APPEND writes are atomic)."""
    event = {"time": _now(), "pid": os.getpid(), **event}
    line = (json.dumps(event, sort_keys=True, default=str) + "\n").encode()
    with contextlib.suppress(OSError):
        fd = os.open(campaign_dir / EVENT_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _run_lock(run_dir: Path):
    """An exclusive lock per run, so that no two processes ever write one run directory.

    A task rescheduled away from a worker the scheduler believes dead, or an orphan of a
    killed campaign, may still be running; the newcomer waits for it. The lock is an
    ``flock`` on ``<campaign>/.locks/<run>.lock``, released by the kernel if its holder dies.
    """
    import fcntl

    lock_dir = run_dir.parent / LOCK_DIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    fh = open(lock_dir / f"{run_dir.name}.lock", "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def run_one(config: Mapping[str, Any], run_dir: str | os.PathLike, runner: str = DEFAULT_RUNNER) -> dict[str, Any]:
    """Simulate one run of a campaign (the body of a dask task).

    Calls ``runner(config, run_dir, resume=True, progress=False, n_threads=1)``. Never
    raises for a failing simulation: the run is marked failed in its ``meta.json`` (with a
    one-line error; the traceback goes to ``<campaign>/logs/<run>.log``) and the returned
    dict says so. Returns ``{"run", "status", "computed", "error", "wall_time_s", "worker"}``.
    """
    run_dir = Path(run_dir)
    campaign_dir = run_dir.parent
    rd = RunDirectory(run_dir)
    worker = _worker_id()
    result: dict[str, Any] = {"run": run_dir.name, "status": "complete", "computed": False, "error": None, "wall_time_s": 0.0, "worker": worker}
    with _run_lock(run_dir):
        if rd.is_complete():
            starter = _unlogged_start(campaign_dir, run_dir.name)
            if starter is None:
                _log_event(campaign_dir, run=run_dir.name, event="skipped", worker=worker)
                return result
            # the task that computed this run died after the run's last write and before it
            # logged so (a killed worker); record its completion now, under the run's lock
            wall = rd.read_meta().get("wall_time_s", 0.0)
            result.update(computed=True, wall_time_s=float(wall), worker=starter.get("worker", worker))
            _log_event(campaign_dir, run=run_dir.name, event="computed", worker=result["worker"],
                       wall_time_s=round(result["wall_time_s"], 3), recorded_by=worker, recovered=True)
            return result
        _drop_orphan_config(rd)
        _log_event(campaign_dir, run=run_dir.name, event="start", worker=worker, resume=rd.checkpoint_dir.exists())
        t0 = time.perf_counter()
        try:
            simulate = _load_runner(runner)
            simulate(dict(config), run_dir, resume=True, progress=False, n_threads=1)
            if not rd.is_complete():
                missing = _missing_files(rd)
                raise RuntimeError(
                    f"the simulation returned but the run is not complete (status {rd.status!r}"
                    + (f", missing {', '.join(missing[:5])}" if missing else "")
                    + ")"
                )
        except Exception as exc:  # a failing run is recorded; the campaign goes on
            msg = str(exc) if isinstance(exc, LabquakeError) else f"{type(exc).__name__}: {exc}"
            msg = " ".join(msg.split()) or type(exc).__name__
            with contextlib.suppress(Exception):
                log = campaign_dir / LOG_DIR / f"{run_dir.name}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text(f"{datetime.now(timezone.utc).isoformat()} on {worker}\n{traceback.format_exc()}")
            with contextlib.suppress(Exception):
                _mark_failed(rd, config, msg)
            result.update(status="failed", error=msg, wall_time_s=time.perf_counter() - t0)
            _log_event(campaign_dir, run=run_dir.name, event="failed", worker=worker, error=msg)
            return result
        result.update(computed=True, wall_time_s=time.perf_counter() - t0)
        _log_event(campaign_dir, run=run_dir.name, event="computed", worker=worker, wall_time_s=round(result["wall_time_s"], 3))
        return result


def read_events(campaign_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The task events of a campaign (``campaign.log.jsonl``), oldest first."""
    path = Path(campaign_dir) / EVENT_LOG
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


def _unlogged_start(campaign_dir: Path, run: str) -> dict[str, Any] | None:
    """The ``start`` event of ``run`` whose task never logged its end, if the run's last
    task event is one (its task died after the run completed: called under the run's lock,
    so that task no longer runs); else None."""
    last = None
    for e in read_events(campaign_dir):
        if e.get("run") == run and e.get("event") in ("start", "computed", "failed", "skipped"):
            last = e
    return last if last is not None and last["event"] == "start" else None


def _drop_orphan_config(rd: RunDirectory) -> None:
    """A run killed between writing config.toml and meta.json left a directory that is not
    a run directory yet; remove that config so the run can start again."""
    if rd.meta_path.exists() or not rd.path.is_dir():
        return
    entries = [p for p in rd.path.iterdir() if not p.name.startswith(".")]
    if [p.name for p in entries] == ["config.toml"]:
        rd.config_path.unlink()


def _missing_files(rd: RunDirectory) -> list[str]:
    try:
        meta = rd.read_meta()
    except LabquakeError:
        return ["meta.json"]
    return [f for f in meta.get("files", []) if not (rd.path / f).exists()]


def _mark_failed(rd: RunDirectory, config: Mapping[str, Any], msg: str) -> None:
    if rd.meta_path.exists() and rd.status is not None:
        rd.fail(msg)
    else:
        rd.path.mkdir(parents=True, exist_ok=True)
        if not rd.config_path.exists():
            atomic_write_text(rd.config_path, dumps_toml(config))
        rd.write_meta({"status": "failed", "error": msg})
