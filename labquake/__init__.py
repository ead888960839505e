"""labquake: an open workbench for laboratory earthquakes.

Simulate a saw-cut rock sample under triaxial load with a discrete-element model,
record acoustic-emission catalogs, and compare foreshocks with mainshocks across many
runs with unsupervised methods. See ``DESIGN.md`` in the shared folder for the
architecture and ``labquake.io.rundir`` for the run-directory data contract.

The subpackages follow the data flow: :mod:`labquake.sim` (specimen, DEM engine, AE, the
triaxial experiment), :mod:`labquake.io` (the run directory, PFC3D, VTK),
:mod:`labquake.analysis` (segmentation, statistics, clouds, distances, trees, grains,
forecasting), :mod:`labquake.campaign` (dask campaigns), :mod:`labquake.viz` (figures and 3D
scenes) and :mod:`labquake.report`.
"""

from labquake import _moved

__version__ = "0.1.0"

_moved.install()  # the deprecated paths of modules that moved (labquake._moved)

__all__ = ["__version__"]
