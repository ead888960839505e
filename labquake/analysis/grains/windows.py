"""Statistics of the segment records in time windows before the mainshock.

Category proportions per window, PDFs of shear stress and shear strength and their
overlap, the "acceleration" (Δslope histograms of shear and normal force), and the
headline shares of the records, with the reference fault parameters and bins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import SchemaError

#: fault strength parameters used by the reference when a run's meta.json has none
REFERENCE_FAULT = {"contact_area": 2e-5, "cohesion": 55e6, "friction_angle_deg": 30.0}


STRESS_EDGES = np.linspace(0.0, 300e6, 100)  # 99 bins over 0-300 MPa
DSLOPE_EDGES = np.linspace(-8e-5, 8e-5, 50)  # 49 bins over +-8e-5 N/step


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
