"""Intact-rock calibration tests: UCS, direct tension and triaxial compression.

``labquake calibrate CONFIG --out DIR`` runs the *unfaulted* cylinder of a run config
(every particle on side 0, so every bond is a rock bond and there is no smooth joint)
through the laboratory tests a PFC3D user calibrates micro-parameters on, and compares
the macro-properties with the reference's (Ye, Lui & Young 2024; ``ye2024.md``,
"Intact rock from these micro-parameters").

The specimen, the engine and the bonds come from the experiment's own building blocks
(:func:`labquake.sim.specimen.build_specimen`, :func:`labquake.sim.experiment.build_engine`,
:func:`labquake.sim.experiment.install_specimen_bonds`), so the tests use whatever contact
and bond law the config selects.

Tests
-----
``ucs``
    No confinement: the lateral boundary is the engine's membrane boundary at zero
    pressure (so it applies no force at all). The specimen first settles under the
    seating stress ``seating_stress_mpa`` on the platens (the experiment's consolidation
    stage and criteria, with its damping): the packing's locked-in contact forces would
    otherwise ring through the first part of the test. Then the top platen is driven at the constant
    strain rate ``strain_rate`` (ramped up from zero over ``ramp_steps`` so that no
    stress wave is launched); the bottom platen is fixed. No loading-frame spring (a
    stiff machine).
``tension``
    Direct tension: the particles whose centres lie within ``grip_depth`` maximum
    diameters of either end become grips after the same seating stage (driven particles,
    :meth:`Engine.set_fixed`); the
    top grip moves up at ``tension_strain_rate`` x length, the bottom grip is held. The
    load is the force the specimen exerts on the grips (the grips' total force minus the
    platen force on them), the mean of both ends.
``triaxial<S>`` (``triaxial`` = every confinement of ``confinements_mpa``)
    The experiment's consolidation: confining wall and platens servo-controlled to S MPa
    (ramped, same tolerance, kinetic-energy and step limits as ``[loading]``), then the
    top platen is driven as in the UCS test while the wall servo holds S.

Every test stops once its load has fallen ``drop_fraction`` (``tension_drop_fraction``)
below its running peak, or at ``max_strain`` (``tension_max_strain``).

Quasi-static loading
--------------------
The default strain rate is 1 /s (the saw-cut experiment drives its frame at 0.2 m/s,
1.9 /s). On the paper preset (seed 1, parallel-bond rock) the platen speed is 9e-6 of
the lattice's P-wave speed, the inertial number at the UCS peak 2e-5, and the two
platens carry the same load within 1.5 % at every compression peak (``end_imbalance_at_peak``).
Halving the rate to 0.5 /s changed the UCS by +3.5 %, the tensile strength by +2 %, E by
0.0 % and nu by +0.002; doubling it to 2 /s changed the UCS by +7 % and E by -0.4 %. The
strengths scatter without a trend (the failure path differs), while E does not move.
At 0.25 /s E came out 6 % lower, before any bond broke: not an inertial effect (that would
be monotonic in the rate); this is left as an open question about the engine.

Measurements
------------
* Stresses are engineering stresses: platen (or grip) force over the nominal section
  ``pi (D/2)^2``; compression positive (tension is negative ``axial_stress``). The
  confining stress is the wall's measured stress.
* ``axial_strain`` comes from the platen gap (grip separation in tension), counted from
  the start of loading, shortening positive.
* Gauge strains: the least-squares affine displacement field of the particles in the
  central ``gauge_fraction`` of the length (like strain gauges at mid-height, away from
  the platens and grips), fitted since the start of loading: ``gauge_axial_strain`` =
  -du_z/dz, ``radial_strain`` = -(du_x/dx + du_y/dy)/2 (both contraction positive).
* Young's modulus: tangent at ``fit_level`` (50 %) of the peak, the least-squares slope
  of stress against platen strain over the pre-peak samples whose load lies within
  ``fit_level +- fit_window`` of the peak (:func:`tangent_modulus`). The gauge-strain
  modulus is reported too (``youngs_gauge_gpa``): it excludes the platen contacts'
  compliance.
* Poisson's ratio: ``-d(radial_strain)/d(gauge_axial_strain)`` over the same window
  (:func:`tangent_poisson`), from the particle gauges (the UCS has no wall; in the
  triaxial tests the wall radius is recorded as ``wall_radial_strain`` too).
* Mohr-Coulomb envelope: least squares ``sigma1 = UCS' + q sigma3`` over every
  compression test of a seed (UCS at sigma3 = 0 and the triaxial peaks),
  ``phi = asin((q-1)/(q+1))``, ``c = UCS' (1 - sin phi) / (2 cos phi)``
  (:func:`mohr_coulomb`).

Output
------
``DIR/calibration.json`` (per property: mean over seeds, per-seed list, target, in/out),
``DIR/calibration.md``, ``DIR/calibration.parquet`` (one row per test and seed),
``DIR/stress_strain.png`` and one labquake run directory per test and seed,
``DIR/<test>-seed<k>/`` (``loading.parquet`` with the stress-strain table,
``cracks.parquet``, ``stress_strain.png``, ``meta.json``). A rerun with the same ``--out``
skips complete tests and resumes a killed one from its checkpoint.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import ConfigError, InsufficientDataError, OutputError, RunStateError

__all__ = [
    "CalibrationSettings",
    "CalibrationTest",
    "TARGETS",
    "PROPERTIES",
    "parse_tests",
    "parse_seeds",
    "load_calibration_config",
    "tangent_modulus",
    "tangent_poisson",
    "mohr_coulomb",
    "GaugeFit",
    "run_config_for",
    "unfaulted",
    "summarize_test",
    "run_test",
    "write_report",
    "calibrate",
]

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
    max_strain, tension_max_strain
        ... or at this axial strain (magnitude).
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
    """

    strain_rate: float = 1.0
    tension_strain_rate: float = 1.0
    confinements_mpa: tuple[float, ...] = (5.0, 10.0, 30.0)
    drop_fraction: float = 0.3
    tension_drop_fraction: float = 0.5
    max_strain: float = 0.01
    tension_max_strain: float = 0.003
    ramp_steps: int = 2000
    record_interval: int = 0
    gauge_fraction: float = 0.5
    grip_depth: float = 1.0
    fit_level: float = 0.5
    fit_window: float = 0.1
    local_damping: float | None = None
    seating_stress_mpa: float = 1.0

    def __post_init__(self) -> None:
        def req(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(f"calibration.{msg}")

        for key in ("strain_rate", "tension_strain_rate", "max_strain", "tension_max_strain", "grip_depth",
                    "seating_stress_mpa"):
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
    from labquake.sim.config import load_config
    from labquake.io.rundir import read_toml

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


# --------------------------------------------------------------------------------------
# Estimators (pure functions)
# --------------------------------------------------------------------------------------


def _window(load: np.ndarray, level: float, window: float) -> tuple[np.ndarray, float]:
    load = np.asarray(load, dtype=float)
    if load.size < 2 or not np.any(np.isfinite(load)):
        raise InsufficientDataError("a stress-strain curve needs at least 2 finite samples")
    k = int(np.nanargmax(load))
    peak = float(load[k])
    if not peak > 0.0:
        raise InsufficientDataError(f"the load never rises above zero (peak {peak:g})")
    pre = np.arange(k + 1)
    sel = pre[(load[: k + 1] >= (level - window) * peak) & (load[: k + 1] <= (level + window) * peak)]
    if sel.size < 2:
        raise InsufficientDataError(
            f"only {sel.size} pre-peak sample(s) between {level - window:.0%} and {level + window:.0%} of the peak; "
            "record the curve more often (calibration.record_interval)")
    return sel, peak


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    xm = x - x.mean()
    den = float(np.dot(xm, xm))
    if den == 0.0:
        raise InsufficientDataError("the strain does not change over the fitting window")
    return float(np.dot(xm, y - y.mean()) / den)


def tangent_modulus(stress: Sequence[float], strain: Sequence[float], level: float = 0.5, window: float = 0.1) -> float:
    """Tangent modulus at ``level`` x peak stress, from a local least-squares fit.

    The fit uses the samples before the peak whose stress lies within
    ``(level +- window)`` x peak, and returns the slope of stress against strain.

    Parameters
    ----------
    stress, strain
        The loading curve in time order (same sign convention for both, load positive).
    level, window
        Fraction of the peak where the tangent is taken, and the half-width of the
        fitting window (fractions of the peak).

    Returns
    -------
    float
        The modulus, in the unit of stress / strain.

    Raises
    ------
    InsufficientDataError
        Fewer than 2 pre-peak samples in the window, or no rise at all.
    """
    s = np.asarray(stress, dtype=float)
    e = np.asarray(strain, dtype=float)
    if s.shape != e.shape:
        raise ValueError("stress and strain must have the same length")
    sel, _ = _window(s, level, window)
    return _slope(e[sel], s[sel])


def tangent_poisson(stress: Sequence[float], axial_strain: Sequence[float], lateral_strain: Sequence[float],
                    level: float = 0.5, window: float = 0.1) -> float:
    """Tangent Poisson's ratio ``-d(lateral)/d(axial)`` over the window of :func:`tangent_modulus`.

    ``axial_strain`` and ``lateral_strain`` share one sign convention (e.g. contraction
    positive, so a sample shortened axially has a negative lateral strain). The window
    is chosen on ``stress`` (load positive).
    """
    s = np.asarray(stress, dtype=float)
    a = np.asarray(axial_strain, dtype=float)
    lat = np.asarray(lateral_strain, dtype=float)
    if not (s.shape == a.shape == lat.shape):
        raise ValueError("stress, axial_strain and lateral_strain must have the same length")
    sel, _ = _window(s, level, window)
    return -_slope(a[sel], lat[sel])


def mohr_coulomb(sigma3: Sequence[float], sigma1: Sequence[float]) -> dict[str, float]:
    """Mohr-Coulomb envelope from peak stresses: least squares ``sigma1 = UCS' + q sigma3``.

    Returns ``{"ucs_intercept", "q", "friction_angle_deg", "cohesion"}`` (stresses in the
    unit of the input), with ``phi = asin((q - 1)/(q + 1))`` and
    ``c = UCS' (1 - sin phi) / (2 cos phi)``. Friction angle and cohesion are NaN when
    q <= 0 (no envelope).

    Raises
    ------
    InsufficientDataError
        Fewer than two distinct confining stresses.
    """
    s3 = np.asarray(sigma3, dtype=float)
    s1 = np.asarray(sigma1, dtype=float)
    if s3.shape != s1.shape:
        raise ValueError("sigma3 and sigma1 must have the same length")
    ok = np.isfinite(s3) & np.isfinite(s1)
    s3, s1 = s3[ok], s1[ok]
    if np.unique(s3).size < 2:
        raise InsufficientDataError("a Mohr-Coulomb fit needs peaks at two or more confining stresses")
    q = _slope(s3, s1)
    ucs = float(s1.mean() - q * s3.mean())
    if q <= 0.0:
        return {"ucs_intercept": ucs, "q": q, "friction_angle_deg": math.nan, "cohesion": math.nan}
    sphi = (q - 1.0) / (q + 1.0)
    phi = math.asin(sphi)
    c = ucs * (1.0 - sphi) / (2.0 * math.cos(phi))
    return {"ucs_intercept": ucs, "q": q, "friction_angle_deg": math.degrees(phi), "cohesion": c}


class GaugeFit:
    """Least-squares affine strain of a set of particles since a reference state.

    ``u = c + G x0`` is fitted to the displacements of the particles ``ids`` (reference
    positions ``x0``); :meth:`strains` returns the axial strain ``-G_zz`` and the radial
    strain ``-(G_xx + G_yy)/2``, contraction positive. The pseudo-inverse is computed once.
    """

    def __init__(self, positions0: np.ndarray, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        if self.ids.size < 4:
            raise InsufficientDataError(f"the strain gauge needs at least 4 particles, got {self.ids.size}; "
                                        "raise calibration.gauge_fraction")
        self.x0 = np.asarray(positions0, float)[self.ids].copy()
        design = np.column_stack([np.ones(len(self.ids)), self.x0])
        self.pinv = np.linalg.pinv(design)

    def gradient(self, positions: np.ndarray) -> np.ndarray:
        """The displacement gradient G (3 x 3), G[i, j] = du_i/dx_j."""
        u = np.asarray(positions, float)[self.ids] - self.x0
        return (self.pinv @ u)[1:].T

    def strains(self, positions: np.ndarray) -> tuple[float, float]:
        g = self.gradient(positions)
        return float(-g[2, 2]), float(-0.5 * (g[0, 0] + g[1, 1]))


# --------------------------------------------------------------------------------------
# One test
# --------------------------------------------------------------------------------------

#: columns of the stress-strain table beyond the run-directory ``loading`` schema
EXTRA_COLUMNS = ("stage", "gauge_axial_strain", "radial_strain", "wall_radial_strain", "stress_top", "stress_bottom",
                 "cracks_tension", "cracks_shear")
_COLUMNS = ("step", "time", "axial_stress", "confining_stress", "differential_stress", "axial_strain", "volumetric_strain",
            "platen_displacement", "fault_slip", "kinetic_energy") + EXTRA_COLUMNS


class _TestState:
    """Everything of a running test that goes into its checkpoint (:meth:`to_state`)."""

    def __init__(self, spec: CalibrationTest) -> None:
        self.spec = spec
        self.stage = "consolidation"
        self.stage_start = 0
        self.rows: list[tuple] = []
        self.peak = -math.inf
        self.peak_row = -1
        self.stop_reason = ""
        self.done = False
        self.consolidation: dict[str, Any] = {}
        self.prep_cracks = 0
        self.bonds: dict[str, Any] = {}
        self.gauge: GaugeFit | None = None
        self.gap0 = 0.0
        self.wall_r0 = 0.0
        self.grip_top = np.zeros(0, dtype=np.int64)
        self.grip_bottom = np.zeros(0, dtype=np.int64)
        self.grip_sep0 = 0.0
        self.velocity = 0.0
        self.cracks = None  # a labquake.sim.recorders.CrackLog
        self.n_tension = 0
        self.n_shear = 0
        self.wall_time = 0.0

    _SCALARS = ("stage", "stage_start", "peak", "peak_row", "stop_reason", "done", "consolidation", "prep_cracks", "bonds",
                "gap0", "wall_r0", "grip_top", "grip_bottom", "grip_sep0", "velocity", "n_tension", "n_shear", "wall_time")

    def to_state(self) -> dict[str, Any]:
        """The state as plain data (arrays, JSON scalars, dicts and lists) for
        :func:`labquake.io.checkpoint.save_checkpoint`."""
        rows = {c: np.array([r[k] for r in self.rows]) for k, c in enumerate(_COLUMNS)} if self.rows else {}
        return {
            "spec": dataclasses.asdict(self.spec),
            "plain": {k: getattr(self, k) for k in self._SCALARS},
            "rows": rows,
            "gauge": None if self.gauge is None else {"ids": self.gauge.ids, "x0": self.gauge.x0, "pinv": self.gauge.pinv},
            "cracks": self.cracks.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "_TestState":
        """Rebuild the state from :meth:`to_state`."""
        from labquake.sim.recorders import CrackLog

        self = cls(CalibrationTest(**state["spec"]))
        for k in cls._SCALARS:
            setattr(self, k, state["plain"][k])
        for k in ("stage_start", "peak_row", "prep_cracks", "n_tension", "n_shear"):
            setattr(self, k, int(getattr(self, k)))
        for k in ("peak", "gap0", "wall_r0", "grip_sep0", "velocity", "wall_time"):
            setattr(self, k, float(getattr(self, k)))
        self.done = bool(self.done)
        self.grip_top = np.asarray(self.grip_top, dtype=np.int64)
        self.grip_bottom = np.asarray(self.grip_bottom, dtype=np.int64)
        rows = state["rows"]
        n = len(rows[_COLUMNS[0]]) if rows else 0
        cols = [rows[c].tolist() for c in _COLUMNS] if n else []
        self.rows = [tuple(col[i] for col in cols) for i in range(n)]
        g = state["gauge"]
        if g is not None:
            gauge = GaugeFit.__new__(GaugeFit)
            gauge.ids = np.asarray(g["ids"], dtype=np.int64)
            gauge.x0 = np.asarray(g["x0"], dtype=float)
            gauge.pinv = np.asarray(g["pinv"], dtype=float)
            self.gauge = gauge
        self.cracks = CrackLog.from_state(state["cracks"])
        return self


def _save_checkpoint(run: Any, eng: Any, state: _TestState) -> None:
    """The one place a calibration test writes its checkpoint (:mod:`labquake.io.checkpoint`)."""
    from labquake.io.checkpoint import save_checkpoint

    save_checkpoint(run.checkpoint_dir, {"engine": dict(eng.state_dict()), "test": state.to_state()}, int(eng.step_count))


def _load_checkpoint(run: Any) -> tuple[Any, _TestState]:
    """The one place a calibration test reads its checkpoint back (one-line error if damaged)."""
    from labquake.sim.dem import Engine
    from labquake.io.checkpoint import load_checkpoint

    tree = load_checkpoint(run.checkpoint_dir)
    try:
        return Engine.from_state_dict(tree["engine"]), _TestState.from_state(tree["test"])
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint is a user-facing error
        msg = " ".join(str(exc).split())[:120]
        raise RunStateError(f"{run.checkpoint_dir}: damaged checkpoint ({type(exc).__name__}: {msg}); "
                            "remove that test's directory and rerun") from None


def _has_checkpoint(run: Any) -> bool:
    from labquake.io.checkpoint import has_checkpoint

    return has_checkpoint(run.checkpoint_dir)


def run_config_for(cfg: Mapping[str, Any], spec: CalibrationTest, seed: int,
                   specimen_file: str | os.PathLike | None = None) -> dict[str, Any]:
    """The run config of one test: the base config with the seed, the specimen file and,
    for ``ucs``/``tension``, the membrane boundary (at zero pressure: no lateral boundary).

    The ``[loading]`` table otherwise keeps the base config's values: the tests use its
    consolidation criteria, while a triaxial test's confining stress is the test's own
    (``test.confinement`` in meta.json, the measured ``confining_stress`` column). So the
    config stays valid whatever the experiment requires of its confining stress (e.g. a
    packing stress below it).
    """
    from labquake.sim.config import resolve_config

    c = copy.deepcopy(dict(cfg))
    c["seed"] = int(seed)
    c["name"] = f"{spec.name}-seed{seed}"
    if specimen_file is not None:
        c["specimen"]["file"] = str(specimen_file)
    if spec.kind != "triaxial":
        c["loading"]["confinement"] = "pressure"  # zero membrane pressure: no lateral boundary
    return resolve_config(c)


def unfaulted(specimen: Any) -> Any:
    """The specimen with every particle on side 0: every bond a rock bond, no smooth joint."""
    return dataclasses.replace(specimen, side=np.zeros(specimen.n_particles, dtype=np.int8))


def _area(cfg: Mapping[str, Any]) -> float:
    return math.pi * (0.5 * cfg["specimen"]["diameter"]) ** 2


def _prepare(cfg: dict[str, Any], specimen: Any, spec: CalibrationTest, settings: CalibrationSettings) -> tuple[Any, _TestState]:
    """Engine and state of a fresh test (the experiment's preparation, then the test's setup)."""
    from labquake.sim.experiment import build_engine, install_specimen_bonds
    from labquake.sim.recorders import CrackLog

    eng = build_engine(cfg, specimen, n_threads=1)
    eng.set_cylinder(target_stress=0.0)
    eng.set_platens(target_stress=0.0)
    st = _TestState(spec)
    st.cracks = CrackLog()
    st.bonds = install_specimen_bonds(eng, cfg)
    return eng, st


def _loading_damping(cfg: Mapping[str, Any], settings: CalibrationSettings) -> float:
    return cfg["engine"]["local_damping"] if settings.local_damping is None else settings.local_damping


def _start_loading(cfg: Mapping[str, Any], settings: CalibrationSettings, eng: Any, st: _TestState) -> None:
    s = cfg["specimen"]
    st.stage = "loading"
    st.stage_start = int(eng.step_count)
    eng.set_damping(local_damping=_loading_damping(cfg, settings))
    pos = np.asarray(eng.positions).copy()
    half = 0.5 * settings.gauge_fraction * s["length"]
    zc = 0.5 * (pos[:, 2].max() + pos[:, 2].min())
    st.gauge = GaugeFit(pos, np.flatnonzero(np.abs(pos[:, 2] - zc) <= half))
    b = eng.boundary_state()
    st.gap0 = float(b["z_top"] - b["z_bottom"])
    st.wall_r0 = float(b["cylinder_radius"])
    if st.spec.kind == "tension":
        depth = settings.grip_depth * s["d_max"]
        st.grip_top = np.flatnonzero(pos[:, 2] >= b["z_top"] - depth)
        st.grip_bottom = np.flatnonzero(pos[:, 2] <= b["z_bottom"] + depth)
        if st.grip_top.size == 0 or st.grip_bottom.size == 0:
            raise ConfigError("direct tension: no particle within calibration.grip_depth of an end; raise grip_depth")
        grips = np.concatenate([st.grip_top, st.grip_bottom])
        eng.set_fixed(grips, True)
        eng.set_velocities(grips, np.zeros((grips.size, 3)), np.zeros((grips.size, 3)))
        st.grip_sep0 = float(pos[st.grip_top, 2].mean() - pos[st.grip_bottom, 2].mean())
        st.velocity = settings.tension_strain_rate * s["length"]
        eng.set_platens(mode="velocity", velocity=0.0, frame_stiffness=None)
    else:
        st.velocity = settings.strain_rate * s["length"]
        eng.set_platens(mode="velocity", velocity=0.0, frame_stiffness=None)


def _set_speed(eng: Any, st: _TestState, frac: float) -> None:
    v = st.velocity * frac
    if st.spec.kind == "tension":
        eng.set_velocities(st.grip_top, np.tile([0.0, 0.0, v], (st.grip_top.size, 1)))
        eng.set_platens(velocity=-v)  # the top platen rides with the top grip
    else:
        eng.set_platens(velocity=v)


def _record(eng: Any, st: _TestState, area: float) -> dict[str, float]:
    b = eng.boundary_state()
    pos = np.asarray(eng.positions)
    ftop, fbot = float(b["platen_force_top"]), float(b["platen_force_bottom"])
    if st.spec.kind == "tension":
        f = np.asarray(eng.forces)
        # force of the specimen on each grip = the grip's total force minus the platen force on it
        top = float(f[st.grip_top, 2].sum()) + ftop  # specimen pulls the top grip down: negative
        bot = float(f[st.grip_bottom, 2].sum()) - fbot  # ... and the bottom grip up: positive
        s_top, s_bot = top / area, -bot / area  # compression positive
        sep = float(pos[st.grip_top, 2].mean() - pos[st.grip_bottom, 2].mean())
        disp = st.grip_sep0 - sep
        ea = disp / st.grip_sep0
    else:
        s_top, s_bot = ftop / area, fbot / area
        gap = float(b["z_top"] - b["z_bottom"])
        disp = st.gap0 - gap
        ea = disp / st.gap0
    sa = 0.5 * (s_top + s_bot)
    sc = float(b["confining_stress"]) if st.spec.kind == "triaxial" else 0.0
    ga, gr = st.gauge.strains(pos)
    wr = (st.wall_r0 - float(b["cylinder_radius"])) / st.wall_r0 if st.spec.kind == "triaxial" else math.nan
    row = (int(eng.step_count), float(eng.step_count * eng.dt), sa, sc, sa - sc, ea, ga + 2.0 * gr, disp, 0.0,
           float(eng.kinetic_energy()), st.stage, ga, gr, wr, s_top, s_bot, st.n_tension, st.n_shear)
    st.rows.append(row)
    return dict(zip(_COLUMNS, row))


def _load_of(row: Mapping[str, float], kind: str) -> float:
    if kind == "tension":
        return -row["axial_stress"]
    return row["differential_stress"]


def _loop(cfg: dict[str, Any], settings: CalibrationSettings, run: Any, eng: Any, st: _TestState, progress: bool,
          position: int, interrupt_at: int | None) -> None:
    from tqdm.auto import tqdm

    ld, rec = cfg["loading"], cfg["recording"]
    kind = st.spec.kind
    area = _area(cfg)
    interval = settings.record_interval or rec["loading_interval"]
    ckpt = rec["checkpoint_interval"]
    max_strain = settings.tension_max_strain if kind == "tension" else settings.max_strain
    drop = settings.tension_drop_fraction if kind == "tension" else settings.drop_fraction
    rate = settings.tension_strain_rate if kind == "tension" else settings.strain_rate
    est = int(math.ceil(max_strain / rate / eng.dt)) + settings.ramp_steps
    est += ld["consolidation_max_steps"] if st.stage == "consolidation" else 0
    bar = tqdm(total=est, initial=min(int(eng.step_count), est), unit="step", disable=not progress, desc=run.name,
               dynamic_ncols=True, mininterval=0.5, position=position, leave=position == 0)
    t_chunk = time.perf_counter()
    last_post = -10**9
    try:
        while not st.done:
            step = int(eng.step_count)
            n = max(1, min((step // interval + 1) * interval, (step // ckpt + 1) * ckpt) - step)
            if st.stage == "loading" and step - st.stage_start < settings.ramp_steps:
                _set_speed(eng, st, min(1.0, (step - st.stage_start + 0.5 * n) / settings.ramp_steps))
                n = min(n, max(1, settings.ramp_steps // 20))
            elif st.stage == "loading":
                _set_speed(eng, st, 1.0)
            eng.run(n)
            step = int(eng.step_count)
            bar.update(min(n, max(0, bar.total - bar.n)))
            cr = eng.pop_cracks()
            if st.stage == "consolidation":
                st.prep_cracks += len(cr["step"])
            elif len(cr["step"]):
                st.cracks.add(cr)
                st.n_shear += int(np.count_nonzero(cr["mode"] == 1))
                st.n_tension += int(np.count_nonzero(cr["mode"] != 1))
            if st.stage == "consolidation":
                _consolidate(cfg, settings, eng, st)
            else:
                row = _record(eng, st, area)
                load = _load_of(row, kind)
                if not math.isfinite(load):
                    raise ConfigError(f"the simulation blew up at step {step} (non-finite stress); lower engine.dt_safety")
                if load > st.peak:
                    st.peak, st.peak_row = load, len(st.rows) - 1
                past_ramp = step - st.stage_start >= settings.ramp_steps
                if past_ramp and st.peak > 0.0 and load < (1.0 - drop) * st.peak:
                    st.done, st.stop_reason = True, "post-peak drop"
                elif abs(row["axial_strain"]) >= max_strain:
                    st.done, st.stop_reason = True, "max_strain"
                if progress and step - last_post >= 2000:
                    bar.set_postfix_str(f"load={load / 1e6:.0f} MPa peak={max(st.peak, 0) / 1e6:.0f} cracks={st.cracks.n}",
                                        refresh=False)
                    last_post = step
            if step % ckpt == 0 and not st.done:
                st.wall_time += time.perf_counter() - t_chunk
                t_chunk = time.perf_counter()
                _save_checkpoint(run, eng, st)
                if interrupt_at is not None and step >= interrupt_at:
                    raise KeyboardInterrupt
    finally:
        bar.close()
        st.wall_time += time.perf_counter() - t_chunk


def _consolidate(cfg: Mapping[str, Any], settings: CalibrationSettings, eng: Any, st: _TestState) -> None:
    """The experiment's consolidation (``[loading]`` ramp, tolerance, kinetic-energy ratio
    and step limits): triaxial tests to their confinement on all sides; UCS and tension
    to the seating stress on the platens with no lateral stress, which lets the packing's
    locked-in contact forces settle before loading. Errors are relative to the larger target."""
    ld = cfg["loading"]
    if st.spec.kind == "triaxial":
        sig_a = sig_c = float(st.spec.confinement)
    else:
        sig_a, sig_c = settings.seating_stress_mpa * 1e6, 0.0
    scale = max(sig_a, sig_c)
    step = int(eng.step_count)
    in_stage = step - st.stage_start
    ramp = min(1.0, in_stage / max(ld["consolidation_ramp_steps"], 1))
    if sig_c > 0.0:
        eng.set_cylinder(target_stress=ramp * sig_c)
    eng.set_platens(target_stress=ramp * sig_a)
    b = eng.boundary_state()
    err_a = abs(b["axial_stress"] - sig_a) / scale
    err_c = abs(b["confining_stress"] - sig_c) / scale
    ke = float(eng.kinetic_energy() / max(eng.elastic_energy(), 1e-300))
    done = (in_stage >= max(ld["consolidation_min_steps"], ld["consolidation_ramp_steps"])
            and max(err_a, err_c) < ld["consolidation_tolerance"] and ke < ld["consolidation_ke_ratio"])
    if done or in_stage >= ld["consolidation_max_steps"]:
        st.consolidation = {"steps": in_stage, "converged": bool(done), "axial_error": float(err_a),
                            "confining_error": float(err_c), "kinetic_to_elastic_energy": ke, "cracks": st.prep_cracks}
        _start_loading(cfg, settings, eng, st)


def _table(st: _TestState) -> pd.DataFrame:
    df = pd.DataFrame(st.rows, columns=list(_COLUMNS))
    df["step"] = df["step"].astype("int64")
    for c in ("cracks_tension", "cracks_shear"):
        df[c] = df[c].astype("int64")
    return df


def summarize_test(loading: pd.DataFrame, kind: str, confinement: float, settings: CalibrationSettings) -> dict[str, Any]:
    """Peak, tangent moduli, Poisson's ratio and crack counts of one stress-strain table.

    Returns a dict of plain floats (NaN where an estimate is impossible, with the reason
    in ``notes``); stresses in MPa, moduli in GPa.
    """
    sign = -1.0 if kind == "tension" else 1.0
    load = sign * (loading["axial_stress"] if kind == "tension" else loading["differential_stress"]).to_numpy(float)
    ea = sign * loading["axial_strain"].to_numpy(float)
    ga = loading["gauge_axial_strain"].to_numpy(float)
    gr = loading["radial_strain"].to_numpy(float)
    out: dict[str, Any] = {"kind": kind, "confinement_mpa": confinement / 1e6, "notes": []}
    nan = math.nan
    if len(load) == 0 or not np.any(load > 0):
        out.update(peak_mpa=nan, sigma1_mpa=nan, youngs_gpa=nan, youngs_gauge_gpa=nan, poisson=nan)
        out["notes"].append("no load")
        return out
    k = int(np.argmax(load))
    out["peak_mpa"] = float(load[k] / 1e6)
    out["sigma1_mpa"] = float((load[k] + confinement) / 1e6) if kind != "tension" else nan
    out["strain_at_peak"] = float(ea[k])
    lv, w = settings.fit_level, settings.fit_window
    for key, fn in (("youngs_gpa", lambda: tangent_modulus(load, ea, lv, w) / 1e9),
                    ("youngs_gauge_gpa", lambda: tangent_modulus(load, sign * ga, lv, w) / 1e9),
                    ("poisson", lambda: tangent_poisson(load, ga, gr, lv, w))):
        try:
            out[key] = float(fn())
        except InsufficientDataError as exc:
            out[key] = nan
            out["notes"].append(f"{key}: {exc}")
    if kind == "triaxial" and "wall_radial_strain" in loading:
        try:
            out["poisson_wall"] = float(tangent_poisson(load, ga, loading["wall_radial_strain"].to_numpy(float), lv, w))
        except InsufficientDataError:
            out["poisson_wall"] = nan
    st, sb = loading["stress_top"].to_numpy(float), loading["stress_bottom"].to_numpy(float)
    out["end_imbalance_at_peak"] = float(abs(st[k] - sb[k]) / max(abs(0.5 * (st[k] + sb[k])), 1e-300))
    out["cracks_at_peak"] = {"tension": int(loading["cracks_tension"].iloc[k]), "shear": int(loading["cracks_shear"].iloc[k])}
    out["cracks"] = {"tension": int(loading["cracks_tension"].iloc[-1]), "shear": int(loading["cracks_shear"].iloc[-1])}
    return out


def run_test(cfg: Mapping[str, Any], settings: CalibrationSettings, spec: CalibrationTest, seed: int, specimen_file: str | os.PathLike,
             out: str | os.PathLike, progress: bool = True, position: int = 0,
             _interrupt_at_step: int | None = None) -> dict[str, Any]:
    """Run (or resume, or skip if complete) one test into the run directory ``out``.

    Parameters
    ----------
    cfg
        The resolved base run config.
    settings
        The loading protocol.
    spec
        Which test.
    seed
        Seed of the specimen and of the bond strengths.
    specimen_file
        The seed's specimen (``.npz``; the fault labels are ignored: the specimen is made
        unfaulted).
    out
        The test's run directory.
    progress, position
        tqdm bar and its line.

    Returns
    -------
    dict
        :func:`summarize_test` of the test plus its crack, step and time counts.
    """
    from labquake.sim.experiment import _roundtrip, derived_quantities
    from labquake.io.rundir import RunDirectory
    from labquake.sim.specimen import load_specimen

    tcfg = run_config_for(cfg, spec, seed, specimen_file)
    run = RunDirectory(out)
    if run.is_complete():
        return run.read_meta()["calibration"]
    restored = None
    if run.meta_path.exists():
        if run.config_path.exists() and run.read_config() != _roundtrip(tcfg):
            raise RunStateError(f"{run.path} was started with a different config; use another --out")
        if _has_checkpoint(run):
            restored = _load_checkpoint(run)
    t0 = time.perf_counter()
    with run.failing_on_error("interrupted; rerun the same command to resume from the last checkpoint"):
        if restored is None:
            specimen = unfaulted(load_specimen(specimen_file))
            run.start(tcfg, meta={"name": tcfg["name"], "seed": int(seed), "test": dataclasses.asdict(spec),
                                  "confining_stress_mpa": spec.confinement / 1e6,
                                  "calibration_settings": settings.to_table(), "specimen_file": str(specimen_file)})
            eng, st = _prepare(tcfg, specimen, spec, settings)
            st.wall_time += time.perf_counter() - t0
        else:
            eng, st = restored
            run.update_meta(status="running")
        _loop(tcfg, settings, run, eng, st, progress, position, _interrupt_at_step)
        loading = _table(st)
        summary = summarize_test(loading, spec.kind, spec.confinement, settings)
        dq = derived_quantities(tcfg)
        rate = settings.tension_strain_rate if spec.kind == "tension" else settings.strain_rate
        rho = tcfg["specimen"]["density"] * tcfg["engine"]["density_scale"]
        peak = summary.get("peak_mpa", math.nan) * 1e6
        summary.update(
            test=spec.name, seed=int(seed), steps=int(eng.step_count), loading_steps=int(eng.step_count - st.stage_start),
            stop_reason=st.stop_reason, wall_time_s=float(st.wall_time), strain_rate=rate,
            platen_speed=st.velocity, platen_speed_over_p_wave_speed=st.velocity / dq["p_wave_speed"],
            inertial_number_at_peak=(rate * dq["mean_diameter"] * math.sqrt(rho / peak) if peak > 0 else math.nan),
            local_damping=_loading_damping(tcfg, settings), consolidation=st.consolidation, bonds=st.bonds,
            n_particles=int(eng.n_particles),
        )
        summary = _clean(summary)
        run.write_table("loading", loading)
        run.write_table("cracks", st.cracks.table(float(eng.dt)))
        _test_figure(loading, spec, seed, run.path / "stress_strain.png")
        run.complete(dt=float(eng.dt), calibration=summary, wall_time_s=float(st.wall_time), steps=int(eng.step_count),
                     stop_reason=st.stop_reason, crack_counts={"rock": int(st.cracks.n), "fault": 0},
                     counts={"loading": len(loading), "cracks": int(st.cracks.n)})
    return summary


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------


def _figure(**kw):
    from matplotlib.figure import Figure

    return Figure(**kw)


def _save(fig, path: Path) -> None:
    from labquake.viz.analysis_figures import save

    save(fig, path, dpi=110)


def _test_figure(loading: pd.DataFrame, spec: CalibrationTest, seed: int, path: Path) -> None:
    fig = _figure(figsize=(6.4, 4.2))
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.13, top=0.9)
    ax = fig.subplots()
    sign = -1.0 if spec.kind == "tension" else 1.0
    col = "axial_stress" if spec.kind == "tension" else "differential_stress"
    load = sign * loading[col] / 1e6
    ax.plot(sign * loading["axial_strain"] * 100, load, color="tab:blue", label="axial (platens)")
    ax.plot(sign * loading["gauge_axial_strain"] * 100, load, color="tab:green", lw=0.9, label="axial (gauge)")
    ax.plot(sign * loading["radial_strain"] * 100, load, color="tab:orange", lw=0.9, label="radial (gauge)")
    ax.axvline(0, color="0.6", lw=0.5)
    ax.set_xlabel("strain, % (" + ("extension" if spec.kind == "tension" else "shortening") + " positive)")
    ax.set_ylabel("tensile stress, MPa" if spec.kind == "tension" else "differential stress, MPa")
    ax.set_title(f"{spec.name}, seed {seed}")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    _save(fig, path)


def _summary_figure(curves: list[tuple[CalibrationTest, int, pd.DataFrame]], path: Path) -> None:
    fig = _figure(figsize=(10, 4.2))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    ax_c, ax_t = fig.subplots(1, 2)
    names = sorted({s.name for s, _, _ in curves if s.kind != "tension"},
                   key=lambda n: -1 if n == "ucs" else float(n[len("triaxial"):].replace("p", ".")))
    colors = {n: c for n, c in zip(names, ["tab:blue", "tab:green", "tab:orange", "tab:red", "tab:purple", "tab:brown"] * 3)}
    seen: set[str] = set()
    for spec, seed, df in curves:
        if spec.kind == "tension":
            ax_t.plot(-df["axial_strain"] * 100, -df["axial_stress"] / 1e6, lw=1, label=f"seed {seed}")
            continue
        lab = spec.name if spec.name not in seen else None
        seen.add(spec.name)
        ax_c.plot(df["axial_strain"] * 100, df["differential_stress"] / 1e6, color=colors[spec.name], lw=1, label=lab)
        ax_c.plot(df["radial_strain"] * 100, df["differential_stress"] / 1e6, color=colors[spec.name], lw=0.7, ls="--")
    ax_c.axvline(0, color="0.6", lw=0.5)
    ax_c.set_xlabel("strain, % (axial shortening right, radial expansion left, dashed)")
    ax_c.set_ylabel("differential stress, MPa")
    ax_c.set_title("compression (UCS and triaxial)")
    ax_t.set_xlabel("axial extension, %")
    ax_t.set_ylabel("tensile stress, MPa")
    ax_t.set_title("direct tension")
    for ax in (ax_c, ax_t):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, frameon=False)
    _save(fig, path)


# --------------------------------------------------------------------------------------
# The suite
# --------------------------------------------------------------------------------------


def _check_out(out: Path, marker_text: str) -> None:
    from labquake.io.rundir import atomic_write_text

    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a directory; choose another --out")
    marker = out / _MARKER
    if marker.exists():
        if marker.read_text(encoding="utf-8") != marker_text:
            raise RunStateError(f"{out} holds a calibration of a different config or [calibration] settings; "
                                "use another --out")
        return
    if out.exists() and any(not p.name.startswith(".") for p in out.iterdir()):
        raise OutputError(f"{out} is not empty and is not a calibration directory; choose another --out")
    atomic_write_text(marker, marker_text)


def _specimen_path(out: Path, cfg: Mapping[str, Any], seed: int) -> Path:
    """The seed's specimen: ``specimen.file`` if the config names one, else built once
    and kept in ``DIR/specimens/``."""
    from labquake.sim.config import resolve_config
    from labquake.sim.specimen import build_specimen, check_matches, load_specimen, save_specimen

    if cfg["specimen"]["file"]:
        p = Path(cfg["specimen"]["file"])
        check_matches(load_specimen(p), cfg, source=str(p))
        return p
    p = out / "specimens" / f"seed{seed}.npz"
    if not p.exists():
        c = copy.deepcopy(dict(cfg))
        c["seed"] = int(seed)
        save_specimen(build_specimen(resolve_config(c)), p)
    return p


def _job(args: tuple) -> dict[str, Any]:
    cfg, settings, spec, seed, spec_file, out, progress, position, interrupt = args
    return run_test(cfg, settings, spec, seed, spec_file, out, progress=progress, position=position,
                    _interrupt_at_step=interrupt)


def calibrate(
    cfg: Mapping[str, Any],
    out: str | os.PathLike,
    seeds: Sequence[int] | None = None,
    tests: str | Sequence[str] = "ucs,tension,triaxial",
    settings: CalibrationSettings | None = None,
    progress: bool = True,
    jobs: int = 1,
    _interrupt_at_step: int | None = None,
) -> dict[str, Any]:
    """Run the calibration suite and write ``DIR/calibration.json``, ``.md``, ``.parquet``
    and the figures (see the module docstring).

    Parameters
    ----------
    cfg
        A resolved run config (:func:`load_calibration_config`).
    out
        The calibration directory; a rerun with the same config skips complete tests and
        resumes killed ones.
    seeds
        Specimen seeds (one specimen, and one set of bond strengths, per seed); default
        the config's seed.
    tests
        Comma-separated test names (:func:`parse_tests`).
    settings
        The loading protocol (default :class:`CalibrationSettings`).
    progress
        tqdm bars.
    jobs
        Tests run at once, in separate processes (the engine is single-threaded at this size).

    Returns
    -------
    dict
        The content of ``calibration.json``.
    """
    from labquake.sim.experiment import _roundtrip
    from labquake.io.rundir import dumps_toml

    settings = settings or CalibrationSettings()
    specs = parse_tests(tests, settings)
    seeds = parse_seeds([cfg["seed"]] if seeds is None else seeds)
    if int(jobs) < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    base = copy.deepcopy(dict(cfg))
    base.pop("seed", None)
    marker_text = dumps_toml({"config": _roundtrip({k: v for k, v in base.items()}), "calibration": settings.to_table()})
    out = Path(out)
    _check_out(out, marker_text)
    t0 = time.perf_counter()
    spec_files = {seed: _specimen_path(out, cfg, seed) for seed in seeds}
    jobs_list = [(dict(cfg), settings, spec, seed, str(spec_files[seed]), str(out / f"{spec.name}-seed{seed}"), progress,
                  k % max(int(jobs), 1), _interrupt_at_step) for k, (seed, spec) in enumerate((s, t) for s in seeds for t in specs)]
    if int(jobs) > 1 and len(jobs_list) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # longest first (the triaxials run to max_strain, the more confined the longer;
        # tension is the shortest), so that no long test starts last and the workers
        # finish together; the results keep the tests' order
        order = sorted(range(len(jobs_list)), key=lambda k: _expected_cost(jobs_list[k][2]), reverse=True)
        with ProcessPoolExecutor(max_workers=int(jobs), mp_context=mp.get_context("spawn")) as pool:
            futures = {k: pool.submit(_job, jobs_list[k]) for k in order}
            results = [futures[k].result() for k in range(len(jobs_list))]
    else:
        results = [_job(a) for a in jobs_list]
    return write_report(out, cfg, seeds, specs, settings, results, wall_time_s=time.perf_counter() - t0)


def _expected_cost(spec: CalibrationTest) -> tuple[int, float]:
    """A sort key for a test's expected run time: triaxial (by confinement), then UCS,
    then tension."""
    return ({"triaxial": 2, "ucs": 1}.get(spec.kind, 0), spec.confinement)


def _per_seed_properties(results: list[dict[str, Any]], seeds: Sequence[int], specs: Sequence[CalibrationTest]) -> dict[str, list]:
    by = {(r["seed"], r["test"]): r for r in results}
    props: dict[str, list] = {p: [] for p in PROPERTIES}
    extra: dict[str, list] = {"youngs_gauge_gpa": [], "mc_ucs_intercept_mpa": [], "mc_q": []}
    for seed in seeds:
        ucs = by.get((seed, "ucs"))
        ten = by.get((seed, "tension"))
        props["ucs_mpa"].append(ucs["peak_mpa"] if ucs else None)
        props["tension_mpa"].append(ten["peak_mpa"] if ten else None)
        props["youngs_gpa"].append(ucs["youngs_gpa"] if ucs else None)
        props["poisson"].append(ucs["poisson"] if ucs else None)
        extra["youngs_gauge_gpa"].append(ucs["youngs_gauge_gpa"] if ucs else None)
        for c in (5, 10, 30):
            r = by.get((seed, f"triaxial{c}"))
            props[f"sigma1_{c}_mpa"].append(r["sigma1_mpa"] if r else None)
        s3, s1 = [], []
        for spec in specs:
            r = by.get((seed, spec.name))
            if r and spec.kind != "tension" and r.get("sigma1_mpa") is not None and math.isfinite(r["sigma1_mpa"]):
                s3.append(spec.confinement / 1e6)
                s1.append(r["sigma1_mpa"])
        try:
            mc = mohr_coulomb(s3, s1)
        except InsufficientDataError:
            mc = None
        props["cohesion_mpa"].append(mc["cohesion"] if mc else None)
        props["friction_angle_deg"].append(mc["friction_angle_deg"] if mc else None)
        extra["mc_ucs_intercept_mpa"].append(mc["ucs_intercept"] if mc else None)
        extra["mc_q"].append(mc["q"] if mc else None)
    props.update(extra)
    return props


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        return _clean(v.item())
    return v


def write_report(out: Path, cfg: Mapping[str, Any], seeds: Sequence[int], specs: Sequence[CalibrationTest],
                 settings: CalibrationSettings, results: list[dict[str, Any]], wall_time_s: float) -> dict[str, Any]:
    """Write calibration.json, calibration.md, calibration.parquet and stress_strain.png."""
    from labquake.io.rundir import RunDirectory, atomic_write_json, atomic_write_parquet, atomic_write_text

    props = _per_seed_properties(results, seeds, specs)
    properties: dict[str, Any] = {}
    for name, vals in props.items():
        fin = [v for v in vals if v is not None and math.isfinite(v)]
        mean = float(np.mean(fin)) if fin else None
        entry: dict[str, Any] = {"mean": mean, "per_seed": vals, "sd": float(np.std(fin, ddof=1)) if len(fin) > 1 else None}
        if name in TARGETS:
            lo, hi, text = TARGETS[name]
            entry["target"] = {"low": lo, "high": hi, "text": text}
            entry["within_target"] = None if mean is None else bool(lo <= mean <= hi)
        properties[name] = entry
    doc = {
        "config_name": cfg.get("name"),
        "seeds": list(seeds),
        "tests": [s.name for s in specs],
        "properties": properties,
        "targets": {k: {"low": lo, "high": hi, "text": t} for k, (lo, hi, t) in TARGETS.items()},
        "reference_only": REFERENCE_ONLY,
        "settings": settings.to_table(),
        "definitions": {
            "stress": "platen (grip) force / nominal section pi (D/2)^2, compression positive; sigma1 = sigma3 + peak differential",
            "youngs_gpa": f"UCS tangent modulus at {settings.fit_level:.0%} of the peak, local least-squares fit, stress vs platen strain",
            "poisson": "UCS, -d(radial)/d(axial) of the particle strain gauge (central "
                       f"{settings.gauge_fraction:.0%} of the length) over the same window",
            "mohr_coulomb": "least squares sigma1 = UCS' + q sigma3 over UCS and triaxial peaks per seed; "
                            "phi = asin((q-1)/(q+1)), c = UCS'(1 - sin phi)/(2 cos phi)",
        },
        "per_test": {f"{r['test']}-seed{r['seed']}": r for r in results},
        "wall_time_s": wall_time_s,
    }
    doc = _clean(doc)
    atomic_write_json(out / "calibration.json", doc)
    rows = []
    for r in results:
        rows.append({"test": r["test"], "seed": int(r["seed"]), "kind": r["kind"], "confinement_mpa": r["confinement_mpa"],
                     "peak_mpa": r.get("peak_mpa"), "sigma1_mpa": r.get("sigma1_mpa"), "youngs_gpa": r.get("youngs_gpa"),
                     "youngs_gauge_gpa": r.get("youngs_gauge_gpa"), "poisson": r.get("poisson"),
                     "strain_at_peak": r.get("strain_at_peak"),
                     "cracks_tension": (r.get("cracks") or {}).get("tension"), "cracks_shear": (r.get("cracks") or {}).get("shear"),
                     "end_imbalance_at_peak": r.get("end_imbalance_at_peak"), "stop_reason": r.get("stop_reason"),
                     "steps": r.get("steps"), "wall_time_s": r.get("wall_time_s")})
    atomic_write_parquet(out / "calibration.parquet", pd.DataFrame(rows).astype({"seed": "int64"}))
    atomic_write_text(out / "calibration.md", _markdown(doc, rows))
    curves = []
    for r in results:
        spec = next(s for s in specs if s.name == r["test"])
        curves.append((spec, int(r["seed"]), RunDirectory(out / f"{r['test']}-seed{r['seed']}").read_table("loading")))
    if curves:
        _summary_figure(curves, out / "stress_strain.png")
    return doc


def _fmt(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{nd}f}"


_LABELS = {
    "ucs_mpa": ("UCS", "MPa", 1), "tension_mpa": ("direct tension", "MPa", 1), "youngs_gpa": ("Young's modulus (platens)", "GPa", 1),
    "youngs_gauge_gpa": ("Young's modulus (gauge)", "GPa", 1), "poisson": ("Poisson's ratio", "", 3),
    "sigma1_5_mpa": ("sigma1 at 5 MPa", "MPa", 1), "sigma1_10_mpa": ("sigma1 at 10 MPa", "MPa", 1),
    "sigma1_30_mpa": ("sigma1 at 30 MPa", "MPa", 1), "cohesion_mpa": ("cohesion c", "MPa", 1),
    "friction_angle_deg": ("friction angle phi", "deg", 1), "mc_ucs_intercept_mpa": ("envelope intercept UCS'", "MPa", 1),
    "mc_q": ("envelope slope q", "", 2),
}


def _markdown(doc: Mapping[str, Any], rows: list[dict[str, Any]]) -> str:
    seeds = doc["seeds"]
    lines = [f"# Intact-rock calibration: {doc.get('config_name')}", "",
             f"Seeds {', '.join(map(str, seeds))}; tests {', '.join(doc['tests'])}; "
             f"{doc['wall_time_s']:.0f} s wall time. Mean over the seeds against the reference "
             "(Ye, Lui & Young 2024; ye2024.md).", "",
             "| property | mean | per seed | target | in/out |", "|---|---|---|---|---|"]
    for name, e in doc["properties"].items():
        label, unit, nd = _LABELS.get(name, (name, "", 2))
        target = e.get("target", {}).get("text") or REFERENCE_ONLY.get(name, "")
        inout = {True: "in", False: "**out**", None: "-"}[e.get("within_target")] if "target" in e else ""
        per = ", ".join(_fmt(v, nd) for v in e["per_seed"])
        lines.append(f"| {label}{', ' + unit if unit else ''} | {_fmt(e['mean'], nd)} | {per} | {target} | {inout} |")
    lines += ["", "## Tests", "", "| test | seed | peak MPa | sigma1 MPa | E GPa | E gauge GPa | nu | cracks tension/shear "
              "| end imbalance at peak | stop | steps | wall s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['test']} | {r['seed']} | {_fmt(r['peak_mpa'])} | {_fmt(r['sigma1_mpa'])} | {_fmt(r['youngs_gpa'])} | "
                     f"{_fmt(r['youngs_gauge_gpa'])} | {_fmt(r['poisson'], 3)} | {r['cracks_tension']}/{r['cracks_shear']} | "
                     f"{_fmt(r['end_imbalance_at_peak'], 3)} | {r['stop_reason']} | {r['steps']} | {_fmt(r['wall_time_s'], 0)} |")
    st = doc["settings"]
    qs = [r for r in doc["per_test"].values() if r.get("platen_speed_over_p_wave_speed") is not None]
    if qs:
        lines += ["", f"Loading: axial strain rate {st['strain_rate']:g} /s (tension {st['tension_strain_rate']:g} /s), "
                  f"platen speed / P-wave speed of the lattice <= {max(r['platen_speed_over_p_wave_speed'] for r in qs):.1e}, "
                  f"local damping {qs[0].get('local_damping')}; the end imbalance is |top - bottom| / mean platen (grip) "
                  "stress at the peak (0 = quasi-static)."]
    d = doc["definitions"]
    lines += ["", "## Definitions", ""] + [f"- **{k}**: {v}" for k, v in d.items()] + [""]
    return "\n".join(lines)
