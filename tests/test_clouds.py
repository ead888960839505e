"""Per-run foreshock/mainshock clouds and their 5 features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labquake.analysis.clouds import FEATURES, event_clouds, fault_events
from labquake.errors import InsufficientDataError, SchemaError
from labquake.geometry import FaultPlane

FP = FaultPlane(30.0)


def catalog():
    """Hand-made: 2 foreshock episodes, a mainshock episode, an aftershock episode."""
    episodes = pd.DataFrame({
        "episode_id": [0, 1, 2, 3], "start": [0, 1000, 2000, 3000], "end": [1000, 2000, 3000, 4000],
        "peak": [500, 1500, 2600, 3500], "n_events": [2, 1, 3, 1], "is_mainshock": [False, False, True, False],
        "lever_arm": [2100, 1100, 0, -900],
    })
    # fault coordinates (dip, strike, normal) of each event
    fc = np.array([
        [0.010, 0.000, 0.0],   # ep 0
        [0.000, 0.010, 0.001],  # ep 0
        [-0.01, -0.01, 0.0],   # ep 1
        [0.000, 0.000, 0.0],   # ep 2: first mainshock event, at the origin
        [0.000, 0.003, 0.0],   # ep 2
        [0.004, 0.000, 0.0],   # ep 2
        [0.005, 0.005, 0.0],   # ep 3 (aftershock)
        [0.000, 0.000, 0.05],  # ep 0 but 5 cm off the plane: left out
    ])
    xyz = FP.from_fault_coords(fc)
    steps = np.array([400, 600, 1500, 2400, 2450, 2900, 3500, 500])
    ev = pd.DataFrame({
        "event_id": np.arange(8), "step_start": steps, "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
        "radius": np.linspace(0.001, 0.008, 8), "mw": np.linspace(-8, -6, 8), "on_fault": [True] * 8,
    })
    return ev, episodes


def test_features_by_hand():
    ev, eps = catalog()
    rc = event_clouds(None, events=ev, episodes=eps, fault=FP)
    assert rc.foreshock["event_id"].tolist() == [0, 1, 2]
    assert rc.mainshock["event_id"].tolist() == [3, 4, 5]
    assert rc.first_mainshock_event == 3
    assert list(rc.features("foreshock").shape) == [3, 5]
    f = rc.foreshock.set_index("event_id")
    m = rc.mainshock.set_index("event_id")
    # time: lever arm of the episode for foreshocks, steps after the first for the mainshock
    assert f["time"].tolist() == [2100, 2100, 1100]
    assert m["time"].tolist() == [0, 50, 500]
    # distance: 3-D to the first mainshock event
    np.testing.assert_allclose(f["distance"], [0.010, np.hypot(0.010, 0.001), np.hypot(0.01, 0.01)], atol=1e-15)
    # direction from the event to the first mainshock event, atan2(Δstrike, Δdip)
    np.testing.assert_allclose(f["direction"], [180.0, 270.0, 45.0], atol=1e-9)
    np.testing.assert_allclose(m["direction"], [0.0, 270.0, 180.0], atol=1e-9)
    np.testing.assert_allclose(f["radius"], ev.loc[[0, 1, 2], "radius"])
    assert list(rc.foreshock.columns[-5:]) == list(FEATURES)


def test_paper_quirks():
    ev, eps = catalog()
    rc = event_clouds(None, events=ev, episodes=eps, fault=FP, paper_quirks=True)
    m = rc.mainshock.set_index("event_id")
    f = rc.foreshock.set_index("event_id")
    assert m["time"].tolist() == [0, 1, 2]  # order, not time
    # swapped arguments: atan2(Δdip, Δstrike)
    np.testing.assert_allclose(f["direction"], [270.0, 180.0, 45.0], atol=1e-9)
    assert f["time"].tolist() == [2100, 2100, 1100]  # foreshock time unchanged


def test_fault_event_selection():
    ev, _ = catalog()
    assert fault_events(ev, FP, 0.01)["event_id"].tolist() == list(range(7))
    assert len(fault_events(ev, FP, None)) == 8
    off = ev.assign(on_fault=[True] * 7 + [False])
    assert len(fault_events(off, FP, None)) == 7


def test_bad_input():
    ev, eps = catalog()
    # no event in the mainshock episode
    with pytest.raises(InsufficientDataError, match="no fault event in the mainshock episode"):
        event_clouds(None, events=ev[~ev["event_id"].isin([3, 4, 5])], episodes=eps, fault=FP)
    bad = ev.copy()
    bad.loc[1, "mw"] = np.nan
    with pytest.raises(SchemaError, match="NaN"):
        event_clouds(None, events=bad, episodes=eps, fault=FP)
    with pytest.raises(SchemaError):
        event_clouds(None, events=ev.drop(columns=["radius"]), episodes=eps, fault=FP)
    with pytest.raises(SchemaError):
        event_clouds(None, events=ev)
    # no foreshock at all: an empty (documented) foreshock cloud, not an error here
    only_ms = eps.assign(is_mainshock=[True, False, False, False], lever_arm=[0, -1000, -2100, -3000])
    rc = event_clouds(None, events=ev, episodes=only_ms, fault=FP)
    assert rc.foreshock.empty and rc.mainshock["event_id"].tolist() == [0, 1]


def test_event_clouds_of_a_run(tmp_path):
    from test_pipeline import write_synthetic_run

    rd = write_synthetic_run(tmp_path / "r", seed=3, n_fore=(10, 10, 10), n_main=60)
    rc = event_clouds(rd)
    assert len(rc.foreshock) == 30 and len(rc.mainshock) == 60
    assert np.isfinite(rc.features("foreshock")).all() and np.isfinite(rc.features("mainshock")).all()
    assert (rc.mainshock["time"] >= 0).all() and (rc.foreshock["time"] > 0).all()
    assert ((rc.foreshock["direction"] >= 0) & (rc.foreshock["direction"] < 360)).all()
    assert rc.summary()["n_episodes"] == 4
