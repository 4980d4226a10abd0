"""Invoke timing loop and latency summaries."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pymicro_wakeword
import pytest

from harness.core.errors import ConfigError, MeasurementError
from harness.runtimes import RuntimeOptions, Session, get_runtime
from harness.runtimes.latency import LatencyDistribution, time_invokes

OKAY_NABU = Path(pymicro_wakeword.__file__).parent / "models" / "okay_nabu.tflite"


class CountingSession(Session):
    """Busy-waits ``busy_ns`` per run and counts calls."""

    runtime_name = "fake"
    inputs: list = []
    outputs: list = []

    def __init__(self, busy_ns: int = 0) -> None:
        self.busy_ns = busy_ns
        self.calls = 0
        self.seen: list[Sequence[np.ndarray]] = []

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.calls += 1
        self.seen.append(inputs)
        end = time.perf_counter_ns() + self.busy_ns
        while time.perf_counter_ns() < end:
            pass
        return []

    def reset(self) -> None:
        self.calls = 0


# --- LatencyDistribution --------------------------------------------------------------------------------


def test_distribution_of_five_samples_by_hand():
    # 1, 2, 3, 4, 10 ms. mean 20/5 = 4; squared deviations 9+4+1+0+36 = 50, / (5-1) -> std sqrt(12.5).
    # linear percentile at q: rank q/100 * (n-1) = q/25; p50 -> rank 2 -> 3;
    # p90 -> rank 3.6 -> 4 + 0.6 * (10-4) = 7.6; p99 -> rank 3.96 -> 4 + 0.96 * 6 = 9.76.
    d = LatencyDistribution.from_ns(np.array([3_000_000, 1_000_000, 10_000_000, 4_000_000, 2_000_000]))
    assert d.n == 5
    assert d.mean_ms == pytest.approx(4.0, rel=1e-12)
    assert d.std_ms == pytest.approx(math.sqrt(12.5), rel=1e-12)
    assert (d.min_ms, d.max_ms) == (1.0, 10.0)
    assert d.p50_ms == pytest.approx(3.0, rel=1e-12)
    assert d.p90_ms == pytest.approx(7.6, rel=1e-12)
    assert d.p99_ms == pytest.approx(9.76, rel=1e-12)


def test_distribution_of_four_samples_by_hand():
    # 0.05, 0.06, 0.07, 0.2 ms (microWakeWord-sized). ranks: p50 1.5, p90 2.7, p99 2.97.
    # p50 = 0.06 + 0.5 * 0.01 = 0.065; p90 = 0.07 + 0.7 * 0.13 = 0.161; p99 = 0.07 + 0.97 * 0.13 = 0.1961.
    # mean = 0.38 / 4 = 0.095; deviations -0.045 -0.035 -0.025 0.105 -> squares sum 0.0149, / 3.
    d = LatencyDistribution.from_ns([50_000, 60_000, 70_000, 200_000])
    assert d.as_dict() == pytest.approx({
        "n": 4, "mean_ms": 0.095, "std_ms": math.sqrt(0.0149 / 3), "min_ms": 0.05,
        "p50_ms": 0.065, "p90_ms": 0.161, "p99_ms": 0.1961, "max_ms": 0.2,
    }, rel=1e-12)


def test_distribution_of_one_sample():
    d = LatencyDistribution.from_ns([123_456])
    assert d.as_dict() == {"n": 1, "mean_ms": 0.123456, "std_ms": 0.0, "min_ms": 0.123456,
                           "p50_ms": 0.123456, "p90_ms": 0.123456, "p99_ms": 0.123456, "max_ms": 0.123456}


def test_distribution_is_frozen_and_keyed_in_field_order():
    d = LatencyDistribution.from_ns([1, 2, 3])
    assert list(d.as_dict()) == ["n", "mean_ms", "std_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms"]
    with pytest.raises(AttributeError):
        d.n = 5  # type: ignore[misc]


@pytest.mark.parametrize("bad", [[], [1, -2], [1.0, float("nan")]])
def test_bad_samples_are_measurement_errors(bad):
    with pytest.raises(MeasurementError):
        LatencyDistribution.from_ns(bad)


# --- time_invokes -------------------------------------------------------------------------------------


def test_time_invokes_counts_warmup_and_runs():
    session = CountingSession(busy_ns=200_000)
    inputs = [np.zeros(3, dtype=np.int8)]
    samples = time_invokes(session, inputs, warmup=3, runs=5)
    assert session.calls == 8
    assert all(seen is inputs for seen in session.seen)
    assert samples.dtype == np.int64 and samples.shape == (5,)
    assert samples.min() >= 200_000
    assert samples.max() < 1_000_000_000


@pytest.mark.parametrize(("warmup", "runs"), [(-1, 5), (0, 0)])
def test_time_invokes_rejects_bad_counts(warmup, runs):
    with pytest.raises(ConfigError):
        time_invokes(CountingSession(), [], warmup=warmup, runs=runs)


def test_time_invokes_on_okay_nabu():
    session = get_runtime("litert").load(OKAY_NABU, RuntimeOptions())
    x = np.zeros((1, 3, 40), dtype=np.int8)
    session.check_inputs([x])
    d = LatencyDistribution.from_ns(time_invokes(session, [x], warmup=50, runs=500))
    print(f"okay_nabu litert: {d}")
    assert d.n == 500
    assert 0.001 < d.p50_ms < 10.0
    assert d.min_ms <= d.p50_ms <= d.p90_ms <= d.p99_ms <= d.max_ms
