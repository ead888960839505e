"""The DEM engine: particle state, bonds, walls, run loop, checkpoints (see package docstring)."""

from __future__ import annotations

import math

import numba
import numpy as np

from labquake.errors import ParameterError

from . import _kernels as K
from . import exactmath as EM
from .laws import flat_joint as FJ
from .params import (
    KIND_FAULT,
    KIND_ROCK,
    ConfiningCylinder,
    FaultHealing,
    FlatJoint,
    LinearContact,
    Platens,
    RockBond,
    SmoothJoint,
)

_UNSET = object()

# order matters only for readability; every array here goes into state_dict()
_PARTICLE_ARRAYS = ("pos", "vel", "omg", "frc", "trq", "rad", "mass", "minv", "iinv", "fixed",
                    "side", "oid", "idx_of", "ext", "x0")
_PAIR_ARRAYS = ("pi", "pj", "istart", "jstart", "jslots", "hist", "roll", "hold", "pst", "pbd")
_BOND_ARRAYS = ("bfn", "bfs", "bmom", "bprop", "bst", "bids", "bfj")
_OTHER_ARRAYS = ("prm", "wal", "cnt", "crf", "cri", "meta", "fjg", "enr")
#: arrays a state dict of an older labquake may lack (rebuilt by from_state_dict)
_OPTIONAL_ARRAYS = ("enr", "hold")
#: columns of the crack records: cri (step, kind, mode, particle a, particle b, healed)
_NCRI = 6

# bond table columns: area, radius, tensile strength, cohesion, tan(friction angle), kind,
# I = pi R^4 / 4, R / I, R / J (J = 2 I), 1 / area, kn and ks per area (Pa/m)
_NBPROP = 12

# meta vector layout
_M_DENSITY = 0
_M_DTSAFE = 1
_M_CRIT = 2
_M_DSCALE = 3
_M_NTHREADS = 4
_M_HASBOND = 5
_M_BRES = 6
_M_HASCYL = 7
_M_CYLR0 = 8
_M_HASJ = 9
_M_SJAREA = 10
_M_DTGIVEN = 11
_M_FJMOD = 12  # flat joint: E*, kn/ks, rings, sectors (0 when the rock bonds are parallel bonds)
_M_FJRATIO = 13
_M_FJNR = 14
_M_FJNA = 15
_NMETA = 16


def _as_positions(positions) -> np.ndarray:
    x = np.array(positions, dtype=np.float64, copy=True)
    if x.ndim != 2 or x.shape[1] != 3 or x.shape[0] < 1:
        raise ParameterError(f"positions must be an (N, 3) array with N >= 1, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = int(np.argwhere(~np.isfinite(x))[0, 0])
        raise ParameterError(f"positions contain NaN or infinite values (first at particle {bad})")
    return np.ascontiguousarray(x)


class Engine:
    """A 3D soft-sphere DEM engine (see :mod:`labquake.sim.dem` for the physics and the API)."""

    # ------------------------------------------------------------------ construction
    def __init__(self, positions, radii, density, contact: LinearContact,
                 bond: RockBond | FlatJoint | None = None, joint: SmoothJoint | None = None, side=None,
                 platens: Platens | None = None, cylinder: ConfiningCylinder | None = None,
                 dt: float | None = None, dt_safety: float = 0.2, local_damping: float = 0.0,
                 density_scale: float = 1.0, n_threads: int = 1, skin: float | None = None,
                 sort_every: int = 10, fixed=None, velocities=None, angular_velocities=None,
                 parallel_min_pairs: int = 20000):
        pos = _as_positions(positions)
        n = pos.shape[0]
        rad = np.array(radii, dtype=np.float64, copy=True).reshape(-1)
        if rad.shape != (n,):
            raise ParameterError(f"radii must have shape ({n},), got {rad.shape}")
        if not np.all(np.isfinite(rad)) or np.any(rad <= 0.0):
            raise ParameterError("radii must be finite and positive")
        try:
            density = float(density)
        except (TypeError, ValueError):
            raise ParameterError(f"density must be a number, got {density!r}") from None
        if not math.isfinite(density) or density <= 0.0:
            raise ParameterError(f"density must be positive, got {density}")
        if not isinstance(contact, LinearContact):
            raise ParameterError("contact must be a labquake.sim.dem.LinearContact")
        if bond is not None and not isinstance(bond, (RockBond, FlatJoint)):
            raise ParameterError("bond must be a labquake.sim.dem.RockBond, a labquake.sim.dem.FlatJoint or None")
        if joint is not None and not isinstance(joint, SmoothJoint):
            raise ParameterError("joint must be a labquake.sim.dem.SmoothJoint or None")
        if platens is not None and not isinstance(platens, Platens):
            raise ParameterError("platens must be a labquake.sim.dem.Platens or None")
        if cylinder is not None and not isinstance(cylinder, ConfiningCylinder):
            raise ParameterError("cylinder must be a labquake.sim.dem.ConfiningCylinder or None")
        dt_safety = float(dt_safety)
        if not (0.0 < dt_safety <= 1.0):
            raise ParameterError(f"dt_safety must lie in (0, 1], got {dt_safety}")
        local_damping = float(local_damping)
        if not (0.0 <= local_damping < 1.0):
            raise ParameterError(f"local_damping must lie in [0, 1), got {local_damping}")
        density_scale = float(density_scale)
        if not math.isfinite(density_scale) or density_scale < 1.0:
            raise ParameterError(f"density_scale must be >= 1, got {density_scale}")
        n_threads = int(n_threads)
        if n_threads < 1:
            raise ParameterError(f"n_threads must be >= 1, got {n_threads}")
        parallel_min_pairs = int(parallel_min_pairs)
        if parallel_min_pairs < 0:
            raise ParameterError(f"parallel_min_pairs must be >= 0, got {parallel_min_pairs}")
        sort_every = int(sort_every)
        if sort_every < 0:
            raise ParameterError(f"sort_every must be >= 0, got {sort_every}")
        if side is None:
            side_arr = np.zeros(n, dtype=np.int8)
        else:
            side_arr = np.array(side).reshape(-1)
            if side_arr.shape != (n,) or not np.all(np.isin(side_arr, (0, 1))):
                raise ParameterError(f"side must be an ({n},) array of 0/1 block labels")
            side_arr = side_arr.astype(np.int8)
        fixed_arr = np.zeros(n, dtype=np.int8) if fixed is None else np.asarray(fixed).reshape(-1).astype(np.int8)
        if fixed_arr.shape != (n,):
            raise ParameterError(f"fixed must have shape ({n},)")
        rmean = float(rad.mean())
        if skin is None:
            skin = 0.3 * rmean
        skin = float(skin)
        if not math.isfinite(skin) or skin <= 0.0:
            raise ParameterError(f"skin must be positive, got {skin}")

        vol = 4.0 / 3.0 * math.pi * (rad * rad * rad)  # not ** (libm pow)
        mass = density * density_scale * vol
        inertia = 0.4 * mass * rad * rad

        # critical time step (per particle: translational and rotational)
        kt = np.full(n, max(contact.kn, contact.ks))
        kr = np.full(n, contact.ks * 1.0) * rad * rad
        if platens is not None:
            kt = np.maximum(kt, platens.kn)
        if cylinder is not None and cylinder.mode in ("wall", "jacket"):
            kt = np.maximum(kt, cylinder.kn)
        if isinstance(bond, FlatJoint):
            # a flat joint replaces the contact; k̄n = E*/(ri + rj) is largest for the
            # smallest pair, 2 r of this particle
            rb = bond.radius_multiplier * rad
            a = math.pi * rb * rb
            ib = 0.25 * math.pi * ((rb * rb) * (rb * rb))
            knpa = bond.modulus / (2.0 * rad)
            kspa = knpa / bond.stiffness_ratio
            kt = np.maximum(kt, np.maximum(knpa, kspa) * a)
            kr = np.maximum(kr, np.maximum(kspa * a * rad * rad, knpa * ib))
        elif bond is not None:
            rb = bond.radius_multiplier * rad
            a = math.pi * rb * rb
            ib = 0.25 * math.pi * ((rb * rb) * (rb * rb))
            # a bond acts in parallel with the frictional contact: the stiffnesses add
            kc = max(contact.kn, contact.ks)
            kt = np.maximum(kt, kc + max(bond.kn_per_area, bond.ks_per_area) * a)
            kr = np.maximum(kr, contact.ks * rad * rad
                            + np.maximum(bond.ks_per_area * a * rad * rad, bond.kn_per_area * ib))
            kr = np.maximum(kr, contact.ks * rad * rad + bond.ks_per_area * 2.0 * ib)
        if joint is not None:
            if joint.area is not None:
                a = np.full(n, joint.area)
            else:
                rj = joint.radius_multiplier * rad
                a = math.pi * rj * rj
            kt = np.maximum(kt, max(joint.kn_per_area, joint.ks_per_area) * a)
            kr = np.maximum(kr, max(joint.kn_per_area, joint.ks_per_area) * a * rad * rad)
        crit = float(min(np.min(np.sqrt(mass / kt)), np.min(np.sqrt(inertia / np.maximum(kr, 1e-300)))))
        if dt is None:
            dt_val = dt_safety * crit
        else:
            try:
                dt_val = float(dt)
            except (TypeError, ValueError):
                raise ParameterError(f"dt must be a number, got {dt!r}") from None
            if not math.isfinite(dt_val) or dt_val <= 0.0:
                raise ParameterError(f"dt must be positive, got {dt}")
            if dt_val > crit:
                raise ParameterError(
                    f"dt={dt_val:.4g} s exceeds the critical time step {crit:.4g} s; "
                    f"use dt <= {crit:.4g} (or leave dt=None for {dt_safety}*critical)")

        # walls
        wal = np.zeros(K.NWAL)
        zlo = float(np.min(pos[:, 2] - rad))
        zhi = float(np.max(pos[:, 2] + rad))
        wal[K.W_ZB] = zlo
        wal[K.W_ZT] = zhi
        if platens is not None:
            if np.any(pos[:, 2] <= platens.z_bottom) or np.any(pos[:, 2] >= platens.z_top):
                raise ParameterError("particles lie outside the platens (centre below z_bottom or above z_top)")
            wal[K.W_HASP] = 1.0
            wal[K.W_ZB] = platens.z_bottom
            wal[K.W_ZT] = platens.z_top
            wal[K.W_ZT0] = platens.z_top
            wal[K.W_ZD] = platens.z_top
            wal[K.W_PKN] = platens.kn
            wal[K.W_PMODE] = 1.0 if platens.mode == "servo" else 2.0
            wal[K.W_PVEL] = platens.velocity
            wal[K.W_PTGT] = platens.target_stress
            wal[K.W_KF] = platens.frame_stiffness or 0.0
            wal[K.W_PGAIN] = platens.servo_gain
            wal[K.W_PVMAX] = platens.max_velocity if platens.max_velocity is not None else 1e-3 * rmean / dt_val
        if cylinder is not None:
            cx, cy = (float(c) for c in cylinder.center)
            rho = EM.hypot(pos[:, 0] - cx, pos[:, 1] - cy)
            if cylinder.mode in ("wall", "jacket") and np.any(rho >= cylinder.radius):
                raise ParameterError("particles lie outside the confining cylinder (centre beyond its radius)")
            wal[K.W_CMODE] = {"pressure": 1.0, "wall": 2.0, "jacket": 3.0}[cylinder.mode]
            wal[K.W_CR] = cylinder.radius
            wal[K.W_CREFF] = cylinder.radius
            wal[K.W_CKN] = cylinder.kn
            wal[K.W_CTGT] = cylinder.target_stress
            wal[K.W_CGAIN] = cylinder.servo_gain
            wal[K.W_CVMAX] = cylinder.max_velocity if cylinder.max_velocity is not None else 1e-3 * rmean / dt_val
            wal[K.W_CX] = cx
            wal[K.W_CY] = cy
            if cylinder.mode == "jacket":  # both segments start coaxial with the cylinder
                wal[K.W_JCX1] = cx
                wal[K.W_JCY1] = cy
            h = wal[K.W_ZT] - wal[K.W_ZB]
            wal[K.W_NTH] = max(8, int(round(2.0 * math.pi * cylinder.radius / (2.0 * rmean))))
            wal[K.W_NZ] = max(1, int(round(h / (2.0 * rmean))))
            wal[K.W_CMARG] = 4.0 * float(rad.max())

        prm = np.zeros(K.NPRM)
        prm[K.P_DT] = dt_val
        prm[K.P_KN] = contact.kn
        prm[K.P_KS] = contact.ks
        prm[K.P_MU] = contact.mu
        prm[K.P_ZETA] = contact.damping_ratio
        prm[K.P_RMU] = contact.rolling_mu
        prm[K.P_BMU] = contact.mu
        prm[K.P_BETA] = 1.0
        if isinstance(bond, FlatJoint):
            prm[K.P_NFJ] = bond.n_elements
            prm[K.P_BMU] = bond.residual_mu
            prm[K.P_BRM] = bond.radius_multiplier
        elif bond is not None:
            prm[K.P_BKN] = bond.kn_per_area
            prm[K.P_BKS] = bond.ks_per_area
            prm[K.P_BMU] = bond.residual_mu
            prm[K.P_BRM] = bond.radius_multiplier
            prm[K.P_BETA] = bond.moment_factor
        if joint is not None:
            u = joint.unit_normal
            prm[K.P_HASJ] = 1.0
            prm[K.P_JKN] = joint.kn_per_area
            prm[K.P_JKS] = joint.ks_per_area
            prm[K.P_JMU] = joint.residual_mu
            prm[K.P_JNX], prm[K.P_JNY], prm[K.P_JNZ] = u
            prm[K.P_JAREA] = joint.area or 0.0
            prm[K.P_JRM] = joint.radius_multiplier
            proj = pos[:, 0] * u[0] + pos[:, 1] * u[1] + pos[:, 2] * u[2]  # not BLAS
            m0 = proj[side_arr == 0]
            m1 = proj[side_arr == 1]
            sg = 1.0
            if m0.size and m1.size and m1.mean() < m0.mean():
                sg = -1.0
            prm[K.P_JSGN] = sg
            if joint.healing is not None:
                h = joint.healing
                prm[K.P_HEAL] = 1.0
                prm[K.P_HRATE] = h.rate
                prm[K.P_HTC] = h.cutoff_time
                prm[K.P_HCMAX] = h.max_cohesion
                prm[K.P_HTRAT] = h.tensile_ratio
                prm[K.P_HCRK] = h.crack_cohesion
        prm[K.P_ALPHA] = local_damping
        prm[K.P_SKIN] = skin
        if wal[K.W_CMODE] == 3.0 and joint is not None and np.any(side_arr == 0) and np.any(side_arr == 1):
            # uniform pressure p on the lateral surface of block 0 (cut by the fault plane,
            # ellipse area πR²/|n_z|, n from block 0 into block 1) thrusts it by p·πR²·n_h/|n_z|
            n01 = prm[K.P_JSGN] * np.array([prm[K.P_JNX], prm[K.P_JNY], prm[K.P_JNZ]])
            if abs(n01[2]) < 1e-6:
                raise ParameterError("confinement 'jacket' needs a fault plane that crosses the sample's lateral "
                                     "surface (its normal must not be perpendicular to the axis)")
            wal[K.W_JQX] = n01[0] / abs(n01[2])
            wal[K.W_JQY] = n01[1] / abs(n01[2])
            nh = math.sqrt(n01[0] * n01[0] + n01[1] * n01[1])
            if nh > 0.0:  # float along the dip direction only (a horizontal fault: no thrust, free)
                wal[K.W_JAXIS] = 1.0
                wal[K.W_JEX] = n01[0] / nh
                wal[K.W_JEY] = n01[1] / nh

        cnt = np.zeros(K.NCNT, dtype=np.int64)
        cnt[K.C_SORTEV] = sort_every
        cnt[K.C_NTHR] = n_threads
        cnt[K.C_PARMIN] = parallel_min_pairs

        meta = np.zeros(_NMETA)
        meta[_M_DENSITY] = density
        meta[_M_DTSAFE] = dt_safety
        meta[_M_CRIT] = crit
        meta[_M_DSCALE] = density_scale
        meta[_M_NTHREADS] = n_threads
        meta[_M_HASBOND] = 1.0 if bond is not None else 0.0
        meta[_M_HASCYL] = 1.0 if cylinder is not None else 0.0
        meta[_M_HASJ] = 1.0 if joint is not None else 0.0
        meta[_M_DTGIVEN] = 1.0 if dt is not None else 0.0
        if isinstance(bond, FlatJoint):
            meta[_M_FJMOD] = bond.modulus
            meta[_M_FJRATIO] = bond.stiffness_ratio
            meta[_M_FJNR] = bond.n_radial
            meta[_M_FJNA] = bond.n_circumferential

        a = {}
        a["pos"] = pos
        a["vel"] = np.zeros((n, 3))
        if velocities is not None:
            v = np.array(velocities, dtype=np.float64).reshape(n, 3)
            if not np.all(np.isfinite(v)):
                raise ParameterError("velocities contain NaN or infinite values")
            a["vel"] = np.ascontiguousarray(v)
        a["omg"] = np.zeros((n, 3))
        if angular_velocities is not None:
            w = np.array(angular_velocities, dtype=np.float64).reshape(n, 3)
            if not np.all(np.isfinite(w)):
                raise ParameterError("angular_velocities contain NaN or infinite values")
            a["omg"] = np.ascontiguousarray(w)
        a["frc"] = np.zeros((n, 3))
        a["trq"] = np.zeros((n, 3))
        a["rad"] = rad
        a["mass"] = mass
        a["minv"] = 1.0 / mass
        a["iinv"] = 1.0 / inertia
        a["fixed"] = fixed_arr
        a["side"] = side_arr
        a["oid"] = np.arange(n, dtype=np.int64)
        a["idx_of"] = np.arange(n, dtype=np.int64)
        a["ext"] = np.zeros((n, 3))
        a["x0"] = pos.copy()
        a["pi"] = np.zeros(0, dtype=np.int32)
        a["pj"] = np.zeros(0, dtype=np.int32)
        a["istart"] = np.zeros(n + 1, dtype=np.int64)
        a["jstart"] = np.zeros(n + 1, dtype=np.int64)
        a["jslots"] = np.zeros(0, dtype=np.int64)
        a["hist"] = np.zeros((0, 4))
        a["roll"] = np.zeros((0, 3))
        a["hold"] = np.zeros(0)  # sized with the pair list by _rebuild when healing is on
        a["pst"] = np.zeros(0, dtype=np.int8)
        a["pbd"] = np.zeros(0, dtype=np.int32)
        a["bfn"] = np.zeros(0)
        a["bfs"] = np.zeros((0, 3))
        a["bmom"] = np.zeros((0, 3))
        a["bprop"] = np.zeros((0, _NBPROP))
        a["bst"] = np.zeros(0, dtype=np.int8)
        a["bids"] = np.zeros((0, 2), dtype=np.int64)
        n_el = bond.n_elements if isinstance(bond, FlatJoint) else 0
        a["bfj"] = np.zeros((0, FJ.state_width(n_el) if n_el else 0))
        a["fjg"] = (FJ.element_geometry(bond.n_radial, bond.n_circumferential) if n_el else np.zeros((0, 6)))
        a["prm"] = prm
        a["wal"] = wal
        a["cnt"] = cnt
        a["crf"] = np.zeros((0, 7))
        a["cri"] = np.zeros((0, _NCRI), dtype=np.int64)
        a["meta"] = meta
        a["enr"] = np.zeros(K.NENR)
        self._a = a
        self._contact = contact
        self._bond = bond
        self._joint = joint
        self._platens = platens
        self._cylinder = cylinder
        self._bond_index: dict | None = None
        self._rebuild(sort=True)
        # the energy budget opens with the energy stored in the initial state
        a["enr"][K.E_SET] = self.strain_energy() + self.kinetic_energy()

    # ------------------------------------------------------------------ internals
    def _rebuild(self, sort: bool) -> None:
        a = self._a
        out = K._rebuild(a["pos"], a["vel"], a["omg"], a["frc"], a["trq"], a["rad"], a["mass"], a["minv"],
                         a["iinv"], a["fixed"], a["side"], a["oid"], a["idx_of"], a["ext"], a["x0"],
                         a["pi"], a["pj"], a["hist"], a["roll"], a["hold"], a["pst"], a["pbd"], a["bfn"], a["bfs"],
                         a["bmom"], a["bprop"], a["bst"], a["bfj"], a["prm"], a["crf"], a["cri"], a["cnt"], sort)
        for name, arr in zip(_PAIR_ARRAYS, out):
            a[name] = arr

    def _user(self, arr: np.ndarray) -> np.ndarray:
        out = arr[self._a["idx_of"]]
        out.flags.writeable = False
        return out

    # ------------------------------------------------------------------ properties
    @property
    def dt(self) -> float:
        return float(self._a["prm"][K.P_DT])

    @property
    def critical_dt(self) -> float:
        return float(self._a["meta"][_M_CRIT])

    @property
    def step_count(self) -> int:
        return int(self._a["cnt"][K.C_STEP])

    @property
    def time(self) -> float:
        return self.step_count * self.dt

    @property
    def n_particles(self) -> int:
        return int(self._a["pos"].shape[0])

    @property
    def n_threads(self) -> int:
        return int(self._a["cnt"][K.C_NTHR])

    @n_threads.setter
    def n_threads(self, value: int) -> None:
        value = int(value)
        if value < 1:
            raise ParameterError(f"n_threads must be >= 1, got {value}")
        self._a["cnt"][K.C_NTHR] = value
        self._a["meta"][_M_NTHREADS] = value

    @property
    def parallel_min_pairs(self) -> int:
        """Neighbour pairs from which the threaded force path runs (with ``n_threads > 1``)."""
        return int(self._a["cnt"][K.C_PARMIN])

    @parallel_min_pairs.setter
    def parallel_min_pairs(self, value: int) -> None:
        value = int(value)
        if value < 0:
            raise ParameterError(f"parallel_min_pairs must be >= 0, got {value}")
        self._a["cnt"][K.C_PARMIN] = value

    @property
    def positions(self) -> np.ndarray:
        return self._user(self._a["pos"])

    @property
    def velocities(self) -> np.ndarray:
        return self._user(self._a["vel"])

    @property
    def angular_velocities(self) -> np.ndarray:
        return self._user(self._a["omg"])

    @property
    def radii(self) -> np.ndarray:
        return self._user(self._a["rad"])

    @property
    def masses(self) -> np.ndarray:
        return self._user(self._a["mass"])

    @property
    def forces(self) -> np.ndarray:
        """Total force on each particle at the last step (N, 3)."""
        return self._user(self._a["frc"])

    @property
    def side(self) -> np.ndarray:
        return self._user(self._a["side"])

    @property
    def n_pairs(self) -> int:
        return int(self._a["pi"].shape[0])

    @property
    def n_bonds(self) -> int:
        return int(self._a["bst"].shape[0])

    @property
    def n_intact_bonds(self) -> int:
        return int(np.count_nonzero(self._a["bst"] == 1))

    # ------------------------------------------------------------------ setters (additions)
    def set_external_forces(self, forces) -> None:
        """Constant external force per particle (N, 3), in user-id order (e.g. gravity)."""
        f = np.array(forces, dtype=np.float64).reshape(self.n_particles, 3)
        if not np.all(np.isfinite(f)):
            raise ParameterError("external forces must be finite")
        a = self._a
        a["ext"][a["idx_of"]] = f
        a["cnt"][K.C_HASEXT] = 1 if np.any(f != 0.0) else 0

    def set_velocities(self, ids, velocities=None, angular_velocities=None) -> None:
        """Set the velocity (and/or angular velocity) of the given user ids."""
        a = self._a
        idx = a["idx_of"][np.asarray(ids, dtype=np.int64)]
        ke0 = self.kinetic_energy()
        if velocities is not None:
            v = np.asarray(velocities, dtype=np.float64)
            if not np.all(np.isfinite(v)):
                raise ParameterError("velocities must be finite")
            a["vel"][idx] = v
        if angular_velocities is not None:
            w = np.asarray(angular_velocities, dtype=np.float64)
            if not np.all(np.isfinite(w)):
                raise ParameterError("angular velocities must be finite")
            a["omg"][idx] = w
        self._book(self.kinetic_energy() - ke0)

    def set_fixed(self, ids, fixed: bool = True) -> None:
        """Mark particles as driven: they move with their set velocity, ignoring forces."""
        a = self._a
        ke0 = self.kinetic_energy()
        a["fixed"][a["idx_of"][np.asarray(ids, dtype=np.int64)]] = 1 if fixed else 0
        self._book(self.kinetic_energy() - ke0)  # a driven particle's kinetic energy leaves the budget

    def set_platens(self, mode=None, velocity=None, target_stress=None, frame_stiffness=_UNSET) -> None:
        """Change the top-platen control. Switching on a frame spring (or changing the mode)
        preloads it with the current platen force, so the load is continuous; changing the
        velocity alone keeps the drive point."""
        w = self._a["wal"]
        if w[K.W_HASP] == 0.0:
            raise ParameterError("this engine has no platens")
        ef0 = self._frame_energy()
        if mode is not None:
            if mode not in ("servo", "velocity"):
                raise ParameterError(f"platen mode must be 'servo' or 'velocity', got {mode!r}")
            w[K.W_PMODE] = 1.0 if mode == "servo" else 2.0
        if velocity is not None:
            v = float(velocity)
            if not math.isfinite(v):
                raise ParameterError("platen velocity must be finite")
            w[K.W_PVEL] = v
        if target_stress is not None:
            t = float(target_stress)
            if not math.isfinite(t):
                raise ParameterError("platen target stress must be finite")
            w[K.W_PTGT] = t
        if frame_stiffness is not _UNSET:
            if frame_stiffness is None:
                w[K.W_KF] = 0.0
            else:
                kf = float(frame_stiffness)
                if not math.isfinite(kf) or kf <= 0.0:
                    raise ParameterError(f"frame_stiffness must be positive, got {frame_stiffness}")
                w[K.W_KF] = kf
        if w[K.W_KF] <= 0.0:
            w[K.W_ZD] = w[K.W_ZT]
        elif mode is not None or frame_stiffness is not _UNSET:
            w[K.W_ZD] = w[K.W_ZT] - w[K.W_FTOP] / w[K.W_KF]
        # a new velocity alone leaves the frame spring's drive point where it is (an
        # adaptive drive changes speed without a jump in the spring's force)
        # preloading (or releasing) the frame spring is energy put in by the operator
        self._book(self._frame_energy() - ef0)

    def set_damping(self, local_damping=None, damping_ratio=None) -> None:
        """Change the PFC local damping α and/or the contact damping ratio ζ between stages
        (e.g. small α while recording a mainshock). Recorded in :meth:`metadata`."""
        prm = self._a["prm"]
        if local_damping is not None:
            a = float(local_damping)
            if not (0.0 <= a < 1.0):
                raise ParameterError(f"local_damping must lie in [0, 1), got {local_damping}")
            prm[K.P_ALPHA] = a
        if damping_ratio is not None:
            z = float(damping_ratio)
            if not (0.0 <= z < 1.0):
                raise ParameterError(f"damping_ratio must lie in [0, 1), got {damping_ratio}")
            prm[K.P_ZETA] = z
            self._contact = LinearContact(prm[K.P_KN], prm[K.P_KS], prm[K.P_MU], z, prm[K.P_RMU])

    def set_density_scale(self, density_scale: float) -> None:
        """Change the mass scaling (1 = physical masses), e.g. switch it off before the
        dynamic stage. Velocities are kept; the critical step scales with √scale and the
        current dt must stay below it."""
        a = self._a
        meta = a["meta"]
        new = float(density_scale)
        if not math.isfinite(new) or new < 1.0:
            raise ParameterError(f"density_scale must be >= 1, got {density_scale}")
        old = float(meta[_M_DSCALE])
        crit = float(meta[_M_CRIT]) * math.sqrt(new / old)
        if self.dt > crit:
            raise ParameterError(
                f"dt={self.dt:.4g} s exceeds the critical step {crit:.4g} s at density_scale={new}; "
                "lower dt first (set_dt)")
        ke0 = self.kinetic_energy()
        f = new / old
        a["mass"] *= f
        a["minv"] /= f
        a["iinv"] /= f
        meta[_M_DSCALE] = new
        meta[_M_CRIT] = crit
        self._book(self.kinetic_energy() - ke0)  # same velocities, other masses

    def set_dt(self, dt: float) -> None:
        """Change the time step (must not exceed the critical step)."""
        d = float(dt)
        if not math.isfinite(d) or d <= 0.0:
            raise ParameterError(f"dt must be positive, got {dt}")
        if d > self.critical_dt:
            raise ParameterError(f"dt={d:.4g} s exceeds the critical time step {self.critical_dt:.4g} s")
        self._a["prm"][K.P_DT] = d

    def set_cylinder(self, target_stress=None) -> None:
        w = self._a["wal"]
        if w[K.W_CMODE] == 0.0:
            raise ParameterError("this engine has no confining cylinder")
        if target_stress is not None:
            t = float(target_stress)
            if not math.isfinite(t) or t < 0.0:
                raise ParameterError(f"confining target stress must be >= 0, got {target_stress}")
            w[K.W_CTGT] = t

    # ------------------------------------------------------------------ bonds
    def install_bonds(self, i, j, tensile_strength, cohesion, friction_angle_deg, max_gap=None) -> int:
        """Bond the listed pairs (user ids). Returns the number of bonds installed.

        Pairs with side[i] != side[j] (and a joint) become bonded smooth joints, any other
        pair a rock bond. A pair may have a gap (up to ``max_gap``, default two largest
        radii); a bonded pair stays in the neighbour list however far it is stretched,
        until it breaks. Pairs must not be bonded already.
        """
        a = self._a
        i = np.asarray(i, dtype=np.int64).reshape(-1)
        j = np.asarray(j, dtype=np.int64).reshape(-1)
        if i.shape != j.shape:
            raise ParameterError("install_bonds: i and j must have the same length")
        m = i.size
        if m == 0:
            return 0
        n = self.n_particles
        if np.any(i < 0) or np.any(i >= n) or np.any(j < 0) or np.any(j >= n) or np.any(i == j):
            raise ParameterError("install_bonds: ids out of range or i == j")
        st = np.broadcast_to(np.asarray(tensile_strength, dtype=np.float64), (m,))
        co = np.broadcast_to(np.asarray(cohesion, dtype=np.float64), (m,))
        ph = np.broadcast_to(np.asarray(friction_angle_deg, dtype=np.float64), (m,))
        if not (np.all(np.isfinite(st)) and np.all(np.isfinite(co)) and np.all(np.isfinite(ph))):
            raise ParameterError("install_bonds: strengths must be finite")
        es0 = self.strain_energy()
        if np.any(st < 0) or np.any(co < 0):
            raise ParameterError("install_bonds: tensile strength and cohesion must be >= 0")
        if np.any(ph < 0) or np.any(ph >= 90):
            raise ParameterError("install_bonds: friction angle must lie in [0, 90) degrees")
        ia = a["idx_of"][i]
        ja = a["idx_of"][j]
        lo = np.minimum(ia, ja)
        hi = np.maximum(ia, ja)
        if len(np.unique(lo * n + hi)) != m:
            raise ParameterError("install_bonds: a pair is listed twice")
        slots = _find_slots(a["istart"], a["pj"], lo, hi)
        if np.any(slots < 0):
            miss = slots < 0
            r = a["rad"]
            gap = (np.linalg.norm(a["pos"][hi[miss]] - a["pos"][lo[miss]], axis=1) - r[lo[miss]] - r[hi[miss]])
            limit = max_gap if max_gap is not None else 2.0 * float(r.max())
            if np.any(gap > limit):
                k = int(np.flatnonzero(miss)[int(np.argmax(gap))])
                raise ParameterError(
                    f"install_bonds: particles {int(i[k])} and {int(j[k])} are {float(gap.max()):.3g} m apart "
                    f"(more than {limit:.3g} m); bond only touching or nearly touching pairs")
            # bonded pairs beyond the neighbour cutoff join the list and stay in it while bonded
            out = K._add_pairs(a["pi"], a["pj"], a["istart"], a["hist"], a["roll"], a["hold"], a["pst"], a["pbd"],
                               np.ascontiguousarray(lo[miss]), np.ascontiguousarray(hi[miss]),
                               bool(a["prm"][K.P_RMU] > 0.0), bool(a["prm"][K.P_HEAL] != 0.0))
            for name, arr in zip(_PAIR_ARRAYS, out):
                a[name] = arr
            slots = _find_slots(a["istart"], a["pj"], lo, hi)
        if len(np.unique(slots)) != m:
            raise ParameterError("install_bonds: a pair is listed twice")
        if np.any(a["pst"][slots] & K.F_BONDED):
            raise ParameterError("install_bonds: a listed pair is bonded already")
        sides = a["side"]
        cross = (sides[lo] != sides[hi]) & (a["prm"][K.P_HASJ] != 0.0)
        if np.any(~cross) and self._bond is None:
            raise ParameterError("install_bonds: rock bonds need a RockBond or FlatJoint parameter set (bond=...)")
        r = a["rad"]
        rmin = np.minimum(r[lo], r[hi])
        area = np.empty(m)
        rb = np.empty(m)
        if self._bond is not None:
            rb_rock = self._bond.radius_multiplier * rmin
            area[~cross] = math.pi * (rb_rock[~cross] * rb_rock[~cross])
            rb[~cross] = rb_rock[~cross]
        if np.any(cross):
            jt = self._joint
            if jt.area is not None:
                area[cross] = jt.area
            else:
                area[cross] = math.pi * np.square(jt.radius_multiplier * rmin[cross])
            rb[cross] = np.sqrt(area[cross] / math.pi)
        b0 = self.n_bonds
        ib = 0.25 * math.pi * ((rb * rb) * (rb * rb))
        if isinstance(self._bond, FlatJoint):
            knpa = self._bond.modulus / (r[lo] + r[hi])
            kspa = knpa / self._bond.stiffness_ratio
        else:
            knpa = np.full(m, a["prm"][K.P_BKN])
            kspa = np.full(m, a["prm"][K.P_BKS])
        props = np.column_stack([area, rb, st, co, EM.tan_array(np.deg2rad(ph)),
                                 np.where(cross, KIND_FAULT, KIND_ROCK).astype(float),
                                 ib, rb / ib, rb / (2.0 * ib), 1.0 / area, knpa, kspa])
        a["bprop"] = np.ascontiguousarray(np.vstack([a["bprop"], props]))
        a["bfn"] = np.concatenate([a["bfn"], np.zeros(m)])
        a["bfs"] = np.ascontiguousarray(np.vstack([a["bfs"], np.zeros((m, 3))]))
        a["bmom"] = np.ascontiguousarray(np.vstack([a["bmom"], np.zeros((m, 3))]))
        a["bst"] = np.concatenate([a["bst"], np.ones(m, dtype=np.int8)])
        ids = np.column_stack([np.minimum(i, j), np.maximum(i, j)])
        a["bids"] = np.ascontiguousarray(np.vstack([a["bids"], ids]))
        if a["bfj"].shape[1]:
            # stress-free joints across the current gap; t1 from the centre line oriented
            # from the lower to the higher user id (not the engine's internal order)
            d = a["pos"][a["idx_of"][np.maximum(i, j)]] - a["pos"][a["idx_of"][np.minimum(i, j)]]
            rows = FJ.initial_state(d / np.linalg.norm(d, axis=1, keepdims=True), self._bond.n_elements)
            a["bfj"] = np.ascontiguousarray(np.vstack([a["bfj"], rows]))
        else:
            a["bfj"] = np.zeros((a["bfj"].shape[0] + m, 0))
        a["pst"][slots] = (a["pst"][slots] & ~np.int8(K.F_BROKEN)) | np.int8(K.F_BONDED)
        a["pbd"][slots] = np.arange(b0, b0 + m, dtype=np.int32)
        if a["hold"].shape[0]:
            a["hold"][slots] = 0.0  # an intact bond does not heal
        # crack buffer: every bond (every flat-joint element) breaks at most once (with
        # healing, run() grows it as needed)
        ncr = int(a["cnt"][K.C_NCRK])
        cap = max(self.n_bonds * max(1, a["fjg"].shape[0]), a["crf"].shape[0])
        crf = np.zeros((cap, 7))
        cri = np.zeros((cap, _NCRI), dtype=np.int64)
        crf[:ncr] = a["crf"][:ncr]
        cri[:ncr] = a["cri"][:ncr]
        a["crf"] = crf
        a["cri"] = cri
        a["cnt"][K.C_NBOND] = self.n_bonds
        self._bond_index = None
        # bonds are installed stress-free; a flat joint replaces its pair's linear contact
        self._book(self.strain_energy() - es0)
        return m

    # ------------------------------------------------------------------ running
    def run(self, n_steps: int) -> None:
        """Advance ``n_steps`` steps (the whole loop, walls and servos included, is compiled)."""
        n_steps = int(n_steps)
        if n_steps < 0:
            raise ParameterError(f"n_steps must be >= 0, got {n_steps}")
        if n_steps == 0:
            return
        a = self._a
        nthr = int(a["cnt"][K.C_NTHR])
        heal = a["prm"][K.P_HEAL] != 0.0
        # Always start numba's threading layer: the cached _run calls parallel kernels and
        # crashes (null function pointer) if the layer was never launched in this process.
        prev = numba.get_num_threads()
        numba.set_num_threads(min(nthr, numba.config.NUMBA_NUM_THREADS))
        try:
            left = n_steps
            while left > 0:
                if heal:
                    self._crack_room()  # _run returns early when the crack buffer runs low
                step0 = int(a["cnt"][K.C_STEP])
                out = K._run(left, a["pos"], a["vel"], a["omg"], a["frc"], a["trq"], a["rad"], a["mass"],
                             a["minv"], a["iinv"], a["fixed"], a["side"], a["oid"], a["idx_of"], a["ext"], a["x0"],
                             a["pi"], a["pj"], a["istart"], a["jstart"], a["jslots"], a["hist"], a["roll"], a["hold"],
                             a["pst"], a["pbd"], a["bfn"], a["bfs"], a["bmom"], a["bprop"], a["bst"], a["bfj"],
                             a["fjg"], a["prm"], a["wal"], a["cnt"], a["crf"], a["cri"], a["enr"])
                for name, arr in zip(_PAIR_ARRAYS, out):
                    a[name] = arr
                left -= int(a["cnt"][K.C_STEP]) - step0
        finally:
            numba.set_num_threads(prev)
        if not np.all(np.isfinite(a["pos"])):
            raise ParameterError(
                f"the simulation became unstable (non-finite positions at step {self.step_count}); "
                "reduce dt or dt_safety")

    def _crack_room(self) -> None:
        """With healing, keep 4·pairs·max(1, elements) crack rows free (``_run`` stops
        when fewer than half of that are free), growing the buffer; kept rows stay."""
        a = self._a
        ncr = int(a["cnt"][K.C_NCRK])
        need = ncr + 4 * int(a["pi"].shape[0]) * max(1, int(a["fjg"].shape[0]))
        cap = int(a["crf"].shape[0])
        if cap >= need:
            return
        cap = max(need, 2 * cap)
        crf = np.zeros((cap, 7))
        cri = np.zeros((cap, _NCRI), dtype=np.int64)
        crf[:ncr] = a["crf"][:ncr]
        cri[:ncr] = a["cri"][:ncr]
        a["crf"] = crf
        a["cri"] = cri

    # ------------------------------------------------------------------ outputs
    def pop_cracks(self) -> dict:
        """Bond failures since the last call, in the order they happened."""
        a = self._a
        k = int(a["cnt"][K.C_NCRK])
        f = a["crf"][:k].copy()
        g = a["cri"][:k].copy()
        a["crf"][:k] = 0.0
        a["cri"][:k] = 0
        a["cnt"][K.C_NCRK] = 0
        return {
            "step": g[:, 0].copy(),
            "x": f[:, 0].copy(), "y": f[:, 1].copy(), "z": f[:, 2].copy(),
            "nx": f[:, 3].copy(), "ny": f[:, 4].copy(), "nz": f[:, 5].copy(),
            "size": f[:, 6].copy(),
            "kind": g[:, 1].astype(np.int8),
            "mode": g[:, 2].astype(np.int8),
            "particle_a": g[:, 3].copy(),
            "particle_b": g[:, 4].copy(),
            "healed": g[:, 5] != 0,
        }

    def _contact_rows(self) -> np.ndarray:
        a = self._a
        return K._contacts(a["pi"], a["pj"], a["pos"], a["vel"], a["rad"], a["mass"], a["side"], a["hist"],
                           a["pst"], a["pbd"], a["bfn"], a["bfs"], a["bprop"], a["prm"])

    def contacts(self) -> dict:
        """All current contacts (touching pairs and bonded pairs), ids are user ids."""
        a = self._a
        rows = self._contact_rows()
        s = rows[:, 0].astype(np.int64)
        return {
            "i": a["oid"][a["pi"][s]],
            "j": a["oid"][a["pj"][s]],
            "kind": rows[:, 1].astype(np.int8),
            "bonded": rows[:, 2] != 0.0,
            "fn": rows[:, 3].copy(),
            "fs": np.ascontiguousarray(rows[:, 4:7]),
            "normal": np.ascontiguousarray(rows[:, 7:10]),
            "point": np.ascontiguousarray(rows[:, 10:13]),
            "bond_area": rows[:, 13].copy(),
        }

    def neighbor_pairs(self, max_gap: float | None = None) -> dict:
        """Pairs of the neighbour list (user ids, i < j) with their surface gap
        (negative = overlap); only those with gap <= ``max_gap`` if given."""
        a = self._a
        pi = a["pi"].astype(np.int64)
        pj = a["pj"].astype(np.int64)
        d = np.linalg.norm(a["pos"][pj] - a["pos"][pi], axis=1)
        gap = d - a["rad"][pi] - a["rad"][pj]
        oi = a["oid"][pi]
        oj = a["oid"][pj]
        keep = np.ones(gap.shape, dtype=bool) if max_gap is None else gap <= float(max_gap)
        i = np.minimum(oi, oj)[keep]
        j = np.maximum(oi, oj)[keep]
        g = gap[keep]
        order = np.lexsort((j, i))
        return {"i": i[order], "j": j[order], "gap": g[order]}

    def lookup_pairs(self, i, j) -> dict:
        """State of the given pairs (user ids), in the given order: ``fn``, ``fs``
        (magnitude), ``broken``, ``present``; and, for fault healing, ``hold_time`` (s) and
        ``healed_cohesion`` (Pa, the cohesion the joint holds with in its next step; 0
        without healing)."""
        a = self._a
        i = np.asarray(i, dtype=np.int64).reshape(-1)
        j = np.asarray(j, dtype=np.int64).reshape(-1)
        ia = a["idx_of"][i]
        ja = a["idx_of"][j]
        slots = _find_slots(a["istart"], a["pj"], np.minimum(ia, ja), np.maximum(ia, ja))
        rows = self._contact_rows()
        row_of = np.full(a["pi"].shape[0] + 1, -1, dtype=np.int64)
        row_of[rows[:, 0].astype(np.int64)] = np.arange(rows.shape[0])
        r = np.where(slots >= 0, row_of[np.maximum(slots, 0)], -1)
        r[slots < 0] = -1
        present = r >= 0
        fn = np.where(present, rows[np.maximum(r, 0), 3] if rows.shape[0] else 0.0, 0.0)
        fs = np.where(present, np.linalg.norm(rows[np.maximum(r, 0), 4:7], axis=1) if rows.shape[0] else 0.0, 0.0)
        broken = np.zeros(i.size, dtype=bool)
        have = slots >= 0
        broken[have] = (a["pst"][slots[have]] & K.F_BROKEN) != 0
        if self.n_bonds:
            if self._bond_index is None:
                self._bond_index = {(int(p), int(q)): k for k, (p, q) in enumerate(a["bids"])}
            bi = self._bond_index
            bst = a["bst"]
            for k in np.flatnonzero(~have):
                key = (int(min(i[k], j[k])), int(max(i[k], j[k])))
                b = bi.get(key)
                if b is not None and bst[b] == 2:
                    broken[k] = True
        hold = np.zeros(i.size)
        if a["hold"].shape[0]:
            hold[have] = a["hold"][slots[have]]
        h = self._joint.healing if self._joint is not None else None
        healed = h.cohesion(hold) if h is not None else np.zeros(i.size)
        return {"fn": fn, "fs": fs, "broken": broken, "present": present, "hold_time": hold,
                "healed_cohesion": healed}

    def boundary_state(self) -> dict:
        """Wall positions, forces and the stresses derived from them (Pa, compression +)."""
        a = self._a
        w = a["wal"]
        if w[K.W_CMODE] != 0.0:
            r = w[K.W_CREFF]
        else:
            p = a["pos"]
            r = float(np.max(EM.hypot(p[:, 0], p[:, 1]) + a["rad"]))
        area = math.pi * r * r
        has_p = w[K.W_HASP] != 0.0
        ftop = float(w[K.W_FTOP]) if has_p else 0.0
        fbot = float(w[K.W_FBOT]) if has_p else 0.0
        return {
            "axial_stress": 0.5 * (ftop + fbot) / area if has_p else 0.0,
            "axial_stress_top": ftop / area if has_p else 0.0,
            "confining_stress": float(w[K.W_CSIG]),
            "z_bottom": float(w[K.W_ZB]),
            "z_top": float(w[K.W_ZT]),
            "z_drive": float(w[K.W_ZD]),
            "cylinder_radius": float(r),
            "platen_force_top": ftop,
            "platen_force_bottom": fbot,
            "platen_displacement": float(w[K.W_ZT0] - w[K.W_ZT]) if has_p else 0.0,
            "n_platen_contacts_top": int(w[K.W_NTOP]),
            "n_lateral_contacts": int(w[K.W_CN]),
            **(self._jacket_state() if w[K.W_CMODE] == 3.0 else {}),
        }

    def _jacket_state(self) -> dict:
        """The jacket segments (keys of :meth:`boundary_state` in jacket mode): centres (m),
        the offset of segment 1 relative to segment 0 (m), each segment's lateral force on
        its block and the target of that force (N), contacts per segment."""
        w = self._a["wal"]
        fs = w[K.W_CSIG] * math.pi * w[K.W_CR] * w[K.W_CR]
        return {
            "jacket_center_0_x": float(w[K.W_CX]), "jacket_center_0_y": float(w[K.W_CY]),
            "jacket_center_1_x": float(w[K.W_JCX1]), "jacket_center_1_y": float(w[K.W_JCY1]),
            "jacket_offset_x": float(w[K.W_JCX1] - w[K.W_CX]), "jacket_offset_y": float(w[K.W_JCY1] - w[K.W_CY]),
            "jacket_force_0_x": float(w[K.W_JGX0]), "jacket_force_0_y": float(w[K.W_JGY0]),
            "jacket_force_1_x": float(w[K.W_JGX1]), "jacket_force_1_y": float(w[K.W_JGY1]),
            "jacket_target_0_x": float(fs * w[K.W_JQX]), "jacket_target_0_y": float(fs * w[K.W_JQY]),
            "n_jacket_contacts_0": int(w[K.W_JN0]), "n_jacket_contacts_1": int(w[K.W_JN1]),
        }

    #: wall ids of :meth:`wall_contacts`
    WALL_BOTTOM, WALL_TOP, WALL_LATERAL = 0, 1, 2

    def wall_contacts(self) -> dict:
        """Particle–wall contacts of the current state (user ids), one row per particle and wall.

        ``wall`` (0 bottom platen, 1 top platen, 2 lateral boundary: rigid cylinder or
        pressure membrane), ``particle``, ``force`` (N, 3) on the particle by the wall and
        ``point`` (N, 3) where it acts (on the platen plane, on the cylinder, or at the
        outer surface of a membrane-loaded particle). Recomputed in numpy from the
        positions and the wall state, with the formulas of the step's wall kernel, so the
        forces are those the particles felt in the last step. A membrane particle that
        carries the load of several surface cells has one row with their sum.
        """
        a = self._a
        w = a["wal"]
        pos, rad = a["pos"], a["rad"]
        walls, parts, forces, points = [], [], [], []
        if w[K.W_HASP] != 0.0:
            kn = w[K.W_PKN]
            for wid, zw, sgn in ((self.WALL_BOTTOM, w[K.W_ZB], 1.0), (self.WALL_TOP, w[K.W_ZT], -1.0)):
                o = rad - sgn * (pos[:, 2] - zw)
                p = np.flatnonzero(o > 0.0)
                f = np.zeros((p.size, 3))
                f[:, 2] = sgn * kn * o[p]
                pt = pos[p].copy()
                pt[:, 2] = zw
                walls.append(np.full(p.size, wid))
                parts.append(p)
                forces.append(f)
                points.append(pt)
        cm = w[K.W_CMODE]
        if cm != 0.0:
            c = np.array([w[K.W_CX], w[K.W_CY]])
            xy = pos[:, :2] - c
            rho = EM.hypot(xy[:, 0], xy[:, 1])
            if cm == 3.0:  # each particle against the segment of its side
                c = self._jacket_centers()
                xy = pos[:, :2] - c
                rho = EM.hypot(xy[:, 0], xy[:, 1])
            if cm == 2.0 or cm == 3.0:
                o = rho + rad - w[K.W_CR]
                p = np.flatnonzero((o > 0.0) & (rho > 0.0))
                u = xy[p] / rho[p, None]
                fmag = w[K.W_CKN] * o[p]
                rpt = np.full(p.size, w[K.W_CR])
                if cm == 3.0:
                    c = c[p]
            else:
                p, fmag = self._membrane_loads(xy, rho)
                u = xy[p] / rho[p, None]
                rpt = rho[p] + rad[p]
            f = np.zeros((p.size, 3))
            f[:, :2] = -fmag[:, None] * u
            pt = np.column_stack([c + rpt[:, None] * u, pos[p, 2]])
            walls.append(np.full(p.size, self.WALL_LATERAL))
            parts.append(p)
            forces.append(f)
            points.append(pt)
        if not parts:
            return {"wall": np.zeros(0, np.int64), "particle": np.zeros(0, np.int64),
                    "force": np.zeros((0, 3)), "point": np.zeros((0, 3))}
        p = np.concatenate(parts)
        return {"wall": np.concatenate(walls).astype(np.int64), "particle": a["oid"][p].astype(np.int64),
                "force": np.concatenate(forces), "point": np.concatenate(points)}

    def _jacket_centers(self) -> np.ndarray:
        """(N, 2): the centre of the jacket segment of each particle (internal order)."""
        w = self._a["wal"]
        seg = np.array([[w[K.W_CX], w[K.W_CY]], [w[K.W_JCX1], w[K.W_JCY1]]])
        return seg[self._a["side"].astype(np.int64)]

    def _membrane_loads(self, xy: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Internal indices and radial load magnitudes of the pressure membrane (the same
        cell assignment as the wall kernel: the outermost particle of each (θ, z) cell and
        its 8 neighbours takes the cell's load σ_c × area)."""
        a = self._a
        w = a["wal"]
        pos, rad = a["pos"], a["rad"]
        nth, nzb = int(w[K.W_NTH]), int(w[K.W_NZ])
        zb = w[K.W_ZB]
        dth = 2.0 * math.pi / nth
        dzb = (w[K.W_ZT] - zb) / nzb
        ro = rho + rad
        cand = np.flatnonzero((a["fixed"] == 0) & (ro >= w[K.W_CRMIN] - w[K.W_CMARG]))
        th = EM.atan2_array(xy[cand, 1], xy[cand, 0]) + math.pi  # the kernel's atan2, bit for bit
        it = np.minimum(np.trunc(th / dth).astype(np.int64), nth - 1)
        iz = np.clip(np.trunc((pos[cand, 2] - zb) / dzb).astype(np.int64), 0, nzb - 1)
        k = iz * nth + it
        # per cell: the first (lowest internal index) particle of the largest outer radius
        o = np.lexsort((cand, -ro[cand], k))
        first = np.ones(o.size, dtype=bool)
        first[1:] = k[o][1:] != k[o][:-1]
        binr = np.full(nth * nzb, -1.0)
        bini = np.full(nth * nzb, -1, dtype=np.int64)
        binr[k[o][first]] = ro[cand][o][first]
        bini[k[o][first]] = cand[o][first]
        binr = binr.reshape(nzb, nth)
        bini = bini.reshape(nzb, nth)
        # 3 x 3 neighbourhood (θ periodic, z clipped) in the kernel's loop order; the first
        # strict maximum wins, as there
        cr, ci = [], []
        for dz in (-1, 0, 1):
            ez = np.arange(nzb) + dz
            ok = (ez >= 0) & (ez < nzb)
            ezc = np.clip(ez, 0, nzb - 1)
            for dt_ in (-1, 0, 1):
                et = (np.arange(nth) + dt_) % nth
                r = binr[ezc][:, et].copy()
                r[~ok] = -np.inf
                cr.append(r)
                ci.append(bini[ezc][:, et])
        cr = np.stack(cr)
        ci = np.stack(ci)
        best = np.argmax(cr, axis=0)
        rbest = np.take_along_axis(cr, best[None], 0)[0]
        pbest = np.take_along_axis(ci, best[None], 0)[0]
        use = (rbest > -1.0) & (pbest >= 0)
        load = w[K.W_CTGT] * rbest[use] * dth * dzb
        p = pbest[use]
        keep = rho[p] > 0.0
        p, load = p[keep], load[keep]
        up, inv = np.unique(p, return_inverse=True)
        tot = np.zeros(up.size)
        np.add.at(tot, inv, load)
        return up, tot

    def kinetic_energy(self) -> float:
        a = self._a
        free = a["fixed"] == 0
        v = a["vel"][free]
        w = a["omg"][free]
        return float(0.5 * np.sum(a["mass"][free] * np.einsum("ij,ij->i", v, v))
                     + 0.5 * np.sum(np.einsum("ij,ij->i", w, w) / a["iinv"][free]))

    def elastic_energy(self) -> float:
        """Strain energy stored in contact springs, bonds and smooth joints (walls excluded)."""
        a = self._a
        prm = a["prm"]
        rows = self._contact_rows()
        e = 0.0
        s = rows[:, 0].astype(np.int64)
        kind = rows[:, 1]
        bonded = rows[:, 2] != 0.0
        pi = a["pi"][s]
        pj = a["pj"][s]
        d = np.linalg.norm(a["pos"][pj] - a["pos"][pi], axis=1)
        ov = a["rad"][pi] + a["rad"][pj] - d
        fj_mode = prm[K.P_NFJ] != 0.0
        lin = ((kind == 0) | ((kind == 1) & (not fj_mode))) & (ov > 0)
        e += 0.5 * prm[K.P_KN] * np.sum(ov[lin] ** 2)
        h = a["hist"][s[lin], :3]
        e += 0.5 * prm[K.P_KS] * np.sum(h * h)
        rock = (kind == 1) & bonded
        if fj_mode:
            e += self._flat_joint_energy(a["pbd"][s[kind == 1]])
        elif np.any(rock):
            b = a["pbd"][s[rock]]
            ar = a["bprop"][b, 0]
            rb = a["bprop"][b, 1]
            ib = 0.25 * math.pi * ((rb * rb) * (rb * rb))
            e += np.sum(0.5 * a["bfn"][b] ** 2 / (prm[K.P_BKN] * ar))
            if prm[K.P_BKS] > 0:
                e += np.sum(0.5 * np.sum(a["bfs"][b] ** 2, axis=1) / (prm[K.P_BKS] * ar))
            e += np.sum(0.5 * np.sum(a["bmom"][b] ** 2, axis=1) / (prm[K.P_BKN] * ib))
        sj = kind == 2
        if np.any(sj):
            ar = np.where(rows[sj, 13] > 0, rows[sj, 13], self._joint_area(pi[sj], pj[sj]))
            e += np.sum(0.5 * rows[sj, 3] ** 2 / (prm[K.P_JKN] * ar))
            if prm[K.P_JKS] > 0:
                e += np.sum(0.5 * np.sum(rows[sj, 4:7] ** 2, axis=1) / (prm[K.P_JKS] * ar))
        return float(e)

    # ------------------------------------------------------------------ energy budget
    def _book(self, delta: float) -> None:
        """Book an energy change made between runs (a setter) as boundary work."""
        self._a["enr"][K.E_SET] += float(delta)

    def _frame_energy(self) -> float:
        """½ k_f (z_top − z_drive)² while the loading-frame spring is in the load path
        (velocity mode with a frame stiffness); 0 otherwise."""
        w = self._a["wal"]
        if w[K.W_HASP] == 0.0 or w[K.W_PMODE] != 2.0 or w[K.W_KF] <= 0.0:
            return 0.0
        stretch = float(w[K.W_ZT] - w[K.W_ZD])
        return 0.5 * float(w[K.W_KF]) * (stretch * stretch)  # not ** 2: a scalar power is libm's pow, not portable

    def strain_energy_parts(self) -> dict:
        """Strain energy (J) by store: ``contacts`` (linear contacts: ½kn·overlap²,
        ½ks|s|², rolling springs ½|M_r|²/k_r), ``bonds`` (parallel bonds with their
        bending ½|M_b|²/(k̄n I) and twisting ½M_t²/(k̄s J) moments, or flat joints),
        ``joints`` (smooth joints), ``walls`` (platen and cylinder-wall contact springs)
        and ``frame`` (the loading-frame spring, :meth:`_frame_energy`)."""
        a = self._a
        prm = a["prm"]
        w = a["wal"]
        rows = self._contact_rows()
        s = rows[:, 0].astype(np.int64)
        kind = rows[:, 1]
        bonded = rows[:, 2] != 0.0
        pi = a["pi"][s]
        pj = a["pj"][s]
        pos = a["pos"]
        rad = a["rad"]
        dvec = pos[pj] - pos[pi]
        d = np.linalg.norm(dvec, axis=1)
        ov = rad[pi] + rad[pj] - d
        fj_mode = prm[K.P_NFJ] != 0.0
        lin = ((kind == 0) | ((kind == 1) & (not fj_mode))) & (ov > 0)
        h = a["hist"][s[lin], :3]
        contacts = 0.5 * prm[K.P_KN] * float(np.sum(ov[lin] ** 2)) + 0.5 * prm[K.P_KS] * float(np.sum(h * h))
        if a["roll"].shape[0] and prm[K.P_RMU] > 0.0 and prm[K.P_KS] > 0.0:
            q = a["roll"][s[lin]]
            rbar = rad[pi[lin]] * rad[pj[lin]] / (rad[pi[lin]] + rad[pj[lin]])
            contacts += float(np.sum(0.5 * np.einsum("ij,ij->i", q, q) / (prm[K.P_KS] * rbar * rbar)))
        bonds = 0.0
        if fj_mode:
            bonds = self._flat_joint_energy(a["pbd"][s[kind == 1]])
        else:
            rock = (kind == 1) & bonded
            if np.any(rock):
                b = a["pbd"][s[rock]]
                ar = a["bprop"][b, 0]
                ib = a["bprop"][b, 6]
                n = dvec[rock] / d[rock, None]
                m = a["bmom"][b]
                mt = np.einsum("ij,ij->i", m, n)
                mb = m - mt[:, None] * n
                bonds += float(np.sum(0.5 * a["bfn"][b] ** 2 / (prm[K.P_BKN] * ar)))
                bonds += float(np.sum(0.5 * np.einsum("ij,ij->i", mb, mb) / (prm[K.P_BKN] * ib)))
                if prm[K.P_BKS] > 0:
                    bonds += float(np.sum(0.5 * np.sum(a["bfs"][b] ** 2, axis=1) / (prm[K.P_BKS] * ar)))
                    bonds += float(np.sum(0.5 * mt * mt / (prm[K.P_BKS] * 2.0 * ib)))
        joints = 0.0
        sj = kind == 2
        if np.any(sj):
            ar = np.where(rows[sj, 13] > 0, rows[sj, 13], self._joint_area(pi[sj], pj[sj]))
            joints += float(np.sum(0.5 * rows[sj, 3] ** 2 / (prm[K.P_JKN] * ar)))
            if prm[K.P_JKS] > 0:
                joints += float(np.sum(0.5 * np.sum(rows[sj, 4:7] ** 2, axis=1) / (prm[K.P_JKS] * ar)))
        walls = 0.0
        if w[K.W_HASP] != 0.0:
            ob = rad - (pos[:, 2] - w[K.W_ZB])
            ot = rad - (w[K.W_ZT] - pos[:, 2])
            walls += 0.5 * w[K.W_PKN] * float(np.sum(ob[ob > 0] ** 2) + np.sum(ot[ot > 0] ** 2))
        if w[K.W_CMODE] == 2.0:
            rho = EM.hypot(pos[:, 0] - w[K.W_CX], pos[:, 1] - w[K.W_CY])
            oc = rho + rad - w[K.W_CR]
            walls += 0.5 * w[K.W_CKN] * float(np.sum(oc[(oc > 0) & (rho > 0)] ** 2))
        elif w[K.W_CMODE] == 3.0:
            c = self._jacket_centers()
            rho = EM.hypot(pos[:, 0] - c[:, 0], pos[:, 1] - c[:, 1])
            oc = rho + rad - w[K.W_CR]
            walls += 0.5 * w[K.W_CKN] * float(np.sum(oc[(oc > 0) & (rho > 0)] ** 2))
        return {"contacts": float(contacts), "bonds": float(bonds), "joints": float(joints), "walls": float(walls),
                "frame": self._frame_energy()}

    def strain_energy(self) -> float:
        """Total strain energy (J): :meth:`strain_energy_parts` summed (walls and the
        loading-frame spring included, unlike :meth:`elastic_energy`)."""
        return float(sum(self.strain_energy_parts().values()))

    def energy(self) -> dict:
        """The energy budget (J) since the engine was built; see ``docs/energy.md``.

        Cumulative: ``boundary_work`` (the work done on the particles' system by its
        boundaries: the moving platen, or the drive point of the loading-frame spring;
        the servo-controlled cylinder wall or the confining pressure; the drivers of fixed
        particles; external forces; plus the energy stored in the initial state and the
        energy changes made between runs by setters), ``friction_dissipation``,
        ``damping_dissipation`` (local and viscous contact damping, and the loss of the
        massless platen when it jumps to its balance on the frame spring) and
        ``bond_break_energy``. Current: ``strain_energy`` (:meth:`strain_energy`) and
        ``kinetic_energy`` (translational + rotational, free particles). ``residual`` =
        boundary work − (strain + kinetic + friction + damping + bond break): the
        integration error of the budget, ~0. The other keys break the terms down.
        """
        a = self._a
        e = a["enr"]
        parts = self.strain_energy_parts()
        free = a["fixed"] == 0
        v = a["vel"][free]
        om = a["omg"][free]
        ke_t = float(0.5 * np.sum(a["mass"][free] * np.einsum("ij,ij->i", v, v)))
        ke_r = float(0.5 * np.sum(np.einsum("ij,ij->i", om, om) / a["iinv"][free]))
        wb = float(e[K.E_WALL] + e[K.E_PRES] + e[K.E_DRIVE] + e[K.E_EXT] + e[K.E_SET])
        strain = float(sum(parts.values()))
        ke = ke_t + ke_r
        fr = float(e[K.E_FRIC])
        dp = float(e[K.E_VISC] + e[K.E_LOCAL] + e[K.E_PLATEN])
        bk = float(e[K.E_BREAK])
        out = {"boundary_work": wb, "strain_energy": strain, "kinetic_energy": ke, "friction_dissipation": fr,
               "damping_dissipation": dp, "bond_break_energy": bk, "residual": wb - (strain + ke + fr + dp + bk),
               "boundary_work_walls": float(e[K.E_WALL]), "boundary_work_pressure": float(e[K.E_PRES]),
               "boundary_work_driven": float(e[K.E_DRIVE]), "boundary_work_external": float(e[K.E_EXT]),
               "boundary_work_set": float(e[K.E_SET]), "kinetic_translational": ke_t, "kinetic_rotational": ke_r,
               "damping_viscous": float(e[K.E_VISC]), "damping_local": float(e[K.E_LOCAL]),
               "damping_platen": float(e[K.E_PLATEN])}
        out.update({f"strain_{k}": v for k, v in parts.items()})
        return out

    def _flat_joint_energy(self, bonds: np.ndarray) -> float:
        """Strain energy of the listed flat joints: ½k̄n∫u²dA over the elements that are
        bonded or in compression, plus ½|F_s,e|²/(k̄s A_e)."""
        a = self._a
        if bonds.size == 0:
            return 0.0
        g_el = a["fjg"]
        row = a["bfj"][bonds]
        prop = a["bprop"][bonds]
        ids = a["bids"][bonds]
        pi = a["idx_of"][ids[:, 0]]
        pj = a["idx_of"][ids[:, 1]]
        n = a["pos"][pj] - a["pos"][pi]  # from the lower to the higher user id
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        t1 = row[:, FJ.FJ_T1:FJ.FJ_T1 + 3]
        t2 = np.cross(n, t1)
        g = row[:, FJ.FJ_G:FJ.FJ_G + 3]
        g1 = np.einsum("ij,ij->i", g, t1)
        g2 = np.einsum("ij,ij->i", g, t2)
        u0 = row[:, FJ.FJ_U]
        area, rad, knpa, kspa = prop[:, 0], prop[:, 1], prop[:, 10], prop[:, 11]
        r4 = (rad * rad) * (rad * rad)
        e = 0.0
        for k in range(g_el.shape[0]):
            ae = area * g_el[k, 0]
            c1 = rad * g_el[k, 1]
            c2 = rad * g_el[k, 2]
            fe = knpa * ae * (u0 + g1 * c1 + g2 * c2)
            col = FJ.FJ_E0 + FJ.FJ_ESTRIDE * k
            on = (row[:, col + 3] != 0.0) | (fe > 0.0)
            uu = (u0 * u0 * ae + 2.0 * u0 * ae * (g1 * c1 + g2 * c2)
                  + r4 * (g_el[k, 3] * g1 * g1 + 2.0 * g_el[k, 5] * g1 * g2 + g_el[k, 4] * g2 * g2))
            e += float(np.sum(0.5 * knpa[on] * uu[on]))
            fs = row[:, col:col + 3]
            e += float(np.sum(0.5 * np.einsum("ij,ij->i", fs, fs)[on] / (kspa[on] * ae[on])))
        return e

    def _joint_area(self, pi, pj):
        prm = self._a["prm"]
        if prm[K.P_JAREA] > 0:
            return np.full(pi.shape, prm[K.P_JAREA])
        r = np.minimum(self._a["rad"][pi], self._a["rad"][pj]) * prm[K.P_JRM]
        return math.pi * r * r

    def momentum(self) -> tuple[np.ndarray, np.ndarray]:
        """Total linear momentum and total angular momentum about the origin (free particles)."""
        a = self._a
        free = a["fixed"] == 0
        p = a["mass"][free, None] * a["vel"][free]
        lin = p.sum(axis=0)
        ang = np.cross(a["pos"][free], p).sum(axis=0) + (a["omg"][free] / a["iinv"][free, None]).sum(axis=0)
        return lin, ang

    def metadata(self) -> dict:
        a = self._a
        meta = a["meta"]
        prm = a["prm"]
        cnt = a["cnt"]
        w = a["wal"]
        lateral = {0.0: "none", 1.0: "pressure", 2.0: "wall", 3.0: "jacket"}[float(w[K.W_CMODE])]
        return {
            "dt": self.dt,
            "critical_dt": self.critical_dt,
            "dt_safety": float(meta[_M_DTSAFE]),
            "dt_given": bool(meta[_M_DTGIVEN]),
            "damping": {
                "local_damping": float(prm[K.P_ALPHA]),
                "contact_damping_ratio": float(prm[K.P_ZETA]),
            },
            "local_damping": float(prm[K.P_ALPHA]),
            "contact_damping_ratio": float(prm[K.P_ZETA]),
            "density": float(meta[_M_DENSITY]),
            "density_scale": float(meta[_M_DSCALE]),
            "n_threads": int(cnt[K.C_NTHR]),
            "parallel_min_pairs": int(cnt[K.C_PARMIN]),
            "threaded_path": bool(cnt[K.C_NTHR] > 1 and self.n_pairs >= cnt[K.C_PARMIN]),
            "n_particles": self.n_particles,
            "n_pairs": self.n_pairs,
            "n_bonds": self.n_bonds,
            "n_intact_bonds": self.n_intact_bonds,
            "skin": float(prm[K.P_SKIN]),
            "sort_every": int(cnt[K.C_SORTEV]),
            "n_rebuilds": int(cnt[K.C_NREB]),
            "n_sorts": int(cnt[K.C_NSORT]),
            "step": self.step_count,
            "lateral_boundary": lateral,
            **({"jacket": {k[len("jacket_"):]: v for k, v in self._jacket_state().items() if k.startswith("jacket_")}}
               if w[K.W_CMODE] == 3.0 else {}),
            "contact_law": "linear Hooke + tangential history (rotated, length kept) + Coulomb",
            "bond_law": (f"flat joint ({int(meta[_M_FJNR])} x {int(meta[_M_FJNA])} elements, Potyondy 2012)"
                         if prm[K.P_NFJ] else "parallel bond (incremental Fn, Fs, bending and twisting moment)"),
            "joint_law": "smooth joint (fixed plane normal, incremental)",
            "joint_healing": (None if prm[K.P_HEAL] == 0.0 else {
                "law": "log hold time (Dieterich)", "rate": float(prm[K.P_HRATE]),
                "cutoff_time": float(prm[K.P_HTC]), "max_cohesion": float(prm[K.P_HCMAX]),
                "tensile_ratio": float(prm[K.P_HTRAT]), "crack_cohesion": float(prm[K.P_HCRK])}),
            "integrator": "velocity Verlet (translation and rotation)",
        }

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict:
        """Everything needed for an exact restart (copies)."""
        return {k: np.array(v, copy=True) for k, v in self._a.items()}

    @classmethod
    def from_state_dict(cls, d: dict) -> "Engine":
        names = _PARTICLE_ARRAYS + _PAIR_ARRAYS + _BOND_ARRAYS + _OTHER_ARRAYS
        missing = [k for k in names if k not in d and k not in _OPTIONAL_ARRAYS]
        if missing:
            raise ParameterError(f"state dict is missing {', '.join(missing)}")
        self = cls.__new__(cls)
        a = {k: np.ascontiguousarray(np.array(d[k], copy=True)) for k in names if k in d}
        self._a = a
        # a state of an older labquake: no healing parameters, no healed-crack column
        if a["prm"].shape[0] < K.NPRM:
            a["prm"] = np.concatenate([a["prm"], np.zeros(K.NPRM - a["prm"].shape[0])])
        # ... nor the jacket's wall slots (unused by the other lateral boundaries)
        if a["wal"].shape[0] < K.NWAL:
            a["wal"] = np.concatenate([a["wal"], np.zeros(K.NWAL - a["wal"].shape[0])])
        if a["cri"].shape[1] < _NCRI:
            a["cri"] = np.ascontiguousarray(np.hstack([a["cri"], np.zeros((a["cri"].shape[0], _NCRI - a["cri"].shape[1]),
                                                                          dtype=a["cri"].dtype)]))
        if "hold" not in a:
            a["hold"] = np.zeros(a["pi"].shape[0] if a["prm"][K.P_HEAL] != 0.0 else 0)
        prm = a["prm"]
        meta = a["meta"]
        self._contact = LinearContact(prm[K.P_KN], prm[K.P_KS], prm[K.P_MU], prm[K.P_ZETA], prm[K.P_RMU])
        if not meta[_M_HASBOND]:
            self._bond = None
        elif prm[K.P_NFJ]:
            self._bond = FlatJoint(meta[_M_FJMOD], meta[_M_FJRATIO], prm[K.P_BRM], prm[K.P_BMU],
                                   int(meta[_M_FJNR]), int(meta[_M_FJNA]))
        else:
            self._bond = RockBond(prm[K.P_BKN], prm[K.P_BKS], prm[K.P_BRM], prm[K.P_BMU], prm[K.P_BETA])
        healing = (FaultHealing(prm[K.P_HRATE], prm[K.P_HTC], prm[K.P_HCMAX], prm[K.P_HTRAT], prm[K.P_HCRK])
                   if prm[K.P_HEAL] else None)
        self._joint = (SmoothJoint((prm[K.P_JNX], prm[K.P_JNY], prm[K.P_JNZ]), prm[K.P_JKN], prm[K.P_JKS],
                                   prm[K.P_JMU], prm[K.P_JAREA] or None, prm[K.P_JRM], healing)
                       if prm[K.P_HASJ] else None)
        self._platens = None
        self._cylinder = None
        self._bond_index = None
        if "enr" not in a:  # a state of an older labquake: the budget opens here
            a["enr"] = np.zeros(K.NENR)
            a["enr"][K.E_SET] = self.strain_energy() + self.kinetic_energy()
        return self


def _find_slots(istart, pj, lo, hi):
    return K._find_slots(istart, pj, np.ascontiguousarray(lo, dtype=np.int64),
                         np.ascontiguousarray(hi, dtype=np.int64))
