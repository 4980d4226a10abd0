"""Linux hwmon power sensors: the INA219 family (ina2xx), the three-channel INA3221, and any chip with power/energy.

Units are the hwmon ABI's: voltage ``in*_input`` mV, current ``curr*_input`` mA, power ``power*_input``
uW, energy ``energy*_input`` uJ (INA3221: ``in[123]_input`` are bus voltages, ``in[456]_input`` shunt
voltages in uV, ``in7`` their sum; only the bus channels are rails).
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.power.rails.base import RailReading, read_number, read_text

HWMON = "sys/class/hwmon"
INA2XX = frozenset({"ina219", "ina220", "ina226", "ina230", "ina231", "ina233", "ina238"})
INA3221_CHANNELS = (1, 2, 3)


def read_hwmon(root: Path = Path("/"), total_rails: frozenset[str] = frozenset(),
               chips: frozenset[str] | None = None) -> list[RailReading]:
    """Every power rail under ``root``/sys/class/hwmon (of ``chips`` only, when given); rails named in
    ``total_rails`` are marked as the total."""
    readings: list[RailReading] = []
    base = root / HWMON
    for device in sorted(base.glob("hwmon*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0)):
        chip = read_text(device / "name") or ""
        if chips is not None and chip not in chips:
            continue
        if chip == "ina3221":
            readings += _ina3221(device)
        elif chip in INA2XX:
            readings += _ina2xx(device, chip)
        else:
            readings += _generic(device, chip)
    return [RailReading(r.rail, r.power_w, r.source, r.voltage_v, r.current_a, r.energy_j, r.rail in total_rails)
            for r in readings]


def _ina3221(device: Path) -> list[RailReading]:
    rails = []
    for c in INA3221_CHANNELS:
        volts, amps = device / f"in{c}_input", device / f"curr{c}_input"
        if not (volts.exists() and amps.exists()) or read_text(device / f"in{c}_enable") == "0":
            continue  # a channel with no shunt (or disabled in the device tree) has no rail
        label = read_text(device / f"in{c}_label") or f"{device.name}:ch{c}"
        mv, ma = read_number(volts), read_number(amps)
        rails.append(RailReading(label, mv * ma / 1e6,
                                 f"{device.name}/in{c}_input [mV] x curr{c}_input [mA] / 1e6 -> W",
                                 voltage_v=mv / 1e3, current_a=ma / 1e3))
    return rails


def _ina2xx(device: Path, chip: str) -> list[RailReading]:
    """One rail: ``power1_input`` (uW) as the chip computes it, with bus voltage (in1, mV) and current (curr1, mA)."""
    label = read_text(device / "label") or f"{chip}:{device.name}"
    mv = read_number(device / "in1_input") if (device / "in1_input").exists() else None
    ma = read_number(device / "curr1_input") if (device / "curr1_input").exists() else None
    volts, amps = (mv / 1e3 if mv is not None else None), (ma / 1e3 if ma is not None else None)
    if (device / "power1_input").exists():
        uw = read_number(device / "power1_input")
        return [RailReading(label, uw / 1e6, f"{device.name}/power1_input [uW] / 1e6 -> W", volts, amps)]
    if mv is not None and ma is not None:
        return [RailReading(label, mv * ma / 1e6, f"{device.name}/in1_input [mV] x curr1_input [mA] / 1e6 -> W",
                            volts, amps)]
    return []


def _generic(device: Path, chip: str) -> list[RailReading]:
    """Any other chip: each ``powerN_input`` (uW), with the matching ``energyN_input`` (uJ) counter if present."""
    rails = []
    for power in sorted(device.glob("power*_input")):
        n = power.name[len("power"):-len("_input")]
        label = read_text(device / f"power{n}_label") or f"{chip or device.name}:power{n}"
        energy = device / f"energy{n}_input"
        uj = read_number(energy) if energy.exists() else None
        source = f"{device.name}/{power.name} [uW] / 1e6 -> W" + \
            (f"; {energy.name} [uJ] / 1e6 -> J" if uj is not None else "")
        rails.append(RailReading(label, read_number(power) / 1e6, source,
                                 energy_j=uj / 1e6 if uj is not None else None))
    return rails
