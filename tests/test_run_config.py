"""The typed, frozen run configuration (labquake.sim.run_config)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from labquake.errors import ConfigError
from labquake.io.rundir import dumps_toml
from labquake.sim.config import DEFAULTS, load_config, resolve_config
from labquake.sim.run_config import SECTIONS, LoadingConfig, RunConfig, as_run_config

SIMS = Path(__file__).resolve().parents[1] / "simulations"


@pytest.mark.parametrize("name", ["paper.toml", "quick.toml", "cycles.toml"])
def test_presets_freeze_and_give_the_plain_form_back(name):
    plain = load_config(SIMS / name)
    cfg = as_run_config(plain)
    assert cfg.to_dict() == plain
    assert resolve_config(cfg) == plain  # a RunConfig is a valid (mapping) config itself
    assert dumps_toml(cfg) == dumps_toml(plain)  # what config.toml stores does not change
    assert cfg.loading.confining_stress == plain["loading"]["confining_stress"]
    assert cfg["fault"]["angle_deg"] == plain["fault"]["angle_deg"]  # the read-only mapping view


def test_sections_have_the_keys_types_and_defaults_of_DEFAULTS():
    cfg = RunConfig.from_mapping({})
    for table, klass in SECTIONS.items():
        fields = {f.name: f for f in dataclasses.fields(klass)}
        assert list(fields) == list(DEFAULTS[table]), table
        for key, default in DEFAULTS[table].items():
            value = getattr(cfg, table)[key]
            assert value == (tuple(default) if isinstance(default, list) else default), (table, key)
    assert fields_of(LoadingConfig)["max_steps"] is int
    assert fields_of(LoadingConfig)["confining_stress"] is float
    assert fields_of(LoadingConfig)["confinement"] is str
    assert (cfg.name, cfg.seed) == (DEFAULTS["name"], DEFAULTS["seed"])


def fields_of(klass) -> dict[str, type]:
    return {f.name: f.type for f in dataclasses.fields(klass)}


def test_frozen_and_passed_through():
    cfg = as_run_config({"seed": 7, "loading": {"platen_velocity": 0.1}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.loading.platen_velocity = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3
    with pytest.raises(TypeError):
        cfg["seed"] = 3  # the mapping view is read-only too
    assert as_run_config(cfg) is cfg
    assert cfg.seed == 7 and cfg.loading.platen_velocity == 0.1
    assert isinstance(cfg.recording.snapshot_steps, tuple)
    assert isinstance(cfg.to_dict()["recording"]["snapshot_steps"], list)


@pytest.mark.parametrize("raw, words", [
    ({"loading": {"platen_velocity": "fast"}}, "loading.platen_velocity"),
    ({"loading": {"no_such_key": 1}}, "no_such_key"),
    ({"specimen": {"d_min": 0.006, "d_max": 0.004}}, "d_min"),
])
def test_mistakes_are_one_line_config_errors_at_the_door(raw, words):
    with pytest.raises(ConfigError, match=words) as err:
        as_run_config(raw)
    assert "\n" not in str(err.value)
