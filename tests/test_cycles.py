"""Stick-slip cycles (labquake.sim.cycles): boundaries, cycle indices, recurrence, mainshocks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from labquake.sim.cycles import cycle_boundaries, cycle_index, label_cycles


def _slips(starts, ends, drops):
    return pd.DataFrame({"step_start": np.asarray(starts, np.int64), "step_end": np.asarray(ends, np.int64),
                         "static_drop": np.asarray(drops, float)})


def test_cycles_end_at_each_stick_slip_and_small_slips_stay_inside_their_cycle():
    # a 3 MPa precursory slip, a 40 MPa stick-slip, a 2 MPa aftershock slip, a 35 MPa stick-slip
    s = _slips([1000, 5000, 7000, 12000], [1200, 5600, 7100, 12500], [3e6, 40e6, 2e6, 35e6])
    b = cycle_boundaries(s, 10e6)
    assert b.tolist() == [5600, 12500]
    steps = np.array([0, 1100, 5000, 5600, 5601, 7050, 12500, 12501, 20000])
    assert cycle_index(steps, b).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2]
    t = label_cycles(s, 10e6, dt=1e-7)
    assert t.cycle.tolist() == [0, 0, 1, 1]
    assert t.is_mainshock.tolist() == [False, True, False, True]
    # recurrence: from the previous stick-slip's start
    assert math.isnan(t.recurrence.iloc[0]) and math.isnan(t.recurrence.iloc[1])
    assert t.recurrence.iloc[2] == pytest.approx(2000 * 1e-7) and t.recurrence.iloc[3] == pytest.approx(7000 * 1e-7)


def test_a_run_without_a_stick_slip_marks_its_largest_slip_and_has_one_cycle():
    s = _slips([1000, 3000], [1200, 3300], [3e6, 5e6])
    t = label_cycles(s, 10e6, dt=1e-7)
    assert t.is_mainshock.tolist() == [False, True] and t.cycle.tolist() == [0, 0]
    assert t.recurrence.isna().all()
    empty = label_cycles(_slips([], [], []), 10e6, dt=1e-7)
    assert len(empty) == 0 and {"cycle", "recurrence", "is_mainshock"} <= set(empty.columns)
    assert cycle_index(np.array([5, 10]), cycle_boundaries(empty, 10e6)).tolist() == [0, 0]


def test_tables_written_before_cycles_were_counted_read_back_as_one_cycle(tmp_path):
    from labquake.io.rundir import with_derived

    old = _slips([1000, 5000, 9000], [1200, 5600, 9300], [3e6, 40e6, 4e6]).assign(is_mainshock=[False, True, False])
    t = with_derived("slips", old)
    assert t.cycle.tolist() == [0, 0, 1] and t.recurrence.isna().all()
    cr = with_derived("cracks", pd.DataFrame({"step": [1, 2]}))
    assert cr.cycle.tolist() == [0, 0] and cr.cycle.dtype == np.int64


def test_recurrence_may_be_undefined_but_never_infinite():
    from labquake.errors import SchemaError
    from labquake.io.rundir import validate_table
    from labquake.sim.slips import slips_table

    t = slips_table([(1000, 1200, 2e8, 1.6e8, 4e7, 1e6, 1e-5, 2e-5, 1.0, 1e8, 9e7, 2e8, 1.9e8, 1e-7, 1e5, 5e5, 2e8, -3e-4)],
                    min_drop=1e7, dt=1e-7)
    assert math.isnan(t.recurrence.iloc[0]) and math.isnan(t.drive_recurrence.iloc[0])
    validate_table("slips", t)
    with pytest.raises(SchemaError, match="drive_recurrence.*infinite"):
        validate_table("slips", t.assign(drive_recurrence=-np.inf))
    with pytest.raises(SchemaError, match="recurrence.*infinite"):
        validate_table("slips", t.assign(recurrence=np.inf))
    with pytest.raises(SchemaError, match="static_drop.*NaN"):
        validate_table("slips", t.assign(static_drop=np.nan))


def test_drive_recurrence_is_the_drive_advance_between_stick_slip_starts():
    """The drive point moves down as it advances: the advance from stick-slip k-1's start
    to a slip's start is z(k-1) - z; small slips measure from the stick-slip before them."""
    s = _slips([1000, 5000, 7000, 12000], [1200, 5600, 7100, 12500], [3e6, 40e6, 2e6, 35e6]).assign(
        drive_start=[-1e-5, -4e-5, -4.1e-5, -9e-5])
    t = label_cycles(s, 10e6, dt=1e-7)
    assert np.isnan(t.drive_recurrence.iloc[:2]).all()
    assert t.drive_recurrence.iloc[2] == pytest.approx(0.1e-5) and t.drive_recurrence.iloc[3] == pytest.approx(5e-5)
    # a table or detector without the drive position has the column, undefined
    assert label_cycles(s.drop(columns="drive_start"), 10e6, dt=1e-7).drive_recurrence.isna().all()


def test_a_detector_state_without_drive_positions_resumes_with_them_undefined():
    from labquake.sim.slips import _ROW_COLUMNS, SlipDetector

    det = SlipDetector(0.5, 0.2, 1000, 200, 1e-7, 30.0, 2e9, 1.2e-3)
    det.rows = [(1000, 1200, 2e8, 1.6e8, 4e7, 1e6, 1e-5, 2e-5, 1.0, 1e8, 9e7, 2e8, 1.9e8, 1e-7, 1e5, 5e5, 2e8, -3e-4)]
    state = det.to_state()
    assert state["rows"].shape == (1, len(_ROW_COLUMNS))
    state["rows"] = state["rows"][:, :-1]  # as an older labquake wrote it
    back = SlipDetector.from_state(state)
    assert len(back.rows[0]) == len(_ROW_COLUMNS) and math.isnan(back.rows[0][-1])
    assert back.table(1e7).static_drop.iloc[0] == 4e7
