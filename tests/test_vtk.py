"""Snapshots as VTK (.vtm + .vtp): round trip, atomicity, one-line errors."""

import numpy as np
import pandas as pd
import pytest

from labquake.errors import RunStateError, SchemaError
from labquake.io.rundir import RunDirectory
from labquake.io.vtk import list_snapshots, read_snapshot, snapshot_path, write_snapshot


def _snap(n=50, m=80, seed=0):
    rng = np.random.default_rng(seed)
    ci = rng.integers(0, n, m)
    return dict(
        positions=rng.random((n, 3)),
        radii=rng.uniform(1e-4, 5e-4, n),
        contact_i=ci,
        contact_j=(ci + 1 + rng.integers(0, n - 1, m)) % n,
        fn=rng.normal(size=m) * 10,
        fs=rng.random(m) * 5,
        contact_kind=rng.integers(0, 3, m),
        bonded=rng.random(m) < 0.5,
    )


def test_round_trip_with_cracks(tmp_path):
    s = _snap()
    cracks = pd.DataFrame({"x": [0.1, 0.2], "y": [0.0, 0.1], "z": [0.3, 0.4], "nx": [1.0, 0.0],
                           "ny": [0.0, 1.0], "nz": [0.0, 0.0], "size": [1e-4, 2e-4], "step": [10, 20],
                           "kind": ["rock", "fault"], "mode": ["tension", "shear"]})
    path = write_snapshot(tmp_path / "run", 1200, **s, cracks=cracks)
    assert path == snapshot_path(tmp_path / "run", 1200)
    assert path.name == "snapshot_000001200.vtm"
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["snapshot_000001200.vtm", "snapshot_000001200_contacts.vtp",
                     "snapshot_000001200_cracks.vtp", "snapshot_000001200_particles.vtp"]
    back = read_snapshot(RunDirectory(tmp_path / "run"), 1200)
    for k, v in s.items():
        np.testing.assert_array_equal(back[k], v, err_msg=k)
    pd.testing.assert_frame_equal(back["cracks"], cracks, check_dtype=False)
    assert list_snapshots(tmp_path / "run") == [1200]


def test_vtm_opens_as_multiblock_and_rewrite_drops_cracks(tmp_path):
    import pyvista as pv

    s = _snap()
    write_snapshot(tmp_path, 5, **s, cracks={"x": [0.0], "y": [0.0], "z": [0.0]})
    mb = pv.read(snapshot_path(tmp_path, 5))
    assert list(mb.keys()) == ["particles", "contacts", "cracks"]
    assert mb["contacts"].n_cells == len(s["fn"])
    np.testing.assert_allclose(mb["contacts"].cell_data["ft"], np.hypot(s["fn"], s["fs"]))
    assert int(mb["particles"].field_data["step"][0]) == 5
    write_snapshot(tmp_path, 5, **s)  # same step again, without cracks
    assert read_snapshot(tmp_path, 5)["cracks"] is None
    assert not any(p.name.startswith(".") for p in (tmp_path / "snapshots").iterdir())


def test_empty_contacts_and_sorted_listing(tmp_path):
    s = _snap()
    for k in ("contact_i", "contact_j", "fn", "fs", "contact_kind", "bonded"):
        s[k] = s[k][:0]
    for step in (300, 20, 1000):
        write_snapshot(tmp_path, step, **s)
    assert list_snapshots(tmp_path) == [20, 300, 1000]
    assert len(read_snapshot(tmp_path, 20)["fn"]) == 0
    assert list_snapshots(tmp_path / "nowhere") == []


def test_errors_are_one_line(tmp_path):
    s = _snap()
    with pytest.raises(RunStateError, match="run directory not found"):
        read_snapshot(tmp_path / "missing", 1)
    write_snapshot(tmp_path, 40, **s)
    with pytest.raises(RunStateError, match="no snapshot at step 41; available steps: 40"):
        read_snapshot(tmp_path, 41)
    bad = dict(s, fn=s["fn"][:-1])
    with pytest.raises(SchemaError, match="fn has"):
        write_snapshot(tmp_path, 1, **bad)
    bad = dict(s, contact_j=s["contact_j"] + 1000)
    with pytest.raises(SchemaError, match="indices"):
        write_snapshot(tmp_path, 1, **bad)
    assert list_snapshots(tmp_path) == [40]


# ---- confinement of block paths (issue 14) --------------------------------------------


def _point_block(vtm, block, target):
    text = vtm.read_text()
    import re

    new = re.sub(rf'(name="{block}" file=")[^"]*(")', lambda m: m.group(1) + str(target) + m.group(2), text)
    assert new != text
    vtm.write_text(new)


def _outside_run(tmp_path):
    """A run with one snapshot, and a valid .vtp of another run outside it."""
    s = _snap()
    run = tmp_path / "run"
    other = tmp_path / "other"
    write_snapshot(run, 10, **s)
    write_snapshot(other, 10, **_snap(seed=1))
    return run, other / "snapshots" / "snapshot_000000010_particles.vtp"


@pytest.mark.parametrize("how", ["absolute", "dotdot", "pkl", "legacy vtk", "symlink"])
def test_block_paths_are_confined_to_the_runs_snapshots(tmp_path, how, capsys):
    import pickle

    from labquake.cli import main
    from labquake.errors import DataFormatError

    run, outside = _outside_run(tmp_path)
    vtm = snapshot_path(run, 10)
    snaps = run / "snapshots"
    if how == "absolute":
        target = outside.resolve()
    elif how == "dotdot":
        target = "../../other/snapshots/" + outside.name
    elif how == "pkl":
        (snaps / "evil.pkl").write_bytes(pickle.dumps({"x": 1}))
        target = "evil.pkl"
    elif how == "legacy vtk":
        (snaps / "old.vtk").write_text("# vtk DataFile Version 3.0\nx\nASCII\nDATASET POLYDATA\nPOINTS 0 float\n")
        target = "old.vtk"
    else:
        (snaps / "link.vtp").symlink_to(outside.resolve())
        target = "link.vtp"
    _point_block(vtm, "particles", target)
    with pytest.raises(DataFormatError, match="snapshot") as ei:
        read_snapshot(run, 10)
    assert "\n" not in str(ei.value)
    capsys.readouterr()
    assert main(["render", str(run), "--step", "10", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labquake: error:") and "\n" not in err
    assert not (tmp_path / "x.png").exists()


def test_a_vtp_that_is_not_xml_polydata_is_a_one_line_error(tmp_path):
    from labquake.errors import DataFormatError

    write_snapshot(tmp_path, 10, **_snap())
    block = tmp_path / "snapshots" / "snapshot_000000010_contacts.vtp"
    block.write_bytes(b"\x80\x04garbage that is not XML")
    with pytest.raises(DataFormatError, match="not a readable VTK XML PolyData") as ei:
        read_snapshot(tmp_path, 10)
    assert "\n" not in str(ei.value)


def test_pyvista_floor_is_a_version_that_refuses_pickles():
    import re
    import tomllib
    from pathlib import Path

    deps = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if d.replace(" ", "").lower().startswith("pyvista"))
    floor = re.search(r">=\s*([0-9.]+)", spec)
    assert floor, spec
    # pyvista 0.49.0 is the first release whose pv.read refuses .pkl (pyvista PR #8677)
    assert tuple(int(x) for x in floor.group(1).split(".")[:2]) >= (0, 49), spec
