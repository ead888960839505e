"""The DEM engine: particle state, bonds, walls, run loop, checkpoints (see package docstring).

The :class:`Engine` is assembled from one class per job: construction, properties, the run
loop and checkpoints here; the setters and bond installation in :mod:`._controls`; the
outputs (contacts, walls, pair lookups) in :mod:`._outputs`; the energy budget in
:mod:`._energy_budget`. The layout of the state arrays is in :mod:`._state_layout`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from labquake.errors import ParameterError

from . import _kernels as K
from . import exactmath as EM
from ._controls import EngineControls
from ._energy_budget import EngineEnergy
from ._outputs import EngineOutputs
from ._state_layout import (
    _BOND_ARRAYS,
    _M_CRIT,
    _M_DENSITY,
    _M_DSCALE,
    _M_DTGIVEN,
    _M_DTSAFE,
    _M_FJMOD,
    _M_FJNA,
    _M_FJNR,
    _M_FJRATIO,
    _M_HASBOND,
    _M_HASCYL,
    _M_HASJ,
    _M_NTHREADS,
    _NBPROP,
    _NCRI,
    _NMETA,
    _OPTIONAL_ARRAYS,
    _OTHER_ARRAYS,
    _PAIR_ARRAYS,
    _PARTICLE_ARRAYS,
    _resize_crack_buffer,
)
from .laws import flat_joint as FJ
from .params import (
    ConfiningCylinder,
    FaultHealing,
    FlatJoint,
    LinearContact,
    Platens,
    RockBond,
    SmoothJoint,
)


def _as_positions(positions) -> np.ndarray:
    x = np.array(positions, dtype=np.float64, copy=True)
    if x.ndim != 2 or x.shape[1] != 3 or x.shape[0] < 1:
        raise ParameterError(f"positions must be an (N, 3) array with N >= 1, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = int(np.argwhere(~np.isfinite(x))[0, 0])
        raise ParameterError(f"positions contain NaN or infinite values (first at particle {bad})")
    return np.ascontiguousarray(x)


class Engine(EngineControls, EngineOutputs, EngineEnergy):
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
            wal[K.W_PMU] = platens.friction
            wal[K.W_PKS] = platens.kn if platens.shear_stiffness is None else platens.shear_stiffness
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
        a["ptan"] = np.zeros((n, 4))
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
                         a["iinv"], a["fixed"], a["side"], a["oid"], a["idx_of"], a["ext"], a["x0"], a["ptan"],
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
                             a["ptan"], a["pi"], a["pj"], a["istart"], a["jstart"], a["jslots"], a["hist"], a["roll"], a["hold"],
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
        _resize_crack_buffer(a, max(need, 2 * cap))

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
        if "ptan" not in a:  # before platen friction: frictionless platens, no spring history
            a["ptan"] = np.zeros((a["pos"].shape[0], 4))
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
