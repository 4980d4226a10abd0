"""Nordic PPK2 driver via ``ppk2-api``, with one of its digital inputs (D0-D7) as the DUT timestamp.

The PPK2 streams 100 kS/s as little-endian 32-bit words: bits 0-13 ADC, 14-16 current range, 24-31 the
logic inputs D0-D7 (ppk2-api 0.9.2, ``PPK2_API._handle_raw_data``). ppk2-api drives the device (metadata,
source voltage, start/stop, raw reads); ``Ppk2Decoder`` decodes the words vectorised with the same
calibration formula as ``PPK2_API.get_adc_result``, because ppk2-api's own decoder runs per sample in
Python. Its spike filter (a rolling average for a few samples after a range switch) is not applied.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.core.errors import ConfigError, DataError, DeviceError, DeviceTimeout
from harness.power.monitor import Block, PowerMonitor, falling_edges, import_extra, register_monitor
from harness.registry.resources import MonitorSpec

RATE_HZ = 100_000
ADC_MULT = 1.8 / 163_840  # volts per ADC step x 4 (ppk2-api's adc_mult)
RANGES = 5
VDD_RANGE_MV = (800, 5000)
SETTLE_S = 0.1  # after AVERAGE_STOP, samples still in flight arrive within this
# ppk2-api's modifiers before the device's metadata is read (uncalibrated), per current range 0..4
DEFAULT_MODIFIERS: dict[str, dict[str, float]] = {
    "R": {"0": 1031.64, "1": 101.65, "2": 10.15, "3": 0.94, "4": 0.043},
    "GS": {str(r): 1.0 for r in range(RANGES)}, "GI": {str(r): 1.0 for r in range(RANGES)},
    "O": {str(r): 0.0 for r in range(RANGES)}, "S": {str(r): 0.0 for r in range(RANGES)},
    "I": {str(r): 0.0 for r in range(RANGES)}, "UG": {str(r): 1.0 for r in range(RANGES)},
}


@dataclass(frozen=True)
class Ppk2Calibration:
    """Per-range calibration (the device metadata ppk2-api keeps in ``PPK2_API.modifiers``) and VDD."""

    r: np.ndarray
    gs: np.ndarray
    gi: np.ndarray
    o: np.ndarray
    s: np.ndarray
    i: np.ndarray
    ug: np.ndarray
    vdd_mv: float

    @classmethod
    def from_modifiers(cls, modifiers: Mapping[str, Any], vdd_mv: float) -> Ppk2Calibration:
        def row(key: str) -> np.ndarray:
            try:
                return np.array([float(modifiers[key][str(r)]) for r in range(RANGES)])
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"PPK2 calibration lacks {key}0..{key}{RANGES - 1} ({exc})") from None

        return cls(row("R"), row("GS"), row("GI"), row("O"), row("S"), row("I"), row("UG"), float(vdd_mv))


def decode_words(raw: bytes, cal: Ppk2Calibration) -> tuple[np.ndarray, np.ndarray]:
    """Whole 4-byte words -> (current in A, logic byte D0-D7 per sample)."""
    words = np.frombuffer(raw, dtype="<u4")
    rng = np.minimum((words >> 14) & 0x7, RANGES - 1)
    adc = ((words & 0x3FFF) * 4).astype(np.float64)
    logic = ((words >> 24) & 0xFF).astype(np.uint8)
    x = (adc - cal.o[rng]) * (ADC_MULT / cal.r[rng])
    amps = cal.ug[rng] * (x * (cal.gs[rng] * x + cal.gi[rng]) + (cal.s[rng] * (cal.vdd_mv / 1000) + cal.i[rng]))
    return amps.astype(np.float32), logic


class Ppk2Decoder:
    """Stateful decoding of the byte stream: keeps a partial word and the channel's last level between reads."""

    def __init__(self, cal: Ppk2Calibration, channel: int = 0) -> None:
        if not 0 <= channel <= 7:
            raise ConfigError(f"PPK2 digital channel D{channel} does not exist", hint="valid: 0..7 (D0-D7)")
        self.cal = cal
        self.channel = channel
        self.samples = 0
        self._rest = b""
        self._level = 1  # the timestamp pin idles high and pulses low

    def feed(self, data: bytes) -> Block:
        data = self._rest + data
        whole = len(data) - len(data) % 4
        self._rest = data[whole:]
        current, logic = decode_words(data[:whole], self.cal)
        bit = (logic >> self.channel) & 1
        edges = falling_edges(bit, self._level)
        if len(bit):
            self._level = int(bit[-1])
        block = Block(self.samples, current, (self.samples + edges) / RATE_HZ)
        self.samples += len(current)
        return block


@register_monitor
class Ppk2Monitor(PowerMonitor):
    """``ppk2:/dev/ttyACM1``; source mode supplies ``voltage_v`` to the DUT, ampere mode measures in line."""

    kind = "ppk2"
    default_rate_hz = float(RATE_HZ)

    def __init__(self, spec: MonitorSpec, *, voltage_v: float | None = None, rate_hz: float | None = None,
                 log_path: Path | None = None, channel: int = 0, mode: Literal["source", "ampere"] = "source",
                 timeout_s: float = 2.0) -> None:
        super().__init__(spec, voltage_v=voltage_v, rate_hz=rate_hz, log_path=log_path)
        if not spec.url:
            raise ConfigError("the PPK2 monitor needs its port: ppk2:/dev/ttyACM1 (or COMn)")
        if self.sample_rate_hz != RATE_HZ:
            raise ConfigError(f"the PPK2 streams {RATE_HZ} S/s only, not {self.sample_rate_hz:g}")
        if voltage_v is None or not VDD_RANGE_MV[0] <= voltage_v * 1000 <= VDD_RANGE_MV[1]:
            raise ConfigError(f"the PPK2 needs voltage_v within 0.8-5.0 V (got {voltage_v})",
                              hint="set power_monitor.voltage in the target profile")
        if mode not in ("source", "ampere"):
            raise ConfigError(f"PPK2 mode '{mode}' is not 'source' or 'ampere'")
        self.channel, self.mode, self.timeout_s = channel, mode, timeout_s
        self._decoder = Ppk2Decoder(Ppk2Calibration.from_modifiers(DEFAULT_MODIFIERS, voltage_v * 1000), channel)
        self._ppk: Any = None
        self._ending = False
        self._last_data = 0.0

    def _open(self) -> None:
        api = import_extra("ppk2_api.ppk2_api", self.kind)
        try:
            self._ppk = api.PPK2_API(self.spec.url, timeout=1, write_timeout=1, exclusive=True)
        except Exception as exc:  # noqa: BLE001 - pyserial raises several types for a bad port
            raise DeviceError(f"cannot open the PPK2 at '{self.spec.url}': {exc}") from None
        if not self._ppk.get_modifiers():
            raise DeviceError(f"the device at '{self.spec.url}' sent no PPK2 metadata",
                              hint="is it a PPK2 (harness devices lists ports with their VID:PID)?")
        mv = round(self.voltage_v * 1000)  # type: ignore[operator]
        (self._ppk.use_source_meter if self.mode == "source" else self._ppk.use_ampere_meter)()
        self._ppk.set_source_voltage(mv)
        self._decoder = Ppk2Decoder(Ppk2Calibration.from_modifiers(self._ppk.modifiers, mv), self.channel)

    def _begin(self) -> None:
        self._decoder = Ppk2Decoder(self._decoder.cal, self.channel)
        self._ending = False
        if self.mode == "source":
            self._ppk.toggle_DUT_power("ON")
        self._ppk.start_measuring()
        self._last_data = time.monotonic()

    def _read(self) -> Block | None:
        data = self._ppk.get_data()
        if data:
            self._last_data = time.monotonic()
            return self._decoder.feed(data)
        quiet = time.monotonic() - self._last_data
        if self._ending and quiet > SETTLE_S:  # what was in flight at the stop request has arrived
            return None
        if quiet > self.timeout_s:
            raise DeviceTimeout(f"the PPK2 at {self.spec.url} sent no samples for {self.timeout_s:g} s")
        time.sleep(0.005)
        return Block(self._decoder.samples, np.empty(0, dtype=np.float32))

    def _end(self) -> None:
        self._ppk.stop_measuring()
        self._ending = True

    def _close(self) -> None:
        if self._ppk is not None:
            if self.mode == "source":
                self._ppk.toggle_DUT_power("OFF")
            self._ppk.ser.close()
            self._ppk = None
