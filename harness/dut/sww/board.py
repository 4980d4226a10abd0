"""Host driver of the enhanced interface board (STM32H573I-DK firmware in mlcommons/tiny benchmark/interface/).

Every command has its own timeout (``play`` from the WAV's length, as the field runner does: length + 10 s);
every byte goes to the transcript that device errors name. A lost reply is asked for again (every command but
``play``, which would play the stream twice). A DUT that reset while hearing a stream is a ``DeviceReset``,
told two ways: a boot banner in a passed-through reply (EEMBC-derived firmware prints ``m-init-done``), or,
since the sww reference firmware prints nothing at boot and comes up idle, its reply to the ``stop`` that
ends the stream saying it was not streaming (``I2S is already idle``).
"""

from __future__ import annotations

import time
from types import TracebackType

import serial

from harness.core.errors import DeviceError, DeviceTimeout
from harness.core.transcript import Transcript
from harness.dut.records import DeviceReset, RetryPolicy
from harness.dut.sww import wire as w

TIMEOUT_S = {"name": 2.0, "ls": 5.0, "record_detections": 2.0, "print_detections": 10.0, "print_dutycycle": 5.0,
             "dut": 5.0}
PLAY_MARGIN_S = 10.0
POLL_S = 0.02
SETTLE_S = 0.1  # quiet time after a lost reply before asking again, so a late reply is not mistaken for the new one
BOOT_LINES = ("m-init-done",)


class InterfaceBoard:
    """One interface board on a pyserial URL (``/dev/ttyACM0``, ``socket://127.0.0.1:PORT``)."""

    def __init__(self, url: str, transcript: Transcript, baud: int = w.BAUD, retry: RetryPolicy | None = None) -> None:
        self.url = url
        self.transcript = transcript
        self.baud = baud
        self.retry = retry or RetryPolicy(attempts=3)
        self.retries = 0
        self._port: serial.SerialBase | None = None
        self._buf = bytearray()

    def open(self) -> InterfaceBoard:
        try:
            self._port = serial.serial_for_url(self.url, baudrate=self.baud, timeout=POLL_S)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise self._error(DeviceError, f"cannot open the interface board at {self.url}: {exc}",
                              "check the port (ls /dev/ttyACM*) and that no other program holds it") from None
        self.transcript.note(f"opened {self.url} at {self.baud} baud")
        return self

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None
            self.transcript.note("port closed")

    def __enter__(self) -> InterfaceBoard:
        return self.open()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _error(self, cls: type[DeviceError], message: str, hint: str | None = None) -> DeviceError:
        self.transcript.note(f"error: {message}")
        return cls(message, hint=hint, log_path=self.transcript.path)

    # ---- one exchange ------------------------------------------------------------------------------

    def _read_line(self, deadline: float) -> str | None:
        assert self._port is not None
        while b"\n" not in self._buf:
            if time.monotonic() > deadline:
                return None
            try:
                chunk = self._port.read(self._port.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                raise self._error(DeviceError, f"lost the interface board at {self.url}: {exc}",
                                  "check the USB cable; the board may have reset") from None
            self._buf += chunk
        line, _, rest = self._buf.partition(b"\n")
        self._buf = bytearray(rest)
        self.transcript.received(line + b"\n")
        return line.decode("latin-1").rstrip("\r")

    def command(self, command: str, timeout_s: float | None = None) -> list[str]:
        """Send ``command%`` and return the reply's lines up to and including the board's ``m-ready``; a lost
        reply is asked for again (``play`` excepted), up to the retry policy's attempts."""
        if self._port is None:
            raise DeviceError(f"the interface board at {self.url} is not open", hint="call open() first")
        word = command.split(" ", 1)[0]
        timeout = TIMEOUT_S.get(word, 5.0) if timeout_s is None else timeout_s
        attempts = 1 if word == "play" else self.retry.attempts
        for attempt in range(attempts):
            lines = self._exchange(command, timeout)
            if lines is not None:
                return lines
            if attempt + 1 < attempts:
                self.retries += 1
                self.transcript.note(f"no reply to '{command}' within {timeout:g} s: asking again "
                                     f"(attempt {attempt + 2}/{attempts})")
                time.sleep(SETTLE_S + self.retry.delay(attempt))
                self._drain()
        hint = ("a play that never ends: check the SD card and the I2S wiring, and that the WAV is as long as the "
                "truth file says" if word == "play" else
                "check the baud rate (115200) and that this is the interface board's port")
        raise self._error(DeviceTimeout, f"the interface board did not finish '{command}' within {timeout:g} s"
                          + (f" ({attempts} attempts)" if attempts > 1 else ""), hint)

    def _exchange(self, command: str, timeout: float) -> list[str] | None:
        """One send and its reply's lines, or None when ``m-ready`` did not arrive in time."""
        assert self._port is not None
        data = (command + w.TERMINATOR).encode("ascii")
        self.transcript.sent(data)
        self._port.write(data)
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while True:
            line = self._read_line(deadline)
            if line is None:
                self.transcript.note(f"timeout after {len(lines)} line(s) of the reply to '{command}'")
                return None
            lines.append(line)
            if line.strip() == w.END:
                return lines

    def _drain(self) -> None:
        """Forget what arrived so far (a late reply, a partial line), logging it."""
        assert self._port is not None
        late = bytes(self._buf) + self._port.read(self._port.in_waiting or 0)
        self._buf = bytearray()
        if late:
            self.transcript.received(late)
            self.transcript.note(f"discarded {len(late)} late byte(s)")

    # ---- board commands ----------------------------------------------------------------------------

    def name(self) -> str:
        lines = self.command("name")
        if not any(w.BOARD_NAME in line for line in lines):
            raise self._error(DeviceError, f"{self.url} is not an enhanced interface board: {lines}",
                              "the sww flow plays audio from the STM32H573I-DK interface board's SD card")
        return w.BOARD_NAME

    def ls(self) -> list[str]:
        return [line.strip() for line in self.command("ls")[:-1] if line.strip()]

    def play(self, wav_file: str, length_s: float, margin_s: float = PLAY_MARGIN_S) -> None:
        """Play a WAV from the SD card; returns once the board says it has played it."""
        lines = self.command(f"play {wav_file}", timeout_s=length_s + margin_s)
        # firmware versions differ: some end a play with "succeeded.", InterfaceMenu.cpp's Play says "Playing <file>"
        if not any(w.PLAY_OK in line or line.strip() == f"Playing {wav_file}" for line in lines):
            raise self._error(DeviceError, f"the interface board did not play {wav_file}: {lines[:-1]}",
                              "the file must be on the SD card ('ls') as a 2-channel 16 kHz 16-bit PCM WAV")

    def record_detections(self) -> None:
        self.command("record_detections")

    def print_detections(self) -> list[int]:
        lines = self.command("print_detections")
        start = next((i for i, line in enumerate(lines) if line == w.DETECTIONS_HEADER), None)
        if start is None:
            raise self._error(DeviceError, f"no '{w.DETECTIONS_HEADER}' in the board's reply: {lines[:3]}")
        try:
            return w.parse_detections(lines[start:])
        except w.WireFormatError as exc:
            raise self._error(DeviceError, f"malformed detection list: {exc}") from None

    def print_dutycycle(self) -> w.DutyCycle:
        lines = self.command("print_dutycycle")
        start = next((i for i, line in enumerate(lines) if w.DUTY_START_HEADER in line), 0)
        try:
            return w.parse_dutycycle(lines[start:])
        except w.WireFormatError as exc:
            raise self._error(DeviceError, f"malformed duty-cycle reply: {exc}",
                              "the DUT's processing pin must toggle on every frame while the stream plays") from None

    # ---- the DUT, through the board ----------------------------------------------------------------

    def dut(self, command: str, timeout_s: float | None = None) -> list[str]:
        """Pass ``command`` to the DUT; its lines without the ``[dut]: `` prefix.

        The board's firmware (InterfaceMenu.cpp, ``Passthrough``) ends its own reply with ``m-ready`` and then
        relays the DUT's reply line by line, up to the DUT's ``[dut]: m-ready``, as the field runner's
        ``IOManager.send_command`` reads it; DUT lines before the board's ``m-ready`` are taken as well.
        """
        timeout = TIMEOUT_S["dut"] if timeout_s is None else timeout_s
        lines = self.command(f"dut {command}", timeout)
        if not any(w.passthrough_echo(command) in line for line in lines):
            raise self._error(DeviceError, f"the board did not pass '{command}' to the DUT: {lines}")
        if not any(line.strip() == w.END for line in w.dut_lines(lines)):
            lines += self._relayed(command, time.monotonic() + timeout)
        return self.check_boot(w.dut_lines(lines))

    def _relayed(self, command: str, deadline: float) -> list[str]:
        """The DUT's lines relayed after the board's ``m-ready``, through the DUT's own ``m-ready``."""
        lines: list[str] = []
        while True:
            line = self._read_line(deadline)
            if line is None:
                raise self._error(DeviceTimeout, f"the DUT did not finish its reply to '{command}' (passed through "
                                  f"the board; got {lines[-3:]})",
                                  "check the DUT's UART wiring to the interface board and that it runs sww firmware")
            lines.append(line)
            if line.startswith(w.DUT_PREFIX) and line[len(w.DUT_PREFIX):].strip() == w.END:
                return lines

    def check_boot(self, dut_lines: list[str]) -> list[str]:
        """``dut_lines``, or a DeviceReset when they hold the DUT's boot banner (it restarted since the last
        command, so a stream it was hearing is incomplete)."""
        if any(line.strip() in BOOT_LINES for line in dut_lines):
            raise self._error(DeviceReset, "the DUT reset (boot banner 'm-init-done' seen): the stream it was "
                              "hearing is incomplete", "check the DUT's supply and watchdog; the stream is played "
                              "again")
        return dut_lines

    def dut_name(self) -> str:
        return next((line for line in self.dut("name") if line.startswith("m-name-dut-")), "")

    def dut_model(self) -> str:
        """The DUT's model id from ``profile`` (``m-model-[sww01]`` -> ``sww01``)."""
        for line in self.dut("profile"):
            if line.startswith("m-model-["):
                return line[len("m-model-["):].rstrip("]")
        raise self._error(DeviceError, "the DUT's 'profile' reply names no model (m-model-[...])")

    def start(self) -> None:
        self.dut("start")

    def stop(self) -> list[str]:
        return self.dut("stop")

    def stop_stream(self) -> list[str]:
        """``stop`` after a stream: the DUT must still have been streaming, or it reset while hearing it."""
        lines = self.stop()
        if any(w.IDLE_AT_STOP in line for line in lines):
            raise self._error(DeviceReset, "the DUT was idle when the stream ended ('I2S is already idle' in reply "
                              "to 'stop'): it reset while hearing the stream, which is incomplete",
                              "check the DUT's supply and watchdog; the stream is played again")
        return lines


class DirectDut(InterfaceBoard):
    """An sww DUT on its own UART (``--dut``): the same DUT commands as through the board, sent to it directly."""

    def name(self) -> str:
        return self.dut_name()

    def dut(self, command: str, timeout_s: float | None = None) -> list[str]:
        return self.check_boot(self.command(command, timeout_s if timeout_s is not None else TIMEOUT_S["dut"]))
