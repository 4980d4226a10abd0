"""Energy on a Linux board from its own power rails, sampled by the board runner around the timed loop.

A target names them as its power monitor: ``power_monitor: {model: board-rails, url: jetson}`` (the
INA3221's ``VDD_IN``, the module input) or ``url: "hwmon:<label>"`` (one labelled hwmon rail, e.g. an
INA219 on the supply). The runner sends the rail files raw; they are parsed here by
``harness.power.rails``, so the board needs no parser and the parsing is the tested one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import ConfigError, MeasurementError
from harness.core.units import Duration, Energy, Power
from harness.power.integrate import EnergyMeasurement
from harness.power.monitor import BOARD_RAILS
from harness.power.rails.base import RailReading, RailSnapshot, energy_j
from harness.power.rails.hwmon import read_hwmon
from harness.power.rails.jetson import read_jetson
from harness.registry.resources import MonitorSpec

PERIOD_MS = 5.0  # rail sampling period on the board
IDLE_MS = 300.0  # idle sampled before and after the timed loop
RAIL = "measured"


@dataclass(frozen=True)
class RailChoice:
    """Which rail is the board's power: Jetson's total, or one hwmon rail by label."""

    kind: str
    label: str | None = None

    @classmethod
    def parse(cls, spec: MonitorSpec, target: str) -> RailChoice:
        url = spec.url or ""
        if url == "jetson":
            return cls("jetson")
        if url.startswith("hwmon:") and url[len("hwmon:"):]:
            return cls("hwmon", url[len("hwmon:"):])
        raise ConfigError(f"target '{target}': power_monitor {BOARD_RAILS} url '{url}' names no rail",
                          hint="url: jetson (VDD_IN on the module) or 'hwmon:<label>' (a labelled hwmon rail)")

    def reading(self, root: Path) -> RailReading:
        if self.kind == "jetson":
            total = read_jetson(root).total
            if total is None:
                raise MeasurementError("the Jetson's rails have no VDD_IN (module input) to measure",
                                       hint="use url: 'hwmon:<label>' to name the rail")
            return total
        return RailSnapshot(0.0, tuple(read_hwmon(root))).rail(self.label or "")


def rail_snapshots(events: Sequence[dict[str, Any]], choice: RailChoice) -> list[RailSnapshot]:
    """Each ``rails`` event's files laid out as a sysfs tree and read by the rail parsers."""
    snapshots = []
    with tempfile.TemporaryDirectory(prefix="board-rails-") as tmp:
        for n, event in enumerate(e for e in events if e.get("event") == "rails"):
            root = Path(tmp) / str(n)
            for name, text in event["files"].items():
                if text is None:
                    continue
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text + "\n")
            reading = choice.reading(root)
            snapshots.append(RailSnapshot(event["t_ns"] / 1e9, (RailReading(RAIL, reading.power_w,
                                                                            reading.source),)))
    return snapshots


def window_energy(snapshots: Sequence[RailSnapshot], start_s: float, end_s: float, runs: int) -> EnergyMeasurement:
    """Energy between the loop's clock edges (power interpolated at the edges); idle = the mean outside."""
    times = np.array([s.time_s for s in snapshots])
    power = np.array([s.readings[0].power_w for s in snapshots])
    inside = (times > start_s) & (times < end_s)
    if not len(times) or times[0] > start_s or times[-1] < end_s or inside.sum() < 2:
        raise MeasurementError(f"the timed loop ({(end_s - start_s) * 1e3:.1f} ms) holds {int(inside.sum())} rail "
                               f"samples; energy needs the loop bracketed by samples and at least 2 inside",
                               hint=f"raise measure.runs so the loop lasts well over {PERIOD_MS:g} ms")
    edge = [RailSnapshot(t, (RailReading(RAIL, float(np.interp(t, times, power)), "interpolated"),))
            for t in (start_s, end_s)]
    window = [edge[0], *(s for s, keep in zip(snapshots, inside, strict=True) if keep), edge[1]]
    idle = power[~inside]
    return EnergyMeasurement(Duration(end_s - start_s), Energy(energy_j(window, RAIL)), runs,
                             Power(float(idle.mean())), start_s=start_s)
