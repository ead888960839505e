"""Moment tensors and magnitudes of AE sources (Hazzard & Young 2000, 2002).

For an event with source particles S and centroid c, the moment tensor is

    M_ij = sum_contacts dF_i * R_j,

summed over the contacts between a source particle and a particle outside S. ``dF`` is the
change, since the event started, of the force that the source exerts on the outside
particle, and ``R`` the contact point relative to the centroid. Contacts between two
source particles carry equal and opposite forces at the same point, so they cancel and are
left out. With this sign an opening (tensile) crack, which pushes its neighbours outward,
has a positive isotropic part. The tensor is symmetrised (its antisymmetric part is the
net torque on the source, zero in equilibrium).

Scalar moment M0 = sqrt(sum_k m_k^2 / 2) over the eigenvalues m_k, computed as
||M||_F / sqrt(2) of the symmetric tensor; moment magnitude Mw = (2/3) log10 M0 - 6
(M0 in N m).

Source type (Hudson, Pearce & Rogers 1989): with the eigenvalues m1 >= m2 >= m3, the
isotropic part M = (m1 + m2 + m3)/3 and the deviatoric eigenvalues m_i' = m_i - M, let
m_d' be the deviatoric eigenvalue of largest magnitude (m3' when m2' > 0, else m1') and
m2' the middle one. Then

    k = M / (|M| + |m_d'|)        (-1 implosion ... 0 no volume change ... +1 explosion)
    T = 2 m2' / |m_d'|            (-1 +CLVD ... 0 double couple ... +1 -CLVD)

(T = 0 for a purely isotropic tensor). Textbook points: explosion (T, k) = (0, 1),
implosion (0, -1), double couple (0, 0), +CLVD (2, -1, -1) at (-1, 0), -CLVD at (1, 0), an
opening tensile crack in a Poisson solid (eigenvalues λ + 2μ, λ, λ with λ = μ) at
(-1, 5/9) and a closing one at (1, -5/9). :func:`hudson_uv` maps (T, k) onto Hudson's
equal-area (u, v) plane, the diamond with corners (0, 1), (-4/3, -1/3), (0, -1), (4/3, 1/3).

Classes (:func:`source_type`, used by the report): *tensile* k >= 0.2 (opening: the
source pushes its surroundings out; an opening crack has k = 5/9); *implosive*
k <= -0.2 (closing); *shear* |k| < 0.2 and |T| <= 0.5 (close to a double couple: little
volume change and a middle deviatoric eigenvalue at most a quarter of the dominant one);
*CLVD* |k| < 0.2 and |T| > 0.5 (little volume change but far from a double couple).

The events table's values (moment tensor, M0, Mw, iso, dev) use :func:`math.fsum` (exactly
rounded sums) and :func:`labquake.sim.dem.exactmath.log10`: no BLAS/LAPACK kernel or SIMD libm
path picked by the CPU, so a catalog has the same bits on every machine. (Hudson's (T, k)
uses LAPACK's ``eigvalsh``; it feeds only the report's source-type figures and shares.)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["moment_tensor", "scalar_moment", "moment_magnitude", "iso_dev", "iso_ratio", "hudson_tk", "hudson_uv",
           "source_type", "classify_events", "SOURCE_TYPES"]

#: source-type classes of :func:`source_type`, in report order
SOURCE_TYPES = ("tensile", "shear", "implosive", "CLVD")


def moment_tensor(delta_force: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """Symmetric moment tensor sum_c dF_c (x) R_c.

    Parameters
    ----------
    delta_force
        (n, 3) force changes [N] (force exerted by the source on its surroundings).
    arm
        (n, 3) contact points relative to the event centroid [m].

    Returns
    -------
    numpy.ndarray
        (3, 3) symmetric tensor [N m].
    """
    f = np.asarray(delta_force, dtype=float).reshape(-1, 3)
    r = np.asarray(arm, dtype=float).reshape(-1, 3)
    if f.shape != r.shape:
        raise ValueError(f"delta_force {f.shape} and arm {r.shape} must have the same shape")
    m = np.array([[math.fsum(f[:, i] * r[:, j]) for j in range(3)] for i in range(3)]).reshape(3, 3)
    return 0.5 * (m + m.T)


def scalar_moment(m: np.ndarray) -> float:
    """M0 = sqrt(sum of squared eigenvalues / 2) [N m] of a symmetric (3, 3) tensor (its
    lower triangle is used): the Frobenius norm over sqrt(2)."""
    a = np.asarray(m, dtype=float)
    low = np.tril(a)
    s = low + np.tril(a, -1).T
    return math.sqrt(math.fsum((s * s).ravel()) / 2.0)


def moment_magnitude(m0: float | np.ndarray) -> float | np.ndarray:
    """Mw = (2/3) log10(M0) - 6, M0 in N m (M0 must be > 0)."""
    m0 = np.asarray(m0, dtype=float)
    if np.any(m0 <= 0):
        raise ValueError("the scalar moment must be > 0 to have a magnitude")
    from labquake.sim.dem.exactmath import log10_array

    out = 2.0 / 3.0 * log10_array(m0) - 6.0
    return float(out) if out.ndim == 0 else out


def iso_dev(m: np.ndarray) -> tuple[float, float]:
    """Isotropic part tr(M)/3 and the scalar moment of the deviatoric part [N m]."""
    m = np.asarray(m, dtype=float)
    iso = math.fsum((m[0, 0], m[1, 1], m[2, 2])) / 3.0
    return iso, scalar_moment(m - iso * np.eye(3))


def iso_ratio(iso, dev) -> np.ndarray | float:
    """Signed ratio iso / dev of the isotropic part to the deviatoric scalar moment.

    Opening sources are positive. A purely isotropic source (dev = 0) gets ±1e12 (0 if the
    tensor is zero), so the ratio is always finite.
    """
    scalar = np.ndim(iso) == 0 and np.ndim(dev) == 0
    iso, dev = np.broadcast_arrays(np.atleast_1d(np.asarray(iso, dtype=float)), np.atleast_1d(np.asarray(dev, dtype=float)))
    out = np.divide(iso, dev, out=np.sign(iso) * 1e12, where=dev > 0)
    return float(out[0]) if scalar else out


def hudson_tk(m: np.ndarray) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Hudson et al. (1989) source-type parameters (T, k) of symmetric tensors (..., 3, 3).

    See the module docstring for the definitions; a zero tensor gives (0, 0).
    """
    m = np.asarray(m, dtype=float)
    ev = np.linalg.eigvalsh(0.5 * (m + np.swapaxes(m, -1, -2)))[..., ::-1]  # m1 >= m2 >= m3
    iso = ev.mean(axis=-1)
    d = ev - iso[..., None]
    dom = np.where(d[..., 1] > 0, d[..., 2], d[..., 0])
    adom = np.abs(dom)
    den = np.abs(iso) + adom
    k = np.divide(iso, den, out=np.zeros_like(iso), where=den > 0)
    t = np.divide(2.0 * d[..., 1], adom, out=np.zeros_like(iso), where=adom > 1e-12 * np.maximum(den, 1e-300))
    t = np.clip(t, -1.0, 1.0)
    if np.ndim(t) == 0:
        return float(t), float(k)
    return t, k


def hudson_uv(t, k) -> tuple[np.ndarray, np.ndarray]:
    """Hudson et al. (1989) equal-area coordinates (u, v) of source types (T, k).

    With τ = T(1 − |k|): where τ and k have opposite signs, (u, v) = (τ, k); in the first
    quadrant (u, v) = (τ, k)/(1 − τ/2) if τ < 4k, else (τ, k)/(1 − 2k); in the third
    (u, v) = (τ, k)/(1 + τ/2) if τ > 4k, else (τ, k)/(1 + 2k).
    """
    t = np.asarray(t, dtype=float)
    k = np.asarray(k, dtype=float)
    tau = t * (1.0 - np.abs(k))
    first = (tau >= 0) & (k >= 0)
    third = (tau <= 0) & (k <= 0)
    den = np.ones_like(tau)
    den = np.where(first & (tau < 4 * k), 1.0 - 0.5 * tau, den)
    den = np.where(first & ~(tau < 4 * k), 1.0 - 2.0 * k, den)
    den = np.where(third & ~first & (tau > 4 * k), 1.0 + 0.5 * tau, den)
    den = np.where(third & ~first & ~(tau > 4 * k), 1.0 + 2.0 * k, den)
    den = np.where(den == 0.0, 1.0, den)  # the corners u = ±4/3 are reached only in the limit
    return tau / den, k / den


def source_type(t, k, k_volumetric: float = 0.2, t_double_couple: float = 0.5) -> np.ndarray:
    """Class of each source from its Hudson (T, k): one of :data:`SOURCE_TYPES`.

    tensile k >= ``k_volumetric``; implosive k <= −``k_volumetric``; otherwise shear when
    |T| <= ``t_double_couple``, else CLVD.
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    k = np.atleast_1d(np.asarray(k, dtype=float))
    out = np.where(np.abs(t) <= t_double_couple, "shear", "CLVD").astype(object)
    out[k >= k_volumetric] = "tensile"
    out[k <= -k_volumetric] = "implosive"
    return out


def classify_events(events, cracks=None):
    """Hudson source types of an ``events`` table (a new DataFrame, one row per event).

    Columns: ``event_id``, ``on_fault``, ``iso_ratio``, ``hudson_t``, ``hudson_k``,
    ``hudson_u``, ``hudson_v``, ``source_type`` (:func:`source_type`) and, when the
    ``cracks`` table (with ``event_id`` and ``mode``) is given, ``crack_modes``:
    ``tension`` (every crack of the event opened in tension), ``shear`` or ``mixed``.
    """
    import pandas as pd

    m = np.zeros((len(events), 3, 3))
    for (a, b), c in {(0, 0): "m11", (0, 1): "m12", (0, 2): "m13", (1, 1): "m22", (1, 2): "m23", (2, 2): "m33"}.items():
        m[:, a, b] = m[:, b, a] = events[c].to_numpy(float)
    t, k = hudson_tk(m) if len(events) else (np.zeros(0), np.zeros(0))
    u, v = hudson_uv(t, k)
    ratio = (events["iso_ratio"].to_numpy(float) if "iso_ratio" in events
             else iso_ratio(events["iso"].to_numpy(float), events["dev"].to_numpy(float)))
    out = pd.DataFrame({"event_id": events["event_id"].to_numpy(), "on_fault": events["on_fault"].to_numpy(bool),
                        "iso_ratio": np.asarray(ratio, float).reshape(-1), "hudson_t": np.asarray(t, float).reshape(-1),
                        "hudson_k": np.asarray(k, float).reshape(-1), "hudson_u": np.asarray(u, float).reshape(-1),
                        "hudson_v": np.asarray(v, float).reshape(-1),
                        "source_type": source_type(t, k) if len(events) else np.zeros(0, dtype=object)})
    if cracks is not None:
        cr = cracks[cracks["event_id"] >= 0]
        ten = cr.groupby("event_id")["mode"].agg(lambda s: "tension" if (s.astype(str) == "tension").all()
                                                 else "shear" if (s.astype(str) == "shear").all() else "mixed")
        out["crack_modes"] = out["event_id"].map(ten).fillna("none").astype(object)
    return out
