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
below its running peak; a compression test also stops once its axial strain has run
``post_peak_strain`` (0.3 %) past the strain at its running peak without a new peak (the
plateau of a confined test, which hardens to a peak and then flows without dropping 30 %);
at the latest at ``max_strain`` (``tension_max_strain``). A test that ends at ``max_strain``
has not shown that its peak is final: ``peak_reached`` is false in its summary, and its
strengths (and the envelope built on them) are flagged as lower bounds (``lower_bound`` in
``calibration.json``, ``>=`` in ``calibration.md``). Until 0.1.x the triaxial tests
stopped at 1 % strain; on the paper preset the test at 30 MPa was then still hardening
(seed 1: 442 MPa differential at 1 %, its plateau 493-540 MPa between 1.3 and 2 %).

Quasi-static loading
--------------------
The default strain rate is 2 /s (the saw-cut experiment drives its frame at 0.2 m/s,
1.9 /s): the platen speed is 4e-5 of the lattice's P-wave speed. On the paper preset
(flat-jointed rock, seed 1) the UCS came out 140.1, 124.7, 143.8 and 135.5 MPa at 0.5,
1, 2 and 4 /s, and E 57.1, 56.3, 56.9 and 57.2 GPa; the triaxial test at 5 MPa peaked
at sigma1 205.6 MPa at 1 /s and 219.8 MPa at 4 /s. The strengths scatter without a trend
(the failure path differs from run to run, ~7 %), E does not move, and the two platens
carry the same load within 1.5 % at every compression peak (``end_imbalance_at_peak``).
Scatter of this size is why the targets are judged on the mean of several seeds.

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

The package, by job: :mod:`.settings` (the ``[calibration]`` table, test names, targets),
:mod:`.procedure` (one test), :mod:`.estimators` (properties from the curves),
:mod:`.figures` and :mod:`.suite` (every test and seed, and the report).
"""

from labquake.sim.calibrate.estimators import (
    GaugeFit,
    mohr_coulomb,
    tangent_modulus,
    tangent_poisson,
)
from labquake.sim.calibrate.procedure import (  # noqa: F401 - also names the tests and scripts use
    EXTRA_COLUMNS,
    run_config_for,
    run_test,
    stop_reason,
    summarize_test,
    unfaulted,
)
from labquake.sim.calibrate.settings import (  # noqa: F401 - also names the tests and scripts use
    _MARKER,
    PROPERTIES,
    REFERENCE_ONLY,
    TARGETS,
    CalibrationSettings,
    CalibrationTest,
    load_calibration_config,
    parse_seeds,
    parse_tests,
)
from labquake.sim.calibrate.suite import calibrate, write_report

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
    "stop_reason",
    "write_report",
    "calibrate",
]
