"""Visualisation: matplotlib figures (:mod:`labquake.viz.grain_figures`) and pyvista 3D
scenes of snapshots (:mod:`labquake.viz.scene`).

Nothing heavy is imported here: ``import labquake.viz`` stays fast, and pyvista/VTK load
only when a scene is built.

Headless rendering: :func:`labquake.viz.scene.configure_offscreen` (called by the scene
code) makes VTK render off-screen without an X server. The PyPI ``vtk`` wheel (>= 9.4)
falls back from X to EGL and then OSMesa at run time; on a machine without a display it
needs the system's Mesa EGL libraries (Debian: ``libegl1``, ``libegl-mesa0`` and
``libgl1-mesa-dri``) or OSMesa (``libosmesa6``).
"""

from __future__ import annotations

__all__ = ["scene", "grain_figures"]


def __getattr__(name: str):
    """Import submodules on first access (``labquake.viz.scene``, ...)."""
    import importlib
    import importlib.util

    if not name.startswith("_") and importlib.util.find_spec(f"labquake.viz.{name}") is not None:
        return importlib.import_module(f"labquake.viz.{name}")
    raise AttributeError(f"module 'labquake.viz' has no attribute {name!r}")
