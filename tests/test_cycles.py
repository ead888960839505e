"""Stick-slip cycles (labquake.cycles): boundaries, cycle indices, recurrence, mainshocks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from labquake.cycles import cycle_boundaries, cycle_index, label_cycles


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
    from labquake.slips import slips_table

    t = slips_table([(1000, 1200, 2e8, 1.6e8, 4e7, 1e6, 1e-5, 2e-5, 1.0, 1e8, 9e7, 2e8, 1.9e8, 1e-7, 1e5, 5e5, 2e8)],
                    min_drop=1e7, dt=1e-7)
    assert math.isnan(t.recurrence.iloc[0])
    validate_table("slips", t)
    with pytest.raises(SchemaError, match="recurrence.*infinite"):
        validate_table("slips", t.assign(recurrence=np.inf))
    with pytest.raises(SchemaError, match="static_drop.*NaN"):
        validate_table("slips", t.assign(static_drop=np.nan))
