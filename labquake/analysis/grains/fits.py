"""Two-piece linear fits of contact-force series, and the shape category of each fit.

:func:`two_piece_fit` cuts every series at each episode's KDF peak and fits a line on
either side, for all contacts and episodes at once; :func:`broken_codes` marks contacts
that broke (9, 10) and :func:`classify_shapes` gives the category 1–8 from the signs of
``s1``, ``J`` and ``s2`` (:data:`CATEGORY_SHAPES`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labquake.errors import SchemaError

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
