"""Campaign specs: expansion into runs, names, base merging, and malformed specs (no dask)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from labquake.campaign import scheduling as batch
from labquake.sim.config import resolve_config
from labquake.errors import ConfigError, OutputError

ROOT = Path(__file__).resolve().parents[1]
SIMS = ROOT / "simulations"


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_sweep_is_cartesian_product_with_seeds_innermost(tmp_path):
    spec = batch.load_campaign(write(tmp_path, """
        seed = 5
        [specimen]
        d_min = 0.004
        [campaign]
        name = "sw"
        seeds = [1, 2]
        [campaign.sweep]
        "specimen.d_max" = [0.005, 0.006]
        "loading.platen_velocity" = [0.05, 0.1, 0.2]
    """))
    assert len(spec.runs) == 2 * 3 * 2
    names = [r.name for r in spec.runs]
    assert names[0] == "run-01_dmax0.005_platenvelocity0.05_seed1"
    assert names[1] == "run-02_dmax0.005_platenvelocity0.05_seed2"
    assert names[-1] == "run-12_dmax0.006_platenvelocity0.2_seed2"
    assert len(set(names)) == len(names)
    last = spec.runs[-1].config
    assert last["specimen"]["d_max"] == 0.006 and last["specimen"]["d_min"] == 0.004
    assert last["loading"]["platen_velocity"] == 0.2 and last["seed"] == 2
    assert last["name"] == names[-1]
    # every run config is the fully resolved config (defaults filled)
    assert last == resolve_config(last)
    # deterministic: the same spec gives the same names and configs
    again = batch.load_campaign(tmp_path / "spec.toml")
    assert [(r.name, r.config) for r in again.runs] == [(r.name, r.config) for r in spec.runs]


def test_explicit_runs_and_ranges(tmp_path):
    spec = batch.load_campaign(write(tmp_path, """
        [campaign]
        name = "ex"
        runs = [
          { "specimen.d_min" = 0.00495, "specimen.d_max" = 0.00505 },
          { specimen = { d_min = 0.0049, d_max = 0.0051 } },
        ]
    """))
    assert [r.name for r in spec.runs] == ["run-01_dmin0.00495_dmax0.00505", "run-02_dmin0.0049_dmax0.0051"]
    assert spec.runs[1].config["specimen"]["d_max"] == 0.0051
    assert "seed" not in spec.runs[0].overrides  # no seeds: the config's seed is kept

    spec = batch.load_campaign(write(tmp_path, """
        [campaign]
        name = "rg"
        [campaign.sweep]
        "specimen.d_max" = { start = 0.005, stop = 0.006, num = 3 }
        "recording.n_monitored" = { start = 10, stop = 30, step = 10 }
    """, "r.toml"))
    vals = sorted({(r.config["specimen"]["d_max"], r.config["recording"]["n_monitored"]) for r in spec.runs})
    assert vals == [(d, n) for d in (0.005, 0.0055, 0.006) for n in (10, 20, 30)]


def test_base_is_merged_under_the_spec(tmp_path):
    write(tmp_path, """
        seed = 9
        [specimen]
        d_min = 0.0041
        d_max = 0.0059
        [loading]
        confining_stress = 1.0e8
    """, "base.toml")
    (tmp_path / "sub").mkdir()
    spec = batch.load_campaign(write(tmp_path / "sub", """
        [loading]
        confining_stress = 1.2e8
        [campaign]
        name = "b"
        base = "../base.toml"
        seeds = [3]
    """))
    cfg = spec.runs[0].config
    assert cfg["specimen"]["d_min"] == 0.0041 and cfg["loading"]["confining_stress"] == 1.2e8
    assert cfg["seed"] == 3
    # campaign.toml in the campaign directory is self-contained: it re-expands identically
    p = write(tmp_path, spec.to_toml(), "copy.toml")
    assert [r.config for r in batch.load_campaign(p).runs] == [r.config for r in spec.runs]


def test_paper27_spec_is_the_reference_table():
    spec = batch.load_campaign(SIMS / "paper27.toml")
    assert spec.name == "paper27" and len(spec.runs) == 27
    widths = [(r.config["specimen"]["d_min"] * 1e3, r.config["specimen"]["d_max"] * 1e3) for r in spec.runs]
    # ye2024.md §2: row 1 4.95–5.05 mm, row 14 4.04–5.06 mm (as listed), row 27 4.00–6.00 mm
    assert widths[0] == pytest.approx((4.95, 5.05))
    assert widths[13] == pytest.approx((4.04, 5.06))
    assert widths[26] == pytest.approx((4.00, 6.00))
    assert spec.runs[0].name == "run-01_dmin0.00495_dmax0.00505_seed1"
    # everything but the sizes comes from the paper-scale base config
    base = resolve_config(batch.read_toml(SIMS / "paper.toml"))
    assert spec.runs[5].config["loading"] == base["loading"]
    assert spec.runs[5].config["specimen"]["diameter"] == base["specimen"]["diameter"]


def test_paper27_wall_study_is_paper27_twice_in_the_rigid_cylinder():
    paper27 = batch.load_campaign(SIMS / "paper27.toml").runs
    spec = batch.load_campaign(SIMS / "paper27_wall_study.toml")
    assert len(spec.runs) == 54
    for k, run in enumerate(spec.runs):
        ref = paper27[k % 27].config
        c = run.config
        assert (c["specimen"]["d_min"], c["specimen"]["d_max"]) == (ref["specimen"]["d_min"], ref["specimen"]["d_max"])
        assert c["loading"]["confinement"] == "wall" and ref["loading"]["confinement"] == "jacket"
        assert (c["fault"]["cohesion"], c["fault"]["residual_friction"]) == (55e6, 0.053)
        assert c["fault"]["bonded_fraction"] == (ref["fault"]["bonded_fraction"] if k < 27 else 0.6)
        # nothing else differs from the paper27 run
        for section in ("rock", "engine", "recording", "ae"):
            assert c[section] == ref[section], section


def test_quick_spec_expands():
    spec = batch.load_campaign(SIMS / "quick.toml")
    assert spec.name == "quick" and len(spec.runs) >= 4


@pytest.mark.parametrize(
    "text, words",
    [
        ("[campaign\nname='x'", "invalid TOML"),
        ("seed = 1\n", "no [campaign] table"),
        ("[campaign]\nseeds=[1]\n", "name"),
        ("[campaign]\nname='a/b'\n", "name"),
        ("[campaign]\nname='x'\nsweeep={}\n", "unknown [campaign] key"),
        ("[campaign]\nname='x'\nseeds=[1, 'two']\n", "seeds"),
        ("[campaign]\nname='x'\nseeds=[1, 1]\n", "duplicates"),
        ("[campaign]\nname='x'\nruns=[]\n", "runs"),
        ("[campaign]\nname='x'\nruns=[{a=1}]\n[campaign.sweep]\nb=[1]\n", "both"),
        ("[campaign]\nname='x'\n[campaign.sweep]\n'specimen.d_max'=[]\n", "empty"),
        ("[campaign]\nname='x'\n[campaign.sweep]\n'specimen.d_max'=0.005\n", "list"),
        ("[campaign]\nname='x'\n[campaign.sweep]\n'specimen.d_max'={start=1,stop=2}\n", "range"),
        ("[campaign]\nname='x'\n[campaign.sweep]\n'specimen.d_max'=[nan]\n", "not finite"),
        ("[campaign]\nname='x'\n[campaign.sweep]\n'specimen.nope'=[1.0]\n", "unknown config key 'specimen.nope'"),
        ("[campaign]\nname='x'\n[campaign.sweep]\n'seed'=[-1]\n", "seed must be >= 0"),
        ("[campaign]\nname='x'\nbase='missing.toml'\n", "not found"),
        ("[campaign]\nname='x'\nretries=-1\n", "retries"),
        ("[campaign]\nname='x'\nseeds=[1]\n[campaign.sweep]\nseed=[1,2]\n", "both"),
        ("[campaign]\nname='x'\n[campaign.sweep]\n'specimen..d'=[1]\n", "dotted key"),
    ],
)
def test_malformed_spec_is_one_line_config_error(tmp_path, text, words):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        batch.load_campaign(p)
    msg = str(ei.value)
    assert "\n" not in msg and str(p) in msg and words in msg


def test_spec_is_data_never_code(tmp_path):
    marker = tmp_path / "pwned"
    code = f"__import__('os').system('touch {marker}')"
    for text in (
        f'name = "{code}"\n[campaign]\nname="x"\n',
        f'[campaign]\nname="x"\n[campaign.sweep]\n"specimen.d_max" = ["{code}"]\n',
        f'[campaign]\nname="x"\nruns = [{{ "specimen.d_min" = "{code}" }}]\n',
        f'[campaign]\nname="x"\n[campaign.analysis]\nn_perm = "{code}"\n',
    ):
        try:
            batch.load_campaign(write(tmp_path, text))
        except ConfigError as exc:
            assert "\n" not in str(exc)
    assert not marker.exists()


def test_check_output_dir_errors(tmp_path, monkeypatch):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        batch.check_output_dir(f)
    with pytest.raises(OutputError, match="cannot create"):
        batch.check_output_dir(f / "sub")
    monkeypatch.setattr(batch.shutil, "disk_usage", lambda p: SimpleNamespace(total=2**30, used=2**30, free=10 * 2**20))
    with pytest.raises(OutputError, match="MiB free"):
        batch.check_output_dir(tmp_path / "ok")
    assert not list((tmp_path / "ok").iterdir())  # the probe file is gone
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(OutputError, match="cannot write"):
                batch.check_output_dir(ro)
        finally:
            ro.chmod(0o700)
