"""Engine setters (walls, damping, time step, external loads) and bond installation."""

from __future__ import annotations

import math

import numpy as np

from labquake.errors import ParameterError

from . import _kernels as K
from . import exactmath as EM
from ._state_layout import (
    _M_CRIT,
    _M_DSCALE,
    _PAIR_ARRAYS,
    _find_slots,
    _resize_crack_buffer,
)
from .laws import flat_joint as FJ
from .params import (
    KIND_FAULT,
    KIND_ROCK,
    FlatJoint,
    LinearContact,
)

_UNSET = object()


class EngineControls:
    """Engine setters (walls, damping, time step, external loads) and bond installation. (a part of :class:`~labquake.sim.dem.engine.Engine`)."""

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
        _resize_crack_buffer(a, max(self.n_bonds * max(1, a["fjg"].shape[0]), a["crf"].shape[0]))
        a["cnt"][K.C_NBOND] = self.n_bonds
        self._bond_index = None
        # bonds are installed stress-free; a flat joint replaces its pair's linear contact
        self._book(self.strain_energy() - es0)
        return m
