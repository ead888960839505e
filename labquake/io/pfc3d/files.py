"""Readers of single PFC3D files: cracks, events, AE records and generic ball / contact tables.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from labquake.errors import DataFormatError
from labquake.io.pfc3d.config import PfcImportConfig
from labquake.io.pfc3d.diagnostics import ImportReport, PfcImportWarning
from labquake.io.pfc3d.scan import (
    _STRING_CONTACT,
    BALL_ALIASES,
    CONTACT_ALIASES,
    SourceFile,
    _norm_name,
    map_aliases,
)
from labquake.io.pfc3d.text import LAYOUTS, Parsed, parse_header_table, parse_layout

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
