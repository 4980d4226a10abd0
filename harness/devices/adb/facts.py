"""A phone's facts from its own tools: ``getprop``, ``dumpsys thermalservice`` and ``dumpsys battery``.

Thermal status is Android's ``PowerManager.THERMAL_STATUS_*`` scale (0 none .. 6 shutdown); at
``severe`` and above the platform throttles hard and is about to shut down, so a measurement then
says nothing about the model. Battery temperature is in tenths of a degree Celsius.
"""

from __future__ import annotations

import re
from typing import Any

THERMAL_STATUS = ("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")
SEVERE = 3
PROPS = {
    "model": "ro.product.model",
    "manufacturer": "ro.product.manufacturer",
    "soc": "ro.soc.model",
    "soc_manufacturer": "ro.soc.manufacturer",
    "board_platform": "ro.board.platform",
    "hardware": "ro.hardware",
    "android_version": "ro.build.version.release",
    "sdk": "ro.build.version.sdk",
    "abi": "ro.product.cpu.abi",
    "build": "ro.build.fingerprint",
}
GETPROP_LINE = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$")
THERMAL_LINE = re.compile(r"^\s*Thermal Status:\s*(\d+)", re.MULTILINE)
BATTERY_FIELD = re.compile(r"^\s*([A-Za-z ]+):\s*(.+?)\s*$", re.MULTILINE)


def parse_getprop(text: str) -> dict[str, str]:
    """``getprop`` with no argument prints ``[key]: [value]`` per line."""
    props = {}
    for line in text.splitlines():
        if (m := GETPROP_LINE.match(line.strip())) is not None:
            props[m[1]] = m[2]
    return props


def device_facts(props: dict[str, str]) -> dict[str, Any]:
    """The properties the manifest records (empty strings for those a build does not set)."""
    return {name: props.get(key, "") for name, key in PROPS.items()}


def thermal_status(text: str) -> int | None:
    """The ``Thermal Status: N`` line of ``dumpsys thermalservice`` (None on builds without it)."""
    m = THERMAL_LINE.search(text)
    return int(m[1]) if m else None


def thermal_name(status: int | None) -> str:
    if status is None:
        return "unknown"
    return THERMAL_STATUS[status] if 0 <= status < len(THERMAL_STATUS) else f"status {status}"


def battery_state(text: str) -> dict[str, Any]:
    """Temperature (C), level (%), voltage (mV) and what powers the phone, from ``dumpsys battery``."""
    fields = {k.strip().lower(): v for k, v in BATTERY_FIELD.findall(text)}

    def number(key: str) -> int | None:
        value = fields.get(key, "")
        return int(value) if re.fullmatch(r"-?\d+", value) else None

    temperature = number("temperature")
    powered = [k.split()[0] for k in ("ac powered", "usb powered", "wireless powered") if fields.get(k) == "true"]
    return {"battery_temperature_c": temperature / 10 if temperature is not None else None,
            "battery_level_pct": number("level"), "battery_voltage_mv": number("voltage"),
            "powered_by": ",".join(powered) or "battery"}
