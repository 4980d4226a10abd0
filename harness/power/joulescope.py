"""Joulescope JS110/JS220 driver via the ``joulescope`` package, with GPI0 sampled in line as the timestamp.

The DUT's timestamp pin goes to GPI0. With ``current_lsb = gpi0`` (JS110) or the JS220's in-line GPI
stream, ``StreamBuffer.samples_get(start, stop, fields=[...])`` returns GPI0 as the ``current_lsb`` signal
sample-aligned with current (joulescope 1.x ``v1/stream_buffer.py``), so a falling edge is placed on the
exact sample. ``convert_samples`` (pure) turns one ``samples_get`` result into a ``Block``.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import ConfigError, DataError, DeviceError, DeviceTimeout
from harness.power.monitor import Block, PowerMonitor, falling_edges, import_extra, register_monitor
from harness.registry.resources import MonitorSpec

JS220_MAX_HZ = 1_000_000


def convert_samples(data: Mapping[str, Any], origin: int, previous_gpi: int) -> tuple[Block, int, float]:
    """One ``samples_get`` result -> (Block, last GPI0 level, mean voltage).

    ``origin`` is the sample id of the acquisition's first sample; ``previous_gpi`` the GPI0 level of the
    sample before this block (1 at the start: the timestamp pin idles high and pulses low).
    """
    try:
        first, stop = (int(v) for v in data["time"]["sample_id_range"]["value"])
        rate = float(data["time"]["sampling_frequency"]["value"])
        signals = data["signals"]
        current = np.asarray(signals["current"]["value"], dtype=np.float32)
        gpi = np.asarray(signals["current_lsb"]["value"], dtype=np.uint8)
        voltage = np.asarray(signals["voltage"]["value"], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"Joulescope samples lack {exc}: expected samples_get(..., fields=['current', 'voltage', "
                        "'current_lsb']) output") from None
    n = stop - first
    if not len(current) == len(gpi) == len(voltage) == n:
        raise DataError(f"Joulescope block {first}..{stop} holds {len(current)} current, {len(voltage)} voltage and "
                        f"{len(gpi)} GPI samples; expected {n} of each")
    if n and not set(np.unique(gpi).tolist()) <= {0, 1}:
        raise DataError(f"Joulescope block {first}..{stop}: current_lsb holds values other than 0/1",
                        hint="set current_lsb to gpi0 so the LSB carries the timestamp input")
    edges = falling_edges(gpi, previous_gpi)
    last = int(gpi[-1]) if n else previous_gpi
    mean_v = float(voltage.mean(dtype=np.float64)) if n else float("nan")
    start = first - origin
    return Block(start, current, (start + edges) / rate), last, mean_v


class _Sink:
    """The stream-process object the joulescope driver calls on its USB thread with each new buffer range."""

    def __init__(self, out: queue.Queue[dict[str, Any] | None]) -> None:
        self.out = out
        self.next_id: int | None = None
        self.driver_active = True

    def stream_notify(self, stream_buffer: Any) -> bool:
        start, stop = stream_buffer.sample_id_range
        begin = start if self.next_id is None else max(self.next_id, start)  # start > next_id: samples lost
        if stop > begin:
            self.out.put(stream_buffer.samples_get(begin, stop, fields=["current", "voltage", "current_lsb"]))
            self.next_id = stop
        return False


@register_monitor
class JoulescopeMonitor(PowerMonitor):
    """``joulescope`` (the one attached) or ``joulescope:<serial number>``; needs the ``power`` extra."""

    kind = "joulescope"
    default_rate_hz = 1_000_000.0

    def __init__(self, spec: MonitorSpec, *, voltage_v: float | None = None, rate_hz: float | None = None,
                 log_path: Path | None = None, timeout_s: float = 2.0) -> None:
        super().__init__(spec, voltage_v=voltage_v, rate_hz=rate_hz, log_path=log_path)
        if not 0 < self.sample_rate_hz <= JS220_MAX_HZ:
            raise ConfigError(f"Joulescope rate {self.sample_rate_hz:g} Hz is outside (0, 1e6] Hz")
        self.timeout_s = timeout_s
        self._device: Any = None
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._origin: int | None = None
        self._gpi = 1
        self._volts: list[float] = []
        self._sink: _Sink | None = None

    def _open(self) -> None:
        joulescope = import_extra("joulescope", self.kind)
        devices = joulescope.scan(config="auto")
        if self.spec.url:
            devices = [d for d in devices if self.spec.url in str(d)]
        if len(devices) != 1:
            raise DeviceError(f"found {len(devices)} Joulescope(s) matching '{self.spec}', need exactly one",
                              hint="plug one in, or name it by serial number: joulescope:<serial>")
        self._device = devices[0]
        self._device.open()
        self._device.parameter_set("sampling_frequency", int(self.sample_rate_hz))
        self._device.parameter_set("i_range", "auto")
        self._device.parameter_set("current_lsb", "gpi0")

    def _begin(self) -> None:
        self._queue = queue.Queue()
        self._origin, self._gpi, self._volts = None, 1, []
        self._sink = _Sink(self._queue)
        self._device.stream_process_register(self._sink)
        self._device.start(stop_fn=lambda *_: self._queue.put(None))

    def _read(self) -> Block | None:
        try:
            data = self._queue.get(timeout=self.timeout_s)
        except queue.Empty:
            raise DeviceTimeout(f"the Joulescope sent no samples for {self.timeout_s:g} s") from None
        if data is None:
            return None
        if self._origin is None:
            self._origin = int(data["time"]["sample_id_range"]["value"][0])
        block, self._gpi, volts = convert_samples(data, self._origin, self._gpi)
        self._volts.append(volts)
        return block

    def _end(self) -> None:
        self._device.stop()  # calls stop_fn, which queues the end marker after the last block
        self._device.stream_process_unregister(self._sink)

    def _trace_voltage(self) -> float:
        if self.voltage_v is not None:
            return self.voltage_v
        measured = [v for v in self._volts if np.isfinite(v)]
        return float(np.mean(measured)) if measured else super()._trace_voltage()

    def _close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
