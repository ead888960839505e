"""PFC3D (Itasca) exports → labquake run directories, and back.

Reads the layouts the reference study (Ye et al. 2024, see ``reference/ye2024.md`` §8)
wrote from PFC3D, plus common generic exports, into a run directory that the analysis
accepts unchanged (the contract of :mod:`labquake.io.rundir`):

================================  ==============================================  ===================
file                              columns                                         → table
================================  ==============================================  ===================
``crk<run>-<trial>.txt``          ``step x y z type (nx , ny , nz )``             cracks
``ms<run>-<trial>.txt``           ``id step_start step_end x y z radius mag       events
                                  M11 M12 M22 M31 M32 M33 iso dev n_ae``
``ae<run>-<trial>.txt``,          ``id step x y z M11 M12 M22 M31 M32 M33         pfc/ae*.parquet
``ae-unclustered<run>-<trial>``   cluster_id``                                    (+ on_fault rule)
``cn``/``cs<run>-<trial>.txt``    ``step f_1 … f_n`` (normal / shear force)       contacts
``bdx bdy bdz bvx bvy bvz``       displacement / velocity of each contact's       contacts
(``…_oe`` the other ball)         first (other) ball, one column per contact
``c_model<run>-<trial>.txt``      one contact-model name per contact              monitored
``b_coord<run>-<trial>.txt``      ``x y z`` of both balls per contact             monitored
``global_step<run>-<trial>.txt``  the recorded steps                              contacts step
``S<run>-sh.csv``/``-ss.csv``     stress histories (header row)                   loading
``sj<run>.txt``                   smooth joints (13 columns)                      pfc/, contact area
``ball*``/``contact*`` tables     CSV or whitespace, header, alias table          pfc/
``pfc.toml``                      import settings (see :mod:`.pfc3d_config`)      —
================================  ==============================================  ===================

Any of these may be a FISH binary file instead of text (detected by its magic number).
Crack types fjshear/fjten/sj_Shear/sj_Tension map to kind rock/fault and mode
shear/tension. M0 and Mw are recomputed from the moment tensor
(M0 = √(Σ m_i²/2) over its eigenvalues, Mw = ⅔·log10 M0 − 6); a ``mag`` that disagrees
raises a :class:`PfcImportWarning` and is kept as ``mag_pfc``.

Several trials: each trial monitors its own contacts over the same recorded steps (the
reference concatenates them column-wise); every history file of every trial must have the
same number of rows. Cracks and events come from the first trial.

On any error nothing is written: the run directory is built in a hidden temporary folder
beside the target and renamed into place at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import ConfigError, DataFormatError, OutputError
from labquake.geometry import FaultPlane
from labquake.io.pfc3d_config import CRACK_TYPE_NAMES, PfcImportConfig, load_config
from labquake.io.pfc3d_text import LAYOUTS, Parsed, parse_header_table, parse_layout
from labquake.io.rundir import (
    MARKER,
    RunDirectory,
    atomic_write_parquet,
    has_marker,
    validate_table,
    with_derived,
    write_marker,
)

__all__ = [
    "BALL_ALIASES",
    "CONTACT_ALIASES",
    "STRESS_ALIASES",
    "ImportReport",
    "PfcImportWarning",
    "PfcRun",
    "export_pfc",
    "import_pfc",
    "moment_magnitude",
    "read_ae_file",
    "read_crack_file",
    "read_event_file",
    "read_pfc",
    "scan_source",
]

DEFAULT_CONTACT_AREA = 2e-5
DEFAULT_CONTACT_INTERVAL = 20


class PfcImportWarning(UserWarning):
    """Something in the PFC files was suspicious but importable (e.g. mag ≠ Mw(tensor))."""


# --------------------------------------------------------------------------------------
# Alias tables for generic tables (names compared lower-case, with ' ', '.', '-' → '_')
# --------------------------------------------------------------------------------------


def _xyz(prefixes: list[str], suffix_style=("{p}{a}", "{p}_{a}")) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in "xyz":
        names = []
        for p in prefixes:
            for s in suffix_style:
                names.append(s.format(p=p, a=a))
        out[a] = names
    return out


_POS = _xyz(["pos", "position", "p", "coord", "centre", "center"])
BALL_ALIASES: dict[str, list[str]] = {
    "id": ["id", "ball_id", "bid", "ball", "index", "idx"],
    "x": ["x", *_POS["x"]], "y": ["y", *_POS["y"]], "z": ["z", *_POS["z"]],
    "radius": ["radius", "rad", "r", "ball_radius"],
    "diameter": ["diameter", "diam", "d"],
    **{f"v{a}": [f"v{a}", f"vel_{a}", f"velocity_{a}", f"v_{a}", f"vel{a}"] for a in "xyz"},
    **{f"u{a}": [f"u{a}", f"disp_{a}", f"displacement_{a}", f"u_{a}", f"d{a}", f"disp{a}"] for a in "xyz"},
    **{f"f{a}": [f"f{a}", f"force_{a}", f"f_{a}", f"force_contact_{a}"] for a in "xyz"},
    "mass": ["mass", "m"],
    "density": ["density", "dens", "rho"],
}
CONTACT_ALIASES: dict[str, list[str]] = {
    "id": ["id", "contact_id", "cid", "index", "idx"],
    "contact_type": ["contact_type", "type", "model", "contact_model", "ctype", "model_name"],
    "end1": ["end1", "ball1", "id1", "ball_a", "particle_a", "b1", "end_1", "ball_1"],
    "end2": ["end2", "ball2", "id2", "ball_b", "particle_b", "b2", "end_2", "ball_2"],
    "x": ["x", *_POS["x"], "cx", "contact_x"], "y": ["y", *_POS["y"], "cy", "contact_y"],
    "z": ["z", *_POS["z"], "cz", "contact_z"],
    **{f"n{a}": [f"n{a}", f"n_{a}", f"norm_{a}", f"normal_{a}", f"unorm_{a}", f"norm{a}"] for a in "xyz"},
    "fn": ["fn", "f_n", "force_normal", "normal_force", "fnorm", "fn_mag"],
    "fs": ["fs", "ft", "f_s", "f_t", "force_shear", "shear_force", "fshear", "fs_mag", "ft_mag"],
    **{f"fs{a}": [f"fs{a}", f"fs_{a}", f"ft{a}", f"ft_{a}", f"shear_{a}", f"force_shear_{a}"] for a in "xyz"},
    "gap": ["gap"],
    "area": ["area", "sj_area", "fj_area", "bond_area"],
    "bonded": ["bonded", "is_bonded", "bond", "state", "bond_state"],
}
STRESS_ALIASES: dict[str, list[str]] = {
    "step": ["step", "steps", "cycle", "cycles", "cyc", "mech_step", "global_step", "step_number"],
    "time": ["time", "t", "mech_time", "age", "mech_age"],
    "differential_stress": ["differential_stress", "deviatoric_stress", "deviatoric", "sh", "ss", "stress",
                            "q", "sigma_d", "dev_stress", "diff_stress"],
    "axial_strain": ["axial_strain", "strain", "ezz", "eps", "eps_zz", "e_zz", "strain_zz"],
    "axial_stress": ["axial_stress", "szz", "sigma_zz", "sigma1", "s1", "sigma_1"],
    "confining_stress": ["confining_stress", "confinement", "sigma3", "s3", "sigma_3", "pc"],
    "volumetric_strain": ["volumetric_strain", "vol_strain", "ev", "e_v", "eps_v"],
    "platen_displacement": ["platen_displacement", "platen_disp", "displacement"],
    "fault_slip": ["fault_slip", "slip"],
    "kinetic_energy": ["kinetic_energy", "ekinetic", "ek", "e_kinetic"],
}
_STRING_CONTACT = {"contact_type"}

#: PFC contact-model names → the run directory's model vocabulary
MODEL_NAMES: dict[str, str] = {
    "smoothjoint": "smoothjoint", "sj": "smoothjoint", "smooth_joint": "smoothjoint",
    "flatjoint": "flatjoint", "fj": "flatjoint", "flat_joint": "flatjoint",
    **{n: "linear" for n in ("linear", "linearpbond", "linearcbond", "rrlinear", "hertz", "hysteretic",
                             "eepa", "jkr", "burger", "springnetwork", "softbond", "pb", "linearcontactbond",
                             "linearparallelbond")},
}


def _norm_name(s: str) -> str:
    s = s.strip().strip('"').strip("'").lower()
    s = re.sub(r"\s*\[[^\]]*\]$|\s*\([^)]*\)$", "", s)  # drop a unit suffix: "fn [N]", "x (m)"
    return re.sub(r"[\s.\-/]+", "_", s).strip("_")


def map_aliases(header: list[str], aliases: dict[str, list[str]]) -> tuple[dict[str, str], list[str]]:
    """Map header names to canonical names; returns ({canonical: header}, unmapped headers)."""
    lookup: dict[str, str] = {}
    for canon, names in aliases.items():
        for n in names:
            lookup.setdefault(_norm_name(n), canon)
    mapped: dict[str, str] = {}
    unmapped: list[str] = []
    for h in header:
        c = lookup.get(_norm_name(h))
        if c is None or c in mapped:
            unmapped.append(h)
        else:
            mapped[c] = h
    return mapped, unmapped


# --------------------------------------------------------------------------------------
# Scanning a source directory
# --------------------------------------------------------------------------------------

_EXT = r"(?:\.(?:txt|dat|csv|fish|fis|bin|fdat|out))?"
_RT = r"(?P<run>\d+)-(?P<trial>\d+)"
_HIST_QUANTITIES = ("cn", "cs", "cb", *(f"b{k}{a}{oe}" for k in "dv" for a in "xyz" for oe in ("", "_oe")))
_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("ae_unclustered", re.compile(rf"^ae-unclustered{_RT}{_EXT}$", re.IGNORECASE)),
    ("ae", re.compile(rf"^ae{_RT}{_EXT}$", re.IGNORECASE)),
    ("crk", re.compile(rf"^crk{_RT}{_EXT}$", re.IGNORECASE)),
    ("ms", re.compile(rf"^ms{_RT}{_EXT}$", re.IGNORECASE)),
    ("c_model", re.compile(rf"^c_model{_RT}{_EXT}$", re.IGNORECASE)),
    ("b_coord", re.compile(rf"^b_coord{_RT}{_EXT}$", re.IGNORECASE)),
    ("global_step", re.compile(rf"^global_step{_RT}{_EXT}$", re.IGNORECASE)),
    ("cextra", re.compile(rf"^cextra(?P<k>[1-9]){_RT}{_EXT}$", re.IGNORECASE)),
    ("hist", re.compile(rf"^(?P<q>b[dv][xyz](?:_oe)?|cn|cs|cb){_RT}{_EXT}$", re.IGNORECASE)),
    ("sh", re.compile(rf"^S(?P<run>\d+)-sh{_EXT}$", re.IGNORECASE)),
    ("ss", re.compile(rf"^S(?P<run>\d+)-ss{_EXT}$", re.IGNORECASE)),
    ("sj", re.compile(rf"^sj(?P<run>\d+){_EXT}$", re.IGNORECASE)),
    ("balls", re.compile(rf"^balls?(?:[_\-.][^/]*|\d[^/]*)?{_EXT}$", re.IGNORECASE)),
    ("contact_table", re.compile(rf"^contacts?(?:[_\-.][^/]*|\d[^/]*)?{_EXT}$", re.IGNORECASE)),
]

_LAYOUT_WORDS = {
    "crk": "crack file", "ae": "per-crack moment tensors", "ae_unclustered": "unclustered per-crack moment tensors",
    "ms": "clustered events", "c_model": "contact models", "b_coord": "ball coordinates of monitored contacts",
    "global_step": "recorded steps", "cextra": "contact extra variables", "hist": "contact history",
    "sh": "stress history (time)", "ss": "stress-strain history", "sj": "smooth-joint table",
    "balls": "ball table", "contact_table": "contact table", "config": "import settings",
}


@dataclass(frozen=True)
class SourceFile:
    path: Path
    layout: str
    run: int | None = None
    trial: int | None = None
    quantity: str | None = None  # history quantity (cn, cs, bdx_oe, ...)

    @property
    def name(self) -> str:
        return self.path.name


def classify(path: Path) -> SourceFile | None:
    name = path.name
    if name.lower() == "pfc.toml":
        return SourceFile(path, "config")
    for layout, pat in _PATTERNS:
        m = pat.match(name)
        if not m:
            continue
        g = m.groupdict()
        run = int(g["run"]) if g.get("run") else None
        trial = int(g["trial"]) if g.get("trial") else None
        q = g.get("q")
        return SourceFile(path, layout, run, trial, q.lower() if q else None)
    return None


def scan_source(src_dir: str | os.PathLike) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Classify the files of ``src_dir`` (not recursive); returns (recognised, ignored)."""
    src = Path(src_dir)
    if not src.exists():
        raise DataFormatError(f"{src}: source directory not found")
    if not src.is_dir():
        raise DataFormatError(f"{src}: not a directory (give the folder that holds the PFC3D exports)")
    found, ignored = [], []
    for p in sorted(src.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            ignored.append((p.name, "a directory (not searched)"))
            continue
        sf = classify(p)
        if sf is None:
            ignored.append((p.name, "not a known PFC3D layout"))
        else:
            found.append(sf)
    return found, ignored


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import found, mapped, filled in, ignored and warned about."""

    src: str
    out: str | None = None
    run_id: int | None = None
    trials: list[int] = field(default_factory=list)
    found: list[tuple[str, str]] = field(default_factory=list)
    mapped: list[tuple[str, str, str]] = field(default_factory=list)  # (file, target, detail)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    settings: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0

    def warn(self, msg: str) -> None:
        msg = " ".join(str(msg).split())
        self.warnings.append(msg)
        warnings.warn(msg, PfcImportWarning, stacklevel=3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "src": self.src, "run_id": self.run_id, "trials": self.trials,
            "found": [{"file": f, "layout": l} for f, l in self.found],
            "mapped": [{"file": f, "to": t, "detail": d} for f, t, d in self.mapped],
            "ignored": [{"file": f, "why": w} for f, w in self.ignored],
            "filled": self.filled, "warnings": self.warnings, "settings": self.settings,
        }

    def lines(self) -> list[str]:
        head = f"PFC3D import from {self.src}"
        if self.out:
            head += f" into {self.out}"
        if self.run_id is not None:
            head += f" (run {self.run_id}" + (f", trials {', '.join(map(str, self.trials))})" if self.trials else ")")
        out = [head, f"found {len(self.found)} PFC3D file(s):"]
        out += [f"  {f}  [{_LAYOUT_WORDS.get(l, l)}]" for f, l in self.found]
        out.append("mapped:")
        out += [f"  {f} -> {t}" + (f" ({d})" if d else "") for f, t, d in self.mapped] or ["  (nothing)"]
        if self.filled:
            out.append("filled in (not in the PFC files):")
            out += [f"  {x}" for x in self.filled]
        out.append(f"ignored ({len(self.ignored)}):")
        out += [f"  {f}: {w}" for f, w in self.ignored] or ["  (nothing)"]
        if self.settings:
            out.append("settings: " + "; ".join(self.settings))
        if self.warnings:
            out.append(f"warnings ({len(self.warnings)}):")
            out += [f"  {w}" for w in self.warnings]
        if self.counts:
            out.append("rows: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()))
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


# --------------------------------------------------------------------------------------
# Single-file readers
# --------------------------------------------------------------------------------------


def moment_magnitude(m11, m12, m13, m22, m23, m33) -> tuple[np.ndarray, np.ndarray]:
    """(M0, Mw) of symmetric moment tensors: M0 = √(Σ m_i²/2) over the eigenvalues, which
    equals √((M11²+M22²+M33²+2M12²+2M13²+2M23²)/2); Mw = ⅔·log10 M0 − 6."""
    m11, m12, m13, m22, m23, m33 = (np.asarray(a, dtype=float) for a in (m11, m12, m13, m22, m23, m33))
    m0 = np.sqrt(0.5 * (m11 * m11 + m22 * m22 + m33 * m33 + 2.0 * (m12 * m12 + m13 * m13 + m23 * m23)))
    with np.errstate(divide="ignore"):
        mw = (2.0 / 3.0) * np.log10(m0) - 6.0
    return m0, mw


def _ints(a) -> np.ndarray:
    return np.asarray(np.round(np.asarray(a, dtype=float)), dtype=np.int64)


def _extras_of(parsed: Parsed, base: int) -> list[str]:
    return list(parsed.frame.columns[base:])


def read_crack_file(path, cfg: PfcImportConfig | None = None) -> tuple[pd.DataFrame, Parsed]:
    """Parse a crack file into the ``cracks`` columns (time from ``cfg.dt``)."""
    cfg = cfg or PfcImportConfig()
    lay = LAYOUTS["crk"]
    parsed = parse_layout(path, lay, extra_names=cfg.columns.get("crk", ()))
    f = parsed.frame
    types = cfg.crack_type_table()
    raw = f["type"].astype(str).str.strip()
    key = raw.str.lower()
    known = key.isin(list(types))
    if not known.all():
        row = int(np.flatnonzero(~known.to_numpy())[0])
        raise parsed.error(row, f"unknown crack type {raw.iloc[row]!r}; expected one of fjshear, fjten, sj_Shear, "
                                f"sj_Tension (add others under [crack_types] in the import config)")
    kind = key.map(lambda k: types[k][0])
    mode = key.map(lambda k: types[k][1])
    n = len(f)
    step = _ints(f["step"])
    out = pd.DataFrame({
        "crack_id": np.arange(n, dtype=np.int64),
        "step": step,
        "time": step * cfg.dt,
        "x": f["x"].to_numpy(float), "y": f["y"].to_numpy(float), "z": f["z"].to_numpy(float),
        "nx": f["nx"].to_numpy(float), "ny": f["ny"].to_numpy(float), "nz": f["nz"].to_numpy(float),
        "size": np.zeros(n),
        "kind": kind.to_numpy(dtype=object),
        "mode": mode.to_numpy(dtype=object),
        "particle_a": np.full(n, -1, dtype=np.int64),
        "particle_b": np.full(n, -1, dtype=np.int64),
    })
    for c in _extras_of(parsed, lay.width):
        _set_extra(out, c, f[c].to_numpy(float), parsed, {"crack_id", "step", "particle_a", "particle_b"})
    return out, parsed


def _set_extra(out: pd.DataFrame, name: str, vals: np.ndarray, parsed: Parsed, int_cols: set[str],
               bool_cols: frozenset = frozenset()) -> None:
    if name.startswith("extra_"):
        return
    name, _, typ = name.partition(":")  # "event_id:int": a declared type
    if typ == "int":
        int_cols = set(int_cols) | {name}
    elif typ == "bool":
        bool_cols = frozenset(bool_cols) | {name}
    if name in bool_cols:
        out[name] = vals != 0
    elif name in int_cols:
        if not np.array_equal(vals, np.round(vals)):
            row = int(np.flatnonzero(vals != np.round(vals))[0])
            raise parsed.error(row, f"column {name!r} must hold integers, found {vals[row]!r}")
        out[name] = _ints(vals)
    else:
        out[name] = vals


def read_event_file(path, cfg: PfcImportConfig | None = None,
                    report: ImportReport | None = None) -> tuple[pd.DataFrame, Parsed]:
    """Parse an ``ms`` file into the ``events`` columns (``on_fault`` left False unless an
    extra ``on_fault`` column is declared). M0/Mw come from the tensor; ``mag`` is kept
    as ``mag_pfc`` and compared."""
    cfg = cfg or PfcImportConfig()
    lay = LAYOUTS["ms"]
    parsed = parse_layout(path, lay, extra_names=cfg.columns.get("ms", ()))
    f = parsed.frame
    t = {k: f[k].to_numpy(float) for k in ("M11", "M12", "M22", "M31", "M32", "M33")}
    m0, mw = moment_magnitude(t["M11"], t["M12"], t["M31"], t["M22"], t["M32"], t["M33"])
    if len(m0) and not (m0 > 0).all():
        row = int(np.flatnonzero(~(m0 > 0))[0])
        raise parsed.error(row, "the moment tensor is zero, so M0 and Mw are undefined")
    mag = f["mag"].to_numpy(float)
    n = len(f)
    out = pd.DataFrame({
        "event_id": _ints(f["id"]),
        "step_start": _ints(f["step_start"]),
        "step_end": _ints(f["step_end"]),
        "x": f["x"].to_numpy(float), "y": f["y"].to_numpy(float), "z": f["z"].to_numpy(float),
        "radius": f["radius"].to_numpy(float),
        "m0": m0, "mw": mw,
        "m11": t["M11"], "m12": t["M12"], "m13": t["M31"], "m22": t["M22"], "m23": t["M32"], "m33": t["M33"],
        "iso": f["iso"].to_numpy(float), "dev": f["dev"].to_numpy(float),
        "n_cracks": _ints(f["n_ae"]),
        "on_fault": np.zeros(n, dtype=bool),
        "mag_pfc": mag,
    })
    for c in _extras_of(parsed, lay.width):
        _set_extra(out, c, f[c].to_numpy(float), parsed, {"event_id", "step_start", "step_end", "n_cracks"},
                   frozenset({"on_fault"}))
    if n:
        diff = np.abs(mw - mag)
        bad = diff > cfg.mag_tolerance
        if bad.any():
            worst = int(np.argmax(diff))
            first = int(np.flatnonzero(bad)[0])
            msg = (f"{parsed.where}: {int(bad.sum())} of {n} events have a mag that differs from Mw recomputed from "
                   f"the moment tensor by more than {cfg.mag_tolerance:g} (first at {parsed.position(first)}; largest "
                   f"{diff[worst]:.3g} at {parsed.position(worst)}); Mw from the tensor is used, mag is kept as mag_pfc")
            if report is not None:
                report.warn(msg)
            else:
                warnings.warn(msg, PfcImportWarning, stacklevel=2)
    return out, parsed


def read_ae_file(path, cfg: PfcImportConfig | None = None) -> tuple[pd.DataFrame, Parsed]:
    """Parse a per-crack moment-tensor file (``ae`` / ``ae-unclustered``)."""
    cfg = cfg or PfcImportConfig()
    lay = LAYOUTS["ae"]
    parsed = parse_layout(path, lay, extra_names=cfg.columns.get("ae", ()))
    f = parsed.frame
    step = _ints(f["step"])
    m0, mw = moment_magnitude(f["M11"], f["M12"], f["M31"], f["M22"], f["M32"], f["M33"])
    out = pd.DataFrame({
        "ae_id": _ints(f["id"]), "step": step, "time": step * cfg.dt,
        "x": f["x"].to_numpy(float), "y": f["y"].to_numpy(float), "z": f["z"].to_numpy(float),
        "m11": f["M11"].to_numpy(float), "m12": f["M12"].to_numpy(float), "m13": f["M31"].to_numpy(float),
        "m22": f["M22"].to_numpy(float), "m23": f["M32"].to_numpy(float), "m33": f["M33"].to_numpy(float),
        "m0": m0, "mw": np.where(m0 > 0, mw, np.nan),
        "cluster_id": _ints(f["cluster_id"]),
    })
    for c in _extras_of(parsed, lay.width):
        _set_extra(out, c, f[c].to_numpy(float), parsed, set())
    return out, parsed


# --------------------------------------------------------------------------------------
# The whole source directory
# --------------------------------------------------------------------------------------


@dataclass
class PfcRun:
    """The tables read from a PFC3D source directory, before anything is written."""

    tables: dict[str, pd.DataFrame]
    extras: dict[str, pd.DataFrame]  # relative path in the run directory -> table
    meta: dict[str, Any]
    config: dict[str, Any]
    report: ImportReport


def _pick_run(files: list[SourceFile], run_id: int | None, report: ImportReport) -> int | None:
    runs = sorted({f.run for f in files if f.run is not None})
    if run_id is None:
        if len(runs) > 1:
            raise ConfigError(f"{report.src}: files of several runs ({', '.join(map(str, runs))}); "
                              f"choose one with --run-id")
        return runs[0] if runs else None
    if runs and run_id not in runs:
        raise ConfigError(f"{report.src}: no files of run {run_id}; runs found: {', '.join(map(str, runs))}")
    return run_id


def read_pfc(src_dir: str | os.PathLike, config: PfcImportConfig | str | os.PathLike | None = None, *,
             run_id: int | None = None, dt: float | None = None,
             contact_interval: int | None = None) -> PfcRun:
    """Read and validate everything in ``src_dir``; writes nothing.

    ``config`` is a :class:`PfcImportConfig`, a TOML path, or None (then ``src_dir/pfc.toml``
    if present, else the defaults). ``run_id``, ``dt`` and ``contact_interval`` override it.
    """
    t0 = time.perf_counter()
    src = Path(src_dir)
    files, ignored = scan_source(src)
    report = ImportReport(src=str(src))
    if config is None:
        cfg_files = [f for f in files if f.layout == "config"]
        config = cfg_files[0].path if cfg_files else None
    cfg = config if isinstance(config, PfcImportConfig) else load_config(config)
    cfg = cfg.with_overrides(run_id=run_id, dt=dt, contact_interval=contact_interval)
    report.settings.append(f"config {cfg.source}" if cfg.source else "config: defaults (no pfc.toml)")
    report.ignored.extend(ignored)
    run = _pick_run([f for f in files if f.layout != "config"], cfg.run_id, report)
    report.run_id = run
    keep: list[SourceFile] = []
    for f in files:
        if f.layout == "config":
            continue
        if f.run is not None and run is not None and f.run != run:
            report.ignored.append((f.name, f"belongs to run {f.run}, not run {run}"))
            continue
        keep.append(f)
    report.found = [(f.name, f.layout) for f in keep]
    data_layouts = {"crk", "ms", "ae", "ae_unclustered", "hist", "sh", "ss", "balls", "contact_table", "sj"}
    if not any(f.layout in data_layouts for f in keep):
        raise DataFormatError(
            f"{src}: no PFC3D exports found (expected files such as crk<run>-<trial>.txt, ms<run>-<trial>.txt, "
            f"cn<run>-<trial>.txt, S<run>-sh.csv, balls.csv)"
        )
    report.settings.append(f"dt {cfg.dt:g} s")

    tables: dict[str, pd.DataFrame] = {}
    extras: dict[str, pd.DataFrame] = {}

    # --- contact area from smooth joints, fault settings -------------------------------
    contact_area = cfg.fault.contact_area
    for f in [f for f in keep if f.layout == "sj"]:
        sj = _read_sj(f, cfg)
        extras["pfc/smooth_joints.parquet"] = sj
        detail = f"{len(sj)} smooth joints"
        if contact_area is None and len(sj):
            contact_area = float(sj["area"].mean())
            detail += f"; fault contact_area = mean area {contact_area:.4g} m²"
        report.mapped.append((f.name, "pfc/smooth_joints.parquet", detail))
    if contact_area is None:
        contact_area = DEFAULT_CONTACT_AREA
        report.filled.append(f"meta fault.contact_area = {DEFAULT_CONTACT_AREA:g} m² (reference default)")

    # --- cracks, events, per-crack tensors (first trial) -------------------------------
    crack_trials = _first_trial(keep, ("crk", "ms", "ae", "ae_unclustered"), report)
    cracks = None
    for f in keep:
        if f.layout == "crk" and f.trial == crack_trials.get("crk"):
            cracks, parsed = read_crack_file(f.path, cfg)
            _note_filled_cracks(cracks, parsed, report)
            nf = int((cracks["kind"] == "fault").sum())
            report.mapped.append((f.name, "cracks.parquet", f"{len(cracks)} cracks: {nf} fault, {len(cracks) - nf} rock"))
            tables["cracks"] = cracks
    ae = None
    for f in keep:
        if f.layout in ("ae", "ae_unclustered") and f.trial == crack_trials.get(f.layout):
            df, _ = read_ae_file(f.path, cfg)
            target = "pfc/ae.parquet" if f.layout == "ae" else "pfc/ae_unclustered.parquet"
            extras[target] = df
            if f.layout == "ae":
                ae = df
            report.mapped.append((f.name, target, f"{len(df)} per-crack moment tensors"))
    for f in keep:
        if f.layout == "ms" and f.trial == crack_trials.get("ms"):
            events, parsed = read_event_file(f.path, cfg, report)
            rule = _set_on_fault(events, parsed, cracks, ae, cfg)
            report.mapped.append((f.name, "events.parquet",
                                  f"{len(events)} events, {int(events['on_fault'].sum())} on the fault ({rule})"))
            tables["events"] = events

    # --- contact histories ------------------------------------------------------------
    interval = cfg.contact_interval
    hist = [f for f in keep if f.layout in ("hist", "c_model", "b_coord", "global_step", "cextra")]
    if hist:
        contacts, monitored, interval = _read_histories(hist, cfg, report)
        if contacts is not None:
            tables["contacts"] = contacts
            tables["monitored"] = monitored
    if interval is None:
        interval = DEFAULT_CONTACT_INTERVAL
        if "contacts" not in tables:
            report.filled.append(f"meta contact_interval = {DEFAULT_CONTACT_INTERVAL} steps (reference default)")

    # --- stress histories -------------------------------------------------------------
    sh = [f for f in keep if f.layout == "sh"]
    ss = [f for f in keep if f.layout == "ss"]
    if sh or ss:
        tables["loading"] = _read_stress(sh[0] if sh else None, ss[0] if ss else None, cfg, interval, report)

    # --- generic tables ---------------------------------------------------------------
    for f in keep:
        if f.layout in ("balls", "contact_table"):
            df, target = _read_generic(f, report)
            extras[target] = df

    for name in list(tables):
        tables[name] = with_derived(name, tables[name])  # e.g. the events' iso_ratio from iso and dev
        validate_table(name, tables[name], f"{name} (from {src})")
    report.counts = {k: len(v) for k, v in tables.items()}

    plane = FaultPlane(angle_deg=cfg.fault.angle_deg, centre=tuple(cfg.fault.centre))
    fault = plane.to_dict()
    fault.update(contact_area=float(contact_area), cohesion=cfg.fault.cohesion,
                 friction_angle_deg=cfg.fault.friction_angle_deg, tensile_strength=cfg.fault.tensile_strength,
                 on_fault_distance=cfg.fault.on_fault_distance)
    for k, v in cfg.fault_extra.items():
        fault.setdefault(k, v)
    meta = {
        "source": "pfc3d",
        "dt": cfg.dt,
        "contact_interval": int(interval),
        "fault": fault,
        "sample": {"height": cfg.sample_height, "diameter": cfg.sample_diameter,
                   "confining_stress": cfg.confining_stress},
        "units": "SI; compression positive",
        "counts": report.counts,
    }
    config_out = {
        "source": {"format": "pfc3d", "dir": str(src.resolve()), "run_id": run, "trials": report.trials},
        "pfc_import": cfg.to_dict(),
        "dt": cfg.dt,
        "contact_interval": int(interval),
    }
    report.wall_time_s = time.perf_counter() - t0
    return PfcRun(tables, extras, meta, config_out, report)


def _first_trial(files: list[SourceFile], layouts, report: ImportReport) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for lay in layouts:
        fs = sorted((f for f in files if f.layout == lay), key=lambda f: f.trial or 0)
        if not fs:
            continue
        out[lay] = fs[0].trial
        first = fs[0].path.read_bytes() if len(fs) > 1 else b""
        for other in fs[1:]:
            same = other.path.read_bytes() == first
            report.ignored.append((other.name, f"{_LAYOUT_WORDS[lay]} of trial {other.trial}; trial {fs[0].trial} is "
                                               f"used" + (" (identical)" if same else "")))
            if not same:
                report.warn(f"{other.name} differs from {fs[0].name}; only trial {fs[0].trial} is imported")
    return out


def _note_filled_cracks(cracks: pd.DataFrame, parsed: Parsed, report: ImportReport) -> None:
    extra = list(parsed.frame.columns[LAYOUTS["crk"].width:])
    given = {c.partition(":")[0] for c in extra}
    if "size" not in given:
        report.filled.append("cracks.size = 0 (bond radius not in the crack file)")
    if "particle_a" not in given or "particle_b" not in given:
        report.filled.append("cracks.particle_a/particle_b = -1 (ball ids not in the crack file)")
    unnamed = [c for c in extra if c.startswith("extra_")]
    if unnamed:
        why = (f"{len(unnamed)} extra column(s) after the crack normal "
               f"(name them under [columns] crk to keep them)")
        report.ignored.append((Path(parsed.where).name, why))


def _set_on_fault(events: pd.DataFrame, parsed: Parsed, cracks: pd.DataFrame | None, ae: pd.DataFrame | None,
                  cfg: PfcImportConfig) -> str:
    """Mark events that involve a fault crack and lie within ``on_fault_distance`` of the
    fault plane (reference §3). Returns a description of the rule used."""
    declared = "on_fault" in {c.partition(":")[0] for c in cfg.columns.get("ms", ())}
    if declared:
        return "from the on_fault column"
    if len(events) == 0:
        return "no events"
    plane = FaultPlane(angle_deg=cfg.fault.angle_deg, centre=tuple(cfg.fault.centre))
    near = np.abs(plane.signed_distance(events[["x", "y", "z"]].to_numpy())) < cfg.fault.on_fault_distance
    if cracks is None or len(cracks) == 0:
        events["on_fault"] = np.zeros(len(events), dtype=bool)
        return "no crack file: none marked"
    fault_cracks = cracks[cracks["kind"] == "fault"]
    if ae is not None and len(ae):
        # per-crack tensors name each crack's event (cluster_id); match them to cracks by
        # step and nearest position
        m = ae[["step", "x", "y", "z", "cluster_id"]].reset_index(names="ae_row").merge(
            cracks[["step", "x", "y", "z", "kind"]], on="step", suffixes=("", "_c"))
        if len(m):
            d2 = (m["x"] - m["x_c"]) ** 2 + (m["y"] - m["y_c"]) ** 2 + (m["z"] - m["z_c"]) ** 2
            m = m.assign(d2=d2.to_numpy()).sort_values(["ae_row", "d2"], kind="mergesort")
            best = m.drop_duplicates("ae_row")
            fault_clusters = set(best.loc[best["kind"] == "fault", "cluster_id"].tolist())
            involved = events["event_id"].isin(fault_clusters).to_numpy()
            events["on_fault"] = involved & near
            return (f"events whose per-crack tensors include a fault crack, within "
                    f"{cfg.fault.on_fault_distance:g} m of the fault plane")
    # no per-crack tensors: an event involves a fault crack when one breaks between its first
    # and last step (this contains the reference's rule, a fault crack at step_start or step_end)
    fsteps = np.sort(fault_cracks["step"].to_numpy())
    lo = np.searchsorted(fsteps, events["step_start"].to_numpy(), side="left")
    hi = np.searchsorted(fsteps, events["step_end"].to_numpy(), side="right")
    events["on_fault"] = (hi > lo) & near
    return (f"events with a fault crack between their first and last step, within "
            f"{cfg.fault.on_fault_distance:g} m of the fault plane")


def _read_sj(f: SourceFile, cfg: PfcImportConfig) -> pd.DataFrame:
    parsed = parse_layout(f.path, LAYOUTS["sj"], extra_names=cfg.columns.get("sj", ()))
    df = parsed.frame.copy()
    return df[[c for c in df.columns if not c.startswith("extra_")]].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Contact histories
# --------------------------------------------------------------------------------------


def _trim_unfilled(mats: dict[str, np.ndarray]) -> int:
    """Number of trailing rows that are zero in every history matrix (FISH arrays are
    preallocated, so a run that stopped early leaves zero rows at the end)."""
    n = min(m.shape[0] for m in mats.values())
    k = n
    while k > 0 and all(not m[k - 1].any() for m in mats.values()):
        k -= 1
    return n - k


def _read_histories(files: list[SourceFile], cfg: PfcImportConfig, report: ImportReport):
    by_trial: dict[int, dict[str, SourceFile]] = {}
    for f in files:
        if f.layout == "cextra":
            report.ignored.append((f.name, "contact extra variables (cextra) are not part of the run directory"))
            continue
        q = f.quantity if f.layout == "hist" else f.layout
        by_trial.setdefault(f.trial or 1, {})[q] = f
    trials = sorted(by_trial)
    if cfg.trials is not None:
        missing = [t for t in cfg.trials if t not in by_trial]
        if missing:
            raise ConfigError(f"{report.src}: no contact-history files for trial(s) {missing}; found trials {trials}")
        for t in trials:
            if t not in cfg.trials:
                for f in by_trial[t].values():
                    report.ignored.append((f.name, f"trial {t} not selected (trials = {list(cfg.trials)})"))
        trials = list(cfg.trials)
    with_forces = [t for t in trials if "cn" in by_trial[t] or "cs" in by_trial[t]]
    for t in trials:
        if t not in with_forces:
            for f in by_trial[t].values():
                report.ignored.append((f.name, f"trial {t} has no cn/cs force history"))
    trials = with_forces
    if not trials:
        return None, None, cfg.contact_interval
    report.trials = trials
    global_steps = {t: by_trial[t]["global_step"] for t in trials if "global_step" in by_trial[t]}

    per_trial = []
    ref: tuple[str, int] | None = None  # (file, rows) of the first trial, for length checks
    models_of: dict[int, Parsed | None] = {}
    n_of: dict[int, int | None] = {}
    for t in trials:
        fs = by_trial[t]
        for q in ("cn", "cs"):
            if q not in fs:
                raise DataFormatError(f"{report.src}: trial {t} has {'cs' if q == 'cn' else 'cn'} but no "
                                      f"{q}<run>-{t}.txt; both force histories are needed")
        models_of[t], n_of[t] = None, cfg.n_contacts
        if "c_model" in fs:
            pm = parse_layout(fs["c_model"].path, LAYOUTS["c_model"], ncols=1)
            models_of[t], n_of[t] = pm, len(pm.frame)
    # the big files: parse them all in parallel (pyarrow releases the GIL)
    jobs = {}
    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        for t in trials:
            n = n_of[t]
            for q in _HIST_QUANTITIES:
                f = by_trial[t].get(q)
                if f is None:
                    continue
                nc = n + 1 if n is not None and _is_binary(f.path) else None
                jobs[(t, q)] = pool.submit(parse_layout, f.path, LAYOUTS["hist"], ncols=nc)
        results = {key: fut.exception() or fut.result() for key, fut in jobs.items()}
    for key in jobs:  # the first failure in file order
        if isinstance(results[key], BaseException):
            raise results[key]
    for t in trials:
        fs = by_trial[t]
        models, n = models_of[t], n_of[t]
        mats: dict[str, np.ndarray] = {}
        parsed_files: dict[str, Parsed] = {}
        first = results[(t, "cn")]
        ncols = first.frame.shape[1]
        if n is None:
            n = ncols - 1
            has_step = True
        elif ncols == n + 1:
            has_step = True
        elif ncols == n:
            has_step = False
        else:
            src = fs["c_model"].name if models is not None else "n_contacts in the config"
            raise first.error(0, f"expected {n + 1} columns (step + {n} contacts, from {src}), found {ncols}")
        if n < 1:
            raise first.error(0, "no contact columns after the step column")
        parsed_files["cn"] = first
        mats["cn"] = first.frame.to_numpy(np.float64)
        for q in _HIST_QUANTITIES:
            if q == "cn" or q not in fs:
                continue
            p = results[(t, q)]
            if p.frame.shape[1] != ncols:  # re-parse strictly to name the first bad line
                parse_layout(fs[q].path, LAYOUTS["hist"], ncols=ncols)
                raise p.error(0, f"expected {ncols} columns like {fs['cn'].name}, found {p.frame.shape[1]}")
            parsed_files[q] = p
            mats[q] = p.frame.to_numpy(np.float64)
        # steps
        gs = None
        gfile = global_steps.get(t) or (global_steps.get(trials[0]) if global_steps else None)
        if gfile is not None:
            pg = parse_layout(gfile.path, LAYOUTS["global_step"], ncols=1)
            gs = pg.frame.iloc[:, 0].to_numpy(np.float64)
            nz = np.flatnonzero(gs != 0)
            gs = gs[: (nz[-1] + 1) if len(nz) else 0]
        unfilled = _trim_unfilled(mats)
        rows = {q: m.shape[0] for q, m in mats.items()}
        nrow = rows["cn"]
        for q, r in rows.items():
            if r != nrow:
                short, long_ = (q, "cn") if r < nrow else ("cn", q)
                nshort = min(r, nrow)
                raise DataFormatError(
                    f"{fs[long_].path}, line {nshort + 1}: {max(r, nrow)} rows but {fs[short].name} has {nshort}; "
                    f"every history file of trial {t} needs one row per recorded step")
        nrow -= unfilled
        if ref is not None and nrow != ref[1]:
            longer = fs["cn"].path if nrow > ref[1] else ref[2]
            raise DataFormatError(
                f"{longer}, line {min(nrow, ref[1]) + 1}: mismatched trial lengths: trial {t} "
                f"({fs['cn'].name}) has {nrow} recorded steps, {ref[0]} has {ref[1]}; all trials must cover "
                f"the same steps")
        if gs is not None and len(gs) != nrow:
            if len(gs) < nrow and all(not m[len(gs):nrow].any() for m in mats.values()):
                unfilled += nrow - len(gs)
                nrow = len(gs)
            else:
                raise DataFormatError(
                    f"{gfile.path}, line {min(len(gs), nrow) + 1}: lists {len(gs)} recorded steps but "
                    f"{fs['cn'].name} has {nrow} rows")
        if unfilled:
            report.ignored.append((f"trial {t} histories", f"{unfilled} trailing all-zero (unfilled) rows"))
        for q in mats:
            mats[q] = mats[q][:nrow]
        if ref is None:
            ref = (fs["cn"].name, nrow, fs["cn"].path)
        steps, how = _history_steps(mats["cn"][:, 0] if has_step else None, gs, nrow, cfg, fs["cn"])
        per_trial.append(dict(trial=t, n=n, mats=mats, has_step=has_step, steps=steps, models=models, files=fs,
                              how=how, parsed=parsed_files))
    # --- assemble the long table: step-major, and at each step trial 1's contacts, then
    # trial 2's, ...; each quantity is copied once into its (steps × contacts) block ------
    mon_frames = []
    offset = 0
    interval = cfg.contact_interval
    same_steps = all(np.array_equal(per_trial[0]["steps"], tr["steps"]) for tr in per_trial)
    n_total = sum(tr["n"] for tr in per_trial)
    blocks = []  # (row offset or None, column offset, trial) for each trial
    for tr in per_trial:
        mon = _monitored(tr, offset, cfg, report)
        mon_frames.append(mon)
        blocks.append(offset)
        offset += tr["n"]
        steps = tr["steps"]
        if interval is None and len(steps) > 1:
            d = np.diff(steps)
            interval = int(np.median(d)) if (d > 0).all() else None

    def gather(get, dtype=np.float64) -> np.ndarray:
        """One column of the long table from per-trial (steps × n) matrices."""
        if same_steps:
            out = np.empty((len(per_trial[0]["steps"]), n_total), dtype=dtype)
            for tr, off in zip(per_trial, blocks):
                out[:, off:off + tr["n"]] = get(tr)
            return out.reshape(-1)
        return np.concatenate([np.asarray(get(tr), dtype=dtype).reshape(-1) for tr in per_trial])

    def hist(tr, q):
        return tr["mats"][q][:, (1 if tr["has_step"] else 0):]

    cols: dict[str, np.ndarray] = {}
    cols["step"] = gather(lambda tr: np.broadcast_to(tr["steps"][:, None], (len(tr["steps"]), tr["n"])), np.int64)
    cols["time"] = cols["step"] * cfg.dt
    ids_of = [m["contact_id"].to_numpy() for m in mon_frames]
    cols["contact_id"] = gather(lambda tr: np.broadcast_to(ids_of[per_trial.index(tr)][None, :],
                                                           (len(tr["steps"]), tr["n"])), np.int64)
    cols["fn"] = gather(lambda tr: hist(tr, "cn") * cfg.normal_sign)
    for tr in per_trial:
        if (hist(tr, "cs") < 0).any():
            report.warn(f"{tr['files']['cs'].name}: negative shear forces; their magnitude is used")
    cols["fs"] = gather(lambda tr: np.abs(hist(tr, "cs")))

    def broken(tr):
        if "cb" in tr["mats"]:
            return hist(tr, "cb") != 0
        return (hist(tr, "cn") == 0) & (hist(tr, "cs") == 0)

    cols["broken"] = gather(broken, bool)
    if any("cb" not in tr["mats"] for tr in per_trial):
        report.filled.append("contacts.broken = (fn == 0 and fs == 0) where no cb file: PFC writes zero forces "
                             "for a contact that no longer exists")
    for side, suf in (("a", ""), ("b", "_oe")):
        for kind, lab in (("d", "u"), ("v", "v")):
            for ax in "xyz":
                q = f"b{kind}{ax}{suf}"

                def motion(tr, q=q, kind=kind):
                    if q not in tr["mats"]:
                        return 0.0
                    m = hist(tr, q)
                    if kind == "d" and cfg.rebase_displacement and len(m):
                        m = m - m[0]
                    return m

                cols[f"{side}_{lab}{ax}"] = gather(lambda tr, f=motion: np.broadcast_to(
                    f(tr), (len(tr["steps"]), tr["n"])))
    for tr in per_trial:
        t, n, fs, nrow = tr["trial"], tr["n"], tr["files"], len(tr["steps"])
        missing_motion = [q for q in _HIST_QUANTITIES if q.startswith("b") and q not in tr["mats"]]
        if missing_motion:
            report.filled.append(f"contacts of trial {t}: {_short_list(missing_motion)} not found, zeros written")
        for q, f in fs.items():
            if q in tr["mats"]:
                what = {"cn": "fn", "cs": "fs", "cb": "broken"}.get(q) or _motion_name(q)
                report.mapped.append((f.name, "contacts.parquet", f"{what}: {nrow} steps × {n} contacts"))
        if "global_step" in fs:
            report.mapped.append((fs["global_step"].name, "contacts.parquet", "step"))
        report.settings.append(f"trial {t}: steps {tr['how']}")
    contacts = pd.DataFrame(cols, copy=False)
    if not same_steps:
        contacts = contacts.sort_values("step", kind="mergesort", ignore_index=True)
    monitored = pd.concat(mon_frames, ignore_index=True)
    if monitored["contact_id"].duplicated().any():
        dup = monitored.loc[monitored["contact_id"].duplicated(), "contact_id"].iloc[0]
        raise DataFormatError(f"{report.src}: contact id {dup} appears twice in the monitored contacts "
                              f"(check the contact_id column of b_coord)")
    return contacts, monitored, interval


def _short_list(items: list[str]) -> str:
    if len(items) == 12:
        return "all ball displacement and velocity files (bd*, bv*)"
    return ", ".join(items)


def _motion_name(q: str) -> str:
    side = "b" if q.endswith("_oe") else "a"
    return f"{side}_{'u' if q[1] == 'd' else 'v'}{q[2]}"


def _history_steps(col, gs, nrow: int, cfg: PfcImportConfig, cn: SourceFile) -> tuple[np.ndarray, str]:
    if gs is not None:
        steps = gs
        how = "from global_step file"
    elif col is not None and nrow > 0 and (nrow == 1 and col[0] != 0 or nrow > 1 and (np.diff(col) > 0).all()):
        steps = col
        how = f"from the first column of {cn.name}"
    else:
        if col is not None and col.any():
            raise DataFormatError(
                f"{cn.path}, line 1: the first column is neither increasing steps nor the zero placeholder FISH "
                f"writes; give a global_step file or check the layout (step f_1 ... f_n)")
        interval = cfg.contact_interval or DEFAULT_CONTACT_INTERVAL
        steps = cfg.start_step + interval * np.arange(nrow, dtype=np.float64)
        how = f"start_step {cfg.start_step} + {interval} × sample index (no steps in the files)"
    if not np.array_equal(steps, np.round(steps)):
        raise DataFormatError(f"{cn.path}: recorded steps are not integers")
    return np.asarray(np.round(steps), dtype=np.int64), how


def _monitored(tr: dict, offset: int, cfg: PfcImportConfig, report: ImportReport) -> pd.DataFrame:
    n, fs, t = tr["n"], tr["files"], tr["trial"]
    out = pd.DataFrame({
        "contact_id": np.arange(offset, offset + n, dtype=np.int64),
        "particle_a": np.full(n, -1, dtype=np.int64),
        "particle_b": np.full(n, -1, dtype=np.int64),
        "x": np.zeros(n), "y": np.zeros(n), "z": np.zeros(n),
        "model": np.full(n, "smoothjoint", dtype=object),
        "trial": np.full(n, t, dtype=np.int64),
    })
    first = t == report.trials[0]
    if tr["models"] is not None:
        pm: Parsed = tr["models"]
        raw = pm.frame["model"].astype(str).str.strip()
        mapped = raw.str.lower().map(MODEL_NAMES)
        if mapped.isna().any():
            row = int(np.flatnonzero(mapped.isna().to_numpy())[0])
            raise pm.error(row, f"unknown contact model {raw.iloc[row]!r}; expected one of smoothjoint, flatjoint, "
                                f"linear (or another PFC model name: {', '.join(sorted(set(MODEL_NAMES) - {'sj', 'fj'}))})")
        out["model"] = mapped.to_numpy(dtype=object)
        report.mapped.append((fs["c_model"].name, "monitored.parquet", f"model of {n} contacts"))
    else:
        report.filled.append(f"monitored.model of trial {t} = smoothjoint (no c_model file)")
    if "b_coord" in fs:
        names = cfg.columns.get("b_coord", ())
        pb = parse_layout(fs["b_coord"].path, LAYOUTS["b_coord"], extra_names=names)
        b = pb.frame
        if len(b) != n:
            raise pb.error(min(len(b), n), f"{len(b)} rows but trial {t} monitors {n} contacts")
        out["x"] = 0.5 * (b["ax"].to_numpy() + b["bx"].to_numpy())
        out["y"] = 0.5 * (b["ay"].to_numpy() + b["by"].to_numpy())
        out["z"] = 0.5 * (b["az"].to_numpy() + b["bz"].to_numpy())
        for c in _extras_of(pb, LAYOUTS["b_coord"].width):
            _set_extra(out, c, b[c].to_numpy(float), pb, {"contact_id", "particle_a", "particle_b"})
        got = {c.partition(":")[0] for c in b.columns}
        report.mapped.append((fs["b_coord"].name, "monitored.parquet",
                              "position" + ("" if {"x", "y", "z"} <= got else " (midpoint of the two balls)")))
        if first and not {"particle_a", "particle_b"} <= got:
            report.filled.append("monitored.particle_a/particle_b = -1 (ball ids not in the PFC files)")
    else:
        report.filled.append(f"monitored x, y, z of trial {t} = 0 and particle ids = -1 (no b_coord file)")
    return out


# --------------------------------------------------------------------------------------
# Stress histories
# --------------------------------------------------------------------------------------


def _read_stress(sh: SourceFile | None, ss: SourceFile | None, cfg: PfcImportConfig, interval: int | None,
                 report: ImportReport) -> pd.DataFrame:
    scale = cfg.stress_scale
    stress_cols = {"differential_stress", "axial_stress", "confining_stress"}
    cols: dict[str, np.ndarray] = {}
    nrow = None
    srcs = []
    for f, positional in ((sh, ("step", "differential_stress")), (ss, ("axial_strain", "differential_stress"))):
        if f is None:
            continue
        head = _first_line(f.path)
        names = [h.strip().strip('"').strip("'") for h in (head.split(",") if "," in head else head.split())]
        known, _ = map_aliases(names, STRESS_ALIASES)
        # columns outside the alias table are not checked (they are reported and ignored)
        p = parse_header_table(f.path, "a stress history with a header row (e.g. step,stress)",
                               string_columns=[h for h in names if h not in known.values()] if known else ())
        header = list(p.frame.columns)
        mapped, unmapped = map_aliases(header, STRESS_ALIASES)
        if not mapped:  # unknown header names: use the positions of the reference layout
            mapped = {positional[i]: header[i] for i in range(min(2, len(header)))}
            unmapped = header[2:]
            report.settings.append(f"{f.name}: header not recognised, columns read by position "
                                   f"({', '.join(positional)})")
        if len(p.frame) == 0:
            raise DataFormatError(f"{f.path}, line 2: no data rows")
        if nrow is None:
            nrow = len(p.frame)
        elif len(p.frame) != nrow:
            raise DataFormatError(f"{f.path}, line {min(nrow, len(p.frame)) + 2}: {len(p.frame)} rows but "
                                  f"{sh.name} has {nrow}; the two stress histories must cover the same records")
        for canon, h in mapped.items():
            v = p.frame[h].to_numpy(np.float64)
            if canon in stress_cols:
                v = v * scale
            if canon in cols and canon != "step" and canon != "time":
                if not np.allclose(cols[canon], v, rtol=1e-6, atol=0):
                    report.warn(f"{f.name}: column {h!r} differs from the same quantity in {sh.name}; "
                                f"the first is kept")
                continue
            cols.setdefault(canon, v)
        for h in unmapped:
            report.ignored.append((f.name, f"column {h!r} (not a loading quantity)"))
        report.mapped.append((f.name, "loading.parquet", ", ".join(sorted(mapped))))
        srcs.append(f)
    assert nrow is not None
    filled = []
    if "step" in cols:
        step = cols["step"]
        if not np.array_equal(step, np.round(step)):
            raise DataFormatError(f"{srcs[0].path}: the step column holds non-integers")
        step = np.round(step).astype(np.int64)
        time_ = cols.get("time", step * cfg.dt)
    elif "time" in cols:
        time_ = cols["time"]
        step = np.round(time_ / cfg.dt).astype(np.int64)
    else:
        iv = interval or DEFAULT_CONTACT_INTERVAL
        step = cfg.start_step + iv * np.arange(nrow, dtype=np.int64)
        time_ = step * cfg.dt
        filled.append(f"loading.step = start_step + {iv} × row (no step or time column)")
    diff = cols.get("differential_stress")
    conf = cols.get("confining_stress")
    axial = cols.get("axial_stress")
    if conf is None:
        conf = np.full(nrow, cfg.confining_stress)
        filled.append(f"loading.confining_stress = {cfg.confining_stress:g} Pa (config)")
    if diff is None and axial is not None:
        diff = axial - conf
    if diff is None:
        raise DataFormatError(f"{srcs[0].path}, line 1: no stress column (expected a column named e.g. 'stress' "
                              f"or 'differential_stress')")
    if axial is None:
        axial = diff + conf
        filled.append("loading.axial_stress = differential_stress + confining_stress")
    strain = cols.get("axial_strain")
    if strain is None:
        strain = np.zeros(nrow)
        filled.append("loading.axial_strain = 0 (no S<run>-ss.csv)")
    plat = cols.get("platen_displacement")
    if plat is None:
        plat = strain * cfg.sample_height
        filled.append(f"loading.platen_displacement = axial_strain × sample height {cfg.sample_height:g} m")
    out = {"step": step, "time": np.asarray(time_, dtype=np.float64), "axial_stress": axial,
           "confining_stress": conf, "differential_stress": diff, "axial_strain": strain}
    for c in ("volumetric_strain", "fault_slip", "kinetic_energy"):
        if c in cols:
            out[c] = cols[c]
        else:
            out[c] = np.zeros(nrow)
            filled.append(f"loading.{c} = 0 (not in the PFC stress histories)")
    out["platen_displacement"] = plat
    report.filled.extend(filled)
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------
# Generic ball / contact tables
# --------------------------------------------------------------------------------------


def _read_generic(f: SourceFile, report: ImportReport) -> tuple[pd.DataFrame, str]:
    balls = f.layout == "balls"
    aliases = BALL_ALIASES if balls else CONTACT_ALIASES
    what = "a ball table with a header row (id x y z radius ...)" if balls else \
        "a contact table with a header row (contact_type,pos_x,pos_y,pos_z,n_x,n_y,n_z,fn,ft ...)"
    # which header names are strings: the contact type, and anything not in the alias table
    data_head = _first_line(f.path)
    comma = "," in data_head
    header = [h.strip().strip('"').strip("'") for h in (data_head.split(",") if comma else data_head.split())]
    mapped, unmapped = map_aliases(header, aliases)
    string_cols = set(unmapped) | {mapped[c] for c in _STRING_CONTACT if c in mapped}
    p = parse_header_table(f.path, what, string_columns=string_cols)
    required = ["x", "y", "z", "radius"] if balls else ["x", "y", "z"]
    if balls and "radius" not in mapped and "diameter" in mapped:
        required = ["x", "y", "z", "diameter"]
    for r in required:
        if r not in mapped:
            raise DataFormatError(f"{f.path}, line 1: missing column {r!r} (accepted names: "
                                  f"{', '.join(aliases[r][:6])}, ...)")
    if not balls and "fn" not in mapped and "fs" not in mapped and "fsx" not in mapped:
        raise DataFormatError(f"{f.path}, line 1: missing a force column (fn, ft, force_normal, ...)")
    out = {}
    for canon, h in mapped.items():
        col = p.frame[h]
        if canon in _STRING_CONTACT:
            out[canon] = col.astype(str).to_numpy(dtype=object)
        elif canon in ("id", "end1", "end2"):
            v = col.to_numpy(np.float64)
            if not np.array_equal(v, np.round(v)):
                row = int(np.flatnonzero(v != np.round(v))[0])
                raise p.error(row, f"column {h!r} must hold integer ids")
            out[canon] = np.round(v).astype(np.int64)
        else:
            out[canon] = col.to_numpy(np.float64)
    if balls and "radius" not in out:
        out["radius"] = out.pop("diameter") / 2.0
    if not balls and "fs" not in out and {"fsx", "fsy", "fsz"} <= set(out):
        out["fs"] = np.sqrt(out["fsx"] ** 2 + out["fsy"] ** 2 + out["fsz"] ** 2)
    df = pd.DataFrame(out)
    stem = re.sub(r"[^A-Za-z0-9_\-]+", "_", f.path.stem)
    target = f"pfc/{stem}.parquet"
    report.mapped.append((f.name, target, f"{len(df)} {'balls' if balls else 'contacts'}; columns "
                                          + ", ".join(f"{h}→{c}" if _norm_name(h) != c else c for c, h in mapped.items())))
    for h in unmapped:
        report.ignored.append((f.name, f"column {h!r} (not in the alias table)"))
    return df, target


def _first_line(path: Path) -> str:
    with open(path, "rb") as fh:
        for raw in fh:
            s = raw.decode("utf-8-sig", errors="replace").strip()
            if s:
                return s
    raise DataFormatError(f"{path}, line 1: empty file (expected a table with a header row)")


# --------------------------------------------------------------------------------------
# Writing the run directory
# --------------------------------------------------------------------------------------


def _check_target(out: Path, force: bool) -> None:
    """``out`` must be missing, empty, or (with ``force``) a directory labquake wrote.

    ``--force`` replaces only a directory that holds the labquake marker file
    (:data:`labquake.io.rundir.MARKER`), never any other non-empty directory.
    """
    if out.exists():
        if not out.is_dir():
            raise OutputError(f"{out}: exists and is not a directory")
        if any(out.iterdir()):
            if not force:
                raise OutputError(f"{out}: already exists and is not empty; choose another --out (or pass --force to "
                                  f"replace it)")
            if not has_marker(out):
                raise OutputError(f"{out}: not a directory labquake wrote (no {MARKER} marker file), so --force does "
                                  "not replace it; choose another --out or remove it yourself")


def _install(tmp: Path, out: Path, force: bool) -> None:
    """Move the finished ``tmp`` directory to ``out`` (replacing an empty or, with
    ``force``, a labquake-marked directory)."""
    backup = None
    if out.exists():
        if any(out.iterdir()):
            _check_target(out, force)
            backup = out.with_name(f".{out.name}.replaced-{os.getpid()}")
            os.replace(out, backup)
        else:
            out.rmdir()
    try:
        os.replace(tmp, out)
    except OSError as exc:
        if backup is not None:
            os.replace(backup, out)
        raise OutputError(f"cannot create {out}: {exc.strerror or exc}") from exc
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def build_and_install(out: Path, fill, force: bool, kind: str = "run") -> None:
    """All or nothing: ``fill(tmp_dir)`` in a hidden directory beside ``out``, then move it
    into place; on any error nothing is left behind."""
    tmp = build_in_temp(out, fill)
    try:
        if not has_marker(tmp):
            write_marker(tmp, kind)
        _install(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_in_temp(out: Path, fill) -> Path:
    """Run ``fill(tmp_dir)`` in a new hidden temporary directory beside ``out`` and return
    that directory; on any error remove it and re-raise."""
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    try:
        fill(tmp)
        return tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(run: PfcRun, out: str | os.PathLike, *, force: bool = False) -> RunDirectory:
    """Write a :class:`PfcRun` as a complete run directory at ``out`` (all or nothing)."""
    out = Path(out)
    _check_target(out, force)
    t0 = time.perf_counter()
    run.report.out = str(out)

    def fill(tmp: Path) -> None:
        rd = RunDirectory(tmp)
        meta = dict(run.meta)
        meta["pfc_import"] = run.report.to_dict()
        rd.start(run.config, meta)
        for name, df in run.tables.items():
            rd.write_table(name, df)
        for rel, df in run.extras.items():
            atomic_write_parquet(tmp / rel, df)
        rd.complete(wall_time_s=run.report.wall_time_s + (time.perf_counter() - t0))

    build_and_install(out, fill, force)
    return RunDirectory(out)


def import_pfc(src_dir: str | os.PathLike, out: str | os.PathLike,
               config: PfcImportConfig | str | os.PathLike | None = None, *, run_id: int | None = None,
               dt: float | None = None, contact_interval: int | None = None,
               force: bool = False) -> ImportReport:
    """Import the PFC3D exports in ``src_dir`` into the run directory ``out``.

    Everything is read and validated first; the run directory is then built beside
    ``out`` and renamed into place, so an error leaves no partial directory behind.
    Returns the :class:`ImportReport` (also stored in ``meta.json`` under ``pfc_import``).
    """
    out = Path(out)
    _check_target(out, force)
    run = read_pfc(src_dir, config, run_id=run_id, dt=dt, contact_interval=contact_interval)
    write_run(run, out, force=force)
    return run.report


def export_pfc(run_dir, out_dir, **kw):
    """Export a run directory in the PFC3D layouts (see :mod:`labquake.io.pfc3d_export`)."""
    from labquake.io.pfc3d_export import export_pfc as _export

    return _export(run_dir, out_dir, **kw)


def crack_type_name(kind: str, mode: str) -> str:
    """The reference's crack type for a labquake (kind, mode)."""
    return CRACK_TYPE_NAMES[(kind, mode)]


def _is_binary(path: Path) -> bool:
    from labquake.io.pfc3d_fish import is_fish_binary

    return is_fish_binary(path)
