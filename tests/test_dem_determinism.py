"""Checkpoint/restart and thread-count independence: bit-identical arrays and cracks."""

from __future__ import annotations

import numpy as np
import pytest

from labquake.sim.dem import (
    ConfiningCylinder,
    Engine,
    LinearContact,
    Platens,
    RockBond,
    SmoothJoint,
)
from dem_support import run_collect, saw_cut_pack

NORMAL = (np.sqrt(3) / 2, 0.0, 0.5)  # 30 degree saw cut: sqrt(3) x + z = 0 through the centre


def _sample(n_threads=1):
    rad_s, r0 = 4e-3, 0.75e-3  # the sample and grain radii of dem_support.saw_cut_pack
    pos, rad, side = saw_cut_pack(NORMAL)
    eng = Engine(pos, rad, 2650.0, LinearContact(1e7, 4e6, 0.5, damping_ratio=0.05, rolling_mu=0.05),
                 bond=RockBond(2e12, 8e11, residual_mu=0.3),
                 joint=SmoothJoint(NORMAL, 2e12, 8e11, residual_mu=0.1),
                 side=side,
                 platens=Platens((pos[:, 2] - rad).min() + 0.02 * r0, (pos[:, 2] + rad).max() - 0.02 * r0, 1e8,
                                 mode="velocity", velocity=2.0,
                                 frame_stiffness=2e6),
                 cylinder=ConfiningCylinder(rad_s, 1e8, 2e6, mode="pressure"),
                 local_damping=0.1, n_threads=n_threads, sort_every=1, parallel_min_pairs=0)
    # every pair closer than 0.15 r0 is bonded (per-bond strength scatter from a seeded rng)
    pairs = eng.neighbor_pairs(max_gap=0.15 * r0)
    return eng, pairs["i"], pairs["j"]


def _bonded(n_threads=1):
    eng, i, j = _sample(n_threads)
    rng = np.random.default_rng(11)
    m = i.size
    eng.install_bonds(i, j, rng.normal(3e6, 5e5, m).clip(1e5), rng.normal(6e6, 1e6, m).clip(1e5), 30.0)
    return eng


def _all_close_identical(a: dict, b: dict, skip=()):
    assert a.keys() == b.keys()
    for k in a:
        if k in skip:
            continue
        assert a[k].dtype == b[k].dtype, k
        assert np.array_equal(a[k], b[k]), f"array {k} differs"


@pytest.fixture(scope="module")
def reference():
    eng = _bonded()
    cr = run_collect(eng, 8, 50)
    return eng, cr


def test_scenario_is_not_trivial(reference):
    eng, cr = reference
    md = eng.metadata()
    assert len(cr["step"]) >= 5                   # rock and fault bonds broke ...
    assert set(cr["kind"]) == {0, 1}
    assert md["n_sorts"] >= 2                    # ... particles were re-sorted ...
    assert eng.n_pairs >= 500


def test_checkpoint_restart_is_bit_identical(reference):
    eng_ref, cr_ref = reference
    eng = _bonded()
    cr1 = run_collect(eng, 4, 50)
    state = eng.state_dict()
    eng2 = Engine.from_state_dict(state)
    cr2 = run_collect(eng2, 4, 50)
    cr = {k: np.concatenate([cr1[k], cr2[k]]) for k in cr1}
    _all_close_identical(eng_ref.state_dict(), eng2.state_dict())
    for k in cr_ref:
        assert np.array_equal(cr_ref[k], cr[k]), k
    # and the original engine, continued, agrees as well
    run_collect(eng, 4, 50)
    _all_close_identical(eng_ref.state_dict(), eng.state_dict())


def test_chunking_does_not_matter(reference):
    eng_ref, cr_ref = reference
    eng = _bonded()
    cr = run_collect(eng, 40, 10)
    _all_close_identical(eng_ref.state_dict(), eng.state_dict())
    for k in cr_ref:
        assert np.array_equal(cr_ref[k], cr[k]), k


def test_two_threads_identical_to_one(reference):
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread here")
    eng_ref, cr_ref = reference
    eng = _bonded(n_threads=2)
    cr = run_collect(eng, 8, 50)
    _all_close_identical(eng_ref.state_dict(), eng.state_dict(), skip=("cnt", "meta"))
    for k in cr_ref:
        assert np.array_equal(cr_ref[k], cr[k]), k
    assert eng.metadata()["n_threads"] == 2
