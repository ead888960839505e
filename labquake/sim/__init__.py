"""The simulation stage: a saw-cut rock sample under triaxial load, to a run directory.

- :mod:`labquake.sim.config`: the run configuration, validated once at load
- :mod:`labquake.sim.specimen`: packing, the cylinder, the saw-cut fault, bond installation
- :mod:`labquake.sim.dem`: the numba DEM engine and its contact laws (``dem/laws/``)
- :mod:`labquake.sim.ae`: cracks to acoustic-emission events (moment tensors, magnitudes)
- :mod:`labquake.sim.experiment`: the triaxial experiment that composes them, with
  :mod:`~labquake.sim.drive`, :mod:`~labquake.sim.recorders`, :mod:`~labquake.sim.slips`,
  :mod:`~labquake.sim.cycles` and :mod:`~labquake.sim.energy`
- :mod:`labquake.sim.calibrate`: intact-rock tests (UCS, tension, triaxial)

Nothing is imported here, so that ``import labquake.sim.config`` stays light.
"""
