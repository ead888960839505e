"""Acoustic emission from bond breaks: crack clustering, moment tensors, magnitudes.

See :mod:`labquake.ae.moment` (M_ij, M0, Mw, iso/dev) and :mod:`labquake.ae.events`
(space-time clustering and moment-tensor tracking, Hazzard & Young 2000, 2002).
"""

from labquake.ae.events import AERecorder, ContactState
from labquake.ae.moment import iso_dev, moment_magnitude, moment_tensor, scalar_moment

__all__ = ["AERecorder", "ContactState", "iso_dev", "moment_magnitude", "moment_tensor", "scalar_moment"]
