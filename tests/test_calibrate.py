"""The intact-rock calibration harness (labquake.sim.calibrate, ``labquake calibrate``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from labquake.sim.calibrate import (
    PROPERTIES,
    TARGETS,
    CalibrationSettings,
    CalibrationTest,
    GaugeFit,
    calibrate,
    mohr_coulomb,
    parse_seeds,
    parse_tests,
    run_config_for,
    run_test,
    stop_reason,
    tangent_modulus,
    tangent_poisson,
    unfaulted,
)
from labquake.cli import main
from labquake.sim.config import resolve_config
from labquake.errors import ConfigError, InsufficientDataError
from labquake.io.rundir import RunDirectory

# ~170 particles of 2.4-2.8 mm in a 16 x 32 mm cylinder
GEOMETRY = {"diameter": 0.016, "length": 0.032, "d_min": 0.0024, "d_max": 0.0028, "solid_fraction": 0.55}

# weak bonds so that every test peaks within a few thousand steps
TINY = {
    "name": "tiny-cal",
    "seed": 3,
    "specimen": GEOMETRY,
    "rock": {"tensile_strength": 20e6, "tensile_strength_std": 5e6, "cohesion": 60e6, "cohesion_std": 6e6},
    "loading": {"consolidation_max_steps": 3000, "consolidation_ramp_steps": 800, "consolidation_min_steps": 800},
    "recording": {"checkpoint_interval": 500, "loading_interval": 50},
    "calibration": {"strain_rate": 5.0, "tension_strain_rate": 5.0, "ramp_steps": 200, "confinements_mpa": [5.0, 10.0, 30.0],
                    "max_strain": 0.006, "tension_max_strain": 0.002},
}


# --------------------------------------------------------------------------------------
# Estimators on synthetic data
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("c, phi", [(30e6, 40.0), (45.5e6, 55.0), (10e6, 12.0)])
def test_mohr_coulomb_recovers_c_and_phi(c, phi):
    s = math.sin(math.radians(phi))
    ucs = 2 * c * math.cos(math.radians(phi)) / (1 - s)
    q = (1 + s) / (1 - s)
    s3 = np.array([0.0, 5e6, 10e6, 30e6])
    fit = mohr_coulomb(s3, ucs + q * s3)
    assert fit["friction_angle_deg"] == pytest.approx(phi, rel=1e-10)
    assert fit["cohesion"] == pytest.approx(c, rel=1e-10)
    assert fit["ucs_intercept"] == pytest.approx(ucs, rel=1e-10)
    assert fit["q"] == pytest.approx(q, rel=1e-10)


def test_mohr_coulomb_is_a_least_squares_fit():
    # symmetric residuals (+d, -d, -d, +d about the line) leave slope and intercept unchanged
    s3 = np.array([0.0, 5.0, 10.0, 15.0])
    s1 = 100.0 + 4.0 * s3 + np.array([3.0, -3.0, -3.0, 3.0])
    fit = mohr_coulomb(s3, s1)
    assert fit["q"] == pytest.approx(4.0) and fit["ucs_intercept"] == pytest.approx(100.0)
    assert fit["friction_angle_deg"] == pytest.approx(math.degrees(math.asin(3.0 / 5.0)))
    with pytest.raises(InsufficientDataError):
        mohr_coulomb([5.0, 5.0], [200.0, 210.0])
    assert math.isnan(mohr_coulomb([0.0, 10.0], [100.0, 90.0])["friction_angle_deg"])  # q < 1 ... q <= 0 -> no envelope
    assert mohr_coulomb([0.0, 10.0], [100.0, 90.0])["q"] == pytest.approx(-1.0)


def _synthetic_test(e_mod=60e9, nu=0.14, peak_strain=2.5e-3, n=400):
    strain = np.linspace(0.0, 1.6 * peak_strain, n)
    stress = np.where(strain <= peak_strain, e_mod * strain, e_mod * peak_strain * (1 - 4 * (strain - peak_strain) / peak_strain))
    lateral = -nu * strain  # contraction positive: the sample widens
    return stress, strain, lateral


def test_tangent_estimators_recover_a_linear_elastic_curve():
    stress, strain, lateral = _synthetic_test()
    assert tangent_modulus(stress, strain) == pytest.approx(60e9, rel=1e-9)
    assert tangent_poisson(stress, strain, lateral) == pytest.approx(0.14, rel=1e-9)
    # the post-peak branch passes through 50 % of the peak too: it must not enter the fit
    assert tangent_modulus(stress, strain, level=0.3, window=0.05) == pytest.approx(60e9, rel=1e-9)


def test_tangent_modulus_is_the_local_tangent_not_the_secant():
    # sigma = E0 eps (1 - eps / (2 eps_p)): peak at eps_p; at half the peak the tangent is E0 / sqrt(2)
    e0, ep = 70e9, 3e-3
    strain = np.linspace(0.0, ep, 3001)
    stress = e0 * strain * (1 - strain / (2 * ep))
    lateral = -0.2 * strain - 30.0 * strain**2  # d(lateral)/d(axial) at eps: -(0.2 + 60 eps)
    eps_half = ep * (1 - math.sqrt(0.5))
    assert tangent_modulus(stress, strain, window=0.02) == pytest.approx(e0 / math.sqrt(2), rel=2e-3)
    assert tangent_poisson(stress, strain, lateral, window=0.02) == pytest.approx(0.2 + 60 * eps_half, rel=2e-3)
    secant = 0.5 * stress.max() / eps_half
    assert abs(tangent_modulus(stress, strain) - secant) > 0.1 * secant


def test_tangent_estimators_need_samples_in_the_window():
    with pytest.raises(InsufficientDataError, match="record_interval"):
        tangent_modulus([0.0, 100.0, 50.0], [0.0, 1.0, 2.0])
    with pytest.raises(InsufficientDataError):
        tangent_modulus([0.0, -1.0], [0.0, 1.0])


def test_gauge_fit_recovers_an_affine_field():
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-0.01, 0.01, (60, 3))
    g = np.array([[1e-4, 2e-5, 0.0], [-2e-5, 3e-4, 1e-5], [0.0, 0.0, -1e-3]])
    x = x0 + x0 @ g.T + np.array([1e-5, -2e-5, 3e-5])
    fit = GaugeFit(x0, np.arange(60))
    np.testing.assert_allclose(fit.gradient(x), g, atol=1e-12)
    ea, er = fit.strains(x)
    assert ea == pytest.approx(1e-3) and er == pytest.approx(-2e-4)
    with pytest.raises(InsufficientDataError):
        GaugeFit(x0, np.arange(3))


# --------------------------------------------------------------------------------------
# Names, seeds, settings
# --------------------------------------------------------------------------------------


def test_parse_tests_and_seeds():
    s = CalibrationSettings()
    names = [t.name for t in parse_tests("ucs,tension,triaxial", s)]
    assert names == ["ucs", "tension", "triaxial5", "triaxial10", "triaxial30"]
    t = parse_tests(" triaxial30 , UCS", s)
    assert [x.name for x in t] == ["triaxial30", "ucs"] and t[0].confinement == 30e6 and t[0].kind == "triaxial"
    for bad in ("ucs,brazil", "", "triaxial7", "ucs,ucs", "triaxial,triaxial10"):
        with pytest.raises(ConfigError):
            parse_tests(bad, s)
    assert parse_seeds(["1", "2", 3]) == [1, 2, 3]
    for bad in (["x"], ["-1"], ["1", "1"], [], ["1.5"]):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_settings_are_validated():
    assert CalibrationSettings.from_table({"confinements_mpa": [5, 7.5], "ramp_steps": 10.0}).confinements_mpa == (5.0, 7.5)
    for bad in ({"strain_rate": -1.0}, {"drop_fraction": 1.5}, {"confinements_mpa": []}, {"speed": 1.0},
                {"fit_level": 0.5, "fit_window": 0.6}, {"confinements_mpa": 5.0}, {"local_damping": 1.0}):
        with pytest.raises(ConfigError):
            CalibrationSettings.from_table(bad)
    # the [calibration] table is accepted by every run config (and dropped from it)
    cfg = resolve_config({"calibration": {"strain_rate": 2.0}})
    assert "calibration" not in cfg
    names = [t.name for t in parse_tests("triaxial", CalibrationSettings(confinements_mpa=(2.5, 50.0)))]
    assert names == ["triaxial2p5", "triaxial50"]


def _first_stop(load, strain, ramp_rows, settings, post_peak_strain=None):
    """Row and reason at which stop_reason ends a test fed (load, strain) row by row, as
    the loop does (running peak and the strain at it)."""
    peak, at_peak = -math.inf, 0.0
    pps = settings.post_peak_strain if post_peak_strain is None else post_peak_strain
    for k, (f, e) in enumerate(zip(load, strain)):
        if f > peak:
            peak, at_peak = f, e
        r = stop_reason(f, peak, e, at_peak, k >= ramp_rows, settings.drop_fraction, pps, settings.max_strain)
        if r:
            return k, r
    return None, ""


def test_stop_rule_on_brittle_ductile_and_hardening_curves():
    """The stop rule on curves whose answer is known: a brittle drop stops at the first row
    30 % below the peak; a plateau (a ductile confined test) stops exactly
    post_peak_strain after its highest point; a curve that still hardens runs to
    max_strain (its peak then counts as a lower bound); nothing stops during the ramp."""
    s = CalibrationSettings()
    e = np.linspace(0.0, 0.03, 3001)  # 1e-5 strain per row
    brittle = np.where(e < 0.003, 50e9 * e, 150e6 - 200e9 * (e - 0.003))
    k, r = _first_stop(brittle, e, 10, s)
    peak = brittle.max()
    assert r == "post-peak drop" and k == int(np.flatnonzero((e > 0.003) & (brittle < 0.7 * peak))[0])
    # rise, then a plateau whose highest point is at strain 0.0121 (ripples of +-1 %)
    rng = np.random.default_rng(1)
    plateau = np.minimum(50e9 * e, 500e6) * (1 + 0.01 * np.sin(e * 3e3)) + rng.normal(0, 1e5, e.size)
    plateau[1210] = 520e6
    k, r = _first_stop(plateau, e, 10, s)
    assert r == "post-peak plateau" and e[k] - e[1210] == pytest.approx(s.post_peak_strain, abs=1.1e-5)
    assert e[k] - e[1210] >= s.post_peak_strain
    k, r = _first_stop(50e9 * e, e, 10, s)
    assert r == "max_strain" and e[k] >= s.max_strain and e[k - 1] < s.max_strain
    # the plateau rule switched off (tension): the plateau runs to max_strain
    assert _first_stop(plateau, e, 10, s, post_peak_strain=math.inf)[1] == "max_strain"
    # a load that falls during the ramp stops the test only once the ramp is over
    ramp = np.r_[np.full(5, 10e6), np.full(5, 1e6), np.full(e.size - 10, 1e6)]
    assert _first_stop(ramp, e, 10, s) == (10, "post-peak drop")


def test_run_config_of_a_test():
    base = resolve_config(TINY)
    tri = run_config_for(base, CalibrationTest("triaxial5", "triaxial", 5e6), 7, "/x/seed7.npz")
    # the test's confinement is its own; [loading] stays the experiment's (and valid)
    assert tri["seed"] == 7 and tri["specimen"]["file"] == "/x/seed7.npz" and tri["loading"] == base["loading"]
    ucs = run_config_for(base, CalibrationTest("ucs", "ucs"), 7)
    assert ucs["loading"]["confinement"] == "pressure" and ucs["specimen"]["file"] == ""
    assert base["loading"]["confinement"] == "wall"  # the input is not modified
    # the intact cylinder has no fault blocks to float: a jacketed experiment's triaxial
    # tests use the wall it is split from; the platens are the calibration's (frictionless
    # PFC walls by default), not the experiment's
    jk = resolve_config({**TINY, "loading": {**TINY.get("loading", {}), "confinement": "jacket", "platen_friction": 0.05}})
    tri = run_config_for(jk, CalibrationTest("triaxial5", "triaxial", 5e6), 7)
    assert tri["loading"]["confinement"] == "wall" and tri["loading"]["platen_friction"] == 0.0
    ucs = run_config_for(jk, CalibrationTest("ucs", "ucs"), 7, settings=CalibrationSettings(platen_friction=0.05))
    assert ucs["loading"]["confinement"] == "pressure" and ucs["loading"]["platen_friction"] == 0.05
    assert jk["loading"]["confinement"] == "jacket" and jk["loading"]["platen_friction"] == 0.05
    with pytest.raises(ConfigError, match="calibration.platen_friction"):
        CalibrationSettings(platen_friction=-0.1)


# --------------------------------------------------------------------------------------
# A tiny elastic DEM cylinder
# --------------------------------------------------------------------------------------

ELASTIC = {
    "name": "elastic",
    "seed": 5,
    "specimen": GEOMETRY,
    "rock": {"tensile_strength": 1e12, "tensile_strength_std": 0.0, "cohesion": 1e12, "cohesion_std": 0.0},
    "recording": {"checkpoint_interval": 100000, "loading_interval": 25},
}


def _static_states(cfg, specimen, stresses):
    """The same bonded cylinder held at rest (servo platens, heavy damping) under each
    axial stress in turn: measured stress, platen strain and the particle-gauge strains
    from an independent least-squares fit of the displacements."""
    from labquake.sim.experiment import build_engine, install_specimen_bonds

    eng = build_engine(cfg, specimen)
    eng.set_cylinder(target_stress=0.0)
    eng.set_platens(target_stress=0.0)
    install_specimen_bonds(eng, cfg)
    x0 = np.array(eng.positions)
    b0 = eng.boundary_state()
    gap0 = b0["z_top"] - b0["z_bottom"]
    zc = 0.5 * (x0[:, 2].max() + x0[:, 2].min())
    band = np.abs(x0[:, 2] - zc) <= 0.25 * cfg["specimen"]["length"]
    design = np.column_stack([np.ones(band.sum()), x0[band]])
    area = math.pi * (0.5 * cfg["specimen"]["diameter"]) ** 2
    eng.set_damping(local_damping=0.7)
    out = []
    for target in stresses:
        eng.set_platens(mode="servo", target_stress=target)
        for _ in range(40):
            eng.run(500)
            b = eng.boundary_state()
            at_rest = eng.kinetic_energy() < 1e-9 * eng.elastic_energy()
            if abs(b["platen_force_top"] - b["platen_force_bottom"]) < 1e-3 * b["platen_force_top"] and at_rest:
                break
        coef, *_ = np.linalg.lstsq(design, np.array(eng.positions)[band] - x0[band], rcond=None)
        grad = coef[1:].T  # du_i / dx_j
        out.append({"stress": 0.5 * (b["platen_force_top"] + b["platen_force_bottom"]) / area,
                    "eps_platen": (gap0 - (b["z_top"] - b["z_bottom"])) / gap0,
                    "eps_gauge": -grad[2, 2], "eps_radial": -0.5 * (grad[0, 0] + grad[1, 1])})
    return out


@pytest.mark.slow
def test_elastic_cylinder_matches_a_static_estimate(tmp_path):
    """The harness's tangent E and nu (constant-rate loading, time series, local fit)
    equal those of the same cylinder at static equilibrium at 40 % and 60 % of the
    peak (servo platens, own displacement fit). A tangent, not a secant: a bonded packing
    is not linear (it stiffens as gaps close, or softens as locked-in contacts slip)."""
    from labquake.sim.specimen import build_specimen, load_specimen, save_specimen

    base = resolve_config(ELASTIC)
    settings = CalibrationSettings(strain_rate=2.0, ramp_steps=400, max_strain=4e-4)
    spec_file = tmp_path / "specimen.npz"
    save_specimen(build_specimen(base), spec_file)
    res = run_test(base, settings, CalibrationTest("ucs", "ucs"), 5, spec_file, tmp_path / "ucs", progress=False)
    assert res["stop_reason"] == "max_strain" and res["cracks"] == {"tension": 0, "shear": 0}
    peak = res["peak_mpa"] * 1e6
    lo, hi = _static_states(run_config_for(base, CalibrationTest("ucs", "ucs"), 5), unfaulted(load_specimen(spec_file)),
                            [0.4 * peak, 0.6 * peak])
    assert lo["stress"] == pytest.approx(0.4 * peak, rel=0.02) and hi["stress"] == pytest.approx(0.6 * peak, rel=0.02)
    ds = hi["stress"] - lo["stress"]
    assert res["youngs_gauge_gpa"] * 1e9 == pytest.approx(ds / (hi["eps_gauge"] - lo["eps_gauge"]), rel=0.03)
    assert res["youngs_gpa"] * 1e9 == pytest.approx(ds / (hi["eps_platen"] - lo["eps_platen"]), rel=0.03)
    nu_static = -(hi["eps_radial"] - lo["eps_radial"]) / (hi["eps_gauge"] - lo["eps_gauge"])
    assert res["poisson"] == pytest.approx(nu_static, abs=0.01)
    # the platen strain includes the platen contacts' compliance: a lower modulus
    assert res["youngs_gpa"] < res["youngs_gauge_gpa"]
    assert 0.0 < res["poisson"] < 0.5
    # quasi-static: both platens carry the same load at the peak
    assert res["end_imbalance_at_peak"] < 0.02


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------


def _write(path: Path, raw: dict) -> Path:
    path.write_text(tomli_w.dumps(raw))
    return path


@pytest.fixture(scope="module")
def tiny_cal(tmp_path_factory):
    """A complete CLI calibration of the tiny config (ucs, tension, triaxial30)."""
    root = tmp_path_factory.mktemp("cal")
    cfg = _write(root / "tiny.toml", TINY)
    out = root / "out"
    rc = main(["calibrate", str(cfg), "--out", str(out), "--tests", "ucs,tension,triaxial30", "--quiet"])
    return rc, cfg, out


@pytest.mark.slow
def test_cli_writes_the_contract_files(tiny_cal):
    rc, _, out = tiny_cal
    assert rc == 0
    for f in ("calibration.json", "calibration.md", "calibration.parquet", "stress_strain.png"):
        assert (out / f).is_file(), f
    doc = json.loads((out / "calibration.json").read_text())
    assert doc["seeds"] == [3] and doc["tests"] == ["ucs", "tension", "triaxial30"]
    for p in PROPERTIES:
        e = doc["properties"][p]
        assert set(e) >= {"mean", "per_seed"} and len(e["per_seed"]) == 1, p
        if p in TARGETS:
            assert e["target"]["low"] == TARGETS[p][0] and e["target"]["high"] == TARGETS[p][1]
    assert doc["properties"]["sigma1_5_mpa"]["mean"] is None  # not run
    props = doc["properties"]
    for p in ("ucs_mpa", "tension_mpa", "youngs_gpa", "poisson", "sigma1_30_mpa", "cohesion_mpa", "friction_angle_deg"):
        assert props[p]["mean"] is not None and props[p]["mean"] == pytest.approx(props[p]["per_seed"][0]), p
    assert set(doc["targets"]) == set(TARGETS)
    # the properties come from the tables: recompute them from the run directories
    ucs = RunDirectory(out / "ucs-seed3").read_table("loading")
    assert props["ucs_mpa"]["mean"] == pytest.approx(ucs["axial_stress"].max() / 1e6)
    assert props["youngs_gpa"]["mean"] == pytest.approx(tangent_modulus(ucs["axial_stress"], ucs["axial_strain"]) / 1e9)
    ten = RunDirectory(out / "tension-seed3").read_table("loading")
    assert (ten["axial_stress"] <= 1e6).all() and props["tension_mpa"]["mean"] == pytest.approx(-ten["axial_stress"].min() / 1e6)
    tri = RunDirectory(out / "triaxial30-seed3").read_table("loading")
    assert np.all(np.abs(tri["confining_stress"] / 30e6 - 1) < 0.05)
    assert props["sigma1_30_mpa"]["mean"] == pytest.approx(30 + tri["differential_stress"].max() / 1e6)
    assert props["sigma1_30_mpa"]["mean"] > props["ucs_mpa"]["mean"] > props["tension_mpa"]["mean"] > 0
    fit = mohr_coulomb([0.0, 30.0], [props["ucs_mpa"]["mean"], props["sigma1_30_mpa"]["mean"]])
    assert props["cohesion_mpa"]["mean"] == pytest.approx(fit["cohesion"])
    # every test is a complete run directory with its crack table and figure
    for name in ("ucs", "tension", "triaxial30"):
        run = RunDirectory(out / f"{name}-seed3")
        assert run.is_complete() and not run.checkpoint_dir.exists()
        meta = run.read_meta()
        cal = meta["calibration"]
        assert cal["stop_reason"] in ("post-peak drop", "post-peak plateau", "max_strain")
        assert cal["peak_reached"] == (cal["stop_reason"] != "max_strain")
        cr = run.read_table("cracks")
        assert len(cr) == cal["cracks"]["tension"] + cal["cracks"]["shear"] and set(cr["kind"]) <= {"rock"}
        assert (run.path / "stress_strain.png").is_file()
    table = pd.read_parquet(out / "calibration.parquet")
    assert list(table["test"]) == ["ucs", "tension", "triaxial30"]
    md = (out / "calibration.md").read_text()
    assert "| UCS, MPa |" in md and "141.5 +- 20" in md


@pytest.mark.slow
def test_cli_rerun_skips_and_resume_continues(tiny_cal, tmp_path, capsys):
    rc, cfg, out = tiny_cal
    before = json.loads((out / "calibration.json").read_text())
    mtime = (out / "ucs-seed3" / "loading.parquet").stat().st_mtime_ns
    assert main(["calibrate", str(cfg), "--out", str(out), "--tests", "ucs,tension,triaxial30", "--quiet"]) == 0
    assert (out / "ucs-seed3" / "loading.parquet").stat().st_mtime_ns == mtime  # skipped
    after = json.loads((out / "calibration.json").read_text())
    assert after["properties"] == before["properties"]
    # a killed triaxial test resumes from its checkpoint and gives the uninterrupted table
    from labquake.sim.calibrate import load_calibration_config

    base, settings = load_calibration_config(cfg)
    out2 = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        calibrate(base, out2, seeds=[3], tests="triaxial30", settings=settings, progress=False, _interrupt_at_step=2000)
    run = RunDirectory(out2 / "triaxial30-seed3")
    assert run.status == "failed" and (run.checkpoint_dir / "state.json").is_file()  # npz + JSON, no pickle
    assert not list(run.checkpoint_dir.glob("*.pkl"))
    capsys.readouterr()
    assert main(["calibrate", str(cfg), "--out", str(out2), "--tests", "triaxial30", "--quiet"]) == 0
    assert run.is_complete()
    pd.testing.assert_frame_equal(run.read_table("loading"), RunDirectory(out / "triaxial30-seed3").read_table("loading"))
    pd.testing.assert_frame_equal(run.read_table("cracks"), RunDirectory(out / "triaxial30-seed3").read_table("cracks"))


@pytest.mark.slow
def test_cli_parallel_jobs_give_the_serial_results(tiny_cal, tmp_path):
    rc, cfg, out = tiny_cal
    out2 = tmp_path / "jobs"
    assert main(["calibrate", str(cfg), "--out", str(out2), "--tests", "ucs,tension", "--jobs", "2", "--quiet"]) == 0
    a = json.loads((out / "calibration.json").read_text())["properties"]
    b = json.loads((out2 / "calibration.json").read_text())["properties"]
    for p in ("ucs_mpa", "tension_mpa", "youngs_gpa", "poisson"):
        assert b[p]["per_seed"] == a[p]["per_seed"], p


def _one_line_error(capsys, argv, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labquake: error:") and "\n" not in err, err
    for n in needles:
        assert n in err, err
    return err


def test_cli_one_line_errors(tmp_path, capsys):
    cfg = _write(tmp_path / "tiny.toml", TINY)
    out = tmp_path / "out"
    _one_line_error(capsys, ["calibrate", str(cfg), "--out", str(out), "--tests", "ucs,brazilian"], "unknown test 'brazilian'", "triaxial30")
    _one_line_error(capsys, ["calibrate", str(cfg), "--out", str(out), "--seeds", "1", "x"], "--seeds", "'x'")
    _one_line_error(capsys, ["calibrate", str(cfg), "--out", str(out), "--seeds", "-2"], "--seeds")
    _one_line_error(capsys, ["calibrate", str(cfg), "--out", str(out), "--seeds", "2", "2"], "twice")
    _one_line_error(capsys, ["calibrate", str(tmp_path / "missing.toml"), "--out", str(out)], "not found")
    bad = tmp_path / "bad.toml"
    bad.write_text("[rock\nmodulus = 1")
    _one_line_error(capsys, ["calibrate", str(bad), "--out", str(out)], "invalid TOML")
    _one_line_error(capsys, ["calibrate", str(tmp_path), "--out", str(out)], "directory")
    _one_line_error(capsys, ["calibrate", str(_write(tmp_path / "k.toml", {"calibration": {"rate": 1.0}})), "--out", str(out)],
                    "calibration.rate")
    _one_line_error(capsys, ["calibrate", str(_write(tmp_path / "r.toml", {"rock": {"modulus": -1.0}})), "--out", str(out)],
                    "rock.modulus")
    assert not out.exists()  # nothing written by a refused command
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    _one_line_error(capsys, ["calibrate", str(cfg), "--out", str(other)], "not a calibration directory")
    assert (other / "notes.txt").read_text() == "keep me" and sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    _one_line_error(capsys, ["calibrate", str(cfg), "--out", str(afile)], "not a directory")


def test_cli_refuses_a_calibration_of_another_config(tmp_path, capsys):
    from labquake.sim.calibrate import _MARKER

    cfg = _write(tmp_path / "tiny.toml", TINY)
    out = tmp_path / "out"
    out.mkdir()
    (out / _MARKER).write_text("[config]\nname = 'something else'\n")
    _one_line_error(capsys, ["calibrate", str(cfg), "--out", str(out), "--tests", "ucs"], "different config")


def test_unreached_peaks_are_flagged_as_lower_bounds():
    """A test that ended at max_strain (peak_reached false) makes its strength, and the
    envelope of its seed, a lower bound; finished tests and results written before the
    flag existed are not; calibration.md marks the value with '>='."""
    from labquake.sim.calibrate.suite import _lower_bounds, _markdown

    specs = parse_tests("ucs,tension,triaxial30", CalibrationSettings())
    results = [
        {"seed": 1, "test": "ucs", "peak_reached": True},
        {"seed": 1, "test": "tension"},  # an older result: no flag
        {"seed": 1, "test": "triaxial30", "peak_reached": False},
        {"seed": 2, "test": "ucs", "peak_reached": True},
        {"seed": 2, "test": "triaxial30", "peak_reached": True},
    ]
    lb = _lower_bounds(results, [1, 2], specs)
    assert lb["sigma1_30_mpa"] == [True, False] and lb["cohesion_mpa"] == [True, False]
    assert lb["friction_angle_deg"] == [True, False]
    assert lb["ucs_mpa"] == [False, False] and lb["tension_mpa"] == [False, False]
    assert lb["sigma1_5_mpa"] == [False, False]  # not run: no bound either
    doc = {"config_name": "x", "seeds": [1, 2], "tests": ["triaxial30"], "wall_time_s": 1.0, "per_test": {},
           "settings": {}, "definitions": {},
           "properties": {"sigma1_30_mpa": {"mean": 505.0, "per_seed": [480.0, 530.0], "lower_bound": [True, False],
                                            "target": {"text": "522 +- 70"}, "within_target": True}}}
    line = next(x for x in _markdown(doc, []).splitlines() if x.startswith("| sigma1 at 30 MPa"))
    assert ">= 480.0, 530.0" in line and "lower bound" in line
