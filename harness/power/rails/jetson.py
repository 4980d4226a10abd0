"""NVIDIA Jetson on-module rails: INA3221 channels with rail names, ``VDD_IN`` (the module's input) as the total.

JetPack 5/6 (L4T 34+) expose the mainline ``ina3221`` hwmon driver: ``in[123]_label`` names the rail,
``in[123]_input`` mV, ``curr[123]_input`` mA. JetPack 4 (L4T 32) has NVIDIA's ``ina3221x`` IIO driver:
``/sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:device<N>/rail_name_<c>`` with ``in_voltage<c>_input`` mV,
``in_current<c>_input`` mA and ``in_power<c>_input`` mW.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.errors import MeasurementError
from harness.power.rails.base import RailReading, RailSnapshot, read_number, read_text
from harness.power.rails.hwmon import read_hwmon

TOTAL_RAILS = frozenset({"VDD_IN", "POM_5V_IN", "5V_IN"})  # the module input on Orin/Xavier, Nano, Xavier NX docs
INA3221X = "sys/bus/i2c/drivers/ina3221x"


def read_jetson(root: Path = Path("/"), time_s: float = 0.0) -> RailSnapshot:
    """The rails of whichever driver the board has; a MeasurementError when it has neither."""
    rails = read_hwmon(root, TOTAL_RAILS, chips=frozenset({"ina3221"}))
    if not rails:
        rails = read_ina3221x(root)
    if not rails:
        raise MeasurementError(f"{root}: no Jetson power rails (no ina3221 hwmon device, no {INA3221X})",
                               hint="on a Jetson the INA3221 is on the module; other boards need an external monitor")
    return RailSnapshot(time_s, tuple(rails))


def read_ina3221x(root: Path) -> list[RailReading]:
    """JetPack 4: power as the driver reports it (mW), with voltage and current beside it."""
    rails = []
    for device in sorted((root / INA3221X).glob("*/iio:device*")):
        for name_file in sorted(device.glob("rail_name_*")):
            c = name_file.name.rsplit("_", 1)[1]
            power = device / f"in_power{c}_input"
            if not power.exists():
                continue
            label = read_text(name_file) or f"{device.parent.name}:ch{c}"
            voltage, current = device / f"in_voltage{c}_input", device / f"in_current{c}_input"
            where = f"{device.parent.name}/{device.name}"
            rails.append(RailReading(
                label, read_number(power) / 1e3, f"{where}/in_power{c}_input [mW] / 1e3 -> W",
                voltage_v=read_number(voltage) / 1e3 if voltage.exists() else None,
                current_a=read_number(current) / 1e3 if current.exists() else None,
                total=label in TOTAL_RAILS))
    return rails
