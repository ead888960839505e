"""Acoustic emission from bond breaks: crack clustering, moment tensors, magnitudes.

See :mod:`labquake.ae.moment` (M_ij, M0, Mw, iso/dev, Hudson source types),
:mod:`labquake.ae.events` (space-time clustering and moment-tensor tracking, Hazzard &
Young 2000, 2002) and :mod:`labquake.ae.wavespeed` (the sample's S-wave speed for the
clustering time window).
"""

from labquake.ae.events import AERecorder, ContactState
from labquake.ae.moment import (
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
