"""Streams a simulated DUT's wiring (power draw, timestamp edges) as text lines to readers on a TCP port.

Each reader first gets the events from the latest power change on (so it knows the present draw),
then every new event as it happens, one ``WireEvent.to_line()`` per line. A reader that waits for
its first line before it lets the host command the DUT misses no event.
"""

from __future__ import annotations

import threading

from harness.dut.sim.links import POLL_S, Link, SocketListener
from harness.power.wiring import WiringLog


class WiringStreamer:
    """A Wiring the firmware drives (it only wakes readers) plus the threads that serve ``log`` to them."""

    def __init__(self, log: WiringLog, listener: SocketListener) -> None:
        self.log = log
        self.url = listener.url
        self._listener = listener
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._links: list[Link] = []

    def power(self, t_s: float, watts: float) -> None:
        self._notify()

    def edge(self, t_s: float) -> None:
        self._notify()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def start(self) -> None:
        self._spawn(self._accept)

    def stop(self) -> None:
        self._stop.set()
        self._notify()
        self._listener.close()
        for link in self._links:
            link.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name="sim-dut-wiring", daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._stop.is_set():
            link = self._listener.accept()
            if link is not None:
                events = self.log.events()  # the cursor is taken at once, not when the reader's thread runs
                powers = [i for i, e in enumerate(events) if e.kind == "P"]
                self._links.append(link)
                self._spawn(self._feed, link, powers[-1] if powers else 0)

    def _feed(self, link: Link, cursor: int) -> None:
        while not self._stop.is_set():
            with self._changed:
                fresh = self.log.events(cursor)
                if not fresh:
                    self._changed.wait(POLL_S)
                    continue
            cursor += len(fresh)
            if not link.send("".join(e.to_line() for e in fresh).encode()):
                return
