"""The run-directory contract: schemas, atomic writes, completion state."""

import numpy as np
import pandas as pd
import pytest

from labquake.errors import OutputError, RunStateError, SchemaError
from labquake.io.rundir import RunDirectory, empty_table, find_runs, validate_table


def _cracks(n=3):
    df = empty_table("cracks").reindex(range(n))
    for c in ("crack_id", "step", "particle_a", "particle_b", "cycle"):
        df[c] = np.arange(n, dtype=np.int64)
    for c in ("time", "x", "y", "z", "nx", "ny", "nz", "size"):
        df[c] = np.linspace(0, 1, n)
    df["kind"] = ["rock", "fault", "fault"][:n]
    df["mode"] = ["tension", "shear", "shear"][:n]
    return df


def test_roundtrip_and_completion(tmp_path):
    run = RunDirectory(tmp_path / "r1")
    run.start({"seed": 3, "sample": {"radius": 0.02}})
    assert run.status == "running" and not run.is_complete()
    run.write_table("cracks", _cracks())
    back = run.read_table("cracks")
    pd.testing.assert_frame_equal(back, _cracks())
    assert run.read_config()["seed"] == 3
    run.complete(wall_time_s=1.0)
    assert run.is_complete()
    assert "cracks.parquet" in run.read_meta()["files"]
    assert [r.name for r in find_runs(tmp_path)] == ["r1"]
    # a listed file that disappears makes the run incomplete again
    (tmp_path / "r1" / "cracks.parquet").unlink()
    assert not run.is_complete()


def test_schema_errors_name_file_and_column(tmp_path):
    bad = _cracks().drop(columns=["nz"])
    with pytest.raises(SchemaError, match="missing column 'nz'"):
        validate_table("cracks", bad, "x.parquet")
    bad = _cracks()
    bad.loc[1, "x"] = np.nan
    with pytest.raises(SchemaError, match="'x' contains NaN"):
        validate_table("cracks", bad)
    bad = _cracks()
    bad.loc[0, "kind"] = "gouge"
    with pytest.raises(SchemaError, match="'kind' has values \\['gouge'\\]"):
        validate_table("cracks", bad)
    run = RunDirectory(tmp_path / "r")
    with pytest.raises(RunStateError, match="missing"):
        run.read_table("events")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "events.parquet").write_bytes(b"garbage")
    with pytest.raises(SchemaError, match="not a readable parquet"):
        run.read_table("events")


def test_failed_write_keeps_old_file(tmp_path):
    run = RunDirectory(tmp_path / "r")
    run.start({"seed": 1})
    run.write_table("cracks", _cracks(2))
    bad = _cracks(3)
    bad["mode"] = "slip"
    with pytest.raises(SchemaError):
        run.write_table("cracks", bad)
    assert len(run.read_table("cracks")) == 2
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "r").iterdir())


def test_unwritable_directory_is_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot"):
        RunDirectory(blocker / "run").start({"seed": 1})


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os

    from labquake.io.rundir import atomic_write_text

    mask = os.umask(0o022)
    os.umask(mask)
    p = atomic_write_text(tmp_path / "a.txt", "x")
    assert (p.stat().st_mode & 0o777) == (0o666 & ~mask)
