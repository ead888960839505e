"""Run-config resolution and validation (labquake.sim.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labquake.sim.config import DEFAULTS, load_config, resolve_config
from labquake.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_filled_and_input_not_mutated():
    raw = {"seed": 7, "loading": {"platen_velocity": 0.1}}
    cfg = resolve_config(raw)
    assert raw == {"seed": 7, "loading": {"platen_velocity": 0.1}}
    assert cfg["seed"] == 7
    assert cfg["loading"]["platen_velocity"] == 0.1
    assert cfg["loading"]["confining_stress"] == DEFAULTS["loading"]["confining_stress"]
    assert cfg["fault"]["angle_deg"] == 30.0
    # idempotent
    assert resolve_config(cfg) == cfg


@pytest.mark.parametrize(
    "raw, needle",
    [
        ({"fault": {"angle_deg": 0.0}}, "fault.angle_deg"),
        ({"fault": {"angle_deg": 90.0}}, "fault.angle_deg"),
        ({"fault": {"angle_deg": -10}}, "fault.angle_deg"),
        ({"fault": {"bonded_fraction": -0.1}}, "fault.bonded_fraction"),
        ({"fault": {"bonded_fraction": 1.5}}, "fault.bonded_fraction"),
        ({"fault": {"strength_correlated_fraction": 1.5}}, "fault.strength_correlated_fraction"),
        ({"fault": {"strength_correlation_length": -0.01}}, "fault.strength_correlation_length"),
        ({"loading": {"confining_stress": 0.0}}, "confining_stress"),
        ({"loading": {"confining_stress": -1e6}}, "confining_stress"),
        ({"specimen": {"d_max": 0.02}}, "particles too large"),
        ({"specimen": {"d_min": 0.007}}, "d_min"),
        ({"specimen": {"colour": "red"}}, "unknown config key 'specimen.colour'"),
        ({"bogus": 1}, "unknown config key 'bogus'"),
        ({"loading": {"max_steps": 2.5}}, "integer"),
        ({"loading": {"platen_velocity": "fast"}}, "number"),
        ({"loading": 3}, "table"),
        ({"recording": {"snapshot_steps": [10, -1]}}, "snapshot_steps"),
        ({"loading": {"confinement": "rubber"}}, "loading.confinement must be 'wall', 'jacket' or 'pressure'"),
        ({"rock": {"bond_model": "glue"}}, "rock.bond_model"),
        ({"rock": {"bond_model": 3}}, "rock.bond_model"),
        ({"rock": {"moment_factor": 1.5}}, "rock.moment_factor"),
        ({"rock": {"radial_elements": 0}}, "rock.radial_elements"),
        ({"rock": {"radial_elements": 4, "circumferential_elements": 4}}, "at most 15"),
        ({"rock": {"circumferential_elements": 2.5}}, "integer"),
        ({"specimen": {"installation_gap": -0.1}}, "specimen.installation_gap"),
        ({"fault": {"healing": "rate_and_state"}}, "fault.healing must be 'none' or 'log'"),
        ({"fault": {"healing": True}}, "fault.healing' must be a string"),
        ({"fault": {"healing_rate": -1e6}}, "fault.healing_rate must be >= 0"),
        ({"fault": {"healing_rate": float("nan")}}, "fault.healing_rate' must be finite"),
        ({"fault": {"healing_cutoff_time": 0.0}}, "fault.healing_cutoff_time must be > 0"),
        ({"fault": {"healing_cutoff_time": float("inf")}}, "fault.healing_cutoff_time' must be finite"),
        ({"fault": {"healing_max_cohesion": -1.0}}, "fault.healing_max_cohesion must be >= 0"),
        ({"fault": {"healing_max_cohesion": 60e6}}, "must not exceed the intact fault.cohesion"),
        ({"fault": {"healing": "log", "cohesion": 30e6, "healing_max_cohesion": 40e6}}, "fault.healing_max_cohesion"),
        ({"fault": {"healing_tensile_ratio": -0.5}}, "fault.healing_tensile_ratio must be >= 0"),
        ({"fault": {"healing_crack_cohesion": -1.0}}, "fault.healing_crack_cohesion must be >= 0"),
        ({"fault": {"healing_time": 1.0}}, "unknown config key 'fault.healing_time'"),
    ],
)
def test_invalid_configs_raise_one_line_config_errors(raw, needle):
    with pytest.raises(ConfigError) as ei:
        resolve_config(raw)
    msg = str(ei.value)
    assert needle in msg
    assert "\n" not in msg


@pytest.mark.parametrize("mode", ["wall", "jacket", "pressure"])
def test_confinement_modes_resolve(mode):
    assert resolve_config({"loading": {"confinement": mode}})["loading"]["confinement"] == mode


def test_campaign_table_is_accepted_and_dropped():
    cfg = resolve_config({"campaign": {"runs": 27, "anything": [1, 2]}, "seed": 3})
    assert "campaign" not in cfg and cfg["seed"] == 3


def test_load_config_file_errors_and_relative_specimen(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 3\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)
    good = tmp_path / "sub" / "run.toml"
    good.parent.mkdir()
    good.write_text('seed = 4\n[specimen]\nfile = "spec.npz"\n')
    cfg = load_config(good)
    assert cfg["specimen"]["file"] == str(good.parent.resolve() / "spec.npz")


@pytest.mark.parametrize("name", ["paper.toml", "quick.toml"])
def test_presets_resolve(name):
    cfg = load_config(ROOT / "simulations" / name)
    assert 0 < cfg["fault"]["angle_deg"] < 90
    assert cfg["loading"]["confining_stress"] == 150e6


def test_healing_defaults_keep_it_off_and_log_healing_resolves():
    f = resolve_config({})["fault"]
    assert f["healing"] == "none"  # existing runs are unchanged
    f = resolve_config({"fault": {"healing": "log", "healing_rate": 2e6, "healing_cutoff_time": 1e-5}})["fault"]
    assert (f["healing"], f["healing_rate"], f["healing_cutoff_time"]) == ("log", 2e6, 1e-5)
    assert f["healing_max_cohesion"] == 0.0 and f["healing_crack_cohesion"] == DEFAULTS["fault"]["healing_crack_cohesion"]
