"""AE moment tensors, magnitudes and crack clustering (labquake.sim.ae)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labquake.sim.ae import (
    AERecorder,
    ContactState,
    hudson_tk,
    hudson_uv,
    iso_dev,
    iso_ratio,
    moment_magnitude,
    moment_tensor,
    scalar_moment,
    source_type,
)


def _state(step, pairs, forces, points, n=10):
    i = np.array([p[0] for p in pairs])
    j = np.array([p[1] for p in pairs])
    return ContactState.from_arrays(step, n, i, j, np.array(forces, float), np.array(points, float))


def test_scalar_moment_and_magnitude_of_a_double_couple():
    # a pure double couple M = M0 (e1 e2 + e2 e1): eigenvalues +-M0, 0
    m0 = 3.7e2
    m = np.array([[0, m0, 0], [m0, 0, 0], [0, 0, 0]])
    assert scalar_moment(m) == pytest.approx(m0)
    assert moment_magnitude(m0) == pytest.approx(2 / 3 * np.log10(m0) - 6)
    iso, dev = iso_dev(m)
    assert iso == pytest.approx(0.0) and dev == pytest.approx(m0)
    # equivalent Frobenius form used by the reference code
    r = np.random.default_rng(1).normal(size=(3, 3))
    s = r + r.T
    frob = np.sqrt(s[0, 0] ** 2 + s[1, 1] ** 2 + s[2, 2] ** 2 + 2 * s[0, 1] ** 2 + 2 * s[0, 2] ** 2 + 2 * s[1, 2] ** 2) / np.sqrt(2)
    assert scalar_moment(s) == pytest.approx(frob)
    with pytest.raises(ValueError):
        moment_magnitude(0.0)


def test_single_tensile_crack_with_known_force_change_gives_analytic_moment():
    """Source particles 0 and 1 on the x axis; their outer contacts gain f along +-x.

    The force the source exerts on particle 2 (contact point (+2a, 0, 0)) rises by f along
    +x, on particle 3 (point (-2a, 0, 0)) by f along -x. Then M11 = f(2a) + (-f)(-2a) = 4fa,
    all other components zero: M0 = 4fa / sqrt(2), iso = 4fa/3 > 0 (opening).
    """
    a, f = 2.5e-3, 1.2e3
    pairs = [(0, 1), (0, 2), (1, 3)]
    pts = [[0, 0, 0], [2 * a, 0, 0], [-2 * a, 0, 0]]
    # forces on particle i (the lower id) of each pair before: compression f0 along the line
    f0 = 500.0
    before = _state(0, pairs, [[0, 0, 0], [-f0, 0, 0], [f0, 0, 0]], pts)
    # after the crack the outer contacts carry f0 + f (force on the source particle i grows
    # away from the outside particle); the broken internal bond changed too, but cancels
    after = _state(40, pairs, [[123.0, 0, 0], [-(f0 + f), 0, 0], [f0 + f, 0, 0]], pts)
    rec = AERecorder(space_window=0.015, time_window=30)
    crack = {"step": np.array([10]), "x": np.array([0.0]), "y": np.array([0.0]), "z": np.array([0.0]),
             "size": np.array([a]), "kind": np.array([0]), "particle_a": np.array([0]), "particle_b": np.array([1])}
    ids = rec.add_cracks(crack, before)
    assert ids.tolist() == [0] and rec.active
    rec.sample(after)
    assert not rec.active
    ev = rec.events_table().iloc[0]
    m0 = 4 * f * a / np.sqrt(2)
    assert ev.m11 == pytest.approx(4 * f * a)
    assert ev.m22 == pytest.approx(0.0, abs=1e-9) and ev.m12 == pytest.approx(0.0, abs=1e-9)
    assert ev.m0 == pytest.approx(m0)
    assert ev.mw == pytest.approx(2 / 3 * np.log10(m0) - 6)
    assert ev.iso == pytest.approx(4 * f * a / 3)
    assert ev.iso_ratio == pytest.approx(ev.iso / ev.dev) and ev.iso_ratio > 0
    assert ev.radius == pytest.approx(a)
    assert ev.n_cracks == 1 and not ev.on_fault
    assert ev.step_start == 10 and ev.step_end == 40


def test_moment_tensor_is_independent_of_the_centroid_for_balanced_forces():
    rng = np.random.default_rng(3)
    r = rng.normal(size=(6, 3))
    f = rng.normal(size=(6, 3))
    f -= f.mean(axis=0)  # net force zero
    m1 = moment_tensor(f, r)
    m2 = moment_tensor(f, r - np.array([0.3, -1.0, 2.0]))
    np.testing.assert_allclose(m1, m2, atol=1e-12)


def test_clustering_in_space_and_time_and_max_moment_kept():
    pairs = [(0, 1), (0, 2), (4, 5), (4, 6)]
    pts = [[0, 0, 0], [0.002, 0, 0], [0.1, 0, 0], [0.102, 0, 0]]
    zero = _state(0, pairs, np.zeros((4, 3)), pts)
    rec = AERecorder(space_window=0.01, time_window=20)
    cr = {"step": np.array([5, 8, 9, 40]), "x": np.array([0.0, 0.003, 0.1, 0.001]), "y": np.zeros(4), "z": np.zeros(4),
          "size": np.full(4, 1e-3), "kind": np.array([0, 1, 0, 0]),
          "particle_a": np.array([0, 1, 4, 0]), "particle_b": np.array([1, 7, 5, 1])}
    ids = rec.add_cracks(cr, zero)
    # cracks 0 and 1 are close in space and time -> same event; crack 2 is far -> new one;
    # crack 3 is close to event 0 but after its time window -> new event
    assert ids.tolist() == [0, 0, 1, 2]
    big = _state(10, pairs, [[0, 0, 0], [-5.0, 0, 0], [0, 0, 0], [-1.0, 0, 0]], pts)
    small = _state(15, pairs, [[0, 0, 0], [-1.0, 0, 0], [0, 0, 0], [-1.0, 0, 0]], pts)
    rec.sample(big)
    rec.sample(small)
    rec.close_all(_state(100, pairs, np.zeros((4, 3)), pts))
    ev = rec.events_table().set_index("event_id")
    assert ev.loc[0, "on_fault"] and ev.loc[0, "n_cracks"] == 2 and ev.loc[0, "n_fault_cracks"] == 1
    # the event keeps its largest moment (sampled at step 10)
    centroid = np.array([0.0015, 0, 0])
    expect = moment_tensor(np.array([[5.0, 0, 0]]), np.array(pts[1]) - centroid)
    assert ev.loc[0, "m0"] == pytest.approx(scalar_moment(expect))
    # event 2 saw no force change at all (zero moment): dropped, its crack keeps id -1
    assert rec.crack_event_ids().tolist() == [0, 0, 1, -1]
    assert sorted(ev.index) == [0, 1]


@pytest.mark.parametrize("extend, expected", [(True, [0, 0, 0]), (False, [0, 0, 1])])
def test_each_crack_extends_the_event_window(extend, expected):
    """Cracks 15 steps apart with a 20-step window: a cascade is one event only when extended."""
    pairs = [(0, 1), (0, 2)]
    pts = [[0, 0, 0], [0.002, 0, 0]]
    zero = _state(0, pairs, np.zeros((2, 3)), pts)
    rec = AERecorder(space_window=0.01, time_window=20, extend=extend)
    cr = {"step": np.array([5, 20, 35]), "x": np.array([0.0, 0.001, 0.002]), "y": np.zeros(3), "z": np.zeros(3),
          "size": np.full(3, 1e-3), "kind": np.zeros(3, int), "particle_a": np.array([0, 0, 0]),
          "particle_b": np.array([1, 1, 1])}
    assert rec.add_cracks(cr, zero).tolist() == expected


def test_wall_contact_of_a_source_particle_enters_the_moment_tensor():
    """Particle 0 (source) leans on the bottom platen (wall pseudo-id n + 0). Its platen
    force rises by f along +z at (0, 0, -a): the force of the source on the wall changes
    by -f e_z at R = (0, 0, -a), so M33 = f a. Without the wall row it would be missing."""
    n, a, f = 10, 2e-3, 50.0
    pairs = [(0, 1), (0, n + 0)]  # particle pair and particle-wall contact
    pts = [[0, 0, 0], [0, 0, -a]]
    before = _state(0, pairs, [[0, 0, 0], [0, 0, 100.0]], pts, n=n)
    after = _state(20, pairs, [[0, 0, 0], [0, 0, 100.0 + f]], pts, n=n)
    assert before.n_wall_contacts == 1
    k, df, pt = before.outward(np.array([0, 1]))
    assert k.tolist() == [n * n + 0 * 8 + 0] and df[0].tolist() == [0, 0, -100.0]
    rec = AERecorder(space_window=0.01, time_window=10)
    crack = {"step": np.array([5]), "x": np.zeros(1), "y": np.zeros(1), "z": np.zeros(1), "size": np.array([a]),
             "kind": np.array([0]), "particle_a": np.array([0]), "particle_b": np.array([1])}
    rec.add_cracks(crack, before)
    rec.sample(after)
    ev = rec.events_table().iloc[0]
    assert ev.m33 == pytest.approx(f * a) and ev.iso == pytest.approx(f * a / 3)
    with pytest.raises(ValueError):
        _state(0, [(0, n + 8)], [[0, 0, 0]], [[0, 0, 0]], n=n)  # beyond the wall slots


def _rotated(eigenvalues, seed=0):
    q = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))[0]
    return q @ np.diag(eigenvalues) @ q.T


@pytest.mark.parametrize("name, eig, t, k, uv, kind", [
    ("explosion", (1, 1, 1), 0.0, 1.0, (0.0, 1.0), "tensile"),
    ("implosion", (-2, -2, -2), 0.0, -1.0, (0.0, -1.0), "implosive"),
    ("double couple", (1, 0, -1), 0.0, 0.0, (0.0, 0.0), "shear"),
    ("+CLVD", (2, -1, -1), -1.0, 0.0, (-1.0, 0.0), "CLVD"),
    ("-CLVD", (-2, 1, 1), 1.0, 0.0, (1.0, 0.0), "CLVD"),
    # opening crack in a Poisson solid (lambda = mu): eigenvalues lambda + 2 mu, lambda, lambda
    ("tensile crack", (3, 1, 1), -1.0, 5 / 9, (-4 / 9, 5 / 9), "tensile"),
    ("closing crack", (-3, -1, -1), 1.0, -5 / 9, (4 / 9, -5 / 9), "implosive"),
    ("+dipole", (1, 0, 0), -1.0, 1 / 3, (-2 / 3, 1 / 3), "tensile"),
])
def test_hudson_source_type_of_the_textbook_sources(name, eig, t, k, uv, kind):
    """Hudson, Pearce & Rogers (1989): (T, k) and the equal-area (u, v) of pure sources, in
    any frame and at any scale; and their class."""
    for seed, scale in ((0, 1.0), (1, 3.7e2)):
        tt, kk = hudson_tk(scale * _rotated(eig, seed))
        assert (tt, kk) == (pytest.approx(t, abs=1e-12), pytest.approx(k, abs=1e-12)), name
    u, v = hudson_uv(tt, kk)
    assert (float(u), float(v)) == (pytest.approx(uv[0], abs=1e-12), pytest.approx(uv[1], abs=1e-12))
    assert source_type(tt, kk).tolist() == [kind]


def test_hudson_diamond_and_vectorised_forms():
    # the T = -1 edge and the corners of Hudson's diamond
    u, v = hudson_uv(np.array([-1.0, -1.0, 1.0, -1.0]), np.array([-0.2, -1.0, 0.2, 0.5]))
    np.testing.assert_allclose(u, [-4 / 3, 0.0, 4 / 3, -0.5])
    np.testing.assert_allclose(v, [-1 / 3, -1.0, 1 / 3, 0.5])
    # stacked tensors give the per-tensor values; every point lies inside the diamond
    ms = np.stack([_rotated(np.random.default_rng(s).normal(size=3), s) for s in range(200)])
    t, k = hudson_tk(ms)
    assert t.shape == k.shape == (200,)
    assert np.all(np.abs(t) <= 1) and np.all(np.abs(k) <= 1)
    t1, k1 = hudson_tk(ms[17])
    assert (t[17], k[17]) == (pytest.approx(t1), pytest.approx(k1))
    u, v = hudson_uv(t, k)
    # inside |v| <= 1 - |u| * (something): check against the four edges of the diamond
    for (x0, y0), (x1, y1) in [((0, 1), (-4 / 3, -1 / 3)), ((-4 / 3, -1 / 3), (0, -1)), ((0, -1), (4 / 3, 1 / 3)),
                               ((4 / 3, 1 / 3), (0, 1))]:
        cross = (x1 - x0) * (v - y0) - (y1 - y0) * (u - x0)
        assert np.all(cross >= -1e-9)
    assert hudson_tk(np.zeros((3, 3))) == (0.0, 0.0)


def test_iso_ratio_is_signed_finite_and_registered_in_events_parquet(tmp_path):
    from labquake.io.rundir import RunDirectory, atomic_write_parquet, empty_table

    assert iso_ratio(2.0, 4.0) == 0.5 and iso_ratio(-1.0, 2.0) == -0.5
    np.testing.assert_array_equal(iso_ratio(np.array([1.0, -1.0, 0.0]), np.zeros(3)), [1e12, -1e12, 0.0])
    assert "iso_ratio" in empty_table("events").columns
    # an events table written without it (an older run, an import) gets it on reading
    run = RunDirectory(tmp_path / "r")
    run.path.mkdir()
    ev = empty_table("events").drop(columns="iso_ratio")
    row = {c: 0 for c in ev.columns}
    row.update(event_id=0, m0=1.0, mw=-6.0, iso=-0.3, dev=1.2, on_fault=False)
    ev = pd.DataFrame([row]).astype(ev.dtypes.to_dict())
    atomic_write_parquet(run.table_path("events"), ev)
    assert run.read_table("events")["iso_ratio"].tolist() == [pytest.approx(-0.25)]
    run.write_table("events", ev)  # the writer adds it too
    assert pd.read_parquet(run.table_path("events"))["iso_ratio"].tolist() == [pytest.approx(-0.25)]


# ----------------------------------------------------------------------------------------
# Physical checks through the engine: contacts() -> contact_state() -> AERecorder
# ----------------------------------------------------------------------------------------


def _record(eng, rec, drive=None, on_crack=None, max_chunks=20000, chunk=5):
    """Run in chunks as the experiment does: contact state, cracks, AE samples. ``drive(k)``
    is called before each chunk until the first crack, ``on_crack(cracks, reference)`` at
    each chunk with cracks; returns the cracks seen."""
    from labquake.sim.recorders import contact_state

    prev = contact_state(eng)
    seen = []
    for k in range(max_chunks):
        if drive is not None and not seen:
            drive(k)
        eng.run(chunk)
        state = contact_state(eng)
        cr = eng.pop_cracks()
        if len(cr["step"]):
            seen.append(cr)
            if on_crack is not None:
                on_crack(cr, prev)
            rec.add_cracks(cr, prev)
        rec.sample(state)
        prev = state
        if rec.n_events and not rec.active:
            break
    return seen


def test_tensile_break_in_a_confined_bonded_block_has_a_positive_isotropic_part():
    """A flat-jointed FCC block confined at 10 MPa by servo platens and a rigid cylinder. A
    tie across the central pair is installed while external forces press the pair together;
    releasing them loads the tie in tension (locked-in tension, self-equilibrated), and it
    breaks: an opening crack, whose source must push its surroundings out."""
    from labquake.sim.dem import ConfiningCylinder, Engine, FlatJoint, LinearContact, Platens
    from labquake.sim.dem.lattice import fcc_cylinder

    rad0, height, r0, sig = 3.2e-3, 6.4e-3, 0.5e-3, 10e6
    pos, rad = fcc_cylinder(rad0, height, r0, np.random.default_rng(0), rmin_ratio=1.0)
    pos[:, 2] -= height / 2
    kn = 20e9 * np.pi * r0 / 2
    eng = Engine(pos, rad, 2650.0, LinearContact(kn, kn / 2.5, 0.5, damping_ratio=0.05),
                 bond=FlatJoint(modulus=20e9, radius_multiplier=1.0, residual_mu=0.5),
                 platens=Platens(-height / 2, height / 2, kn, mode="servo", target_stress=sig),
                 cylinder=ConfiningCylinder(rad0, kn, sig, mode="wall"), local_damping=0.7)
    a = int(np.argmin(np.linalg.norm(pos, axis=1)))
    nb = eng.neighbor_pairs(max_gap=0.05 * r0)
    partners = np.concatenate([nb["j"][nb["i"] == a], nb["i"][nb["j"] == a]])
    b = int(partners[np.argmin(np.linalg.norm(pos[partners], axis=1))])
    keep = ~(((nb["i"] == min(a, b)) & (nb["j"] == max(a, b))))
    eng.install_bonds(nb["i"][keep], nb["j"][keep], 1e12, 1e12, 30.0)
    eng.run(3000)
    assert eng.boundary_state()["confining_stress"] == pytest.approx(sig, rel=0.01)
    n = eng.positions[b] - eng.positions[a]
    ext = np.zeros((eng.n_particles, 3))
    ext[a], ext[b] = 30.0 * n / np.linalg.norm(n), -30.0 * n / np.linalg.norm(n)
    eng.set_external_forces(ext)
    eng.run(2000)
    eng.install_bonds([a], [b], 2e6, 1e12, 30.0)  # stress-free now, weak in tension
    eng.set_damping(local_damping=0.0)
    rec = AERecorder(space_window=6 * r0, time_window=60)
    cracks = _record(eng, rec, drive=lambda k: eng.set_external_forces(ext * max(0.0, 1 - (k + 1) / 100)), max_chunks=400)
    assert cracks and all((c["mode"] == 0).all() and (c["kind"] == 0).all() for c in cracks)  # rock, tension
    assert {int(cracks[0]["particle_a"][0]), int(cracks[0]["particle_b"][0])} == {min(a, b), max(a, b)}
    ev = rec.events_table()
    assert len(ev) == 1
    e = ev.iloc[0]
    assert e.iso > 0 and e.iso_ratio > 0.3
    t, k = hudson_tk(np.array([[e.m11, e.m12, e.m13], [e.m12, e.m22, e.m23], [e.m13, e.m23, e.m33]]))
    assert k > 0.2 and t < 0 and source_type(t, k).tolist() == ["tensile"]


def test_pure_joint_slip_is_a_double_couple_with_no_isotropic_part():
    """A bonded simple-cubic block cut by a horizontal smooth joint, pressed and then sheared
    by its driven top layer; the central joint bond (installed across a 30 um gap) breaks
    in shear and slips. The source is slip on the plane: a double couple M13, |iso|/dev
    < 0.1. (Before broken joints kept their compression across a gap the joint dropped its
    11 N at once and this event had iso/dev = -0.47.)"""
    from labquake.sim.dem import Engine, FlatJoint, LinearContact, SmoothJoint

    r, n, e_mod = 0.5e-3, 6, 20e9
    g = (np.arange(n) - (n - 1) / 2) * 2 * r
    pos = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    rad = np.full(len(pos), r)
    side = (pos[:, 2] > 0).astype(np.int8)
    a = int(np.flatnonzero(np.all(np.abs(pos - [-r, -r, -r]) < 1e-9, axis=1))[0])
    b = int(np.flatnonzero(np.all(np.abs(pos - [-r, -r, r]) < 1e-9, axis=1))[0])
    rad[[a, b]] *= 0.97
    top = pos[:, 2] > g[-1] - 1e-9
    fixed = (top | (pos[:, 2] < g[0] + 1e-9)).astype(np.int8)
    kn = e_mod * np.pi * r / 2
    eng = Engine(pos, rad, 2650.0, LinearContact(kn, kn / 2.5, 0.5, damping_ratio=0.05),
                 bond=FlatJoint(modulus=e_mod, radius_multiplier=1.0, residual_mu=0.5),
                 joint=SmoothJoint(normal=(0.0, 0.0, 1.0), kn_per_area=e_mod / (2 * r), ks_per_area=e_mod / (5 * r),
                                   residual_mu=0.3),
                 side=side, fixed=fixed, local_damping=0.7)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    i, j = np.nonzero(np.triu(d < 2.01 * r, 1))
    weak = (i == min(a, b)) & (j == max(a, b))
    eng.install_bonds(i[~weak], j[~weak], 1e12, 1e12, 30.0, max_gap=0.2 * r)
    eng.install_bonds([a], [b], 1e12, 5e6, 30.0, max_gap=0.2 * r)
    ti = np.flatnonzero(top)
    eng.set_velocities(ti, np.tile([0.0, 0.0, -0.05], (ti.size, 1)))  # press
    eng.run(2000)
    eng.set_velocities(ti, np.zeros((ti.size, 3)))
    eng.run(1000)
    fn0 = eng.lookup_pairs([a], [b])["fn"][0]
    assert fn0 > 5.0 and not len(eng.pop_cracks()["step"])
    assert np.linalg.norm(eng.positions[a] - eng.positions[b]) - rad[a] - rad[b] > 0  # a gap

    def shear(k):  # the top layer along x
        eng.set_velocities(ti, np.tile([0.05, 0.0, 0.0], (ti.size, 1)))

    def stop(cr, ref):  # the drive stops and the damping goes at the crack
        eng.set_velocities(ti, np.zeros((ti.size, 3)))
        eng.set_damping(local_damping=0.0)

    rec = AERecorder(space_window=6 * r, time_window=60)
    seen = _record(eng, rec, drive=shear, on_crack=stop)
    assert len(seen) == 1 and seen[0]["kind"].tolist() == [1] and seen[0]["mode"].tolist() == [1]  # fault, shear
    ev = rec.events_table()
    assert len(ev) == 1
    e = ev.iloc[0]
    assert abs(e.iso_ratio) < 0.1
    assert abs(e.m13) > 0.9 * e.m0  # slip along x on the plane z = 0
    assert eng.lookup_pairs([a], [b])["fn"][0] == pytest.approx(fn0, rel=0.1)  # still pressed together


def test_moment_of_a_known_force_change_through_the_engine_with_its_wall_contacts():
    """[bottom platen] - c - a - b - [top platen] along z, radius R, the crack between a and
    b at z = 0. a and b are driven apart at v: their parallel bond breaks in tension, and
    from the AE reference on the contact c-a and the top-platen contact of b each gain
    kn v dt (N) at arms 2R: M33 = 4 kn v dt R, M0 = M33 / sqrt(2). Half of it comes through
    the platen: without wall contacts the moment is half the analytic value."""
    from labquake.sim.dem import Engine, LinearContact, Platens, RockBond

    r, kn, v = 1e-3, 1e7, 0.01
    pos = np.array([[0, 0, -3 * r], [0, 0, -r], [0, 0, r]])  # c, a, b
    eng = Engine(pos, [r, r, r], 2650.0, LinearContact(kn, 0.4 * kn, 0.5), bond=RockBond(1e13, 4e12), fixed=[1, 1, 1],
                 platens=Platens(-4 * r, 2 * r, kn, mode="velocity", velocity=0.0))
    eng.install_bonds([1], [2], 2e6, 1e12, 30.0)
    eng.set_velocities([1, 2], [[0, 0, -v], [0, 0, v]])
    state = eng.state_dict()
    rec = AERecorder(space_window=3 * r, time_window=40)
    refs = []
    _record(eng, rec, on_crack=lambda cr, ref: refs.append(ref.step))
    e = rec.events_table().iloc[0]
    m33 = 4 * kn * v * (e.step_end - refs[0]) * eng.dt * r
    assert e.m33 == pytest.approx(m33, rel=0.1)
    assert e.m0 == pytest.approx(m33 / np.sqrt(2), rel=0.1)
    assert e.iso == pytest.approx(m33 / 3, rel=0.1)
    # the same run without the wall contacts in the contact states: half the moment
    import labquake.sim.recorders as recorders

    rec2 = AERecorder(space_window=3 * r, time_window=40)
    orig = recorders.contact_state
    recorders.contact_state = lambda e_, step=None, walls=True: orig(e_, step, walls=False)
    try:
        _record(Engine.from_state_dict(state), rec2)
    finally:
        recorders.contact_state = orig
    assert rec2.events_table().iloc[0].m0 == pytest.approx(0.5 * e.m0, rel=0.05)


def test_first_pulse_arrival_picks_half_the_first_maximum():
    from labquake.sim.ae.wavespeed import first_pulse_arrival

    t = np.arange(200.0)
    pulse = lambda t0, a: a * np.exp(-0.5 * ((t - t0) / 6.0) ** 2)  # noqa: E731
    r = pulse(50, 1.0) + pulse(150, 3.0)  # a later, larger reflection does not move the pick
    arr, done = first_pulse_arrival(t, r, detect=0.05)
    assert done and arr == pytest.approx(50 - 6.0 * np.sqrt(2 * np.log(2)), abs=0.05)
    arr, done = first_pulse_arrival(t[:52], r[:52], detect=0.05)  # not yet past its peak
    assert not done
    assert np.isnan(first_pulse_arrival(t, 0.01 * r, detect=0.05)[0])
