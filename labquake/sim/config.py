"""Run configuration: read a TOML file, fill defaults, validate, return the resolved dict.

A run config has the tables below (every key optional; :data:`DEFAULTS` holds the
defaults and the comments in ``simulations/paper.toml`` explain each value)::

    name, seed
    [specimen]   geometry, sizes, packing, optional saved-specimen file
    [rock]       particle contacts and rock (flat-joint-like) bonds
    [fault]      the saw-cut smooth joint
    [loading]    consolidation, axial loading through the frame spring, stop criterion
    [engine]     time step, damping, density scaling
    [recording]  loading-curve, monitored-contact, snapshot and checkpoint intervals
    [ae]         Hazzard & Young event clustering windows

A ``[campaign]`` table (used by :mod:`labquake.campaign`) is accepted and dropped.

Every mistake raises :class:`labquake.errors.ConfigError` with a one-line message naming
the key and what to change.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from typing import Any

from labquake.errors import ConfigError

#: The defaults: the reference study's model (Ye, Lui & Young 2024) as calibrated for our
#: engine (the paper preset). ``simulations/paper.toml`` documents each value and every
#: calibration change.
DEFAULTS: dict[str, Any] = {
    "name": "run",
    "seed": 1,
    "specimen": {
        "diameter": 0.040,  # m, sample diameter
        "length": 0.107,  # m, sample length (z)
        "d_min": 0.004,  # m, particle diameters uniform in [d_min, d_max]
        "d_max": 0.006,
        "density": 2650.0,  # kg/m3, grain density
        # "expansion": PFC radius expansion to the reference's ball counts (labquake.sim.specimen.packing);
        # "geometric": the no-overlap packer (jams at a solid fraction of ~0.59, ~1150 balls)
        "packing": "expansion",
        "porosity": 0.331,  # expansion: nominal porosity at the drawn sizes -> ball count (reference 0.331)
        "n_particles": 0,  # expansion: exact ball count instead (0 = from the porosity)
        "packing_stress": 5e6,  # Pa, expansion: locked-in isotropic stress before bonding
        "solid_fraction": 0.58,  # geometric packing target (jams at ~0.59 in an 8-grain-wide cylinder)
        "coordination": 5.2,  # target mean bonds per particle
        "max_bond_gap": 0.05,  # largest surface gap bonded, as a fraction of the mean diameter
        # > 0: bond every pair whose surface gap is at most this fraction of the mean
        # diameter, as PFC's installation gap (fjm_igap; the reference: 1.64 mm for 4-6 mm
        # grains, 0.328 d); coordination is then not used, and pairs across the fault are
        # bonded (smooth joints) within max_bond_gap
        "installation_gap": 0.0,
        "file": "",  # saved specimen (.npz) to reuse; "" builds one from the seed
    },
    "rock": {
        "modulus": 130e9,  # Pa, effective contact/bond modulus E*
        "stiffness_ratio": 2.5,  # kn/ks
        "friction": 0.5,  # particle friction of unbonded contacts
        "rolling_friction": 0.0,
        "radius_multiplier": 1.0,  # bond radius = multiplier * min(r_i, r_j)
        "bond_model": "parallel",  # "parallel" (parallel bond + linear contact) or "flat_joint" (Potyondy 2012)
        "moment_factor": 1.0,  # parallel bond: moment contribution factor beta in the bond stresses
        "radial_elements": 1,  # flat joint: elements across the radius (reference 1) ...
        "circumferential_elements": 3,  # ... and around the disc (reference 3)
        "tensile_strength": 300e6,  # Pa, mean (reference 50 +- 9 MPa; calibrated, see paper.toml)
        "tensile_strength_std": 54e6,
        "cohesion": 180e6,  # Pa, mean
        "cohesion_std": 18e6,
        "friction_angle_deg": 55.0,
        "residual_friction": 0.2,
    },
    "fault": {
        "angle_deg": 30.0,  # saw-cut angle to the sample axis
        "kn_per_area": 3.6e12,  # Pa/m
        "ks_per_area": 1.4e12,  # Pa/m
        "tensile_strength": 55e6,  # Pa, mean
        "tensile_strength_std": 25e6,  # calibrated (reference: none given), see paper.toml
        "cohesion": 55e6,  # Pa, mean
        "cohesion_std": 25e6,
        # asperities: part of the fault-bond strength scatter varies smoothly along the
        # fault (Gaussian random field, Gaussian covariance of this length); 0 = independent
        "strength_correlation_length": 0.0,  # m
        "strength_correlated_fraction": 0.0,  # share of the strength variance in the field, [0, 1]
        # real contact area: the share of fault contacts that are bonded, chosen as the
        # asperity patches of a Gaussian random field (same correlation length; random
        # contacts when the length is 0); the others are frictional smooth joints. 0 is a
        # ground saw-cut: no fault bonds, only frictional (or healing) contacts
        "bonded_fraction": 1.0,
        # "exact": round(bonded_fraction x contacts) bonded in every run; "random": the excursion
        # set above the field's fixed level, so bonded_fraction is the expected share and the
        # realised share varies from run to run (labquake.sim.specimen.asperity_patches)
        "bonded_area": "exact",
        "friction_angle_deg": 30.0,
        "residual_friction": 0.35,  # reference 0.053 (alternative 0.5); calibrated for a fully bonded fault (paper.toml: 0.3 with asperity patches)
        "contact_area": 2e-5,  # m2, fault contact area used for stresses (reference analysis)
        # fault healing between events (docs/healing.md): "none", or "log": an unbonded fault
        # contact that is pressed together and does not slide regains cohesion
        # healing_rate * log10(1 + t / healing_cutoff_time) over its hold time t (simulated s)
        "healing": "none",
        "healing_rate": 4e6,  # Pa per decade of hold time [cal]: beta 0.02 x sigma_n 200 MPa
        "healing_cutoff_time": 2.5e-5,  # s [cal]: ~330 steps of the paper preset (dt 7.6e-8 s)
        "healing_max_cohesion": 0.0,  # Pa, cap of the healed cohesion; 0 = fault.cohesion
        "healing_tensile_ratio": 0.0,  # healed tensile strength / healed cohesion (0: no tension)
        "healing_crack_cohesion": 1e6,  # Pa: a healed contact failing with at least this is a crack
    },
    "loading": {
        "confining_stress": 150e6,  # Pa
        # "wall": servo-controlled rigid cylinder (PFC triaxial); "jacket": the same cylinder split into two
        # floating segments, one per fault block, that follow the blocks' lateral offset (docs/stick-slip.md);
        # "pressure": engine membrane
        "confinement": "wall",
        "consolidation_ramp_steps": 3000,  # confining stress ramped up linearly over these steps
        "consolidation_tolerance": 0.02,  # relative error of axial and radial stress
        "consolidation_ke_ratio": 2e-4,  # ... and kinetic / elastic energy below this (at rest)
        "consolidation_max_steps": 20000,
        "consolidation_min_steps": 2000,
        "platen_velocity": 0.2,  # m/s, far-end velocity of the loading-frame spring
        "frame_stiffness": 2.0e9,  # N/m, loading-frame spring between actuator and platen
        "wall_stiffness_factor": 1.0,  # platen/cylinder stiffness relative to a particle contact
        "servo_gain": 0.5,  # confining servo gain (fraction of the stress error corrected per step, scaled)
        # Coulomb friction of the platens on the sample's end faces (tangential springs of the platen
        # stiffness): 0 = frictionless, as PFC's usual walls; it holds the sample's rotation about
        # its axis, which the jacket otherwise spins up (docs/stick-slip.md)
        "platen_friction": 0.0,
        # the drive (labquake.sim.drive): "adaptive" runs the drive point at platen_velocity while the
        # sample is quiet and at platen_velocity / slow_factor while it is dynamic; "constant" never slows
        "drive": "adaptive",
        "slow_factor": 1000.0,  # slow phases last as long as events and quiet_steps whatever the factor, so a large one is free
        "slow_ke_ratio": 0.5,  # dynamic: kinetic energy above this times the elastic energy at axial start ...
        "slow_crack_count": 10,  # ... or at least this many bond breaks in one sample (0 = ignore) ...
        "quiet_steps": 2000,  # ... and full speed again after this many quiet steps
        "max_slow_steps": 50000,  # or after this many slow steps in a row (a sample that never rests); 0 = no limit
        "slow_onset_window": 20,  # steps: dynamic too while the slip rate over this window exceeds slip_rate_on
        # slip events (labquake.sim.slips): the fault slip rate, averaged over slip_rate_window steps,
        # above slip_rate_on starts an event; below slip_rate_off for slip_quiet_steps ends it
        "slip_rate_on": 0.5,  # m/s
        "slip_rate_off": 0.2,  # m/s
        "slip_rate_drive_multiple": 2.5,  # both rates scale up so that slip_rate_on >= this x platen_velocity
        "slip_rate_window": 200,  # steps
        "slip_quiet_steps": 1000,
        # stop rule: after stop_after_slips slip events with a static drop >= stop_min_drop
        # (then tail_steps more steps), or a drive displacement of max_displacement (0 = none)
        "stop_after_slips": 1,
        "stop_min_drop": 10e6,  # Pa
        "max_displacement": 0.0,  # m
        "tail_steps": 2000,
        "min_axial_steps": 2000,  # no stop before this many axial-loading steps
        "max_steps": 150000,  # hard step limit (whole run, consolidation included)
    },
    "engine": {
        "dt": 0.0,  # s; 0 = dt_safety * critical step
        "dt_safety": 0.2,
        "damping_ratio": 0.05,  # contact viscous damping (fraction of critical)
        "local_damping": 0.0,  # PFC-style local damping during axial loading
        "consolidation_local_damping": 0.7,  # local damping while consolidating
        "density_scale": 1.0,  # mass scaling (1 = none); recorded in meta
    },
    "recording": {
        "loading_interval": 100,  # steps between loading-curve rows
        "contact_interval": 20,  # steps between monitored-contact rows
        "n_monitored": 100,  # monitored fault contacts
        "snapshot_steps": [],  # explicit steps (counted from the run start, consolidation included)
        "snapshot_axial_start": True,  # snapshot when axial loading starts
        "snapshot_mainshock": True,  # snapshot when the stop criterion detects the mainshock
        "snapshot_final": True,  # snapshot at the last step
        "checkpoint_interval": 20000,  # steps between checkpoints
        "mt_interval": 5,  # steps between moment-tensor samples while an event is active
    },
    "ae": {
        "space_window": 3.0,  # crack joins an event within this many mean diameters of its cracks
        "shear_wave_speed": 0.0,  # m/s, 0 = measured on the consolidated sample (torsional pulse, labquake.sim.ae.wavespeed)
        "time_window_steps": 0,  # 0 = space window / shear-wave speed / dt
        "extend_window": True,  # each joining crack extends the event's time window (cascades = one event)
    },
}

_INT_KEYS = {
    ("seed",),
    ("rock", "radial_elements"),
    ("rock", "circumferential_elements"),
    ("specimen", "n_particles"),
    ("loading", "consolidation_max_steps"),
    ("loading", "consolidation_min_steps"),
    ("loading", "consolidation_ramp_steps"),
    ("loading", "tail_steps"),
    ("loading", "slow_crack_count"),
    ("loading", "quiet_steps"),
    ("loading", "max_slow_steps"),
    ("loading", "slow_onset_window"),
    ("loading", "slip_rate_window"),
    ("loading", "slip_quiet_steps"),
    ("loading", "stop_after_slips"),
    ("loading", "min_axial_steps"),
    ("loading", "max_steps"),
    ("recording", "loading_interval"),
    ("recording", "contact_interval"),
    ("recording", "n_monitored"),
    ("recording", "checkpoint_interval"),
    ("recording", "mt_interval"),
    ("ae", "time_window_steps"),
}
_STR_KEYS = {("name",), ("specimen", "file"), ("specimen", "packing"), ("loading", "confinement"), ("loading", "drive"), ("rock", "bond_model"),
             ("fault", "healing"), ("fault", "bonded_area")}
_BOOL_KEYS = {("recording", "snapshot_axial_start"), ("recording", "snapshot_mainshock"), ("recording", "snapshot_final"),
              ("ae", "extend_window")}
_LIST_KEYS = {("recording", "snapshot_steps")}

#: [loading] keys of the old 15 %-drop stop trigger, refused with a pointer to the slip rule
RETIRED_LOADING_KEYS = ("stop_drop_fraction", "stop_min_peak")

#: Tables that are accepted and dropped (owned by other modules: ``[campaign]`` by
#: :mod:`labquake.campaign`, ``[calibration]`` by :mod:`labquake.sim.calibrate`).
IGNORED_TABLES = ("campaign", "calibration")


def _merge(defaults: Mapping[str, Any], raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = copy.deepcopy(dict(defaults))
    for key, value in raw.items():
        where = f"{prefix}{key}"
        if key not in defaults:
            if not prefix and key in IGNORED_TABLES:
                continue
            known = ", ".join(sorted(defaults))
            raise ConfigError(f"unknown config key '{where}'; known keys{' in [' + prefix[:-1] + ']' if prefix else ''}: {known}")
        if isinstance(defaults[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key '{where}' must be a table ([{where}])")
            out[key] = _merge(defaults[key], value, prefix=f"{where}.")
        else:
            if isinstance(value, Mapping):
                raise ConfigError(f"config key '{where}' must be a value, not a table")
            out[key] = value
    return out


def _check_types(cfg: dict[str, Any]) -> None:
    def walk(d: dict, path: tuple[str, ...]):
        for k, v in d.items():
            p = path + (k,)
            if isinstance(v, dict):
                walk(v, p)
                continue
            name = ".".join(p)
            if p in _STR_KEYS:
                if not isinstance(v, str):
                    raise ConfigError(f"config key '{name}' must be a string, got {v!r}")
            elif p in _BOOL_KEYS:
                if not isinstance(v, bool):
                    raise ConfigError(f"config key '{name}' must be true or false, got {v!r}")
            elif p in _LIST_KEYS:
                if not isinstance(v, (list, tuple)) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                    raise ConfigError(f"config key '{name}' must be a list of integers (steps), got {v!r}")
                if any(x < 0 for x in v):
                    raise ConfigError(f"config key '{name}' must hold steps >= 0, got {list(v)}")
                d[k] = sorted({int(x) for x in v})
            elif p in _INT_KEYS:
                if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, float) and v.is_integer())):
                    raise ConfigError(f"config key '{name}' must be an integer, got {v!r}")
                d[k] = int(v)
            else:
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ConfigError(f"config key '{name}' must be a number, got {v!r}")
                if not math.isfinite(float(v)):
                    raise ConfigError(f"config key '{name}' must be finite, got {v!r}")
                d[k] = float(v)

    walk(cfg, ())


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def _validate(cfg: dict[str, Any]) -> None:
    s, r, f, ld, e, rec, ae = (cfg[k] for k in ("specimen", "rock", "fault", "loading", "engine", "recording", "ae"))
    _require(cfg["seed"] >= 0, f"seed must be >= 0, got {cfg['seed']}")
    _require(cfg["name"].strip() != "" and "/" not in cfg["name"], f"name must be a non-empty string without '/', got {cfg['name']!r}")
    _require(0.0 < f["angle_deg"] < 90.0, f"fault.angle_deg must lie strictly between 0 and 90 degrees, got {f['angle_deg']}")
    _require(ld["confining_stress"] > 0.0, f"loading.confining_stress must be > 0 Pa (150e6 in the reference), got {ld['confining_stress']}")
    for key in ("diameter", "length", "d_min", "d_max", "density"):
        _require(s[key] > 0.0, f"specimen.{key} must be > 0, got {s[key]}")
    _require(s["d_min"] <= s["d_max"], f"specimen.d_min ({s['d_min']}) must not exceed specimen.d_max ({s['d_max']})")
    _require(
        s["d_max"] <= min(s["diameter"], s["length"]) / 3.0,
        f"particles too large for the sample: specimen.d_max={s['d_max']} m must be at most one third of "
        f"the sample width ({s['diameter']} m) and length ({s['length']} m)",
    )
    _require(s["packing"] in ("expansion", "geometric"),
             f"specimen.packing must be 'expansion' (PFC radius expansion) or 'geometric' (no-overlap packer), got {s['packing']!r}")
    _require(0.25 <= s["porosity"] <= 0.5, f"specimen.porosity must lie in [0.25, 0.5] (the reference's is 0.331), got {s['porosity']}")
    _require(s["n_particles"] >= 0, f"specimen.n_particles must be >= 0 (0 = from specimen.porosity), got {s['n_particles']}")
    _require(0.0 < s["packing_stress"] < ld["confining_stress"],
             f"specimen.packing_stress must lie between 0 and loading.confining_stress ({ld['confining_stress']} Pa), got {s['packing_stress']}")
    _require(0.3 <= s["solid_fraction"] <= 0.62, f"specimen.solid_fraction must lie in [0.3, 0.62] (dense random packing in a cylinder), got {s['solid_fraction']}")
    _require(0.0 < s["coordination"] <= 12.0, f"specimen.coordination must lie in (0, 12], got {s['coordination']}")
    _require(0.0 <= s["max_bond_gap"] <= 0.5, f"specimen.max_bond_gap must lie in [0, 0.5] mean diameters, got {s['max_bond_gap']}")
    _require(0.0 <= s["installation_gap"] <= 1.0,
             f"specimen.installation_gap must lie in [0, 1] mean diameters (0 = bond by coordination), got {s['installation_gap']}")
    _require(r["bond_model"] in ("parallel", "flat_joint"),
             f"rock.bond_model must be 'parallel' or 'flat_joint', got {r['bond_model']!r}")
    _require(0.0 <= r["moment_factor"] <= 1.0, f"rock.moment_factor must lie in [0, 1], got {r['moment_factor']}")
    _require(r["radial_elements"] >= 1 and r["circumferential_elements"] >= 1
             and r["radial_elements"] * r["circumferential_elements"] <= 15,
             "rock.radial_elements and rock.circumferential_elements must be >= 1 with at most 15 elements in all, "
             f"got {r['radial_elements']} x {r['circumferential_elements']}")
    if s["file"]:
        _require(s["file"].endswith(".npz"), f"specimen.file must be a .npz specimen file, got {s['file']!r}")
    for key in ("modulus", "stiffness_ratio", "radius_multiplier", "tensile_strength", "cohesion"):
        _require(r[key] > 0.0, f"rock.{key} must be > 0, got {r[key]}")
    for tab, d in (("rock", r), ("fault", f)):
        for key in ("friction_angle_deg",):
            _require(0.0 <= d[key] < 90.0, f"{tab}.{key} must lie in [0, 90), got {d[key]}")
        for key in ("tensile_strength_std", "cohesion_std", "residual_friction"):
            _require(d[key] >= 0.0, f"{tab}.{key} must be >= 0, got {d[key]}")
    _require(f["strength_correlation_length"] >= 0.0,
             f"fault.strength_correlation_length must be >= 0 m, got {f['strength_correlation_length']}")
    _require(0.0 <= f["bonded_fraction"] <= 1.0, f"fault.bonded_fraction must lie in [0, 1], got {f['bonded_fraction']}")
    _require(f["bonded_area"] in ("exact", "random"),
             f"fault.bonded_area must be 'exact' or 'random', got {f['bonded_area']!r}")
    _require(0.0 <= f["strength_correlated_fraction"] <= 1.0,
             f"fault.strength_correlated_fraction must lie in [0, 1], got {f['strength_correlated_fraction']}")
    _require(r["friction"] >= 0.0 and r["rolling_friction"] >= 0.0, "rock.friction and rock.rolling_friction must be >= 0")
    for key in ("kn_per_area", "ks_per_area", "tensile_strength", "cohesion", "contact_area"):
        _require(f[key] > 0.0, f"fault.{key} must be > 0, got {f[key]}")
    _require(f["healing"] in ("none", "log"),
             f"fault.healing must be 'none' or 'log' (log hold-time healing, docs/healing.md), got {f['healing']!r}")
    for key, unit in (("healing_rate", "Pa per decade"), ("healing_max_cohesion", "Pa"), ("healing_tensile_ratio", ""),
                      ("healing_crack_cohesion", "Pa")):
        _require(f[key] >= 0.0, f"fault.{key} must be >= 0{' ' + unit if unit else ''}, got {f[key]}")
    _require(f["healing_cutoff_time"] > 0.0, f"fault.healing_cutoff_time must be > 0 s, got {f['healing_cutoff_time']}")
    _require(f["healing_max_cohesion"] <= f["cohesion"],
             f"fault.healing_max_cohesion ({f['healing_max_cohesion']} Pa) must not exceed the intact fault.cohesion "
             f"({f['cohesion']} Pa); 0 = fault.cohesion")
    for key in ("platen_velocity", "frame_stiffness", "wall_stiffness_factor", "servo_gain", "consolidation_tolerance",
                "consolidation_ke_ratio", "slow_ke_ratio", "slip_rate_on", "slip_rate_off", "slip_rate_drive_multiple"):
        _require(ld[key] > 0.0, f"loading.{key} must be > 0, got {ld[key]}")
    _require(ld["platen_friction"] >= 0.0, f"loading.platen_friction must be >= 0, got {ld['platen_friction']}")
    _require(ld["drive"] in ("adaptive", "constant"), f"loading.drive must be 'adaptive' or 'constant', got {ld['drive']!r}")
    _require(ld["slow_factor"] >= 1.0, f"loading.slow_factor must be >= 1 (1 = never slow down), got {ld['slow_factor']}")
    _require(ld["slip_rate_off"] <= ld["slip_rate_on"],
             f"loading.slip_rate_off ({ld['slip_rate_off']}) must not exceed loading.slip_rate_on ({ld['slip_rate_on']})")
    _require(ld["stop_after_slips"] >= 1, f"loading.stop_after_slips must be >= 1, got {ld['stop_after_slips']}")
    for key in ("slip_rate_window", "slow_onset_window"):
        _require(ld[key] >= 1, f"loading.{key} must be >= 1 step, got {ld[key]}")
    for key in ("stop_min_drop", "max_displacement"):
        _require(ld[key] >= 0.0, f"loading.{key} must be >= 0, got {ld[key]}")
    for key in ("tail_steps", "min_axial_steps", "consolidation_min_steps", "consolidation_ramp_steps", "slow_crack_count",
                "quiet_steps", "slip_quiet_steps", "max_slow_steps"):
        _require(ld[key] >= 0, f"loading.{key} must be >= 0, got {ld[key]}")
    _require(ld["consolidation_max_steps"] >= ld["consolidation_min_steps"], "loading.consolidation_max_steps must be >= loading.consolidation_min_steps")
    _require(ld["max_steps"] > ld["consolidation_max_steps"], f"loading.max_steps ({ld['max_steps']}) must exceed loading.consolidation_max_steps ({ld['consolidation_max_steps']})")
    _require(ld["confinement"] in ("wall", "jacket", "pressure"),
             f"loading.confinement must be 'wall', 'jacket' or 'pressure', got {ld['confinement']!r}")
    _require(e["dt"] >= 0.0, f"engine.dt must be >= 0 (0 = automatic), got {e['dt']}")
    _require(0.0 < e["dt_safety"] <= 1.0, f"engine.dt_safety must lie in (0, 1], got {e['dt_safety']}")
    _require(0.0 <= e["damping_ratio"] < 1.0, f"engine.damping_ratio must lie in [0, 1), got {e['damping_ratio']}")
    for key in ("local_damping", "consolidation_local_damping"):
        _require(0.0 <= e[key] < 1.0, f"engine.{key} must lie in [0, 1), got {e[key]}")
    _require(e["density_scale"] >= 1.0, f"engine.density_scale must be >= 1 (1 = no mass scaling), got {e['density_scale']}")
    for key in ("loading_interval", "contact_interval", "checkpoint_interval", "mt_interval"):
        _require(rec[key] >= 1, f"recording.{key} must be >= 1 step, got {rec[key]}")
    _require(rec["n_monitored"] >= 0, f"recording.n_monitored must be >= 0, got {rec['n_monitored']}")
    _require(ae["space_window"] > 0.0, f"ae.space_window must be > 0 mean diameters, got {ae['space_window']}")
    _require(ae["shear_wave_speed"] >= 0.0, f"ae.shear_wave_speed must be >= 0 (0 = measured), got {ae['shear_wave_speed']}")
    _require(ae["time_window_steps"] >= 0, f"ae.time_window_steps must be >= 0 (0 = automatic), got {ae['time_window_steps']}")


def resolve_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults into ``raw`` and validate; returns a new, fully resolved config.

    Parameters
    ----------
    raw
        A (possibly partial) config as read from TOML. It is not modified.

    Returns
    -------
    dict
        Every key of :data:`DEFAULTS`, with the values of ``raw`` where given.

    Raises
    ------
    ConfigError
        Unknown key, wrong type, or a value out of range (one-line message).
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a run config must be a table of keys, got {type(raw).__name__}")
    ld_raw = raw.get("loading")
    if isinstance(ld_raw, Mapping):
        for key in RETIRED_LOADING_KEYS:
            if key in ld_raw:
                raise ConfigError(f"loading.{key} was retired: runs now stop after loading.stop_after_slips slip events "
                                  "of at least loading.stop_min_drop (see labquake.sim.slips); remove it")
    cfg = _merge(DEFAULTS, raw)
    _check_types(cfg)
    _validate(cfg)
    return cfg


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a run-config TOML file and return the resolved config (see :func:`resolve_config`).

    A relative ``specimen.file`` is resolved against the config file's folder.
    """
    from pathlib import Path

    from labquake.io.rundir import read_toml

    raw = read_toml(path)
    cfg = resolve_config(raw)
    sf = cfg["specimen"]["file"]
    if sf and not os.path.isabs(sf):
        cfg["specimen"]["file"] = str((Path(path).resolve().parent / sf))
    return cfg
