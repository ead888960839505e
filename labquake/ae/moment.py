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

Scalar moment M0 = sqrt(sum_k m_k^2 / 2) over the eigenvalues m_k, equivalently
||M||_F / sqrt(2) for a symmetric tensor; moment magnitude Mw = (2/3) log10 M0 - 6
(M0 in N m).
"""

from __future__ import annotations

import numpy as np

__all__ = ["moment_tensor", "scalar_moment", "moment_magnitude", "iso_dev"]


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
    m = f.T @ r
    return 0.5 * (m + m.T)


def scalar_moment(m: np.ndarray) -> float:
    """M0 = sqrt(sum of squared eigenvalues / 2) [N m] of a symmetric (3, 3) tensor."""
    ev = np.linalg.eigvalsh(np.asarray(m, dtype=float))
    return float(np.sqrt(np.sum(ev**2) / 2.0))


def moment_magnitude(m0: float | np.ndarray) -> float | np.ndarray:
    """Mw = (2/3) log10(M0) - 6, M0 in N m (M0 must be > 0)."""
    m0 = np.asarray(m0, dtype=float)
    if np.any(m0 <= 0):
        raise ValueError("the scalar moment must be > 0 to have a magnitude")
    out = 2.0 / 3.0 * np.log10(m0) - 6.0
    return float(out) if out.ndim == 0 else out


def iso_dev(m: np.ndarray) -> tuple[float, float]:
    """Isotropic part tr(M)/3 and the scalar moment of the deviatoric part [N m]."""
    m = np.asarray(m, dtype=float)
    iso = float(np.trace(m) / 3.0)
    return iso, scalar_moment(m - iso * np.eye(3))
