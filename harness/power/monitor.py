"""The PowerMonitor interface, its ``kind:url`` spec, and the registry that opens a monitor by name.

Every monitor (LPM01A, Joulescope, PPK2, simulated) acquires in a background reader thread between
``start()`` and ``stop()``, hands out contiguous sample ``Block``s while it runs, and returns one
``Trace`` (current in amperes plus timestamp events in trace time) when stopped.
"""

from __future__ import annotations

import importlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, ClassVar

import numpy as np

from harness.core.errors import ConfigError, DeviceError, DeviceTimeout, HarnessError, MeasurementError
from harness.core.registry import Registry
from harness.power.trace import Trace
from harness.registry.resources import MonitorSpec

POWER_EXTRA = "pip install 'edge-harness[power]'"
BOARD_RAILS = "board-rails"          # a Linux board's own rails, read on the board by its device (devices/ssh)
ANDROID_BATTERY = "android-battery"  # a phone's battery gauge, read on the phone by its device (devices/adb)
ON_DEVICE_MONITORS = (BOARD_RAILS, ANDROID_BATTERY)  # no instrument of ours: the attached device reads them


def parse_monitor(text: str, voltage: float | None = None) -> MonitorSpec:
    """Parse ``"sim"``, ``"sim:socket://127.0.0.1:4012"``, ``"lpm01a:/dev/ttyACM0"``, ``"joulescope"``, ..."""
    kind, sep, url = text.strip().partition(":")
    kind = kind.strip().lower()
    if not kind or (sep and not url):
        raise ConfigError(f"power monitor '{text}' is not 'kind' or 'kind:url'",
                          hint=f"kinds: {', '.join(monitor_kinds())}; e.g. lpm01a:/dev/ttyACM0")
    if kind not in MONITORS and kind not in ON_DEVICE_MONITORS:
        raise ConfigError(f"unknown power monitor kind '{kind}' in '{text}'",
                          hint=f"valid: {', '.join(monitor_kinds() + list(ON_DEVICE_MONITORS))} (as kind or "
                               "kind:url; board-rails:jetson or board-rails:hwmon:LABEL on an SSH board, "
                               "android-battery on a phone)")
    return MonitorSpec(kind=kind, url=url or None, voltage=voltage)


@dataclass(frozen=True)
class Block:
    """Contiguous samples: ``current_a`` from sample index ``start`` on, and event times (s, trace time)."""

    start: int
    current_a: np.ndarray
    events_s: np.ndarray = field(default_factory=lambda: np.empty(0))

    def times(self, sample_rate_hz: float) -> np.ndarray:
        """Trace time (s) of each sample."""
        return (self.start + np.arange(len(self.current_a))) / sample_rate_hz

    @property
    def end(self) -> int:
        return self.start + len(self.current_a)


class MonitorState(str, Enum):
    idle = "idle"
    acquiring = "acquiring"


class PowerMonitor(ABC):
    """A power monitor. Drivers implement the ``_open/_begin/_read/_end/_close`` steps; lifecycle lives here.

    ``_read()`` runs on the reader thread: it returns the next ``Block`` (possibly empty, so the thread can
    notice a stop request), or ``None`` once the acquisition has ended after ``_end()``.
    """

    kind: ClassVar[str]
    default_rate_hz: ClassVar[float]
    stop_timeout_s: ClassVar[float] = 10.0

    def __init__(self, spec: MonitorSpec, *, voltage_v: float | None = None, rate_hz: float | None = None,
                 log_path: Path | None = None) -> None:
        self.spec = spec
        self.voltage_v = voltage_v
        self.sample_rate_hz = float(rate_hz or self.default_rate_hz)
        self.log_path = log_path
        self.state = MonitorState.idle
        self._blocks: list[Block] = []
        self._cond = threading.Condition()
        self._done = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._opened = False

    @property
    def name(self) -> str:
        return str(self.spec)

    def _require(self, call: str, state: MonitorState) -> None:
        if self.state is not state:
            raise DeviceError(f"{type(self).__name__}.{call}() called in state '{self.state.value}'; "
                              f"it needs {state.value}")

    def start(self) -> None:
        """Open the monitor if needed and begin acquiring in the background."""
        self._require("start", MonitorState.idle)
        if not self._opened:
            try:
                self._open()
            except BaseException:
                self._close()  # release what was opened before the failure
                raise
            self._opened = True
        self._blocks, self._done, self._error = [], False, None
        self._begin()
        self.state = MonitorState.acquiring
        self._thread = threading.Thread(target=self._reader, name=f"monitor-{self.kind}", daemon=True)
        self._thread.start()

    def stop(self) -> Trace:
        """End the acquisition and return every sample and event since ``start()`` as one Trace.

        A fault raises here, on the caller's thread; what arrived before it stays readable via ``trace()``.
        """
        self._require("stop", MonitorState.acquiring)
        try:
            self._end()
            assert self._thread is not None
            self._thread.join(self.stop_timeout_s)
            if self._thread.is_alive():
                raise DeviceTimeout(f"{self.name}: the acquisition did not end within {self.stop_timeout_s:.0f} s "
                                    "of the stop request", log_path=self.log_path)
            if self._error is not None:
                raise self._error
            self._after_stop()
            return self.trace()
        finally:
            self.state = MonitorState.idle

    def blocks(self, timeout_s: float | None = None) -> Iterator[Block]:
        """Every block of the current (or last) acquisition in order, as it arrives, until it ends."""
        i = 0
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda n=i: n < len(self._blocks) or self._done, timeout_s):
                    raise DeviceTimeout(f"{self.name}: no samples for {timeout_s} s", log_path=self.log_path)
                if i >= len(self._blocks):
                    if self._error is not None:
                        raise self._error
                    return
                block = self._blocks[i]
            i += 1
            yield block

    def events(self) -> np.ndarray:
        """Timestamp events (s, trace time) seen so far in the current (or last) acquisition."""
        with self._cond:
            blocks = list(self._blocks)
        return np.concatenate([np.empty(0)] + [np.asarray(b.events_s, dtype=np.float64) for b in blocks])

    def trace(self) -> Trace:
        """The blocks acquired so far as one Trace."""
        with self._cond:
            blocks = list(self._blocks)
        return assemble(blocks, self.sample_rate_hz, self._trace_voltage(), self.name, log_path=self.log_path)

    def close(self) -> None:
        if self.state is MonitorState.acquiring:
            try:
                self.stop()
            except HarnessError:
                pass
        if self._opened:
            self._close()
            self._opened = False

    def __enter__(self) -> PowerMonitor:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _reader(self) -> None:
        try:
            while True:
                block = self._read()
                if block is None:
                    break
                if len(block.current_a) or len(block.events_s):
                    with self._cond:
                        self._blocks.append(block)
                        self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - re-raised in stop() on the caller's thread
            self._error = exc if isinstance(exc, HarnessError) else DeviceError(
                f"{self.name}: the reader failed: {exc!r}", log_path=self.log_path)
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _trace_voltage(self) -> float:
        if self.voltage_v is None:
            raise ConfigError(f"{self.name}: no supply voltage to turn current into power",
                              hint="pass voltage_v= or set power_monitor.voltage in the target profile")
        return self.voltage_v

    @abstractmethod
    def _open(self) -> None:
        """Connect and configure the instrument."""

    @abstractmethod
    def _begin(self) -> None:
        """Start the acquisition (the reader thread starts right after)."""

    @abstractmethod
    def _read(self) -> Block | None:
        """The next block, an empty block if none is ready yet, or None once the acquisition ended."""

    @abstractmethod
    def _end(self) -> None:
        """Ask the instrument to stop; ``_read()`` then drains and returns None."""

    def _after_stop(self) -> None:  # noqa: B027 - optional hook
        """Tear-down after a clean end of acquisition (the reader thread has finished)."""

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Release the instrument."""


def assemble(blocks: Sequence[Block], rate_hz: float, voltage_v: float, monitor: str,
             log_path: Path | None = None) -> Trace:
    """Join contiguous blocks into a Trace starting at the first block's first sample.

    A gap or overlap in sample indices means the host lost samples: a MeasurementError, never a silent splice.
    """
    if not blocks:
        return Trace(np.empty(0, dtype=np.float32), rate_hz, voltage_v, np.empty(0), monitor)
    starts = np.array([b.start for b in blocks])
    ends = np.array([b.end for b in blocks])
    broken = np.flatnonzero(starts[1:] != ends[:-1])
    if broken.size:
        k = int(broken[0])
        raise MeasurementError(
            f"{monitor}: samples {ends[k]}..{starts[k + 1]} are missing (block {k + 1} ends at {ends[k]}, "
            f"block {k + 2} starts at {starts[k + 1]}); the host did not keep up with the instrument",
            hint="lower the sample rate or close other programs using the CPU/USB", log_path=log_path)
    current = np.concatenate([b.current_a for b in blocks]).astype(np.float32, copy=False)
    events = np.concatenate([np.asarray(b.events_s, dtype=np.float64) for b in blocks])
    return Trace(current, rate_hz, voltage_v, np.sort(events) - blocks[0].start / rate_hz, monitor)


def falling_edges(bits: np.ndarray, previous: int) -> np.ndarray:
    """Indices where a 0/1 signal falls from 1 to 0, ``previous`` being the sample before ``bits[0]``."""
    level = np.asarray(bits, dtype=np.int8)
    before = np.concatenate(([np.int8(previous)], level[:-1]))
    return np.flatnonzero((before == 1) & (level == 0))


def import_extra(module: str, kind: str) -> ModuleType:
    """Import an optional driver package, or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"the '{kind}' power monitor needs the Python package '{module}', which is not "
                          f"installed here ({exc})", hint=POWER_EXTRA) from None


# the drivers import their hardware packages lazily, so registering them costs nothing
MONITORS: Registry[type[PowerMonitor]] = Registry("power monitor", tuple(
    f"harness.power.{m}" for m in ("sim_stream", "lpm01a", "joulescope", "ppk2")))
register_monitor = MONITORS.register(lambda cls: cls.kind)  # class decorator


def monitor_kinds() -> list[str]:
    return MONITORS.names()


def open_monitor(spec: str | MonitorSpec, **options: Any) -> PowerMonitor:
    """The monitor ``spec`` names (a record, or ``"kind"`` / ``"kind:url"``), built with driver ``options``.

    Common options: ``voltage_v``, ``rate_hz``, ``log_path``; drivers add their own (``wiring=`` for the
    in-process simulated monitor, ``output=`` for the LPM01A, ``channel=`` for the PPK2, ...).
    """
    parsed = spec if isinstance(spec, MonitorSpec) else parse_monitor(spec)
    cls = MONITORS.get(parsed.kind)
    try:
        return cls(parsed, **options)
    except TypeError as exc:
        raise ConfigError(f"power monitor '{parsed}': {exc}", hint=f"see {cls.__module__}.{cls.__name__}") from None

