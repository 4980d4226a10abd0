"""Rail readings, snapshots of them in time, and energy from a series of snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import DataError, MeasurementError


@dataclass(frozen=True)
class RailReading:
    """One rail at one moment: power in W (and voltage/current when the sensor gives them).

    ``source`` names the files or lines read and the unit conversion applied, e.g.
    ``hwmon3/in1_input [mV] x curr1_input [mA] / 1e6 -> W``. ``energy_j`` is a cumulative counter
    (hwmon ``energy*_input``) when the sensor keeps one.
    """

    rail: str
    power_w: float
    source: str
    voltage_v: float | None = None
    current_a: float | None = None
    energy_j: float | None = None
    total: bool = False  # this rail is the board's whole input (Jetson VDD_IN)


@dataclass(frozen=True)
class RailSnapshot:
    """Every rail read at ``time_s`` (the board's monotonic clock, seconds)."""

    time_s: float
    readings: tuple[RailReading, ...]

    def rail(self, name: str) -> RailReading:
        for r in self.readings:
            if r.rail == name:
                return r
        raise MeasurementError(f"no rail '{name}' at t={self.time_s:g} s (rails: "
                               f"{', '.join(r.rail for r in self.readings) or 'none'})")

    @property
    def total(self) -> RailReading | None:
        """The rail that is the board's whole input, if the board has one."""
        return next((r for r in self.readings if r.total), None)


def energy_j(snapshots: Sequence[RailSnapshot], rail: str) -> float:
    """Energy on ``rail`` over the snapshots: the counter's increase when it has one, else trapezoids of power."""
    if len(snapshots) < 2:
        raise MeasurementError(f"energy on rail '{rail}' needs at least two snapshots, got {len(snapshots)}")
    times = [s.time_s for s in snapshots]
    if any(b <= a for a, b in zip(times, times[1:], strict=False)):
        raise MeasurementError(f"rail '{rail}': snapshot times must increase, got {times}")
    readings = [s.rail(rail) for s in snapshots]
    if all(r.energy_j is not None for r in readings):
        first, last = readings[0].energy_j, readings[-1].energy_j
        assert first is not None and last is not None
        if last >= first:
            return last - first
        # a counter that went backwards wrapped or was reset: fall back to the power readings
    pairs = list(zip(snapshots, readings, strict=True))
    return sum((b.time_s - a.time_s) * (ra.power_w + rb.power_w) / 2
               for (a, ra), (b, rb) in zip(pairs, pairs[1:], strict=False))


def read_number(path: Path) -> int:
    """An integer sysfs attribute, or a DataError naming the file."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path}: '{text[:40]}' is not an integer", hint="a sysfs attribute holds one integer") \
            from None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
