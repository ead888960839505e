"""Checkpoints are npz + JSON, versioned, never unpickled; every damage is one line (issue 14)."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from labquake.sim.ae.events import AERecorder, ContactState
from labquake.cli import main
from labquake.sim.config import resolve_config
from labquake.errors import RunStateError
from labquake.io.checkpoint import LEGACY_FILE, META_FILE, load_checkpoint, save_checkpoint
from labquake.io.rundir import RunDirectory, dumps_toml
from labquake.sim.recorders import ContactMonitor, CrackLog

TINY = {
    "name": "tiny", "seed": 3,
    "specimen": {"diameter": 0.016, "length": 0.032, "d_min": 0.0024, "d_max": 0.0028, "solid_fraction": 0.55},
    "loading": {"max_steps": 8000, "consolidation_max_steps": 4000, "consolidation_ramp_steps": 1500,
                "consolidation_min_steps": 1500},
}


class _Boom:
    """Unpickling this runs ``open(path, 'w')``: the proof that something was executed."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _tree(rng: np.random.Generator) -> dict:
    # an engine state with keys nobody enumerates (another branch adds flat-joint arrays)
    engine = {"pos": rng.normal(size=(5, 3)), "cnt": np.arange(4, dtype=np.int64), "fj_gap": rng.random(7).astype(np.float32),
              "fj_state": np.array([0, 1, 2], dtype=np.int8), "scalar_dt": 1.5e-8, "n": np.int64(12),
              "label": "flat-joint", "zero_d": np.array(2.5), "names": np.array(["a", "bc"])}
    return {"engine": engine, "run": {"peak": -np.inf, "trigger": None, "done": [1, 2], "stage": "axial",
                                      "nested": {"x": np.zeros((0, 3)), "flag": True, "nan": float("nan")},
                                      "big": 2**100}}


def test_roundtrip_keeps_every_key_dtype_and_value(tmp_path):
    tree = _tree(np.random.default_rng(0))
    save_checkpoint(tmp_path, tree, step=1200)
    assert (tmp_path / META_FILE).exists() and len(list(tmp_path.glob("state-*.npz"))) == 1
    back = load_checkpoint(tmp_path)
    assert set(back["engine"]) == set(tree["engine"])
    for k, v in tree["engine"].items():
        if isinstance(v, (np.ndarray, np.generic)):
            assert np.asarray(back["engine"][k]).dtype == np.asarray(v).dtype, k
            np.testing.assert_array_equal(back["engine"][k], v)
        else:
            assert back["engine"][k] == v
    r = back["run"]
    assert r["peak"] == -np.inf and r["trigger"] is None and r["done"] == [1, 2] and r["big"] == 2**100
    assert np.isnan(r["nested"]["nan"]) and r["nested"]["x"].shape == (0, 3) and r["nested"]["flag"] is True
    # a newer checkpoint replaces the arrays of the older one
    save_checkpoint(tmp_path, tree, step=2400)
    assert [p.name for p in tmp_path.glob("state-*.npz")] == ["state-000000002400.npz"]


def test_objects_that_are_not_plain_data_are_refused_at_save(tmp_path):
    with pytest.raises(TypeError, match="to_state"):
        save_checkpoint(tmp_path, {"x": object()}, step=0)
    with pytest.raises(TypeError, match="object array"):
        save_checkpoint(tmp_path, {"x": np.array([{}, 1], dtype=object)}, step=0)


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg
    return msg


def _damage(tmp_path: Path, how: str) -> None:
    save_checkpoint(tmp_path, _tree(np.random.default_rng(1)), step=10)
    meta_path = tmp_path / META_FILE
    meta = json.loads(meta_path.read_text())
    npz = tmp_path / meta["arrays"]
    if how == "truncated npz":
        data = npz.read_bytes()
        npz.write_bytes(data[: len(data) // 2])
        meta["sha256"] = __import__("hashlib").sha256(npz.read_bytes()).hexdigest()
    elif how == "digest":
        data = bytearray(npz.read_bytes())
        data[len(data) // 2] ^= 0xFF
        npz.write_bytes(bytes(data))
    elif how == "json garbage":
        meta_path.write_text("{not json")
        return
    elif how == "version":
        meta["version"] = 99
    elif how == "format":
        meta["format"] = "something-else"
    elif how == "missing npz":
        npz.unlink()
    elif how == "path escape":
        meta["arrays"] = "../elsewhere.npz"
    elif how == "missing array":
        meta["tree"]["engine"]["pos"] = {"__ndarray__": "a999"}
    elif how == "object array":
        buf = io.BytesIO()
        np.savez(buf, a0=np.array([_Boom(str(tmp_path / "pwned"))], dtype=object))
        npz.write_bytes(buf.getvalue())
        meta["sha256"] = __import__("hashlib").sha256(buf.getvalue()).hexdigest()
    elif how == "object scalar":
        meta["tree"]["engine"]["n"] = {"__npscalar__": "|O", "value": 1}
    elif how == "tree not a table":
        meta["tree"] = [1, 2]
    meta_path.write_text(json.dumps(meta))


@pytest.mark.parametrize("how", ["truncated npz", "digest", "json garbage", "version", "format", "missing npz", "path escape",
                                 "missing array", "object array", "object scalar", "tree not a table"])
def test_every_damage_is_one_line_runstateerror(tmp_path, how):
    _damage(tmp_path, how)
    with pytest.raises(RunStateError) as ei:
        load_checkpoint(tmp_path)
    msg = _one_line(ei.value)
    assert "rerun without --resume" in msg
    assert not (tmp_path / "pwned").exists()


def test_legacy_pickle_checkpoint_is_refused_unread(tmp_path):
    (tmp_path / LEGACY_FILE).write_bytes(pickle.dumps(_Boom(str(tmp_path / "pwned"))))
    with pytest.raises(RunStateError, match="old pickle checkpoint") as ei:
        load_checkpoint(tmp_path)
    _one_line(ei.value)
    assert not (tmp_path / "pwned").exists()


def _started_run(tmp_path: Path) -> tuple[Path, Path]:
    cfg = resolve_config(TINY)
    cfg_path = tmp_path / "tiny.toml"
    cfg_path.write_text(dumps_toml(cfg))
    out = tmp_path / "run"
    rd = RunDirectory(out)
    rd.start(cfg)
    rd.fail("interrupted")
    rd.checkpoint_dir.mkdir()
    return cfg_path, out


def test_cli_resume_refuses_a_crafted_pickle_checkpoint_without_running_it(tmp_path, capsys):
    cfg_path, out = _started_run(tmp_path)
    (out / "checkpoint" / LEGACY_FILE).write_bytes(pickle.dumps(_Boom(str(tmp_path / "pwned"))))
    assert main(["simulate", str(cfg_path), "--out", str(out), "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labquake: error:") and "\n" not in err and "pickle" in err
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("tree", [{"engine": {}, "run": {}}, {"engine": {"pos": 1}, "run": None}, {"run": {}}])
def test_cli_resume_of_a_checkpoint_with_wrong_content_is_one_line(tmp_path, capsys, tree):
    cfg_path, out = _started_run(tmp_path)
    save_checkpoint(out / "checkpoint", tree, step=5)
    assert main(["simulate", str(cfg_path), "--out", str(out), "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labquake: error:") and "\n" not in err and "checkpoint" in err


def _contact_state(rng, step, n=20):
    i = rng.integers(0, n, 30)
    j = (i + 1 + rng.integers(0, n - 1, 30)) % n
    return ContactState.from_arrays(step, n, i, j, rng.normal(size=(30, 3)), rng.normal(size=(30, 3)))


def test_recorders_roundtrip_through_a_checkpoint(tmp_path):
    rng = np.random.default_rng(7)
    ae = AERecorder(space_window=0.5, time_window=20, dt=1e-8)
    cracks = CrackLog()
    ref = _contact_state(rng, 0)
    for step in (5, 12, 40):
        cr = {"step": np.full(3, step), "x": rng.random(3), "y": rng.random(3), "z": rng.random(3),
              "nx": rng.random(3), "ny": rng.random(3), "nz": rng.random(3), "size": rng.random(3) * 1e-3,
              "kind": rng.integers(0, 2, 3), "mode": rng.integers(0, 2, 3),
              "particle_a": rng.integers(0, 20, 3), "particle_b": rng.integers(0, 20, 3)}
        ae.add_cracks(cr, ref)
        cracks.add(cr)
        ref = _contact_state(rng, step + 1)
        ae.sample(ref)
    assert ae.active  # open events with shared force references
    mon = ContactMonitor(np.array([1, 2]), np.array([3, 4]), rng.random((2, 3)))
    mon.x0a, mon.x0b = rng.random((2, 3)), rng.random((2, 3))
    mon.parts = [rng.random((2, 18)), rng.random((2, 18))]
    save_checkpoint(tmp_path, {"ae": ae.to_state(), "cracks": cracks.to_state(), "mon": mon.to_state()}, step=41)
    back = load_checkpoint(tmp_path)
    ae2, cracks2, mon2 = AERecorder.from_state(back["ae"]), CrackLog.from_state(back["cracks"]), ContactMonitor.from_state(back["mon"])
    assert len(back["ae"]["refs"]) < len(back["ae"]["open"]) or len(back["ae"]["open"]) == 1
    last = _contact_state(rng, 100)
    ae.close_all(last)
    ae2.close_all(last)
    import pandas as pd

    pd.testing.assert_frame_equal(ae.events_table(), ae2.events_table(), check_exact=True)
    np.testing.assert_array_equal(ae.crack_event_ids(), ae2.crack_event_ids())
    pd.testing.assert_frame_equal(cracks.table(1e-8), cracks2.table(1e-8), check_exact=True)
    pd.testing.assert_frame_equal(mon.contacts_table(), mon2.contacts_table(), check_exact=True)
    pd.testing.assert_frame_equal(mon.monitored_table(), mon2.monitored_table(), check_exact=True)


def test_npz_is_a_plain_zip_without_pickles(tmp_path):
    save_checkpoint(tmp_path, _tree(np.random.default_rng(2)), step=3)
    npz = next(tmp_path.glob("state-*.npz"))
    with zipfile.ZipFile(npz) as z:
        for name in z.namelist():
            with z.open(name) as fh:
                np.lib.format.read_array(fh, allow_pickle=False)
