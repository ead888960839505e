"""Snapshots of particles, contact forces and cracks as VTK files that ParaView opens.

A snapshot at step ``N`` of a run lives in ``<run>/snapshots/``::

    snapshot_<N:09d>.vtm             a vtkMultiBlockDataSet naming the blocks below
    snapshot_<N:09d>_particles.vtp   particle centres (vertices); point data ``radius``, ``particle_id``
    snapshot_<N:09d>_contacts.vtp    one line cell per contact between the two particle centres;
                                     cell data ``fn`` [N, compression positive], ``fs`` [N],
                                     ``ft`` (= sqrt(fn² + fs²)) [N], ``contact_kind`` (0 linear,
                                     1 rock bond, 2 smooth joint), ``bonded`` (0/1),
                                     ``contact_i``, ``contact_j``
    snapshot_<N:09d>_cracks.vtp      (only when cracks are given) crack centres (vertices);
                                     point data ``normal``, ``size``, ``step``, ``kind``
                                     (0 rock, 1 fault), ``mode`` (0 tension, 1 shear)

Every block carries the field data ``step``. Reading (:func:`read_snapshot`) is confined:
each block named by the ``.vtm`` must be a relative ``.vtp`` path that resolves inside the
run's ``snapshots/`` folder, and is read with VTK's XML PolyData reader only (never chosen
by file extension, so never a pickle or another format). Each ``.vtp`` is written to a temporary name
and renamed into place; the ``.vtm`` is written last, so a snapshot exists (is listed by
:func:`list_snapshots`) only when all of its blocks are complete. Open the ``.vtm`` in
ParaView (File → Open), or a series of them as a time series.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from labquake.errors import DataFormatError, OutputError, RunStateError, SchemaError
from labquake.io.rundir import RunDirectory, atomic_write, atomic_write_text

__all__ = ["write_snapshot", "read_snapshot", "list_snapshots", "snapshot_path"]

KIND_CODES = {"rock": 0, "fault": 1}
MODE_CODES = {"tension": 0, "shear": 1}
_SNAP_RE = re.compile(r"^snapshot_(\d{9,})\.vtm$")


def _run_path(run_dir: str | os.PathLike | RunDirectory) -> Path:
    return run_dir.path if isinstance(run_dir, RunDirectory) else Path(run_dir)


def snapshot_path(run_dir: str | os.PathLike | RunDirectory, step: int) -> Path:
    """Path of the ``.vtm`` file of the snapshot at ``step``."""
    return _run_path(run_dir) / "snapshots" / f"snapshot_{int(step):09d}.vtm"


def _block_path(vtm: Path, block: str) -> Path:
    return vtm.with_name(f"{vtm.stem}_{block}.vtp")


# --------------------------------------------------------------------------------------
# Building the blocks
# --------------------------------------------------------------------------------------


def _as(name: str, a: Any, dtype, shape_tail: tuple[int, ...] = ()) -> np.ndarray:
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        want = "(n" + "".join(f", {s}" for s in shape_tail) + ")"
        raise SchemaError(f"snapshot: {name} must have shape {want}, got {arr.shape}")
    return arr


def _vertices(pv, points: np.ndarray):
    """A PolyData of one vertex cell per point (also for zero points)."""
    n = len(points)
    poly = pv.PolyData()
    poly.points = np.asarray(points, dtype=np.float64).reshape(n, 3)
    if n:
        poly.verts = np.column_stack([np.ones(n, np.int64), np.arange(n, dtype=np.int64)]).ravel()
    return poly


def _particles_block(positions: np.ndarray, radii: np.ndarray):
    import pyvista as pv

    n = len(positions)
    poly = _vertices(pv, positions)
    poly.point_data["radius"] = radii.astype(np.float64, copy=False)
    poly.point_data["particle_id"] = np.arange(n, dtype=np.int64)
    return poly


def _contacts_block(positions, ci, cj, fn, fs, kind, bonded):
    import pyvista as pv

    m = len(ci)
    poly = pv.PolyData()
    poly.points = positions.astype(np.float64, copy=False).reshape(-1, 3)
    if m:
        poly.lines = np.column_stack([np.full(m, 2, np.int64), ci, cj]).ravel()
    poly.cell_data["fn"] = fn
    poly.cell_data["fs"] = fs
    poly.cell_data["ft"] = np.hypot(fn, fs)
    poly.cell_data["contact_kind"] = kind.astype(np.int32)
    poly.cell_data["bonded"] = bonded.astype(np.uint8)
    poly.cell_data["contact_i"] = ci
    poly.cell_data["contact_j"] = cj
    return poly


def _cracks_block(cracks: Any):
    import pyvista as pv

    df = pd.DataFrame(cracks) if not isinstance(cracks, pd.DataFrame) else cracks
    for c in ("x", "y", "z"):
        if c not in df.columns:
            raise SchemaError(f"snapshot: cracks need columns x, y, z (missing {c!r})")
    n = len(df)
    pts = df[["x", "y", "z"]].to_numpy(dtype=np.float64).reshape(n, 3)
    poly = _vertices(pv, pts)
    if all(c in df.columns for c in ("nx", "ny", "nz")):
        poly.point_data["normal"] = df[["nx", "ny", "nz"]].to_numpy(dtype=np.float64).reshape(n, 3)
    else:
        poly.point_data["normal"] = np.zeros((n, 3))
    poly.point_data["size"] = df["size"].to_numpy(dtype=np.float64) if "size" in df else np.zeros(n)
    poly.point_data["step"] = df["step"].to_numpy(dtype=np.int64) if "step" in df else np.zeros(n, np.int64)
    for col, codes in (("kind", KIND_CODES), ("mode", MODE_CODES)):
        if col in df:
            v = df[col]
            if pd.api.types.is_numeric_dtype(v.dtype):
                poly.point_data[col] = v.to_numpy(dtype=np.int32)
            else:
                poly.point_data[col] = v.astype(str).map(codes).fillna(-1).to_numpy(dtype=np.int32)
        else:
            poly.point_data[col] = np.full(n, -1, np.int32)
    return poly


def _write_vtp(path: Path, mesh) -> Path:
    from vtkmodules.vtkIOXML import vtkXMLPolyDataWriter

    def writer(tmp: Path) -> None:
        w = vtkXMLPolyDataWriter()
        w.SetFileName(str(tmp))
        w.SetInputData(mesh)
        w.SetDataModeToAppended()
        w.EncodeAppendedDataOff()  # raw binary
        w.SetCompressorTypeToZLib()
        if w.Write() != 1:
            raise OSError(f"VTK XML writer failed for {path.name}")

    return atomic_write(path, writer)


def _vtm_text(blocks: list[tuple[str, str]]) -> str:
    lines = [
        '<?xml version="1.0"?>',
        '<VTKFile type="vtkMultiBlockDataSet" version="1.0" byte_order="LittleEndian" header_type="UInt64">',
        "  <vtkMultiBlockDataSet>",
    ]
    for i, (name, fname) in enumerate(blocks):
        lines.append(f"    <DataSet index={quoteattr(str(i))} name={quoteattr(name)} file={quoteattr(fname)}/>")
    lines += ["  </vtkMultiBlockDataSet>", "</VTKFile>", ""]
    return "\n".join(lines)


def write_snapshot(
    run_dir: str | os.PathLike | RunDirectory,
    step: int,
    positions,
    radii,
    contact_i,
    contact_j,
    fn,
    fs,
    contact_kind,
    bonded,
    cracks=None,
) -> Path:
    """Write the snapshot at ``step`` into ``<run_dir>/snapshots/`` and return the ``.vtm`` path.

    Parameters
    ----------
    positions, radii
        Particle centres (n, 3) [m] and radii (n,) [m].
    contact_i, contact_j
        Particle indices (m,) of each contact's two particles.
    fn, fs
        Normal force (compression positive) and shear-force magnitude (m,) [N].
    contact_kind
        (m,) 0 linear, 1 rock bond, 2 smooth joint.
    bonded
        (m,) bool, whether the contact still carries an intact bond.
    cracks
        Optional cracks table (DataFrame or mapping of columns) with at least x, y, z;
        nx, ny, nz, size, step, kind, mode are kept when present.
    """
    step = int(step)
    if step < 0:
        raise SchemaError(f"snapshot: step must be >= 0, got {step}")
    positions = _as("positions", positions, np.float64, (3,))
    radii = _as("radii", radii, np.float64)
    ci = _as("contact_i", contact_i, np.int64)
    cj = _as("contact_j", contact_j, np.int64)
    fn = _as("fn", fn, np.float64)
    fs = _as("fs", fs, np.float64)
    kind = _as("contact_kind", contact_kind, np.int32)
    bonded = _as("bonded", bonded, bool)
    n, m = len(positions), len(ci)
    if len(radii) != n:
        raise SchemaError(f"snapshot: {len(radii)} radii for {n} particles")
    for name, a in (("contact_j", cj), ("fn", fn), ("fs", fs), ("contact_kind", kind), ("bonded", bonded)):
        if len(a) != m:
            raise SchemaError(f"snapshot: {name} has {len(a)} entries for {m} contacts")
    if m and (min(ci.min(), cj.min()) < 0 or max(ci.max(), cj.max()) >= n):
        raise SchemaError(f"snapshot: contact particle indices must lie in [0, {n})")

    vtm = snapshot_path(run_dir, step)
    try:
        vtm.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {vtm.parent}: {exc.strerror or exc}") from exc

    blocks = {"particles": _particles_block(positions, radii),
              "contacts": _contacts_block(positions, ci, cj, fn, fs, kind, bonded)}
    if cracks is not None:
        blocks["cracks"] = _cracks_block(cracks)
    names: list[tuple[str, str]] = []
    for name, mesh in blocks.items():
        mesh.field_data["step"] = np.array([step], dtype=np.int64)
        path = _block_path(vtm, name)
        _write_vtp(path, mesh)
        names.append((name, path.name))
    # a stale cracks block from an earlier write of the same step must not survive
    if cracks is None:
        _block_path(vtm, "cracks").unlink(missing_ok=True)
    atomic_write_text(vtm, _vtm_text(names))
    return vtm


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def list_snapshots(run_dir: str | os.PathLike | RunDirectory) -> list[int]:
    """Steps of the complete snapshots of a run, sorted (empty when there are none)."""
    d = _run_path(run_dir) / "snapshots"
    if not d.is_dir():
        return []
    steps = []
    for p in d.iterdir():
        mt = _SNAP_RE.match(p.name)
        if mt:
            steps.append(int(mt.group(1)))
    return sorted(steps)


def _read_vtp(path: Path):
    """Read one block with VTK's XML PolyData reader (never by extension, never a pickle)."""
    import pyvista as pv
    from vtkmodules.vtkIOXML import vtkXMLPolyDataReader

    if not path.is_file():
        raise DataFormatError(f"{path}: block file missing; rewrite the snapshot")
    reader = vtkXMLPolyDataReader()
    errors: list[str] = []
    # VTK reports problems through events (printed, not raised): collect them instead
    reader.AddObserver("ErrorEvent", lambda obj, ev: errors.append(ev))
    reader.AddObserver("WarningEvent", lambda obj, ev: errors.append(ev))
    try:
        if not reader.CanReadFile(str(path)):
            raise ValueError("not VTK XML PolyData")
        reader.SetFileName(str(path))
        reader.Update()
        out = reader.GetOutput()
        if errors or out is None:
            raise ValueError("VTK reported an error")
        return pv.wrap(out)
    except Exception as exc:  # VTK raises or reports assorted errors for corrupt files
        raise DataFormatError(f"{path}: not a readable VTK XML PolyData file ({type(exc).__name__})") from None


def _vtm_blocks(vtm: Path) -> dict[str, str]:
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(vtm).getroot()
    except ET.ParseError as exc:
        raise DataFormatError(f"{vtm}: malformed XML ({exc})") from None
    return {ds.get("name", ""): ds.get("file", "") for ds in root.iter("DataSet")}


def _block_file(vtm: Path, run_path: Path, name: str, file: str) -> Path:
    """The path of a block named in the ``.vtm``, confined to the run's ``snapshots/``.

    A block must be a relative path ending in ``.vtp`` that resolves (symbolic links
    followed) inside ``<run>/snapshots/``; anything else is a one-line error.
    """
    folder = (run_path / "snapshots").resolve()
    if not file or Path(file).is_absolute() or "\\" in file:
        raise DataFormatError(f"{vtm}: block {name!r} names {file!r}; a block must be a relative .vtp path inside "
                              "snapshots/; rewrite the snapshot")
    target = (vtm.parent / file).resolve()
    if target.suffix.lower() != ".vtp" or not target.is_relative_to(folder):
        raise DataFormatError(f"{vtm}: block {name!r} names {file!r}, which is not a .vtp file inside {folder}; "
                              "rewrite the snapshot")
    return target


def read_snapshot(run_dir: str | os.PathLike | RunDirectory, step: int) -> dict[str, Any]:
    """Read the snapshot at ``step`` back into arrays.

    Returns a dict with ``step``, ``positions`` (n, 3), ``radii``, ``contact_i``,
    ``contact_j``, ``fn``, ``fs``, ``contact_kind``, ``bonded`` (bool) and ``cracks``
    (a DataFrame with x, y, z, nx, ny, nz, size, step, kind, mode as strings, or ``None``).
    """
    run_path = _run_path(run_dir)
    if not run_path.is_dir():
        raise RunStateError(f"{run_path}: run directory not found")
    vtm = snapshot_path(run_path, step)
    if not vtm.exists():
        have = list_snapshots(run_path)
        if have:
            shown = ", ".join(str(s) for s in have[:8]) + (", ..." if len(have) > 8 else "")
            raise RunStateError(f"{run_path}: no snapshot at step {int(step)}; available steps: {shown}")
        raise RunStateError(f"{run_path}: no snapshot at step {int(step)}; the run has no snapshots")
    files = _vtm_blocks(vtm)
    for need in ("particles", "contacts"):
        if need not in files:
            raise DataFormatError(f"{vtm}: no {need!r} block")
    blocks = {k: _block_file(vtm, run_path, k, files[k]) for k in ("particles", "contacts", "cracks") if k in files}
    parts = _read_vtp(blocks["particles"])
    cons = _read_vtp(blocks["contacts"])
    out: dict[str, Any] = {
        "step": int(step),
        "positions": np.asarray(parts.points, dtype=np.float64).reshape(-1, 3),
        "radii": np.asarray(parts.point_data["radius"], dtype=np.float64),
        "contact_i": np.asarray(cons.cell_data["contact_i"], dtype=np.int64),
        "contact_j": np.asarray(cons.cell_data["contact_j"], dtype=np.int64),
        "fn": np.asarray(cons.cell_data["fn"], dtype=np.float64),
        "fs": np.asarray(cons.cell_data["fs"], dtype=np.float64),
        "contact_kind": np.asarray(cons.cell_data["contact_kind"], dtype=np.int32),
        "bonded": np.asarray(cons.cell_data["bonded"]).astype(bool),
        "cracks": None,
    }
    if "cracks" in files:
        cr = _read_vtp(blocks["cracks"])
        pts = np.asarray(cr.points, dtype=np.float64).reshape(-1, 3)
        nrm = np.asarray(cr.point_data["normal"], dtype=np.float64).reshape(-1, 3)
        inv_kind = {v: k for k, v in KIND_CODES.items()}
        inv_mode = {v: k for k, v in MODE_CODES.items()}
        out["cracks"] = pd.DataFrame({
            "x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2],
            "nx": nrm[:, 0], "ny": nrm[:, 1], "nz": nrm[:, 2],
            "size": np.asarray(cr.point_data["size"], dtype=np.float64),
            "step": np.asarray(cr.point_data["step"], dtype=np.int64),
            "kind": [inv_kind.get(int(k), "") for k in cr.point_data["kind"]],
            "mode": [inv_mode.get(int(k), "") for k in cr.point_data["mode"]],
        })
    return out
