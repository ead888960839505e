"""Calibration settings, test names, seeds and targets: the ``[calibration]`` table of a run config.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labquake.errors import (
    ConfigError,
)

#: Targets (ye2024.md, "Intact rock from these micro-parameters"; issue 11 acceptance):
#: property -> (low, high, text)
TARGETS: dict[str, tuple[float, float, str]] = {
    "ucs_mpa": (121.5, 161.5, "141.5 +- 20"),
    "tension_mpa": (15.0, 23.0, "19 +- 4"),
    "youngs_gpa": (55.0, 70.0, "55-70"),
    "poisson": (0.10, 0.18, "0.14 +- 0.04"),
    "sigma1_30_mpa": (452.0, 592.0, "522 +- 70"),
}

#: Reference values without an acceptance band (S249 / S253 assemblies), for the table.
REFERENCE_ONLY: dict[str, str] = {
    "sigma1_5_mpa": "230.7 / 240.8",
    "sigma1_10_mpa": "287.4 / 316.0",
}

#: The properties of calibration.json, in order.
PROPERTIES: tuple[str, ...] = ("ucs_mpa", "tension_mpa", "youngs_gpa", "poisson", "sigma1_5_mpa", "sigma1_10_mpa",
                               "sigma1_30_mpa", "cohesion_mpa", "friction_angle_deg")

_MARKER = "calibration-config.toml"


# --------------------------------------------------------------------------------------
# Settings and test names
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationSettings:
    """Loading protocol of the calibration tests (the optional ``[calibration]`` table).

    Attributes
    ----------
    strain_rate
        Axial strain rate of the compression tests (1/s): platen speed / length.
    tension_strain_rate
        Strain rate of the direct-tension test (1/s).
    confinements_mpa
        Confining stresses of the triaxial tests (MPa).
    drop_fraction, tension_drop_fraction
        A test stops once its load is this fraction below its running peak.
    post_peak_strain
        ... or (compression tests) once its axial strain has run this far past the strain
        at its running peak without a new peak: the plateau of a ductile, confined test,
        which never drops by ``drop_fraction``.
    max_strain, tension_max_strain
        ... or at this axial strain (magnitude). A test stopped here has not shown that
        its peak is final: its peak is a lower bound (``peak_reached`` false).
    ramp_steps
        Steps over which the platen (grip) speed ramps up from zero.
    record_interval
        Steps between stress-strain rows (0: the config's ``recording.loading_interval``).
    gauge_fraction
        Central fraction of the length whose particles form the strain gauge.
    grip_depth
        Direct tension: grips are the particles within this many maximum diameters of an end.
    fit_level, fit_window
        Tangent modulus and Poisson's ratio at ``fit_level`` x peak, fitted over
        ``fit_level +- fit_window`` x peak.
    local_damping
        Local damping while loading (None: the config's ``engine.local_damping``, the
        experiment's axial-loading value).
    seating_stress_mpa
        UCS and tension: axial stress (MPa) under which the specimen settles before loading.
    platen_friction
        Friction coefficient of the platens in every test, whatever the experiment's
        ``loading.platen_friction``. Default 0: the reference calibrated on PFC walls,
        which are frictionless unless given a friction (its sheet lists none), and end
        friction confines the ends of a short specimen (8 grains across): with 0.05 the
        paper preset's UCS rose from 137.1 to 160.1 MPa and σ1 at 30 MPa from 552 to
        626 MPa (means of seeds 1-3), out of the reference's 522 ± 70.
    """

    strain_rate: float = 2.0
    tension_strain_rate: float = 1.0
    confinements_mpa: tuple[float, ...] = (5.0, 10.0, 30.0)
    drop_fraction: float = 0.3
    tension_drop_fraction: float = 0.5
    post_peak_strain: float = 0.003
    max_strain: float = 0.03
    tension_max_strain: float = 0.003
    ramp_steps: int = 2000
    record_interval: int = 0
    gauge_fraction: float = 0.5
    grip_depth: float = 1.0
    fit_level: float = 0.5
    fit_window: float = 0.1
    local_damping: float | None = None
    seating_stress_mpa: float = 1.0
    platen_friction: float = 0.0

    def __post_init__(self) -> None:
        def req(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(f"calibration.{msg}")

        for key in ("strain_rate", "tension_strain_rate", "max_strain", "tension_max_strain", "post_peak_strain",
                    "grip_depth", "seating_stress_mpa"):
            v = getattr(self, key)
            req(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0,
                f"{key} must be a number > 0, got {v!r}")
        for key in ("drop_fraction", "tension_drop_fraction", "gauge_fraction"):
            v = getattr(self, key)
            req(isinstance(v, (int, float)) and 0 < v < 1, f"{key} must lie in (0, 1), got {v!r}")
        req(isinstance(self.ramp_steps, int) and self.ramp_steps >= 0, f"ramp_steps must be an integer >= 0, got {self.ramp_steps!r}")
        req(isinstance(self.record_interval, int) and self.record_interval >= 0,
            f"record_interval must be an integer >= 0, got {self.record_interval!r}")
        req(0 < self.fit_window < self.fit_level and self.fit_level + self.fit_window < 1,
            f"fit_level +- fit_window must lie inside (0, 1), got {self.fit_level} +- {self.fit_window}")
        conf = self.confinements_mpa
        req(len(conf) > 0 and all(isinstance(c, (int, float)) and not isinstance(c, bool) and 0 < c < 1e4 for c in conf),
            f"confinements_mpa must be a list of stresses in MPa, each > 0, got {list(conf)!r}")
        req(len(set(conf)) == len(conf), f"confinements_mpa lists a stress twice: {list(conf)}")
        req(isinstance(self.platen_friction, (int, float)) and not isinstance(self.platen_friction, bool)
            and math.isfinite(self.platen_friction) and self.platen_friction >= 0,
            f"platen_friction must be a number >= 0, got {self.platen_friction!r}")
        if self.local_damping is not None:
            req(0.0 <= self.local_damping < 1.0, f"local_damping must lie in [0, 1), got {self.local_damping!r}")

    @classmethod
    def from_table(cls, table: Mapping[str, Any] | None) -> "CalibrationSettings":
        """Settings from a ``[calibration]`` TOML table (unknown keys are an error)."""
        table = dict(table or {})
        known = {f.name for f in dataclasses.fields(cls)}
        for key in table:
            if key not in known:
                raise ConfigError(f"unknown config key 'calibration.{key}'; known keys in [calibration]: {', '.join(sorted(known))}")
        if "confinements_mpa" in table:
            c = table["confinements_mpa"]
            if not isinstance(c, (list, tuple)):
                raise ConfigError(f"calibration.confinements_mpa must be a list of stresses in MPa, got {c!r}")
            table["confinements_mpa"] = tuple(float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x for x in c)
        for key in ("ramp_steps", "record_interval"):
            if isinstance(table.get(key), float) and table[key].is_integer():
                table[key] = int(table[key])
        return cls(**table)

    def to_table(self) -> dict[str, Any]:
        """The settings as a TOML-able table (``local_damping`` left out when None)."""
        d = dataclasses.asdict(self)
        d["confinements_mpa"] = list(self.confinements_mpa)
        if d["local_damping"] is None:
            del d["local_damping"]
        return d


@dataclass(frozen=True)
class CalibrationTest:
    """One calibration test: ``name`` (``ucs``, ``tension``, ``triaxial30``), ``kind``
    (``ucs`` | ``tension`` | ``triaxial``) and its confining stress (Pa)."""

    name: str
    kind: str
    confinement: float = 0.0


def _mpa_label(mpa: float) -> str:
    return f"{mpa:g}".replace(".", "p")


def parse_tests(text: str | Sequence[str], settings: CalibrationSettings) -> list[CalibrationTest]:
    """The tests named in ``text`` (comma-separated): ``ucs``, ``tension``, ``triaxial``
    (every confinement of the settings) or ``triaxial<S>`` for one of them (S in MPa).

    Raises
    ------
    ConfigError
        An unknown or repeated name (one line, listing the valid names).
    """
    names = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text)]
    names = [t for t in names if t]
    tri = {f"triaxial{_mpa_label(c)}": c for c in settings.confinements_mpa}
    valid = ["ucs", "tension", "triaxial", *tri]
    if not names:
        raise ConfigError(f"--tests names no test; choose from {', '.join(valid)}")
    out: list[CalibrationTest] = []
    for n in names:
        if n == "ucs":
            specs = [CalibrationTest("ucs", "ucs")]
        elif n == "tension":
            specs = [CalibrationTest("tension", "tension")]
        elif n == "triaxial":
            specs = [CalibrationTest(k, "triaxial", c * 1e6) for k, c in tri.items()]
        elif n in tri:
            specs = [CalibrationTest(n, "triaxial", tri[n] * 1e6)]
        else:
            raise ConfigError(f"unknown test {n!r} in --tests; choose from {', '.join(valid)}")
        for s in specs:
            if s in out:
                raise ConfigError(f"test {s.name!r} is named twice in --tests")
            out.append(s)
    return out


def parse_seeds(values: Sequence[Any]) -> list[int]:
    """Seeds given on the command line: distinct integers >= 0 (one-line ConfigError otherwise)."""
    out: list[int] = []
    for v in values:
        try:
            s = int(str(v), 10)
        except ValueError:
            raise ConfigError(f"--seeds takes integers >= 0, got {v!r}") from None
        if s < 0:
            raise ConfigError(f"--seeds takes integers >= 0, got {v!r}")
        if s in out:
            raise ConfigError(f"seed {s} is given twice in --seeds")
        out.append(s)
    if not out:
        raise ConfigError("--seeds needs at least one seed")
    return out


def load_calibration_config(path: str | os.PathLike) -> tuple[dict[str, Any], CalibrationSettings]:
    """Read a run config (TOML) and its optional ``[calibration]`` table.

    Returns the resolved run config (as :func:`labquake.sim.config.load_config`) and the
    settings. Every problem is a one-line :class:`ConfigError`.
    """
    from labquake.io.rundir import read_toml
    from labquake.sim.config import load_config

    p = Path(path)
    try:
        raw = read_toml(p)
        cfg = load_config(p)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the config ({exc.strerror or exc})") from None
    table = raw.get("calibration", {})
    if not isinstance(table, Mapping):
        raise ConfigError("config key 'calibration' must be a table ([calibration])")
    return cfg, CalibrationSettings.from_table(table)
