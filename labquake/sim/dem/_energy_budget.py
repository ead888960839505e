"""The engine's energy budget: strain energy by part, work, dissipation, momentum."""

from __future__ import annotations

import math

import numpy as np

from . import _kernels as K
from . import exactmath as EM
from ._state_layout import (
    _M_DENSITY,
    _M_DSCALE,
    _M_DTGIVEN,
    _M_DTSAFE,
    _M_FJNA,
    _M_FJNR,
)
from .laws import flat_joint as FJ


class EngineEnergy:
    """The engine's energy budget: strain energy by part, work, dissipation, momentum. (a part of :class:`~labquake.sim.dem.engine.Engine`)."""

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
            if w[K.W_PMU] > 0.0:  # the platen contacts' tangential springs
                walls += 0.5 * w[K.W_PKS] * float(np.sum(a["ptan"] * a["ptan"]))
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
