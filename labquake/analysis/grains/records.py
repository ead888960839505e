"""From a run's long contacts table to force arrays, and to one record per (episode, contact).

:func:`contact_arrays` turns ``contacts.parquet`` into (n_contacts, n_samples) arrays;
:func:`segment_contacts` fits and classifies every foreshock episode of every contact
(:mod:`labquake.analysis.grains.fits`) into a table of segment records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from labquake.analysis.grains.fits import (
    _episode_indices,
    broken_codes,
    classify_shapes,
    two_piece_fit,
)
from labquake.errors import SchemaError


def _grid_layout(step: np.ndarray, cid: np.ndarray):
    """Detect a complete regular grid stored step-major (all contacts of a sample, then
    the next sample: how recorders append) or contact-major. Returns
    ``(layout, steps, ids)`` or ``None`` (then the general path sorts)."""
    n = len(step)
    if n == 0:
        return None
    for layout, key, other in (("step", step, cid), ("contact", cid, step)):
        k = int(np.argmax(key != key[0])) or n  # length of the first run of equal keys
        if n % k:
            continue
        K = key.reshape(-1, k)
        O = other.reshape(-1, k)
        if not ((K == K[:, :1]).all() and (O == O[:1]).all()):
            continue
        inner, outer = O[0], K[:, 0]
        if len(np.unique(outer)) != len(outer) or len(np.unique(inner)) != len(inner):
            continue
        if layout == "step":
            return layout, outer, inner
        return layout, inner, outer
    return None


def contact_arrays(contacts, columns: Sequence[str] = ("fn", "fs")) -> dict[str, Any]:
    """Long contacts table → ``steps`` (n_s,), ``contact_id`` (n_c,), one (n_c, n_s) array
    per column and ``broken`` (n_c, n_s), sorted by step and contact id.

    ``contacts`` is a DataFrame or a mapping of column arrays. A complete grid written
    step-major or contact-major is reshaped without sorting; otherwise rows are placed by
    (contact, step), and missing samples are filled from the nearest earlier (else
    later) sample of the same contact.
    """
    need = ["step", "contact_id", "broken", *columns]
    cols = contacts.columns if isinstance(contacts, pd.DataFrame) else list(contacts)
    for col in need:
        if col not in cols:
            raise SchemaError(f"contacts table: missing column {col!r}")

    def get(col, dtype):
        v = contacts[col]
        return v.to_numpy(dtype=dtype) if isinstance(v, pd.Series) else np.asarray(v, dtype=dtype)

    step = get("step", np.int64)
    cid = get("contact_id", np.int64)
    grid = _grid_layout(step, cid)
    if grid is not None:
        layout, steps, ids = grid
        n_c, n_s = len(ids), len(steps)
        s_ord = np.argsort(steps, kind="stable")
        c_ord = np.argsort(ids, kind="stable")
        s_sorted = bool(np.all(s_ord == np.arange(n_s)))
        c_sorted = bool(np.all(c_ord == np.arange(n_c)))
        out: dict[str, Any] = {"steps": steps[s_ord], "contact_id": ids[c_ord]}
        for col in (*columns, "broken"):
            v = get(col, bool if col == "broken" else np.float64)
            arr = v.reshape(n_s, n_c).T if layout == "step" else v.reshape(n_c, n_s)
            if not c_sorted:
                arr = arr[c_ord]
            if not s_sorted:
                arr = arr[:, s_ord]
            out[col] = np.ascontiguousarray(arr)
        return out

    steps, si = np.unique(step, return_inverse=True)
    ids, ci = np.unique(cid, return_inverse=True)
    n_c, n_s = len(ids), len(steps)
    out = {"steps": steps, "contact_id": ids}
    flat = ci * n_s + si  # duplicate (contact, step) rows: the last one wins
    filled = np.zeros(n_c * n_s, dtype=bool)
    filled[flat] = True
    for col in (*columns, "broken"):
        v = get(col, bool if col == "broken" else np.float64)
        arr = np.zeros(n_c * n_s, dtype=v.dtype) if col == "broken" else np.full(n_c * n_s, np.nan)
        arr[flat] = v
        arr = arr.reshape(n_c, n_s)
        if not filled.all() and col != "broken":
            arr = pd.DataFrame(arr.T).ffill().bfill().to_numpy().T
        out[col] = np.ascontiguousarray(arr)
    if not filled.all():
        # a contact once broken stays broken
        out["broken"] = np.maximum.accumulate(out["broken"], axis=1)
    return out


def segment_contacts(steps, series: Mapping[str, np.ndarray], broken, episodes: pd.DataFrame,
                     contact_id=None, rtol: float = 1e-9, share_cut: bool = True,
                     initially_broken: bool = False) -> pd.DataFrame:
    """Fit and classify every (foreshock episode, contact) pair.

    ``series`` maps a component name (``fn``, ``fs``, or any other) to an
    (n_contacts, n_samples) array. Only foreshock episodes are fitted: rows with
    ``is_mainshock`` or a lever arm <= 0 (the mainshock and anything after it) are
    skipped. ``broken`` (n_contacts, n_samples) flags give codes 9 and 10 (see
    :func:`broken_codes`). Returns one row per (episode, contact) with ``episode_id``, ``peak``,
    ``lever_arm``, ``contact_id``, ``broken_code``, ``cut_step``, ``n_pre``, ``n_post``
    (samples in each fit), ``pre_steps``, ``post_steps`` (their spans in steps) and, per
    component ``X``: ``X_s1``, ``X_s2``, ``X_r2_pre``, ``X_r2_post``, ``X_pre_at_cut``,
    ``X_post_at_cut``, ``X_jump``, ``X_dslope`` (= s2 − s1), ``X_category``.
    """
    eps = episodes
    if "is_mainshock" in eps.columns:
        eps = eps[~eps["is_mainshock"].astype(bool)]
    if "lever_arm" in eps.columns:
        eps = eps[eps["lever_arm"].to_numpy() > 0]  # foreshocks only: episodes after the mainshock go
    eps = eps.reset_index(drop=True)
    steps = np.asarray(steps)
    br = np.asarray(broken, dtype=bool)
    n_c = br.shape[0]
    n_e = len(eps)
    ids = np.arange(n_c) if contact_id is None else np.asarray(contact_id)
    cols: dict[str, Any] = {
        "episode_id": np.repeat(eps["episode_id"].to_numpy(np.int64) if "episode_id" in eps else np.arange(n_e), n_c),
        "peak": np.repeat(eps["peak"].to_numpy(np.int64), n_c),
        "lever_arm": np.repeat(eps["lever_arm"].to_numpy(np.int64) if "lever_arm" in eps else np.zeros(n_e, np.int64), n_c),
        "contact_id": np.tile(ids, n_e),
    }
    codes = broken_codes(steps, br, eps, initially_broken) if n_e else np.zeros((0, n_c), np.int8)
    cols["broken_code"] = codes.ravel()
    for name, arr in series.items():
        arr = np.asarray(arr, dtype=np.float64)
        fit = two_piece_fit(steps, arr, eps, share_cut=share_cut)
        cols["cut_step"] = np.repeat(fit["cut_step"], n_c)
        cols["n_pre"] = np.repeat(fit["n_pre"], n_c)
        cols["n_post"] = np.repeat(fit["n_post"], n_c)
        scale = np.maximum(np.abs(fit["pre_at_cut"]), np.abs(fit["post_at_cut"]))
        scale = np.where(np.isfinite(scale), scale, 0.0)
        scale = np.maximum(scale, np.nanmax(np.abs(arr)) if arr.size else 0.0)
        if n_e:
            c_step = fit["cut_step"][:, None].astype(float)
            a_idx, _, b_idx = _episode_indices(steps, eps)
            dpre = np.maximum(c_step - steps[np.clip(a_idx, 0, len(steps) - 1)][:, None], 1.0)
            dpost = np.maximum(steps[np.clip(b_idx, 0, len(steps) - 1)][:, None] - c_step, 1.0)
        else:
            dpre = dpost = 1.0
        cols["pre_steps"] = np.repeat(np.asarray(dpre, dtype=float).reshape(-1), n_c) if n_e else np.zeros(0)
        cols["post_steps"] = np.repeat(np.asarray(dpost, dtype=float).reshape(-1), n_c) if n_e else np.zeros(0)
        cat = classify_shapes(fit["s1"], fit["jump"], fit["s2"], codes, scale=scale,
                              duration_pre=dpre, duration_post=dpost, rtol=rtol)
        for k in ("s1", "s2", "r2_pre", "r2_post", "pre_at_cut", "post_at_cut", "jump"):
            cols[f"{name}_{k}"] = fit[k].ravel()
        cols[f"{name}_dslope"] = (fit["s2"] - fit["s1"]).ravel()
        cols[f"{name}_category"] = cat.ravel()
    return pd.DataFrame(cols)
