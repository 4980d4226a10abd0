"""Raspberry Pi 5 PMIC rails from ``vcgencmd pmic_read_adc``: ``<RAIL>_A current(n)=<amps>A`` and
``<RAIL>_V volt(m)=<volts>V`` lines, paired by rail name (the ADC channel numbers of a rail's current and
voltage differ). A rail with only a voltage (``EXT5V_V``, the 5 V input; ``BATT_V``) has no power.

The board's total here is the sum of the PMIC's rails: what the SoC, memory and on-board supplies draw
after conversion. It leaves out the PMIC's own conversion losses and whatever USB and PoE take from 5 V,
so it is below the power at the supply.
"""

from __future__ import annotations

import math
import re

from harness.core.errors import DataError
from harness.power.rails.base import RailReading, RailSnapshot

LINE = re.compile(r"^\s*(?P<rail>\S+)_(?P<kind>[AV])\s+(?:current|volt)\(\d+\)="
                  r"(?P<value>[-+0-9.eE]+|nan)(?P<unit>[AV])\s*$")
TOTAL_SOURCE = "sum of the PMIC rails (excludes conversion losses and USB/PoE loads on 5 V)"


def parse_pmic_read_adc(text: str, time_s: float = 0.0) -> RailSnapshot:
    """Every rail with both a current and a voltage line, power = A x V; a DataError for unknown lines."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        m = LINE.match(line)
        if m is None or m["kind"] != m["unit"]:
            raise DataError(f"vcgencmd pmic_read_adc output, line {number}: {line.strip()!r} is not a PMIC reading",
                            hint="lines look like 'VDD_CORE_A current(7)=0.75012000A' or "
                                 "'VDD_CORE_V volt(15)=0.72178200V' (Raspberry Pi 5 firmware)")
        (amps if m["kind"] == "A" else volts)[m["rail"]] = float(m["value"])
    rails = tuple(RailReading(rail, amps[rail] * volts[rail],
                              f"pmic_read_adc {rail}_A [A] x {rail}_V [V] -> W",
                              voltage_v=volts[rail], current_a=amps[rail])
                  for rail in amps if rail in volts and math.isfinite(amps[rail] * volts[rail]))
    if not rails:
        raise DataError("vcgencmd pmic_read_adc output has no rail with both a current and a voltage",
                        hint="run it on a Raspberry Pi 5 ('Command not registered' means an older board)")
    return RailSnapshot(time_s, rails)


def pmic_total_w(snapshot: RailSnapshot) -> float:
    """The sum of the PMIC rails (see TOTAL_SOURCE for what it leaves out)."""
    return sum(r.power_w for r in snapshot.readings)
