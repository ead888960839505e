"""Statistics of repeated stick-slip cycles, and their comparison with laboratory data.

The cycles are those of :mod:`labquake.sim.cycles`: cycle ``k`` of a run runs from the end
(``step_end``) of stick-slip ``k - 1`` (the start of axial loading for ``k = 0``) to the
end of stick-slip ``k``, its mainshock, which it includes. This module does three jobs on
top of that definition:

1. **Per-cycle analysis** (:func:`analyze_run_cycles`): for every cycle that ends in a
   mainshock, the existing pipeline on that cycle alone: KDE segmentation of its fault
   cracks into foreshock and mainshock episodes (:func:`labquake.analysis.segment.segment_episodes`),
   b (:func:`labquake.analysis.seismicity.b_value`, Aki–Utsu above the maximum-curvature Mc) and D2
   (:func:`labquake.analysis.seismicity.correlation_dimension`, 3-D) of its fault events, and its
   foreshock and mainshock clouds (:func:`labquake.analysis.clouds.event_clouds`). One row per
   cycle (:data:`CYCLE_COLUMNS`), written by ``labquake analyze`` to
   ``analysis/cycles.parquet``.
2. **b through the seismic cycle** (:func:`b_through_cycle`): the events between
   stick-slips, pooled over cycles, binned by their time to the next mainshock, with b
   and its bootstrap sd per bin (``analysis/b_cycle.parquet``).
3. **Side by side with Okubo FB03-087** (:func:`okubo_cycles`, :func:`compare_cycles`):
   the same per-cycle quantities from the real 4 m laboratory fault, and a table of
   recurrence CV, stress-drop CV, foreshock shares and counts, and the KDE segmentation's
   behaviour on both.

Which cycles get a row
----------------------
Every cycle that ends in its mainshock: the ``is_mainshock`` slip of that cycle in
``slips.parquet``. The stretch after the last mainshock (the run's tail, or a cycle the
run stopped in) gets no row. ``complete`` is true when that mainshock is a stick-slip
(static drop at least the run's ``loading.stop_min_drop``, read from ``meta.json``'s
``stop_criterion`` or the run's config); it is false only for a run that never had a
stick-slip, whose largest slip stands in as its mainshock (as :mod:`labquake.sim.cycles` marks
it). Runs without ``slips.parquet`` (PFC3D imports, runs made before it existed) have one
cycle, closed by the largest fall of the loading curve of at least 5 % of its peak
(:func:`labquake.analysis.forecast.data.find_mainshocks`), and count as complete. Statistics
across cycles use complete cycles only.

Events of a cycle
-----------------
Fault events: ``on_fault`` and within ``max_fault_distance`` of the fault plane
(:func:`labquake.analysis.clouds.fault_events`, as for the per-run statistics), with the cycle's
``cycle`` label and ``step_start <= end``. Its *foreshocks* are those that start before
the mainshock's onset (``step_start``): every fault event between the previous stick-slip's
end and this one's onset, the aftershocks of the previous stick-slip included (the
laboratory convention: a cycle runs from one mainshock to the next).

The package, by job:

- :mod:`labquake.analysis.cycle_stats.columns`: the columns of the cycle tables, typed
- :mod:`labquake.analysis.cycle_stats.runs`: the cycles of a run and the per-cycle analysis (1)
- :mod:`labquake.analysis.cycle_stats.b_cycle`: b through the seismic cycle (2)
- :mod:`labquake.analysis.cycle_stats.compare`: statistics across cycles, the side-by-side
  table (3)
- :mod:`labquake.analysis.cycle_stats.okubo`: the cycles of Okubo FB03-087 (3)

The names below are the public API.
"""

from labquake.analysis.cycle_stats.b_cycle import b_through_cycle
from labquake.analysis.cycle_stats.columns import (
    B_CYCLE_COLUMNS,
    CYCLE_COLUMNS,
    empty_b_cycle,
    empty_cycles,
)
from labquake.analysis.cycle_stats.compare import (  # noqa: F401 - COMPARISON_ROWS: public
    COMPARISON_ROWS,
    coefficient_of_variation,
    compare_cycles,
    comparison_set,
    cycle_set_stats,
    cycles_summary,
    distribution_data,
    format_comparison,
    format_value,
    loading_recurrences,
    within_record_normalised,
)
from labquake.analysis.cycle_stats.okubo import (  # noqa: F401 - OKUBO_NAME: public
    OKUBO_BANDWIDTH,
    OKUBO_GRID,
    OKUBO_NAME,
    default_okubo_dir,
    okubo_cycles,
)
from labquake.analysis.cycle_stats.runs import (
    RunCycles,
    analyze_run_cycles,
    campaign_cycles,
    leaf_name,
    run_cycles,
)

__all__ = [
    "CYCLE_COLUMNS",
    "B_CYCLE_COLUMNS",
    "OKUBO_BANDWIDTH",
    "OKUBO_GRID",
    "RunCycles",
    "empty_cycles",
    "empty_b_cycle",
    "leaf_name",
    "run_cycles",
    "analyze_run_cycles",
    "campaign_cycles",
    "b_through_cycle",
    "cycles_summary",
    "coefficient_of_variation",
    "within_record_normalised",
    "comparison_set",
    "cycle_set_stats",
    "compare_cycles",
    "format_value",
    "format_comparison",
    "distribution_data",
    "okubo_cycles",
    "default_okubo_dir",
    "loading_recurrences",
]
