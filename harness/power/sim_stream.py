"""The simulated streaming power monitor: renders the simulated DUT's wiring into a sampled current trace.

The DUT reports, in its own simulated time, when its power draw changes and when its timestamp pin
falls (``harness.power.wiring``). ``WiringRenderer`` turns those facts into samples at a fixed rate
(idle floor, active plateaus, seeded relative noise, events on the first sample at or after each edge),
block by block so memory stays bounded at up to 1 MS/s. ``SimStreamMonitor`` reads the wiring in process
(a ``WiringLog``) or from a ``socket://`` wiring URL and serves the blocks behind the PowerMonitor interface.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np
import serial

from harness.core.errors import ConfigError, DeviceError, MeasurementError
from harness.power.monitor import Block, PowerMonitor, register_monitor
from harness.power.wiring import WireEvent, WiringLog
from harness.registry.resources import MonitorSpec

MAX_RATE_HZ = 1_000_000.0
BLOCK_SAMPLES = 65_536
MAX_SAMPLES = 1 << 30  # 18 min at 1 MS/s: beyond that a wiring gap is a bug, not a measurement
DEFAULT_VOLTAGE_V = 3.3  # the LPM01A's default supply; the DUT reports watts, so any voltage gives the same power
READ_BYTES = 1 << 20
_EPS_SAMPLES = 1e-6  # float slack when placing an event on the sample grid


class WiringRenderer:
    """Samples the power timeline the wiring describes; trace time 0 is ``lead_s`` before the first event.

    ``prime()`` takes what happened before the acquisition (only the power in force matters); ``feed()``
    takes events from then on; ``render()`` returns the next block of samples the events already
    determine; ``finish()`` closes the timeline ``tail_s`` after the last event.
    """

    def __init__(self, rate_hz: float, voltage_v: float, *, noise: float = 0.01, seed: int = 0,
                 lead_s: float = 0.01, tail_s: float = 0.01, block_samples: int = BLOCK_SAMPLES) -> None:
        self.rate_hz = rate_hz
        self.voltage_v = voltage_v
        self.noise = noise
        self.lead_s = lead_s
        self.tail_s = tail_s
        self.block_samples = block_samples
        self.origin_s: float | None = None
        self._rng = np.random.default_rng(seed)
        self._level_w = 0.0  # power in force at sample self._next
        self._primed = False
        self._changes: list[tuple[int, float]] = []  # (sample index, watts) not yet rendered
        self._edges: list[int] = []
        self._known = 0  # samples [0, _known) are determined by the events so far
        self._last_event = -1
        self._end: int | None = None
        self._next = 0

    @property
    def rendered(self) -> int:
        return self._next

    def prime(self, events: Iterable[WireEvent]) -> None:
        for e in events:
            if e.kind == "P":
                self._level_w, self._primed = e.watts, True

    def feed(self, events: Iterable[WireEvent]) -> None:
        for e in events:
            if self.origin_s is None:
                self.origin_s = e.t_s - (self.lead_s if self._primed else 0.0)
            index = int(np.ceil((e.t_s - self.origin_s) * self.rate_hz - _EPS_SAMPLES))
            if index < self._next:
                raise DeviceError(f"wiring event at {e.t_s:.6f} s arrived after its samples were rendered")
            if e.kind == "P":
                self._changes.append((index, e.watts))
            else:
                self._edges.append(index)
            self._known = self._last_event = max(self._last_event, index)
        if self._known > MAX_SAMPLES:
            raise MeasurementError(f"the simulated trace would hold {self._known} samples (> {MAX_SAMPLES})",
                                   hint="the DUT's simulated clock jumped; lower the monitor rate or check the DUT")

    def finish(self) -> None:
        self._end = self._last_event + 1 + int(round(self.tail_s * self.rate_hz)) if self._last_event >= 0 else 0

    def render(self) -> Block | None:
        """The next block of at most ``block_samples`` determined samples, or None when there are none yet."""
        limit = self._end if self._end is not None else self._known
        a = self._next
        b = min(limit, a + self.block_samples)
        if b <= a:
            return None
        starts, levels = [a], [self._level_w]
        while self._changes and self._changes[0][0] < b:
            index, watts = self._changes.pop(0)
            if index == starts[-1]:
                levels[-1] = watts
            else:
                starts.append(index)
                levels.append(watts)
        self._level_w = levels[-1]
        counts = np.diff(np.append(starts, b))
        current = np.repeat(np.asarray(levels, dtype=np.float32) / np.float32(self.voltage_v), counts)
        if self.noise:
            current *= 1.0 + np.float32(self.noise) * self._rng.standard_normal(b - a, dtype=np.float32)
        edges = [i for i in self._edges if i < b]
        self._edges = self._edges[len(edges):]
        self._next = b
        return Block(a, current, np.asarray(edges, dtype=np.float64) / self.rate_hz)


class WiringSource(Protocol):
    """Where wiring events come from: ``backlog()`` before the acquisition, ``poll()`` during it."""

    def backlog(self) -> list[WireEvent]: ...

    def poll(self, wait_s: float) -> list[WireEvent]: ...

    def close(self) -> None: ...


class LogSource:
    """Events from an in-process WiringLog, each reader with its own cursor."""

    def __init__(self, log: WiringLog) -> None:
        self._log = log
        self._cursor = 0

    def backlog(self) -> list[WireEvent]:
        return self.poll(0.0)

    def poll(self, wait_s: float) -> list[WireEvent]:
        events = self._log.events(self._cursor)
        self._cursor += len(events)
        if not events and wait_s:
            time.sleep(wait_s)
        return events

    def close(self) -> None:
        pass


class SocketSource:
    """Events as ``WireEvent`` text lines from a URL pyserial opens (``socket://host:port``, ``loop://``)."""

    def __init__(self, url: str, connect_wait_s: float = 2.0) -> None:
        try:
            self._port = serial.serial_for_url(url, timeout=connect_wait_s, do_not_open=True)
            # pyserial's open() flushes input that arrived meanwhile: here that is the DUT's announcement
            self._port.reset_input_buffer = lambda: None  # type: ignore[method-assign]
            self._port.open()
        except (serial.SerialException, ValueError) as exc:
            raise DeviceError(f"cannot open the wiring URL '{url}': {exc}",
                              hint="start the simulated DUT first and pass the wiring URL it printed") from None
        self.url = url
        self._closed = False
        self._port.timeout = connect_wait_s  # a simulated DUT announces its present draw on connect: wait for it
        self._buffer = self._port.read_until(b"\n")
        self._announced = self._lines(0.0)

    def _lines(self, wait_s: float) -> list[WireEvent]:
        if self._closed:
            if wait_s:
                time.sleep(wait_s)
            return []
        self._port.timeout = wait_s
        try:
            data = self._port.read(READ_BYTES)  # all that arrives within wait_s (at once when 0)
        except serial.SerialException:  # the DUT closed the wiring: nothing more will come
            data, self._closed = b"", True
        lines = (self._buffer + data).split(b"\n")
        self._buffer = lines.pop()
        return [WireEvent.from_line(line.decode("ascii", "replace")) for line in lines if line.strip()]

    def backlog(self) -> list[WireEvent]:
        events, self._announced = self._announced + self._lines(0.0), []
        return events

    def poll(self, wait_s: float) -> list[WireEvent]:
        return self._lines(wait_s)

    def close(self) -> None:
        self._port.close()


def open_source(url: str | None, wiring: WiringLog | None, owner: str) -> WiringSource:
    """The wiring named by exactly one of a URL or an in-process log."""
    if (url is None) == (wiring is None):
        raise ConfigError(f"the {owner} needs exactly one wiring: a socket:// URL ('sim:socket://127.0.0.1:PORT') "
                          "or wiring=WiringLog() in process",
                          hint="pass the simulated DUT's wiring_url, or its .wiring log")
    return LogSource(wiring) if wiring is not None else SocketSource(url)  # type: ignore[arg-type]


@register_monitor
class SimStreamMonitor(PowerMonitor):
    """The simulated monitor: ``sim`` with ``wiring=WiringLog`` in process, or ``sim:socket://...``."""

    kind = "sim"
    default_rate_hz = 100_000.0

    def __init__(self, spec: MonitorSpec, *, wiring: WiringLog | None = None, voltage_v: float | None = None,
                 rate_hz: float | None = None, log_path: Path | None = None, noise: float = 0.01, seed: int = 0,
                 lead_s: float = 0.01, tail_s: float = 0.01, poll_s: float = 0.005, settle_s: float = 0.05) -> None:
        super().__init__(spec, voltage_v=voltage_v or DEFAULT_VOLTAGE_V, rate_hz=rate_hz, log_path=log_path)
        if not 0 < self.sample_rate_hz <= MAX_RATE_HZ:
            raise ConfigError(f"simulated monitor rate {self.sample_rate_hz:g} Hz is outside (0, {MAX_RATE_HZ:g}] Hz")
        if noise < 0 or lead_s < 0 or tail_s < 0:
            raise ConfigError("simulated monitor noise, lead_s and tail_s must be >= 0")
        self._wiring, self._noise, self._seed = wiring, noise, seed
        self._lead_s, self._tail_s, self._poll_s, self._settle_s = lead_s, tail_s, poll_s, settle_s
        self._source: WiringSource | None = None
        self._renderer: WiringRenderer | None = None
        self._ending = threading.Event()
        self._finished = False

    def _open(self) -> None:
        self._source = open_source(self.spec.url, self._wiring, "simulated power monitor")

    def _begin(self) -> None:
        assert self._source is not None and self.voltage_v is not None
        self._renderer = WiringRenderer(self.sample_rate_hz, self.voltage_v, noise=self._noise, seed=self._seed,
                                        lead_s=self._lead_s, tail_s=self._tail_s)
        self._renderer.prime(self._source.backlog())
        self._ending.clear()
        self._finished = False

    def _read(self) -> Block | None:
        assert self._source is not None and self._renderer is not None
        if self._ending.is_set() and not self._finished:
            self._renderer.feed(self._source.poll(self._settle_s))  # what the DUT sent just before the stop
            self._renderer.finish()
            self._finished = True
        elif not self._finished:
            self._renderer.feed(self._source.poll(0.0))
        block = self._renderer.render()
        if block is not None:
            return block
        if self._finished:
            return None
        self._renderer.feed(self._source.poll(self._poll_s))
        return Block(self._renderer.rendered, np.empty(0, dtype=np.float32))

    def _end(self) -> None:
        self._ending.set()

    def _close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
