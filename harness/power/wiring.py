"""The wires between a simulated DUT and a simulated power monitor.

On a real bench the DUT draws current from the monitor and pulls a timestamp GPIO low that the
monitor samples. In simulation the DUT reports the same two facts, in its own simulated time:
its power draw changed (``power``), and the timestamp pin fell (``edge``). The monitor turns them
into a sampled current trace with events. In one process the DUT writes into a ``WiringLog``; across
processes the log travels as text lines, one fact per line::

    <t_us> P <milliwatts>     power draw from t_us on
    <t_us> E                  falling edge on the timestamp pin
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, Protocol

from harness.core.errors import DeviceError


class Wiring(Protocol):
    """What a simulated DUT drives: its supply current and its timestamp pin."""

    def power(self, t_s: float, watts: float) -> None: ...

    def edge(self, t_s: float) -> None: ...


@dataclass(frozen=True)
class WireEvent:
    t_s: float
    kind: Literal["P", "E"]
    watts: float = 0.0

    def to_line(self) -> str:
        t_us = round(self.t_s * 1e6)
        return f"{t_us} P {self.watts * 1e3:.6f}\n" if self.kind == "P" else f"{t_us} E\n"

    @classmethod
    def from_line(cls, line: str) -> WireEvent:
        parts = line.split()
        try:
            if len(parts) == 3 and parts[1] == "P":
                return cls(int(parts[0]) / 1e6, "P", float(parts[2]) / 1e3)
            if len(parts) == 2 and parts[1] == "E":
                return cls(int(parts[0]) / 1e6, "E")
        except ValueError:
            pass
        raise DeviceError(f"wiring line {line!r} is neither '<t_us> P <mW>' nor '<t_us> E'")


class WiringLog:
    """A thread-safe, in-order record of what the DUT drove; the simulated monitor reads it."""

    def __init__(self) -> None:
        self._events: list[WireEvent] = []
        self._lock = threading.Lock()

    def power(self, t_s: float, watts: float) -> None:
        self._append(WireEvent(t_s, "P", watts))

    def edge(self, t_s: float) -> None:
        self._append(WireEvent(t_s, "E"))

    def _append(self, event: WireEvent) -> None:
        with self._lock:
            if self._events and event.t_s < self._events[-1].t_s:
                raise DeviceError(
                    f"wiring event at {event.t_s:.6f} s is earlier than the previous one at "
                    f"{self._events[-1].t_s:.6f} s; simulated time must not run backwards"
                )
            self._events.append(event)

    def events(self, since: int = 0) -> list[WireEvent]:
        """Events from index ``since`` on (a reader keeps its own cursor)."""
        with self._lock:
            return self._events[since:]
