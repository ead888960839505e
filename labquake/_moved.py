"""Deprecated import paths: the modules that moved when the package was grouped by stage.

labquake 0.1.0 kept every module at the top of the package. Now the folders tell the
data flow: ``labquake.sim`` (specimen, DEM engine, AE, the triaxial experiment),
``labquake.io`` (files), ``labquake.analysis`` (catalog statistics, clouds, trees, grains,
forecasting), ``labquake.campaign`` (dask campaigns), ``labquake.viz`` and
``labquake.report``. The old paths still import, with a :class:`DeprecationWarning`, and
give the *same* module object as the new path (not a copy), so monkeypatching, ``isinstance``
and numba's cache see one module. They will be removed in the release after next.

The aliases are resolved by one finder at the front of :data:`sys.meta_path`, installed by
``import labquake``. An old name ``labquake.dem.laws.linear`` maps by its longest moved
prefix (``labquake.dem`` -> ``labquake.sim.dem``) to ``labquake.sim.dem.laws.linear``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: old module path -> new module path (submodules follow their package)
MOVED: dict[str, str] = {
    **{f"labquake.{m}": f"labquake.sim.{m}" for m in (
        "dem", "specimen", "ae", "config", "experiment", "recorders", "drive", "energy",
        "slips", "cycles", "calibrate")},
    **{f"labquake.{m}": f"labquake.analysis.{m}" for m in (
        "segment", "seismicity", "clouds", "distances", "transport", "trees", "grains",
        "pipeline", "cycle_stats", "forecast")},
    # run_campaign and the functions tests patch live there; the package re-exports the API
    "labquake.batch": "labquake.campaign.scheduling",
    # io/pfc3d.py became a package, one module per file family
    **{f"labquake.io.pfc3d_{m}": f"labquake.io.pfc3d.{m}" for m in (
        "config", "text", "fish", "synthetic", "export")},
}


def new_name(old: str) -> str | None:
    """The current path of the module once importable as ``old``, or None if it did not move."""
    for prefix in sorted(MOVED, key=len, reverse=True):
        if old == prefix or old.startswith(prefix + "."):
            return MOVED[prefix] + old[len(prefix):]
    return None


class _AliasLoader(importlib.abc.Loader):
    """Puts the module under its new name into ``sys.modules`` under the old one."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # a placeholder; exec_module swaps in the real module

    def exec_module(self, module: ModuleType) -> None:
        warnings.warn(f"{module.__name__} moved to {self.target}; the old path is deprecated "
                      f"and will be removed", DeprecationWarning, stacklevel=2)
        # importlib returns whatever sys.modules holds under the name once this returns
        sys.modules[module.__name__] = importlib.import_module(self.target)


class _MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the deprecated names of :data:`MOVED` (and their submodules)."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: D102 - the finder protocol
        if not fullname.startswith("labquake."):
            return None
        new = new_name(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    """Put the finder first on :data:`sys.meta_path` (once)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
