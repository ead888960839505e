"""The analysis stage: pure functions over run directories and their tables.

- :mod:`labquake.analysis.segment`: foreshock / mainshock episodes (KDE)
- :mod:`labquake.analysis.seismicity`: b-value, Mc, correlation dimension
- :mod:`labquake.analysis.clouds`, :mod:`~labquake.analysis.distances`,
  :mod:`~labquake.analysis.transport`: per-run point clouds and their distances
  (Hausdorff, Chamfer, earth mover's)
- :mod:`labquake.analysis.trees`: hierarchical clustering, B_k, null tests
- :mod:`labquake.analysis.grains`: grain-scale contact-force analysis
- :mod:`labquake.analysis.cycle_stats`: repeated stick-slip cycles
- :mod:`labquake.analysis.forecast`: failure forecasting
- :mod:`labquake.analysis.pipeline`: the campaign analysis that chains them

Nothing is imported here.
"""
