"""Fault-plane geometry shared by the specimen builder, the AE recorder and the analysis.

The sample axis is z. The saw-cut fault passes through ``centre`` at ``angle_deg`` to the
z axis, striking along y. For the reference 30° the plane is ``sqrt(3)·x + z = 0``
(Ye et al. 2024 use exactly this plane). Fault coordinates are
(along-dip, along-strike, fault-normal), a right-handed frame:

* ``dip``    = (-sin θ, 0, cos θ)   (up the fault),
* ``strike`` = (0, -1, 0),
* ``normal`` = (cos θ, 0, sin θ)    (points into the hanging-wall block, +x side).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labquake.errors import ConfigError


def _rows_dot(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``p @ m.T`` for (n, 3) ``p`` by elementwise products and sums in a fixed order, not
    by BLAS (whose kernels, picked by the CPU, round differently)."""
    out = np.empty((p.shape[0], m.shape[0]))
    for k in range(m.shape[0]):
        out[:, k] = p[:, 0] * m[k, 0] + p[:, 1] * m[k, 1] + p[:, 2] * m[k, 2]
    return out


@dataclass(frozen=True)
class FaultPlane:
    """A planar fault through ``centre`` at ``angle_deg`` to the sample (z) axis."""

    angle_deg: float = 30.0
    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _frame: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not np.isfinite(self.angle_deg) or not (0.0 < self.angle_deg < 90.0):
            raise ConfigError(f"fault angle must lie strictly between 0 and 90 degrees, got {self.angle_deg}")
        from labquake.sim.dem.exactmath import cos_sin

        c, s = cos_sin(float(np.deg2rad(self.angle_deg)))  # the same bits on every CPU
        frame = np.array([[-s, 0.0, c], [0.0, -1.0, 0.0], [c, 0.0, s]])
        object.__setattr__(self, "_frame", frame)

    @property
    def normal(self) -> np.ndarray:
        """Unit normal (3,)."""
        return self._frame[2].copy()

    @property
    def dip(self) -> np.ndarray:
        """Unit along-dip direction (3,)."""
        return self._frame[0].copy()

    @property
    def strike(self) -> np.ndarray:
        """Unit along-strike direction (3,)."""
        return self._frame[1].copy()

    @property
    def frame(self) -> np.ndarray:
        """Rows are (dip, strike, normal): ``frame @ (p - centre)`` gives fault coordinates."""
        return self._frame.copy()

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance of (n, 3) points to the plane (positive on the normal side)."""
        p = np.asarray(points, dtype=float).reshape(-1, 3)
        return _rows_dot(p - np.asarray(self.centre), self._frame[2:3])[:, 0]

    def to_fault_coords(self, points: np.ndarray) -> np.ndarray:
        """(n, 3) points to (along-dip, along-strike, fault-normal) coordinates."""
        p = np.asarray(points, dtype=float).reshape(-1, 3)
        return _rows_dot(p - np.asarray(self.centre), self._frame)

    def from_fault_coords(self, coords: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_fault_coords`."""
        c = np.asarray(coords, dtype=float).reshape(-1, 3)
        return _rows_dot(c, self._frame.T) + np.asarray(self.centre)

    def to_dict(self) -> dict:
        return {"angle_deg": float(self.angle_deg), "centre": [float(c) for c in self.centre],
                "normal": self.normal.tolist(), "dip": self.dip.tolist(), "strike": self.strike.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "FaultPlane":
        return cls(angle_deg=float(d.get("angle_deg", 30.0)), centre=tuple(float(c) for c in d.get("centre", (0, 0, 0))))
