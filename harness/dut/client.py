"""DutClient: drives MLPerf Tiny firmware over any pyserial URL and survives the bench's usual faults.

Faults handled: boards that ignore the first ``name%``, debug noise between replies (also when its
line end was lost), ``e-[...]`` replies to a ``db`` chunk (the chunk is sent again; the whole load when
the firmware had stored part of it), a reset mid-command (boot banner seen: wait for it, identify
again, reload the input, retry), a lost link (reopen the URL with backoff), a stall (a lone ``%``
until the DUT answers again), corrupted result or lap lines (checked by harness.dut.validation: the
inference is run again), and a device that stops answering (DeviceTimeout naming the transcript).
Retries are bounded; corruption that persists is a DeviceError, never a result. Every received
byte goes to the transcript, a partial line included.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

import serial

from harness.core.errors import DeviceError, DeviceTimeout
from harness.core.transcript import Transcript
from harness.dut import protocol as p
from harness.dut.records import (
    CorruptReply,
    DeviceReset,
    DutInfo,
    DutReplyError,
    InferResult,
    LinkLost,
    LoadStats,
    OutOfStep,
    Reply,
    RetryPolicy,
)
from harness.dut.validation import ScoreSpec, infer_reply_problem, results_problem
from harness.registry.resources import Link

T = TypeVar("T")
E = TypeVar("E", bound=DeviceError)

POLL_S = 0.02  # the port's read timeout; reads wake at least this often to check deadlines
SETTLE_S = 0.1  # a link quiet this long after a fault holds no more late replies
PARTLY_STORED = "Invalid hex digit"  # the one chunk error after which the firmware has kept the pairs before it
READ_BACK_BYTES = 32  # bytes per 'db print' of a read-back: 4 lines, short enough to come back intact on a noisy link
SIMILAR = 0.8  # difflib ratio above which a reason garbled on the wire is still recognised


class DutClient:
    """One DUT on one link. Use as a context manager; ``open()`` connects and identifies the DUT."""

    def __init__(self, link: Link, transcript: Transcript, retry: RetryPolicy | None = None,
                 wake_s: float = 1.0, scores: ScoreSpec | None = None, verify_loads: bool = False) -> None:
        """``scores`` says what the model's result lines may hold (None: only the grammar is checked);
        ``verify_loads`` reads every loaded input back with ``db print`` (a hex digit flipped into another
        one is otherwise accepted by the firmware)."""
        self.link = link
        self.scores = scores
        self.verify_loads = verify_loads
        self.load_passes = 0
        self.transcript = transcript
        self.retry = retry or RetryPolicy()
        self.wake_s = wake_s
        self.info: DutInfo | None = None
        self.resets = 0
        self.reconnects = 0
        self._port: serial.SerialBase | None = None
        self._buf = bytearray()
        self._logged = 0  # bytes at the front of _buf already written to the transcript
        self._timestamp_mode: str | None = None
        self._last_lap_us: int | None = None  # the last lap the DUT printed since its last boot
        self._input: bytes | None = None
        self._loaded = False

    # ---- connection ------------------------------------------------------------------------------

    def open(self) -> DutInfo:
        self._open_port()
        self.info = self._handshake(time.monotonic() + self.link.timeout_s)
        return self.info

    def close(self) -> None:
        self._log_partial()
        if self._port is not None:
            self._port.close()
            self._port = None
            self.transcript.note("port closed")

    def __enter__(self) -> DutClient:
        self.open()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _error(self, cls: type[E], message: str, hint: str | None = None, reason: str | None = None) -> E:
        self.transcript.note(f"error: {message}")
        error = cls(message, hint=hint, log_path=self.transcript.path)
        if reason is not None and isinstance(error, DutReplyError):
            error.reason = reason
        return error

    def _open_port(self) -> None:
        self.transcript.note(f"open {self.link.url} at {self.link.baud} baud")
        # pyserial's RFC 2217 client refuses any write timeout (NotImplementedError when the port opens)
        write_timeout = None if self.link.url.lower().startswith("rfc2217:") else self.link.timeout_s
        try:
            self._port = serial.serial_for_url(self.link.url, baudrate=self.link.baud, timeout=POLL_S,
                                               write_timeout=write_timeout)
        except (serial.SerialException, OSError, ValueError) as e:
            raise self._error(LinkLost, f"cannot open {self.link.url}: {e}",
                              hint="check the port with 'harness devices' (or the socket:// address)") from e
        self._log_partial()
        self._buf.clear()
        self._logged = 0

    def _handshake(self, deadline: float) -> DutInfo:
        """Send ``name%`` until the DUT answers (some boards drop the first command after boot)."""
        last = "no reply"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._error(
                    DeviceTimeout, f"{self.link.url}: no answer to 'name%' within {self.link.timeout_s:g} s ({last})",
                    hint="check the port and --baud, that the board is powered and runs MLPerf Tiny firmware")
            try:
                if self.link.io_manager:
                    self._exchange("name", min(self.wake_s, remaining), via_io=False)
                return self._identify(min(self.wake_s, remaining))
            except DeviceReset:
                last = "it booted during the handshake"
            except (DeviceTimeout, DutReplyError, OutOfStep) as e:
                last = e.message
                self._settle()
            self.transcript.note(f"handshake: {last}; asking again")

    def _identify(self, timeout_s: float) -> DutInfo:
        name = self._exchange("name", timeout_s).first(p.Name)
        if name is None:
            raise self._error(OutOfStep, "the reply to 'name%' has no m-name-dut-[...] line")
        profile = self._exchange("profile", timeout_s)
        if profile.first(p.Name) is not None:
            raise self._error(OutOfStep, "the reply to 'profile%' holds a name: replies are out of step")
        firmware, model = profile.first(p.Profile), profile.first(p.ModelId)
        return DutInfo(name.name, firmware.firmware if firmware else None, model.model if model else None,
                       self._timestamp_mode)

    # ---- bytes and lines -------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        assert self._port is not None
        self.transcript.sent(data)
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as e:
            raise self._error(LinkLost, f"{self.link.url}: write failed: {e}") from e

    def _read_line(self, deadline: float) -> bytes | None:
        """The next complete line (with its CR/LF), or None once ``deadline`` passes.

        Lines end in CR LF; a lone CR also ends one, since its LF was lost on the wire (a CR that is the
        last byte read waits one poll for its LF).
        """
        assert self._port is not None
        while True:
            end = _line_end(self._buf)
            if end is None and self._buf.endswith(b"\r") and time.monotonic() < deadline:
                self._read_more()
                end = _line_end(self._buf)
                if end is None and self._buf.endswith(b"\r"):
                    end = len(self._buf) - 1
            if end is not None:
                line = bytes(self._buf[: end + 1])
                del self._buf[: end + 1]
                self.transcript.received(line[self._logged:])
                self._logged = 0
                return line
            if time.monotonic() >= deadline:
                self._log_partial()
                return None
            self._read_more()

    def _read_more(self) -> None:
        """What has arrived, waiting at most one poll interval for a first byte."""
        assert self._port is not None
        try:
            self._buf += self._port.read(max(1, self._port.in_waiting))
        except (serial.SerialException, OSError) as e:
            raise self._error(LinkLost, f"{self.link.url}: read failed: {e}") from e

    def _log_partial(self) -> None:
        """Write bytes received without a line end yet (at a timeout or close) so the transcript misses none."""
        if len(self._buf) > self._logged:
            self.transcript.received(bytes(self._buf[self._logged:]))
            self._logged = len(self._buf)

    def _drain(self) -> None:
        """Consume what arrived since the last reply (debug prints, a boot banner) before sending."""
        assert self._port is not None
        try:
            waiting = self._port.in_waiting
            if waiting:
                self._buf += self._port.read(waiting)
        except (serial.SerialException, OSError) as e:
            raise self._error(LinkLost, f"{self.link.url}: read failed: {e}") from e
        booted = settled = False
        while _line_end(self._buf) is not None:
            line = self._read_line(0.0)
            assert line is not None
            msg = p.parse_line(p.split_prefix(p.decode_line(line))[1])
            if isinstance(msg, p.Boot) and msg.mode:
                self._timestamp_mode = msg.mode
            booted = booted or isinstance(msg, p.Boot)
            settled = settled or (booted and isinstance(msg, p.Ready))
        if booted:
            raise self._reset_seen(time.monotonic() + self.link.timeout_s, settled)

    def _reset_seen(self, deadline: float, settled: bool = False) -> DeviceReset:
        """Note a reset, let the banner finish (its m-ready), and return the error that makes the caller recover."""
        self._loaded = False
        self._last_lap_us = None
        while not settled and (line := self._read_line(min(deadline, time.monotonic() + 0.5))) is not None:
            if isinstance(p.parse_line(p.split_prefix(p.decode_line(line))[1]), p.Ready):
                break
        self._settle()
        return self._error(DeviceReset, f"{self.link.url}: the DUT reset (boot banner seen)")

    def _settle(self) -> None:
        """Read (and log) until the link is quiet: replies to commands that raced a fault are dropped."""
        stop = time.monotonic() + self.link.timeout_s
        while time.monotonic() < stop and self._read_line(time.monotonic() + SETTLE_S) is not None:
            pass

    # ---- one exchange ----------------------------------------------------------------------------

    def _exchange(self, command: str, timeout_s: float, via_io: bool | None = None) -> Reply:
        """Send one command and read its reply up to ``m-ready`` (the DUT's, behind an IO manager)."""
        via_io = self.link.io_manager if via_io is None else via_io
        self._drain()
        data = p.encode(p.passthrough(command) if via_io else command)
        self._write(data)
        deadline = time.monotonic() + timeout_s
        acked = not via_io  # behind an IO manager: m-dut-passthrough(...) and its m-ready come first
        messages: list[p.Message] = []
        wire = len(data)
        while True:
            line = self._read_line(deadline)
            if line is None:
                raise self._error(DeviceTimeout, f"{self.link.url}: no m-ready for '{command}%' within {timeout_s:g} s")
            relayed, text = p.split_prefix(p.decode_line(line))
            msg = p.parse_line(text)
            if isinstance(msg, p.Boot):
                if msg.mode:
                    self._timestamp_mode = msg.mode
                raise self._reset_seen(deadline)
            if isinstance(msg, p.Noise) or (acked and via_io and not relayed):
                continue  # debug prints, line noise, the IO manager's own chatter
            wire += len(line)
            if not acked:
                acked = isinstance(msg, p.Ready)
                if isinstance(msg, p.DutError):
                    raise self._error(DutReplyError, f"the IO manager answered 'dut {command}%' with {msg.text}",
                                      reason=msg.reason)
                continue
            if isinstance(msg, p.Ready):
                break
            messages.append(msg)
        errors = [m for m in messages if isinstance(m, p.DutError)]
        if errors:
            raise self._error(DutReplyError, f"the DUT answered '{command}%' with {errors[0].text}",
                              reason=errors[0].reason)
        return Reply(command, tuple(messages), wire)

    # ---- recovery --------------------------------------------------------------------------------

    def _recover(self, error: DeviceError) -> None:
        if isinstance(error, LinkLost):
            self._reconnect()
        elif isinstance(error, DeviceTimeout):
            self._resync()
        elif isinstance(error, DeviceReset):
            self.info = self._handshake(time.monotonic() + self.link.timeout_s)
        elif isinstance(error, (OutOfStep, DutReplyError, CorruptReply)):
            self._settle()

    def _resync(self) -> None:
        """After a timeout: a lone ``%`` ends any half-received command; a live DUT answers with m-ready.

        The ``%`` is repeated every ``wake_s`` for up to the link timeout, so a stalled DUT that recovers is
        picked up again; one that stays silent is a DeviceTimeout.
        """
        stop = time.monotonic() + self.link.timeout_s
        try:
            while time.monotonic() < stop:
                self._drain()
                self._write(p.TERMINATOR)
                deadline = min(stop, time.monotonic() + self.wake_s)
                while (line := self._read_line(deadline)) is not None:
                    msg = p.parse_line(p.split_prefix(p.decode_line(line))[1])
                    if isinstance(msg, p.Boot):
                        raise self._reset_seen(stop)
                    if isinstance(msg, p.Ready):
                        self._settle()  # answers to the other '%' sent meanwhile
                        return
        except DeviceReset:
            self.info = self._handshake(time.monotonic() + self.link.timeout_s)
            return
        raise self._error(DeviceTimeout, f"{self.link.url}: the DUT stopped answering (no m-ready after a lone '%' "
                          f"for {self.link.timeout_s:g} s)",
                          hint="power-cycle or reset the board; the transcript shows the last exchange")

    def _reconnect(self) -> None:
        self.close()
        self._loaded = False
        self._last_lap_us = None
        for attempt in range(self.retry.attempts):
            time.sleep(self.retry.delay(attempt))
            try:
                self._open_port()
                self.info = self._handshake(time.monotonic() + self.link.timeout_s)
                self.reconnects += 1
                return
            except (LinkLost, DeviceTimeout) as e:
                self.transcript.note(f"reconnect attempt {attempt + 1} failed: {e.message}")
                self.close()
        raise self._error(LinkLost, f"{self.link.url}: could not reconnect after {self.retry.attempts} attempts")

    def _resilient(self, what: str, op: Callable[[], T], retry_replies: bool = False, reload: bool = True) -> T:
        """Run ``op``; after a timeout, reset or lost link recover (reloading the input) and try again."""
        retryable: tuple[type[DeviceError], ...] = (DeviceTimeout, DeviceReset, LinkLost, OutOfStep, CorruptReply)
        if retry_replies:
            retryable += (DutReplyError,)
        last: DeviceError | None = None
        for attempt in range(self.retry.attempts):
            try:
                if reload and self._input is not None and not self._loaded:
                    self._load_once(self._input)
                return op()
            except retryable as e:  # noqa: PERF203 - retry loop
                last = e
                self.resets += isinstance(e, DeviceReset)
                self.transcript.note(f"{what}: attempt {attempt + 1}/{self.retry.attempts} failed: {e.message}")
                time.sleep(self.retry.delay(attempt))
                self._recover(e)
        assert last is not None
        cls = DeviceTimeout if isinstance(last, DeviceTimeout) else DeviceError
        raise self._error(cls, f"{what} failed {self.retry.attempts} times; last: {last.message}",
                          hint="see the transcript; lower --baud if bytes are being dropped")

    # ---- commands --------------------------------------------------------------------------------

    def command(self, command: str, timeout_s: float | None = None) -> Reply:
        """One command (relayed when behind an IO manager); retried after timeouts, resets and link loss."""
        return self._resilient(f"'{command}%'", lambda: self._exchange(command, timeout_s or self.link.timeout_s))

    def io_command(self, command: str, timeout_s: float | None = None) -> Reply:
        """A command for the IO manager itself (not relayed)."""
        return self._exchange(command, timeout_s or self.link.timeout_s, via_io=False)

    def load(self, data: bytes) -> LoadStats:
        """Load an input tensor with ``db`` chunks; a rejected chunk is sent again, a corrupted load done again."""
        self._input, self._loaded = bytes(data), False
        t0 = time.perf_counter()
        passes = self.load_passes
        wire = self._resilient(f"loading {len(data)} bytes", lambda: self._load_once(data), retry_replies=True,
                               reload=False)
        return LoadStats(len(data), wire, time.perf_counter() - t0, self.load_passes - passes)

    def _load_once(self, data: bytes) -> int:
        """Load passes until one is clean: a load spoiled by a corrupted chunk or reply costs a pass, not an attempt.

        Timeouts, resets and lost links end the passes; the caller's retry policy recovers from them.
        """
        if self._loaded and data == self._input:
            return 0
        self._loaded = False
        last: DeviceError | None = None
        for attempt in range(self.retry.attempts):
            try:
                wire = self._load_pass(data)
            except (DutReplyError, CorruptReply, OutOfStep) as e:  # noqa: PERF203 - retry loop
                last = e
                self.transcript.note(f"load pass {attempt + 1}/{self.retry.attempts} failed ({e.message}); "
                                     "loading again")
                self._settle()
                continue
            self._loaded = True
            return wire
        assert last is not None
        raise last

    def _load_pass(self, data: bytes) -> int:
        """``db load N`` and every chunk once (a rejected chunk is resent), then the read-back if asked for."""
        self.load_passes += 1
        commands = p.load_commands(data, p.CHUNK_BYTES_IO_MANAGER if self.link.io_manager else p.CHUNK_BYTES)
        wire = 0
        done = False
        for i, command in enumerate(commands):
            reply = self._chunk(command) if i else self._exchange(command, self.link.timeout_s)
            wire += reply.wire_bytes
            expecting = reply.first(p.Expecting)
            if i == 0 and (expecting is None or expecting.n_bytes != len(data)):
                raise self._error(OutOfStep, f"the reply to 'db load {len(data)}%' is not m-[Expecting {len(data)} "
                                  f"bytes]: {[m.text for m in reply.messages]}")
            done = reply.first(p.LoadDone) is not None
            if done and i < len(commands) - 1:
                raise self._error(DutReplyError, f"m-load-done after chunk {i} of {len(commands) - 1}: the DUT "
                                  "expected fewer bytes", reason="early load-done")
        if not done:
            raise self._error(DutReplyError, "no m-load-done after the last chunk: hex digits were lost on the wire",
                              reason="no load-done")
        if self.verify_loads:
            wire += self._read_back(data)
        return wire

    def _read_back(self, data: bytes) -> int:
        """``db print N off`` piece by piece: the buffer as the DUT holds it must be ``data`` byte for byte.

        A piece that differs is read again (the reply may have been garbled on its way back); the load is
        spoiled only when the DUT shows the same wrong bytes twice, or no intact copy within the retries.
        """
        wire = 0
        for offset in range(0, len(data), READ_BACK_BYTES):
            want = data[offset:offset + READ_BACK_BYTES]
            seen: bytes | None = None
            for _ in range(self.retry.attempts):
                reply = self._exchange(f"db print {len(want)} {offset}", self.link.timeout_s)
                wire += reply.wire_bytes
                held = b"".join(m.data for m in reply.all(p.Buffer))
                if held == want:
                    break
                if held == seen and len(held) == len(want):
                    raise self._error(CorruptReply, f"the DUT holds {held.hex()} at bytes {offset}.."
                                      f"{offset + len(want)} (read back twice) where {want.hex()} was sent")
                seen = held
            else:
                raise self._error(CorruptReply, f"bytes {offset}..{offset + len(want)} of the input did not read back "
                                  f"intact with 'db print' in {self.retry.attempts} tries")
        return wire

    def _chunk(self, command: str) -> Reply:
        """One ``db <hex>`` command, sent again after any ``e-[...]`` reply (bounded by the retry policy).

        Reference firmware (``ee_buffer_parse``) rejects an odd digit count (a dropped byte) and an
        unparsable command (a corrupted ``db``) before touching its buffer, so resending the chunk is
        safe. The exception is ``Invalid hex digit``: the pairs before the bad one are already stored,
        so a resend would shift the buffer; that error (recognised even when garbled) restarts the load.
        """
        for attempt in range(self.retry.attempts):
            try:
                return self._exchange(command, self.link.timeout_s)
            except DutReplyError as e:
                if _partly_stored(e.reason) or attempt == self.retry.attempts - 1:
                    raise
                self.transcript.note(f"chunk rejected ({e.reason}); sending it again")
        raise AssertionError("unreachable")

    def infer(self, n: int, warmup: int, timeout_s: float) -> InferResult:
        """``infer N W``; after a reset the input is reloaded and the window run again."""
        command = p.infer_command(n, warmup)

        def once() -> Reply:
            reply = self._exchange(command, timeout_s)
            if p.InferStep(f"m-infer-start-{n}", "infer-start", n) not in reply.messages:
                raise self._error(OutOfStep, f"the reply to '{command}%' has no m-infer-start-{n}: "
                                  f"{[m.text for m in reply.messages][:4]}")
            problem = infer_reply_problem(reply.messages, self.scores, timeout_s * 1e6, self._last_lap_us)
            if problem:
                self._last_lap_us = None  # a reset whose banner was lost also turns the timer back: start afresh
                raise self._error(CorruptReply, f"the reply to '{command}%' was corrupted: {problem}")
            laps = reply.all(p.Lap)
            self._last_lap_us = laps[-1].us if laps else self._last_lap_us
            return reply

        # the harness sends only valid infer commands: an e-[...] reply means the command was garbled on the way
        reply = self._resilient(f"'{command}%'", once, retry_replies=True)
        scores = reply.all(p.Results)
        return InferResult(n, warmup, tuple(m.us for m in reply.all(p.Lap)), scores[-1].values if scores else ())

    def results(self) -> tuple[float, ...]:
        """``results%``: the last inference's scores, checked as an infer reply's are."""
        def once() -> tuple[float, ...]:
            found = self._exchange("results", self.link.timeout_s).all(p.Results)
            if not found:
                raise self._error(DutReplyError, "the reply to 'results%' has no m-results-[...] line",
                                  reason="no results")
            problem = results_problem(found[-1], self.scores)
            if problem:
                raise self._error(CorruptReply, f"the reply to 'results%' was corrupted: {problem}")
            return found[-1].values

        return self._resilient("'results%'", once)


def _line_end(buf: bytearray) -> int | None:
    """Index of the last byte of the first complete line in ``buf``: its LF, or a CR followed by anything but LF."""
    lf = buf.find(b"\n")
    cr = buf.find(b"\r")
    if 0 <= cr < len(buf) - 1 and (lf < 0 or cr < lf - 1):
        return cr
    return lf if lf >= 0 else None


def _partly_stored(reason: str) -> bool:
    """Whether an ``e-[...]`` reason is (a garbled) ``Invalid hex digit``, after which the firmware kept some pairs."""
    head = reason[:len(PARTLY_STORED)]
    return difflib.SequenceMatcher(None, head, PARTLY_STORED).ratio() >= SIMILAR
