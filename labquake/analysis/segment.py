"""Episode segmentation of a crack (or AE event) catalog by a 1-D kernel density in time.

This is the segmentation of the reference study (Ye, Lui & Young 2024, ``ye2024.md`` §4):

1. take the times of all fault cracks;
2. form a Gaussian kernel density function (KDF) in time with an **absolute** bandwidth
   (the σ of the kernel; 2000 steps in the reference);
3. evaluate it on a regular grid (20 steps in the reference);
4. its local minima are episode boundaries; here only minima whose *prominence* reaches
   ``prominence`` are kept (the reference keeps every minimum: ``prominence=0``);
5. segments that hold no event are merged with a neighbour;
6. the **mainshock** is the episode with the most events; every earlier episode is a
   foreshock, every later one an aftershock episode;
7. the *lever arm* of an episode is the mainshock peak minus that episode's peak.

Units
-----
Nothing here assumes steps: ``bandwidth``, ``grid`` and the times share whatever unit the
caller uses (steps for labquake and PFC3D runs, seconds for laboratory picks). Integer
input with integer ``grid`` gives integer ``start``/``end``/``peak``/``lever_arm``.

The KDF is the *unnormalised* kernel sum ``f(t) = Σ_i exp(-(t - t_i)² / (2 h²))``: a lone
event makes a bump of height 1, whatever the bandwidth or time unit. The prominence
threshold is in the same "events" unit, so ``prominence=0.05`` ignores dips shallower
than 5 % of one lone event's bump, in any time unit.

The sum is evaluated exactly (no binning, no FFT) with the kernel truncated at
``8 h`` (relative error below 1e-13), vectorised over events in chunks.

Data-driven bandwidths: ``bandwidth="isj"`` uses our implementation of the improved
Sheather–Jones plug-in of Botev, Grotowski & Kroese (2010, *Ann. Stat.* 38:2916);
``"silverman"`` and ``"scott"`` the usual normal-reference rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import fft as _fft
from scipy import optimize as _optimize
from scipy.signal import find_peaks

from labquake.errors import ConfigError, InsufficientDataError, SchemaError

__all__ = [
    "EPISODE_COLUMNS",
    "kdf",
    "isj_bandwidth",
    "resolve_bandwidth",
    "segment_episodes",
    "segment_run",
    "assign_episodes",
    "episode_roles",
    "label_by_onsets",
]

#: Columns of the episodes table, in order (see docs/contracts.md).
EPISODE_COLUMNS = ("episode_id", "start", "end", "peak", "n_events", "is_mainshock", "lever_arm")

_TRUNCATE = 8.0  # kernel truncated at this many bandwidths
_CHUNK_PAIRS = 4_000_000  # (event, grid point) pairs evaluated per chunk


# --------------------------------------------------------------------------------------
# Bandwidth
# --------------------------------------------------------------------------------------


def _clean_times(times, name: str = "times") -> np.ndarray:
    t = np.asarray(times)
    if t.ndim != 1:
        t = t.reshape(-1)
    if t.dtype.kind not in "iuf":
        try:
            t = t.astype(float)
        except (TypeError, ValueError):
            raise SchemaError(f"{name} must be numbers (steps or seconds), got dtype {t.dtype}") from None
    if t.dtype.kind == "f" and not np.isfinite(t).all():
        raise SchemaError(f"{name} contain NaN or infinite values; drop them before segmenting")
    return t


def isj_bandwidth(times, n_grid: int = 2**14) -> float:
    """Improved Sheather–Jones bandwidth (Botev et al. 2010), in the unit of ``times``.

    Our implementation of the published fixed-point algorithm: the data are binned on
    ``n_grid`` points over their range extended by half the range on both sides, the
    squared DCT coefficients feed the ``l = 7`` stage functional recursion, and the root
    of ``t - ξγ^[l](t)`` is bracketed by doubling the search interval (as in Botev's
    reference code). Raises :class:`InsufficientDataError` for fewer than 2 distinct values.
    """
    t = _clean_times(times).astype(float)
    if np.unique(t).size < 2:
        raise InsufficientDataError("ISJ bandwidth needs at least 2 distinct times")
    n_grid = int(2 ** np.ceil(np.log2(max(int(n_grid), 16))))
    lo, hi = float(t.min()), float(t.max())
    rng = hi - lo
    lo, hi = lo - rng / 2.0, hi + rng / 2.0
    span = hi - lo
    n_unique = np.unique(t).size
    edges = np.linspace(lo, hi, n_grid + 1)
    hist, _ = np.histogram(t, bins=edges)
    hist = hist / hist.sum()
    a = _fft.dct(hist, type=2)  # a_k = 2 Σ x_j cos(π k (2j+1) / 2n)
    k2 = np.arange(1, n_grid, dtype=float) ** 2
    a2 = (a[1:] / 2.0) ** 2

    def fixed_point(tt: float) -> float:
        ell = 7
        f = 2.0 * np.pi ** (2 * ell) * np.sum(k2**ell * a2 * np.exp(-k2 * np.pi**2 * tt))
        for s in range(ell - 1, 1, -1):
            k0 = np.prod(np.arange(1, 2 * s, 2)) / np.sqrt(2 * np.pi)
            const = (1 + 0.5 ** (s + 0.5)) / 3.0
            time = (2 * const * k0 / n_unique / f) ** (2.0 / (3 + 2 * s))
            f = 2.0 * np.pi ** (2 * s) * np.sum(k2**s * a2 * np.exp(-k2 * np.pi**2 * time))
        return tt - (2 * n_unique * np.sqrt(np.pi) * f) ** (-0.4)

    nn = min(max(n_unique, 50), 1050)
    tol = 1e-12 + 0.01 * (nn - 50) / 1000.0
    t_star = None
    while t_star is None:
        try:
            if fixed_point(0.0 + 1e-300) * fixed_point(tol) < 0:
                t_star = _optimize.brentq(fixed_point, 1e-300, tol, xtol=1e-16, rtol=1e-12)
                break
        except (FloatingPointError, ValueError, ZeroDivisionError):
            pass
        if tol >= 0.1:
            res = _optimize.minimize_scalar(lambda x: abs(fixed_point(x)), bounds=(0.0, 0.1), method="bounded")
            t_star = float(res.x)
            break
        tol = min(tol * 2.0, 0.1)
    return float(np.sqrt(t_star) * span)


def resolve_bandwidth(times, bandwidth) -> float:
    """A positive absolute bandwidth from a number or a rule name (isj, silverman, scott)."""
    if isinstance(bandwidth, str):
        t = _clean_times(times).astype(float)
        rule = bandwidth.lower()
        if rule == "isj":
            return isj_bandwidth(t)
        if rule in ("silverman", "scott"):
            if t.size < 2:
                raise InsufficientDataError(f"{rule} bandwidth needs at least 2 times")
            sd = float(np.std(t, ddof=1))
            iqr = float(np.subtract(*np.percentile(t, [75, 25])))
            if rule == "silverman":
                spread = min(sd, iqr / 1.349) if iqr > 0 else sd
                return 0.9 * spread * t.size ** (-0.2)
            return 1.06 * sd * t.size ** (-0.2)
        raise ConfigError(f"bandwidth rule {bandwidth!r} is unknown; use a number, 'isj', 'silverman' or 'scott'")
    try:
        h = float(bandwidth)
    except (TypeError, ValueError):
        raise ConfigError(f"bandwidth must be a positive number or 'isj', got {bandwidth!r}") from None
    if not np.isfinite(h) or h <= 0:
        raise ConfigError(f"bandwidth must be a positive number, got {bandwidth!r}")
    return h


# --------------------------------------------------------------------------------------
# Kernel density on a grid
# --------------------------------------------------------------------------------------


def _grid_for(t: np.ndarray, h: float, grid, span) -> np.ndarray:
    try:
        g = float(grid)
    except (TypeError, ValueError):
        raise ConfigError(f"grid must be a positive number, got {grid!r}") from None
    if not np.isfinite(g) or g <= 0:
        raise ConfigError(f"grid must be a positive number, got {grid!r}")
    if span is None:
        lo, hi = float(t.min()) - 4.0 * h, float(t.max()) + 4.0 * h
    else:
        lo, hi = (float(s) for s in span)
        if not hi > lo:
            raise ConfigError(f"span must be (low, high) with high > low, got {span!r}")
        lo, hi = min(lo, float(t.min())), max(hi, float(t.max()))
    i0, i1 = int(np.floor(lo / g)), int(np.ceil(hi / g))
    n = i1 - i0 + 1
    if n > 50_000_000:
        raise ConfigError(f"the KDF grid would have {n} points; use a coarser grid (now {grid})")
    idx = np.arange(i0, i1 + 1, dtype=np.int64)
    integer = np.issubdtype(np.asarray(grid).dtype, np.integer) and t.dtype.kind in "iu"
    return idx * int(grid) if integer else idx * g


def kdf(times, bandwidth=2000, grid=20, span=None) -> tuple[np.ndarray, np.ndarray]:
    """The kernel density function of ``times`` on a regular grid.

    Returns ``(grid_times, density)`` where ``density[j] = Σ_i exp(-(g_j - t_i)²/(2h²))``
    (a lone event has a bump of height 1). The grid is the multiples of ``grid`` that
    cover ``span`` (default: the data ± 4 bandwidths).
    """
    t = _clean_times(times)
    if t.size == 0:
        raise InsufficientDataError("no event times: the KDF needs at least one event")
    h = resolve_bandwidth(t, bandwidth)
    g = _grid_for(t, h, grid, span)
    gf = g.astype(float)
    tf = np.sort(t.astype(float))
    dens = np.zeros(gf.size)
    step = (gf[-1] - gf[0]) / (gf.size - 1) if gf.size > 1 else 1.0
    reach = _TRUNCATE * h
    lo_idx = np.searchsorted(gf, tf - reach, side="left")
    hi_idx = np.searchsorted(gf, tf + reach, side="right")
    width = int(np.ceil(2 * reach / step)) + 2
    per_chunk = max(1, _CHUNK_PAIRS // width)
    for s in range(0, tf.size, per_chunk):
        lo = lo_idx[s : s + per_chunk]
        cnt = hi_idx[s : s + per_chunk] - lo
        tot = int(cnt.sum())
        if tot == 0:
            continue
        owner = np.repeat(np.arange(lo.size), cnt)
        offs = np.arange(tot) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        j = lo[owner] + offs
        u = (gf[j] - tf[s : s + per_chunk][owner]) / h
        dens += np.bincount(j, weights=np.exp(-0.5 * u * u), minlength=gf.size)
    return g, dens


# --------------------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------------------


def segment_episodes(
    steps,
    bandwidth=2000,
    grid=20,
    *,
    prominence: float = 0.05,
    span: Sequence[float] | None = None,
    mainshock: str = "most_events",
) -> pd.DataFrame:
    """Split event times into episodes at the minima of their kernel density.

    Parameters
    ----------
    steps
        Event times (fault-crack steps in the reference; any unit).
    bandwidth
        Absolute σ of the Gaussian kernel, in the unit of ``steps``; or ``"isj"``,
        ``"silverman"``, ``"scott"`` for a bandwidth chosen from the data.
    grid
        Spacing of the evaluation grid, in the unit of ``steps``.
    prominence
        Keep only minima at least this deep, in units of one lone event's bump height
        (see the module docstring). ``0`` keeps every local minimum (the reference).
    span
        ``(low, high)`` range of the grid; default the data ± 4 bandwidths.
    mainshock
        ``"most_events"`` (the reference: the episode with the most events; ties go to
        the earliest) or ``"last"`` (the last episode).

    Returns
    -------
    DataFrame
        Columns ``episode_id, start, end, peak, n_events, is_mainshock, lever_arm`` (one
        row per episode, in time order; ``start`` inclusive, ``end`` exclusive;
        ``lever_arm`` = mainshock peak - episode peak). ``df.attrs`` records
        ``bandwidth`` (the σ used), ``grid``, ``prominence``, ``n_minima`` (minima kept
        before merging) and ``n_merged`` (empty segments merged away).

    Raises
    ------
    InsufficientDataError
        If there is no event (no mainshock can exist).
    """
    t = _clean_times(steps, "steps")
    if t.size == 0:
        raise InsufficientDataError("no events to segment: a run needs at least one fault crack to have a mainshock")
    if not np.isfinite(prominence) or prominence < 0:
        raise ConfigError(f"prominence must be >= 0, got {prominence!r}")
    if mainshock not in ("most_events", "last"):
        raise ConfigError(f"mainshock must be 'most_events' or 'last', got {mainshock!r}")
    h = resolve_bandwidth(t, bandwidth)
    g, dens = kdf(t, h, grid, span)
    gf = g.astype(float)

    # Minima = peaks of -density. `prominence=0` keeps every strict local minimum.
    if prominence > 0:
        mins, _ = find_peaks(-dens, prominence=prominence)
    else:
        mins, _ = find_peaks(-dens)
    n_minima = int(mins.size)

    # Segments [b_i, b_{i+1}) with b_0 = first grid point, b_last = one past the last.
    bidx = np.concatenate([[0], mins, [gf.size]])
    tf = t.astype(float)
    counts = _count_in(tf, gf, bidx)
    n_merged = 0
    while (counts == 0).any() and counts.size > 1:
        i = int(np.flatnonzero(counts == 0)[0])
        # remove the boundary on the side of the shallower (higher) minimum
        if i == 0:
            drop = 1
        elif i == counts.size - 1:
            drop = i
        else:
            left, right = dens[bidx[i]], dens[bidx[i + 1]]
            drop = i if left >= right else i + 1
        bidx = np.delete(bidx, drop)
        counts = _count_in(tf, gf, bidx)
        n_merged += 1

    n_ep = counts.size
    start_v = g[bidx[:-1]]
    end_v = np.empty_like(start_v)
    end_v[:-1] = g[bidx[1:-1]]
    last_step = g[-1] - g[-2] if g.size > 1 else (type(g[-1])(1) if g.dtype.kind in "iu" else 1.0)
    end_v[-1] = g[-1] + last_step
    peaks = np.empty(n_ep, dtype=g.dtype)
    for e in range(n_ep):
        seg = slice(bidx[e], bidx[e + 1])
        peaks[e] = g[seg][int(np.argmax(dens[seg]))]
    ms = int(np.argmax(counts)) if mainshock == "most_events" else n_ep - 1
    lever = peaks[ms] - peaks
    out = pd.DataFrame(
        {
            "episode_id": np.arange(n_ep, dtype=np.int64),
            "start": start_v,
            "end": end_v,
            "peak": peaks,
            "n_events": counts.astype(np.int64),
            "is_mainshock": np.arange(n_ep) == ms,
            "lever_arm": lever,
        }
    )
    out.attrs.update(
        {"bandwidth": float(h), "grid": float(grid), "prominence": float(prominence),
         "n_minima": n_minima, "n_merged": n_merged}
    )
    return out


def _count_in(t: np.ndarray, gf: np.ndarray, bidx: np.ndarray) -> np.ndarray:
    inner = gf[bidx[1:-1]]
    lab = np.searchsorted(inner, t, side="right")
    return np.bincount(lab, minlength=bidx.size - 1)


def assign_episodes(times, episodes: pd.DataFrame) -> np.ndarray:
    """Episode id of each time (``start <= t < end``), or -1 outside every episode."""
    _check_episodes(episodes)
    t = _clean_times(times).astype(float)
    start = episodes["start"].to_numpy(float)
    end = episodes["end"].to_numpy(float)
    i = np.searchsorted(start, t, side="right") - 1
    ok = (i >= 0) & (t < end[np.clip(i, 0, None)])
    ids = episodes["episode_id"].to_numpy()
    return np.where(ok, ids[np.clip(i, 0, None)], -1).astype(np.int64)


def episode_roles(episodes: pd.DataFrame) -> np.ndarray:
    """``"foreshock"``, ``"mainshock"`` or ``"aftershock"`` for each episode row."""
    _check_episodes(episodes)
    ms = np.flatnonzero(episodes["is_mainshock"].to_numpy())
    if ms.size != 1:
        raise SchemaError(f"episodes table must mark exactly one mainshock, found {ms.size}")
    pos = np.arange(len(episodes))
    return np.where(pos < ms[0], "foreshock", np.where(pos == ms[0], "mainshock", "aftershock"))


def label_by_onsets(times, episodes: pd.DataFrame, onsets, onset_ids=None) -> pd.DataFrame:
    """Label events before/after the mainshock of their own episode (laboratory data).

    For catalogs with many stick-slips (one mainshock per episode, its onset timed
    separately, e.g. from the loading record), each episode is matched to the onset
    nearest to its KDF peak, and each event is labelled ``"F"`` (before that onset) or
    ``"A"`` (at or after it).

    Returns a DataFrame with ``episode_id``, ``mainshock_id`` (from ``onset_ids``, default
    the onset's index) and ``label`` per event (``""`` for events outside every episode).
    """
    _check_episodes(episodes)
    t = _clean_times(times).astype(float)
    on = _clean_times(onsets, "onsets").astype(float)
    if on.size == 0:
        raise InsufficientDataError("no mainshock onsets given")
    ids = np.arange(on.size) if onset_ids is None else np.asarray(onset_ids)
    if ids.shape != on.shape:
        raise SchemaError("onset_ids must have one id per onset")
    peaks = episodes["peak"].to_numpy(float)
    match = np.argmin(np.abs(peaks[:, None] - on[None, :]), axis=1)
    ep = assign_episodes(t, episodes)
    pos = np.searchsorted(episodes["episode_id"].to_numpy(), ep)
    inside = ep >= 0
    m = np.where(inside, match[np.clip(pos, 0, len(match) - 1)], -1)
    onset = np.where(inside, on[np.clip(m, 0, None)], np.nan)
    label = np.where(~inside, "", np.where(t < onset, "F", "A"))
    return pd.DataFrame({"episode_id": ep, "mainshock_id": np.where(inside, ids[np.clip(m, 0, None)], -1),
                         "onset": onset, "label": label})


def _check_episodes(episodes: pd.DataFrame) -> None:
    missing = [c for c in EPISODE_COLUMNS if c not in episodes.columns]
    if missing:
        raise SchemaError(f"episodes table is missing columns {missing}; build it with segment_episodes")


# --------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------


def segment_run(run, bandwidth=2000, grid=20, *, kind: str = "fault", **kwargs) -> pd.DataFrame:
    """Episodes of a run directory from the steps of its fault cracks (``kind == "fault"``).

    ``run`` is a :class:`labquake.io.rundir.RunDirectory` (or a path to one). The grid
    spans the run's loading record when ``loading.parquet`` exists (so episode bounds
    cover the whole run), else the cracks ± 4 bandwidths. Other keyword arguments go to
    :func:`segment_episodes`.
    """
    from labquake.io.rundir import RunDirectory

    if not isinstance(run, RunDirectory):
        run = RunDirectory(run)
    cracks = run.read_table("cracks", columns=["step", "kind"])
    steps = cracks.loc[cracks["kind"].astype(str) == kind, "step"].to_numpy()
    if steps.size == 0:
        raise InsufficientDataError(f"{run.path}: no {kind} cracks, so no mainshock; the run cannot be segmented")
    if "span" not in kwargs and run.has_table("loading"):
        ls = run.read_table("loading", columns=["step"])["step"].to_numpy()
        if ls.size >= 2:
            kwargs["span"] = (int(ls.min()), int(ls.max()))
    return segment_episodes(steps, bandwidth=bandwidth, grid=grid, **kwargs)
