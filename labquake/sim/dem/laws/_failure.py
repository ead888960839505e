"""The bond strength test shared by the smooth joint and the flat-joint elements."""

from __future__ import annotations

from numba import njit

from ._vector import FASTMATH

#: failure modes as the crack table encodes them (``mode`` = code - 1)
TENSION = 1
SHEAR = 2


@njit(cache=True, error_model="numpy", fastmath=FASTMATH, inline="always")
def failure_mode(sigma_t, tau, sigma_n, tensile_strength, cohesion, tan_phi):
    """0 (intact), :data:`TENSION` or :data:`SHEAR`.

    ``sigma_t`` is the tensile stress (tension +), ``sigma_n`` the normal stress
    (compression +) and ``tau`` the shear stress of the bonded area. Tension is tested
    first: σ_t > σ_b breaks in tension, else τ > c + σ_n·tanφ in shear.
    """
    if sigma_t > tensile_strength:
        return TENSION
    if tau > cohesion + sigma_n * tan_phi:
        return SHEAR
    return 0
