"""3D scenes of a snapshot with pyvista: the contact-force network, particles, the fault
plane, cracks and AE events.

* Contact forces are tubes between the two particle centres; tube radius and colour grow
  with the force magnitude (``force="normal"``: |F_n|, ``"shear"``: F_s, ``"total"``:
  √(F_n² + F_s²)). Contacts carrying no force are left out.
* Particles (optional) are translucent spheres of their true radius.
* The fault plane is a translucent square through the specimen; cracks are small discs
  oriented by their normals (rock cracks grey, fault cracks red); AE events are spheres
  sized by Mw and coloured by time (step).

Headless use: :func:`render_png` (and ``labquake render``) renders off-screen. On Linux
without a display, :func:`configure_offscreen` selects VTK's EGL window (Mesa's
``libEGL``), or OSMesa when only that is installed, before any window is made.
Interactive use: :meth:`ContactForceScene.show` uses the trame backend in Jupyter when
``trame`` is installed (``pip install labquake[viz]``), else a static image.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labquake.errors import ConfigError, OutputError

__all__ = ["FORCES", "configure_offscreen", "contact_tubes", "ContactForceScene", "render_png", "render_run"]

FORCES = ("normal", "shear", "total")


def configure_offscreen() -> str | None:
    """Make VTK render without an X server when there is no display.

    Sets ``VTK_DEFAULT_OPENGL_WINDOW`` (unless already set) to ``vtkEGLRenderWindow``
    when Mesa's EGL library is present, else to ``vtkOSOpenGLRenderWindow`` when OSMesa is
    present, and turns pyvista's global off-screen mode on. Returns the window class
    chosen, or ``None`` when nothing was changed (a display exists, not Linux, or the
    variable was set by the user).
    """
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    if os.environ.get("VTK_DEFAULT_OPENGL_WINDOW"):
        return None
    choice = None
    if ctypes.util.find_library("EGL"):
        choice = "vtkEGLRenderWindow"
    elif ctypes.util.find_library("OSMesa"):
        choice = "vtkOSOpenGLRenderWindow"
    if choice:
        os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = choice
    try:
        import pyvista as pv

        pv.OFF_SCREEN = True
    except ImportError:  # pragma: no cover - pyvista is a core dependency
        pass
    return choice


def _force_values(snapshot: Mapping[str, Any], force: str) -> np.ndarray:
    if force not in FORCES:
        raise ConfigError(f"force must be one of {', '.join(FORCES)}, got {force!r}")
    fn = np.asarray(snapshot["fn"], dtype=np.float64)
    fs = np.asarray(snapshot["fs"], dtype=np.float64)
    if force == "normal":
        return np.abs(fn)
    if force == "shear":
        return np.abs(fs)
    return np.hypot(fn, fs)


def contact_tubes(positions, contact_i, contact_j, values, radius: float, min_fraction: float = 0.15,
                  n_sides: int = 8, vmax: float | None = None):
    """Tubes between particle centres, radius ``radius·max(min_fraction, v/vmax)``.

    Returns a :class:`pyvista.PolyData` (empty when no contact carries force) with the
    point array ``force``.
    """
    import pyvista as pv
    from vtkmodules.vtkFiltersCore import vtkTubeFilter

    pos = np.asarray(positions, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(v) & (v > 0)
    ci = np.asarray(contact_i)[keep]
    cj = np.asarray(contact_j)[keep]
    v = v[keep]
    m = len(v)
    if m == 0:
        return pv.PolyData()
    vmax = float(vmax) if vmax else float(v.max())
    pts = np.empty((2 * m, 3))
    pts[0::2] = pos[ci]
    pts[1::2] = pos[cj]
    lines = pv.PolyData()
    lines.points = pts
    lines.lines = np.column_stack([np.full(m, 2), np.arange(0, 2 * m, 2), np.arange(1, 2 * m, 2)]).ravel()
    rad = radius * np.clip(v / vmax, min_fraction, 1.0)
    lines.point_data["radius"] = np.repeat(rad, 2)
    lines.point_data["force"] = np.repeat(v, 2)
    lines.point_data.active_scalars_name = "radius"
    tf = vtkTubeFilter()
    tf.SetInputData(lines)
    tf.SetNumberOfSides(int(n_sides))
    tf.SetVaryRadiusToVaryRadiusByAbsoluteScalar()
    tf.CappingOff()
    tf.Update()
    tubes = pv.wrap(tf.GetOutput())
    tubes.point_data.active_scalars_name = "force"
    return tubes


def fault_patch(fault, positions, radii, size: float):
    """The part of the fault plane inside the specimen, as a polygon.

    The convex hull, in fault coordinates, of the particle centres within two radii of the
    plane (an ellipse for a cylindrical sample); a square of side ``size`` when there are
    too few such particles.
    """
    import pyvista as pv

    pos = np.asarray(positions, dtype=float).reshape(-1, 3)
    r = np.asarray(radii, dtype=float)
    centre = np.asarray(fault.centre, dtype=float)
    near = np.abs(fault.signed_distance(pos)) < 2.0 * (r if len(r) == len(pos) else 0.0) + 1e-12
    if near.sum() >= 8:
        from scipy.spatial import ConvexHull, QhullError

        uv = fault.to_fault_coords(pos[near])[:, :2]
        try:
            hull = ConvexHull(uv)
        except QhullError:
            hull = None
        if hull is not None:
            ring = uv[hull.vertices]
            # push the outline out by a mean radius, so it meets the outer particles' surfaces
            rm = float(np.mean(r)) if len(r) else 0.0
            c2 = ring.mean(axis=0)
            d = ring - c2
            ring = ring + rm * d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-300)
            pts = fault.from_fault_coords(np.column_stack([ring, np.zeros(len(ring))]))
            poly = pv.PolyData(pts, faces=np.concatenate([[len(pts)], np.arange(len(pts))]))
            return poly.triangulate()
    return pv.Plane(center=centre, direction=fault.normal, i_size=size, j_size=size)


class ContactForceScene:
    """A pyvista scene of one snapshot.

    Parameters
    ----------
    snapshot
        A dict as returned by :func:`labquake.io.vtk.read_snapshot`.
    force
        ``"normal"``, ``"shear"`` or ``"total"``: which magnitude sets tube size and colour.
    particles
        Draw the particles as translucent spheres (``particle_opacity``).
    fault
        A :class:`labquake.geometry.FaultPlane` (or its dict) to draw, or ``None``.
    cracks
        Draw the snapshot's cracks (its ``cracks`` table) when present.
    events
        AE events (the run's events table: x, y, z, mw, step_start) to draw, or ``None``.
    clim
        Colour limits [N] (default 0 … max force), fixed across snapshots of a series.
    """

    def __init__(self, snapshot: Mapping[str, Any], force: str = "total", particles: bool = False,
                 particle_opacity: float = 0.15, fault: Any = None, cracks: bool = True,
                 events: pd.DataFrame | None = None, clim: tuple[float, float] | None = None,
                 cmap: str = "inferno", window_size: tuple[int, int] = (1000, 1000),
                 tube_radius: float | None = None, title: str | None = None) -> None:
        self.snapshot = snapshot
        self.values = _force_values(snapshot, force)
        self.force = force
        self.particles = particles
        self.particle_opacity = float(particle_opacity)
        self.fault = fault
        self.cracks = cracks
        self.events = events
        self.clim = clim
        self.cmap = cmap
        self.window_size = tuple(int(v) for v in window_size)
        self.tube_radius = tube_radius
        self.title = title

    # -- geometry ---------------------------------------------------------------------
    def _mean_radius(self) -> float:
        r = np.asarray(self.snapshot["radii"], dtype=float)
        return float(np.mean(r)) if len(r) else 1e-3

    def _extent(self) -> tuple[np.ndarray, float]:
        pos = np.asarray(self.snapshot["positions"], dtype=float).reshape(-1, 3)
        if len(pos) == 0:
            return np.zeros(3), 1.0
        lo, hi = pos.min(axis=0), pos.max(axis=0)
        return (lo + hi) / 2, float(np.max(hi - lo)) or 1.0

    def build(self, plotter) -> Any:
        """Add every actor to ``plotter`` (a :class:`pyvista.Plotter`) and return it."""
        import pyvista as pv

        s = self.snapshot
        rmean = self._mean_radius()
        label = {"normal": "normal", "shear": "shear", "total": "total"}[self.force]
        vmax = self.clim[1] if self.clim else None
        tubes = contact_tubes(s["positions"], s["contact_i"], s["contact_j"], self.values,
                              radius=self.tube_radius or 0.6 * rmean, vmax=vmax)
        if tubes.n_points:
            clim = self.clim or (0.0, float(np.max(self.values)))
            plotter.add_mesh(tubes, scalars="force", cmap=self.cmap, clim=clim, smooth_shading=True,
                             scalar_bar_args={"title": f"{label} force (N)", "vertical": True,
                                              "position_x": 0.86, "position_y": 0.1, "width": 0.06,
                                              "color": "black", "fmt": "%.3g"})
        if self.particles and len(s["radii"]):
            pts = pv.PolyData(np.asarray(s["positions"], dtype=float))
            pts.point_data["diameter"] = 2 * np.asarray(s["radii"], dtype=float)
            balls = pts.glyph(scale="diameter", orient=False, geom=pv.Sphere(radius=0.5, theta_resolution=12,
                                                                             phi_resolution=12))
            plotter.add_mesh(balls, color="lightsteelblue", opacity=self.particle_opacity)
        centre, size = self._extent()
        if self.fault is not None:
            from labquake.geometry import FaultPlane

            fp = FaultPlane.from_dict(self.fault) if isinstance(self.fault, Mapping) else self.fault
            plotter.add_mesh(fault_patch(fp, s["positions"], s["radii"], size), color="steelblue",
                             opacity=0.25, show_edges=False)
        cr = s.get("cracks") if self.cracks else None
        if cr is not None and len(cr):
            self._add_cracks(plotter, cr, rmean)
        if self.events is not None and len(self.events):
            self._add_events(plotter, self.events, rmean)
        if self.title:
            plotter.add_text(self.title, font_size=10, color="black")
        plotter.set_background("white")
        plotter.view_vector((1.0, -1.6, 0.3), viewup=(0, 0, 1))
        plotter.reset_camera()
        return plotter

    def _add_cracks(self, plotter, cracks: pd.DataFrame, rmean: float) -> None:
        import pyvista as pv

        pts = pv.PolyData(cracks[["x", "y", "z"]].to_numpy(dtype=float))
        nrm = (cracks[["nx", "ny", "nz"]].to_numpy(dtype=float).copy() if "nx" in cracks
               else np.tile([0, 0, 1.0], (len(cracks), 1)))
        nrm[np.linalg.norm(nrm, axis=1) == 0] = (0, 0, 1.0)
        pts.point_data["normal"] = nrm
        size = cracks["size"].to_numpy(dtype=float) if "size" in cracks else np.zeros(len(cracks))
        pts.point_data["size"] = np.where(size > 0, 2 * size, rmean)
        discs = pts.glyph(orient="normal", scale="size", geom=pv.Disc(inner=0, outer=1.0, c_res=12,
                                                                          normal=(1, 0, 0)))
        fault = cracks["kind"].astype(str).to_numpy() == "fault" if "kind" in cracks else np.zeros(len(cracks), bool)
        if fault.any() and (~fault).any():
            n_per = discs.n_points // len(cracks)
            discs.point_data["fault"] = np.repeat(fault.astype(float), n_per)
            plotter.add_mesh(discs, scalars="fault", cmap=["dimgray", "crimson"], show_scalar_bar=False)
        else:
            plotter.add_mesh(discs, color="crimson" if fault.any() else "dimgray")

    def _add_events(self, plotter, events: pd.DataFrame, rmean: float) -> None:
        import pyvista as pv

        pts = pv.PolyData(events[["x", "y", "z"]].to_numpy(dtype=float))
        mw = events["mw"].to_numpy(dtype=float) if "mw" in events else np.zeros(len(events))
        lo, hi = (np.nanmin(mw), np.nanmax(mw)) if len(mw) else (0.0, 1.0)
        frac = (mw - lo) / (hi - lo) if hi > lo else np.full(len(mw), 0.5)
        pts.point_data["diameter"] = rmean * (2.0 + 8.0 * np.nan_to_num(frac))
        t = events["step_start"].to_numpy(dtype=float) if "step_start" in events else np.arange(len(events), dtype=float)
        pts.point_data["step"] = t
        spheres = pts.glyph(scale="diameter", orient=False, geom=pv.Sphere(radius=0.5, theta_resolution=10,
                                                                           phi_resolution=10))
        plotter.add_mesh(spheres, scalars="step", cmap="viridis", opacity=0.6,
                         scalar_bar_args={"title": "AE event step", "vertical": True,
                                          "position_x": 0.04, "position_y": 0.1, "width": 0.06,
                                          "color": "black", "fmt": "%.0f"})

    # -- output -----------------------------------------------------------------------
    def plotter(self, off_screen: bool = True, **kwargs):
        """A new :class:`pyvista.Plotter` with the scene built."""
        if off_screen:
            configure_offscreen()
        import pyvista as pv

        kwargs.setdefault("theme", _theme())
        p = pv.Plotter(off_screen=off_screen, window_size=list(self.window_size), **kwargs)
        return self.build(p)

    def screenshot(self, path: str | os.PathLike | None = None) -> np.ndarray:
        """Render off-screen; write a PNG to ``path`` (atomically) when given; return the
        image as an (h, w, 3) uint8 array."""
        p = self.plotter(off_screen=True)
        try:
            img = p.screenshot(None, return_img=True)
        finally:
            p.close()
        if path is not None:
            _write_png(path, img)
        return img

    def show(self, jupyter_backend: str | None = None, **kwargs):
        """Show interactively: in Jupyter with trame when installed, else a static image;
        outside Jupyter in a window (needs a display)."""
        import pyvista as pv

        in_notebook = _in_notebook()
        if in_notebook:
            backend = jupyter_backend or ("trame" if _has_trame() else "static")
            if backend in ("trame", "client", "server") and not _has_trame():
                import warnings

                warnings.warn("trame is not installed (pip install 'labquake[viz]'); showing a static image",
                              stacklevel=2)
                backend = "static"
            if not os.environ.get("DISPLAY"):
                configure_offscreen()
            p = pv.Plotter(notebook=True, window_size=list(self.window_size), theme=_theme())
            self.build(p)
            return p.show(jupyter_backend=backend, **kwargs)
        p = pv.Plotter(window_size=list(self.window_size))
        self.build(p)
        return p.show(**kwargs)


def _theme(multi_samples: int = 4):
    """A copy of pyvista's global theme with at most ``multi_samples`` MSAA samples (the
    default 8 doubles the render time under software Mesa)."""
    import copy

    import pyvista as pv

    th = copy.deepcopy(pv.global_theme)
    th.multi_samples = min(int(th.multi_samples or 0), multi_samples)
    return th


def _has_trame() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("trame", "trame_vtk"))


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and ip.__class__.__name__ == "ZMQInteractiveShell"


def _write_png(path: str | os.PathLike, img: np.ndarray) -> Path:
    from PIL import Image  # Pillow: a matplotlib dependency, much lighter to import

    from labquake.io.rundir import atomic_write

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise OutputError(f"{path}: the output must be a .png file")
    return atomic_write(path, lambda tmp: Image.fromarray(np.ascontiguousarray(img)).save(tmp, format="PNG"))


def render_png(snapshot: Mapping[str, Any], out: str | os.PathLike, **kwargs) -> Path:
    """Render ``snapshot`` off-screen to ``out`` (PNG). Keyword arguments go to
    :class:`ContactForceScene`."""
    ContactForceScene(snapshot, **kwargs).screenshot(out)
    return Path(out)


def render_run(run_dir: str | os.PathLike, step: int, out: str | os.PathLike, force: str = "total",
               particles: bool = False, events: bool = True, cracks: bool = True,
               window_size: tuple[int, int] = (1000, 1000)) -> Path:
    """Render the snapshot of ``run_dir`` at ``step`` with its fault plane, cracks (from the
    snapshot, else the run's cracks up to ``step``) and AE events up to ``step``."""
    from labquake.io.rundir import RunDirectory
    from labquake.io.vtk import read_snapshot

    if force not in FORCES:
        raise ConfigError(f"force must be one of {', '.join(FORCES)}, got {force!r}")
    run = RunDirectory(run_dir)
    snap = read_snapshot(run, step)  # one-line errors for a missing run or step
    try:
        meta = run.read_meta()
    except Exception:
        meta = {}
    fault = meta.get("fault")
    ev = None
    if events and run.has_table("events"):
        ev = run.read_table("events")
        ev = ev[ev["step_start"] <= int(step)]
    if cracks and snap.get("cracks") is None and run.has_table("cracks"):
        cr = run.read_table("cracks")
        snap = dict(snap, cracks=cr[cr["step"] <= int(step)])
    scene = ContactForceScene(snap, force=force, particles=particles, fault=fault if fault else None,
                              cracks=cracks, events=ev, window_size=window_size,
                              title=f"{run.name}  step {int(step)}  ({force} force)")
    scene.screenshot(out)
    return Path(out)
