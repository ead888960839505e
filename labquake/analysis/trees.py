"""Hierarchical trees from distance matrices, and their Fowlkes–Mallows comparison.

``compare_trees(D_a, D_b)`` builds one agglomerative tree per distance matrix (scipy
``linkage`` on the **condensed** matrix), cuts both at every number of clusters
k = 2 … n−1 and compares the cuts with the Fowlkes–Mallows index B_k (``ye2024.md`` §6).

Cuts follow R ``cutree(tree, k)`` semantics: the first n−k merges are applied (merge
order, whatever the heights), and clusters are numbered by the first observation they
hold (observation order).

With the k×k contingency table ``m`` of the two cuts of the n leaves,
``T = Σ m_ij² − n``, ``P = Σ m_i·² − n``, ``Q = Σ m_·j² − n`` and ``B = T / √(PQ)``.
Under "no relation" (random relabelling of the leaves, margins fixed) Fowlkes & Mallows
(1983) give ``E(B) = √(PQ) / (n(n−1))`` and ``Var(B)`` (formula in :func:`fm_moments`);
both are exact for that null (the tests check them against all n! relabellings).

Nulls (``null=``) for the one-sided p-value of ``B_k`` being larger than chance:

* ``"analytic"``: ``z = (B − E)/√Var`` and ``p = 1 − Φ(z)`` (normal approximation);
* ``"permutation"``: the leaf labels of tree b are shuffled ``n_perm`` times (one
  shuffle serves every k, as dendextend's ``Bk_permutations``); this keeps both trees'
  shapes and so every cut's cluster sizes;
* ``"random_trees"``: tree a is compared with ``n_perm`` random trees of the same number
  of leaves. ``random_tree_model="linkage"`` (default) builds each with the same linkage
  method from i.i.d. Uniform(0, 1) dissimilarities between the leaves (the trees such a
  method gives on structureless data); ``"coalescent"`` merges a uniformly random pair
  of the current clusters at each step (Kingman coalescent / random-joining topology).

Empirical p-values are ``p = (1 + #{null ≥ B − tol}) / (R + 1)`` (never 0), with Holm and
Benjamini–Hochberg adjustments across k.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import ClusterWarning, linkage
from scipy.spatial.distance import squareform
from scipy.special import ndtr

from labquake.errors import ConfigError, InsufficientDataError, SchemaError

__all__ = [
    "LINKAGES",
    "NULLS",
    "build_tree",
    "cut_levels",
    "cutree",
    "fowlkes_mallows",
    "fm_moments",
    "compare_trees",
    "holm",
    "benjamini_hochberg",
    "random_trees",
]

LINKAGES = ("single", "complete", "average", "weighted")
NULLS = ("analytic", "permutation", "random_trees")


# --------------------------------------------------------------------------------------
# Trees and cuts
# --------------------------------------------------------------------------------------


def _check_matrix(D, name: str = "D") -> np.ndarray:
    D = np.asarray(D, dtype=float)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise SchemaError(f"{name} must be a square distance matrix, got shape {D.shape}")
    if not np.isfinite(D).all():
        raise SchemaError(f"{name} has NaN or infinite entries")
    scale = max(float(np.abs(D).max()), 1e-300)
    if not np.allclose(D, D.T, rtol=0, atol=1e-10 * scale):
        raise SchemaError(f"{name} is not symmetric")
    if np.abs(np.diag(D)).max() > 1e-12 * scale or (D < 0).any():
        raise SchemaError(f"{name} must have a zero diagonal and no negative entry")
    return D


def build_tree(D, method: str = "single", square_quirk: bool = False) -> np.ndarray:
    """Linkage matrix (scipy format) of a square distance matrix.

    ``square_quirk=True`` reproduces the reference code, which passed the *square*
    matrix to MATLAB ``linkage``: its rows are then treated as observations in R^n and
    compared by Euclidean distance.
    """
    if method not in LINKAGES:
        raise ConfigError(f"linkage method {method!r} is unknown; use one of {', '.join(LINKAGES)}")
    D = _check_matrix(D)
    if D.shape[0] < 2:
        raise InsufficientDataError("a tree needs at least 2 leaves")
    if square_quirk:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClusterWarning)
            return linkage(D, method=method, metric="euclidean")
    return linkage(squareform(D, checks=False), method=method)


def _canonical(H: np.ndarray) -> np.ndarray:
    """Relabel each row of cluster ids to 0.. by first appearance (vectorised)."""
    L, n = H.shape
    rows = np.repeat(np.arange(L), n)
    cols = np.tile(np.arange(n), L)
    ids = H.ravel()
    first = np.full((L, int(ids.max()) + 1), n, dtype=np.int64)
    np.minimum.at(first, (rows, ids), cols)
    f = first[rows, ids].reshape(L, n)  # first index of each entry's cluster
    isfirst = f == np.arange(n)[None, :]
    rank = np.cumsum(isfirst, axis=1) - 1
    return np.take_along_axis(rank, f, axis=1)


def cut_levels(Z: np.ndarray) -> np.ndarray:
    """Cuts of a tree at every number of clusters: ``out[k]`` are the labels (0..k-1) for
    k clusters, k = 1..n (row 0 unused), with R ``cutree`` semantics."""
    Z = np.asarray(Z)
    n = Z.shape[0] + 1
    cur = np.arange(n)
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    H = np.empty((n, n), dtype=np.int64)  # H[s] = cluster ids after s merges
    H[0] = cur
    for s in range(n - 1):
        a, b = int(Z[s, 0]), int(Z[s, 1])
        mem = members.pop(a) + members.pop(b)
        members[n + s] = mem
        cur = cur.copy()
        cur[mem] = n + s
        H[s + 1] = cur
    lab = _canonical(H)
    out = np.zeros((n + 1, n), dtype=np.int64)
    out[1:] = lab[::-1]  # k clusters <-> n - k merges
    return out


def cutree(Z: np.ndarray, k: int) -> np.ndarray:
    """Labels (0..k-1) of the cut of tree ``Z`` into ``k`` clusters (R ``cutree``)."""
    n = np.asarray(Z).shape[0] + 1
    if not 1 <= int(k) <= n:
        raise ConfigError(f"k must be between 1 and {n}, got {k}")
    return cut_levels(Z)[int(k)]


# --------------------------------------------------------------------------------------
# Fowlkes–Mallows
# --------------------------------------------------------------------------------------


def _contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    return np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb)


def fowlkes_mallows(a, b) -> float:
    """B = T / √(PQ) of two labelings of the same objects (= sklearn's score)."""
    a = np.unique(np.asarray(a), return_inverse=True)[1].ravel()
    b = np.unique(np.asarray(b), return_inverse=True)[1].ravel()
    if a.size != b.size:
        raise SchemaError("the two labelings must have the same length")
    m = _contingency(a, b)
    n = a.size
    T = float((m.astype(float) ** 2).sum() - n)
    P = float((m.sum(1).astype(float) ** 2).sum() - n)
    Q = float((m.sum(0).astype(float) ** 2).sum() - n)
    return T / np.sqrt(P * Q) if P > 0 and Q > 0 else 0.0


def fm_moments(a, b) -> tuple[float, float, float, float, float]:
    """``(B, E, Var, P, Q)`` of two labelings, Fowlkes & Mallows (1983):

    ``E = √(PQ)/(n(n−1))``;
    ``Var = 2/(n(n−1)) + 4P′Q′/(n(n−1)(n−2)PQ)
    + (P−2−4P′/P)(Q−2−4Q′/Q)/(n(n−1)(n−2)(n−3)) − PQ/(n²(n−1)²)``,
    ``P′ = Σ m_i·(m_i·−1)(m_i·−2)``, ``Q′`` likewise. Var is NaN for n < 4.
    """
    a = np.unique(np.asarray(a), return_inverse=True)[1].ravel()
    b = np.unique(np.asarray(b), return_inverse=True)[1].ravel()
    m = _contingency(a, b).astype(float)
    n = float(a.size)
    ri, cj = m.sum(1), m.sum(0)
    T = (m**2).sum() - n
    P = (ri**2).sum() - n
    Q = (cj**2).sum() - n
    B = T / np.sqrt(P * Q) if P > 0 and Q > 0 else float("nan")
    E, V = _moments(n, P, Q, (ri * (ri - 1) * (ri - 2)).sum(), (cj * (cj - 1) * (cj - 2)).sum())
    return float(B), float(E), float(V), float(P), float(Q)


def _moments(n, P, Q, Pp, Qp):
    n = float(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        E = np.sqrt(P * Q) / (n * (n - 1))
        if n < 4:
            return E, np.full_like(np.asarray(E, dtype=float), np.nan)
        V = (
            2.0 / (n * (n - 1))
            + 4.0 * Pp * Qp / (n * (n - 1) * (n - 2) * P * Q)
            + (P - 2 - 4 * Pp / P) * (Q - 2 - 4 * Qp / Q) / (n * (n - 1) * (n - 2) * (n - 3))
            - P * Q / (n**2 * (n - 1) ** 2)
        )
    return E, V


# --------------------------------------------------------------------------------------
# p-value adjustment
# --------------------------------------------------------------------------------------


def holm(p) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (NaN entries are ignored and kept NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini–Hochberg (1995) adjusted p-values (NaN entries ignored and kept NaN)."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = false_discovery_control(p[ok], method="bh")
    return out


# --------------------------------------------------------------------------------------
# Nulls
# --------------------------------------------------------------------------------------


def _T_batch(la: np.ndarray, LB: np.ndarray, k: int, chunk: int = 4000) -> np.ndarray:
    """T = Σ m_ij² − n for labels ``la`` (n,) against each row of ``LB`` (R, n)."""
    R, n = LB.shape
    out = np.empty(R)
    kk = k * k
    for s in range(0, R, chunk):
        lb = LB[s : s + chunk]
        r = lb.shape[0]
        idx = (np.arange(r)[:, None] * kk + la[None, :] * k + lb).ravel()
        m = np.bincount(idx, minlength=r * kk).reshape(r, kk)
        out[s : s + r] = np.einsum("ij,ij->i", m, m) - n
    return out


def random_trees(n: int, size: int, method: str = "single", model: str = "linkage", seed=0) -> list[np.ndarray]:
    """``size`` random linkage matrices of ``n`` leaves (see the module docstring)."""
    rng = np.random.default_rng(seed)
    if model == "linkage":
        if method not in LINKAGES:
            raise ConfigError(f"linkage method {method!r} is unknown; use one of {', '.join(LINKAGES)}")
        return [linkage(rng.random(n * (n - 1) // 2), method=method) for _ in range(size)]
    if model == "coalescent":
        out = []
        for _ in range(size):
            active = list(range(n))
            sizes = {i: 1 for i in range(n)}
            Z = np.empty((n - 1, 4))
            for s in range(n - 1):
                i, j = sorted(rng.choice(len(active), 2, replace=False))
                a, b = active[i], active[j]
                Z[s] = (min(a, b), max(a, b), s + 1.0, sizes[a] + sizes[b])
                sizes[n + s] = sizes[a] + sizes[b]
                active.pop(j)
                active.pop(i)
                active.append(n + s)
            out.append(Z)
        return out
    raise ConfigError(f"random tree model must be 'linkage' or 'coalescent', got {model!r}")


# --------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------


def compare_trees(
    D_a,
    D_b,
    method: str = "single",
    null: str = "permutation",
    n_perm: int = 1000,
    seed: int = 0,
    *,
    tol: float = 1e-12,
    square_quirk: bool = False,
    random_tree_model: str = "linkage",
    ks=None,
) -> pd.DataFrame:
    """Compare the trees of two distance matrices level by level with B_k.

    Parameters
    ----------
    D_a, D_b
        Square distance matrices over the same n ≥ 3 objects, in the same order.
    method
        Linkage: ``single`` (the paper), ``complete`` (the 2024 code), ``average``,
        ``weighted``.
    null
        ``"analytic"``, ``"permutation"`` or ``"random_trees"`` (module docstring).
    n_perm
        Null draws R (ignored by ``"analytic"``).
    tol
        Null values ``>= B - tol`` count as at least as extreme (ties at B = 1).
    square_quirk
        Link the square matrices as observations (the reference code's quirk).
    ks
        Levels to report (default 2 … n−1).

    Returns
    -------
    DataFrame
        One row per k: ``k, B, E, Var, sd, z, p_analytic, null, n_null, null_mean,
        null_sd, null_lo, null_hi, p, p_holm, p_bh`` (``null_lo/hi``: the 2.5 and 97.5 %
        quantiles of the null, or E ∓ 2 sd for the analytic null). ``attrs`` holds both
        linkage matrices (``Z_a``, ``Z_b``, as nested lists) and the settings.
    """
    if null not in NULLS:
        raise ConfigError(f"null {null!r} is unknown; use one of {', '.join(NULLS)}")
    Da, Db = _check_matrix(D_a, "D_a"), _check_matrix(D_b, "D_b")
    n = Da.shape[0]
    if Db.shape[0] != n:
        raise SchemaError(f"the two distance matrices cover different numbers of objects ({n} and {Db.shape[0]})")
    if n < 3:
        raise InsufficientDataError(f"tree comparison needs at least 3 objects (runs), got {n}")
    if null != "analytic" and (int(n_perm) < 1):
        raise ConfigError(f"n_perm must be >= 1 for the {null} null, got {n_perm}")
    Za = build_tree(Da, method, square_quirk)
    Zb = build_tree(Db, method, square_quirk)
    La, Lb = cut_levels(Za), cut_levels(Zb)
    ks = np.arange(2, n) if ks is None else np.asarray(ks, dtype=int)
    if ks.size == 0 or ks.min() < 2 or ks.max() > n - 1:
        raise ConfigError(f"levels k must lie in 2..{n - 1}")
    R = int(n_perm)
    rng = np.random.default_rng(seed)
    if null == "permutation":
        perms = rng.permuted(np.tile(np.arange(n), (R, 1)), axis=1)
    elif null == "random_trees":
        rt = random_trees(n, R, method, random_tree_model, seed=rng)
        RL = np.stack([cut_levels(Z) for Z in rt])  # (R, n+1, n)

    rows = []
    for k in ks:
        la, lb = La[k], Lb[k]
        B, E, V, P, Q = fm_moments(la, lb)
        sd = float(np.sqrt(V)) if np.isfinite(V) and V > 0 else float("nan")
        z = (B - E) / sd if np.isfinite(sd) else float("nan")
        p_an = float(1.0 - ndtr(z)) if np.isfinite(z) else float("nan")
        rec = {"k": int(k), "B": B, "E": E, "Var": V, "sd": sd, "z": z, "p_analytic": p_an, "null": null}
        if null == "analytic":
            rec.update(n_null=0, null_mean=E, null_sd=sd, null_lo=E - 2 * sd, null_hi=E + 2 * sd, p=p_an)
        else:
            if null == "permutation":
                T = _T_batch(la, lb[perms], int(k))
                vals = T / np.sqrt(P * Q)
            else:
                LBk = RL[:, k, :]
                T = _T_batch(la, LBk, int(k))
                # P of tree a fixed; Q of each random tree
                cnt = np.stack([np.bincount(r, minlength=k) for r in LBk]).astype(float)
                Qr = (cnt**2).sum(1) - n
                vals = T / np.sqrt(P * Qr)
            rec.update(
                n_null=R,
                null_mean=float(vals.mean()),
                null_sd=float(vals.std(ddof=1)) if R > 1 else float("nan"),
                null_lo=float(np.quantile(vals, 0.025)),
                null_hi=float(np.quantile(vals, 0.975)),
                p=float((1 + np.count_nonzero(vals >= B - tol)) / (R + 1)),
            )
        rows.append(rec)
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"].to_numpy())
    out["p_bh"] = benjamini_hochberg(out["p"].to_numpy())
    out.attrs.update({"Z_a": Za.tolist(), "Z_b": Zb.tolist(), "method": method, "null": null, "n_perm": R, "seed": seed,
                      "square_quirk": square_quirk, "random_tree_model": random_tree_model})
    return out
