"""Applies a FaultPlan to one simulated DUT's traffic and records every fault it injects.

Each fault has its own seeded stream with one draw per byte (drop, corrupt) or per command (delay,
noise), so the same traffic meets the same faults however the transport chunks it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from harness.core.seeding import seeded_rng
from harness.dut.sim.faults import FaultPlan

Action = Literal["handle", "reset", "swallow"]
log = logging.getLogger("harness.dut.sim")


@dataclass(frozen=True)
class FaultEvent:
    """One injected fault: its kind, the number of commands received when it struck, and what it did."""

    kind: str
    command: int
    detail: str


class FaultLog:
    """A thread-safe record of every injected fault."""

    def __init__(self) -> None:
        self._events: list[FaultEvent] = []
        self._lock = threading.Lock()

    def add(self, event: FaultEvent) -> None:
        with self._lock:
            self._events.append(event)

    def events(self, kind: str | None = None) -> list[FaultEvent]:
        with self._lock:
            return [e for e in self._events if kind is None or e.kind == kind]

    def count(self, kind: str) -> int:
        return len(self.events(kind))


class FaultInjector:
    """Applies a plan to one DUT's traffic: bytes each way, and a decision per command."""

    def __init__(self, plan: FaultPlan, log: FaultLog | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.plan = plan
        self.log = log or FaultLog()
        self.commands = 0
        self._clock = clock
        self._stall_until: float | None = None
        self._rng = {name: seeded_rng(plan.seed, "faults", name)
                     for name in ("drop_in", "drop_out", "corrupt_in", "corrupt_out", "delay", "noise")}
        self._offset = {"in": 0, "out": 0}

    def inbound(self, data: bytes) -> bytes:
        """Host-to-DUT bytes after drops and bit flips."""
        return self._bytes(data, "in")

    def outbound(self, data: bytes) -> bytes:
        """DUT-to-host bytes after drops and bit flips."""
        return self._bytes(data, "out")

    def _bytes(self, data: bytes, direction: str) -> bytes:
        drop_p, corrupt_p = getattr(self.plan, f"drop_{direction}"), getattr(self.plan, f"corrupt_{direction}")
        start = self._offset[direction]
        self._offset[direction] += len(data)
        if not (drop_p or corrupt_p) or not data:
            return data
        drop_u = self._rng[f"drop_{direction}"].random(len(data))
        corrupt_u = self._rng[f"corrupt_{direction}"].random(len(data))
        out = bytearray()
        for i, byte in enumerate(data):
            if drop_u[i] < drop_p:
                self._note(f"drop_{direction}", f"byte {start + i} (0x{byte:02x}) dropped")
                continue
            if corrupt_u[i] < corrupt_p:
                flipped = byte ^ (1 << int(corrupt_u[i] / corrupt_p * 8))  # the uniform below p also picks the bit
                self._note(f"corrupt_{direction}", f"byte {start + i} 0x{byte:02x} -> 0x{flipped:02x}")
                byte = flipped
            out.append(byte)
        return bytes(out)

    def on_command(self, command: str) -> Action:
        """Count a received command and say what the DUT does with it: handle it, reset, or swallow it."""
        self.commands += 1
        now = self._clock()
        if self._stall_until is not None and now < self._stall_until:
            self._note("stall", f"no answer to {command!r} (stalled)")
            return "swallow"
        if self.commands == self.plan.stall_at:
            self._stall_until = now + self.plan.stall_s
            self._note("stall", f"stalls for {self.plan.stall_s} s from {command!r}")
            return "swallow"
        if self.commands == self.plan.reset_at:
            self._note("reset", f"resets on {command!r}")
            return "reset"
        return "handle"

    def reply_delay_s(self) -> float:
        """Seconds to hold this command's reply (one draw per command)."""
        if self._rng["delay"].random() < self.plan.delay_p and self.plan.delay_s > 0:
            self._note("delay", f"reply held {self.plan.delay_s} s")
            return self.plan.delay_s
        return 0.0

    def noise_lines(self, timer_us: int) -> list[str]:
        """Debug lines printed after this command's ``m-ready`` (one draw per command)."""
        if self._rng["noise"].random() < self.plan.noise:
            line = f"[debug] t={timer_us} us heap ok"
            self._note("noise", line)
            return [line]
        return []

    def _note(self, kind: str, detail: str) -> None:
        self.log.add(FaultEvent(kind, self.commands, detail))
        log.warning("fault %s at command %d: %s", kind, self.commands, detail)
