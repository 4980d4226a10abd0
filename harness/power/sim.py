"""The simulated power monitor: renders a trace from the activity a simulated DUT reports."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.core.units import Duration, Power
from harness.power.trace import Trace

MIN_RATE_HZ = 1_000.0
MAX_RATE_HZ = 1_000_000.0
TARGET_WINDOW_SAMPLES = 2_000


@dataclass
class SimulatedPowerMonitor:
    """Samples a piecewise-constant power timeline with seeded measurement noise.

    ``noise`` is the relative standard deviation of each current sample; the sample rate is
    chosen so the active window holds about ``TARGET_WINDOW_SAMPLES`` samples.
    """

    voltage_v: float
    rng: np.random.Generator
    noise: float = 0.01
    name: str = "sim"
    _segments: list[tuple[float, float]] = field(default_factory=list)  # (duration_s, power_w)
    _events: list[float] = field(default_factory=list)
    _clock_s: float = 0.0

    def hold(self, duration: Duration, power: Power) -> None:
        self._segments.append((duration.seconds, power.watts))
        self._clock_s += duration.seconds

    def event(self) -> None:
        """A falling edge on the timestamp input, at the current simulated time."""
        self._events.append(self._clock_s)

    def trace(self) -> Trace:
        active = self._events[1] - self._events[0] if len(self._events) >= 2 else self._clock_s
        rate = float(np.clip(TARGET_WINDOW_SAMPLES / max(active, 1e-12), MIN_RATE_HZ, MAX_RATE_HZ))
        n = max(int(np.ceil(self._clock_s * rate)) + 1, 2)
        t = np.arange(n) / rate
        edges = np.cumsum([0.0] + [d for d, _ in self._segments])
        level = np.array([p for _, p in self._segments] + [self._segments[-1][1]])
        idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(level) - 1)
        current = level[idx] / self.voltage_v
        current = current * (1.0 + self.noise * self.rng.standard_normal(n))
        return Trace(current.astype(np.float32), rate, self.voltage_v, np.array(self._events), self.name)
