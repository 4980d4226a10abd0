"""A simulated LPM01A on a TCP socket: the PowerShield command set, and an ``ascii_dec`` stream from the wiring.

It lets the real driver (``harness.power.lpm01a``) run end to end over real bytes: ``lpm01a:socket://...``.
Commands are validated as the board's help text describes (ranges, frequency lists, the ascii_dec limits);
samples are rendered from a simulated DUT's wiring by the same ``WiringRenderer`` the simulated monitor uses.
"""

from __future__ import annotations

import re
import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.core.errors import ConfigError
from harness.power.lpm01a import (
    ACQUISITION_COMPLETED,
    ASCII_MAX_HZ,
    ASCII_UNBOUNDED_MAX_HZ,
    FREQUENCIES_HZ,
    VOLT_RANGE_MV,
    format_ascii_dec,
    freq_token,
)
from harness.power.sim_stream import WiringRenderer, WiringSource, open_source
from harness.power.wiring import WiringLog

_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)(?:([umk])|([-+]\d{1,2}))?$")
_SCALE = {"u": 1e-6, "m": 1e-3, "k": 1e3, None: 1.0}
_FREQ_BY_TOKEN = {freq_token(f): f for f in FREQUENCIES_HZ}
FIRMWARE_WITH_EVENTS = (1, 0, 6)


class Refused(Exception):
    """A command the board answers with ``error``; the message is the ``Error detail``."""


def parse_number(text: str) -> float:
    """PowerShield numbers: ``1800m``, ``2-3`` (2 x 10^-3), ``5``."""
    m = _NUMBER.match(text)
    if not m:
        raise Refused(f"invalid numerical value '{text}'")
    value = float(m[1]) * _SCALE[m[2]]
    return value * 10.0 ** int(m[3]) if m[3] else value


@dataclass
class Lpm01aFirmware:
    """The board's command handling, one ``handle(line)`` per command line; the server does the streaming."""

    version: str = "1.0.6"
    host_control: bool = False
    powered: bool = False
    acqtime_s: float = 10.0  # 0 = unlimited
    trigsrc: str = "sw"
    eventsrc: str | None = None
    output: str = "current"
    format: str = "ascii_dec"
    freq_hz: int = 100
    volt_v: float = 3.3
    handlers: dict[str, Callable[[list[str]], str | None]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.handlers = {"htc": self._htc, "hrc": self._hrc, "pwr": self._pwr, "acqtime": self._acqtime,
                         "trigsrc": self._trigsrc, "trigdelay": self._trigdelay, "output": self._output,
                         "format": self._format, "freq": self._freq, "volt": self._volt, "start": self._start,
                         "version": lambda _: self.version, "powershield": lambda _: "PowerShield present SIM0001",
                         "status": lambda _: "ok", "lcd": lambda _: None}
        if tuple(int(p) for p in self.version.split(".")) >= FIRMWARE_WITH_EVENTS:
            self.handlers["eventsrc"] = self._eventsrc

    def handle(self, line: str) -> list[str]:
        """Reply lines for one command: ``ack <cmd> [output]`` or ``error <cmd>`` + ``Error detail: ...``."""
        words = line.split()
        if not words:
            return []
        handler = self.handlers.get(words[0])
        try:
            if handler is None:
                raise Refused(f"unknown command '{words[0]}'")
            if words[0] not in ("htc", "powershield", "version", "status") and not self.host_control:
                raise Refused("board in standalone mode: send 'htc' first")
            out = handler(words[1:])
        except Refused as exc:
            return [f"error {line}", f"Error detail: {exc}"]
        return [f"ack {line}" + (f" {out}" if out else "")]

    def _arg(self, args: list[str], choices: tuple[str, ...], name: str) -> str:
        if not args or args[0] not in choices:
            raise Refused(f"{name}: expected one of {', '.join(choices)}")
        return args[0]

    def _htc(self, args: list[str]) -> None:
        self.host_control = True

    def _hrc(self, args: list[str]) -> None:
        self.host_control = False

    def _pwr(self, args: list[str]) -> str | None:
        state = self._arg(args, ("on", "off", "auto", "get"), "pwr")
        if state == "get":
            return "on" if self.powered else "off"
        self.powered = state == "on"
        return None

    def _acqtime(self, args: list[str]) -> None:
        self.acqtime_s = 0.0 if args[:1] == ["inf"] else parse_number(args[0] if args else "")

    def _trigsrc(self, args: list[str]) -> None:
        self.trigsrc = self._arg(args, ("sw", "d7"), "trigsrc")

    def _trigdelay(self, args: list[str]) -> None:
        parse_number(args[0] if args else "")

    def _eventsrc(self, args: list[str]) -> None:
        if args[:1] != ["d7"] or args[1:2] not in (["ris"], ["fal"]):
            raise Refused("eventsrc: expected 'd7 ris' or 'd7 fal'")
        self.eventsrc = args[1]

    def _output(self, args: list[str]) -> None:
        self.output = self._arg(args, ("current", "energy"), "output")

    def _format(self, args: list[str]) -> None:
        self.format = self._arg(args, ("ascii_dec", "bin_hexa"), "format")

    def _freq(self, args: list[str]) -> None:
        self.freq_hz = _FREQ_BY_TOKEN[self._arg(args, tuple(_FREQ_BY_TOKEN), "freq")]

    def _volt(self, args: list[str]) -> str | None:
        if args[:1] == ["get"]:
            return f"{round(self.volt_v * 1000)}m"
        volts = parse_number(args[0] if args else "")
        if not VOLT_RANGE_MV[0] <= round(volts * 1000) <= VOLT_RANGE_MV[1]:
            raise Refused("volt: value out of range [1800m; 3300m]")
        self.volt_v = volts
        return None

    def _start(self, args: list[str]) -> None:
        if self.format != "ascii_dec":
            raise Refused("this simulator streams ascii_dec only")
        if self.freq_hz > ASCII_MAX_HZ or (self.acqtime_s == 0 and self.freq_hz > ASCII_UNBOUNDED_MAX_HZ):
            raise Refused(f"sampling frequency {self.freq_hz} Hz too high for format ascii_dec with this acqtime")


class Lpm01aSimServer:
    """Serves one host at a time on ``socket://host:port``; samples come from the wiring given here."""

    def __init__(self, *, wiring: WiringLog | None = None, wiring_url: str | None = None, host: str = "127.0.0.1",
                 port: int = 0, firmware: str = "1.0.6", noise: float = 0.01, seed: int = 0,
                 lead_s: float = 0.01, tail_s: float = 0.01, settle_s: float = 0.05) -> None:
        self._source: WiringSource = open_source(wiring_url, wiring, "simulated LPM01A")
        self._firmware_version = firmware
        self._noise, self._seed, self._lead_s, self._tail_s, self._settle_s = noise, seed, lead_s, tail_s, settle_s
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.1)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="lpm01a-sim", daemon=True)
        self.firmware = Lpm01aFirmware(firmware)

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"socket://{host}:{port}"

    def start(self) -> Lpm01aSimServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5.0)
        self._listener.close()
        self._source.close()

    def __enter__(self) -> Lpm01aSimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                self.firmware = Lpm01aFirmware(self._firmware_version)
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        buffer = b""
        stream: _Stream | None = None
        while not self._closing.is_set():
            ready, _, _ = select.select([conn], [], [], 0.002 if stream else 0.1)
            if ready:
                data = conn.recv(4096)
                if not data:
                    return
                buffer += data
            *lines, buffer = buffer.split(b"\r\n")
            for raw in lines:
                line = raw.decode("ascii", "replace").strip()
                if line == "stop" and stream is not None:
                    conn.sendall(stream.finish(self._source.poll(self._settle_s)))
                    stream = None
                    continue
                reply = self.firmware.handle(line)
                if line == "start" and reply and reply[0].startswith("ack"):  # what came before the ack is past
                    stream = _Stream(self.firmware, self._renderer())
                    stream.renderer.prime(self._source.backlog())
                conn.sendall("".join(f"{r}\r\n" for r in reply).encode("ascii"))
            if stream is not None:
                conn.sendall(stream.lines(self._source.poll(0.0)))

    def _renderer(self) -> WiringRenderer:
        if self.firmware.freq_hz <= 0:
            raise ConfigError("the simulated LPM01A needs a positive frequency")
        return WiringRenderer(self.firmware.freq_hz, self.firmware.volt_v, noise=self._noise, seed=self._seed,
                              lead_s=self._lead_s, tail_s=self._tail_s)


class _Stream:
    """One acquisition's text: sample lines, an event line before the sample of each edge, a TimeStamp a second."""

    def __init__(self, firmware: Lpm01aFirmware, renderer: WiringRenderer) -> None:
        self.firmware = firmware
        self.renderer = renderer
        self._events = 0

    def lines(self, wiring_events: list) -> bytes:
        self.renderer.feed(wiring_events)
        out: list[str] = []
        while (block := self.renderer.render()) is not None:
            out += self._text(block)
        return "".join(out).encode("ascii")

    def finish(self, wiring_events: list) -> bytes:
        self.renderer.feed(wiring_events)
        self.renderer.finish()
        return self.lines([]) + f"{ACQUISITION_COMPLETED}\r\n".encode("ascii")

    def _text(self, block) -> list[str]:
        rate, fw = self.firmware.freq_hz, self.firmware
        values = block.current_a.astype(float) * (fw.volt_v / rate if fw.output == "energy" else 1.0)
        if not fw.powered:
            values[:] = 0.0
        edges = set(int(round(t * rate)) for t in block.events_s) if fw.eventsrc else set()
        out = []
        for i, value in enumerate(values, start=block.start):
            if i and i % rate == 0:
                out.append(f"TimeStamp: {i // rate:03d}s {(i % rate) * 1000 // rate:03d}ms, buff 00%\r\n")
            if i in edges:
                self._events += 1
                out.append(f"event {self._events} {fw.eventsrc}\r\n")
            out.append(f"{format_ascii_dec(value)}\r\n")
        return out
