"""The run directory: the data contract between simulation, import and analysis.

Layout (see DESIGN.md)::

    runs/<campaign>/<run>/
      config.toml        fully resolved parameters, seed included
      meta.json          status (running|complete|failed), versions, wall time, counts,
                         units, dt, fault geometry and fault strength parameters
      loading.parquet    loading curve
      cracks.parquet     every bond failure
      events.parquet     AE events (moment tensors)
      slips.parquet      stick-slip events from the fault slip rate (simulations only)
      contacts.parquet   monitored fault contacts, long format
      monitored.parquet  one row per monitored contact (which particles, where, model)
      energy.parquet     energy budget at the loading interval (runs made since it exists)
      snapshots/         VTK files (.vtp/.vtm) at chosen steps
      checkpoint/        engine state for restart (removed when complete)

Every file is written to a temporary name in the same directory and renamed into place,
so a killed writer never leaves a half file under the final name, and a run is complete
only when ``meta.json`` says ``"status": "complete"``.

Sign convention: compression is positive for every stress in these tables.

``meta.json`` keys every producer writes (simulation and PFC3D import alike):

* ``status``: running | complete | failed; ``error`` (one line) when failed;
* ``dt`` [s]: the time step; ``contact_interval`` [steps]: sampling of contacts.parquet;
* ``fault``: ``FaultPlane.to_dict()`` (angle_deg, centre, normal, dip, strike) plus
  ``contact_area`` [m²], ``cohesion`` [Pa], ``friction_angle_deg``, ``tensile_strength`` [Pa];
* ``versions``, ``wall_time_s``, ``counts`` (rows per table), ``units``, ``files``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import OutputError, RunStateError, SchemaError

# --------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------
# kind codes: "i" integer, "f" float, "b" bool, "s" string (object / category)


@dataclass(frozen=True)
class Column:
    """One required column of a run-directory table."""

    name: str
    kind: str  # "i", "f", "b" or "s"
    unit: str = ""
    allowed: tuple[str, ...] = ()  # for string columns with a closed vocabulary
    undefined_ok: bool = False  # a float column where NaN means "not defined" (never infinite)


def _cols(spec: str, kind: str, unit: str = "") -> list[Column]:
    return [Column(n, kind, unit) for n in spec.split()]


SCHEMAS: dict[str, list[Column]] = {
    "loading": [
        Column("step", "i"),
        Column("time", "f", "s"),
        *_cols("axial_stress confining_stress differential_stress", "f", "Pa, compression positive"),
        *_cols("axial_strain volumetric_strain", "f", "1, shortening/compaction positive"),
        Column("platen_displacement", "f", "m, shortening positive"),
        Column("fault_slip", "f", "m, mean along-dip offset of the two fault blocks"),
        Column("kinetic_energy", "f", "J"),
    ],
    # loading.parquet of a simulation also has drive_displacement (m, advance of the
    # loading frame's drive point since axial loading began); imported runs may lack it
    "cracks": [
        Column("crack_id", "i"),
        Column("step", "i"),
        Column("time", "f", "s"),
        *_cols("x y z", "f", "m"),
        *_cols("nx ny nz", "f", "unit normal of the broken contact"),
        Column("size", "f", "m, bond radius"),
        Column("kind", "s", allowed=("rock", "fault")),
        Column("mode", "s", allowed=("tension", "shear")),
        Column("particle_a", "i"),
        Column("particle_b", "i"),
        Column("cycle", "i", "stick-slip cycle, 0, 1, ... (labquake.sim.cycles; 0 where a producer has none)"),
    ],
    # cracks.parquet of a simulation also has healed (bool: the re-rupture of a fault
    # contact regained by fault healing, docs/healing.md); imported runs may lack it
    "events": [
        Column("event_id", "i"),
        Column("step_start", "i"),
        Column("step_end", "i"),
        *_cols("x y z", "f", "m"),
        Column("radius", "f", "m"),
        Column("m0", "f", "N m"),
        Column("mw", "f", "moment magnitude, (2/3) log10 M0 - 6"),
        *_cols("m11 m12 m13 m22 m23 m33", "f", "N m"),
        *_cols("iso dev", "f", "N m"),
        Column("iso_ratio", "f", "iso / dev, signed: opening +, closing - (derived from iso and dev if absent)"),
        Column("n_cracks", "i"),
        Column("on_fault", "b"),
        Column("cycle", "i", "stick-slip cycle, 0, 1, ... (labquake.sim.cycles; 0 where a producer has none)"),
    ],
    "slips": [
        Column("step_start", "i"),
        Column("step_end", "i"),
        *_cols("stress_start stress_end static_drop dynamic_overshoot", "f", "Pa, differential stress"),
        Column("slip", "f", "m, fault slip during the event"),
        Column("duration", "f", "s"),
        Column("peak_slip_rate", "f", "m/s, averaged over loading.slip_rate_window steps"),
        *_cols("reload reload_bound", "f", "Pa, stress the drive added during the event (measured stiffness; rigid-sample bound)"),
        Column("is_mainshock", "b"),
        Column("cycle", "i", "stick-slip cycle, 0, 1, ... (labquake.sim.cycles)"),
        Column("recurrence", "f", "s from the previous stick-slip's start (NaN before the first)", undefined_ok=True),
        Column("drive_recurrence", "f", "m, drive-point advance since the previous stick-slip's start (NaN before the "
               "first, or where the drive was not recorded)", undefined_ok=True),
    ],
    "contacts": [
        Column("step", "i"),
        Column("time", "f", "s"),
        Column("contact_id", "i"),
        Column("fn", "f", "N, compression positive"),
        Column("fs", "f", "N, magnitude of the shear force"),
        Column("broken", "b"),
        *_cols("a_ux a_uy a_uz b_ux b_uy b_uz", "f", "m, displacement since monitoring began"),
        *_cols("a_vx a_vy a_vz b_vx b_vy b_vz", "f", "m/s"),
    ],
    "monitored": [
        Column("contact_id", "i"),
        Column("particle_a", "i"),
        Column("particle_b", "i"),
        *_cols("x y z", "f", "m"),
        Column("model", "s", allowed=("smoothjoint", "flatjoint", "linear")),
    ],
    # labquake.sim.energy: cumulative work and dissipation, current strain and kinetic energy;
    # residual = boundary_work - (strain + kinetic + friction + damping + bond_break)
    "energy": [
        Column("step", "i"),
        Column("boundary_work", "f", "J, cumulative, initial stored energy included"),
        Column("strain_energy", "f", "J, contacts, bonds, joints, wall and frame springs"),
        Column("kinetic_energy", "f", "J, translational + rotational"),
        Column("friction_dissipation", "f", "J, cumulative"),
        Column("damping_dissipation", "f", "J, cumulative, local + viscous"),
        Column("bond_break_energy", "f", "J, cumulative"),
        Column("residual", "f", "J, budget error"),
    ],
}

TABLES: tuple[str, ...] = tuple(SCHEMAS)


def _iso_ratio(df: pd.DataFrame) -> np.ndarray:
    from labquake.sim.ae.moment import iso_ratio  # the one definition (imported late: ae imports this module)

    return np.asarray(iso_ratio(df["iso"].to_numpy(float), df["dev"].to_numpy(float)), dtype=float).reshape(-1)


#: schema columns that follow from others: a table without them (written before they were
#: registered, or by a producer that does not compute them) gets them on reading and writing
def _single_cycle(df: pd.DataFrame) -> np.ndarray:
    return np.zeros(len(df), dtype=np.int64)


def _slip_cycle(df: pd.DataFrame) -> np.ndarray:
    """A table from before cycles were counted marks one mainshock: what follows it is cycle 1."""
    main = df["is_mainshock"].to_numpy(bool)
    return (np.cumsum(main) - main).astype(np.int64)


def _undefined(df: pd.DataFrame) -> np.ndarray:
    return np.full(len(df), np.nan)


DERIVED: dict[str, dict[str, Callable[[pd.DataFrame], Any]]] = {
    "events": {"iso_ratio": _iso_ratio, "cycle": _single_cycle},
    "cracks": {"cycle": _single_cycle},
    "slips": {"cycle": _slip_cycle, "recurrence": _undefined, "drive_recurrence": _undefined},
}


def with_derived(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the :data:`DERIVED` columns of table ``name`` that it lacks (a copy when
    any is added); the inputs they need must be present."""
    missing = {c: f for c, f in DERIVED.get(name, {}).items() if c not in df.columns}
    if not missing:
        return df
    df = df.copy()
    for c, f in missing.items():
        try:
            df[c] = f(df)
        except KeyError:  # an input column is missing: validate_table names it
            pass
    return df

STATUSES = ("running", "complete", "failed")


def _kind_ok(series: pd.Series, kind: str) -> bool:
    dt = series.dtype
    if kind == "i":
        return pd.api.types.is_integer_dtype(dt)
    if kind == "f":
        return pd.api.types.is_float_dtype(dt) or pd.api.types.is_integer_dtype(dt)
    if kind == "b":
        return pd.api.types.is_bool_dtype(dt)
    if kind == "s":
        return (
            pd.api.types.is_object_dtype(dt)
            or pd.api.types.is_string_dtype(dt)
            or isinstance(dt, pd.CategoricalDtype)
        )
    raise ValueError(f"unknown column kind {kind!r}")


_KIND_NAMES = {"i": "integer", "f": "float", "b": "bool", "s": "string"}


def validate_table(name: str, df: pd.DataFrame, source: str | os.PathLike | None = None) -> pd.DataFrame:
    """Check ``df`` against the schema of table ``name``.

    Extra columns are allowed. Raises :class:`SchemaError` naming the file (``source``),
    the column and what was expected. Returns ``df`` unchanged.
    """
    if name not in SCHEMAS:
        raise SchemaError(f"unknown run-directory table {name!r}; expected one of {', '.join(TABLES)}")
    where = str(source) if source is not None else f"table {name!r}"
    for col in SCHEMAS[name]:
        if col.name not in df.columns:
            raise SchemaError(f"{where}: missing column {col.name!r} ({_KIND_NAMES[col.kind]}{', ' + col.unit if col.unit else ''})")
        s = df[col.name]
        if not _kind_ok(s, col.kind):
            raise SchemaError(f"{where}: column {col.name!r} has dtype {s.dtype}, expected {_KIND_NAMES[col.kind]}")
        if col.kind == "f" and len(s):
            v = s.to_numpy(dtype=float)
            if not (np.isfinite(v) | (col.undefined_ok & np.isnan(v))).all():
                raise SchemaError(f"{where}: column {col.name!r} contains {'infinite' if col.undefined_ok else 'NaN or infinite'} values")
        if col.allowed and len(s):
            bad = set(pd.unique(s.astype(str))) - set(col.allowed)
            if bad:
                raise SchemaError(
                    f"{where}: column {col.name!r} has values {sorted(bad)}, expected one of {list(col.allowed)}"
                )
    return df


def empty_table(name: str) -> pd.DataFrame:
    """An empty DataFrame with the columns and dtypes of table ``name``."""
    dtypes = {"i": "int64", "f": "float64", "b": "bool", "s": "object"}
    return pd.DataFrame({c.name: pd.Series([], dtype=dtypes[c.kind]) for c in SCHEMAS[name]})


# --------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], None]) -> Path:
    """Write a file atomically: ``writer(tmp_path)`` then ``os.replace`` into ``path``.

    The temporary file lives in the same directory (same filesystem), so the rename is
    atomic. On any failure the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        # mkstemp creates 0600 files; give the result the permissions of an ordinary file
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write UTF-8 text."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically write bytes."""
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write JSON (numpy scalars and arrays are converted)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_write_parquet(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Atomically write a DataFrame as parquet (pyarrow engine, no index).

    Dictionary encoding is used for string columns only: forces, positions and
    displacements are nearly all distinct, and trying dictionaries on them first makes a
    paper-size contacts table about three times slower to write.
    """
    strings = [
        str(c) for c in df.columns
        if not (pd.api.types.is_numeric_dtype(df[c].dtype) or pd.api.types.is_bool_dtype(df[c].dtype))
    ]
    return atomic_write(
        path, lambda p: df.to_parquet(p, engine="pyarrow", index=False, use_dictionary=strings or False)
    )


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# --------------------------------------------------------------------------------------
# The labquake marker: which directories labquake wrote (and ``--force`` may replace)
# --------------------------------------------------------------------------------------

#: file that every directory labquake writes holds (run directories, PFC exports)
MARKER = ".labquake"


def write_marker(directory: str | os.PathLike, kind: str) -> Path:
    """Mark ``directory`` as written by labquake (``kind``: ``"run"``, ``"pfc-export"``)."""
    text = json.dumps({"written_by": "labquake", "kind": str(kind),
                       "note": "labquake --force may replace this directory"}) + "\n"
    return atomic_write_text(Path(directory) / MARKER, text)


def has_marker(directory: str | os.PathLike) -> bool:
    """True if ``directory`` holds a labquake marker file written by :func:`write_marker`."""
    p = Path(directory) / MARKER
    try:
        return p.is_file() and not p.is_symlink() and json.loads(p.read_text(encoding="utf-8")).get("written_by") == "labquake"
    except (OSError, ValueError, AttributeError):
        return False


# --------------------------------------------------------------------------------------
# TOML
# --------------------------------------------------------------------------------------


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Serialise a nested mapping of plain values to TOML (via ``tomli_w``)."""
    import tomli_w

    return tomli_w.dumps(_plain(data))


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML file; a syntax error becomes a one-line :class:`ConfigError`."""
    from labquake.errors import ConfigError

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


# --------------------------------------------------------------------------------------
# The run directory
# --------------------------------------------------------------------------------------


def software_versions() -> dict[str, str]:
    """Versions of Python, labquake and the main numerical dependencies."""
    import importlib.metadata as md

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("labquake", "numpy", "scipy", "pandas", "pyarrow", "numba", "scikit-learn", "POT"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


class RunDirectory:
    """A run directory on disk (see the module docstring for the layout).

    Parameters
    ----------
    path
        The directory. It need not exist yet when writing.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # -- paths ------------------------------------------------------------------------
    def table_path(self, name: str) -> Path:
        if name not in SCHEMAS:
            raise SchemaError(f"unknown run-directory table {name!r}; expected one of {', '.join(TABLES)}")
        return self.path / f"{name}.parquet"

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def meta_path(self) -> Path:
        return self.path / "meta.json"

    @property
    def snapshot_dir(self) -> Path:
        return self.path / "snapshots"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoint"

    @property
    def name(self) -> str:
        return self.path.name

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    # -- meta -------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any]:
        """Read ``meta.json``; raises :class:`RunStateError` if missing or malformed."""
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunStateError(f"{self.path}: not a run directory (no meta.json)") from None
        except json.JSONDecodeError as exc:
            raise RunStateError(f"{self.meta_path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
        if not isinstance(meta, dict) or meta.get("status") not in STATUSES:
            raise RunStateError(f"{self.meta_path}: 'status' must be one of {list(STATUSES)}")
        return meta

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        """Atomically write ``meta.json`` (its ``status`` must be a known status)."""
        if meta.get("status") not in STATUSES:
            raise ValueError(f"meta status must be one of {STATUSES}, got {meta.get('status')!r}")
        atomic_write_json(self.meta_path, dict(meta))

    def update_meta(self, **changes: Any) -> dict[str, Any]:
        """Read, update and atomically rewrite ``meta.json``; returns the new meta."""
        meta = self.read_meta() if self.meta_path.exists() else {"status": "running"}
        meta.update(changes)
        self.write_meta(meta)
        return meta

    @property
    def status(self) -> str | None:
        """``running``, ``complete``, ``failed``, or ``None`` when there is no meta.json."""
        try:
            return self.read_meta()["status"]
        except RunStateError:
            return None

    def is_complete(self) -> bool:
        """True only when meta.json says complete *and* every listed output file exists."""
        try:
            meta = self.read_meta()
        except RunStateError:
            return False
        if meta["status"] != "complete":
            return False
        return all((self.path / f).exists() for f in meta.get("files", []))

    def start(self, config: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> None:
        """Create the directory, write ``config.toml`` and a ``running`` meta.json."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create run directory {self.path}: {exc.strerror or exc}") from exc
        if not has_marker(self.path):
            write_marker(self.path, "run")
        atomic_write_text(self.config_path, dumps_toml(config))
        base = {"status": "running", "versions": software_versions(), "units": "SI; compression positive"}
        base.update(meta or {})
        base["status"] = "running"
        self.write_meta(base)

    def complete(self, **meta: Any) -> None:
        """Mark the run complete, listing the files present; remove the checkpoint."""
        files = sorted(
            p.relative_to(self.path).as_posix()
            for p in self.path.rglob("*")
            if p.is_file() and not p.name.startswith(".") and "checkpoint" not in p.relative_to(self.path).parts
            and p.name != "meta.json"
        )
        self.update_meta(status="complete", files=files, **meta)
        if self.checkpoint_dir.exists():
            import shutil

            shutil.rmtree(self.checkpoint_dir, ignore_errors=True)

    def fail(self, error: str, **meta: Any) -> None:
        """Mark the run failed with a one-line error message."""
        self.update_meta(status="failed", error=" ".join(str(error).split()), **meta)

    @contextlib.contextmanager
    def failing_on_error(self, interrupted: str) -> Iterator[RunDirectory]:
        """Run a block that writes this run; if it raises, mark the run failed (once
        ``meta.json`` exists) and re-raise. ``interrupted`` is the message for Ctrl-C,
        saying how to resume."""
        try:
            yield self
        except KeyboardInterrupt:
            if self.meta_path.exists():
                self.fail(interrupted)
            raise
        except Exception as exc:
            if self.meta_path.exists():
                self.fail(f"{type(exc).__name__}: {exc}")
            raise

    # -- config -----------------------------------------------------------------------
    def read_config(self) -> dict[str, Any]:
        """The fully resolved config of this run."""
        return read_toml(self.config_path)

    # -- tables -----------------------------------------------------------------------
    def write_table(self, name: str, df: pd.DataFrame) -> Path:
        """Validate ``df`` against the schema (derived columns added when absent) and write it atomically."""
        df = with_derived(name, df)
        validate_table(name, df, self.table_path(name))
        return atomic_write_parquet(self.table_path(name), df)

    def has_table(self, name: str) -> bool:
        return self.table_path(name).exists()

    def read_table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Read a table and check its schema; errors name the file and column."""
        path = self.table_path(name)
        if not path.exists():
            raise RunStateError(f"{path}: missing (run status: {self.status or 'unknown'})")
        try:
            df = pd.read_parquet(path, engine="pyarrow")
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise SchemaError(f"{path}: not a readable parquet file ({type(exc).__name__})") from None
        df = with_derived(name, df)
        validate_table(name, df, path)
        return df[columns] if columns is not None else df


def find_runs(campaign_dir: str | os.PathLike, complete_only: bool = True) -> list[RunDirectory]:
    """Run directories directly under ``campaign_dir``, sorted by name."""
    root = Path(campaign_dir)
    if not root.is_dir():
        raise RunStateError(f"{root}: campaign directory not found")
    runs = [RunDirectory(p) for p in sorted(root.iterdir()) if (p / "meta.json").exists()]
    if complete_only:
        runs = [r for r in runs if r.is_complete()]
    return runs


def run_directories(paths: list[str | os.PathLike], complete_only: bool = True) -> list[RunDirectory]:
    """Run directories named by ``paths``: each a run directory (with ``meta.json``) or a
    campaign folder of them, in order (a campaign's runs by name). Raises
    :class:`RunStateError` for a path that is not a directory, or when none holds a run (a
    complete one, with ``complete_only``)."""
    out: list[RunDirectory] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise RunStateError(f"{p}: not a directory")
        out += [RunDirectory(p)] if (p / "meta.json").exists() else find_runs(p, complete_only=False)
    out = [r for r in out if r.is_complete()] if complete_only else out
    if not out:
        raise RunStateError(f"no {'complete ' if complete_only else ''}run directory in {', '.join(map(str, paths))}")
    return out
