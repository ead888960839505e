"""Campaign specs: the ``[campaign]`` table, checked and expanded into one run config per run.

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
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labquake.errors import ConfigError, LabquakeError
from labquake.io.rundir import (
    dumps_toml,
    read_toml,
)

#: the keys a ``[campaign]`` table may hold
CAMPAIGN_KEYS = ("name", "description", "base", "seeds", "sweep", "runs", "retries", "analysis", "grains", "report")
#: where the seed lives in a run config
SEED_KEY = "seed"
#: task retries after a lost worker, unless the spec or the caller says otherwise
DEFAULT_RETRIES = 2
#: the spec, with its base merged in, as the campaign directory keeps it
SPEC_FILE = "campaign.toml"

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
