"""ST X-NUCLEO-LPM01A (PowerShield) driver: its ASCII command protocol and its ``ascii_dec`` data stream.

Facts (ST UM2269, the PowerShield firmware manual, and its command help as quoted in mlcommons/tiny
benchmark/runner/power_manager.py): a virtual COM port at 3,686,400 baud; commands end in CR LF and are
answered ``ack <cmd>`` or ``error <cmd>`` then ``Error detail: ...``; ``stop`` is not acked but ends with
``Acquisition completed``. ``ascii_dec`` sends one sample per line, ``6409-07`` = 6409 x 10^-7 (A, or J
per sample period with ``output energy``), a ``TimeStamp: 001s 000ms, buff 00%`` line once a second, and
``event <n> ...`` lines for D7 edges, placed in the stream at the sample where they happened.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import serial

from harness.core.errors import ConfigError, DataError, DeviceError, DeviceTimeout, MeasurementError
from harness.core.paths import cache_dir
from harness.core.transcript import Transcript
from harness.power.monitor import Block, PowerMonitor, register_monitor
from harness.registry.resources import MonitorSpec

BAUD = 3_686_400
EOL = b"\r\n"
PROMPT = "PowerShield > "
ACQUISITION_COMPLETED = "Acquisition completed"
FREQUENCIES_HZ = (100_000, 50_000, 20_000, 10_000, 5_000, 2_000, 1_000, 500, 200, 100, 50, 20, 10, 5, 2, 1)
ASCII_MAX_HZ = 10_000  # ascii_dec at all
ASCII_UNBOUNDED_MAX_HZ = 5_000  # ascii_dec with acqtime inf (unlimited acquisition)
VOLT_RANGE_MV = (1800, 3300)
READ_BYTES = 1 << 16
READ_WAIT_S = 0.02
Output = Literal["energy", "current"]

_TIMESTAMP = re.compile(r"TimeStamp: (\d+)s (\d+)ms, buff (\d+)%")
_EVENT = re.compile(r"event (\d+)\b")
_SAMPLE_LEN = 7  # dddd±ee


def freq_token(rate_hz: float) -> str:
    """The ``freq`` argument for a rate: 1000 -> '1k', 500 -> '500'; ConfigError for a rate the board lacks."""
    rate = int(rate_hz)
    if rate != rate_hz or rate not in FREQUENCIES_HZ:
        raise ConfigError(f"LPM01A sample rate {rate_hz:g} Hz is not one the board offers",
                          hint=f"valid (Hz): {', '.join(str(f) for f in FREQUENCIES_HZ)}")
    return f"{rate // 1000}k" if rate >= 1000 else str(rate)


def format_ascii_dec(value: float) -> str:
    """A non-negative value as ``ascii_dec`` text (4-digit mantissa, signed 2-digit power of ten)."""
    if value <= 0:
        return "0000+00"
    exponent = int(np.floor(np.log10(value))) - 3
    mantissa = int(round(value / 10.0**exponent))
    if mantissa >= 10_000:
        mantissa, exponent = mantissa // 10, exponent + 1
    return f"{mantissa:04d}{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


@dataclass
class Chunk:
    """What one piece of the stream held: sample values, event sample indices, and other lines."""

    values: np.ndarray
    events: list[int] = field(default_factory=list)
    timestamps: list[tuple[float, int, int]] = field(default_factory=list)  # (board s, samples before, buff %)
    messages: list[str] = field(default_factory=list)
    completed: bool = False


class AsciiDecParser:
    """Incremental parser of the LPM01A ``ascii_dec`` stream; ``feed()`` bytes as they arrive.

    ``source`` names the stream in errors (a port, a recording's path).
    """

    def __init__(self, source: str = "LPM01A stream") -> None:
        self.source = source
        self.samples = 0  # samples parsed so far
        self.line_no = 0
        self._partial = b""

    def feed(self, data: bytes) -> Chunk:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        rows: list[bytes] = []
        chunk = Chunk(np.empty(0))
        first_line = self.line_no + 1
        for raw in lines:
            self.line_no += 1
            line = raw.rstrip(b"\r")
            if len(line) == _SAMPLE_LEN and line[4] in b"+-":
                rows.append(line)
                continue
            text = line.decode("ascii", "replace").replace(PROMPT, "").strip()
            if not text:
                continue
            if text[0].isdigit():
                raise self._malformed(text, self.line_no)
            n = self.samples + len(rows)
            if text.startswith("event"):
                if not _EVENT.match(text):
                    raise DataError(f"{self.source} line {self.line_no}: {text!r} is not 'event <n> ...'")
                chunk.events.append(n)
            elif m := _TIMESTAMP.match(text):
                chunk.timestamps.append((int(m[1]) + int(m[2]) / 1e3, n, int(m[3])))
            elif text.startswith("error"):
                raise DeviceError(f"{self.source} line {self.line_no}: the LPM01A reported {text!r} while acquiring")
            else:
                chunk.completed |= ACQUISITION_COMPLETED in text
                chunk.messages.append(text)
        chunk.values = self._values(rows, first_line, lines)
        self.samples += len(rows)
        return chunk

    def _values(self, rows: list[bytes], first_line: int, lines: list[bytes]) -> np.ndarray:
        if not rows:
            return np.empty(0)
        digits = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, _SAMPLE_LEN).astype(np.int64) - ord("0")
        numeric = np.delete(digits, 4, axis=1)
        bad = np.flatnonzero(((numeric < 0) | (numeric > 9)).any(axis=1))
        if bad.size:
            text = rows[int(bad[0])].decode("ascii", "replace")
            offset = next(i for i, raw in enumerate(lines) if raw.rstrip(b"\r") == rows[int(bad[0])])
            raise self._malformed(text, first_line + offset)
        mantissa = numeric[:, :4] @ np.array([1000, 100, 10, 1])
        exponent = numeric[:, 4] * 10 + numeric[:, 5]
        sign = np.where(digits[:, 4] == ord("-") - ord("0"), -1, 1)
        return mantissa * np.power(10.0, sign * exponent)

    def _malformed(self, text: str, line_no: int) -> DataError:
        return DataError(f"{self.source} line {line_no}: {text!r} is not an ascii_dec sample",
                         hint="a sample is 4 digits, a sign and a 2-digit power of ten, e.g. 6409-07 "
                              "(= 640.9 uA); check the baud rate (3686400) and 'format ascii_dec'")


def parse_recording(data: bytes, rate_hz: float, voltage_v: float, output: Output = "energy",
                    source: str = "LPM01A recording") -> tuple[np.ndarray, np.ndarray]:
    """Current (A) per sample and event times (s) from a recorded ``ascii_dec`` acquisition."""
    parser = AsciiDecParser(source)
    chunk = parser.feed(data if data.endswith(b"\n") else data + b"\n")
    return to_current(chunk.values, output, rate_hz, voltage_v), np.asarray(chunk.events, dtype=np.float64) / rate_hz


def to_current(values: np.ndarray, output: Output, rate_hz: float, voltage_v: float) -> np.ndarray:
    """Samples as current: ``energy`` samples are joules per sample period, so I = E x rate / V."""
    current = values * (rate_hz / voltage_v) if output == "energy" else values
    return current.astype(np.float32)


@register_monitor
class Lpm01aMonitor(PowerMonitor):
    """The LPM01A over any pyserial URL: ``lpm01a:/dev/ttyACM0`` or ``lpm01a:socket://...`` (the simulator)."""

    kind = "lpm01a"
    default_rate_hz = 1_000.0

    def __init__(self, spec: MonitorSpec, *, voltage_v: float | None = None, rate_hz: float | None = None,
                 log_path: Path | None = None, output: Output = "energy", timeout_s: float = 2.0) -> None:
        super().__init__(spec, voltage_v=voltage_v or 3.3, rate_hz=rate_hz, log_path=log_path)
        if not spec.url:
            raise ConfigError("the LPM01A monitor needs its port: lpm01a:/dev/ttyACM0 (or COMn, socket://...)")
        if output not in ("energy", "current"):
            raise ConfigError(f"LPM01A output '{output}' is not 'energy' or 'current'")
        self.freq = freq_token(self.sample_rate_hz)
        if self.sample_rate_hz > ASCII_UNBOUNDED_MAX_HZ:
            raise ConfigError(f"LPM01A ascii_dec streams an unlimited acquisition at up to "
                              f"{ASCII_UNBOUNDED_MAX_HZ} Hz, not {self.sample_rate_hz:g} Hz",
                              hint="use rate_hz=5000 or lower")
        mv = round(self.voltage_v * 1000)  # type: ignore[operator]
        if not VOLT_RANGE_MV[0] <= mv <= VOLT_RANGE_MV[1]:
            raise ConfigError(f"LPM01A supply {self.voltage_v} V is outside 1.8-3.3 V")
        self.output: Output = output
        self.timeout_s = timeout_s
        self.log_path = log_path or cache_dir("monitors") / f"lpm01a-{time.strftime('%Y%m%d-%H%M%S')}.log"
        self._port: serial.SerialBase | None = None
        self._transcript: Transcript | None = None
        self._parser = AsciiDecParser()
        self._timestamps: list[tuple[float, int, int]] = []
        self._completed = False
        self._powered = False
        self._last_data = 0.0

    def setup_commands(self) -> list[str]:
        """The set-up sequence, in order, ending with the DUT powered; each acquisition is then ``start``/``stop``.

        The DUT stays powered between acquisitions (it draws its supply from the board); ``close()`` sends
        ``pwr off`` and ``hrc``.
        """
        return ["htc", "pwr off", "acqtime inf", "trigsrc sw", "eventsrc d7 fal", f"output {self.output}",
                "format ascii_dec", f"freq {self.freq}", f"volt {round(self.voltage_v * 1000)}m",  # type: ignore[operator]
                "pwr on nostatus"]

    def _open(self) -> None:
        try:
            self._port = serial.serial_for_url(self.spec.url, baudrate=BAUD, timeout=READ_WAIT_S)
        except (serial.SerialException, ValueError) as exc:
            raise DeviceError(f"cannot open the LPM01A at '{self.spec.url}': {exc}",
                              hint="check the port (harness devices lists them) and that no other program holds it"
                              ) from None
        self._transcript = Transcript(self.log_path)
        for command in self.setup_commands():
            self.command(command)
        self._powered = True

    def command(self, command: str) -> list[str]:
        """Send one command; return the lines before its ``ack``. ``error`` -> DeviceError with the detail."""
        assert self._port is not None and self._transcript is not None
        data = command.encode("ascii") + EOL
        self._port.write(data)
        self._transcript.sent(data)
        word = command.split()[0]
        output: list[str] = []
        deadline = time.monotonic() + self.timeout_s
        while True:
            line = self._line(deadline, command)
            if line.startswith(("ack", "error")) and word in line:
                break
            output.append(line)
        if line.startswith("ack"):
            return output
        detail = ""
        try:
            detail = self._line(time.monotonic() + min(self.timeout_s, 0.5), command)
        except DeviceTimeout:
            pass
        raise DeviceError(f"the LPM01A answered {line!r} to '{command}'"
                          + (f": {detail.replace('Error detail:', '').strip()}" if detail else ""),
                          hint="check the argument against the PowerShield command help; this command set needs "
                               "firmware 1.0.6 or later", log_path=self.log_path)

    def _line(self, deadline: float, command: str) -> str:
        assert self._port is not None and self._transcript is not None
        buffer = b""
        while not buffer.endswith(b"\n"):
            if time.monotonic() > deadline:
                self._transcript.note(f"timeout waiting for the reply to '{command}'")
                raise DeviceTimeout(f"the LPM01A at {self.spec.url} did not answer '{command}' within "
                                    f"{self.timeout_s:g} s", hint="is it powered, on this port, at 3686400 baud?",
                                    log_path=self.log_path)
            buffer += self._port.read_until(b"\n")
        self._transcript.received(buffer)
        text = buffer.decode("ascii", "replace").replace(PROMPT, "").strip()
        return text or self._line(deadline, command)

    def _begin(self) -> None:
        self._parser = AsciiDecParser(f"LPM01A at {self.spec.url}")
        self._timestamps, self._completed = [], False
        self.command("start")
        self._last_data = time.monotonic()

    def _read(self) -> Block | None:
        assert self._port is not None and self._transcript is not None
        if self._completed:
            return None
        data = self._port.read(READ_BYTES)  # returns early when full, else after the port timeout
        start = self._parser.samples
        if not data:
            if time.monotonic() - self._last_data > self.timeout_s:
                raise DeviceTimeout(f"the LPM01A at {self.spec.url} sent nothing for {self.timeout_s:g} s while "
                                    "acquiring", log_path=self.log_path)
            return Block(start, np.empty(0, dtype=np.float32))
        self._last_data = time.monotonic()
        self._transcript.received(data)
        chunk = self._parser.feed(data)
        self._timestamps += chunk.timestamps
        self._completed = chunk.completed
        current = to_current(chunk.values, self.output, self.sample_rate_hz, self.voltage_v)  # type: ignore[arg-type]
        return Block(start, current, np.asarray(chunk.events, dtype=np.float64) / self.sample_rate_hz)

    def _end(self) -> None:
        assert self._port is not None and self._transcript is not None
        self._port.write(b"stop" + EOL)
        self._transcript.sent(b"stop" + EOL)

    def _after_stop(self) -> None:
        self._check_timestamps()

    def _check_timestamps(self) -> None:
        """Each once-a-second TimeStamp line says how many samples should have arrived by then."""
        slack = 0.01 * self.sample_rate_hz + 1
        for board_s, before, _ in self._timestamps:
            missing = board_s * self.sample_rate_hz - before
            if missing > slack:
                raise MeasurementError(f"the LPM01A reported {board_s:g} s of acquisition but only {before} samples "
                                       f"had arrived ({missing:.0f} lost)", log_path=self.log_path,
                                       hint="the host did not read the port fast enough; lower rate_hz")

    def _close(self) -> None:
        try:
            if self._powered:
                for command in ("pwr off", "hrc"):
                    self.command(command)
        except DeviceError as exc:  # closing must not hide the error that brought us here
            if self._transcript is not None:
                self._transcript.note(f"tear-down failed: {exc.message}")
        finally:
            self._powered = False
            if self._port is not None:
                self._port.close()
                self._port = None
            if self._transcript is not None:
                self._transcript.close()
                self._transcript = None
