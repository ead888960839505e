"""Checkpoints without pickles: numpy arrays in an ``.npz``, everything else in JSON.

A checkpoint is a tree of plain data: dicts with string keys, lists, numpy arrays,
numpy scalars, and JSON scalars (``bool``, ``int``, ``float`` including ``inf``/``nan``,
``str``, ``None``). :func:`save_checkpoint` writes, in a checkpoint directory,

``state-<step>.npz``
    every array of the tree (``np.savez``, never object arrays);
``state.json``
    ``{"format": "labquake-checkpoint", "version": 1, "step": ..., "arrays": <npz name>,
    "sha256": <digest of the npz>, "tree": ...}`` where an array in the tree is replaced by
    ``{"__ndarray__": <name in the npz>}`` and a numpy scalar by
    ``{"__npscalar__": <dtype>, "value": ...}`` (so it comes back with its dtype).

The ``.npz`` is written first and the JSON last, both atomically, and the previous
``.npz`` is removed only afterwards: a run killed at any moment leaves a JSON that names
a complete ``.npz``. :func:`load_checkpoint` reads with ``allow_pickle=False``, checks the
format, the version and the digest, and turns every failure into a one-line
:class:`labquake.errors.RunStateError`. Nothing in a checkpoint is ever executed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from labquake.errors import RunStateError
from labquake.io.rundir import atomic_write_bytes, atomic_write_text

__all__ = ["FORMAT", "VERSION", "META_FILE", "LEGACY_FILE", "save_checkpoint", "load_checkpoint", "has_checkpoint"]

FORMAT = "labquake-checkpoint"
#: bump when the layout of the tree changes incompatibly
VERSION = 1
META_FILE = "state.json"
#: the pickle checkpoints of labquake <= 0.1 (never read)
LEGACY_FILE = "state.pkl"

_ARR = "__ndarray__"
_NPS = "__npscalar__"


def _encode(obj: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError(f"checkpoint: {where} is an object array; store plain numeric or string arrays")
        name = f"a{len(arrays)}"
        arrays[name] = obj
        return {_ARR: name}
    if isinstance(obj, np.generic):
        return {_NPS: obj.dtype.str, "value": obj.item()}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"checkpoint: {where} has a non-string key {k!r}")
            if k in (_ARR, _NPS):
                raise TypeError(f"checkpoint: {where} uses the reserved key {k!r}")
            out[k] = _encode(v, arrays, f"{where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(f"checkpoint: {where} has a {type(obj).__name__}; give the object to_state()/from_state()")


def _decode(obj: Any, arrays: Any, used: set[str]) -> Any:
    if isinstance(obj, dict):
        if _ARR in obj:
            name = obj[_ARR]
            if not isinstance(name, str) or name not in arrays.files:
                raise KeyError(f"array {name!r} is not in the npz")
            used.add(name)
            return arrays[name]
        if _NPS in obj:
            dt = np.dtype(obj[_NPS])
            if dt.hasobject:
                raise ValueError("object scalar")
            return np.array(obj["value"], dtype=dt)[()]
        return {k: _decode(v, arrays, used) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays, used) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"unexpected {type(obj).__name__}")


def has_checkpoint(directory: str | os.PathLike) -> bool:
    """True if ``directory`` holds a checkpoint (of this format or a legacy pickle)."""
    d = Path(directory)
    return (d / META_FILE).exists() or (d / LEGACY_FILE).exists()


def save_checkpoint(directory: str | os.PathLike, tree: dict[str, Any], step: int) -> Path:
    """Write ``tree`` as a checkpoint into ``directory`` (see the module docstring).

    Parameters
    ----------
    directory
        The checkpoint folder (created if missing).
    tree
        Nested dicts/lists of numpy arrays, numpy scalars and JSON scalars.
    step
        The engine step the state belongs to (names the ``.npz``).

    Returns
    -------
    Path of ``state.json``.

    Raises
    ------
    TypeError
        If the tree holds anything else (a programming error, not a user's).
    """
    d = Path(directory)
    arrays: dict[str, np.ndarray] = {}
    encoded = _encode(tree, arrays, "state")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    npz_name = f"state-{int(step):012d}.npz"
    meta = {"format": FORMAT, "version": VERSION, "step": int(step), "arrays": npz_name,
            "sha256": hashlib.sha256(data).hexdigest(), "tree": encoded}
    text = json.dumps(meta, allow_nan=True)
    atomic_write_bytes(d / npz_name, data)
    out = atomic_write_text(d / META_FILE, text)
    for old in d.glob("state-*.npz"):
        if old.name != npz_name:
            old.unlink(missing_ok=True)
    return out


def load_checkpoint(directory: str | os.PathLike) -> dict[str, Any]:
    """Read the checkpoint tree written by :func:`save_checkpoint`.

    Raises
    ------
    RunStateError
        One line, for every reason a checkpoint cannot be read: a legacy pickle checkpoint
        (never unpickled), missing or damaged files, another format or version, a digest
        that does not match, object arrays.
    """
    d = Path(directory)
    hint = "rerun without --resume into a new --out"
    meta_path = d / META_FILE
    if not meta_path.exists():
        if (d / LEGACY_FILE).exists():
            raise RunStateError(f"{d}: holds an old pickle checkpoint ({LEGACY_FILE}), which labquake no longer reads "
                                f"because loading it could run code; {hint}")
        raise RunStateError(f"{d}: no checkpoint ({META_FILE} missing); {hint}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError("not a labquake checkpoint")
        if meta.get("version") != VERSION:
            raise RunStateError(f"{meta_path}: checkpoint format version {meta.get('version')!r}, this labquake reads "
                                f"version {VERSION}; {hint}")
        name = meta["arrays"]
        if not isinstance(name, str) or Path(name).name != name or not name.endswith(".npz"):
            raise ValueError("bad array file name")
        data = (d / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise ValueError("the array file does not match its digest")
        used: set[str] = set()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            tree = _decode(meta["tree"], z, used)  # z[name] reads a fresh array
        if not isinstance(tree, dict):
            raise ValueError("the tree is not a table")
        return tree
    except RunStateError:
        raise
    except Exception as exc:  # noqa: BLE001 - every damage is one user-facing line
        raise RunStateError(f"{d}: unreadable checkpoint ({type(exc).__name__}: {_short(exc)}); {hint}") from None


def _short(exc: BaseException, n: int = 120) -> str:
    s = " ".join(str(exc).split())
    return s if len(s) <= n else s[: n - 1] + "…"


def checkpoint_step(directory: str | os.PathLike) -> int | None:
    """The step of the checkpoint in ``directory``, or None if there is none or it is unreadable."""
    try:
        v = json.loads((Path(directory) / META_FILE).read_text(encoding="utf-8")).get("step")
        return int(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else None
    except Exception:  # noqa: BLE001
        return None
