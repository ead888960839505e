"""Settings of a PFC3D import that PFC does not write: time step, sampling, fault geometry
and strength, sample size, units, and the names of extra columns.

They come from CLI flags or a small TOML file (``--config pfc.toml``; a ``pfc.toml`` in
the source directory is read when no ``--config`` is given). Defaults follow the
reference study (Ye et al. 2024): dt = 1e-7 s, histories every 20 steps, a 30° saw-cut
through the centre, 55 MPa cohesion and tensile strength, 30° friction, contact area
2e-5 m², 150 MPa confinement, a 40 mm × 107 mm sample. Example::

    run_id = 487
    dt = 1e-7
    contact_interval = 20        # steps between history samples
    start_step = 0               # step of the first sample when no step is written
    trials = [1, 2]              # contact-history trials to read (default: all found)
    n_contacts = 100             # only for FISH binary histories without a c_model file

    [fault]
    angle_deg = 30.0
    centre = [0.0, 0.0, 0.0]
    contact_area = 2e-5          # default: mean smooth-joint area of sj<run>.txt, else 2e-5
    cohesion = 55e6
    friction_angle_deg = 30.0
    tensile_strength = 55e6
    on_fault_distance = 0.01     # events within this distance of the plane may be on-fault

    [sample]
    height = 0.107
    diameter = 0.04
    confining_stress = 150e6

    [stress]
    unit = "Pa"                  # unit of S<run>-sh.csv / -ss.csv stresses: Pa, kPa or MPa

    [events]
    mag_tolerance = 0.01         # warn when |Mw(tensor) - mag| exceeds this

    [contacts]
    rebase_displacement = true   # subtract the first sample from ball displacements
    normal_sign = 1.0            # -1 if the normal forces are tension-positive

    [fault_extra]                # other numbers copied into meta.json's fault dict
    kn_per_area = 3.6e12

    [columns]                    # names of extra trailing columns, per layout (":int",
    crk = ["size", "particle_a", "particle_b", "crack_id", "event_id:int"]   # ":bool" types)
    ms = ["on_fault"]
    b_coord = ["contact_id", "particle_a", "particle_b", "x", "y", "z"]

    [crack_types]                # more crack type names: "kind/mode"
    pb_shear = "rock/shear"
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from labquake.errors import ConfigError

_STRESS_UNITS = {"pa": 1.0, "kpa": 1e3, "mpa": 1e6, "gpa": 1e9}
_COLUMN_LAYOUTS = ("crk", "ae", "ms", "b_coord", "sj")

#: crack type (lower case) -> (kind, mode); PFC flat-joint / parallel-bond = rock,
#: smooth joint = fault
CRACK_TYPES: dict[str, tuple[str, str]] = {
    "fjshear": ("rock", "shear"), "fjten": ("rock", "tension"),
    "fj_shear": ("rock", "shear"), "fj_ten": ("rock", "tension"), "fj_tension": ("rock", "tension"),
    "fjtension": ("rock", "tension"),
    "sj_shear": ("fault", "shear"), "sj_tension": ("fault", "tension"),
    "sjshear": ("fault", "shear"), "sjten": ("fault", "tension"), "sj_ten": ("fault", "tension"),
    "sjtension": ("fault", "tension"),
}

#: the fault contact area (m²) and the contact-history interval (steps) the reference used,
#: filled in when neither pfc.toml nor the files give them
DEFAULT_CONTACT_AREA = 2e-5
DEFAULT_CONTACT_INTERVAL = 20

#: labquake (kind, mode) -> the reference's type name, for the writer
CRACK_TYPE_NAMES: dict[tuple[str, str], str] = {
    ("rock", "shear"): "fjshear", ("rock", "tension"): "fjten",
    ("fault", "shear"): "sj_Shear", ("fault", "tension"): "sj_Tension",
}


@dataclass(frozen=True)
class FaultSettings:
    angle_deg: float = 30.0
    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    contact_area: float | None = None  # None: from sj<run>.txt, else 2e-5
    cohesion: float = 55e6
    friction_angle_deg: float = 30.0
    tensile_strength: float = 55e6
    on_fault_distance: float = 0.01


@dataclass(frozen=True)
class PfcImportConfig:
    """Everything the importer needs beyond the files themselves."""

    run_id: int | None = None
    dt: float = 1e-7
    contact_interval: int | None = None  # None: from the recorded steps, else 20
    start_step: int = 0
    trials: tuple[int, ...] | None = None
    n_contacts: int | None = None
    fault: FaultSettings = field(default_factory=FaultSettings)
    sample_height: float = 0.107
    sample_diameter: float = 0.04
    confining_stress: float = 150e6
    stress_unit: str = "Pa"
    mag_tolerance: float = 0.01
    rebase_displacement: bool = True
    normal_sign: float = 1.0
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    crack_types: dict[str, tuple[str, str]] = field(default_factory=dict)
    fault_extra: dict[str, float] = field(default_factory=dict)  # more numbers for meta["fault"]
    source: str | None = None  # the TOML file, if any

    @property
    def stress_scale(self) -> float:
        return _STRESS_UNITS[self.stress_unit.lower()]

    def crack_type_table(self) -> dict[str, tuple[str, str]]:
        table = dict(CRACK_TYPES)
        table.update({k.lower(): v for k, v in self.crack_types.items()})
        return table

    def with_overrides(self, **kw: Any) -> PfcImportConfig:
        kw = {k: v for k, v in kw.items() if v is not None}
        cfg = replace(self, **kw)
        _check(cfg, "command line")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fault"] = asdict(self.fault)
        d["columns"] = {k: list(v) for k, v in self.columns.items()}
        d["crack_types"] = {k: f"{a}/{b}" for k, (a, b) in self.crack_types.items()}
        if d["trials"] is not None:
            d["trials"] = list(d["trials"])
        return d


_TOP = {"run_id", "dt", "contact_interval", "start_step", "trials", "n_contacts",
        "fault", "fault_extra", "sample", "stress", "events", "contacts", "columns", "crack_types"}
_FAULT = {"angle_deg", "centre", "contact_area", "cohesion", "friction_angle_deg", "tensile_strength",
          "on_fault_distance"}
_SAMPLE = {"height", "diameter", "confining_stress"}


def _unknown(where: str, table: str, got, allowed) -> None:
    bad = sorted(set(got) - set(allowed))
    if bad:
        raise ConfigError(f"{where}: unknown key{'s' if len(bad) > 1 else ''} {', '.join(repr(b) for b in bad)} "
                          f"in {table}; allowed: {', '.join(sorted(allowed))}")


def _num(where: str, key: str, v: Any, positive: bool = False, allow_zero: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise ConfigError(f"{where}: {key} must be a finite number, got {v!r}")
    if positive and (float(v) < 0 or (not allow_zero and float(v) == 0)):
        raise ConfigError(f"{where}: {key} must be {'positive' if not allow_zero else 'non-negative'}, got {v!r}")
    return float(v)


def _int(where: str, key: str, v: Any, minimum: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{where}: {key} must be an integer, got {v!r}")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{where}: {key} must be at least {minimum}, got {v}")
    return int(v)


def config_from_dict(raw: dict[str, Any], where: str = "PFC import config") -> PfcImportConfig:
    """Validate a parsed TOML mapping into a :class:`PfcImportConfig`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    _unknown(where, "the top level", raw, _TOP)
    kw: dict[str, Any] = {}
    if "run_id" in raw:
        kw["run_id"] = _int(where, "run_id", raw["run_id"], 0)
    if "dt" in raw:
        kw["dt"] = _num(where, "dt", raw["dt"], positive=True, allow_zero=False)
    if "contact_interval" in raw:
        kw["contact_interval"] = _int(where, "contact_interval", raw["contact_interval"], 1)
    if "start_step" in raw:
        kw["start_step"] = _int(where, "start_step", raw["start_step"], 0)
    if "n_contacts" in raw:
        kw["n_contacts"] = _int(where, "n_contacts", raw["n_contacts"], 1)
    if "trials" in raw:
        t = raw["trials"]
        if not isinstance(t, list) or not t:
            raise ConfigError(f"{where}: trials must be a non-empty list of trial numbers, got {t!r}")
        kw["trials"] = tuple(_int(where, "trials", x, 0) for x in t)
    f = raw.get("fault", {})
    if not isinstance(f, dict):
        raise ConfigError(f"{where}: [fault] must be a table")
    _unknown(where, "[fault]", f, _FAULT)
    fk: dict[str, Any] = {}
    for key in ("angle_deg", "cohesion", "friction_angle_deg", "tensile_strength", "on_fault_distance"):
        if key in f:
            fk[key] = _num(where, f"fault.{key}", f[key], positive=key != "angle_deg")
    if "contact_area" in f:
        fk["contact_area"] = _num(where, "fault.contact_area", f["contact_area"], positive=True, allow_zero=False)
    if "centre" in f:
        c = f["centre"]
        if not isinstance(c, list) or len(c) != 3:
            raise ConfigError(f"{where}: fault.centre must be a list of 3 numbers, got {c!r}")
        fk["centre"] = tuple(_num(where, "fault.centre", x) for x in c)
    kw["fault"] = FaultSettings(**fk)
    s = raw.get("sample", {})
    if not isinstance(s, dict):
        raise ConfigError(f"{where}: [sample] must be a table")
    _unknown(where, "[sample]", s, _SAMPLE)
    if "height" in s:
        kw["sample_height"] = _num(where, "sample.height", s["height"], positive=True, allow_zero=False)
    if "diameter" in s:
        kw["sample_diameter"] = _num(where, "sample.diameter", s["diameter"], positive=True, allow_zero=False)
    if "confining_stress" in s:
        kw["confining_stress"] = _num(where, "sample.confining_stress", s["confining_stress"])
    st = raw.get("stress", {})
    _unknown(where, "[stress]", st, {"unit"})
    if "unit" in st:
        kw["stress_unit"] = str(st["unit"])
    ev = raw.get("events", {})
    _unknown(where, "[events]", ev, {"mag_tolerance"})
    if "mag_tolerance" in ev:
        kw["mag_tolerance"] = _num(where, "events.mag_tolerance", ev["mag_tolerance"], positive=True)
    co = raw.get("contacts", {})
    _unknown(where, "[contacts]", co, {"rebase_displacement", "normal_sign"})
    if "rebase_displacement" in co:
        if not isinstance(co["rebase_displacement"], bool):
            raise ConfigError(f"{where}: contacts.rebase_displacement must be true or false")
        kw["rebase_displacement"] = co["rebase_displacement"]
    if "normal_sign" in co:
        v = _num(where, "contacts.normal_sign", co["normal_sign"])
        if v not in (1.0, -1.0):
            raise ConfigError(f"{where}: contacts.normal_sign must be 1 or -1, got {v}")
        kw["normal_sign"] = v
    cols = raw.get("columns", {})
    _unknown(where, "[columns]", cols, _COLUMN_LAYOUTS)
    out_cols = {}
    for k, v in cols.items():
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise ConfigError(f"{where}: columns.{k} must be a list of column names")
        for x in v:
            name, _, typ = x.partition(":")
            if not name or typ not in ("", "int", "float", "bool"):
                raise ConfigError(f"{where}: columns.{k}: {x!r} must be a name, optionally with :int, :float or :bool")
        out_cols[k] = tuple(v)
    kw["columns"] = out_cols
    ct = raw.get("crack_types", {})
    types = {}
    for k, v in ct.items():
        parts = str(v).split("/")
        if len(parts) != 2 or parts[0] not in ("rock", "fault") or parts[1] not in ("shear", "tension"):
            raise ConfigError(f"{where}: crack_types.{k} must be 'rock|fault/shear|tension', got {v!r}")
        types[k] = (parts[0], parts[1])
    kw["crack_types"] = types
    fx = raw.get("fault_extra", {})
    if not isinstance(fx, dict):
        raise ConfigError(f"{where}: [fault_extra] must be a table of numbers")
    kw["fault_extra"] = {str(k): _num(where, f"fault_extra.{k}", v) for k, v in fx.items()}
    cfg = PfcImportConfig(**kw)
    _check(cfg, where)
    return cfg


def _check(cfg: PfcImportConfig, where: str) -> None:
    if cfg.stress_unit.lower() not in _STRESS_UNITS:
        raise ConfigError(f"{where}: stress unit must be one of Pa, kPa, MPa, GPa; got {cfg.stress_unit!r}")
    if not (math.isfinite(cfg.dt) and cfg.dt > 0):
        raise ConfigError(f"{where}: dt must be a positive number of seconds, got {cfg.dt!r}")
    if not (0.0 < cfg.fault.angle_deg < 90.0):
        raise ConfigError(f"{where}: fault.angle_deg must lie strictly between 0 and 90, got {cfg.fault.angle_deg}")
    if cfg.contact_interval is not None and cfg.contact_interval < 1:
        raise ConfigError(f"{where}: contact_interval must be a positive number of steps")


def load_config(path: str | Path | None) -> PfcImportConfig:
    """Read a PFC import TOML (None: the defaults)."""
    if path is None:
        return PfcImportConfig()
    from labquake.io.rundir import read_toml

    raw = read_toml(path)
    cfg = config_from_dict(raw, str(path))
    return replace(cfg, source=str(path))


def config_to_toml_dict(cfg: PfcImportConfig) -> dict[str, Any]:
    """The TOML mapping that :func:`config_from_dict` reads back into ``cfg``."""
    out: dict[str, Any] = {}
    if cfg.run_id is not None:
        out["run_id"] = cfg.run_id
    out["dt"] = cfg.dt
    if cfg.contact_interval is not None:
        out["contact_interval"] = cfg.contact_interval
    out["start_step"] = cfg.start_step
    if cfg.trials is not None:
        out["trials"] = list(cfg.trials)
    f = asdict(cfg.fault)
    f["centre"] = list(f["centre"])
    if f["contact_area"] is None:
        del f["contact_area"]
    out["fault"] = f
    out["sample"] = {"height": cfg.sample_height, "diameter": cfg.sample_diameter,
                     "confining_stress": cfg.confining_stress}
    out["stress"] = {"unit": cfg.stress_unit}
    out["events"] = {"mag_tolerance": cfg.mag_tolerance}
    out["contacts"] = {"rebase_displacement": cfg.rebase_displacement, "normal_sign": cfg.normal_sign}
    if cfg.columns:
        out["columns"] = {k: list(v) for k, v in cfg.columns.items()}
    if cfg.crack_types:
        out["crack_types"] = {k: f"{a}/{b}" for k, (a, b) in cfg.crack_types.items()}
    if cfg.fault_extra:
        out["fault_extra"] = dict(cfg.fault_extra)
    return out


def crack_type_name(kind: str, mode: str) -> str:
    """The reference's crack type for a labquake (kind, mode)."""
    return CRACK_TYPE_NAMES[(kind, mode)]
