import numpy as np
import pytest

from harness.core.errors import MeasurementError
from harness.core.units import Duration, Power
from harness.power.integrate import energy_between, measure
from harness.power.sim import SimulatedPowerMonitor
from harness.power.trace import Trace


def test_energy_of_a_constant_trace_is_power_times_window() -> None:
    trace = Trace(np.full(1001, 0.01, dtype=np.float32), 1000.0, 3.3, np.array([0.1, 0.6]), "test")
    e = energy_between(trace, 0.1, 0.6)
    assert e.joules == pytest.approx(0.01 * 3.3 * 0.5, rel=1e-6)


def test_window_edges_between_samples_are_interpolated() -> None:
    # current ramps linearly: I(t) = t (A) at 1 V, so energy over [a, b] = (b^2 - a^2) / 2
    rate = 100.0
    t = np.arange(101) / rate
    trace = Trace(t.astype(np.float32), rate, 1.0, np.array([0.123, 0.789]), "test")
    e = energy_between(trace, 0.123, 0.789)
    # interpolating the running integral linearly errs by at most dI/dt * dt^2 / 8 per edge
    assert e.joules == pytest.approx((0.789**2 - 0.123**2) / 2, abs=2 * (1 / rate) ** 2 / 8)


def test_simulated_monitor_energy_per_inference_matches_the_active_power() -> None:
    mon = SimulatedPowerMonitor(voltage_v=1.8, rng=np.random.default_rng(1), noise=0.0)
    mon.hold(Duration(0.05), Power.from_mw(1.0))
    mon.event()
    mon.hold(Duration(0.5), Power.from_mw(40.0))
    mon.event()
    mon.hold(Duration(0.05), Power.from_mw(1.0))
    m = measure(mon.trace(), n_inferences=10)
    # 40 mW for 0.5 s = 20 mJ in the window, 2 mJ per inference; sampling the edges costs < 0.1 %
    assert m.per_inference.mj == pytest.approx(2.0, rel=1e-3)
    assert m.idle_power.mw == pytest.approx(1.0, rel=1e-2)


def test_trace_without_events_is_a_measurement_error() -> None:
    trace = Trace(np.ones(10, dtype=np.float32), 10.0, 1.0, np.array([]), "lpm01a")
    with pytest.raises(MeasurementError, match="timestamp"):
        measure(trace, 1)


def test_trace_round_trips_through_parquet(tmp_path) -> None:
    trace = Trace(np.arange(5, dtype=np.float32), 2000.0, 1.8, np.array([0.0005, 0.0015]), "sim")
    trace.to_parquet(tmp_path / "t.parquet")
    back = Trace.from_parquet(tmp_path / "t.parquet")
    assert np.array_equal(back.current_a, trace.current_a)
    assert back.sample_rate_hz == 2000.0 and back.voltage_v == 1.8 and back.monitor == "sim"
    assert np.array_equal(back.events_s, trace.events_s)
