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
