"""Energy on a phone from its battery's fuel gauge (``/sys/class/power_supply/<supply>``), read over adb.

The files are read idle before the timed loop and while it runs, each read stamped with the host's
monotonic clock; ``harness.power.rails.android`` detects the driver's sign and unit convention and
turns each read into watts. Energy per inference = (mean active power - mean idle power) x the
loop's time per inference as ``benchmark_model`` timed it. Active reads are those that began while
the loop's process ran, at least ``SETTLE_S`` after it started and before it ended (its init and
warm-up included: a stated approximation, small when the loop is long). A gauge updates its
reading at its own pace (often 0.1-1 s), so the row names the sampling period and the reads used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.core.errors import MeasurementError
from harness.core.units import Duration, Energy, Power
from harness.power.integrate import EnergyMeasurement
from harness.power.monitor import ANDROID_BATTERY
from harness.power.rails.android import BatterySample, battery_snapshots, detect_convention

BATTERY_MONITOR = ANDROID_BATTERY
PERIOD_S = 0.1  # how often the files are read
IDLE_S = 1.0  # idle read before the loop
LOOP_MIN_S = 2.0  # the energy loop lasts at least this long (benchmark_model --min_secs)
SETTLE_S = 0.2  # reads this close to the loop's start or end are left out (process start-up, the gauge's lag)


def read_command(supply: str) -> str:
    base = f"/sys/class/power_supply/{supply}"
    return f"cat {base}/current_now {base}/voltage_now {base}/status"


def parse_read(time_s: float, text: str, source: str) -> BatterySample:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    try:
        return BatterySample(time_s, int(lines[0]), int(lines[1]), lines[2] if len(lines) > 2 else "Unknown")
    except (IndexError, ValueError):
        raise MeasurementError(f"{source}: expected current_now, voltage_now and status, got {text.strip()[:120]!r}",
                               hint="name the battery's power_supply with ?supply= (ls /sys/class/power_supply)") \
            from None


@dataclass(frozen=True)
class PhoneEnergy:
    measurement: EnergyMeasurement
    active_w: float
    idle_w: float
    convention: str
    n_idle: int
    n_active: int
    period_s: float

    def row_fields(self) -> dict[str, object]:
        return {"power_source": f"android power_supply ({self.convention})",
                "power_sampling_ms": round(self.period_s * 1e3, 3), "power_reads_idle": self.n_idle,
                "power_reads_active": self.n_active, "active_power_mw": self.active_w * 1e3}


def loop_energy(idle: Sequence[BatterySample], active: Sequence[BatterySample], per_inference_s: float,
                runs: int) -> PhoneEnergy:
    """(active - idle) x time for ``runs`` inferences of ``per_inference_s`` each."""
    if len(idle) < 2 or len(active) < 2:
        raise MeasurementError(f"the battery was read {len(idle)} time(s) idle and {len(active)} time(s) during the "
                               "loop; energy needs at least 2 of each",
                               hint="raise measure.runs so the loop lasts longer, or check the adb link's speed")
    samples = [*idle, *active]
    convention = detect_convention(samples)
    power = np.array([s.readings[0].power_w for s in battery_snapshots(samples, convention)])
    idle_w, active_w = float(power[:len(idle)].mean()), float(power[len(idle):].mean())
    if active_w <= idle_w:
        raise MeasurementError(f"the battery drew {active_w * 1e3:.1f} mW during the loop, not more than "
                               f"{idle_w * 1e3:.1f} mW idle: the model's share is below what the gauge resolves",
                               hint="raise measure.runs, let the phone settle (screen off, no charging), or use "
                                    "an external monitor on the battery")
    times = np.array([s.time_s for s in samples])
    period = float(np.median(np.diff(times))) if len(times) > 1 else float("nan")
    loop_s = per_inference_s * runs
    energy = EnergyMeasurement(Duration(loop_s), Energy((active_w - idle_w) * loop_s), runs, Power(idle_w))
    return PhoneEnergy(energy, active_w, idle_w, convention.describe, len(idle), len(active), period)
