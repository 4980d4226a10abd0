"""Energy per inference from a trace: integrate P = I x V between pairs of timestamp events.

The running integral is trapezoidal over the samples (sample k at t = k / rate) and linearly
interpolated between samples, so a window edge need not fall on a sample. The idle floor is the mean
of the samples outside every window. One ``cumsum`` serves every window and the idle floor, which
keeps ingestion of a 1 MS/s trace far above real time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.core.errors import MeasurementError
from harness.core.units import Duration, Energy, Power
from harness.power.trace import Trace

WIRING_HINT = ("check the DUT's timestamp pin is wired to the monitor's event input (LPM01A: D7, Joulescope: "
               "GPI0, PPK2: the D channel chosen) and that the firmware is built for energy mode")
_GRID_SLACK = 1e-9  # samples: an event computed as k / rate lands on sample k despite rounding


@dataclass(frozen=True)
class EnergyMeasurement:
    window: Duration
    energy: Energy
    n_inferences: int
    idle_power: Power
    start_s: float | None = None  # window start in trace time

    @property
    def per_inference(self) -> Energy:
        return self.energy * (1.0 / self.n_inferences)

    @property
    def avg_power(self) -> Power:
        return self.energy / self.window


class RunningIntegral:
    """Energy-to-time and mean-power queries on a trace, summing only the segments between the queried samples.

    Segment sums are float64 pairwise sums of the float32 samples: more exact than a running ``cumsum`` and,
    with a handful of window edges, one fast pass over the data.
    """

    def __init__(self, trace: Trace) -> None:
        n = len(trace.current_a)
        if n < 2:
            raise MeasurementError(f"the {trace.monitor} trace holds {n} sample(s); integration needs two or more")
        self.trace = trace
        self.current = trace.current_a

    def prefix_sums(self, index: np.ndarray) -> np.ndarray:
        """sum(current[0..k]) for each k in ``index``."""
        points = np.unique(index)
        bounds = np.concatenate(([0], points + 1))
        segments = [self.current[a:b].sum(dtype=np.float64) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        return np.cumsum(segments)[np.searchsorted(points, index)]

    def energy_to(self, times_s: np.ndarray) -> np.ndarray:
        """Energy (J) from t=0 to each of ``times_s`` (within the sampled span), trapezoid between samples."""
        rate = self.trace.sample_rate_hz
        position = np.asarray(times_s, dtype=np.float64) * rate
        i = np.clip(np.floor(position).astype(np.int64), 0, len(self.current) - 2)
        c_i, c_next = self.current[i].astype(np.float64), self.current[i + 1].astype(np.float64)
        to_i = self.prefix_sums(i) - 0.5 * (float(self.current[0]) + c_i)  # trapezoid from sample 0 to sample i
        return (to_i + (position - i) * 0.5 * (c_i + c_next)) * (self.trace.voltage_v / rate)

    def mean_power_outside(self, starts: np.ndarray, ends: np.ndarray) -> Power:
        """Mean power of the samples strictly outside every [start, end] window (NaN when none are)."""
        rate, n = self.trace.sample_rate_hz, len(self.current)
        first = np.ceil(starts * rate - _GRID_SLACK).astype(np.int64)  # first sample inside each window
        last = np.minimum(np.floor(ends * rate + _GRID_SLACK).astype(np.int64), n - 1)
        inside = last >= first
        first, last = first[inside], last[inside]
        outside_n = n - int((last - first + 1).sum())
        if outside_n <= 0:
            return Power(float("nan"))
        sums = self.prefix_sums(np.concatenate((last, np.maximum(first - 1, 0), [n - 1])))
        k = len(first)
        inside_sum = float((sums[:k] - np.where(first > 0, sums[k:2 * k], 0.0)).sum())
        return Power((float(sums[-1]) - inside_sum) / outside_n * self.trace.voltage_v)


def _check_span(trace: Trace, starts: np.ndarray, ends: np.ndarray) -> None:
    last = (len(trace.current_a) - 1) / trace.sample_rate_hz
    bad = np.flatnonzero(~((starts >= 0.0) & (starts < ends) & (ends <= last)))
    if bad.size:
        k = int(bad[0])
        raise MeasurementError(f"window {k + 1} ({starts[k]:.6f}-{ends[k]:.6f} s) lies outside the {trace.monitor} "
                               f"trace (0-{last:.6f} s) or is empty")


def energy_between(trace: Trace, start_s: float, end_s: float) -> Energy:
    """Energy in [start_s, end_s], interpolating the running integral at both edges."""
    starts, ends = np.array([start_s]), np.array([end_s])
    _check_span(trace, starts, ends)
    e0, e1 = RunningIntegral(trace).energy_to(np.array([start_s, end_s]))
    return Energy(float(e1 - e0))


def energy_windows(trace: Trace, inferences: Sequence[int]) -> list[EnergyMeasurement]:
    """One measurement per window bounded by consecutive event pairs (events 1-2, 3-4, ...).

    ``inferences[i]`` is the number of inferences in window i; the energy per inference is the window's
    energy / that number. The idle floor is the mean power of the samples outside every window.
    """
    counts = np.asarray(inferences, dtype=np.int64)
    if counts.size == 0 or (counts < 1).any():
        raise MeasurementError(f"energy windows need one inference count >= 1 per window, got {list(inferences)}")
    events = np.sort(np.asarray(trace.events_s, dtype=np.float64))
    if len(events) != 2 * len(counts):
        raise MeasurementError(
            f"the {trace.monitor} trace holds {len(events)} timestamp event(s); {len(counts)} window(s) need "
            f"{2 * len(counts)} (a start and an end edge each)", hint=WIRING_HINT)
    starts, ends = events[0::2], events[1::2]
    _check_span(trace, starts, ends)
    running = RunningIntegral(trace)
    at = running.energy_to(np.concatenate((starts, ends)))
    window_j = at[len(counts):] - at[:len(counts)]
    idle = running.mean_power_outside(starts, ends)
    return [EnergyMeasurement(Duration(float(e - s)), Energy(float(j)), int(n), idle, float(s))
            for s, e, j, n in zip(starts, ends, window_j, counts, strict=True)]


def measure(trace: Trace, n_inferences: int) -> EnergyMeasurement:
    """Energy of the inference window marked by the trace's first two events (MLPerf Tiny energy mode).

    The idle floor is the mean power outside the window, reported separately.
    """
    if len(trace.events_s) < 2:
        raise MeasurementError(
            f"the {trace.monitor} trace holds {len(trace.events_s)} timestamp event(s); two are needed "
            "to bound the inference window", hint=WIRING_HINT)
    if n_inferences < 1:
        raise MeasurementError("an energy window needs at least one inference")
    first_two = Trace(trace.current_a, trace.sample_rate_hz, trace.voltage_v, np.sort(trace.events_s)[:2],
                      trace.monitor)
    return energy_windows(first_two, [n_inferences])[0]
