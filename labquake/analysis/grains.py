"""Grain-scale analysis of monitored fault-contact forces (Ye et al. 2024, §7).

For every monitored fault contact and every foreshock episode of a run:

1. **Two-piece linear fit.** The force series is cut at the episode's KDF peak. A line is
   fitted to the samples of the episode up to and including the cut (slope ``s1``, R²) and
   another from the cut to the end of the episode (slope ``s2``, R²). The jump is
   ``J = post-fit value at the cut − pre-fit value at the cut``. Slopes are in N/step.
2. **Shape category** from the signs of ``s1``, ``J/s1`` and ``J/s2`` (equivalently of
   ``s1``, ``J`` and ``s2``):

   ===  ===  ====  ====  ======================
   cat  s1   J/s1  J/s2  shape
   ===  ===  ====  ====  ======================
   1    \\+   −     −     rise, drop, rise
   2    \\+   \\+    \\+    rise, jump up, rise
   3    \\+   \\+    −     rise, jump up, fall
   4    \\+   −     \\+    rise, drop, fall
   5    −    −     −     fall, jump up, fall
   6    −    \\+    \\+    fall, drop, fall
   7    −    \\+    −     fall, drop, rise
   8    −    −     \\+    fall, jump up, rise
   ===  ===  ====  ====  ======================

   plus 9 (the contact broke at or after the cut, within the episode), 10 (it was already
   broken before the cut) and 0 (undetermined: fewer than two samples on a side, or a
   slope or jump that is zero to rounding).
3. **Time windows before the mainshock.** Each record's time is its episode's lever arm
   (mainshock KDF peak − episode peak, steps). Windows ``[k·w, (k+1)·w)`` for
   ``k = 0 … span/w − 1`` (reference: w = 25,000, span = 600,000).
4. **Shear stress against shear strength** per window: ``τ = F_s/A`` and
   ``τ_s = c + tanφ·F_n/A`` from the pre-cut fits evaluated at the cut; their PDFs on 99
   bins over 0–300 MPa, and the overlap ``Σ min(pdf_τ, pdf_τs)·Δ``.
5. **"Acceleration"**: ``Δslope = s2 − s1`` of shear and of normal force; probability
   histograms on 49 bins over ±8e-5 N/step and ``Σ (p_shear − p_normal)·Δ`` per window
   (as in the reference code: probabilities are counts over *all* records of the window,
   so the sum equals Δ times the difference of the in-range fractions; the difference of
   the mean Δslope is reported beside it).
6. **Headline shares**: the share of records whose shear force rises before the cut while
   the shear strength (∝ normal force) does not, and the share whose shear force drops at
   the cut (unloading by the foreshock), per run and over the campaign.

The core functions take plain arrays and DataFrames; :func:`analyze_campaign_grains` reads
run directories and writes ``analysis/grains_*.parquet`` and ``figures/grains_*.png``.

Fits use per-segment sums of centred data computed for all contacts and all segments at
once (``np.add.reduceat``), so no Python loop runs over contacts or episodes and there is
no cancellation between distant samples (a global cumulative sum over 40,000 samples
loses the slope of short segments to rounding).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import InsufficientDataError, RunStateError, SchemaError

__all__ = [
    "REFERENCE_FAULT",
    "CATEGORY_SHAPES",
    "two_piece_fit",
    "broken_codes",
    "classify_shapes",
    "contact_arrays",
    "segment_contacts",
    "time_windows",
    "category_proportions",
    "histogram_pdf",
    "pdf_overlap",
    "stress_strength",
    "acceleration_difference",
    "headline_shares",
    "analyze_run_grains",
    "analyze_campaign_grains",
]

#: fault strength parameters used by the reference when a run's meta.json has none
REFERENCE_FAULT = {"contact_area": 2e-5, "cohesion": 55e6, "friction_angle_deg": 30.0}

CATEGORY_SHAPES = {
    1: "rise, drop, rise",
    2: "rise, jump up, rise",
    3: "rise, jump up, fall",
    4: "rise, drop, fall",
    5: "fall, jump up, fall",
    6: "fall, drop, fall",
    7: "fall, drop, rise",
    8: "fall, jump up, rise",
    9: "broke at or after the cut",
    10: "already broken",
    0: "undetermined",
}

# category from (s1 > 0, J > 0, s2 > 0) as index 4*s1p + 2*Jp + s2p
_CAT_TABLE = np.array([6, 7, 5, 8, 4, 1, 3, 2], dtype=np.int8)

STRESS_EDGES = np.linspace(0.0, 300e6, 100)  # 99 bins over 0-300 MPa
DSLOPE_EDGES = np.linspace(-8e-5, 8e-5, 50)  # 49 bins over +-8e-5 N/step


# --------------------------------------------------------------------------------------
# Two-piece fits
# --------------------------------------------------------------------------------------


def _episode_indices(steps: np.ndarray, episodes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample indices (a, c, b): first sample of each episode, the cut, the last sample."""
    for col in ("start", "end", "peak"):
        if col not in episodes.columns:
            raise SchemaError(f"episodes table: missing column {col!r}")
    start = episodes["start"].to_numpy(dtype=np.int64)
    end = episodes["end"].to_numpy(dtype=np.int64)
    peak = episodes["peak"].to_numpy(dtype=np.int64)
    a = np.searchsorted(steps, start, side="left")
    b = np.searchsorted(steps, end, side="left") - 1  # end is exclusive
    # the cut: the sample nearest to the KDF peak, kept inside the episode
    c = np.searchsorted(steps, peak, side="left")
    c = np.clip(c, 0, len(steps) - 1)
    prev = np.clip(c - 1, 0, len(steps) - 1)
    closer_prev = np.abs(steps[prev] - peak) < np.abs(steps[c] - peak)
    c = np.where(closer_prev, prev, c)
    c = np.clip(np.clip(c, a, np.maximum(a, b)), 0, max(len(steps) - 1, 0))
    return a, c, b


def two_piece_fit(steps, forces, episodes: pd.DataFrame, share_cut: bool = True) -> dict[str, np.ndarray]:
    """Fit lines before and after each episode's KDF peak, for all contacts at once.

    Parameters
    ----------
    steps
        (n_samples,) increasing sample steps.
    forces
        (n_contacts, n_samples) series (a force component, or any other quantity).
    episodes
        Table with ``start`` (inclusive), ``end`` (exclusive) and ``peak`` steps, one row
        per episode to fit.
    share_cut
        The cut sample (nearest the peak) belongs to both fits, as in the reference code;
        with ``False`` it belongs to the post-cut fit only.

    Returns
    -------
    dict of (n_episodes, n_contacts) arrays: ``s1``, ``s2`` (slopes per step), ``r2_pre``,
    ``r2_post``, ``pre_at_cut``, ``post_at_cut`` (the two fits evaluated at the cut step),
    ``jump`` (= post_at_cut − pre_at_cut), and (n_episodes,) ``cut_index``, ``cut_step``,
    ``n_pre``, ``n_post``. Segments with fewer than two samples give NaN.
    """
    steps = np.asarray(steps)
    y = np.asarray(forces, dtype=np.float64)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2 or y.shape[1] != len(steps):
        raise SchemaError(f"forces must have shape (n_contacts, {len(steps)}), got {y.shape}")
    if len(steps) > 1 and np.any(np.diff(steps) <= 0):
        raise SchemaError("sample steps must be strictly increasing")
    n_c, n_s = y.shape
    n_e = len(episodes)
    out: dict[str, np.ndarray] = {}
    nan = np.full((n_e, n_c), np.nan)
    if n_e == 0 or n_s == 0:
        for k in ("s1", "s2", "r2_pre", "r2_post", "pre_at_cut", "post_at_cut", "jump"):
            out[k] = nan.copy()
        for k in ("cut_index", "cut_step", "n_pre", "n_post"):
            out[k] = np.zeros(n_e, dtype=np.int64)
        return out
    a, c, b = _episode_indices(steps, episodes)
    valid = b >= a
    n_pre = np.where(valid, c - a + (1 if share_cut else 0), 0)
    n_post = np.where(valid, b - c + 1, 0)

    # Piecewise sums need disjoint, increasing index segments. Each episode contributes
    # [a, c) "left", [c] "cut" and (c, b] "right"; pre = left + cut, post = cut + right.
    # Episodes are sorted by start; overlapping episodes are fitted in a second pass.
    order = np.argsort(a, kind="stable")
    groups: list[np.ndarray] = []
    remaining = order[valid[order]]
    while len(remaining):
        keep, rest, last_b = [], [], -1
        for e in remaining:
            (keep if a[e] > last_b else rest).append(e)
            if a[e] > last_b:
                last_b = b[e]
        groups.append(np.asarray(keep, dtype=np.int64))
        remaining = np.asarray(rest, dtype=np.int64)

    res = {k: np.full((n_e, n_c), np.nan) for k in ("s1", "s2", "r2_pre", "r2_post", "pre_at_cut", "post_at_cut")}
    x_all = np.asarray(steps, dtype=np.float64)
    for grp in groups:
        ga, gc, gb = a[grp], c[grp], b[grp]
        # boundaries of the disjoint pieces, in index order, and which piece is which
        bounds = np.stack([ga, gc, gc + 1], axis=1).ravel()  # left starts, cut, right starts
        # reference sample (the cut) and centre step of every sample in an episode
        ref = np.zeros(n_s, dtype=np.int64)
        inside = np.zeros(n_s, dtype=bool)
        for e_a, e_c, e_b in zip(ga, gc, gb):  # one slice assignment per episode (cheap)
            ref[e_a:e_b + 1] = e_c
            inside[e_a:e_b + 1] = True
        xr = x_all - x_all[ref]
        yr = y - y[:, ref]  # centred on the cut value: exact zeros for a constant series
        if not inside.all():
            xr[~inside] = 0.0
            yr[:, ~inside] = 0.0
        # reduceat needs strictly valid start indices < n_s; sums of empty pieces are fixed below
        idx = np.minimum(bounds, n_s - 1)
        ones = inside.astype(np.float64)

        def seg(arr):
            return np.add.reduceat(arr, idx, axis=-1)

        S1 = seg(ones)
        Sx = seg(xr)
        Sxx = seg(xr * xr)
        Sy = seg(yr)
        tmp = np.multiply(yr, xr[None, :])
        Sxy = seg(tmp)
        np.multiply(yr, yr, out=tmp)
        Syy = seg(tmp)
        del tmp, yr
        # reduceat quirks: a piece [i, j) with j <= i returns arr[i]; a piece running to
        # the next boundary beyond the episode end includes gap samples. Rebuild the three
        # pieces of each episode explicitly from the piece sums.
        k = len(grp)
        # piece ends: left [a, c), cut [c, c+1), right [c+1, next bound)
        left_empty = gc == ga
        right_len = gb - gc  # samples in (c, b]
        # the right piece runs to the next episode's a (or n_s): it may include samples
        # outside episodes; those have ones = 0, xr = 0, yr = 0, so they add nothing.
        def pieces(S):
            S = S.reshape(S.shape[:-1] + (k, 3))
            left = np.where(left_empty, 0.0, S[..., 0])
            cut = S[..., 1]
            right = np.where((right_len == 0) | (gc + 1 >= n_s), 0.0, S[..., 2])
            return (left + cut if share_cut else left), cut + right
        n1, n2 = pieces(S1[None, :])
        px, qx = pieces(Sx[None, :])
        pxx, qxx = pieces(Sxx[None, :])
        py, qy = pieces(Sy)
        pxy, qxy = pieces(Sxy)
        pyy, qyy = pieces(Syy)
        yc = y[:, gc].T  # (k, n_c): the value subtracted, added back to the fits at the cut
        for (n, sx, sxx, sy, sxy, syy, sk, rk, vk) in (
            (n1, px, pxx, py, pxy, pyy, "s1", "r2_pre", "pre_at_cut"),
            (n2, qx, qxx, qy, qxy, qyy, "s2", "r2_post", "post_at_cut"),
        ):
            n = n[0][:, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                xm = sx[0][:, None] / n
                ym = sy.T / n
                cxx = sxx[0][:, None] - n * xm * xm
                cxy = sxy.T - n * xm * ym
                cyy = syy.T - n * ym * ym
                slope = np.where((n >= 2) & (cxx > 0), cxy / cxx, np.nan)
                at_cut = ym - slope * xm  # x is centred on the cut, so this is the fit at the cut
                ss_res = np.maximum(cyy - slope * cxy, 0.0)
                tiny = 1e-24 * np.maximum(1.0, (np.abs(ym) + np.abs(yc)) ** 2)
                r2 = np.where(cyy > tiny * n, 1.0 - ss_res / cyy, 1.0)
                r2 = np.where(np.isfinite(slope), np.clip(r2, 0.0, 1.0), np.nan)
            res[sk][grp] = slope
            res[rk][grp] = r2
            res[vk][grp] = at_cut + yc
    res["jump"] = res["post_at_cut"] - res["pre_at_cut"]
    res["cut_index"] = c.astype(np.int64)
    res["cut_step"] = np.asarray(steps)[c].astype(np.int64)
    res["n_pre"] = n_pre.astype(np.int64)
    res["n_post"] = n_post.astype(np.int64)
    return res


def broken_codes(steps, broken, episodes: pd.DataFrame, initially_broken: bool = False) -> np.ndarray:
    """(n_episodes, n_contacts) codes: 10 broken before the cut, 9 broken at or after the
    cut but before the episode ends, 0 intact through the episode.

    A contact counts as broken from the first sample at which its ``broken`` flag turns
    from False to True. One flagged from its very first sample never broke during the
    record (an unbonded contact: its force series is classified like any other) unless
    ``initially_broken`` is True, when it is broken (10) throughout.
    """
    steps = np.asarray(steps)
    br = np.asarray(broken, dtype=bool)
    if br.ndim == 1:
        br = br[None, :]
    n_c, n_s = br.shape
    a, c, b = _episode_indices(steps, episodes)
    if n_s and not initially_broken:
        # ignore the leading run of True; a later False -> True transition still counts
        lead = np.logical_and.accumulate(br, axis=1)
        br = br & ~lead
    any_b = br.any(axis=1)
    first = np.where(any_b, br.argmax(axis=1), n_s)  # first broken sample
    first = first[None, :]
    codes = np.zeros((len(episodes), n_c), dtype=np.int8)
    codes[first <= b[:, None]] = 9
    codes[first < c[:, None]] = 10
    return codes


def _signs(v: np.ndarray, scale: np.ndarray, rtol: float) -> np.ndarray:
    """-1, 0 or +1, zero where |v| <= rtol * scale (rounding noise) or v is NaN."""
    s = np.sign(v)
    s[~np.isfinite(v) | (np.abs(v) <= rtol * scale)] = 0
    return s


def classify_shapes(s1, jump, s2, broken=None, *, scale=None, duration_pre=None, duration_post=None,
                    rtol: float = 1e-9) -> np.ndarray:
    """Shape category 1–8 from the signs of s1, J and s2; 9/10 from ``broken`` codes; 0 when
    any sign is zero (to a relative tolerance ``rtol`` of ``scale``, the force level).

    ``duration_pre``/``duration_post`` (steps) turn slopes into force changes for the
    zero test; without them slopes are compared with ``rtol·scale`` directly.
    """
    s1 = np.asarray(s1, dtype=np.float64)
    J = np.asarray(jump, dtype=np.float64)
    s2 = np.asarray(s2, dtype=np.float64)
    sc = np.zeros_like(s1) if scale is None else np.broadcast_to(np.asarray(scale, dtype=np.float64), s1.shape)
    sc = np.maximum(sc, np.finfo(float).tiny)
    dpre = 1.0 if duration_pre is None else np.asarray(duration_pre, dtype=np.float64)
    dpost = 1.0 if duration_post is None else np.asarray(duration_post, dtype=np.float64)
    g1 = _signs(s1 * dpre, sc, rtol)
    gj = _signs(J, sc, rtol)
    g2 = _signs(s2 * dpost, sc, rtol)
    idx = (g1 > 0) * 4 + (gj > 0) * 2 + (g2 > 0)
    cat = _CAT_TABLE[idx.astype(np.int64)]
    cat = np.where((g1 == 0) | (gj == 0) | (g2 == 0), 0, cat).astype(np.int8)
    if broken is not None:
        bc = np.asarray(broken, dtype=np.int8)
        cat = np.where(bc > 0, bc, cat).astype(np.int8)
    return cat


# --------------------------------------------------------------------------------------
# From the run's long table to arrays, and per-run records
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Windows, proportions, PDFs
# --------------------------------------------------------------------------------------


def time_windows(window: int = 25_000, span: int = 600_000) -> np.ndarray:
    """Window edges in steps before the mainshock: 0, w, 2w, …, span."""
    if window <= 0 or span <= 0:
        raise SchemaError(f"window and span must be positive, got window={window}, span={span}")
    n = int(np.ceil(span / window))
    return np.arange(n + 1, dtype=np.int64) * int(window)


def _window_index(lever_arm: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Window index of each lever arm, -1 outside [edges[0], edges[-1])."""
    w = np.searchsorted(edges, lever_arm, side="right") - 1
    w[(lever_arm < edges[0]) | (lever_arm >= edges[-1])] = -1
    return w


def category_proportions(records: pd.DataFrame, window: int = 25_000, span: int = 600_000,
                         components: Sequence[str] = ("fn", "fs")) -> pd.DataFrame:
    """Share of each category (0–10) among the records of each window, per component.

    Columns: ``window_start``, ``window_end``, ``component``, ``category``, ``count``,
    ``n_records``, ``proportion`` (NaN for an empty window).
    """
    edges = time_windows(window, span)
    nw = len(edges) - 1
    widx = _window_index(records["lever_arm"].to_numpy(np.int64), edges) if len(records) else np.zeros(0, np.int64)
    rows = []
    cats = np.arange(11)
    for comp in components:
        cat = records[f"{comp}_category"].to_numpy(np.int64) if len(records) else np.zeros(0, np.int64)
        m = widx >= 0
        counts = np.zeros((nw, 11), dtype=np.int64)
        np.add.at(counts, (widx[m], cat[m]), 1)
        tot = counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            prop = counts / tot[:, None]
        rows.append(pd.DataFrame({
            "window_start": np.repeat(edges[:-1], 11),
            "window_end": np.repeat(edges[1:], 11),
            "component": comp,
            "category": np.tile(cats, nw),
            "count": counts.ravel(),
            "n_records": np.repeat(tot, 11),
            "proportion": prop.ravel(),
        }))
    return pd.concat(rows, ignore_index=True)


def histogram_pdf(values, edges, normalization: str = "pdf") -> np.ndarray:
    """Histogram of ``values`` on ``edges`` normalised by the number of finite values.

    ``pdf``: counts / (N·Δ) (integrates to the in-range fraction); ``probability``:
    counts / N. Empty input gives zeros.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    edges = np.asarray(edges, dtype=np.float64)
    counts, _ = np.histogram(v, bins=edges)
    if len(v) == 0:
        return np.zeros(len(edges) - 1)
    if normalization == "probability":
        return counts / len(v)
    if normalization == "pdf":
        return counts / (len(v) * np.diff(edges))
    raise ValueError(f"normalization must be 'pdf' or 'probability', got {normalization!r}")


def pdf_overlap(pdf_a, pdf_b, width) -> float:
    """Overlap area ``Σ min(pdf_a, pdf_b)·Δ`` of two PDFs on the same bins (1 when
    identical and fully in range, 0 when disjoint)."""
    a = np.asarray(pdf_a, dtype=np.float64)
    b = np.asarray(pdf_b, dtype=np.float64)
    if a.shape != b.shape:
        raise SchemaError(f"PDFs must be on the same bins, got {a.shape} and {b.shape}")
    w = np.broadcast_to(np.asarray(width, dtype=np.float64), a.shape)
    return float(np.sum(np.minimum(a, b) * w))


def _fault_params(area=None, cohesion=None, friction_angle_deg=None, fault: Mapping | None = None) -> dict[str, float]:
    fault = dict(fault or {})
    out = {}
    for key, val in (("contact_area", area), ("cohesion", cohesion), ("friction_angle_deg", friction_angle_deg)):
        v = val if val is not None else fault.get(key, REFERENCE_FAULT[key])
        if v is None:
            v = REFERENCE_FAULT[key]
        out[key] = float(v)
    if not out["contact_area"] > 0:
        raise SchemaError(f"contact_area must be positive, got {out['contact_area']}")
    return out


def shear_stress_strength(records: pd.DataFrame, area=None, cohesion=None, friction_angle_deg=None,
                          fault: Mapping | None = None) -> tuple[np.ndarray, np.ndarray]:
    """τ = F_s/A and τ_s = c + tanφ·F_n/A from the pre-cut fits at the cut [Pa].

    Parameters default to the record's own ``contact_area``/``cohesion``/
    ``friction_angle_deg`` columns when present (a campaign mixes runs), else to
    ``fault`` or the reference values.
    """
    p = _fault_params(area, cohesion, friction_angle_deg, fault)
    A = records["contact_area"].to_numpy(float) if area is None and "contact_area" in records else p["contact_area"]
    c = records["cohesion"].to_numpy(float) if cohesion is None and "cohesion" in records else p["cohesion"]
    phi = (records["friction_angle_deg"].to_numpy(float)
           if friction_angle_deg is None and "friction_angle_deg" in records else p["friction_angle_deg"])
    tau = records["fs_pre_at_cut"].to_numpy(float) / A
    tau_s = c + np.tan(np.deg2rad(phi)) * records["fn_pre_at_cut"].to_numpy(float) / A
    return tau, tau_s



def _intact_records(records: pd.DataFrame) -> pd.DataFrame:
    """The records whose normal and shear series were intact at the cut (categories < 9)."""
    intact = np.ones(len(records), dtype=bool)
    for comp in ("fn", "fs"):
        col = f"{comp}_category"
        if col in records:
            intact &= records[col].to_numpy() < 9
    return records[intact]

def stress_strength(records: pd.DataFrame, window: int = 25_000, span: int = 600_000, edges=None,
                    area=None, cohesion=None, friction_angle_deg=None,
                    fault: Mapping | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per window: PDFs of shear stress and shear strength and their overlap.

    Records of broken contacts (categories 9 and 10 of either component) are left out,
    as the reference drops zero forces. Returns ``(overlap, pdfs)``: ``overlap`` has
    ``window_start``, ``window_end``, ``n``, ``overlap``, ``tau_mean``, ``strength_mean``,
    ``share_above_strength`` (τ ≥ τ_s); ``pdfs`` has ``window_start``, ``bin_lo``,
    ``bin_hi``, ``pdf_stress``, ``pdf_strength`` [1/Pa].
    """
    edges = STRESS_EDGES if edges is None else np.asarray(edges, dtype=np.float64)
    wedges = time_windows(window, span)
    nw = len(wedges) - 1
    rec = _intact_records(records)
    tau, tau_s = shear_stress_strength(rec, area, cohesion, friction_angle_deg, fault) if len(rec) else (np.zeros(0), np.zeros(0))
    widx = _window_index(rec["lever_arm"].to_numpy(np.int64), wedges) if len(rec) else np.zeros(0, np.int64)
    ov_rows, pdf_rows = [], []
    width = np.diff(edges)
    for w in range(nw):
        m = (widx == w) & np.isfinite(tau) & np.isfinite(tau_s)
        pa = histogram_pdf(tau[m], edges)
        pb = histogram_pdf(tau_s[m], edges)
        n = int(m.sum())
        ov_rows.append({
            "window_start": int(wedges[w]), "window_end": int(wedges[w + 1]), "n": n,
            "overlap": pdf_overlap(pa, pb, width) if n else np.nan,
            "tau_mean": float(tau[m].mean()) if n else np.nan,
            "strength_mean": float(tau_s[m].mean()) if n else np.nan,
            "share_above_strength": float(np.mean(tau[m] >= tau_s[m])) if n else np.nan,
        })
        pdf_rows.append(pd.DataFrame({"window_start": int(wedges[w]), "bin_lo": edges[:-1], "bin_hi": edges[1:],
                                      "pdf_stress": pa, "pdf_strength": pb}))
    return pd.DataFrame(ov_rows), pd.concat(pdf_rows, ignore_index=True)


def acceleration_difference(records: pd.DataFrame, window: int = 25_000, span: int = 600_000,
                            edges=None) -> pd.DataFrame:
    """Per window: ``Σ (p_shear − p_normal)·Δ`` of the Δslope = s2 − s1 histograms.

    Probabilities are counts over all finite Δslope values of the window (the reference's
    ``histcounts(..., 'probability')``). Also ``mean_dslope_shear``/``_normal`` and their
    difference, and the medians. Broken records (9, 10) are left out.
    """
    edges = DSLOPE_EDGES if edges is None else np.asarray(edges, dtype=np.float64)
    wedges = time_windows(window, span)
    rec = _intact_records(records)
    widx = _window_index(rec["lever_arm"].to_numpy(np.int64), wedges) if len(rec) else np.zeros(0, np.int64)
    dn = rec["fn_dslope"].to_numpy(float) if len(rec) else np.zeros(0)
    ds = rec["fs_dslope"].to_numpy(float) if len(rec) else np.zeros(0)
    rows = []
    delta = float(edges[1] - edges[0])
    for w in range(len(wedges) - 1):
        m = widx == w
        a, b = ds[m][np.isfinite(ds[m])], dn[m][np.isfinite(dn[m])]
        n = int(min(len(a), len(b)))
        ps = histogram_pdf(a, edges, "probability")
        pn = histogram_pdf(b, edges, "probability")
        rows.append({
            "window_start": int(wedges[w]), "window_end": int(wedges[w + 1]), "n": n,
            "difference": float(np.sum((ps - pn) * delta)) if n else np.nan,
            "mean_dslope_shear": float(a.mean()) if len(a) else np.nan,
            "mean_dslope_normal": float(b.mean()) if len(b) else np.nan,
            "median_dslope_shear": float(np.median(a)) if len(a) else np.nan,
            "median_dslope_normal": float(np.median(b)) if len(b) else np.nan,
        })
    df = pd.DataFrame(rows)
    df["mean_difference"] = df["mean_dslope_shear"] - df["mean_dslope_normal"]
    return df


def headline_shares(records: pd.DataFrame, by: str | None = "run", rtol: float = 1e-9) -> pd.DataFrame:
    """The headline proportions, per group (``by``) and over all records.

    * ``share_shear_rising_strength_not``: among intact records (categories 0–8 in both
      components), the share whose shear force rises before the cut (s1 > 0) while the
      shear strength does not (normal-force s1 ≤ 0, as τ_s rises only with F_n);
    * ``share_unloading``: the share whose shear force drops at the cut (J < 0:
      categories 1, 4, 6 and 7 of the shear force).

    Slopes and jumps within ``rtol`` of the force level count as zero.
    """
    cat_n = records["fn_category"].to_numpy()
    cat_s = records["fs_category"].to_numpy()
    rec = records[(cat_n < 9) & (cat_s < 9)]
    def shares(r: pd.DataFrame) -> dict[str, Any]:
        s1s = r["fs_s1"].to_numpy(float)
        s1n = r["fn_s1"].to_numpy(float)
        scale_s = np.maximum(np.abs(r["fs_pre_at_cut"].to_numpy(float)), np.finfo(float).tiny)
        scale_n = np.maximum(np.abs(r["fn_pre_at_cut"].to_numpy(float)), np.finfo(float).tiny)
        npre = np.maximum(r["pre_steps"].to_numpy(float), 1.0) if "pre_steps" in r else 1.0
        rising = (s1s > 0) & (np.abs(s1s) * npre > rtol * scale_s)
        strength_flat = ~((s1n > 0) & (np.abs(s1n) * npre > rtol * scale_n))
        ok = np.isfinite(s1s) & np.isfinite(s1n)
        unload = np.isin(r["fs_category"].to_numpy(), (1, 4, 6, 7))
        n = int(ok.sum())
        return {"n_records": n,
                "share_shear_rising_strength_not": float(np.mean((rising & strength_flat)[ok])) if n else np.nan,
                "share_unloading": float(np.mean(unload[ok])) if n else np.nan}
    rows = []
    if by is not None and by in rec.columns:
        for key, grp in rec.groupby(by, sort=True):
            rows.append({by: key, **shares(grp)})
    rows.append({**({by: "ALL"} if by is not None else {}), **shares(rec)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# Run and campaign drivers
# --------------------------------------------------------------------------------------


def _read_columns(path: Path, columns: Sequence[str], frame: bool = True):
    """Only the named columns of a run table: a DataFrame, or (``frame=False``) a dict of
    numpy arrays straight from Arrow (no pandas conversion)."""
    import pyarrow.parquet as pq

    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except Exception as exc:
        raise SchemaError(f"{path}: not a readable parquet file ({type(exc).__name__})") from None
    for col in columns:
        if col not in names:
            raise SchemaError(f"{path}: missing column {col!r}")
    if frame:
        return pd.read_parquet(path, columns=list(columns), engine="pyarrow")
    tbl = pq.read_table(path, columns=list(columns))
    out = {}
    for col in columns:
        arr = tbl.column(col)
        if arr.null_count:
            raise SchemaError(f"{path}: column {col!r} has missing values")
        out[col] = arr.to_numpy()
    return out


def analyze_run_grains(run, episodes: pd.DataFrame | None = None, components: Sequence[str] = ("fn", "fs"),
                       rtol: float = 1e-9, initially_broken: bool = False) -> pd.DataFrame:
    """Segment records of one run directory (see :func:`segment_contacts`), with the run's
    fault parameters and, when ``monitored.parquet`` exists, each contact's x, y, z."""
    from labquake.io.rundir import RunDirectory

    run = run if isinstance(run, RunDirectory) else RunDirectory(run)
    meta = run.read_meta()
    path = run.table_path("contacts")
    if not path.exists():
        raise RunStateError(f"{path}: missing; the grain analysis needs monitored contacts")
    df = _read_columns(path, ["step", "contact_id", "broken", *components], frame=False)
    if episodes is None:
        from labquake.analysis.segment import segment_run

        episodes = segment_run(run)
    arrs = contact_arrays(df, components)
    rec = segment_contacts(arrs["steps"], {c: arrs[c] for c in components}, arrs["broken"], episodes,
                           contact_id=arrs["contact_id"], rtol=rtol, initially_broken=initially_broken)
    fp = _fault_params(fault=meta.get("fault"))
    rec.insert(0, "run", run.name)
    for k, v in fp.items():
        rec[k] = v
    if run.has_table("monitored"):
        mon = _read_columns(run.table_path("monitored"), ["contact_id", "x", "y", "z"])
        rec = rec.merge(mon, on="contact_id", how="left")
    return rec


def analyze_campaign_grains(
    campaign_dir: str | os.PathLike,
    window: int = 25_000,
    span: int = 600_000,
    area: float | None = None,
    cohesion: float | None = None,
    friction_angle_deg: float | None = None,
    components: Sequence[str] = ("fn", "fs"),
    episodes: Callable[[Any], pd.DataFrame] | Mapping[str, pd.DataFrame] | None = None,
    figures: bool = True,
    rtol: float = 1e-9,
    initially_broken: bool = False,
) -> dict[str, Path]:
    """Grain analysis of every complete run of a campaign.

    Writes under ``campaign_dir``: ``analysis/grains_segments.parquet`` (one row per run,
    foreshock episode and contact), ``grains_categories.parquet``,
    ``grains_stress_strength.parquet``, ``grains_pdfs.parquet``,
    ``grains_acceleration.parquet``, ``grains_headline.parquet``, and the figures
    ``figures/grains_categories.png``, ``grains_stress_strength.png``,
    ``grains_overlap.png``, ``grains_acceleration.png``. Returns name → path.

    ``episodes`` overrides :func:`labquake.analysis.segment.segment_run`: a callable taking the
    run, or a mapping from run name to an episodes table. ``area``/``cohesion``/
    ``friction_angle_deg`` override every run's fault parameters (meta.json ``fault``,
    else the reference 2e-5 m², 55 MPa, 30°). ``initially_broken``: see
    :func:`broken_codes` (by default a contact flagged broken from its first sample is
    treated as unbonded, not as broken).
    """
    from labquake.io.rundir import atomic_write_parquet, find_runs

    for comp in ("fn", "fs"):
        if comp not in components:
            raise SchemaError(f"components must include 'fn' and 'fs', got {list(components)}")
    time_windows(window, span)  # validates
    root = Path(campaign_dir)
    runs = [r for r in find_runs(root) if r.has_table("contacts")]
    if not runs:
        raise InsufficientDataError(f"{root}: no complete run with contacts.parquet; simulate or import runs first")
    recs, skipped = [], []
    for run in runs:
        try:
            if episodes is None:
                eps = None
            elif callable(episodes):
                eps = episodes(run)
            else:
                eps = episodes.get(run.name)
                if eps is None:
                    raise InsufficientDataError(f"no episodes given for run {run.name!r}")
            recs.append(analyze_run_grains(run, eps, components=components, rtol=rtol,
                                           initially_broken=initially_broken))
        except InsufficientDataError as exc:  # e.g. no fault cracks: no episodes to cut at
            skipped.append(f"{run.name}: {exc}")
    if skipped:
        import warnings

        warnings.warn(f"grain analysis skipped {len(skipped)} run(s): {'; '.join(skipped)}", stacklevel=2)
    if not recs:
        raise InsufficientDataError(f"{root}: no run could be analysed ({'; '.join(skipped)})")
    records = pd.concat(recs, ignore_index=True)
    if area is not None or cohesion is not None or friction_angle_deg is not None:
        fp = _fault_params(area, cohesion, friction_angle_deg)
        for k, v in fp.items():
            if {"contact_area": area, "cohesion": cohesion, "friction_angle_deg": friction_angle_deg}[k] is not None:
                records[k] = v
    cats = category_proportions(records, window, span)
    overlap, pdfs = stress_strength(records, window, span)
    accel = acceleration_difference(records, window, span)
    head = headline_shares(records, by="run", rtol=rtol)

    out: dict[str, Path] = {}
    adir = root / "analysis"
    for name, df in (("segments", records), ("categories", cats), ("stress_strength", overlap),
                     ("pdfs", pdfs), ("acceleration", accel), ("headline", head)):
        out[f"grains_{name}"] = atomic_write_parquet(adir / f"grains_{name}.parquet", df)
    if figures:
        from labquake.viz import grain_figures as gf

        fdir = root / "figures"
        out["grains_categories_png"] = gf.save(gf.category_figure(cats, CATEGORY_SHAPES), fdir / "grains_categories.png")
        out["grains_stress_strength_png"] = gf.save(gf.stress_strength_figure(pdfs, overlap),
                                                    fdir / "grains_stress_strength.png")
        out["grains_overlap_png"] = gf.save(gf.overlap_figure(overlap), fdir / "grains_overlap.png")
        out["grains_acceleration_png"] = gf.save(gf.acceleration_figure(accel), fdir / "grains_acceleration.png")
    return out
