"""Serves a simulated DUT on a serial transport, with optional UART pacing, fault injection and wiring stream.

The DUT answers on ``url`` (``socket://...`` or a ``/dev/pts/N`` path). Its power draw and timestamp
pin are recorded in ``wiring`` and streamed as ``WireEvent`` text lines to every reader of
``wiring_url``, which is how a simulated power monitor in another process sees the DUT.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from types import TracebackType

from harness.core.errors import ConfigError, DeviceError
from harness.dut.sim.faults import FaultPlan
from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.injector import FaultInjector, FaultLog
from harness.dut.sim.io_manager import IOManager
from harness.dut.sim.links import POLL_S, Link, Listener, SocketListener, open_listener
from harness.dut.sim.wire import Endpoint, Reply
from harness.dut.sim.wiring_stream import WiringStreamer
from harness.power.wiring import WiringLog

BITS_PER_BYTE = 10  # UART 8N1: start bit, 8 data bits, stop bit
log = logging.getLogger("harness.dut.sim")


class SimDutServer:
    """A simulated DUT (or IO manager + DUT) reachable through ``serial.serial_for_url(server.url)``."""

    def __init__(self, firmware: SimulatedFirmware, *, listen: str = "socket://127.0.0.1:0",
                 faults: FaultPlan | None = None, baud: int | None = None, io_manager: bool = False,
                 wiring_listen: str = "socket://127.0.0.1:0") -> None:
        if baud is not None and baud <= 0:
            raise ConfigError(f"baud must be a positive number of bits per second, got {baud}",
                              hint="e.g. 115200 (performance mode) or 9600 (energy mode behind an IO manager)")
        self.firmware = firmware
        self.endpoint: Endpoint = IOManager(firmware) if io_manager else firmware
        self.baud = baud
        self.plan = faults or FaultPlan()
        self.fault_log = FaultLog()
        self._injector = FaultInjector(self.plan, self.fault_log)
        self.wiring = WiringLog()
        self._listen, self._wiring_listen = listen, wiring_listen
        self._listener: Listener | None = None
        self._streamer: WiringStreamer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._hangup = threading.Event()  # tells the receiver that the serving side dropped its host
        self.url = ""
        self.wiring_url = ""

    # ---- lifecycle --------------------------------------------------------------------------------

    def start(self) -> SimDutServer:
        """Bind both ports, boot the DUT, and serve in the background.

        As with a board that booted before the host opened its port, the power-on banner reaches no host.
        """
        if self._listener is not None:
            raise DeviceError(f"SimDutServer.start() called twice; it is already serving on {self.url}")
        self._listener = open_listener(self._listen)
        try:
            self._streamer = WiringStreamer(self.wiring, _wiring_socket(self._wiring_listen))
        except ConfigError:
            self._listener.close()
            raise
        self.firmware.connect_wiring(self.wiring)
        self.firmware.connect_wiring(self._streamer)
        self.url, self.wiring_url = self._listener.url, self._streamer.url
        banner = self.endpoint.boot()  # printed before any host listens: only a reset fault's banner reaches one
        log.info("boot -> %s", " | ".join(r.text for r in banner))
        self._spawn(self._serve, "sim-dut")
        self._streamer.start()
        log.info("sim-dut %s serving on %s (wiring %s, baud %s, faults: %s)", self.firmware.name, self.url,
                 self.wiring_url, self.baud or "unpaced", self.plan.describe())
        return self

    def stop(self) -> None:
        """Stop serving; every blocking step polls the stop flag, so threads end within a poll interval."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self._listener is not None:
            self._listener.close()
        if self._streamer is not None:
            self._streamer.stop()

    def __enter__(self) -> SimDutServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _spawn(self, target: object, name: str, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)
        return thread

    # ---- serving ----------------------------------------------------------------------------------

    def _serve(self) -> None:
        """Serve hosts one after another; each gets a fresh byte pipeline, the DUT keeps its state."""
        assert self._listener is not None
        while not self._stop.is_set():
            link = self._listener.accept()
            if link is None:
                continue
            inbox: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
            receiver = self._spawn(self._receive, "sim-dut-rx", link, inbox)
            try:
                self._converse(link, inbox)
            except Exception:  # a bug must not silently kill the board: log it, drop this host, serve the next
                log.exception("sim-dut: dropping the connection after an internal error")
            finally:
                self._hangup.set()
                receiver.join(timeout=5)
                self._hangup.clear()
                link.close()

    def _converse(self, link: Link, inbox: queue.Queue[tuple[float, bytes] | None]) -> None:
        tx = _Pacer(self.baud)
        pending = bytearray()
        while not self._stop.is_set():
            try:
                item = inbox.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if item is None:
                return
            chunk_start, data = item
            for end in range(len(data)):
                pending.append(data[end])
                if data[end] != ord("%"):
                    continue
                if self.baud:  # handled only once its last byte has crossed the wire
                    _sleep_until(chunk_start + (end + 1) * BITS_PER_BYTE / self.baud, self._stop)
                out = self._command(bytes(pending))
                pending.clear()
                if out and not tx.send(link, self._injector.outbound(out), self._stop):
                    return

    def _receive(self, link: Link, inbox: queue.Queue[tuple[float, bytes] | None]) -> None:
        """Time-stamp arriving bytes as a UART would deliver them, then apply inbound faults."""
        wire_free = 0.0
        while not (self._stop.is_set() or self._hangup.is_set()):
            data = link.recv()
            if data is None:
                break
            if not data:
                continue
            start = max(time.monotonic(), wire_free)
            if self.baud:
                wire_free = start + len(data) * BITS_PER_BYTE / self.baud
            inbox.put((start, self._injector.inbound(data)))
        inbox.put(None)

    def _command(self, raw: bytes) -> bytes:
        """The bytes the host receives for one ``%``-terminated command."""
        text = raw[:-1].decode("latin-1")
        action = self._injector.on_command(text)
        if action == "swallow":
            return b""
        replies = self.endpoint.crash(raw) if action == "reset" else self.endpoint.feed(raw)
        log.info("%s -> %s", text, " | ".join(r.text for r in replies) if len(replies) < 4
                 else f"{replies[0].text} | ... {len(replies)} lines ... | {replies[-1].text}")
        delay = self._injector.reply_delay_s()
        if delay:
            self._stop.wait(delay)
        noise = self._injector.noise_lines(self.firmware.timer_us)
        return _wire(replies) + b"".join(line.encode() + b"\r\n" for line in noise)


class _Pacer:
    """Sends bytes no faster than a UART at ``baud`` would (unpaced without one)."""

    def __init__(self, baud: int | None) -> None:
        self.baud = baud
        self._free = 0.0
        self._chunk = max(1, (baud or 0) // BITS_PER_BYTE // 500)  # about 2 ms of bytes per write

    def send(self, link: Link, data: bytes, stop: threading.Event) -> bool:
        if not self.baud:
            return link.send(data)
        self._free = max(self._free, time.monotonic())
        for i in range(0, len(data), self._chunk):
            piece = data[i:i + self._chunk]
            self._free += len(piece) * BITS_PER_BYTE / self.baud
            _sleep_until(self._free, stop)  # a byte leaves only once it has been clocked out
            if stop.is_set() or not link.send(piece):
                return False
        return True


def _sleep_until(deadline: float, stop: threading.Event) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0:
        stop.wait(remaining)


def _wire(replies: list[Reply]) -> bytes:
    return b"".join(r.wire() for r in replies)


def _wiring_socket(listen: str) -> SocketListener:
    listener = open_listener(listen)
    if not isinstance(listener, SocketListener):
        listener.close()
        raise ConfigError(f"the wiring stream needs a socket, not '{listen}'", hint="valid: socket://HOST:PORT")
    return listener
