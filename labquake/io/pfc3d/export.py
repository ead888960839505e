"""Write a labquake run directory in the PFC3D layouts that :mod:`labquake.io.pfc3d` reads.

``export_pfc(run_dir, out_dir)`` writes, for run number ``run_id`` (default 1):

* ``crk<run>-1.txt``: ``step x y z type (nx , ny , nz )`` with the reference's type names
  (fjshear, fjten, sj_Shear, sj_Tension);
* ``ms<run>-1.txt``: ``id step_start step_end x y z radius mag M11 M12 M22 M31 M32 M33 iso
  dev n_ae`` (``mag`` = Mw);
* per trial ``t``: ``cn``/``cs<run>-<t>.txt`` (``step f_1 … f_n``), ``bdx…bvz`` and
  ``bdx_oe…bvz_oe`` (ball displacements / velocities), ``c_model``, ``b_coord`` and
  ``global_step<run>-<t>.txt``;
* ``S<run>-sh.csv`` (step, differential stress, then the other loading columns by name) and
  ``S<run>-ss.csv`` (axial strain, differential stress, volumetric strain);
* ``pfc.toml``: dt, sampling interval, fault geometry and strength, and the names of the
  extra columns, so that ``labquake import-pfc OUT_DIR`` reads everything back.

Numbers are written with the shortest text that parses back to the same float64, so
export → import is exact. Unless ``plain=True``, rows carry labquake's extra columns
after the reference columns (crack size and ball ids, the events' on_fault flag, contact
ids) and ``cb<run>-<t>.txt`` holds the contacts' broken flags; ``plain=True`` writes the
reference columns only.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from labquake.errors import RunStateError
from labquake.io.pfc3d.config import (
    CRACK_TYPE_NAMES,
    FaultSettings,
    PfcImportConfig,
    config_to_toml_dict,
)
from labquake.io.pfc3d.install import _check_target, build_and_install
from labquake.io.rundir import SCHEMAS, RunDirectory, dumps_toml

CRACK_EXTRAS = ("size", "particle_a", "particle_b", "crack_id")
EVENT_EXTRAS = ("on_fault",)
BCOORD_EXTRAS = ("contact_id", "particle_a", "particle_b")
SH_COLUMNS = ("step", "differential_stress", "axial_stress", "confining_stress", "platen_displacement",
              "fault_slip", "kinetic_energy", "time")
SS_COLUMNS = ("axial_strain", "differential_stress", "volumetric_strain")


@dataclass
class ExportReport:
    run_dir: str
    out: str
    run_id: int
    files: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0

    def lines(self) -> list[str]:
        out = [f"PFC3D export of {self.run_dir} into {self.out} (run {self.run_id})", "wrote:"]
        out += [f"  {f}  ({d})" for f, d in self.files]
        if self.notes:
            out.append("notes:")
            out += [f"  {n}" for n in self.notes]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


# --------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------


_DIGITS: int | None = None  # significant digits of exported floats (None: exact)


def round_significant(a, digits: int) -> np.ndarray:
    """Round to ``digits`` significant decimal digits (so that the shortest text is short)."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.floor(np.log10(np.abs(a)))
    e = np.where(np.isfinite(e), e, 0.0)
    p = (digits - 1 - e).astype(np.int64)
    s = 10.0 ** np.abs(p)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.where(p >= 0, np.round(a * s) / s, np.round(a / s) * s)
    return np.where(np.isfinite(out), out, a)


def _s(a, kind: str = "f"):
    """Shortest round-trip text of each value (pyarrow's double-conversion)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    a = np.asarray(a)
    if kind == "f" and _DIGITS is not None:
        a = round_significant(a, _DIGITS)
    if kind == "i":
        return pc.cast(pa.array(a.astype(np.int64)), pa.string())
    if kind == "b":
        return pc.cast(pa.array(a.astype(bool).astype(np.int64)), pa.string())
    return pc.cast(pa.array(a.astype(np.float64)), pa.string())


def _join(parts, sep: str = " "):
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(*parts, sep)


def _write_lines(path: Path, arr) -> None:
    lines = arr.to_pylist()
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")


def _write_rows(path: Path, parts: list, n_rows: int) -> None:
    """Join the column ``parts`` into lines and write them (an empty file for no rows)."""
    if n_rows:
        _write_lines(path, _join(parts))
    else:
        path.write_text("", encoding="utf-8")


def _write_matrix(path: Path, first: np.ndarray, mat: np.ndarray, first_kind: str = "i",
                  mat_kind: str = "f") -> None:
    """Rows ``first[i] mat[i, 0] … mat[i, n-1]``, single-space separated."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    cols = {"c0": pa.array(first.astype(np.int64) if first_kind == "i" else first.astype(np.float64))}
    for j in range(mat.shape[1]):
        col = mat[:, j]
        if mat_kind == "f" and _DIGITS is not None:
            col = round_significant(col, _DIGITS)
        cols[f"c{j + 1}"] = pa.array(col.astype(np.int64) if mat_kind == "i" else np.ascontiguousarray(col, np.float64))
    buf = io.BytesIO()
    pacsv.write_csv(pa.table(cols), buf, write_options=pacsv.WriteOptions(
        include_header=False, delimiter=" ", quoting_style="none"))
    path.write_bytes(buf.getvalue())


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if _DIGITS is not None:
        df = df.assign(**{c: round_significant(df[c], _DIGITS) for c in df.columns
                          if pd.api.types.is_float_dtype(df[c].dtype)})

    buf = io.BytesIO()
    buf.write((",".join(df.columns) + "\n").encode())
    pacsv.write_csv(pa.Table.from_pandas(df, preserve_index=False), buf,
                    write_options=pacsv.WriteOptions(include_header=False, delimiter=",", quoting_style="none"))
    path.write_bytes(buf.getvalue())


# --------------------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------------------


def write_crack_file(path: Path, cracks: pd.DataFrame, plain: bool = False) -> int:
    """Write the ``cracks`` table as a crack file; returns the number of rows."""
    bad = set(zip(cracks["kind"].astype(str), cracks["mode"].astype(str))) - set(CRACK_TYPE_NAMES)
    if bad:  # the schema forbids this; keep the message clear anyway
        raise RunStateError(f"{path}: cannot name crack kind/mode {sorted(bad)}")
    types = np.array([CRACK_TYPE_NAMES[(k, m)] for k, m in zip(cracks["kind"].astype(str), cracks["mode"].astype(str))],
                     dtype=object)
    import pyarrow as pa

    parts = [_s(cracks["step"], "i"), _s(cracks["x"]), _s(cracks["y"]), _s(cracks["z"]),
             pa.array(types.tolist(), pa.string()),
             _join([pa.scalar("("), _s(cracks["nx"])], ""), ",", _s(cracks["ny"]), ",", _s(cracks["nz"]), ")"]
    if not plain:
        parts += [_s(cracks["size"]), _s(cracks["particle_a"], "i"), _s(cracks["particle_b"], "i"),
                  _s(cracks["crack_id"], "i")]
        parts += [_s(cracks[c], k) for c, k in extra_columns(cracks, "cracks")]
    _write_rows(path, parts, len(cracks))
    return len(cracks)


def write_event_file(path: Path, events: pd.DataFrame, plain: bool = False) -> int:
    parts = [_s(events["event_id"], "i"), _s(events["step_start"], "i"), _s(events["step_end"], "i"),
             _s(events["x"]), _s(events["y"]), _s(events["z"]), _s(events["radius"]), _s(events["mw"]),
             _s(events["m11"]), _s(events["m12"]), _s(events["m22"]), _s(events["m13"]), _s(events["m23"]),
             _s(events["m33"]), _s(events["iso"]), _s(events["dev"]), _s(events["n_cracks"], "i")]
    if not plain:
        parts.append(_s(events["on_fault"], "b"))
        parts += [_s(events[c], k) for c, k in extra_columns(events, "events")]
    _write_rows(path, parts, len(events))
    return len(events)


def _contacts_wide(contacts: pd.DataFrame, monitored: pd.DataFrame, report: ExportReport):
    ids = monitored["contact_id"].to_numpy()
    steps = np.unique(contacts["step"].to_numpy())
    si = np.searchsorted(steps, contacts["step"].to_numpy())
    ci = pd.Index(ids).get_indexer(contacts["contact_id"].to_numpy())
    unknown = ci < 0
    if unknown.any():
        report.notes.append(f"{int(unknown.sum())} contact rows name contacts missing from monitored.parquet; "
                            f"not exported")
        si, ci = si[~unknown], ci[~unknown]
        contacts = contacts.loc[~unknown]
    shape = (len(steps), len(ids))
    present = np.zeros(shape, dtype=bool)
    present[si, ci] = True
    mats = {}
    for col in ("fn", "fs", *SCHEMAS_MOTION):
        m = np.zeros(shape)
        m[si, ci] = contacts[col].to_numpy(np.float64)
        mats[col] = m
    b = np.ones(shape, dtype=bool)
    b[si, ci] = contacts["broken"].to_numpy(bool)
    mats["broken"] = b
    if not present.all():
        report.notes.append(f"{int((~present).sum())} (step, contact) cells missing from contacts.parquet; "
                            f"written as zero forces, broken")
    time_ = None
    if "time" in contacts:
        t = np.zeros(len(steps))
        t[si] = contacts["time"].to_numpy(np.float64)
        time_ = t
    return steps, mats, time_


_FAULT_KEYS = {"angle_deg", "centre", "normal", "dip", "strike", "contact_area", "cohesion", "friction_angle_deg",
               "tensile_strength", "on_fault_distance"}
SCHEMAS_MOTION = tuple(f"{s}_{q}{a}" for s in "ab" for q in "uv" for a in "xyz")


def export_pfc(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *, run_id: int = 1, plain: bool = False,
               trial_size: int | None = None, digits: int | None = None, force: bool = False) -> ExportReport:
    """Export ``run_dir`` in the PFC3D layouts into ``out_dir`` (all or nothing).

    ``trial_size`` splits the monitored contacts into trials of at most that many contacts
    (the reference monitored 100 per trial); default: one trial. ``digits`` rounds floats
    to that many significant digits, as PFC's own text output does (default: exact, the
    shortest text that reads back to the same float64).
    """
    global _DIGITS
    if digits is not None and not (1 <= int(digits) <= 17):
        raise RunStateError(f"digits must be between 1 and 17, got {digits}")
    previous, _DIGITS = _DIGITS, (int(digits) if digits is not None else None)
    try:
        return _export(run_dir, out_dir, run_id=run_id, plain=plain, trial_size=trial_size, force=force)
    finally:
        _DIGITS = previous


def _export(run_dir, out_dir, *, run_id: int, plain: bool, trial_size: int | None, force: bool) -> ExportReport:

    t0 = time.perf_counter()
    rd = RunDirectory(run_dir)
    meta = rd.read_meta()
    out = Path(out_dir)
    _check_target(out, force)
    if isinstance(run_id, bool) or not isinstance(run_id, int) or run_id < 0:
        raise RunStateError(f"run id must be a non-negative integer, got {run_id!r}")
    if trial_size is not None and trial_size < 1:
        raise RunStateError(f"trial size must be at least 1, got {trial_size}")
    report = ExportReport(str(rd.path), str(out), run_id)
    if meta.get("status") != "complete":
        report.notes.append(f"the run's status is {meta.get('status')!r}, not complete")
    r = run_id
    tables = {name: rd.read_table(name) for name in ("cracks", "events", "contacts", "monitored", "loading")
              if rd.has_table(name)}
    fault = meta.get("fault", {}) or {}
    dt = float(meta.get("dt", 1e-7))
    if "dt" not in meta:
        report.notes.append("meta.json has no dt; 1e-7 s written to pfc.toml")

    def fill(tmp: Path) -> None:
        trials: list[int] = []
        if "cracks" in tables:
            c = tables["cracks"]
            n = write_crack_file(tmp / f"crk{r}-1.txt", c, plain)
            nf = int((c["kind"] == "fault").sum())
            report.files.append((f"crk{r}-1.txt", f"{n} cracks, {nf} on the fault"))
            _extra_note(report, "cracks", c, plain)
        if "events" in tables:
            e = tables["events"]
            n = write_event_file(tmp / f"ms{r}-1.txt", e, plain)
            report.files.append((f"ms{r}-1.txt", f"{n} events"))
            _extra_note(report, "events", e, plain)
        start_step, interval = 0, meta.get("contact_interval")
        if "contacts" in tables:
            contacts = tables["contacts"]
            monitored = tables.get("monitored")
            if monitored is None:
                ids = np.unique(contacts["contact_id"].to_numpy())
                monitored = pd.DataFrame({"contact_id": ids, "particle_a": -1, "particle_b": -1, "x": 0.0,
                                          "y": 0.0, "z": 0.0, "model": "smoothjoint"})
                report.notes.append("no monitored.parquet: c_model and b_coord written with defaults")
            steps, mats, _ = _contacts_wide(contacts, monitored, report)
            if len(steps):
                start_step = int(steps[0])
            n_all = len(monitored)
            size = trial_size or max(n_all, 1)
            for k, lo in enumerate(range(0, max(n_all, 1), size), start=1):
                hi = min(lo + size, n_all)
                sl = slice(lo, hi)
                mon = monitored.iloc[sl]
                trials.append(k)
                _write_trial(tmp, r, k, steps, {q: m[:, sl] for q, m in mats.items()}, mon, plain)
                report.files.append((f"cn/cs/bd*/bv*/c_model/b_coord/global_step{r}-{k}.txt"
                                     + ("" if plain else f", cb{r}-{k}.txt"),
                                     f"trial {k}: {len(steps)} steps × {hi - lo} contacts"))
        if "loading" in tables:
            ld = tables["loading"]
            sh = pd.DataFrame({c: ld[c] for c in SH_COLUMNS})
            ss = pd.DataFrame({c: ld[c] for c in SS_COLUMNS})
            _extra_note(report, "loading", ld)
            _write_csv(tmp / f"S{r}-sh.csv", sh)
            _write_csv(tmp / f"S{r}-ss.csv", ss)
            report.files.append((f"S{r}-sh.csv, S{r}-ss.csv", f"{len(ld)} loading records"))
        cfg = PfcImportConfig(
            run_id=r, dt=dt, contact_interval=int(interval) if interval else None, start_step=start_step,
            trials=tuple(trials) if trials else None,
            fault=FaultSettings(
                angle_deg=float(fault.get("angle_deg", 30.0)),
                centre=tuple(float(x) for x in fault.get("centre", (0.0, 0.0, 0.0))),
                contact_area=float(fault["contact_area"]) if "contact_area" in fault else None,
                cohesion=float(fault.get("cohesion", 55e6)),
                friction_angle_deg=float(fault.get("friction_angle_deg", 30.0)),
                tensile_strength=float(fault.get("tensile_strength", 55e6)),
                on_fault_distance=float(fault.get("on_fault_distance", 0.01))),
            **_sample_settings(meta, tables.get("loading")),
            rebase_displacement=False,
            fault_extra={k: float(v) for k, v in fault.items() if k not in _FAULT_KEYS
                         and isinstance(v, (int, float)) and not isinstance(v, bool)},
            columns={} if plain else {
                "crk": (*CRACK_EXTRAS[:1], *(c + ":int" for c in CRACK_EXTRAS[1:]),
                        *_extra_names(tables.get("cracks"), "cracks")),
                "ms": (*(c + ":bool" for c in EVENT_EXTRAS), *_extra_names(tables.get("events"), "events")),
                "b_coord": tuple(c + ":int" for c in BCOORD_EXTRAS)},
        )
        (tmp / "pfc.toml").write_text(
            "# labquake export: settings PFC does not write; `labquake import-pfc` reads this file\n"
            + dumps_toml(config_to_toml_dict(cfg)), encoding="utf-8")
        report.files.append(("pfc.toml", "dt, sampling, fault, column names"))

    build_and_install(out, fill, force, kind="pfc-export")
    report.wall_time_s = time.perf_counter() - t0
    return report


def _sample_settings(meta: dict, loading: pd.DataFrame | None) -> dict:
    out = {}
    s = meta.get("sample") or {}
    if isinstance(s, dict):
        if "height" in s:
            out["sample_height"] = float(s["height"])
        if "diameter" in s:
            out["sample_diameter"] = float(s["diameter"])
        if "confining_stress" in s:
            out["confining_stress"] = float(s["confining_stress"])
    if "confining_stress" not in out and loading is not None and len(loading):
        out["confining_stress"] = float(np.median(loading["confining_stress"]))
    return out


_TYPE_SUFFIX = {"i": ":int", "b": ":bool", "f": ""}


def extra_columns(df: pd.DataFrame, name: str) -> list[tuple[str, str]]:
    """Numeric and boolean columns of ``df`` beyond the schema: (column, kind i|f|b)."""
    known = {c.name for c in SCHEMAS[name]}
    out = []
    for c in df.columns:
        if c in known or not isinstance(c, str) or not c.replace("_", "").isalnum():
            continue
        dt = df[c].dtype
        if pd.api.types.is_bool_dtype(dt):
            out.append((c, "b"))
        elif pd.api.types.is_integer_dtype(dt):
            out.append((c, "i"))
        elif pd.api.types.is_float_dtype(dt) and np.isfinite(df[c].to_numpy(float)).all():
            out.append((c, "f"))
    return out


def _extra_names(df: pd.DataFrame | None, name: str) -> tuple[str, ...]:
    if df is None:
        return ()
    return tuple(c + _TYPE_SUFFIX[k] for c, k in extra_columns(df, name))


def _extra_note(report: ExportReport, name: str, df: pd.DataFrame, plain: bool = False) -> None:
    known = {c.name for c in SCHEMAS[name]}
    carried = set() if plain or name not in ("cracks", "events") else {c for c, _ in extra_columns(df, name)}
    extra = [c for c in df.columns if c not in known and c not in carried]
    if extra:
        report.notes.append(f"{name}: columns {', '.join(map(str, extra))} have no PFC layout and were not exported")


def _write_trial(tmp: Path, r: int, k: int, steps: np.ndarray, mats: dict, mon: pd.DataFrame, plain: bool) -> None:
    import pyarrow as pa

    _write_matrix(tmp / f"cn{r}-{k}.txt", steps, mats["fn"])
    _write_matrix(tmp / f"cs{r}-{k}.txt", steps, mats["fs"])
    if not plain:
        _write_matrix(tmp / f"cb{r}-{k}.txt", steps, mats["broken"].astype(np.int64), mat_kind="i")
    for side, suf in (("a", ""), ("b", "_oe")):
        for q, pq in (("u", "d"), ("v", "v")):
            for ax in "xyz":
                _write_matrix(tmp / f"b{pq}{ax}{suf}{r}-{k}.txt", steps, mats[f"{side}_{q}{ax}"])
    _write_lines(tmp / f"global_step{r}-{k}.txt", _s(steps, "i"))
    _write_lines(tmp / f"c_model{r}-{k}.txt", pa.array(mon["model"].astype(str).tolist(), pa.string()))
    xyz = [_s(mon["x"]), _s(mon["y"]), _s(mon["z"])]
    parts = xyz + xyz  # labquake records the contact point, not the ball centres
    if not plain:
        parts += [_s(mon["contact_id"], "i"), _s(mon["particle_a"], "i"), _s(mon["particle_b"], "i")]
    if len(mon):
        _write_lines(tmp / f"b_coord{r}-{k}.txt", _join(parts))
