"""Machine-independent catalogs (issue 12, item 5).

A small run with every kind of contact law the presets use (flat joints, smooth joints
with log-time healing, the jacket: tests/test_cycles_run.py's two stick-slip cycles) runs
in two subprocesses that compute differently, as two machines would:

* ``host``: numba compiles the kernels for this CPU (AVX-512 and FMA where it has them),
  numpy takes its fastest SIMD paths;
* ``generic``: ``NUMBA_CPU_NAME=generic`` (x86-64 baseline, no FMA, no AVX), numpy's
  dispatched SIMD paths switched off (``NPY_DISABLE_CPU_FEATURES``) and glibc's libm on its
  non-FMA builds (``GLIBC_TUNABLES``), as on an older CPU.

With the portable kernels (the default) the events, cracks and loading tables must have
the same bits. A run checkpointed by the host process and resumed by the generic one must
give the tables of the uninterrupted run. The test does not force the mode: under
``LABQUAKE_PORTABLE=0`` (FMA contraction where the CPU has it) the host run's catalog
differs and the test fails, as it must.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("events", "cracks", "loading", "slips", "energy")
# a checkpoint step of the two-cycle run (interval 2000) in its second cycle: its stick-slips
# span steps 17 920-18 240 and 22 960-23 440
INTERRUPT_AT = 20000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

CHILD = r"""
import hashlib, json, sys, tomllib
from pathlib import Path
import numpy as np
from labquake.sim.experiment import simulate
from labquake.io.rundir import RunDirectory

out, mode = Path(sys.argv[1]), sys.argv[2]
cfg = tomllib.loads(Path(sys.argv[3]).read_text())
try:
    if mode == "resume":
        simulate(cfg, out, resume=True, progress=False)
    else:
        simulate(cfg, out, progress=False, _interrupt_at_step=int(mode) if mode != "full" else None)
except KeyboardInterrupt:
    pass
run = RunDirectory(out)
meta = run.read_meta()
res = {"complete": run.is_complete(), "compute": meta.get("compute")}
if res["complete"]:
    for name in ("events", "cracks", "loading", "slips", "energy"):
        if not run.table_path(name).exists():
            continue
        df = run.read_table(name)
        h = hashlib.sha256()
        for col in df.columns:
            v = df[col].to_numpy()
            h.update(col.encode())
            h.update(v.tobytes() if v.dtype.kind in "biuf" else "\0".join(map(str, v)).encode())
        res[name] = h.hexdigest()
        res["n_" + name] = len(df)
print("RESULT " + json.dumps(res))
"""


def _numpy_dispatch() -> str:
    """numpy's run-time dispatched SIMD features that this CPU has (to switch off)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return " ".join(k for k in __cpu_dispatch__ if __cpu_features__.get(k))


def _env(target: str, cache: Path) -> dict[str, str]:
    drop = ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "NPY_DISABLE_CPU_FEATURES", "GLIBC_TUNABLES")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    env["NUMBA_CACHE_DIR"] = str(cache / target)
    if target == "generic":
        env["NUMBA_CPU_NAME"] = "generic"
        if _numpy_dispatch():
            env["NPY_DISABLE_CPU_FEATURES"] = _numpy_dispatch()
        # glibc's libm (and so Python's math and numpy's scalar paths) picks its SSE2 builds
        env["GLIBC_TUNABLES"] = "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F"
    return env


def _child(target: str, cache: Path, out: Path, mode: str, config: Path) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, str(out), mode, str(config)], cwd=ROOT, env=_env(target, cache),
                       capture_output=True, text=True, timeout=1200)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    assert p.returncode == 0 and lines, f"{target} {mode} run failed:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def _host_has_fma() -> bool:
    import llvmlite.binding as ll

    return bool(ll.get_host_cpu_features().get("fma", False))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from test_cycles_run import two_cycle_config

    from labquake.io.rundir import dumps_toml

    base = tmp_path_factory.mktemp("portable")
    cache = base / "numba-cache"
    config = base / "two_cycles.toml"
    config.write_text(dumps_toml(two_cycle_config()))
    with ThreadPoolExecutor(2) as ex:
        host = ex.submit(_child, "host", cache, base / "host", "full", config)
        generic = ex.submit(_child, "generic", cache, base / "generic", "full", config)
        res = {"host": host.result(), "generic": generic.result()}
    res["checkpointed"] = _child("host", cache, base / "resumed", str(INTERRUPT_AT), config)
    res["resumed"] = _child("generic", cache, base / "resumed", "resume", config)
    return res


def test_the_two_processes_compile_for_different_targets(runs):
    """The test is only meaningful if the host target differs from the generic one."""
    if not _host_has_fma():
        pytest.skip("this CPU has no FMA: its kernels compute as the generic target's")
    host, generic = runs["host"]["compute"], runs["generic"]["compute"]
    assert generic["cpu_name"] == "generic" and generic["cpu_features"] == ""
    assert host["cpu_name"] != "generic" and "fma" in host["cpu_features"].split(",")
    assert host["portable"] == generic["portable"]


def test_catalog_is_the_same_for_host_and_generic_targets(runs):
    host, generic = runs["host"], runs["generic"]
    assert host["complete"] and generic["complete"]
    assert host["n_events"] >= 20 and host["n_slips"] >= 2, "the two-cycle run should give a few dozen events"
    counts = {k: (host.get("n_" + k), generic.get("n_" + k)) for k in TABLES}
    mode = "portable" if host["compute"]["portable"] else "native (LABQUAKE_PORTABLE=0)"
    assert all(name in host for name in ("events", "cracks", "loading"))
    for name in TABLES:
        assert host.get(name) == generic.get(name), f"{name} differ between host and generic targets with {mode} kernels; rows {counts}"


def test_resume_on_another_target_continues_identically(runs):
    ck, res = runs["checkpointed"], runs["resumed"]
    assert not ck["complete"], "the host run should have stopped at its checkpoint"
    assert res["complete"]
    segs = res["compute"]["segments"]
    assert [s["cpu_name"] == "generic" for s in segs] == [False, True]
    for name in TABLES:
        assert res.get(name) == runs["host"].get(name), f"{name}: resumed on the generic target differs from the uninterrupted run"


def test_meta_records_the_mode_and_target(runs):
    c = runs["host"]["compute"]
    assert set(c) >= {"portable", "fastmath", "cpu_name", "cpu_features", "host_cpu", "numba", "segments"}
    from labquake.sim.dem import PORTABLE

    assert c["portable"] is PORTABLE
    assert c["fastmath"] == ([] if PORTABLE else ["contract", "ninf", "nnan", "nsz"])


def test_exact_math_is_accurate():
    import math

    import numpy as np

    from labquake.sim.dem import exactmath as em

    rng = np.random.default_rng(3)
    for x in rng.uniform(-3.0, 3.0, 300):
        c, s = em.cos_sin(x)
        assert abs(c - math.cos(x)) < 1e-14 and abs(s - math.sin(x)) < 1e-14
    for x in rng.uniform(-1e-3, 1e-3, 100):  # one step's spin: to the last bit or so
        c, s = em.cos_sin(x)
        assert abs(c - math.cos(x)) <= math.ulp(1.0) and abs(s - math.sin(x)) <= 2 * math.ulp(abs(x))
    for y, x in rng.standard_normal((300, 2)):
        assert abs(em.atan2(y, x) - math.atan2(y, x)) < 4 * math.ulp(math.pi)
    assert em.atan2(0.0, -1.0) == math.pi and em.atan2(1.0, 0.0) == math.pi / 2 and em.atan2(0.0, 0.0) == 0.0
    for x in rng.uniform(-700.0, 700.0, 300):
        assert abs(em.exp(x) - math.exp(x)) <= 2 * math.ulp(math.exp(x))
    assert em.exp(-800.0) == 0.0 and em.exp(0.0) == 1.0
    for x in np.exp(rng.uniform(-100.0, 100.0, 300)):
        assert abs(em.log10(x) - math.log10(x)) <= 4 * math.ulp(abs(math.log10(x)) or 1.0)
    assert abs(em.tan(math.radians(30.0)) - math.tan(math.radians(30.0))) < 1e-15
    np.testing.assert_array_equal(em.exp_array(np.zeros((2, 2))), np.ones((2, 2)))
    assert em.log10_array(100.0).shape == () and em.log10_array(100.0) == 2.0
    from labquake.sim.ae.moment import moment_magnitude

    assert isinstance(moment_magnitude(1e3), float) and moment_magnitude(1e3) == -4.0


def test_native_kernels_are_cached_apart(tmp_path):
    """LABQUAKE_PORTABLE=0 compiles with FMA contraction into a cache of its own (numba's
    cache key does not hold the fast-math flags)."""
    code = ("import labquake.sim.dem as d, labquake.sim.dem._kernels as K, json;"
            "print(json.dumps([d.PORTABLE, d.compute_target()['fastmath'], K._pair_range._cache._cache_path]))")
    out = {}
    for mode in ("1", "0"):
        env = dict(os.environ, PYTHONPATH=str(ROOT), LABQUAKE_PORTABLE=mode, NUMBA_CACHE_DIR=str(tmp_path))
        p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        out[mode] = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["1"][:2] == [True, []]
    assert out["0"][:2] == [False, ["contract", "ninf", "nnan", "nsz"]]
    assert "labquake-native" in out["0"][2] and "labquake-native" not in out["1"][2]
    env = dict(os.environ, PYTHONPATH=str(ROOT), LABQUAKE_PORTABLE="maybe")
    p = subprocess.run([sys.executable, "-c", "import labquake.sim.dem"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode != 0 and "LABQUAKE_PORTABLE" in p.stderr


def test_resume_refuses_a_checkpoint_of_the_other_mode(tmp_path):
    from labquake.sim.dem import PORTABLE, compute_target
    from labquake.errors import RunStateError
    from labquake.sim.experiment import _check_compute
    from labquake.io.rundir import RunDirectory

    run = RunDirectory(tmp_path / "run")
    run.start({"name": "x"}, meta={"compute": dict(compute_target(), portable=not PORTABLE)})
    with pytest.raises(RunStateError, match="LABQUAKE_PORTABLE"):
        _check_compute(run)
    run.update_meta(compute=dict(compute_target(), segments=[{"cpu_name": "a"}]))
    assert [s["cpu_name"] for s in _check_compute(run)["segments"]] == ["a", compute_target()["cpu_name"]]
