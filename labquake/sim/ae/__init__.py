"""Acoustic emission from bond breaks: crack clustering, moment tensors, magnitudes.

See :mod:`labquake.sim.ae.moment` (M_ij, M0, Mw, iso/dev, Hudson source types),
:mod:`labquake.sim.ae.events` (space-time clustering and moment-tensor tracking, Hazzard &
Young 2000, 2002) and :mod:`labquake.sim.ae.wavespeed` (the sample's S-wave speed for the
clustering time window).
"""

from labquake.sim.ae.events import AERecorder, ContactState
from labquake.sim.ae.moment import (
    SOURCE_TYPES,
    classify_events,
    hudson_tk,
    hudson_uv,
    iso_dev,
    iso_ratio,
    moment_magnitude,
    moment_tensor,
    scalar_moment,
    source_type,
)

__all__ = ["AERecorder", "ContactState", "iso_dev", "iso_ratio", "moment_magnitude", "moment_tensor", "scalar_moment",
           "hudson_tk", "hudson_uv", "source_type", "classify_events", "SOURCE_TYPES"]
