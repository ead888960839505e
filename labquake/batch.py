"""Campaigns: many simulations from one spec, one task per run on dask.distributed.

A *campaign spec* is a run config (the top-level tables of a run-config TOML, see
:mod:`labquake.sim.config`) plus a ``[campaign]`` table::

    [campaign]
    name = "paper27"
    base = "paper.toml"          # optional: a run config, relative to this file, merged
                                 # under this file's own keys
    seeds = [1]                  # optional: one run per seed for every parameter set
    retries = 2                  # optional: retries of a task whose worker was lost
    runs = [                     # either an explicit list of dotted overrides ...
      { "specimen.d_min" = 4.95e-3, "specimen.d_max" = 5.05e-3 },
    ]
    [campaign.sweep]             # ... or a cartesian product of dotted parameter lists
    "loading.velocity" = [0.01, 0.02]
    "specimen.d_min" = { start = 4.0e-3, stop = 4.9e-3, num = 4 }   # a linear range
    [campaign.analysis]          # optional keyword arguments of pipeline.analyze_campaign
    n_perm = 199
    [campaign.grains]            # optional keyword arguments of grains.analyze_campaign_grains

A spec is data: it is parsed with :mod:`tomllib` and nothing in it is evaluated. Run names
are deterministic, ``run-01_dmin0.00495_dmax0.00505_seed1``: the index, each override's
last path component without underscores, then the seed.

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
import copy
import importlib
import inspect
import itertools
import json
import logging
import math
import os
import re
import shutil
import socket
import sys
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from labquake.errors import ConfigError, LabquakeError, OutputError
from labquake.io.rundir import (
    RunDirectory,
    atomic_write_json,
    atomic_write_text,
    dumps_toml,
    read_toml,
)

#: the keys a ``[campaign]`` table may hold
CAMPAIGN_KEYS = ("name", "description", "base", "seeds", "sweep", "runs", "retries", "analysis", "grains", "report")
#: where the seed lives in a run config
SEED_KEY = "seed"
#: the function a task calls, as "module:attribute"
DEFAULT_RUNNER = "labquake.sim.experiment:simulate"
#: refuse to start with less free space than this in the output directory
MIN_FREE_BYTES = 200 * 2**20
#: task retries after a lost worker, unless the spec or the caller says otherwise
DEFAULT_RETRIES = 2

SPEC_FILE = "campaign.toml"
STATE_FILE = "campaign.json"
EVENT_LOG = "campaign.log.jsonl"
LOCK_DIR = ".locks"
LOG_DIR = "logs"

_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """One run of a campaign."""

    index: int  # 1-based position in the campaign
    name: str  # directory name under the campaign directory
    overrides: dict[str, Any]  # dotted parameter path -> value (seed included when set)
    config: dict[str, Any]  # the run's fully resolved config (labquake.sim.config.resolve_config)


@dataclass(frozen=True)
class CampaignSpec:
    """A parsed, expanded and validated campaign spec."""

    name: str
    source: Path | None
    base_config: dict[str, Any]  # the run config every run starts from (base merged in)
    campaign: dict[str, Any]  # the [campaign] table (base resolved away)
    runs: tuple[RunSpec, ...]
    retries: int = DEFAULT_RETRIES
    analysis_options: dict[str, Any] = field(default_factory=dict)
    grains_options: dict[str, Any] = field(default_factory=dict)
    report_options: dict[str, Any] = field(default_factory=dict)

    def to_toml(self) -> str:
        """The spec as a self-contained TOML file (the base config merged in)."""
        data = copy.deepcopy(self.base_config)
        data["campaign"] = copy.deepcopy(self.campaign)
        return dumps_toml(data)


def load_campaign(path: str | os.PathLike) -> CampaignSpec:
    """Read, expand and validate a campaign spec file.

    Raises :class:`~labquake.errors.ConfigError` (one line, naming the file) for a
    malformed spec: TOML syntax, a missing or unknown ``[campaign]`` key, a bad sweep, or
    a run config that :func:`labquake.sim.config.resolve_config` rejects.
    """
    path = Path(path)
    raw = read_toml(path)
    return expand_campaign(raw, source=path)


def expand_campaign(raw: Mapping[str, Any], source: str | os.PathLike | None = None) -> CampaignSpec:
    """Expand a parsed spec (a dict as :mod:`tomllib` returns it) into its runs."""
    source = Path(source) if source is not None else None
    where = str(source) if source is not None else "campaign spec"

    def bad(msg: str) -> ConfigError:
        return ConfigError(f"{where}: {msg}")

    if not isinstance(raw, Mapping):
        raise bad("expected a table at the top level")
    camp = raw.get("campaign")
    if not isinstance(camp, Mapping):
        raise bad("no [campaign] table; a campaign spec is a run config plus a [campaign] table with at least 'name'")
    unknown = sorted(set(camp) - set(CAMPAIGN_KEYS))
    if unknown:
        raise bad(f"unknown [campaign] key(s) {unknown}; allowed: {', '.join(CAMPAIGN_KEYS)}")

    name = camp.get("name")
    if not isinstance(name, str) or not _NAME_OK.match(name):
        raise bad("[campaign] name must be a string of letters, digits, '.', '_' or '-' (a directory name)")

    # -- base config ---------------------------------------------------------------
    own = {k: copy.deepcopy(v) for k, v in raw.items() if k != "campaign"}
    base_ref = camp.get("base")
    if base_ref is not None:
        if not isinstance(base_ref, str) or not base_ref:
            raise bad("[campaign] base must be a path to a run-config TOML file")
        base_path = Path(base_ref)
        if not base_path.is_absolute():
            base_path = (source.parent if source is not None else Path.cwd()) / base_path
        if not base_path.is_file():
            raise bad(f"[campaign] base file {base_ref!r} not found (looked at {base_path})")
        base = read_toml(base_path)
        base.pop("campaign", None)
        _absolute_files(base, base_path.parent)
        base_config = _deep_merge(base, own)
    else:
        base_config = own

    if source is not None:
        _absolute_files(base_config, source.parent)

    # -- seeds ---------------------------------------------------------------------
    seeds = camp.get("seeds")
    if seeds is not None:
        if (
            not isinstance(seeds, list)
            or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        ):
            raise bad("[campaign] seeds must be a non-empty list of non-negative integers")
        if len(set(seeds)) != len(seeds):
            raise bad("[campaign] seeds has duplicates")

    retries = camp.get("retries", DEFAULT_RETRIES)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 20:
        raise bad("[campaign] retries must be an integer from 0 to 20")

    options: dict[str, dict[str, Any]] = {}
    for key in OPTION_TABLES:
        opt = camp.get(key, {})
        if not isinstance(opt, Mapping):
            raise bad(f"[campaign.{key}] must be a table of keyword arguments")
        options[key] = check_campaign_options(key, opt, bad)

    # -- parameter sets --------------------------------------------------------------
    if "sweep" in camp and "runs" in camp:
        raise bad("[campaign] has both 'sweep' and 'runs'; use one")
    param_sets: list[dict[str, Any]]
    if "sweep" in camp:
        sweep = camp["sweep"]
        if not isinstance(sweep, Mapping) or not sweep:
            raise bad("[campaign.sweep] must be a table mapping dotted parameter paths to lists of values")
        axes = []
        for key, values in sweep.items():
            _check_path(key, bad)
            axes.append((key, _sweep_values(key, values, bad)))
        param_sets = [dict(zip([k for k, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]
    elif "runs" in camp:
        runs = camp["runs"]
        if not isinstance(runs, list) or not runs or not all(isinstance(r, Mapping) for r in runs):
            raise bad("[campaign] runs must be a non-empty list of tables of dotted parameter overrides")
        param_sets = []
        for i, r in enumerate(runs, 1):
            flat = _flatten(r)
            for key, value in flat.items():
                _check_path(key, bad)
                _check_value(key, value, bad, f"runs[{i}]")
            param_sets.append(flat)
    else:
        param_sets = [{}]

    for ps in param_sets:
        if SEED_KEY in ps and seeds is not None:
            raise bad(f"'{SEED_KEY}' is set both in [campaign] seeds and in a sweep/runs entry; use one")

    # -- runs ------------------------------------------------------------------------
    combos = [(ps, s) for ps in param_sets for s in (seeds if seeds is not None else [None])]
    width = max(2, len(str(len(combos))))
    shorts = _short_names({k for ps in param_sets for k in ps})
    runs_out: list[RunSpec] = []
    for index, (ps, seed) in enumerate(combos, 1):
        overrides = dict(ps)
        if seed is not None:
            overrides[SEED_KEY] = seed
        cfg = copy.deepcopy(base_config)
        for key, value in overrides.items():
            _set_dotted(cfg, key, copy.deepcopy(value), bad)
        if source is not None:
            _absolute_files(cfg, source.parent)
        parts = [f"run-{index:0{width}d}"]
        parts += [f"{shorts[k]}{_fmt(v)}" for k, v in ps.items()]
        if seed is not None:
            parts.append(f"seed{seed}")
        run_name = "_".join(parts)
        if "name" not in overrides:
            cfg["name"] = run_name
        cfg = _resolve(cfg, f"{where}: run {run_name}")
        runs_out.append(RunSpec(index=index, name=run_name, overrides=overrides, config=cfg))

    campaign_table = {k: copy.deepcopy(v) for k, v in camp.items() if k != "base"}  # base is merged in
    return CampaignSpec(
        name=name,
        source=source,
        base_config=base_config,
        campaign=campaign_table,
        runs=tuple(runs_out),
        retries=retries,
        analysis_options=options["analysis"],
        grains_options=options["grains"],
        report_options=options["report"],
    )


# --------------------------------------------------------------------------------------
# Typed [campaign.*] options, checked when the spec is loaded
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """The type and range of one ``[campaign.<table>]`` option.

    ``kind``: ``"int"``, ``"number"``, ``"bool"``, ``"choice"`` (one string of
    ``choices``), ``"choices"`` (a non-empty list of distinct strings of ``choices``) or
    ``"number_or_choice"`` (a number in range, or one string of ``choices``).
    ``choices`` may be a callable returning them (imported lazily).
    """

    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()

    def _choices(self) -> tuple[str, ...]:
        return tuple(self.choices()) if callable(self.choices) else tuple(self.choices)

    def _range(self) -> str:
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        return " and ".join(parts)

    def _in_range(self, v: float) -> bool:
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return not (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi))

    def describe(self) -> str:
        """What the option takes, for error messages."""
        rng = self._range()
        if self.kind == "int":
            return "an integer" + (f" {rng}" if rng else "")
        if self.kind == "number":
            return "a number" + (f" {rng}" if rng else "")
        if self.kind == "bool":
            return "true or false"
        ch = ", ".join(repr(c) for c in self._choices())
        if self.kind == "choice":
            return f"one of {ch}"
        if self.kind == "choices":
            return f"a non-empty list of distinct values from {ch}"
        return f"a number{f' {rng}' if rng else ''} or one of {ch}"

    def ok(self, v: Any) -> bool:
        """True if ``v`` (as TOML gives it) is valid."""
        is_num = isinstance(v, (int, float)) and not isinstance(v, bool)
        if self.kind == "int":
            return isinstance(v, int) and not isinstance(v, bool) and self._in_range(float(v))
        if self.kind == "number":
            return is_num and self._in_range(float(v))
        if self.kind == "bool":
            return isinstance(v, bool)
        if self.kind == "choice":
            return isinstance(v, str) and v in self._choices()
        if self.kind == "choices":
            return (isinstance(v, list) and bool(v) and all(isinstance(x, str) and x in self._choices() for x in v)
                    and len(set(v)) == len(v))
        if self.kind == "number_or_choice":
            return (is_num and self._in_range(float(v))) or (isinstance(v, str) and v in self._choices())
        raise ValueError(f"unknown option kind {self.kind!r}")  # pragma: no cover - a programming error


def _metrics() -> tuple[str, ...]:
    from labquake.analysis.distances import METRICS

    return tuple(METRICS)


def _linkages() -> tuple[str, ...]:
    from labquake.analysis.trees import LINKAGES

    return tuple(LINKAGES)


def _nulls() -> tuple[str, ...]:
    from labquake.analysis.trees import NULLS

    return tuple(NULLS)


#: every option of ``[campaign.analysis]`` (:func:`labquake.analysis.pipeline.analyze_campaign`),
#: ``[campaign.grains]`` (:func:`labquake.analysis.grains.analyze_campaign_grains`) and
#: ``[campaign.report]`` (:func:`labquake.report.write_report`), with its type and range
CAMPAIGN_OPTIONS: dict[str, dict[str, Option]] = {
    "analysis": {
        "metrics": Option("choices", choices=_metrics),
        "n_perm": Option("int", lo=1),
        "seed": Option("int", lo=0),
        "method": Option("choice", choices=_linkages),
        "null": Option("choice", choices=_nulls),
        "bandwidth": Option("number_or_choice", lo=0, lo_open=True, choices=("isj", "silverman", "scott")),
        "grid": Option("number", lo=0, lo_open=True),
        "prominence": Option("number", lo=0),
        "paper_quirks": Option("bool"),
        "square_quirk": Option("bool"),
        "max_fault_distance": Option("number", lo=0, lo_open=True),
        "min_events": Option("int", lo=1),
        "n_boot": Option("int", lo=0),
        "n_jobs": Option("int", lo=1),
        "figures": Option("bool"),
        "progress": Option("bool"),
        "per_cycle": Option("bool"),
    },
    "grains": {
        "window": Option("int", lo=1),
        "span": Option("int", lo=1),
        "area": Option("number", lo=0, lo_open=True),
        "cohesion": Option("number", lo=0),
        "friction_angle_deg": Option("number", lo=0, hi=90, hi_open=True),
        "components": Option("choices", choices=("fn", "fs")),
        "figures": Option("bool"),
        "rtol": Option("number", lo=0),
        "initially_broken": Option("bool"),
    },
    "report": {
        "family": Option("choice", choices=("metric", "all")),
        "alpha": Option("number", lo=0, hi=1, lo_open=True, hi_open=True),
    },
}
#: the option tables of ``[campaign]``
OPTION_TABLES = tuple(CAMPAIGN_OPTIONS)


def check_campaign_options(table: str, options: Mapping[str, Any],
                           bad: Callable[[str], ConfigError] = ConfigError) -> dict[str, Any]:
    """Check ``[campaign.<table>]`` against :data:`CAMPAIGN_OPTIONS`; return a copy.

    Raises
    ------
    ConfigError
        One line naming the table, the option, what it takes and what it got.
    """
    schema = CAMPAIGN_OPTIONS[table]
    out: dict[str, Any] = {}
    for key, value in options.items():
        opt = schema.get(key)
        if opt is None:
            raise bad(f"[campaign.{table}] has unknown option {key!r}; allowed: {', '.join(schema)}")
        if not opt.ok(value):
            got = repr(value)
            got = got if len(got) <= 60 else got[:57] + "..."
            raise bad(f"[campaign.{table}] {key} must be {opt.describe()}, got {got}")
        out[key] = copy.deepcopy(value)
    return out


def _resolve(cfg: dict[str, Any], where: str) -> dict[str, Any]:
    from labquake.sim.config import resolve_config

    try:
        return resolve_config(cfg)
    except LabquakeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


#: run-config keys that name files; a relative path is relative to the TOML file that gives it
_FILE_KEYS = (("specimen", "file"),)


def _absolute_files(cfg: dict[str, Any], folder: Path) -> None:
    for path in _FILE_KEYS:
        node: Any = cfg
        for p in path[:-1]:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(path[-1]), str) and node[path[-1]]:
            f = Path(node[path[-1]])
            if not f.is_absolute():
                node[path[-1]] = str((folder / f).resolve())


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c.d": 2}`` -> ``{"a.b": 1, "c.d": 2}`` (TOML quoted dotted keys too)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


_PATH_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


def _check_path(key: str, bad: Callable[[str], ConfigError]) -> None:
    if not isinstance(key, str) or not _PATH_OK.match(key):
        raise bad(f"parameter path {key!r} is not a dotted key like 'section.name'")


def _check_value(key: str, value: Any, bad: Callable[[str], ConfigError], where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise bad(f"{where}: {key} = {value} is not finite")
    if isinstance(value, Mapping):
        raise bad(f"{where}: {key} must be a value, not a table")


def _sweep_values(key: str, values: Any, bad: Callable[[str], ConfigError]) -> list[Any]:
    """A sweep axis: a list, or a range table ``{start, stop, num}`` / ``{start, stop, step}``."""
    if isinstance(values, list):
        if not values:
            raise bad(f"[campaign.sweep] {key} is an empty list")
        for v in values:
            _check_value(key, v, bad, "[campaign.sweep]")
        return list(values)
    if isinstance(values, Mapping):
        keys = set(values)
        num_ok = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)  # noqa: E731
        if keys == {"start", "stop", "num"}:
            start, stop, num = values["start"], values["stop"], values["num"]
            if not (num_ok(start) and num_ok(stop) and isinstance(num, int) and not isinstance(num, bool) and 1 <= num <= 10_000):
                raise bad(f"[campaign.sweep] {key}: a range needs numeric start and stop and an integer num from 1 to 10000")
            if num == 1:
                return [start]
            return [_clean(start + (stop - start) * i / (num - 1)) for i in range(num)]
        if keys == {"start", "stop", "step"}:
            start, stop, step = values["start"], values["stop"], values["step"]
            if not (num_ok(start) and num_ok(stop) and num_ok(step)) or step == 0 or (stop - start) / step < 0:
                raise bad(f"[campaign.sweep] {key}: a range needs numeric start, stop and a non-zero step pointing from start to stop")
            n = int(math.floor((stop - start) / step * (1 + 1e-12) + 1e-9)) + 1
            if n > 10_000:
                raise bad(f"[campaign.sweep] {key}: the range has {n} values, more than 10000")
            if all(isinstance(x, int) for x in (start, stop, step)):
                return [start + i * step for i in range(n)]
            return [_clean(start + i * step) for i in range(n)]
        raise bad(f"[campaign.sweep] {key}: a range table needs exactly start, stop and num (or step), got {sorted(keys)}")
    raise bad(f"[campaign.sweep] {key} must be a list of values or a range table {{start, stop, num}}")


def _clean(x: float) -> float:
    """Round away binary noise from a computed range value (12 significant digits)."""
    return float(f"{x:.12g}")


def _set_dotted(cfg: dict[str, Any], key: str, value: Any, bad: Callable[[str], ConfigError]) -> None:
    parts = key.split(".")
    node = cfg
    for i, p in enumerate(parts[:-1]):
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        elif not isinstance(nxt, dict):
            raise bad(f"cannot set {key}: {'.'.join(parts[: i + 1])} is a value, not a table")
        node = nxt
    if isinstance(node.get(parts[-1]), dict):
        raise bad(f"cannot set {key}: it is a table, give one of its keys")
    node[parts[-1]] = value


def _short_names(keys: set[str]) -> dict[str, str]:
    """Short labels for run names: last path component without underscores, unless ambiguous."""
    short = {k: k.rsplit(".", 1)[-1].replace("_", "").replace("-", "") for k in keys}
    clashes = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {k: (k.replace(".", "-").replace("_", "") if s in clashes else s) for k, s in short.items()}


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "x".join(_fmt(x) for x in v)
    s = re.sub(r"[^A-Za-z0-9.+-]+", "-", str(v)).strip("-")
    return s[:40] or "x"


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
            _log_event(campaign_dir, run=run_dir.name, event="skipped", worker=worker)
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
    """The analysis stages after simulation, in order: name -> function(campaign_dir, **options)."""
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


def read_state(campaign_dir: str | os.PathLike) -> dict[str, Any]:
    """``campaign.json`` of a campaign directory ({} when absent or unreadable)."""
    path = Path(campaign_dir) / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


__all__ = [
    "CampaignResult",
    "CampaignSpec",
    "RunSpec",
    "analysis_functions",
    "check_output_dir",
    "expand_campaign",
    "load_campaign",
    "local_cluster",
    "read_events",
    "read_state",
    "run_campaign",
    "run_one",
    "simulate_runs",
]
