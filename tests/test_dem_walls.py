"""Platens, confinement servo, loading-frame spring."""

from __future__ import annotations

import numpy as np
import pytest

from labquake.sim.dem import ConfiningCylinder, Engine, LinearContact, Platens
from labquake.sim.dem.lattice import fcc_cylinder

RAD, HEIGHT, R0 = 6e-3, 16e-3, 0.75e-3
SIGMA_C = 1e6


def _sample(mode, platen_mode="servo", **kw):
    pos, rad = fcc_cylinder(RAD, HEIGHT, R0, np.random.default_rng(0))
    zb = pos[:, 2].min() - 0.999 * R0
    zt = pos[:, 2].max() + 0.999 * R0
    return Engine(pos, rad, 2650.0, LinearContact(1e7, 4e6, 0.5),
                  platens=Platens(zb, zt, 1e7, mode=platen_mode, target_stress=SIGMA_C, **kw),
                  cylinder=ConfiningCylinder(RAD, 1e7, SIGMA_C, mode=mode), local_damping=0.7)


def test_servo_cylinder_holds_confinement_during_axial_loading():
    eng = _sample("wall")
    eng.run(2000)  # isotropic consolidation (servo platens + servo cylinder)
    b0 = eng.boundary_state()
    assert b0["confining_stress"] == pytest.approx(SIGMA_C, rel=0.02)
    eng.set_platens(mode="velocity", velocity=0.2)
    axial = []
    for _ in range(20):
        eng.run(100)
        b = eng.boundary_state()
        assert abs(b["confining_stress"] / SIGMA_C - 1.0) <= 0.02
        axial.append(b["axial_stress"])
    assert axial[-1] > 1.2 * SIGMA_C              # the platens did load the sample axially
    assert b["platen_displacement"] > b0["platen_displacement"]
    assert b["cylinder_radius"] < RAD


def test_pressure_membrane_applies_target_stress_and_follows_sample():
    eng = _sample("pressure")
    eng.run(1500)
    eng.set_platens(mode="velocity", velocity=0.2)
    for _ in range(5):
        eng.run(100)
        b = eng.boundary_state()
        assert b["confining_stress"] == pytest.approx(SIGMA_C, rel=1e-12)
    # the membrane radius is the sample's outer radius, about that of the lattice
    r_out = np.max(np.hypot(eng.positions[:, 0], eng.positions[:, 1]) + eng.radii)
    assert 0.9 * r_out < b["cylinder_radius"] <= r_out
    # total radial force balances the confining stress times the lateral area
    assert b["n_lateral_contacts"] > 50


def test_frame_spring_platen_balances_particle_force():
    eng = _sample("wall")
    eng.run(1500)
    kf = 5e5
    eng.set_platens(mode="velocity", velocity=0.5, frame_stiffness=kf)
    f_before = eng.boundary_state()["platen_force_top"]
    eng.run(1)
    b = eng.boundary_state()
    assert b["platen_force_top"] == pytest.approx(f_before, rel=0.05)  # preloaded, no jump
    for _ in range(10):
        eng.run(100)
    b = eng.boundary_state()
    spring = kf * (b["z_top"] - b["z_drive"])
    assert spring == pytest.approx(b["platen_force_top"], rel=0.02)
    assert b["platen_force_top"] > f_before


@pytest.mark.parametrize("mode", ["wall", "pressure", "jacket"])
def test_wall_contacts_are_the_wall_forces_the_particles_felt(mode):
    """Per particle: the last step's total force = contact forces + wall_contacts() forces;
    per wall: the sums are the platen forces and the lateral force of the wall kernel."""
    eng = _sample(mode)
    eng.run(1500)
    eng.set_platens(mode="velocity", velocity=0.2)
    eng.set_damping(local_damping=0.0)  # total force = contact + wall forces (no damping term)
    eng.run(200)
    wc = eng.wall_contacts()
    n = eng.n_particles
    total = np.zeros((n, 3))
    np.add.at(total, wc["particle"], wc["force"])
    c = eng.contacts()
    f_i = -c["fn"][:, None] * c["normal"] + c["fs"]
    np.add.at(total, c["i"], f_i)
    np.add.at(total, c["j"], -f_i)
    np.testing.assert_allclose(total, eng.forces, rtol=0, atol=1e-9 * np.abs(eng.forces).max())
    b = eng.boundary_state()
    bottom, top, lat = (wc["wall"] == k for k in (eng.WALL_BOTTOM, eng.WALL_TOP, eng.WALL_LATERAL))
    assert wc["force"][bottom, 2].sum() == pytest.approx(b["platen_force_bottom"], rel=1e-12)
    assert -wc["force"][top, 2].sum() == pytest.approx(b["platen_force_top"], rel=1e-12)
    assert top.sum() == b["n_platen_contacts_top"] and bottom.sum() > 0
    # lateral forces point inward, act on the boundary, and sum to the confining force
    # (jacket: radially from the centre of the particle's segment; one block here, side 0)
    c = np.array([b["jacket_center_0_x"], b["jacket_center_0_y"]]) if mode == "jacket" else np.zeros(2)
    rel = wc["point"][lat, :2] - c
    rho = np.hypot(rel[:, 0], rel[:, 1])
    radial = np.einsum("ij,ij->i", wc["force"][lat, :2], rel) / rho
    assert np.all(radial < 0) and np.all(wc["force"][lat, 2] == 0.0)
    area = 2 * np.pi * b["cylinder_radius"] * (b["z_top"] - b["z_bottom"]) if mode in ("wall", "jacket") else None
    if area is not None:
        assert -radial.sum() / area == pytest.approx(b["confining_stress"], rel=1e-9)
        assert np.allclose(rho, b["cylinder_radius"])
    else:
        from labquake.sim.dem import _kernels as K

        assert -radial.sum() == pytest.approx(b["confining_stress"] * eng._a["wal"][K.W_CAREA], rel=1e-9)


# ----------------------------------------------------------------------------- platen friction
def _sphere_on_platen(mu, ks=4e6, kn=1e7, r=1e-3, overlap=1e-5):
    """One driven sphere of radius ``r`` pressed ``overlap`` into the bottom platen."""
    eng = Engine(np.array([[0.0, 0.0, r - overlap]]), [r], 2650.0, LinearContact(1e7, 4e6, 0.5),
                 platens=Platens(0.0, 1.0, kn, mode="velocity", velocity=0.0, friction=mu, shear_stiffness=ks))
    eng.set_fixed([0])
    return eng, kn * overlap


def test_platen_friction_sticks_elastically_then_slides_at_mu_fn():
    """A sphere pressed on the bottom platen and dragged sideways (no spin): the tangential
    force is −ks·u while below μ·Fn and μ·Fn once sliding, opposite the motion; the
    friction dissipation is μ·Fn·(slip − μ·Fn/ks) and the spring's energy is counted as
    the walls' strain energy, so the budget closes."""
    mu, ks = 0.3, 4e6
    eng, fn = _sphere_on_platen(mu, ks)
    v = 0.01
    e0 = eng.energy()
    eng.set_velocities([0], [[v, 0.0, 0.0]])
    stick = 0.5 * mu * fn / ks  # half the elastic limit
    n1 = round(stick / (v * eng.dt))
    eng.run(n1)
    wc = eng.wall_contacts()
    assert wc["force"][0, 0] == pytest.approx(-ks * n1 * v * eng.dt, rel=1e-9)
    assert wc["force"][0, 2] == pytest.approx(fn, rel=1e-9)
    assert eng.strain_energy_parts()["walls"] == pytest.approx(0.5 * fn * fn / 1e7 + 0.5 * ks * (n1 * v * eng.dt) ** 2,
                                                               rel=1e-9)
    assert eng.energy()["friction_dissipation"] - e0["friction_dissipation"] == 0.0
    n2 = round(20 * mu * fn / ks / (v * eng.dt))  # far past the elastic limit
    eng.run(n2)
    wc = eng.wall_contacts()
    assert wc["force"][0, 0] == pytest.approx(-mu * fn, rel=1e-9) and wc["force"][0, 1] == 0.0
    slip = (n1 + n2) * v * eng.dt
    e = eng.energy()
    dfr = e["friction_dissipation"] - e0["friction_dissipation"]
    assert dfr == pytest.approx(mu * fn * (slip - mu * fn / ks), rel=2e-3)
    assert abs(e["residual"]) <= 1e-6 * dfr
    # lifted off the platen: the spring lets go, its energy is lost as friction
    eng.set_velocities([0], [[0.0, 0.0, 1.0]])
    eng.run(int(2e-5 / eng.dt) + 1)  # 1 m/s for twice the overlap
    e2 = eng.energy()
    assert eng.wall_contacts()["particle"].size == 0
    assert e2["friction_dissipation"] - e["friction_dissipation"] == pytest.approx(0.5 * (mu * fn) ** 2 / ks, rel=1e-6)


def test_platen_friction_acts_at_the_contact_point_and_turns_the_sphere():
    """Spinning a pressed sphere about a horizontal axis rolls its contact point along
    the platen: the friction opposes the contact point's motion (ω × (0, 0, −r)) and its
    torque about the centre is (0, 0, −r) × F; frictionless platens exert neither."""
    r = 1e-3
    for mu in (0.3, 0.0):
        eng, _ = _sphere_on_platen(mu, r=r)
        w = 5.0  # rad/s about +y: the contact point at (0, 0, -r) moves along -x
        eng.set_velocities([0], [[0.0, 0.0, 0.0]], [[0.0, w, 0.0]])
        eng.run(10)
        wc = eng.wall_contacts()
        f = wc["force"][0]
        if mu == 0.0:
            assert f[0] == 0.0 and f[1] == 0.0
            continue
        u = -r * w * 10 * eng.dt  # the contact point's displacement along x
        assert f[0] == pytest.approx(-4e6 * u, rel=1e-9) and f[0] > 0
        tq = eng._a["trq"][0]
        assert tq[1] == pytest.approx(-r * f[0], rel=1e-9) and tq[0] == pytest.approx(0.0, abs=1e-15)
