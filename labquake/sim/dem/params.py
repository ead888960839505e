"""Parameter objects of the DEM engine (frozen dataclasses, SI units, validated on construction)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from labquake.errors import ParameterError

CONTACT_LINEAR = 0
CONTACT_ROCK_BOND = 1
CONTACT_SMOOTH_JOINT = 2

MODE_TENSION = 0
MODE_SHEAR = 1

KIND_ROCK = 0
KIND_FAULT = 1


def _finite(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    return v


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    v = _finite(name, value)
    if v < 0.0 or (v == 0.0 and not allow_zero):
        need = "non-negative" if allow_zero else "positive"
        raise ParameterError(f"{name} must be {need}, got {value!r}")
    return v


@dataclass(frozen=True)
class LinearContact:
    """Linear frictional (Hooke) contact with a tangential spring history.

    ``kn``, ``ks`` in N/m; ``mu`` Coulomb friction; ``damping_ratio`` ζ of the normal
    dashpot (critical fraction, restitution e = exp(-πζ/√(1-ζ²))); ``rolling_mu`` the
    rolling-resistance coefficient (PFC ``rr`` linear model, k_r = ks·R̄², |M_r| ≤ μ_r·R̄·Fn).
    """

    kn: float
    ks: float
    mu: float
    damping_ratio: float = 0.0
    rolling_mu: float = 0.0

    def __post_init__(self) -> None:
        _positive("LinearContact.kn (normal stiffness)", self.kn)
        _positive("LinearContact.ks (shear stiffness)", self.ks, allow_zero=True)
        _positive("LinearContact.mu (friction coefficient)", self.mu, allow_zero=True)
        z = _positive("LinearContact.damping_ratio", self.damping_ratio, allow_zero=True)
        if z >= 1.0:
            raise ParameterError(f"LinearContact.damping_ratio must be below 1 (underdamped), got {z}")
        _positive("LinearContact.rolling_mu", self.rolling_mu, allow_zero=True)


@dataclass(frozen=True)
class RockBond:
    """Bonded rock contact (parallel-bond mechanics, flat-joint-like strength).

    ``kn_per_area``, ``ks_per_area`` in Pa/m; bond radius = ``radius_multiplier``·min(ri, rj);
    ``residual_mu`` is the friction of the contact once the bond has broken. Strengths
    (tensile strength, cohesion, friction angle) are given per bond to
    :meth:`Engine.install_bonds`.
    """

    kn_per_area: float
    ks_per_area: float
    radius_multiplier: float = 1.0
    residual_mu: float = 0.2
    moment_factor: float = 1.0

    def __post_init__(self) -> None:
        _positive("RockBond.kn_per_area", self.kn_per_area)
        _positive("RockBond.ks_per_area", self.ks_per_area, allow_zero=True)
        _positive("RockBond.radius_multiplier", self.radius_multiplier)
        _positive("RockBond.residual_mu", self.residual_mu, allow_zero=True)
        b = _positive("RockBond.moment_factor", self.moment_factor, allow_zero=True)
        if b > 1.0:
            raise ParameterError(f"RockBond.moment_factor must lie in [0, 1], got {b}")


@dataclass(frozen=True)
class FlatJoint:
    """Flat-joint rock bond (Potyondy 2012; :mod:`labquake.sim.dem.laws.flat_joint`).

    The interface is a disc of radius ``radius_multiplier``·min(ri, rj) split into
    ``n_radial`` × ``n_circumferential`` elements (the reference: 1 × 3). Stiffness per
    area k̄n = ``modulus``/(ri + rj) (PFC's effective modulus E*), k̄s = k̄n /
    ``stiffness_ratio``. ``residual_mu`` is the friction of broken elements. Strengths
    (tensile strength, cohesion, friction angle) are given per joint to
    :meth:`Engine.install_bonds`; every element of a joint has its joint's strengths.
    """

    modulus: float
    stiffness_ratio: float = 2.5
    radius_multiplier: float = 1.0
    residual_mu: float = 0.2
    n_radial: int = 1
    n_circumferential: int = 3

    def __post_init__(self) -> None:
        from .laws.flat_joint import MAX_ELEMENTS

        _positive("FlatJoint.modulus", self.modulus)
        _positive("FlatJoint.stiffness_ratio", self.stiffness_ratio)
        _positive("FlatJoint.radius_multiplier", self.radius_multiplier)
        _positive("FlatJoint.residual_mu", self.residual_mu, allow_zero=True)
        for name in ("n_radial", "n_circumferential"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"FlatJoint.{name} must be a positive integer, got {v!r}")
        if self.n_radial * self.n_circumferential > MAX_ELEMENTS:
            raise ParameterError(f"FlatJoint: at most {MAX_ELEMENTS} elements (n_radial x n_circumferential), "
                                 f"got {self.n_radial * self.n_circumferential}")

    @property
    def n_elements(self) -> int:
        return int(self.n_radial * self.n_circumferential)


@dataclass(frozen=True)
class FaultHealing:
    """Log(hold-time) healing of unbonded smooth joints (Dieterich-type; ``docs/healing.md``).

    A smooth joint without an intact bond that is pressed together and does not slide
    regains cohesion c_h(t) = ``rate``·log10(1 + t/``cutoff_time``) (Pa; t the hold time
    in simulated seconds), at most ``max_cohesion`` (Pa), and a tensile strength
    ``tensile_ratio``·c_h. It fails in tension when −Fn/A exceeds that, else in shear
    when |Fs|/A > c_h + (Fn/A)·μ_r (μ_r the joint's ``residual_mu``); a failure resets the
    hold time. A failure whose healed cohesion is at least ``crack_cohesion`` (Pa) is a
    re-rupture and emits a crack record (``healed`` true); smaller ones are frictional
    slips. ``rate`` in Pa per decade of hold time, ``cutoff_time`` in s.
    """

    rate: float
    cutoff_time: float
    max_cohesion: float
    tensile_ratio: float = 0.0
    crack_cohesion: float = 0.0

    def __post_init__(self) -> None:
        _positive("FaultHealing.rate (Pa per decade)", self.rate, allow_zero=True)
        _positive("FaultHealing.cutoff_time (s)", self.cutoff_time)
        _positive("FaultHealing.max_cohesion (Pa)", self.max_cohesion, allow_zero=True)
        _positive("FaultHealing.tensile_ratio", self.tensile_ratio, allow_zero=True)
        _positive("FaultHealing.crack_cohesion (Pa)", self.crack_cohesion, allow_zero=True)

    def cohesion(self, hold_time):
        """Healed cohesion (Pa) after ``hold_time`` (s), as the kernel computes it (numpy)."""
        from .exactmath import log10_array

        t = np.asarray(hold_time, dtype=np.float64)
        c = self.rate * log10_array(1.0 + np.maximum(t, 0.0) / self.cutoff_time)
        return np.where(t > 0.0, np.minimum(c, self.max_cohesion), 0.0)


def fault_healing(fault: dict) -> "FaultHealing | None":
    """The :class:`FaultHealing` of a resolved ``[fault]`` config table (``None`` for
    ``healing = "none"``). ``healing_max_cohesion = 0`` means the intact mean cohesion
    ``fault.cohesion``."""
    mode = fault.get("healing", "none")
    if mode == "none":
        return None
    if mode != "log":
        raise ParameterError(f"fault.healing must be 'none' or 'log', got {mode!r}")
    cmax = float(fault["healing_max_cohesion"]) or float(fault["cohesion"])
    return FaultHealing(rate=float(fault["healing_rate"]), cutoff_time=float(fault["healing_cutoff_time"]),
                        max_cohesion=cmax, tensile_ratio=float(fault["healing_tensile_ratio"]),
                        crack_cohesion=float(fault["healing_crack_cohesion"]))


@dataclass(frozen=True)
class SmoothJoint:
    """Smooth-joint fault contact: the contact frame is the joint plane (normal fixed).

    ``normal`` is the plane normal (normalised here); ``kn_per_area``, ``ks_per_area`` in
    Pa/m; ``residual_mu`` the Coulomb friction after the bond failed (and of contacts formed
    later across the joint); ``area`` the joint area in m² (None: π·(radius_multiplier·
    min(ri, rj))²). ``radius_multiplier`` is an addition to the API contract, and so is
    ``healing`` (:class:`FaultHealing`; None: a broken joint never regains strength).
    """

    normal: tuple[float, float, float]
    kn_per_area: float
    ks_per_area: float
    residual_mu: float = 0.053
    area: float | None = None
    radius_multiplier: float = 1.0
    healing: FaultHealing | None = None
    _unit: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = np.asarray(self.normal, dtype=float).reshape(-1)
        if n.shape != (3,) or not np.all(np.isfinite(n)) or np.linalg.norm(n) == 0.0:
            raise ParameterError(f"SmoothJoint.normal must be a finite non-zero 3-vector, got {self.normal!r}")
        object.__setattr__(self, "_unit", tuple(float(x) for x in n / np.linalg.norm(n)))
        _positive("SmoothJoint.kn_per_area", self.kn_per_area)
        _positive("SmoothJoint.ks_per_area", self.ks_per_area, allow_zero=True)
        _positive("SmoothJoint.residual_mu", self.residual_mu, allow_zero=True)
        if self.area is not None:
            _positive("SmoothJoint.area", self.area)
        _positive("SmoothJoint.radius_multiplier", self.radius_multiplier)
        if self.healing is not None and not isinstance(self.healing, FaultHealing):
            raise ParameterError("SmoothJoint.healing must be a labquake.sim.dem.FaultHealing or None")

    @property
    def unit_normal(self) -> np.ndarray:
        return np.array(self._unit)


@dataclass(frozen=True)
class Platens:
    """Two rigid planes normal to z; the bottom one is fixed, the top one moves.

    ``mode="velocity"``: the top platen (or, with ``frame_stiffness``, the drive point of a
    loading-frame spring of that stiffness in N/m) moves down at ``velocity`` (m/s,
    shortening positive). With a frame spring the (massless) platen sits where its spring
    force balances the particle forces. ``mode="servo"``: the top platen moves so that the
    axial stress approaches ``target_stress`` (Pa, compression positive) with the PFC servo
    law v = g·A/(kn·N_c·dt)·(σ_target − σ), g = ``servo_gain`` ≤ 0.5 for stability,
    |v| ≤ ``max_velocity`` (None: 1e-3·mean radius per step).

    ``friction`` (default 0: frictionless, as PFC's usual walls): each platen contact
    also carries a tangential linear spring of stiffness ``shear_stiffness`` (N/m; None:
    ``kn``) on the contact point's displacement along the platen, capped at
    ``friction``·F_n (Coulomb), acting at the contact point (so it turns the particle).
    The platens do not move sideways, so friction holds the sample's ends as a
    laboratory's steel platens do; in particular it resists the sample's rotation about
    its axis, which nothing else does (``docs/stick-slip.md``). Its slip is booked as
    friction, its springs' energy as the walls' strain energy.
    """

    z_bottom: float
    z_top: float
    kn: float
    mode: str = "velocity"
    target_stress: float = 0.0
    velocity: float = 0.0
    frame_stiffness: float | None = None
    servo_gain: float = 0.5
    max_velocity: float | None = None
    friction: float = 0.0
    shear_stiffness: float | None = None

    def __post_init__(self) -> None:
        zb = _finite("Platens.z_bottom", self.z_bottom)
        zt = _finite("Platens.z_top", self.z_top)
        if zt <= zb:
            raise ParameterError(f"Platens overlap or are inverted: z_top={zt} must exceed z_bottom={zb}")
        _positive("Platens.kn", self.kn)
        if self.mode not in ("servo", "velocity"):
            raise ParameterError(f"Platens.mode must be 'servo' or 'velocity', got {self.mode!r}")
        _finite("Platens.target_stress", self.target_stress)
        _finite("Platens.velocity", self.velocity)
        if self.frame_stiffness is not None:
            _positive("Platens.frame_stiffness", self.frame_stiffness)
        g = _positive("Platens.servo_gain", self.servo_gain)
        if g > 1.0:
            raise ParameterError(f"Platens.servo_gain must be at most 1 for a stable servo, got {g}")
        if self.max_velocity is not None:
            _positive("Platens.max_velocity", self.max_velocity)
        mu = _finite("Platens.friction", self.friction)
        if mu < 0.0:
            raise ParameterError(f"Platens.friction must be >= 0, got {mu}")
        if self.shear_stiffness is not None:
            _positive("Platens.shear_stiffness", self.shear_stiffness)


@dataclass(frozen=True)
class ConfiningCylinder:
    """Lateral confinement of a cylindrical sample (axis z through ``center``).

    ``mode="pressure"`` (default): a membrane-like boundary. Every step the outermost
    particle of each (θ, z) surface cell receives the inward radial force
    ``target_stress``·(cell area). The boundary follows any sample shape, so the two
    blocks of a saw-cut sample can offset laterally while the fault slips. ``radius`` is
    the initial sample radius (it sets the cell layout). ``kn`` and ``servo_gain`` are
    unused in this mode.

    ``mode="wall"``: a rigid frictionless cylinder of stiffness ``kn`` (N/m) whose radius
    is servo-controlled towards ``target_stress`` (PFC servo, gain ``servo_gain`` ≤ 0.5;
    ``servo_gain=0`` keeps the cylinder fixed). One rigid cylinder around both blocks of a
    saw-cut sample pushes back on their lateral offset (about kn × contacts × offset).

    ``mode="jacket"``: a floating split cylinder. The wall is cut into two coaxial rigid
    segments of the common, servo-controlled radius, one per fault block (particles'
    ``side`` 0/1); each segment's centre is servo-controlled (same gain) so that its net
    lateral force on its block is what a uniform pressure equal to the measured radial
    stress exerts on that block's lateral surface, σ_c·πR²/|n_z|·n_h (n the fault normal
    out of the block: the horizontal thrust on a block cut by the fault plane; zero without
    a joint). That force does not depend on where the block sits, so the segments follow
    the blocks' lateral offset without resisting it, as the jacket of a triaxial cell
    under constant fluid pressure does, while each block is confined by a smooth rigid
    wall. The segments float along the fault's horizontal dip direction, the direction of
    the blocks' offset; along strike they stay put as the wall does (a thrust fixed in
    the lab frame on segments free in both directions would spin the sample about its
    axis). Without a joint the one segment floats freely at zero net force. The fault
    plane must cross the lateral surface between the platens. ``max_velocity`` also
    bounds the centres' speed.
    """

    radius: float
    kn: float
    target_stress: float
    servo_gain: float = 0.5
    mode: str = "pressure"
    center: tuple[float, float] = (0.0, 0.0)
    max_velocity: float | None = None

    def __post_init__(self) -> None:
        _positive("ConfiningCylinder.radius", self.radius)
        _positive("ConfiningCylinder.kn", self.kn)
        _positive("ConfiningCylinder.target_stress", self.target_stress, allow_zero=True)
        g = _positive("ConfiningCylinder.servo_gain", self.servo_gain, allow_zero=True)
        if g > 1.0:
            raise ParameterError(f"ConfiningCylinder.servo_gain must be at most 1, got {g}")
        if self.mode not in ("pressure", "wall", "jacket"):
            raise ParameterError(f"ConfiningCylinder.mode must be 'pressure', 'wall' or 'jacket', got {self.mode!r}")
        c = np.asarray(self.center, dtype=float).reshape(-1)
        if c.shape != (2,) or not np.all(np.isfinite(c)):
            raise ParameterError(f"ConfiningCylinder.center must be (x, y), got {self.center!r}")
        if self.max_velocity is not None:
            _positive("ConfiningCylinder.max_velocity", self.max_velocity)
