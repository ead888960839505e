"""Campaign execution: the runs on a dask cluster, then the analysis stages and the report.


Execution (:func:`run_campaign`): the runs that are not complete go to a dask cluster (a
loopback-only :class:`~distributed.LocalCluster` sized to the machine by default, or an
existing scheduler) as one task each. A task calls ``simulate(config, run_dir,
resume=True)``, so a complete run is skipped and an interrupted one resumes from its
checkpoint. A task that raises marks its run failed (``meta.json`` status ``failed`` with
the error) and the others go on; a task whose worker dies is retried. Then the campaign is
analysed (:func:`labquake.analysis.pipeline.analyze_campaign`,
:func:`labquake.analysis.grains.analyze_campaign_grains`) and :mod:`labquake.report` writes
``report.html``.

The campaign directory holds the runs plus ``campaign.toml`` (the spec with its base
merged in), ``campaign.json`` (run states and stage timings), ``campaign.log.jsonl`` (one
line per task event, appended by the workers), ``logs/`` (tracebacks of failed runs and
stages), ``analysis/``, ``figures/`` and ``report.html``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import os
import shutil
import sys
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from labquake.campaign.execute import DEFAULT_RUNNER, EVENT_LOG, LOG_DIR, _mark_failed, _now, read_events, run_one  # noqa: F401 - EVENT_LOG: labquake.batch's name
from labquake.campaign.spec import (  # noqa: F401 - the deprecated labquake.batch path's names too
    CAMPAIGN_OPTIONS,
    DEFAULT_RETRIES,
    SPEC_FILE,
    CampaignSpec,
    RunSpec,
    _flatten,
    check_campaign_options,
    expand_campaign,
    load_campaign,
)
from labquake.errors import ConfigError, LabquakeError, OutputError
from labquake.io.rundir import RunDirectory, atomic_write_json, atomic_write_text, read_toml  # noqa: F401 - read_toml: labquake.batch's name

#: refuse to start with less free space than this in the output directory
MIN_FREE_BYTES = 200 * 2**20
STATE_FILE = "campaign.json"

# --------------------------------------------------------------------------------------
# The campaign
# --------------------------------------------------------------------------------------


@dataclass
class CampaignResult:
    """What :func:`run_campaign` did."""

    out: Path
    spec: CampaignSpec
    status: dict[str, str]  # run name -> complete | failed | missing
    errors: dict[str, str]  # run name -> one-line error
    computed: list[str]  # runs simulated by this call
    skipped: list[str]  # runs complete before this call
    stages: dict[str, float]  # stage -> wall seconds
    stage_errors: dict[str, str]
    report: Path | None
    dashboard: str | None

    @property
    def ok(self) -> bool:
        return all(s == "complete" for s in self.status.values()) and not self.stage_errors


def check_output_dir(out: str | os.PathLike, min_free_bytes: int = MIN_FREE_BYTES) -> Path:
    """Make sure ``out`` can hold a campaign: a writable directory with free space.

    Raises :class:`~labquake.errors.OutputError` (one line) and writes nothing lasting.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output {out} exists and is not a directory; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {out}: {exc.strerror or exc}; choose another --out") from None
    probe = out / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"labquake")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OutputError(f"cannot write in output directory {out}: {exc.strerror or exc}; choose another --out") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    free = shutil.disk_usage(out).free
    if free < min_free_bytes:
        raise OutputError(
            f"output directory {out} has only {free / 2**20:.0f} MiB free, a campaign needs at least "
            f"{min_free_bytes / 2**20:.0f} MiB; free some space or choose another --out"
        )
    return out


def _check_existing(out: Path, spec: CampaignSpec) -> None:
    """Refuse to mix runs of a different config into an existing campaign directory."""
    for run in spec.runs:
        rd = RunDirectory(out / run.name)
        if not rd.config_path.exists():
            continue
        try:
            stored = rd.read_config()
        except LabquakeError:
            continue  # an unreadable config of an unfinished run: simulate rewrites it
        diff = _first_difference(_flatten(run.config), _flatten(stored))
        if diff:
            raise ConfigError(
                f"{rd.path} was made with a different config ({diff}); use another --out, "
                f"or remove that run directory to recompute it"
            )


def _first_difference(new: Mapping[str, Any], old: Mapping[str, Any]) -> str | None:
    for k, v in new.items():
        if k not in old:
            return f"{k} is new"
        w = old[k]
        if isinstance(v, float) or isinstance(w, float):
            try:
                if math.isclose(float(v), float(w), rel_tol=1e-9, abs_tol=0.0):
                    continue
            except (TypeError, ValueError):
                pass
            return f"{k}: {w!r} there, {v!r} now"
        if v != w:
            return f"{k}: {w!r} there, {v!r} now"
    return None


def _write_state(out: Path, spec: CampaignSpec, status: dict[str, str], errors: dict[str, str], stages: dict[str, float], extra: Mapping[str, Any]) -> None:
    state = {
        "name": spec.name,
        "spec": str(spec.source) if spec.source else None,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runs": {
            r.name: {"index": r.index, "status": status.get(r.name, "missing"), "error": errors.get(r.name), "overrides": r.overrides}
            for r in spec.runs
        },
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        **extra,
    }
    atomic_write_json(out / STATE_FILE, state)


def _run_status(rd: RunDirectory) -> str:
    if rd.is_complete():
        return "complete"
    st = rd.status
    return {"failed": "failed", "running": "interrupted", "complete": "incomplete"}.get(st or "", "missing")


def local_cluster(n_workers: int | None = None, retries: int = DEFAULT_RETRIES, dashboard_address: str = "127.0.0.1:8787"):
    """A loopback-only LocalCluster: processes with one thread each (one run per core).

    Its scheduler reruns a task whose worker died (a crash, the out-of-memory killer) on
    another worker, ``retries`` times, before giving up on it (``KilledWorker``).
    """
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n_workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=dashboard_address,
        scheduler_kwargs={"host": "127.0.0.1", "allowed_failures": retries},
        silence_logs=logging.ERROR,
    )


def simulate_runs(
    spec: CampaignSpec,
    out: Path,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    retries: int | None = None,
    runner: str = DEFAULT_RUNNER,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, str], dict[str, str], list[str], str | None]:
    """Run every run of ``spec`` that is not complete on dask; returns
    ``(status, errors, skipped, dashboard)``: run states and errors, the runs that were
    complete before, and the dashboard address."""
    retries = spec.retries if retries is None else retries
    status: dict[str, str] = {}
    errors: dict[str, str] = {}
    skipped = [r.name for r in spec.runs if RunDirectory(out / r.name).is_complete()]
    for name in skipped:
        status[name] = "complete"
    todo = [r for r in spec.runs if r.name not in status]
    if skipped:
        log(f"{len(skipped)} of {len(spec.runs)} runs already complete, skipped")
    if not todo:
        return status, errors, skipped, None

    cluster = None
    try:
        from distributed import Client

        if scheduler:
            try:
                client = Client(scheduler, timeout="15s", set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"cannot reach the dask scheduler at {scheduler} ({type(exc).__name__}); check --scheduler") from None
        else:
            n = min(n_workers or os.cpu_count() or 1, len(todo))
            cluster = local_cluster(n, retries=retries)
            client = Client(cluster, set_as_default=False)
    except ImportError as exc:
        raise ConfigError(f"campaigns need dask.distributed ({exc}); pip install 'labquake[dask]'") from None

    dashboard = _dashboard(client)
    bar = None
    futures: dict[Any, RunSpec] = {}
    attempts: dict[str, int] = {}
    try:
        n_workers_now = len(client.scheduler_info().get("workers", {}))
        log(f"dask: {client.scheduler.address} ({n_workers_now} workers); dashboard: {dashboard or 'not available (pip install bokeh)'}")

        def submit(run: RunSpec) -> None:
            attempts[run.name] = attempts.get(run.name, 0) + 1
            key = f"simulate-{run.name}-{uuid.uuid4().hex[:8]}"
            fut = client.submit(run_one, run.config, str(out / run.name), runner, key=key, pure=False)
            futures[fut] = run

        for run in todo:
            submit(run)
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(spec.runs), initial=len(skipped), desc=f"campaign {spec.name}", unit="run", file=sys.stderr, dynamic_ncols=True)
        n_failed = 0
        last_poll = 0.0
        running = 0
        shown: dict[str, int] = {}
        threads = max(1, sum(client.nthreads().values()))
        while futures:
            done = [f for f in futures if f.done()]
            if not done:
                time.sleep(0.25)
            for fut in done:
                run = futures.pop(fut)
                if fut.status == "finished":
                    res = fut.result()
                    status[run.name] = res["status"]
                    if res["status"] != "complete":
                        errors[run.name] = res["error"]
                        n_failed += 1
                else:
                    # the scheduler already reran the task on other workers as its worker died
                    # (KilledWorker: it died every time); a future cancelled under us (scheduler
                    # restarted, client reconnected) is resubmitted
                    exc = fut.exception() if fut.status == "error" else None
                    if exc is None and attempts[run.name] <= retries:
                        log(f"{run.name}: task cancelled by the cluster, resubmitting")
                        submit(run)
                        continue
                    if exc is None:
                        msg = "the task was cancelled by the cluster"
                    elif type(exc).__name__ == "KilledWorker":
                        msg = "the worker running it died on every attempt (a crash, or out of memory); see the worker logs"
                    else:
                        msg = f"task failed on the cluster: {type(exc).__name__}: {exc}"
                    msg = " ".join(msg.split())
                    status[run.name], errors[run.name] = "failed", msg
                    n_failed += 1
                    with contextlib.suppress(Exception):
                        _mark_failed(RunDirectory(out / run.name), run.config, msg)
                if bar is not None:
                    bar.update(1)
            now = time.monotonic()
            if futures and now - last_poll > 2.0:
                last_poll = now
                with contextlib.suppress(Exception):
                    ours = {f.key for f in futures}
                    running = sum(1 for keys in client.processing().values() for k in keys if k in ours)
                    threads = max(1, sum(client.nthreads().values()))
            if bar is not None:
                post = {"done": sum(1 for s in status.values() if s == "complete"), "running": min(running, len(futures), threads), "failed": n_failed}
                if post != shown:
                    shown = post
                    bar.set_postfix(post)
        return status, errors, skipped, dashboard
    except BaseException:
        for fut in futures:
            with contextlib.suppress(Exception):
                fut.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
        with contextlib.suppress(Exception):
            client.close(timeout=10)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=20)


def _dashboard(client: Any) -> str | None:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return None
    with contextlib.suppress(Exception):
        return client.dashboard_link
    return None


def analysis_functions() -> dict[str, Callable[..., Any]]:
    """The analysis stages after simulation, in order: name -> ``function(campaign_dir, **options)``."""
    from labquake.analysis.grains import analyze_campaign_grains
    from labquake.analysis.pipeline import analyze_campaign

    return {"analysis": analyze_campaign, "grains": analyze_campaign_grains}


def _check_options(fn: Callable[..., Any], options: Mapping[str, Any], label: str) -> None:
    params = inspect.signature(fn).parameters
    unknown = [k for k in options if k not in params or k == "campaign_dir"]
    if unknown and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        raise ConfigError(f"[campaign.{label}] has option(s) {unknown} that {fn.__module__}.{fn.__name__} does not take")


def _pipeline_episodes(out: Path) -> dict[str, Any] | None:
    """The episodes the campaign analysis found, per run (for the grain analysis)."""
    path = out / "analysis" / "episodes.parquet"
    if not path.exists():
        return None
    import pandas as pd

    df = pd.read_parquet(path)
    cols = [c for c in df.columns if c not in ("run", "role")]
    return {run: g[cols].reset_index(drop=True) for run, g in df.groupby("run", sort=False)}


def run_campaign(
    spec: CampaignSpec | str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    analysis: bool = True,
    report: bool = True,
    retries: int | None = None,
    runner: str = DEFAULT_RUNNER,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> CampaignResult:
    """Simulate, analyse and report a campaign into ``out`` (default ``runs/<name>``).

    Complete runs are never recomputed; interrupted ones resume; failing ones are recorded
    and the others go on. An analysis stage that fails is reported (one line here, the
    traceback in ``logs/<stage>.log``) and the next stage still runs.
    """
    t_start = time.perf_counter()
    if not isinstance(spec, CampaignSpec):
        spec = load_campaign(spec)
    out = Path(out) if out is not None else Path("runs") / spec.name
    check_output_dir(out)
    _check_existing(out, spec)
    stage_fns = analysis_functions() if analysis else {}
    options = {"analysis": spec.analysis_options, "grains": spec.grains_options}
    for label, fn in stage_fns.items():
        _check_options(fn, options[label], label)
    spec_text = spec.to_toml()
    spec_path = out / SPEC_FILE
    if not spec_path.exists() or spec_path.read_text(encoding="utf-8") != spec_text:
        atomic_write_text(spec_path, spec_text)
    stages: dict[str, float] = {"prepare": time.perf_counter() - t_start}
    stage_errors: dict[str, str] = {}
    # outputs that a failed stage left from an earlier attempt (kept until the stage succeeds)
    previous = read_state(out).get("stale")
    stale: dict[str, list[str]] = {k: list(v) for k, v in previous.items() if isinstance(v, list)} if isinstance(previous, dict) else {}
    extra: dict[str, Any] = {"scheduler": scheduler or "LocalCluster (127.0.0.1)", "stale": stale}
    status = {r.name: _run_status(RunDirectory(out / r.name)) for r in spec.runs}
    errors: dict[str, str] = {}
    _write_state(out, spec, status, errors, stages, extra)

    t0 = time.perf_counter()
    since = _now()
    try:
        new_status, errors, skipped, dashboard = simulate_runs(
            spec, out, scheduler=scheduler, n_workers=n_workers, retries=retries, runner=runner,
            progress=progress, log=log,
        )
    except BaseException:
        stages["simulate"] = time.perf_counter() - t0
        status = {r.name: _run_status(RunDirectory(out / r.name)) for r in spec.runs}
        with contextlib.suppress(Exception):
            _write_state(out, spec, status, errors, stages, {**extra, "interrupted": True})
        raise
    status.update(new_status)
    # a task rerun after its worker died finds its run complete: count simulations, not tasks
    computed = sorted({e["run"] for e in read_events(out) if e.get("event") == "computed" and e.get("time", "") >= since})
    stages["simulate"] = time.perf_counter() - t0
    extra["dashboard"] = dashboard
    n_done = sum(1 for s in status.values() if s == "complete")
    log(f"simulation: {n_done} of {len(spec.runs)} runs complete ({len(computed)} computed now, {len(skipped)} already done), {len(errors)} failed")
    for name, err in errors.items():
        log(f"  failed: {name}: {err}")
    _write_state(out, spec, status, errors, stages, extra)

    if stage_fns:
        for label, fn in stage_fns.items():
            t0 = time.perf_counter()
            log(f"{label}: running")
            kwargs = dict(options[label])
            if label == "grains" and "episodes" not in kwargs and "analysis" not in stage_errors:
                # cut the contact forces at the episodes the campaign analysis found
                kwargs["episodes"] = _pipeline_episodes(out)
            t_wall = time.time()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    fn(out, **kwargs)
                    stale.pop(label, None)
                except Exception as exc:  # noqa: BLE001 - reported, and the next stage runs
                    stage_errors[label] = _stage_failure(out, label, exc)
                    stale[label] = _stale_outputs(out, label, t_wall)
            for w in caught:
                if issubclass(w.category, UserWarning):
                    log(f"{label}: warning: {' '.join(str(w.message).split())}")
            if label in stage_errors:
                log(f"{label}: skipped: {stage_errors[label]}")
            stages[label] = time.perf_counter() - t0
            _write_state(out, spec, status, errors, stages, {**extra, "stage_errors": stage_errors})

    report_path = None
    if report:
        t0 = time.perf_counter()
        from labquake.report import write_report

        stages["report"] = 0.0
        _write_state(out, spec, status, errors, stages, {**extra, "stage_errors": stage_errors})
        try:
            report_path = write_report(out, **spec.report_options)
        except Exception as exc:  # noqa: BLE001
            stage_errors["report"] = _stage_failure(out, "report", exc)
            log(f"report: failed: {stage_errors['report']}")
        stages["report"] = time.perf_counter() - t0
        _write_state(out, spec, status, errors, stages, {**extra, "stage_errors": stage_errors})

    return CampaignResult(
        out=out, spec=spec, status=status, errors=errors, computed=computed, skipped=skipped,
        stages=stages, stage_errors=stage_errors, report=report_path, dashboard=dashboard,
    )


def _stale_outputs(out: Path, label: str, since: float) -> list[str]:
    """Outputs of ``label`` not rewritten since ``since`` (a failed stage left them behind).

    They are kept (nothing already written is destroyed) and listed in ``campaign.json``
    under ``stale``; the report labels them stale.
    """
    from labquake.report import stage_outputs

    old = []
    for rel in stage_outputs(out, label):
        with contextlib.suppress(OSError):
            if (out / rel).stat().st_mtime < since:
                old.append(rel)
    return old


def _stage_failure(out: Path, label: str, exc: BaseException) -> str:
    msg = str(exc) if isinstance(exc, LabquakeError) else f"{type(exc).__name__}: {exc}"
    msg = " ".join(msg.split()) or type(exc).__name__
    with contextlib.suppress(Exception):
        log = out / LOG_DIR / f"{label}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        if not isinstance(exc, LabquakeError):
            msg += f" (traceback in {log})"
    return msg


def read_state(campaign_dir: str | os.PathLike) -> dict[str, Any]:
    """``campaign.json`` of a campaign directory ({} when absent or unreadable)."""
    path = Path(campaign_dir) / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}

