"""Energy windows between timestamp events: exact values for hand-built piecewise traces."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.errors import MeasurementError
from harness.power.integrate import energy_between, energy_windows, measure
from harness.power.trace import Trace


def _steps(rate: float, seconds: float, idle_a: float, plateaus: list[tuple[float, float, float]]) -> np.ndarray:
    """Current samples: ``idle_a`` everywhere except [t0, t1) at the given level, on the sample grid."""
    n = int(round(seconds * rate)) + 1
    current = np.full(n, idle_a, dtype=np.float32)
    for t0, t1, level in plateaus:
        current[int(round(t0 * rate)):int(round(t1 * rate))] = level
    return current


def test_two_milliamps_at_1v8_for_half_a_second_is_1_8_millijoules() -> None:
    trace = Trace(np.full(2001, 2e-3, dtype=np.float32), 2000.0, 1.8, np.array([0.2, 0.7]), "test")
    (window,) = energy_windows(trace, [4])
    assert window.energy.mj == pytest.approx(1.8, rel=1e-6)  # 2 mA x 1.8 V x 0.5 s
    assert window.per_inference.mj == pytest.approx(0.45, rel=1e-6)
    assert window.window.seconds == pytest.approx(0.5)
    assert window.idle_power.mw == pytest.approx(3.6, rel=1e-6)  # the floor outside is the same 2 mA


def test_windows_pair_consecutive_events_and_divide_by_their_own_counts() -> None:
    # 1 kHz, 1 mA idle at 3.3 V; 10 mA on [0.2, 0.5) and 4 mA on [0.7, 0.8); events inside the plateaus
    current = _steps(1000.0, 1.0, 1e-3, [(0.2, 0.5, 10e-3), (0.7, 0.8, 4e-3)])
    trace = Trace(current, 1000.0, 3.3, np.array([0.75, 0.25, 0.45, 0.72]), "test")  # unsorted on purpose
    first, second = energy_windows(trace, [20, 3])
    # window 1 = [0.25, 0.45]: 10 mA x 3.3 V x 0.2 s = 6.6 mJ; window 2 = [0.72, 0.75]: 4 mA x 3.3 V x 0.03 s
    assert first.energy.mj == pytest.approx(6.6, rel=1e-6)
    assert first.per_inference.mj == pytest.approx(6.6 / 20, rel=1e-6)
    assert second.energy.mj == pytest.approx(0.396, rel=1e-6)
    assert second.per_inference.mj == pytest.approx(0.132, rel=1e-6)
    assert (first.start_s, second.start_s) == (pytest.approx(0.25), pytest.approx(0.72))


def test_a_window_across_a_step_counts_the_step_interval_as_a_trapezoid() -> None:
    # 1 mA until sample 99, 10 mA from sample 100 (t = 0.1 s), 1 V, 1 kHz; window [0.05, 0.15]
    current = _steps(1000.0, 0.3, 1e-3, [(0.1, 0.3, 10e-3)])
    trace = Trace(current, 1000.0, 1.0, np.array([0.05, 0.15]), "test")
    (window,) = energy_windows(trace, [1])
    # [0.050, 0.099] at 1 mA, the interval 0.099-0.100 at (1 + 10) / 2 mA, [0.100, 0.150] at 10 mA
    expected_j = 1e-3 * 0.049 + 5.5e-3 * 0.001 + 10e-3 * 0.05
    assert window.energy.joules == pytest.approx(expected_j, rel=1e-6)


def test_the_idle_floor_is_the_mean_of_the_samples_outside_every_window() -> None:
    # 2 mA idle, 20 mA inside both windows, 1.8 V; the samples at the edges belong to the windows
    current = _steps(1000.0, 1.0, 2e-3, [(0.2, 0.401, 20e-3), (0.6, 0.801, 20e-3)])
    trace = Trace(current, 1000.0, 1.8, np.array([0.2, 0.4, 0.6, 0.8]), "test")
    windows = energy_windows(trace, [1, 1])
    assert [w.idle_power.mw for w in windows] == pytest.approx([3.6, 3.6], rel=1e-6)  # 2 mA x 1.8 V, no 20 mA in it
    assert windows[0].energy.mj == pytest.approx(20e-3 * 1.8 * 0.2 * 1e3, rel=1e-6)


def test_a_window_that_covers_the_whole_trace_has_no_idle_floor() -> None:
    trace = Trace(np.full(11, 1e-3, dtype=np.float32), 10.0, 1.0, np.array([0.0, 1.0]), "test")
    (window,) = energy_windows(trace, [1])
    assert np.isnan(window.idle_power.watts)


@pytest.mark.parametrize("events, counts", [([], [1]), ([0.1, 0.2, 0.3], [1, 1]), ([0.1, 0.2, 0.3], [1])])
def test_missing_or_extra_events_are_a_measurement_error_that_points_at_the_wiring(events, counts) -> None:
    trace = Trace(np.ones(1001, dtype=np.float32), 1000.0, 1.0, np.array(events), "lpm01a:/dev/ttyACM0")
    with pytest.raises(MeasurementError, match=f"holds {len(events)} timestamp event") as info:
        energy_windows(trace, counts)
    assert "lpm01a:/dev/ttyACM0" in info.value.message
    assert "wired" in (info.value.hint or "")


@pytest.mark.parametrize("counts", [[], [0], [3, -1]])
def test_every_window_needs_at_least_one_inference(counts) -> None:
    trace = Trace(np.ones(1001, dtype=np.float32), 1000.0, 1.0, np.array([0.1, 0.2, 0.3, 0.4]), "test")
    with pytest.raises(MeasurementError, match="inference count"):
        energy_windows(trace, counts)


def test_an_event_beyond_the_trace_is_a_measurement_error() -> None:
    trace = Trace(np.ones(101, dtype=np.float32), 1000.0, 1.0, np.array([0.05, 0.2]), "test")
    with pytest.raises(MeasurementError, match="lies outside"):
        energy_windows(trace, [1])
    with pytest.raises(MeasurementError, match="lies outside"):
        energy_between(trace, 0.05, 0.2)


def test_measure_uses_the_first_two_events() -> None:
    current = _steps(1000.0, 1.0, 1e-3, [(0.1, 0.3, 5e-3)])
    trace = Trace(current, 1000.0, 2.0, np.array([0.15, 0.25, 0.5, 0.6]), "test")
    m = measure(trace, 10)
    assert m.energy.joules == pytest.approx(5e-3 * 2.0 * 0.1, rel=1e-6)
    assert m.per_inference.joules == pytest.approx(1e-4, rel=1e-6)


def test_a_long_1_ms_per_s_trace_integrates_without_float32_drift() -> None:
    # 20 s at 1 MS/s of 2^-10 A (exact in float32) at 1.8 V: window [1 s, 19 s] = 2^-10 x 1.8 x 18 J
    trace = Trace(np.full(20_000_001, 2.0**-10, dtype=np.float32), 1e6, 1.8, np.array([1.0, 19.0]), "test")
    (window,) = energy_windows(trace, [1000])
    assert window.energy.joules == pytest.approx(2.0**-10 * 1.8 * 18.0, rel=1e-12)
