"""Engine outputs: cracks, contacts, pair lookups, the boundary and its wall contacts."""

from __future__ import annotations

import math

import numpy as np

from . import _kernels as K
from . import exactmath as EM
from ._state_layout import _find_slots


class EngineOutputs:
    """Engine outputs: cracks, contacts, pair lookups, the boundary and its wall contacts. (a part of :class:`~labquake.sim.dem.engine.Engine`)."""

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
                if w[K.W_PMU] > 0.0:  # the tangential spring of a frictional platen
                    col = 0 if wid == self.WALL_BOTTOM else 2
                    f[:, :2] = -w[K.W_PKS] * a["ptan"][p, col:col + 2]
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
