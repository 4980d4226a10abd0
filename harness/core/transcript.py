"""A timestamped log of every byte sent to and line received from a DUT: the file device errors cite.

One line per event, flushed as written so a killed run keeps it::

    <seconds since open> > <bytes sent, escaped>
    <seconds since open> < <line received, escaped; a line without CR/LF is a partial one, its rest follows>
    <seconds since open> # <note: retry, reset, reconnect, timeout>
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType


def _escape(data: bytes) -> str:
    return data.decode("latin-1").encode("unicode_escape").decode("ascii")


class Transcript:
    """Appends to ``path`` (a resumed run continues the same file) and counts the bytes each way."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="ascii", buffering=1)
        self._t0 = time.perf_counter()
        self.bytes_sent = 0
        self.bytes_received = 0
        self._file.write(f"# transcript opened {datetime.now(timezone.utc).isoformat(timespec='milliseconds')}\n")

    def _write(self, kind: str, text: str) -> None:
        self._file.write(f"{time.perf_counter() - self._t0:.6f} {kind} {text}\n")

    def sent(self, data: bytes) -> None:
        self.bytes_sent += len(data)
        self._write(">", _escape(data))

    def received(self, data: bytes) -> None:
        """A received line, or the bytes of a line received so far (logged at a timeout or close, once)."""
        self.bytes_received += len(data)
        self._write("<", _escape(data))

    def note(self, text: str) -> None:
        self._write("#", text)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> Transcript:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
