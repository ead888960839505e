"""The axial drive: a constant platen velocity, or an adaptive one that slows down while
the sample is dynamic.

A DEM run cannot afford a laboratory loading rate, and at the rates it can afford the
drive keeps loading the sample during its own failure: a 2000-step event at 0.2 m/s
reloads the paper specimen by several MPa (issue 12). The adaptive drive
(``loading.drive = "adaptive"``) moves the loading frame's drive point at
``platen_velocity`` while the sample is quiet and at ``platen_velocity / slow_factor``
while it is not. The sample is *dynamic* when any of these holds in a sample:

* the kinetic energy, less the drive's own quasi-static share ``M v² / 6`` (a linear
  velocity profile from 0 to the drive velocity v along the sample of mass M), exceeds
  ``slow_ke_ratio`` times the elastic energy the sample held at the start of axial loading;
* at least ``slow_crack_count`` bonds broke since the previous sample;
* a fault slip event is under way (:class:`labquake.sim.slips.SlipDetector`), or the fault
  slips faster than ``slip_rate_off`` (so that the drive is slow before an event is
  confirmed: the slip-rate average needs a window to rise above ``slip_rate_on``).

The drive returns to full speed once the sample has been quiet for ``quiet_steps``
steps, or, so that a sample that never comes to rest (persistent ringing) cannot stall a
run, after ``max_slow_steps`` slow steps in a row; it then stays fast for at least
``quiet_steps`` steps (``n_forced`` counts these). The thresholds are in the config (``[loading]``); the loading frame's spring and
the confinement servo are not touched. The drive's state is plain data, so a resumed
run continues the same schedule.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AdaptiveDrive"]


class AdaptiveDrive:
    """Chooses the drive point's velocity from one sample of the sample's activity.

    Parameters
    ----------
    fast_velocity
        Drive velocity while the sample is quiet (m/s).
    slow_factor
        Velocity divisor while the sample is dynamic (1 = a constant drive).
    ke_ratio
        Kinetic / elastic energy above which the sample is dynamic.
    crack_count
        Bond breaks in one sample at or above which the sample is dynamic (0 = ignore).
    quiet_steps
        Steps of quiet needed to return to full speed.
    max_slow_steps
        Longest slow phase (steps); 0 = no limit.
    """

    def __init__(self, fast_velocity: float, slow_factor: float, ke_ratio: float, crack_count: int, quiet_steps: int,
                 max_slow_steps: int = 0) -> None:
        self.fast_velocity = float(fast_velocity)
        self.slow_factor = float(slow_factor)
        self.ke_ratio = float(ke_ratio)
        self.crack_count = int(crack_count)
        self.quiet_steps = int(quiet_steps)
        self.max_slow_steps = int(max_slow_steps)
        self.slow = False
        self.slow_since = 0  # step at which the current slow phase began
        self.forced_until = -(10**18)  # a forced fast phase lasts until this step
        self.n_forced = 0
        self.last_active_step = -(10**18)
        self.slow_steps = 0  # steps spent at the slow velocity (for meta.json)
        self.n_slowdowns = 0
        self._last_step: int | None = None

    @property
    def velocity(self) -> float:
        """The drive velocity now (m/s)."""
        return self.fast_velocity / self.slow_factor if self.slow else self.fast_velocity

    def update(self, step: int, kinetic: float, elastic: float, new_cracks: int, slipping: bool) -> bool:
        """Feed one sample; returns True when the velocity changed."""
        if self._last_step is not None and self.slow:
            self.slow_steps += step - self._last_step
        self._last_step = int(step)
        if self.slow_factor == 1.0:
            return False
        dynamic = (kinetic > self.ke_ratio * max(elastic, 1e-300) or slipping
                   or (self.crack_count > 0 and new_cracks >= self.crack_count))
        if dynamic and step >= self.forced_until:
            self.last_active_step = int(step)
        want_slow = step - self.last_active_step < self.quiet_steps and step >= self.forced_until
        if want_slow and self.slow and self.max_slow_steps > 0 and step - self.slow_since >= self.max_slow_steps:
            want_slow = False  # the sample does not come to rest: resume full speed for a while
            self.forced_until = int(step) + self.quiet_steps
            self.last_active_step = -(10**18)
            self.n_forced += 1
        if want_slow != self.slow:
            self.slow = want_slow
            if want_slow:
                self.n_slowdowns += 1
                self.slow_since = int(step)
            return True
        return False

    def to_state(self) -> dict[str, Any]:
        """The drive as plain data (see :mod:`labquake.io.checkpoint`)."""
        return {"fast_velocity": self.fast_velocity, "slow_factor": self.slow_factor, "ke_ratio": self.ke_ratio,
                "crack_count": self.crack_count, "quiet_steps": self.quiet_steps, "max_slow_steps": self.max_slow_steps,
                "slow": self.slow, "slow_since": self.slow_since, "forced_until": self.forced_until, "n_forced": self.n_forced,
                "last_active_step": self.last_active_step, "slow_steps": self.slow_steps,
                "n_slowdowns": self.n_slowdowns, "last_step": -1 if self._last_step is None else self._last_step}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "AdaptiveDrive":
        """Rebuild a drive from :meth:`to_state`."""
        self = cls(state["fast_velocity"], state["slow_factor"], state["ke_ratio"], state["crack_count"], state["quiet_steps"],
                   state["max_slow_steps"])
        self.slow = bool(state["slow"])
        self.slow_since = int(state["slow_since"])
        self.forced_until = int(state["forced_until"])
        self.n_forced = int(state["n_forced"])
        self.last_active_step = int(state["last_active_step"])
        self.slow_steps = int(state["slow_steps"])
        self.n_slowdowns = int(state["n_slowdowns"])
        self._last_step = None if int(state["last_step"]) < 0 else int(state["last_step"])
        return self
