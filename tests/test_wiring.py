"""The simulated bench wiring: what a simulated DUT tells a simulated power monitor."""

from __future__ import annotations

import pytest

from harness.core.errors import DeviceError
from harness.power.wiring import WireEvent, WiringLog


def test_lines_carry_microseconds_and_milliwatts() -> None:
    assert WireEvent(0.0015, "P", 0.0123).to_line() == "1500 P 12.300000\n"
    assert WireEvent(2.0, "E").to_line() == "2000000 E\n"
    assert WireEvent.from_line("1500 P 12.300000\n") == WireEvent(0.0015, "P", 0.0123)
    assert WireEvent.from_line("2000000 E") == WireEvent(2.0, "E")


@pytest.mark.parametrize("line", ["", "12 X", "abc E", "12 P", "12 P many", "1 2 3 4"])
def test_a_malformed_line_names_itself(line: str) -> None:
    with pytest.raises(DeviceError, match="wiring line"):
        WireEvent.from_line(line)


def test_log_keeps_order_and_readers_keep_their_own_cursor() -> None:
    log = WiringLog()
    log.power(0.0, 0.001)
    log.edge(0.5)
    assert [e.kind for e in log.events()] == ["P", "E"]
    log.power(1.0, 0.002)
    assert log.events(since=2) == [WireEvent(1.0, "P", 0.002)]


def test_time_may_not_run_backwards() -> None:
    log = WiringLog()
    log.edge(1.0)
    with pytest.raises(DeviceError, match="earlier than the previous"):
        log.power(0.5, 0.001)
