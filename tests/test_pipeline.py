"""Campaign analysis end to end on small synthetic run directories, and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labquake.errors import InsufficientDataError
from labquake.geometry import FaultPlane
from labquake.io.rundir import RunDirectory

FORESHOCK_CENTRES = (60_000, 120_000, 180_000)
MAINSHOCK_CENTRE = 260_000
TOTAL_STEPS = 320_000


def write_synthetic_run(path, seed: int = 0, *, fault_cracks: bool = True, n_fore=(12, 18, 25), n_main: int = 150,
                        sigma: float = 1500.0, mainshock_position=None) -> RunDirectory:
    """A small complete run directory: fault cracks in 3 foreshock bursts and a mainshock
    burst (one event per fault crack, on the fault plane), a few rock cracks/events off
    the fault, a loading curve with a stress drop at the mainshock."""
    rng = np.random.default_rng(seed)
    fp = FaultPlane(30.0)
    sizes = list(n_fore) + [n_main]
    centres = list(FORESHOCK_CENTRES) + [MAINSHOCK_CENTRE]
    fsteps = np.concatenate([rng.normal(c, sigma, s) for c, s in zip(centres, sizes)]).round().astype(np.int64)
    n_f = fsteps.size
    uv = rng.uniform(-0.02, 0.02, (n_f, 2))
    if mainshock_position is not None:
        uv[-n_main:] = np.asarray(mainshock_position) + rng.normal(0, 0.004, (n_main, 2))
    fpos = fp.from_fault_coords(np.column_stack([uv, rng.normal(0, 0.0005, n_f)]))
    n_r = 40
    rsteps = rng.integers(1000, TOTAL_STEPS - 1000, n_r)
    rpos = rng.uniform(-0.015, 0.015, (n_r, 3)) + fp.normal * 0.03
    if not fault_cracks:
        fsteps, fpos, n_f = fsteps[:0], fpos[:0], 0
    steps = np.r_[fsteps, rsteps].astype(np.int64)
    pos = np.vstack([fpos, rpos])
    kind = np.array(["fault"] * n_f + ["rock"] * n_r, dtype=object)
    order = np.argsort(steps, kind="stable")
    steps, pos, kind = steps[order], pos[order], kind[order]
    n = steps.size
    nrm = np.tile(fp.normal, (n, 1))
    cracks = pd.DataFrame({
        "crack_id": np.arange(n, dtype=np.int64), "step": steps, "time": steps * 1e-7,
        "x": pos[:, 0], "y": pos[:, 1], "z": pos[:, 2], "nx": nrm[:, 0], "ny": nrm[:, 1], "nz": nrm[:, 2],
        "size": rng.uniform(0.001, 0.003, n), "kind": kind,
        "mode": np.where(rng.random(n) < 0.5, "shear", "tension").astype(object),
        "particle_a": rng.integers(0, 1300, n).astype(np.int64), "particle_b": rng.integers(0, 1300, n).astype(np.int64),
    })
    mw = -8.0 + rng.exponential(np.log10(np.e) / 1.0, n)
    m0 = 10 ** (1.5 * (mw + 6.0))
    zeros = np.zeros(n)
    events = pd.DataFrame({
        "event_id": np.arange(n, dtype=np.int64), "step_start": steps, "step_end": steps + 50,
        "x": pos[:, 0], "y": pos[:, 1], "z": pos[:, 2], "radius": rng.uniform(0.002, 0.006, n),
        "m0": m0, "mw": mw, "m11": m0, "m12": zeros, "m13": zeros, "m22": -m0, "m23": zeros, "m33": zeros,
        "iso": zeros, "dev": m0, "n_cracks": np.ones(n, dtype=np.int64), "on_fault": kind == "fault",
    })
    ls = np.arange(0, TOTAL_STEPS + 1, 200, dtype=np.int64)
    stress = np.where(ls < MAINSHOCK_CENTRE, 250e6 * ls / MAINSHOCK_CENTRE, 170e6)
    loading = pd.DataFrame({
        "step": ls, "time": ls * 1e-7, "axial_stress": stress + 150e6, "confining_stress": np.full(ls.size, 150e6),
        "differential_stress": stress, "axial_strain": ls * 1e-8, "volumetric_strain": ls * 1e-9,
        "platen_displacement": ls * 1e-9, "fault_slip": np.where(ls < MAINSHOCK_CENTRE, 0.0, 1e-4),
        "kinetic_energy": np.zeros(ls.size),
    })
    rd = RunDirectory(path)
    rd.start({"seed": seed}, {"dt": 1e-7, "fault": {**fp.to_dict(), "contact_area": 2e-5, "cohesion": 55e6,
                                                    "friction_angle_deg": 30.0, "tensile_strength": 55e6}})
    rd.write_table("cracks", cracks)
    rd.write_table("events", events)
    rd.write_table("loading", loading)
    rd.complete()
    return rd


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    root = tmp_path_factory.mktemp("campaign")
    for i in range(5):
        write_synthetic_run(root / f"run{i:02d}", seed=10 + i, n_main=120 + 20 * i)
    write_synthetic_run(root / "run_nofault", seed=99, fault_cracks=False)
    write_synthetic_run(root / "run_noforeshock", seed=98, n_fore=(0, 0, 0))
    return root


def test_analyze_campaign_writes_tables_and_figures(campaign):
    from labquake.analysis.pipeline import analyze_campaign

    paths = analyze_campaign(campaign, n_perm=200, seed=0, n_boot=20)
    for name in ("runs", "episodes", "seismicity", "clouds", "distances", "linkage", "bk"):
        assert paths[name].exists(), name
        assert paths[name].parent == campaign / "analysis"
    runs = pd.read_parquet(paths["runs"]).set_index("run")
    assert runs["included"].sum() == 5
    assert "no fault cracks" in runs.loc["run_nofault", "reason"]
    assert "foreshock cloud has 0 event" in runs.loc["run_noforeshock", "reason"]

    bk = pd.read_parquet(paths["bk"])
    assert set(bk["metric"]) == {"hausdorff", "chamfer", "emd"}
    assert bk.groupby("metric").size().tolist() == [3, 3, 3]  # k = 2..n-1 for n = 5
    assert ((bk["p"] > 0) & (bk["p"] <= 1)).all()
    dist = pd.read_parquet(paths["distances"])
    for _key, g in dist.groupby(["metric", "cloud"]):
        D = g.pivot(index="run_a", columns="run_b", values="distance").to_numpy()
        np.testing.assert_allclose(D, D.T)
        assert (np.diag(D) == 0).all() and (D >= 0).all()
    eps = pd.read_parquet(paths["episodes"])
    assert set(eps.loc[eps["run"] == "run00", "role"]) == {"foreshock", "mainshock"}
    assert (eps.groupby("run")["is_mainshock"].sum() == 1).all()
    clouds = pd.read_parquet(paths["clouds"])
    assert {"radius", "mw", "time", "distance", "direction"} <= set(clouds.columns)
    seis = pd.read_parquet(paths["seismicity"])
    assert {"b_aki", "b_lsq", "b_tinti", "b_bpositive", "d2_3d", "d2_fault", "d2_reference"} <= set(seis.columns)

    figs = {k: p for k, p in paths.items() if k.startswith("fig_")}
    for key in ("fig_seismicity", "fig_bk_emd", "fig_dendrograms_hausdorff", "fig_kdf_run00", "fig_loading_run00"):
        assert figs[key].exists() and figs[key].stat().st_size > 5000, key
        assert figs[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_too_few_runs(tmp_path):
    from labquake.analysis.pipeline import analyze_campaign

    for i in range(2):
        write_synthetic_run(tmp_path / f"r{i}", seed=i)
    with pytest.raises(InsufficientDataError, match="at least 3"):
        analyze_campaign(tmp_path, figures=False)
    # three runs, but one has no fault cracks: reported and then refused
    write_synthetic_run(tmp_path / "r_nf", seed=5, fault_cracks=False)
    with pytest.raises(InsufficientDataError, match="r_nf: .*no fault cracks"):
        analyze_campaign(tmp_path, figures=False, n_boot=0)
    assert (tmp_path / "analysis" / "runs.parquet").exists()


def test_cli_analyze(campaign, tmp_path, capsys):
    from labquake.cli import main

    rc = main(["analyze", str(campaign), "--metrics", "hausdorff,chamfer_mean", "--n-perm", "50", "--n-boot", "0",
               "--no-figures", "--quiet", "--null", "analytic", "--method", "complete"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "5 of 7 runs analysed" in out and "excluded run_nofault" in out
    bk = pd.read_parquet(campaign / "analysis" / "bk.parquet")
    assert set(bk["metric"]) == {"hausdorff", "chamfer_mean"} and set(bk["method"]) == {"complete"}
    # a user mistake: one line on stderr, exit 2
    (tmp_path / "empty").mkdir()
    rc = main(["analyze", str(tmp_path / "empty"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("labquake: error:") and err.count("\n") == 1
    rc = main(["analyze", str(campaign), "--metrics", "cosine", "--quiet"])
    assert rc == 2 and "unknown metric" in capsys.readouterr().err


def test_cli_analyze_defaults_to_the_campaigns_own_options(campaign, tmp_path, capsys):
    """`labquake analyze` on a campaign directory takes its [campaign.analysis] table as
    defaults; options given on the command line still win."""
    import shutil

    from labquake.cli import main

    camp = tmp_path / "camp"
    shutil.copytree(campaign, camp, ignore=shutil.ignore_patterns("analysis", "figures"))
    (camp / "campaign.toml").write_text(
        '[campaign]\nname = "c"\n[campaign.analysis]\nmetrics = ["hausdorff"]\nmethod = "average"\nn_perm = 20\n')
    assert main(["analyze", str(camp), "--no-figures", "--quiet", "--n-boot", "0"]) == 0
    assert "using the campaign's analysis options" in capsys.readouterr().out
    bk = pd.read_parquet(camp / "analysis" / "bk.parquet")
    assert set(bk["metric"]) == {"hausdorff"} and set(bk["method"]) == {"average"}
    assert main(["analyze", str(camp), "--no-figures", "--quiet", "--n-boot", "0", "--method", "complete"]) == 0
    assert set(pd.read_parquet(camp / "analysis" / "bk.parquet")["method"]) == {"complete"}
