"""Byte-level pieces the simulated boards share: reply lines, command assembly, and C's ``atoi``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

READY = "m-ready"
_ATOI = re.compile(r"\s*([+-]?\d+)")


@dataclass(frozen=True)
class Reply:
    """One line a board prints, and the simulated world time at which it printed it."""

    text: str
    at_s: float

    def wire(self) -> bytes:
        return self.text.encode("latin-1") + b"\r\n"


class Endpoint(Protocol):
    """What a serial link serves: a board that boots, answers bytes with lines, and can be made to reset."""

    def boot(self) -> list[Reply]:
        """Power on: the banner."""

    def feed(self, data: bytes) -> list[Reply]:
        """Bytes from the host: the replies of every command they complete."""

    def crash(self, data: bytes) -> list[Reply]:
        """The DUT resets on receiving this command: what the host sees instead of the reply."""


class CommandBuffer:
    """Assembles ``%``-terminated commands as the reference UART callback does, keeping ``size`` characters."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._chars = bytearray()

    def push(self, data: bytes) -> list[str]:
        """The commands ``data`` completes, without their ``%``."""
        done: list[str] = []
        for byte in data:
            if byte == ord("%"):
                done.append(self._chars.decode("latin-1"))
                self._chars.clear()
            elif len(self._chars) < self.size:  # the reference clamps its write position: extra characters are lost
                self._chars.append(byte)
        return done

    def clear(self) -> None:
        self._chars.clear()


def atoi(text: str) -> int:
    """C ``atoi``: the leading integer of ``text``, 0 when there is none."""
    match = _ATOI.match(text)
    return int(match.group(1)) if match else 0
