"""What the enhanced interface board and an sww DUT print, and how the host reads it.

From mlcommons/tiny benchmark/interface/Application/CLI/InterfaceMenu.cpp and benchmark/runner/
(io_manager_enhanced.py, streaming_ww_utils.py): commands end with ``%``, every reply ends with an ``m-ready``
line, DUT lines passed through the board start with ``[dut]: ``. Detection timestamps are milliseconds of the
board's TIM2; duty-cycle edges are TIM2 ticks of 10 us.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAUD = 115200
END = "m-ready"
TERMINATOR = "%"
DUT_PREFIX = "[dut]: "
BOARD_NAME = "tinyML Enhanced Interface Board"
PLAY_OK = "succeeded."
DETECTIONS_HEADER = "Detection Timestamps (ms)"
DUTY_START_HEADER = "Duty cycle start times (s)"
DUTY_STOP_HEADER = "Duty cycle stop times (s)"
TICK_S = 10e-6  # TIM2 at 64 MHz with prescaler 640
DEBOUNCE_MS = 10  # the board ignores a detection pulse within 10 ms of the previous one
MAX_TIMESTAMPS = 10_000
IDLE_AT_STOP = "I2S is already idle"  # the reference DUT's reply to 'stop' when not streaming (sww_ref_util.c)
MAX_FRAMES = 100  # duty-cycle edges are kept for the first 100 frames only
NUMBERS_PER_LINE = 10


class WireFormatError(ValueError):
    """A reply does not have the shape the board prints."""


def passthrough_echo(command: str) -> str:
    return f"m-dut-passthrough({command})"


def dut_lines(lines: list[str]) -> list[str]:
    """The DUT's own lines in a ``dut <cmd>`` reply, without the board's prefix."""
    return [line[len(DUT_PREFIX):] for line in lines if line.startswith(DUT_PREFIX)]


def parse_detections(lines: list[str]) -> list[int]:
    """Timestamps (ms) of a ``print_detections`` reply: the header, one number per line, ``m-ready``."""
    if not lines or lines[0] != DETECTIONS_HEADER:
        raise WireFormatError(f"a detection list starts with '{DETECTIONS_HEADER}', got {lines[:1]}")
    body = lines[1:-1] if lines[-1] == END else lines[1:]
    try:
        return [int(line.strip().strip(",")) for line in body if line.strip()]
    except ValueError:
        raise WireFormatError(f"a detection timestamp is not an integer in {body[:5]}") from None


def _numbers(lines: list[str]) -> list[int]:
    try:
        return [int(v) for line in lines for v in line.replace(END, "").strip().split(",") if v.strip()]
    except ValueError:
        raise WireFormatError(f"a duty-cycle edge is not an integer in {lines[:3]}") from None


@dataclass(frozen=True)
class DutyCycle:
    """Processing-pin edges in seconds of TIM2, and what the runner derives from them."""

    start_s: np.ndarray
    stop_s: np.ndarray

    @property
    def processing_s(self) -> float:
        return float(np.mean(self.stop_s - self.start_s))

    @property
    def period_s(self) -> float:
        return float(np.mean(np.diff(self.start_s)))

    @property
    def duty_cycle(self) -> float:
        return self.processing_s / self.period_s

    @property
    def period_variation(self) -> float:
        """(max - min) / mean of the frame periods; the runner warns above 2 %."""
        periods = np.diff(self.start_s)
        return float((periods.max() - periods.min()) / periods.mean())

    @property
    def throughput_per_s(self) -> float:
        """1 / processing time: the sww performance metric."""
        return 1.0 / self.processing_s


def parse_dutycycle(lines: list[str]) -> DutyCycle:
    """A ``print_dutycycle`` reply: start header, comma-separated ticks, stop header, ticks, ``m-ready``."""
    if not lines or DUTY_START_HEADER not in lines[0]:
        raise WireFormatError(f"a duty-cycle reply starts with '{DUTY_START_HEADER}', got {lines[:1]}")
    split = next((i for i, line in enumerate(lines) if DUTY_STOP_HEADER in line), None)
    if split is None:
        raise WireFormatError(f"a duty-cycle reply has a '{DUTY_STOP_HEADER}' line")
    starts, stops = _numbers(lines[1:split]), _numbers(lines[split + 1:])
    if len(starts) != len(stops) or len(starts) < 2:
        raise WireFormatError(f"{len(starts)} start and {len(stops)} stop edges; need as many of each, at least 2")
    return DutyCycle(np.asarray(starts) * TICK_S, np.asarray(stops) * TICK_S)


def number_lines(values: list[int]) -> list[str]:
    """Ticks as the board prints them: comma-separated, a few per line."""
    return [",".join(str(v) for v in values[i:i + NUMBERS_PER_LINE]) + ","
            for i in range(0, len(values), NUMBERS_PER_LINE)]
