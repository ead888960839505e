"""PFC3D import: hand-made fixtures in each layout import to the expected tables."""

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labquake.cli import main
from labquake.errors import ConfigError, OutputError
from labquake.io.pfc3d import (
    BALL_ALIASES,
    PfcImportWarning,
    import_pfc,
    map_aliases,
    moment_magnitude,
    read_crack_file,
    read_pfc,
)
from labquake.io.pfc3d.config import config_from_dict
from labquake.io.rundir import RunDirectory

DATA = Path(__file__).parent / "data" / "pfc3d"
RUN487 = DATA / "run487"
FISH12 = DATA / "fish12"


@pytest.fixture(scope="module")
def run487(tmp_path_factory):
    out = tmp_path_factory.mktemp("imp") / "r487"
    with pytest.warns(PfcImportWarning, match="mag that differs"):
        report = import_pfc(RUN487, out)
    return RunDirectory(out), report


def test_cracks_map_types_to_kind_and_mode(run487):
    rd, _ = run487
    c = rd.read_table("cracks")
    assert c["step"].tolist() == [1005, 1012, 1012, 1030, 1047, 1061]
    assert c["kind"].tolist() == ["fault", "rock", "fault", "fault", "rock", "fault"]
    assert c["mode"].tolist() == ["shear", "tension", "tension", "tension", "shear", "shear"]
    # "(nx , ny , nz )", "(nx,ny,nz)" and "( nx , ny , nz )" and tabs all parse
    np.testing.assert_allclose(c[["nx", "ny", "nz"]].to_numpy()[2], [0.8660254, 0.0, 0.5])
    np.testing.assert_allclose(c[["nx", "ny", "nz"]].to_numpy()[4], [0.0, 0.6, 0.8])
    np.testing.assert_allclose(c["time"], c["step"] * 1e-7)
    assert c["crack_id"].tolist() == list(range(6))
    assert (c["particle_a"] == -1).all() and (c["size"] == 0).all()


def test_events_recompute_moment_and_keep_mag(run487):
    rd, report = run487
    e = rd.read_table("events")
    assert e["event_id"].tolist() == [1, 2, 3, 4]
    # M0 = sqrt(sum eig^2 / 2) from the tensor (M31 -> m13, M32 -> m23)
    t = np.array([[1000, 200, 100], [200, -500, 0], [100, 0, -500]], float)
    m0 = np.sqrt(np.sum(np.linalg.eigvalsh(t) ** 2) / 2)
    assert e.loc[0, "m0"] == pytest.approx(m0, rel=1e-12)
    assert e.loc[0, "mw"] == pytest.approx(2 / 3 * np.log10(m0) - 6, abs=1e-12)
    assert e.loc[0, "m13"] == 100 and e.loc[0, "m23"] == 0
    # event 4's mag (line 4) disagrees with its tensor: Mw from the tensor, warning, mag kept
    assert e.loc[3, "mw"] == pytest.approx(-4.534020, abs=1e-5)
    assert e.loc[3, "mag_pfc"] == pytest.approx(-4.034020)
    assert any("ms487-1.txt" in w and "line 4" in w for w in report.warnings)
    # on-fault: a fault crack among its per-crack tensors (ae cluster ids) and near the plane
    assert e["on_fault"].tolist() == [True, True, True, False]
    assert e["n_cracks"].tolist() == [1, 2, 1, 1]


def test_contact_histories_two_trials(run487):
    rd, report = run487
    c = rd.read_table("contacts")
    m = rd.read_table("monitored")
    assert report.trials == [1, 2]
    assert m["contact_id"].tolist() == list(range(6))
    assert m["model"].tolist() == ["smoothjoint", "smoothjoint", "linear", "smoothjoint", "flatjoint", "smoothjoint"]
    # b_coord: midpoint of the two balls
    np.testing.assert_allclose(m.loc[0, ["x", "y", "z"]].to_numpy(float), [0.002, 0.0, -0.002])
    # steps from global_step (its trailing unfilled 0 and the all-zero last rows dropped)
    assert sorted(c["step"].unique()) == [1000, 1020, 1040, 1060, 1080]
    assert len(c) == 5 * 6
    assert c["contact_id"].tolist()[:6] == list(range(6))  # step-major, trial 1 then trial 2
    row = c[(c.step == 1020) & (c.contact_id == 1)].iloc[0]
    assert row.fn == 2010 and row.fs == 205
    row = c[(c.step == 1040) & (c.contact_id == 4)].iloc[0]
    assert row.fn == 2060 and row.fs == 312
    # contact 2 lost its forces (PFC writes 0 for a null contact): broken from then on
    assert c[c.contact_id == 2].sort_values("step")["broken"].tolist() == [False, False, False, True, True]
    # displacements rebased to the first sample; velocities as written
    a = c[c.contact_id == 0].sort_values("step")
    np.testing.assert_allclose(a["a_ux"], [0, 1e-6, 2e-6, 3e-6, 4e-6], atol=1e-18)
    np.testing.assert_allclose(a["b_uy"], [0, -1e-6, -2e-6, -3e-6, -4e-6], atol=1e-18)
    np.testing.assert_allclose(a["a_vz"], [0, 1e-3, 2e-3, 3e-3, 4e-3])
    # trial 2 has no ball files: zeros, and the report says so
    assert (c[c.contact_id >= 3][["a_ux", "b_vz"]] == 0).all().all()
    assert any("trial 2" in f and "not found" in f for f in report.filled)
    assert rd.read_meta()["contact_interval"] == 20


def test_stress_histories_and_meta(run487):
    rd, _ = run487
    ld = rd.read_table("loading")
    assert ld["step"].tolist() == [1000, 1020, 1040, 1060, 1080]
    np.testing.assert_allclose(ld["differential_stress"], [1e8, 1.01e8, 1.02e8, 1.03e8, 1.04e8])
    np.testing.assert_allclose(ld["axial_stress"], ld["differential_stress"] + 150e6)
    np.testing.assert_allclose(ld["axial_strain"], [0, 0.001, 0.002, 0.003, 0.004])
    np.testing.assert_allclose(ld["platen_displacement"], ld["axial_strain"] * 0.107)
    meta = rd.read_meta()
    assert meta["status"] == "complete" and rd.is_complete()
    assert meta["dt"] == 1e-7
    f = meta["fault"]
    assert f["angle_deg"] == 30 and f["cohesion"] == 55e6 and f["friction_angle_deg"] == 30
    assert f["tensile_strength"] == 55e6
    assert f["contact_area"] == pytest.approx(2e-5)  # mean smooth-joint area of sj487.txt
    np.testing.assert_allclose(f["normal"], [np.sqrt(3) / 2, 0, 0.5])
    assert meta["pfc_import"]["run_id"] == 487


def test_generic_tables_and_report(run487):
    rd, report = run487
    balls = pd.read_parquet(rd.path / "pfc" / "balls.parquet")
    assert list(balls.columns) == ["id", "x", "y", "z", "radius", "vx"]
    assert balls["radius"].tolist() == [0.0025, 0.0024]
    cont = pd.read_parquet(rd.path / "pfc" / "contacts_487.parquet")
    assert cont["contact_type"].tolist() == ["smoothjoint", "linear"]
    assert cont["fs"].tolist() == [300.25, 0.0] and cont["nx"].tolist() == [0.866, 1.0]
    ae = pd.read_parquet(rd.path / "pfc" / "ae.parquet")
    assert ae["cluster_id"].tolist() == [1, 2, 2, 3, 4]
    ignored = dict(report.ignored)
    assert "not a known PFC3D layout" in ignored["notes.txt"]
    assert ("balls.csv", "column 'group' (not in the alias table)") in report.ignored
    text = str(report)
    for word in ("found", "mapped", "ignored", "crk487-1.txt -> cracks.parquet", "filled in"):
        assert word in text


def test_fish_binary_fixture(tmp_path):
    out = tmp_path / "r12"
    report = import_pfc(FISH12, out)
    rd = RunDirectory(out)
    c = rd.read_table("cracks")
    assert c["step"].tolist() == [100, 120, 140]
    assert c["kind"].tolist() == ["fault", "rock", "fault"] and c["mode"].tolist() == ["shear", "tension", "tension"]
    np.testing.assert_allclose(c[["nx", "ny", "nz"]].to_numpy()[0], [0.8660254, 0, 0.5])
    e = rd.read_table("events")  # string records, one text line each
    assert e["event_id"].tolist() == [1, 2] and e["n_cracks"].tolist() == [1, 2]
    k = rd.read_table("contacts")
    assert k["step"].tolist() == [100, 100, 120, 120, 140, 140]
    assert k["fn"].tolist() == [500, 700, 501, 699, 502, 698]
    assert k["fs"].tolist() == [50, 70, 51, 71, 52, 72]
    assert report.counts == {"cracks": 3, "events": 2, "contacts": 6, "monitored": 2}


def test_moment_magnitude_matches_eigenvalues():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 3, 3))
    t = (a + a.transpose(0, 2, 1)) * 1e6
    m0, mw = moment_magnitude(t[:, 0, 0], t[:, 0, 1], t[:, 0, 2], t[:, 1, 1], t[:, 1, 2], t[:, 2, 2])
    ref = np.sqrt((np.linalg.eigvalsh(t) ** 2).sum(axis=1) / 2)
    np.testing.assert_allclose(m0, ref, rtol=1e-12)
    np.testing.assert_allclose(mw, 2 / 3 * np.log10(ref) - 6, atol=1e-12)


def test_crack_reader_and_extra_columns(tmp_path):
    p = tmp_path / "crk5-1.txt"
    p.write_text("10 0 0 0 sj_Shear (0 , 0 , 1 ) 0.002 7 9\n11 1 1 1 fjten (1 , 0 , 0 ) 0.003 8 12\n")
    cracks, _ = read_crack_file(p, config_from_dict({"columns": {"crk": ["size", "particle_a", "particle_b"]}}))
    assert cracks["size"].tolist() == [0.002, 0.003]
    assert cracks["particle_b"].tolist() == [9, 12] and cracks["particle_b"].dtype == np.int64
    # undeclared extra columns (the thesis' 9th column, a strength) are ignored
    cracks, _ = read_crack_file(p)
    assert (cracks["size"] == 0).all()


def test_aliases():
    mapped, unmapped = map_aliases(["ID", "pos_x", "Pos.Y", "z (m)", "Rad", "colour"], BALL_ALIASES)
    assert mapped == {"id": "ID", "x": "pos_x", "y": "Pos.Y", "z": "z (m)", "radius": "Rad"}
    assert unmapped == ["colour"]


def test_config_file_and_overrides(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(FISH12, src)
    (src / "pfc.toml").write_text('dt = 2e-7\n[fault]\nangle_deg = 35.0\ncohesion = 40e6\n[sample]\nconfining_stress = 1e8\n')
    run = read_pfc(src)
    assert run.meta["dt"] == 2e-7 and run.meta["fault"]["angle_deg"] == 35.0 and run.meta["fault"]["cohesion"] == 40e6
    assert run.tables["cracks"]["time"].tolist() == pytest.approx([2e-5, 2.4e-5, 2.8e-5])
    run = read_pfc(src, dt=1e-6)  # the flag wins
    assert run.meta["dt"] == 1e-6
    (src / "pfc.toml").write_text("dt = 1e-7\nbogus = 1\n")
    with pytest.raises(ConfigError, match="unknown key 'bogus'"):
        read_pfc(src)
    (src / "pfc.toml").write_text("[fault]\nangle_deg = 95\n")
    with pytest.raises(ConfigError, match="angle_deg"):
        read_pfc(src)


def test_cli_reports_and_protects_existing_output(tmp_path, capsys):
    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI lists warnings in its report instead
        assert main(["import-pfc", str(RUN487), "--out", str(out), "--run-id", "487", "--dt", "1e-7"]) == 0
    text = capsys.readouterr().out
    assert "found" in text and "mapped" in text and "ignored" in text and "warnings (1)" in text
    before = sorted(p.name for p in out.iterdir())
    assert main(["import-pfc", str(FISH12), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labquake: error:") and "already exists" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == before
    assert main(["import-pfc", str(FISH12), "--out", str(out), "--force", "--quiet"]) == 0
    assert RunDirectory(out).read_meta()["pfc_import"]["run_id"] == 12
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    with pytest.raises(OutputError):
        import_pfc(FISH12, out)


def test_several_runs_need_run_id(tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(FISH12, src)
    shutil.copy(src / "crk12-1.fish", src / "crk13-1.fish")
    assert main(["import-pfc", str(src), "--out", str(tmp_path / "o")]) == 2
    assert "several runs (12, 13)" in capsys.readouterr().err
    assert main(["import-pfc", str(src), "--out", str(tmp_path / "o"), "--run-id", "13", "--quiet"]) == 0
    rep = RunDirectory(tmp_path / "o").read_meta()["pfc_import"]
    assert {"file": "cn12-1.fish", "why": "belongs to run 12, not run 13"} in rep["ignored"]


@pytest.mark.parametrize("command", ["import-pfc", "export-pfc"])
def test_force_replaces_only_a_directory_labquake_marked(tmp_path, capsys, command):
    from labquake.io.rundir import MARKER, has_marker

    if command == "import-pfc":
        args = lambda out: ["import-pfc", str(FISH12), "--out", str(out), "--quiet"]  # noqa: E731
    else:
        src = tmp_path / "src"
        assert main(["import-pfc", str(FISH12), "--out", str(src), "--quiet"]) == 0
        args = lambda out: ["export-pfc", str(src), "--out", str(out)]  # noqa: E731
    # somebody's folder: --force must not replace it
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("years of work")
    capsys.readouterr()
    assert main(args(theirs) + ["--force"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labquake: error:") and MARKER in err and "\n" not in err
    assert (theirs / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in theirs.iterdir()) == ["thesis.tex"]
    # a directory labquake wrote carries the marker and may be replaced with --force
    ours = tmp_path / "ours"
    assert main(args(ours)) == 0
    assert has_marker(ours)
    (ours / "stale.txt").write_text("old")
    assert main(args(ours)) == 2
    assert main(args(ours) + ["--force"]) == 0
    assert has_marker(ours) and not (ours / "stale.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_forged_or_foreign_marker_is_not_enough(tmp_path, capsys):
    from labquake.io.rundir import MARKER

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "data.csv").write_text("1,2")
    (theirs / MARKER).write_text("not json")
    assert main(["import-pfc", str(FISH12), "--out", str(theirs), "--quiet", "--force"]) == 2
    assert (theirs / "data.csv").exists()
