"""labquake: an open workbench for laboratory earthquakes.

Simulate a saw-cut rock sample under triaxial load with a discrete-element model,
record acoustic-emission catalogs, and compare foreshocks with mainshocks across many
runs with unsupervised methods. See ``DESIGN.md`` in the shared folder for the
architecture and ``labquake.io.rundir`` for the run-directory data contract.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
