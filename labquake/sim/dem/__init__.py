"""labquake.sim.dem: a numba soft-sphere DEM engine for bonded rock with a smooth-joint fault.

The public API is the contract of ``docs/dem-api.md``; additions are listed at the end.

Particles and neighbours
------------------------
Structure-of-arrays state (float64 position, velocity, angular velocity, force, torque,
radius, mass, inertia; int8 fixed/driven flag and block ``side``; int64 original id).
A cell list builds a Verlet *half* list (i < j) with a skin; it is rebuilt when the
largest displacement since the last build exceeds skin/2. Every ``sort_every``-th rebuild
re-sorts the particles in cell order; all per-particle arrays are permuted together and
``oid``/``idx_of`` keep user ids stable (every id the API returns or accepts is a user id,
the index of the particle in the ``positions`` given to :class:`Engine`).
Pair history (tangential spring, rolling spring, smooth-joint forces, bond flags and
bond slot) lives in slots aligned with the pair list and is carried over rebuilds by
(i, j) matching; bonds survive any rebuild or re-sort. A bonded pair stays in the list
however far it is stretched (pairs are merged back in at a rebuild), until the bond breaks.

Contact laws (SI)
-----------------
1. Linear frictional contact (:class:`LinearContact`, LAMMPS ``gran/hooke/history``
   type): Fn = kn·overlap − 2ζ√(m_eff·kn)·v_n; the tangential spring vector is rotated
   into the current tangent plane keeping its length, incremented by v_t·dt, and capped
   at μ·kn·overlap (the spring is rewritten so it stays consistent). Optional rolling
   resistance (PFC ``rr`` linear: k_r = ks·R̄², |M_r| ≤ μ_r·R̄·Fn).
2. Rock bond (:class:`RockBond`): parallel-bond mechanics with flat-joint-like failure.
   Bond radius R = radius_multiplier·min(ri, rj), A = πR², I = πR⁴/4, J = 2I. Normal
   force, shear force, bending and twisting moments grow incrementally from the relative
   motion of the contact point and the relative rotation, with stiffness per area kn, ks.
   The bond acts in parallel with the linear contact (which carries compression when the
   spheres overlap). It breaks in tension when −Fn/A + |M_b|·R/I > σ_t, else in shear when
   |Fs|/A + |M_t|·R/J > c + (Fn/A)·tanφ (Fn compression +). Afterwards the pair is a linear
   frictional contact with ``residual_mu`` (and keeps the rolling resistance, if any).
   New contacts formed later between particles of the same side use ``LinearContact``.
3. Flat joint (:class:`FlatJoint`, Potyondy 2012), the alternative rock bond: a disc of
   radius λ·min(ri, rj) split into Nr × Nal elements (1 × 3 in the reference). The two
   rigid faces give a linear normal-displacement field over the disc; each element carries
   the normal force and stress moment of its part of that field and its own shear force,
   so bending and twisting are carried element by element (total bending stiffness
   exactly k̄n·πR⁴/4). Each element breaks on its own average stresses (tension, or
   Coulomb shear); a broken element carries compression only and slides with
   ``residual_mu``. The joint replaces the linear contact of its pair, is installed
   stress-free across the pair's gap and persists while its faces interact. Details:
   :mod:`labquake.sim.dem.laws.flat_joint`.
4. Smooth joint (:class:`SmoothJoint`) for pairs with side[i] != side[j]: the contact
   normal is the fixed joint-plane normal (oriented from side-0 to side-1 particles, the
   block with the larger mean projection on the normal decides). Normal and shear force
   grow from the relative contact-point displacement resolved in the joint frame
   (stiffness per area × area). Bonded: breaks in tension when −Fn/A > σ_t, in shear when
   |Fs|/A > c + (Fn/A)·tanφ. Unbonded (after a break, or contacts formed later across the
   fault): no tension, |Fs| ≤ residual_mu·Fn. A joint installed as a bond keeps its faces
   after a shear break: it stays in contact (and in the neighbour list) while its normal
   force is compressive, across the pair's gap; a contact formed later exists while the
   spheres overlap.
5. Fault healing (``SmoothJoint(healing=FaultHealing(...))``, off by default;
   ``docs/healing.md``): an unbonded smooth joint (broken, or formed later) that is
   pressed together and does not slide accumulates a hold time t and regains cohesion
   c_h = rate·log10(1 + t/t_c) ≤ c_max (Dieterich-type log-time healing), plus a tensile
   strength ratio·c_h. It fails, like an intact joint, in tension when −Fn/A exceeds that,
   else in shear when |Fs|/A > c_h + (Fn/A)·μ_r (μ_r its residual friction, so a joint
   at t = 0 is the plain residual joint); a failure resets t. A failure with
   c_h ≥ ``crack_cohesion`` is a re-rupture: it emits a crack (``healed`` true) and its
   released energy counts as bond-break energy. The hold time lives in a per-slot array
   (``hold``, in the state dict) carried with the pair history.

Every bond failure emits one crack record: step after which it broke, contact point,
normal, size = bond radius, kind 0 rock / 1 fault, mode, the two user ids (a < b), and
``healed`` (true for the re-rupture of a healed smooth joint). A flat joint emits one
record per broken element, at the element's centroid, size √(A_e/π).

Walls
-----
* :class:`Platens`: two rigid frictionless planes normal to z (linear springs of stiffness
  kn against the particles). The bottom one is fixed, the top one is driven: constant
  velocity (shortening positive), directly or through a loading-frame spring
  (``frame_stiffness``): the drive point moves at the velocity and the massless platen sits
  where the spring force balances the particle forces (one Newton step per time step);
  or servo-controlled to a target axial stress (PFC servo law with bounded gain).
* :class:`ConfiningCylinder`: the **default is mode="pressure"**, a membrane-like boundary:
  each step the outermost particle of every (θ, z) surface cell (cells about one particle
  diameter wide) gets the inward radial force σ_c × cell area. A rigid cylinder would
  pin the rim of a saw-cut sample and hinder the lateral offset of the two blocks when
  the 30° fault slips; the pressure boundary follows the sample shape, as the jacket of a
  triaxial cell does. The confining stress then equals the target by construction
  (reported from the applied boundary forces). ``mode="wall"`` gives a rigid frictionless
  cylinder whose radius is servo-controlled (PFC servo, gain ≤ 0.5) to the target stress.
  ``mode="jacket"``: that wall split into two coaxial rigid segments, one per fault block
  (``side``), of the common servo radius; each segment's centre floats along the fault's
  horizontal dip direction, servo-controlled so that its lateral force on its block is the
  thrust of a uniform pressure on the block's lateral surface (σ_c·πR²·n_h/|n_z|), which
  does not depend on the blocks' offset (``docs/stick-slip.md``). The membrane
  (``"pressure"``) pumps energy into the surface grains (ibid.); the presets use ``"wall"``.
* Stresses come from boundary forces: axial = mean platen force / (π R²) with R the
  lateral-boundary radius (mean outer radius of the boundary particles in pressure mode).

Integration
-----------
Velocity Verlet for translation and rotation (spheres: isotropic inertia 0.4·m·r²).
dt = dt_safety × critical step, with the critical step the smallest of √(m/k) and
√(I/k_rot) over particles, k including contact, wall, bond and joint stiffnesses (bond
stiffness × bond area). A given dt above the critical step raises ParameterError. Options:
PFC local damping α (force −α|F|sign(v) per component), normal viscous contact damping
(``damping_ratio``), density scaling (mass × ``density_scale``, recorded in
:meth:`Engine.metadata`). ``run(n)`` loops inside numba, walls and servos included.

Determinism and threads
-----------------------
With n_threads = 1 the pair forces are scattered to particles in pair-slot order. With
n_threads > 1 each pair's forces are computed in parallel into per-pair arrays and then
reduced per particle in exactly the same order (pairs where the particle is j, then where
it is i, each in slot order), so both give bit-identical results (the pair kernel is the
same code in both paths, compiled without reassociating fast-math). Systems with fewer than
``parallel_min_pairs`` pairs (default 20000) always take the serial path, whatever
n_threads: on a shared 2-core machine a thread that loses its core stalls every parallel
region (measured: 0.2 ms/step serial vs 1.4-5.7 ms/step threaded for 4k pairs under load),
and below ~20k pairs the possible gain is small. Crack events are collected per slot and
emitted in slot order. Checkpoints (:meth:`Engine.state_dict`,
:meth:`Engine.from_state_dict`) hold every array, so a restart continues bit-identically.

Portable kernels (the default, :mod:`labquake.sim.dem._target`): the kernels are compiled
without fast-math flags, so LLVM contracts no a·b + c into an FMA (which the host target
has and a generic one has not), and they call no libm transcendental
(:mod:`labquake.sim.dem.exactmath`); results are then the same bits whatever CPU numba compiles
for, and a checkpoint resumes identically on another machine. ``LABQUAKE_PORTABLE=0``
(before the first import) restores FMA contraction; :func:`compute_target` tells the mode
and the compile target.

Additions to the API contract
-----------------------------
* ``Engine(..., skin=None, sort_every=10, fixed=None, velocities=None,
  angular_velocities=None, parallel_min_pairs=20000)`` (skin defaults to 0.3 mean radius);
  ``SmoothJoint(..., radius_multiplier=1.0)``; ``Platens(..., servo_gain=0.5, max_velocity=None, friction=0.0,
  shear_stiffness=None)``;
  ``ConfiningCylinder(..., mode="pressure"|"wall"|"jacket", center=(0, 0), max_velocity=None)``.
* ``eng.time``, ``eng.masses``, ``eng.forces``, ``eng.side``, ``eng.n_pairs``,
  ``eng.n_bonds``, ``eng.n_intact_bonds``, ``eng.n_threads`` (settable).
* ``eng.set_external_forces(F)``, ``eng.set_velocities(ids, v, w)``,
  ``eng.set_fixed(ids, flag)`` (driven particles move with their velocity, ignore forces).
* ``eng.set_damping(local_damping=, damping_ratio=)``, ``eng.set_density_scale(s)``,
  ``eng.set_dt(dt)`` (between stages; all recorded in ``metadata()``).
* ``eng.neighbor_pairs(max_gap=None)``: neighbour-list pairs (user ids) with their gap,
  for choosing the pairs to bond.
* ``eng.elastic_energy()``, ``eng.momentum()``.
* ``eng.energy()``: the energy budget (cumulative boundary work, friction, damping and
  bond-break losses; current strain and kinetic energy; the residual), accumulated in the
  compiled loop (array ``enr`` of the state dict; ``docs/energy.md``);
  ``eng.strain_energy()``, ``eng.strain_energy_parts()`` (walls and the loading-frame
  spring included; ``elastic_energy()`` keeps its old definition for the consolidation
  criterion).
* ``eng.wall_contacts()``: particle–wall contacts (wall 0 bottom platen, 1 top platen,
  2 lateral boundary; particle user id; force on the particle; point), recomputed from the
  wall state with the wall kernel's formulas (for the AE moment tensors).
* ``boundary_state()`` also gives ``axial_stress_top``, ``z_drive``,
  ``n_platen_contacts_top``, ``n_lateral_contacts``, and with the jacket its segments'
  centres, offset, lateral forces, thrust target and contacts (``jacket_*``; also in
  ``metadata()["jacket"]``).
* ``PORTABLE``, ``compute_target()`` (see "Portable kernels" above).
* ``install_bonds(..., max_gap=None)`` returns the number of bonds installed; pairs with a
  gap beyond the neighbour skin (up to ``max_gap``, default two largest radii) are added to
  the neighbour list.
* Fault healing: ``FaultHealing(rate, cutoff_time, max_cohesion, tensile_ratio=0.0,
  crack_cohesion=0.0)``, ``SmoothJoint(..., healing=None)``, ``fault_healing(config["fault"])``
  (the config's ``[fault]`` healing keys, or None); ``pop_cracks()`` has ``healed``;
  ``lookup_pairs()`` has ``hold_time`` and ``healed_cohesion``; ``metadata()`` has
  ``joint_healing``.
"""

from . import _target

with _target.kernel_cache():  # the kernels are decorated (and their cache chosen) here
    from .engine import Engine
from ._target import PORTABLE, compute_target
from .params import (
    CONTACT_LINEAR,
    CONTACT_ROCK_BOND,
    CONTACT_SMOOTH_JOINT,
    KIND_FAULT,
    KIND_ROCK,
    MODE_SHEAR,
    MODE_TENSION,
    ConfiningCylinder,
    FaultHealing,
    FlatJoint,
    LinearContact,
    Platens,
    RockBond,
    SmoothJoint,
    fault_healing,
)

__all__ = [
    "Engine",
    "PORTABLE",
    "compute_target",
    "LinearContact",
    "RockBond",
    "FlatJoint",
    "SmoothJoint",
    "FaultHealing",
    "fault_healing",
    "Platens",
    "ConfiningCylinder",
    "CONTACT_LINEAR",
    "CONTACT_ROCK_BOND",
    "CONTACT_SMOOTH_JOINT",
    "MODE_TENSION",
    "MODE_SHEAR",
    "KIND_ROCK",
    "KIND_FAULT",
]
