"""3D scenes (pyvista, off-screen), the render command, and the grain figures."""

import numpy as np
import pandas as pd
import pytest

from labquake.cli import main
from labquake.geometry import FaultPlane
from labquake.io.rundir import RunDirectory
from labquake.io.vtk import write_snapshot


def _snapshot(seed=0, n=120):
    rng = np.random.default_rng(seed)
    g = np.stack(np.meshgrid(np.arange(4), np.arange(5), np.arange(6), indexing="ij"), -1).reshape(-1, 3)
    pos = g[:n] * 2e-3 + rng.normal(scale=1e-4, size=(n, 3))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    ci, cj = np.nonzero(np.triu(d < 2.6e-3, 1))
    m = len(ci)
    return dict(positions=pos, radii=np.full(n, 1e-3), contact_i=ci, contact_j=cj,
                fn=rng.gamma(2.0, 100.0, m), fs=rng.gamma(2.0, 50.0, m),
                contact_kind=np.full(m, 2), bonded=np.ones(m, bool))


def _png(path):
    from matplotlib.image import imread

    img = imread(path)
    return (img[..., :3] * 255).astype(float)


def test_headless_png_is_not_blank_and_follows_forces(tmp_path):
    from labquake.viz.scene import render_png

    snap = _snapshot()
    a = render_png(snap, tmp_path / "a.png", force="total", window_size=(320, 320), fault=FaultPlane(30.0,
                   centre=(3e-3, 4e-3, 5e-3)))
    img_a = _png(a)
    assert img_a.shape == (320, 320, 3)
    assert img_a.std() > 10.0  # a blank (single-colour) image has 0
    assert (img_a.sum(axis=-1) < 600).mean() > 0.01  # something darker than the white background
    # the same snapshot with one contact carrying a hundredfold force
    snap_b = dict(snap, fn=snap["fn"].copy())
    snap_b["fn"][0] = 100 * snap["fn"].max()
    img_b = _png(render_png(snap_b, tmp_path / "b.png", force="total", window_size=(320, 320)))
    img_a2 = _png(render_png(snap, tmp_path / "a2.png", force="total", window_size=(320, 320)))
    assert np.abs(img_b - img_a2).mean() > 1.0
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_scene_rejects_unknown_force():
    from labquake.errors import ConfigError
    from labquake.viz.scene import ContactForceScene

    with pytest.raises(ConfigError, match="force must be one of"):
        ContactForceScene(_snapshot(), force="axial")


def _run_with_snapshot(path):
    run = RunDirectory(path)
    run.start({"seed": 1}, meta={"fault": FaultPlane(30.0, centre=(3e-3, 4e-3, 5e-3)).to_dict()})
    s = _snapshot()
    cracks = pd.DataFrame({"x": [3e-3, 4e-3], "y": [4e-3, 4e-3], "z": [5e-3, 6e-3], "nx": [0.87, 0.87],
                           "ny": [0.0, 0.0], "nz": [0.5, 0.5], "size": [5e-4, 5e-4], "step": [10, 90],
                           "kind": ["fault", "rock"], "mode": ["shear", "tension"]})
    write_snapshot(run.path, 100, **s, cracks=cracks)
    return run


def test_render_command(tmp_path, capsys):
    run = _run_with_snapshot(tmp_path / "run")
    out = tmp_path / "pics" / "s.png"
    rc = main(["render", str(run.path), "--step", "100", "--out", str(out), "--force", "shear",
               "--particles", "--size", "300x240"])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    assert _png(out).shape == (240, 300, 3) and _png(out).std() > 10.0


def test_render_command_errors_are_one_line(tmp_path, capsys):
    rc = main(["render", str(tmp_path / "missing"), "--step", "1", "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "run directory not found" in err and err.count("\n") == 1
    run = _run_with_snapshot(tmp_path / "run")
    rc = main(["render", str(run.path), "--step", "7", "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "no snapshot at step 7; available steps: 100" in err and err.count("\n") == 1
    rc = main(["render", str(run.path), "--step", "100", "--out", str(tmp_path / "x.jpg")])
    assert rc == 2 and ".png" in capsys.readouterr().err
    rc = main(["render", str(run.path), "--step", "100", "--out", str(tmp_path / "x.png"), "--size", "big"])
    assert rc == 2 and "--size" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["render", str(run.path), "--step", "100", "--out", str(tmp_path / "x.png"), "--force", "axial"])
    assert not (tmp_path / "x.png").exists()


def test_offscreen_configuration_and_trame_absence(monkeypatch):
    from labquake.viz import scene

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    assert scene.configure_offscreen() is None  # a user's choice is kept
    assert isinstance(scene._has_trame(), bool)
    assert scene._in_notebook() is False


def test_grain_figures_render():
    from labquake.viz import grain_figures as gf

    starts = np.arange(0, 100_000, 25_000)
    cats = pd.DataFrame([{"window_start": s, "window_end": s + 25_000, "component": c, "category": k,
                          "count": 1, "n_records": 11, "proportion": 1 / 11}
                         for s in starts for c in ("fn", "fs") for k in range(11)])
    edges = np.linspace(0, 300e6, 100)
    pdfs = pd.concat([pd.DataFrame({"window_start": s, "bin_lo": edges[:-1], "bin_hi": edges[1:],
                                    "pdf_stress": np.exp(-((edges[:-1] - 1e8) / 2e7) ** 2) / 3.5e7,
                                    "pdf_strength": np.exp(-((edges[:-1] - 1.3e8) / 2e7) ** 2) / 3.5e7})
                      for s in starts])
    ov = pd.DataFrame({"window_start": starts, "window_end": starts + 25_000, "n": 5, "overlap": [0.1, 0.2, 0.3, 0.4]})
    acc = pd.DataFrame({"window_start": starts, "window_end": starts + 25_000, "difference": [0, 1e-6, 2e-6, 3e-6],
                        "mean_dslope_shear": 1e-6, "mean_dslope_normal": 0.0})
    for fig in (gf.category_figure(cats), gf.stress_strength_figure(pdfs, ov), gf.overlap_figure(ov),
                gf.acceleration_figure(acc)):
        assert len(fig.axes) >= 1
