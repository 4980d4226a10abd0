"""What the DUT driver talks about: where the DUT is, how to retry, the faults it recognises, and replies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from harness.core.errors import DeviceError
from harness.dut import protocol as p

M = TypeVar("M", bound=p.Message)

TIMER_WRAP = 2**32  # m-lap-us is a 32-bit unsigned microsecond counter on the MCU


@dataclass(frozen=True)
class RetryPolicy:
    """How often an operation is tried, and the pause before try ``k`` (``backoff_s * factor**k``)."""

    attempts: int = 4
    backoff_s: float = 0.05
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        return self.backoff_s * self.factor**attempt


class DutReplyError(DeviceError):
    """The DUT answered with an ``e-[...]`` line (``reason`` holds its text) or an incomplete reply."""

    reason = ""


class DeviceReset(DeviceError):
    """A boot banner arrived: the DUT restarted and lost its input buffer."""


class LinkLost(DeviceError):
    """The port or socket went away (USB re-enumeration, closed socket)."""


class CorruptReply(DeviceError):
    """A reply line that breaks the protocol's grammar, range or count: bytes were corrupted on the wire."""


class OutOfStep(DeviceError):
    """A reply that does not belong to the command sent (a late reply after a reset, a lost line)."""


@dataclass(frozen=True)
class Reply:
    """The understood lines of one exchange (noise dropped) and the protocol bytes it put on the wire."""

    command: str
    messages: tuple[p.Message, ...]
    wire_bytes: int

    def all(self, kind: type[M]) -> list[M]:
        return [m for m in self.messages if isinstance(m, kind)]

    def first(self, kind: type[M]) -> M | None:
        found = self.all(kind)
        return found[0] if found else None


@dataclass(frozen=True)
class DutInfo:
    name: str
    firmware: str | None
    model: str | None
    timestamp_mode: str | None


@dataclass(frozen=True)
class InferResult:
    n: int
    warmup: int
    laps_us: tuple[int, ...]
    scores: tuple[float, ...]

    @property
    def elapsed_us(self) -> int | None:
        """Device time of the timed loop from its two ``m-lap-us`` lines (None in energy mode, which prints none).

        The firmware's microsecond timer is a 32-bit unsigned long, so a window across its wrap is taken modulo 2**32.
        """
        return (self.laps_us[-1] - self.laps_us[0]) % TIMER_WRAP if len(self.laps_us) >= 2 else None


@dataclass(frozen=True)
class LoadStats:
    tensor_bytes: int
    wire_bytes: int
    seconds: float
    attempts: int
