"""Android battery power from ``/sys/class/power_supply/<battery>/``: ``current_now`` and ``voltage_now``.

The kernel ABI says microamps and microvolts, negative current while discharging; vendors differ in
both sign and unit (some report mA and mV, some report discharge as positive). The convention is
detected from the readings taken while ``status`` is ``Discharging`` and stated with every reading.
Only a discharging battery measures what the phone draws: on USB power the charger supplies the load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.errors import MeasurementError
from harness.power.rails.base import RailReading, RailSnapshot, read_number, read_text

MILLI_CURRENT_BELOW = 10_000  # |current| under this is mA: a phone draws over 10 mA (10,000 uA) while it works
MILLI_VOLTAGE_BELOW = 100_000  # a Li-ion cell is 3-4.5 V: 3,000-4,500 in mV, 3,000,000-4,500,000 in uV


@dataclass(frozen=True)
class BatterySample:
    """One read of the battery's files, raw as the driver wrote them."""

    time_s: float
    current_now: int
    voltage_now: int
    status: str


@dataclass(frozen=True)
class Convention:
    """How this phone's driver reports: units and which sign means discharge, with the evidence."""

    current_scale_a: float  # multiply current_now by this for amps
    voltage_scale_v: float
    discharge_sign: int  # -1: negative while discharging (the kernel ABI); +1: positive while discharging
    evidence: str

    @property
    def describe(self) -> str:
        unit_i = "uA" if self.current_scale_a == 1e-6 else "mA"
        unit_v = "uV" if self.voltage_scale_v == 1e-6 else "mV"
        sign = "negative" if self.discharge_sign < 0 else "positive"
        return f"current_now in {unit_i}, voltage_now in {unit_v}, {sign} while discharging ({self.evidence})"


def read_battery(root: Path = Path("/"), supply: str = "battery", time_s: float = 0.0) -> BatterySample:
    base = root / "sys/class/power_supply" / supply
    return BatterySample(time_s, read_number(base / "current_now"), read_number(base / "voltage_now"),
                         read_text(base / "status") or "Unknown")


def detect_convention(samples: Sequence[BatterySample]) -> Convention:
    """Units from the magnitudes, sign from the readings taken while the battery discharged."""
    discharging = [s for s in samples if s.status == "Discharging"]
    if not discharging:
        statuses = sorted({s.status for s in samples})
        raise MeasurementError(f"the battery never reported Discharging (status: {', '.join(statuses) or 'none'}); "
                               "its current is then the charger's, not what the phone draws",
                               hint="unplug USB power (adb over Wi-Fi) or use an external monitor on the battery")
    currents = np.array([s.current_now for s in discharging], dtype=np.float64)
    voltages = np.array([s.voltage_now for s in discharging], dtype=np.float64)
    median_i = float(np.median(currents))
    if median_i == 0:
        raise MeasurementError("current_now reads 0 while discharging: this driver does not report current")
    i_scale = 1e-3 if abs(median_i) < MILLI_CURRENT_BELOW else 1e-6
    v_scale = 1e-3 if float(np.median(voltages)) < MILLI_VOLTAGE_BELOW else 1e-6
    sign = -1 if median_i < 0 else 1
    evidence = (f"median current_now {median_i:g} over {len(discharging)} discharging reads, "
                f"median voltage_now {float(np.median(voltages)):g}")
    return Convention(i_scale, v_scale, sign, evidence)


def battery_snapshots(samples: Sequence[BatterySample], convention: Convention | None = None) -> list[RailSnapshot]:
    """Battery power per sample (discharge current x voltage), each reading stating the convention used."""
    c = convention or detect_convention(samples)
    source = f"power_supply current_now x voltage_now: {c.describe}"
    snapshots = []
    for s in samples:
        amps = s.current_now * c.current_scale_a * c.discharge_sign  # positive = drawn from the battery
        volts = s.voltage_now * c.voltage_scale_v
        snapshots.append(RailSnapshot(s.time_s, (RailReading("battery", amps * volts, source, volts, amps,
                                                             total=True),)))
    return snapshots
