"""Distances between point clouds, and the matrices of all pairwise distances.

Metrics of :func:`distance_matrix` (``ye2024.md`` §6):

* ``"hausdorff"`` — the reference: points whitened with the covariance of *all pooled
  points* (so Euclidean distance is the Mahalanobis distance), then the max of the two
  directed Hausdorff distances. ``"hausdorff_z"``: the same on pooled z-scores.
* ``"chamfer"`` — the reference: pooled z-scores, the *sum* over both directions of the
  squared nearest-neighbour distances. ``"chamfer_mean"``: the *mean* instead of the sum
  in each direction (does not grow with the cloud sizes).
* ``"emd"`` — exact earth mover's distance (1-Wasserstein) with uniform weights and
  Euclidean cost on pooled z-scores: POT's network simplex on a sparse graph of near
  neighbours, grown until the dual certificate holds on every arc
  (:mod:`labquake.analysis.transport`). A non-optimal exit raises :class:`ConvergenceError`.
  ``"emd_greedy"``: the reference's greedy approximation (see :func:`emd_greedy`), an
  upper bound of the exact value.

Pooled scaling (``scale``) uses the clouds passed together, so a matrix depends only on
the relative positions of all points: translating every cloud by the same vector changes
nothing. A feature with zero pooled variance is left unscaled (it is constant, so it adds
nothing); a singular pooled covariance is inverted on its non-null subspace.

Pairs are computed in parallel on threads (the KD-tree queries and the network simplex
release the GIL); results are written to fixed matrix cells, so they do not depend on
thread timing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from labquake.errors import ConfigError, InsufficientDataError, SchemaError

__all__ = [
    "METRICS",
    "hausdorff",
    "chamfer",
    "emd",
    "emd_greedy",
    "pooled_scale",
    "distance_matrix",
    "DEFAULT_SCALE",
]

#: metric name -> default pooled scaling
DEFAULT_SCALE = {
    "hausdorff": "mahalanobis",
    "hausdorff_z": "zscore",
    "chamfer": "zscore",
    "chamfer_mean": "zscore",
    "emd": "zscore",
    "emd_greedy": "zscore",
}
METRICS = tuple(DEFAULT_SCALE)


# --------------------------------------------------------------------------------------
# Pairwise distances on raw arrays
# --------------------------------------------------------------------------------------


def _as_cloud(x, name: str = "cloud", min_points: int = 1) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise SchemaError(f"{name} must be an (n, d) array, got shape {a.shape}")
    if a.shape[0] == 0:
        raise InsufficientDataError(f"{name} is empty: a cloud needs at least {max(min_points, 1)} point(s)")
    if a.shape[0] < min_points:
        raise InsufficientDataError(
            f"{name} has {a.shape[0]} point(s), fewer than min_points={min_points}; "
            "exclude it or lower min_points")
    if not np.isfinite(a).all():
        raise SchemaError(f"{name} has NaN or infinite feature values; drop or fix those events")
    return a


def _nn(a: np.ndarray, tree_b: cKDTree) -> np.ndarray:
    return tree_b.query(a, k=1)[0]


def hausdorff(a, b) -> float:
    """Symmetric Hausdorff distance ``max(h(a, b), h(b, a))`` in Euclidean metric."""
    a, b = _as_cloud(a, "a"), _as_cloud(b, "b")
    return float(max(_nn(a, cKDTree(b)).max(), _nn(b, cKDTree(a)).max()))


def chamfer(a, b, reduction: str = "sum") -> float:
    """Chamfer distance: squared nearest-neighbour distances, both directions.

    ``reduction="sum"`` (the reference) sums them; ``"mean"`` averages each direction
    and adds the two means.
    """
    a, b = _as_cloud(a, "a"), _as_cloud(b, "b")
    dab = _nn(a, cKDTree(b)) ** 2
    dba = _nn(b, cKDTree(a)) ** 2
    if reduction == "sum":
        return float(dab.sum() + dba.sum())
    if reduction == "mean":
        return float(dab.mean() + dba.mean())
    raise ConfigError(f"chamfer reduction must be 'sum' or 'mean', got {reduction!r}")


def emd(a, b, num_iter_max: int = 50_000_000) -> float:
    """Exact earth mover's distance between uniform empirical measures (Euclidean cost).

    Solved by :func:`labquake.analysis.transport.earth_movers_distance` (POT's network simplex on a
    sparse graph, certified optimal against every arc). Raises :class:`ConvergenceError`
    unless the solver reports an optimal solution.
    """
    from labquake.analysis.transport import earth_movers_distance

    a, b = _as_cloud(a, "a"), _as_cloud(b, "b")
    return earth_movers_distance(a, b, num_iter_max=num_iter_max)


def emd_greedy(a, b) -> float:
    """The reference's greedy EMD approximation (our reading): mass is moved along the
    cheapest remaining point pairs first, each pair carrying as much as both ends still
    hold (uniform weights). The result is a feasible plan's cost, so it is ``>= emd``,
    and equal when the clouds can be matched point to point without conflicts.
    """
    a, b = _as_cloud(a, "a"), _as_cloud(b, "b")
    n, m = a.shape[0], b.shape[0]
    cost = cdist(a, b).ravel()
    order = np.argsort(cost, kind="stable")
    # integer masses: each a-point holds m units, each b-point n units (total n*m)
    ra = np.full(n, m, dtype=np.int64)
    rb = np.full(m, n, dtype=np.int64)
    left = n * m
    total = 0.0
    for k in order:
        i, j = divmod(int(k), m)
        f = min(ra[i], rb[j])
        if f:
            ra[i] -= f
            rb[j] -= f
            total += f * cost[k]
            left -= f
            if left == 0:
                break
    return float(total / (n * m))


# --------------------------------------------------------------------------------------
# Pooled scaling
# --------------------------------------------------------------------------------------


def pooled_scale(clouds: Sequence[np.ndarray], scale: str) -> list[np.ndarray]:
    """Transform clouds with statistics of all their points pooled.

    ``"mahalanobis"``: z-score with the pooled mean and sd, then whiten with the pooled
    correlation matrix, so that Euclidean distance is the Mahalanobis distance of the
    pooled covariance (constant features and null directions are dropped: a
    pseudo-inverse). ``"zscore"``: subtract the
    pooled mean and divide by the pooled standard deviation per feature. ``"none"``:
    unchanged.
    """
    if scale == "none":
        return [np.asarray(c, dtype=float) for c in clouds]
    pooled = np.vstack(clouds)
    mu = pooled.mean(axis=0)
    if scale == "zscore":
        sd = pooled.std(axis=0, ddof=1) if pooled.shape[0] > 1 else np.ones(pooled.shape[1])
        sd = np.where(sd > 0, sd, 1.0)
        return [(c - mu) / sd for c in clouds]
    if scale == "mahalanobis":
        if pooled.shape[0] < 2:
            raise InsufficientDataError("the pooled covariance needs at least 2 points in all")
        # standardise first (Mahalanobis distance is invariant to it, and the correlation
        # matrix is well conditioned whatever the feature units), then whiten
        sd = pooled.std(axis=0, ddof=1)
        live = sd > 0
        if not live.any():
            return [np.zeros((c.shape[0], 1)) for c in clouds]
        zs = [(c[:, live] - mu[live]) / sd[live] for c in clouds]
        corr = np.atleast_2d(np.cov(np.vstack(zs), rowvar=False))
        w, v = np.linalg.eigh(corr)
        keep = w > w.max() * 1e-10
        wmat = v[:, keep] / np.sqrt(w[keep])  # x -> diag(w^-1/2) V^T x
        return [z @ wmat for z in zs]
    raise ConfigError(f"scale must be 'mahalanobis', 'zscore' or 'none', got {scale!r}")


# --------------------------------------------------------------------------------------
# Matrices
# --------------------------------------------------------------------------------------


def _pair_fn(metric: str):
    if metric in ("hausdorff", "hausdorff_z"):
        return _hausdorff_trees
    if metric == "chamfer":
        return lambda a, b, ta, tb: _chamfer_trees(a, b, ta, tb, "sum")
    if metric == "chamfer_mean":
        return lambda a, b, ta, tb: _chamfer_trees(a, b, ta, tb, "mean")
    if metric == "emd":
        return lambda a, b, ta, tb: emd(a, b)
    if metric == "emd_greedy":
        return lambda a, b, ta, tb: emd_greedy(a, b)
    raise ConfigError(f"metric {metric!r} is unknown; use one of {', '.join(METRICS)}")


def _hausdorff_trees(a, b, ta, tb) -> float:
    return float(max(ta.query(b, k=1)[0].max(), tb.query(a, k=1)[0].max()))


def _chamfer_trees(a, b, ta, tb, reduction) -> float:
    dab = tb.query(a, k=1)[0] ** 2
    dba = ta.query(b, k=1)[0] ** 2
    return float(dab.sum() + dba.sum()) if reduction == "sum" else float(dab.mean() + dba.mean())


def distance_matrix(
    clouds: Sequence,
    metric: str = "hausdorff",
    *,
    scale: str | None = None,
    n_jobs: int | None = None,
    min_points: int = 2,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """Symmetric matrix of distances between every pair of clouds (zero diagonal).

    Parameters
    ----------
    clouds
        Sequence of (n_i, d) arrays, or DataFrames with the
        :data:`labquake.analysis.clouds.FEATURES` columns.
    metric
        One of :data:`METRICS` (see the module docstring).
    scale
        Pooled scaling (``"mahalanobis"``, ``"zscore"``, ``"none"``); default per metric.
    n_jobs
        Threads (default: the CPU count).
    min_points
        Clouds with fewer points raise :class:`InsufficientDataError` (an empty cloud
        always does). The default 2 rejects single-event clouds; the caller decides
        whether to exclude such runs (as :func:`labquake.analysis.pipeline.analyze_campaign` does).
    names
        Cloud names for error messages.
    """
    from labquake.analysis.clouds import cloud_features

    if metric not in DEFAULT_SCALE:
        raise ConfigError(f"metric {metric!r} is unknown; use one of {', '.join(METRICS)}")
    names = list(names) if names is not None else [f"cloud {i}" for i in range(len(clouds))]
    arrs = [_as_cloud(cloud_features(c), names[i], min_points) for i, c in enumerate(clouds)]
    if len(arrs) < 2:
        raise InsufficientDataError(f"a distance matrix needs at least 2 clouds, got {len(arrs)}")
    dims = {a.shape[1] for a in arrs}
    if len(dims) != 1:
        raise SchemaError(f"clouds have different numbers of features: {sorted(dims)}")
    arrs = pooled_scale(arrs, scale or DEFAULT_SCALE[metric])
    n = len(arrs)
    trees = [cKDTree(a) for a in arrs] if metric.startswith(("hausdorff", "chamfer")) else [None] * n
    fn = _pair_fn(metric)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    # biggest problems first, for load balance
    pairs.sort(key=lambda p: -arrs[p[0]].shape[0] * arrs[p[1]].shape[0])
    D = np.zeros((n, n))

    def work(p):
        i, j = p
        return fn(arrs[i], arrs[j], trees[i], trees[j])

    workers = max(1, int(n_jobs or os.cpu_count() or 1))
    if workers == 1:
        vals = [work(p) for p in pairs]
    else:
        with ThreadPoolExecutor(max_workers=workers) as ex:
            vals = list(ex.map(work, pairs))
    for (i, j), v in zip(pairs, vals):
        D[i, j] = D[j, i] = v
    return D
