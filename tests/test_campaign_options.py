"""Every [campaign.*] option is type-checked when the spec is loaded (issue 14)."""

from __future__ import annotations

import inspect

import pytest

from labquake.campaign import scheduling as batch
from labquake.cli import main
from labquake.errors import ConfigError


def _spec(tmp_path, table: str, body: str):
    p = tmp_path / "spec.toml"
    p.write_text(f'[campaign]\nname = "x"\n[campaign.{table}]\n{body}\n')
    return p


BAD = [
    ("analysis", 'n_perm = "many"', "n_perm must be an integer >= 1"),
    ("analysis", "n_perm = 0", "n_perm must be an integer >= 1"),
    ("analysis", "n_perm = 10.5", "n_perm must be an integer"),
    ("analysis", "n_perm = true", "n_perm must be an integer"),
    ("analysis", 'metrics = "emd"', "metrics must be a non-empty list"),
    ("analysis", 'metrics = ["emd", "cosine"]', "metrics must be a non-empty list"),
    ("analysis", "metrics = []", "metrics must be a non-empty list"),
    ("analysis", 'method = "ward"', "method must be one of"),
    ("analysis", 'null = "bootstrap"', "null must be one of"),
    ("analysis", "bandwidth = -5", "bandwidth must be a number > 0 or one of"),
    ("analysis", 'bandwidth = "wide"', "bandwidth must be a number > 0 or one of"),
    ("analysis", "bandwidth = nan", "bandwidth must be"),
    ("analysis", 'paper_quirks = "yes"', "paper_quirks must be true or false"),
    ("analysis", "min_events = 0", "min_events must be an integer >= 1"),
    ("analysis", "seed = -1", "seed must be an integer >= 0"),
    ("analysis", "n_jobs = 0", "n_jobs must be an integer >= 1"),
    ("analysis", "grid = 0", "grid must be a number > 0"),
    ("analysis", "prominence = -0.1", "prominence must be a number >= 0"),
    ("analysis", "max_fault_distance = 0", "max_fault_distance must be a number > 0"),
    ("analysis", "n_boot = 2.0", "n_boot must be an integer"),
    ("analysis", "frobnicate = 1", "unknown option 'frobnicate'"),
    ("grains", 'window = "2500"', "window must be an integer >= 1"),
    ("grains", "span = 0", "span must be an integer >= 1"),
    ("grains", "friction_angle_deg = 90", "friction_angle_deg must be a number >= 0 and < 90"),
    ("grains", "area = 0", "area must be a number > 0"),
    ("grains", 'components = ["fn", "fx"]', "components must be"),
    ("grains", "episodes = 3", "unknown option 'episodes'"),
    ("grains", "initially_broken = 1", "initially_broken must be true or false"),
    ("report", 'family = "everything"', "family must be one of 'metric', 'all'"),
    ("report", "alpha = 1.5", "alpha must be a number > 0 and < 1"),
]


@pytest.mark.parametrize("table,body,words", BAD)
def test_bad_option_is_a_one_line_config_error_at_load(tmp_path, table, body, words):
    p = _spec(tmp_path, table, body)
    with pytest.raises(ConfigError) as ei:
        batch.load_campaign(p)
    msg = str(ei.value)
    assert "\n" not in msg and str(p) in msg and f"[campaign.{table}]" in msg and words in msg, msg


def test_cli_campaign_with_a_string_n_perm_exits_2_without_traceback(tmp_path, capsys):
    p = _spec(tmp_path, "analysis", 'n_perm = "many"')
    assert main(["campaign", str(p), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labquake: error:") and "\n" not in err and "n_perm" in err
    assert not (tmp_path / "out").exists()


def test_cli_analyze_checks_the_campaigns_own_options(tmp_path, capsys):
    camp = tmp_path / "camp"
    camp.mkdir()
    (camp / "campaign.toml").write_text('[campaign]\nname = "x"\n[campaign.analysis]\nn_perm = "many"\n')
    assert main(["analyze", str(camp), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labquake: error:") and "\n" not in err and "n_perm must be an integer" in err


def test_good_options_pass_and_are_kept(tmp_path):
    p = _spec(tmp_path, "analysis", 'n_perm = 99\nmetrics = ["emd", "hausdorff"]\nbandwidth = "isj"\ngrid = 10\n'
                                    "paper_quirks = true\n[campaign.grains]\nwindow = 2500\nfriction_angle_deg = 30.0\n"
                                    '[campaign.report]\nfamily = "all"\nalpha = 0.01')
    spec = batch.load_campaign(p)
    assert spec.analysis_options == {"n_perm": 99, "metrics": ["emd", "hausdorff"], "bandwidth": "isj", "grid": 10,
                                     "paper_quirks": True}
    assert spec.grains_options == {"window": 2500, "friction_angle_deg": 30.0}
    assert spec.report_options == {"family": "all", "alpha": 0.01}


def test_every_parameter_of_the_stage_functions_has_a_type():
    from labquake.analysis.grains import analyze_campaign_grains
    from labquake.analysis.pipeline import analyze_campaign
    from labquake.report import write_report

    for table, fn, skip in (("analysis", analyze_campaign, {"campaign_dir"}),
                            ("grains", analyze_campaign_grains, {"campaign_dir", "episodes"}),
                            ("report", write_report, {"campaign_dir", "out"})):
        params = set(inspect.signature(fn).parameters) - skip
        assert params == set(batch.CAMPAIGN_OPTIONS[table]), table


def test_shipped_specs_pass():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "simulations"
    for name in ("quick.toml", "paper27.toml", "cycles27.toml", "fault_rupture_study.toml", "paper27_wall_study.toml"):
        batch.load_campaign(root / name)
