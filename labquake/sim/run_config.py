"""The run configuration as a typed, frozen object, validated once at the door.

:func:`labquake.sim.config.resolve_config` turns a TOML table into a plain nested dict: the
*editable* form, which campaign sweeps and scripts change key by key, and which
``config.toml`` stores. :class:`RunConfig` is the *checked* form that the simulation stages
receive: one frozen dataclass per table, with the fields, types and defaults of
:data:`labquake.sim.config.DEFAULTS` (where each key is documented), so a stage that takes
``LoadingConfig`` shows which settings it uses, and nothing can change a setting during a
run::

    cfg = as_run_config(load_config("simulations/paper.toml"))   # validated here, once
    cfg.loading.confining_stress                                 # 150e6
    cfg.to_dict() == resolve_config(cfg.to_dict())               # the plain form again

Sections are also read-only mappings (``cfg["loading"]["confining_stress"]``), the form
earlier code and user scripts use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from labquake.sim.config import _BOOL_KEYS, _INT_KEYS, _LIST_KEYS, _STR_KEYS, DEFAULTS, resolve_config

__all__ = [
    "AEConfig",
    "EngineConfig",
    "FaultConfig",
    "LoadingConfig",
    "RecordingConfig",
    "RockConfig",
    "RunConfig",
    "SECTIONS",
    "SpecimenConfig",
    "as_run_config",
]


class _ReadOnlyMapping(Mapping):
    """Mapping access to a frozen dataclass's fields (``section["key"]``), read-only."""

    def __getitem__(self, key: str) -> Any:
        if key in self.__dataclass_fields__:
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dataclass_fields__)

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)

    def to_dict(self) -> dict[str, Any]:
        """The plain, editable form (lists for tuples, nested dicts for sections)."""
        out = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            out[name] = v.to_dict() if isinstance(v, _ReadOnlyMapping) else list(v) if isinstance(v, tuple) else v
        return out


def _field_type(path: tuple[str, ...]) -> type:
    if path in _INT_KEYS:
        return int
    if path in _STR_KEYS:
        return str
    if path in _BOOL_KEYS:
        return bool
    if path in _LIST_KEYS:
        return tuple[int, ...]
    return float


def _section(table: str, doc: str) -> type:
    """The frozen dataclass of one table, its fields from :data:`DEFAULTS` in their order."""
    fields = []
    for key, default in DEFAULTS[table].items():
        value = tuple(default) if isinstance(default, list) else default
        fields.append((key, _field_type((table, key)), dataclasses.field(default=value)))
    cls = dataclasses.make_dataclass(f"{table.capitalize() if table != 'ae' else 'AE'}Config", fields,
                                     bases=(_ReadOnlyMapping,), frozen=True)
    cls.__module__ = __name__
    cls.__doc__ = f"The ``[{table}]`` table: {doc} (keys and defaults: :data:`labquake.sim.config.DEFAULTS`)."
    return cls


SpecimenConfig = _section("specimen", "geometry, sizes, packing, bonding gaps, an optional saved specimen")
RockConfig = _section("rock", "particle contacts and the rock bonds (flat joints or parallel bonds)")
FaultConfig = _section("fault", "the saw-cut's smooth joints, their bonded patches and healing")
LoadingConfig = _section("loading", "consolidation, the axial drive through the frame spring, the stop rule")
EngineConfig = _section("engine", "time step, damping, density scaling")
RecordingConfig = _section("recording", "loading-curve, monitored-contact, snapshot and checkpoint intervals")
AEConfig = _section("ae", "Hazzard & Young event clustering windows and the source model")

#: table name -> its section class
SECTIONS: dict[str, type] = {"specimen": SpecimenConfig, "rock": RockConfig, "fault": FaultConfig,
                             "loading": LoadingConfig, "engine": EngineConfig, "recording": RecordingConfig,
                             "ae": AEConfig}


@dataclasses.dataclass(frozen=True)
class RunConfig(_ReadOnlyMapping):
    """A whole run config, resolved and validated: the run's name and seed and one section per table."""

    name: str
    seed: int
    specimen: SpecimenConfig
    rock: RockConfig
    fault: FaultConfig
    loading: LoadingConfig
    engine: EngineConfig
    recording: RecordingConfig
    ae: AEConfig

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> RunConfig:
        """Resolve ``raw`` (defaults filled, every key checked) and freeze it.

        Raises
        ------
        ConfigError
            Unknown key, wrong type or a value out of range (one line).
        """
        plain = resolve_config(raw)
        sections = {name: klass(**{k: tuple(v) if isinstance(v, list) else v for k, v in plain[name].items()})
                    for name, klass in SECTIONS.items()}
        return cls(name=plain["name"], seed=plain["seed"], **sections)


def as_run_config(config: RunConfig | Mapping[str, Any]) -> RunConfig:
    """``config`` as a :class:`RunConfig`: returned as it is if it already is one, else resolved,
    validated and frozen (:meth:`RunConfig.from_mapping`)."""
    if isinstance(config, RunConfig):
        return config
    return RunConfig.from_mapping(config)
