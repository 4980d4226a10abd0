"""Host-side invoke latency: a tight timing loop and the summary of its samples."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from harness.core.errors import ConfigError, MeasurementError
from harness.runtimes.base import Session

NS_PER_MS = 1_000_000


def time_invokes(session: Session, inputs: Sequence[np.ndarray], warmup: int, runs: int) -> np.ndarray:
    """Run ``warmup`` untimed then ``runs`` timed ``session.run(inputs)`` calls; int64 ns per call.

    Inputs are not validated here (call ``check_inputs`` first). Streaming state carries on from
    call to call; reset the session beforehand if the measurement must start from a fresh state.
    """
    if warmup < 0:
        raise ConfigError(f"warmup must be >= 0, got {warmup}")
    if runs < 1:
        raise ConfigError(f"runs must be >= 1, got {runs}")
    run = session.run
    clock = time.perf_counter_ns
    samples = np.empty(runs, dtype=np.int64)
    for _ in range(warmup):
        run(inputs)
    for i in range(runs):
        start = clock()
        run(inputs)
        samples[i] = clock() - start
    return samples


@dataclass(frozen=True)
class LatencyDistribution:
    """Summary of latency samples in milliseconds; std is the sample standard deviation (ddof=1)."""

    n: int
    mean_ms: float
    std_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def from_ns(cls, samples: Sequence[int] | np.ndarray) -> LatencyDistribution:
        """Summarise nanosecond samples; percentiles interpolate linearly (numpy ``method="linear"``)."""
        ns = np.asarray(samples, dtype=np.float64).ravel()
        if ns.size == 0:
            raise MeasurementError("no latency samples to summarise")
        if not np.all(np.isfinite(ns)) or np.any(ns < 0):
            raise MeasurementError("latency samples must be finite and non-negative")
        ms = ns / NS_PER_MS
        p50, p90, p99 = np.percentile(ms, [50, 90, 99], method="linear")
        return cls(
            n=int(ms.size),
            mean_ms=float(ms.mean()),
            std_ms=float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
            min_ms=float(ms.min()),
            p50_ms=float(p50),
            p90_ms=float(p90),
            p99_ms=float(p99),
            max_ms=float(ms.max()),
        )

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)
