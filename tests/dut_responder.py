"""A tiny scripted MLPerf Tiny responder on a local socket, for testing the host driver at the transport boundary.

It answers the protocol's bytes the way reference firmware does, with faults switched on by the test:
silence, an ignored first ``name%``, debug noise after ``m-ready`` (with or without its line end), a
dropped hex digit or any error reply for chosen ``db`` chunks, a reset (boot banner) or a corrupted
result line instead of chosen ``infer`` replies, a partial reply line, and an IO manager in front.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

BANNER = ["m-timestamp-mode-performance", "m-init-done", "m-ready"]
N_CLASSES = 12
TOP_SCORE = 0.996  # the largest score an int8 softmax output (scale 1/256, zero point -128) prints


def scores_for(buffer: bytes) -> list[float]:
    """The responder's 'model': one-hot on class ``buffer[0] % 12``, so tests know the top-1 in advance."""
    top = buffer[0] % N_CLASSES if buffer else 0
    return [TOP_SCORE if i == top else 0.0 for i in range(N_CLASSES)]


@dataclass
class ScriptedDut:
    latency_us: int = 20_000
    silent: bool = False
    ignore_first_name: bool = False
    noise_after_ready: bool = False
    drop_digit_in_chunks: set[int] = field(default_factory=set)  # indices of `db <hex>` commands, counted from 0
    corrupt_digit_in_chunks: set[int] = field(default_factory=set)  # a digit arrives as 'g': the pairs before stay
    reset_on_infers: set[int] = field(default_factory=set)  # indices of `infer` commands, counted from 0
    hangup_on_infers: set[int] = field(default_factory=set)  # the link drops (USB re-enumeration, socket closed)
    dead_from_infer: int | None = None  # from this infer on the DUT answers nothing (a hung board)
    io_manager: bool = False
    chunk_errors: dict[int, str] = field(default_factory=dict)  # `db <hex>` index -> e-[reason] printed, nothing stored
    noise_without_eol: bool = False  # a debug print after m-ready whose CR/LF was lost
    partial_reply: str | None = None  # every command is answered with this text and no line end, then silence
    results_lines: dict[int, str] = field(default_factory=dict)  # infer index -> the (corrupted) m-results line
    commands: list[str] = field(default_factory=list)
    _clock_us: int = 1_000
    _expected: int = 0
    _buffer: bytearray = field(default_factory=bytearray)
    _names: int = 0
    _chunks: int = 0
    _infers: int = 0
    _hung_up: bool = False

    def __enter__(self) -> ScriptedDut:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._server.close()

    @property
    def url(self) -> str:
        host, port = self._server.getsockname()
        return f"socket://{host}:{port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            conn.settimeout(0.05)
            pending = bytearray()
            self._hung_up = False
            with conn:
                while not self._stop.is_set() and not self._hung_up:
                    try:
                        data = conn.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    pending += data
                    while b"%" in pending and not self._hung_up:
                        end = pending.index(b"%")
                        command = pending[:end].decode("latin-1")
                        del pending[: end + 1]
                        lines = self._reply(command)
                        if lines is None:
                            break  # hang up: the with-block closes the connection
                        if self.partial_reply is not None:
                            conn.sendall(self.partial_reply.encode("latin-1"))
                        elif lines:
                            noise = "[debug] heap 1234 free" if self.noise_without_eol else ""
                            conn.sendall(("".join(f"{line}\r\n" for line in lines) + noise).encode("latin-1"))

    def _reply(self, command: str) -> list[str] | None:
        self.commands.append(command)
        if command.startswith("infer") and self._infers in self.hangup_on_infers:
            self._infers += 1
            self._buffer.clear()
            self._hung_up = True
            return None
        if self.dead_from_infer is not None and command.startswith("infer") and self._infers >= self.dead_from_infer:
            self.silent = True
        if self.silent:
            return []
        if not self.io_manager:
            return self._dut(command)
        if command == "name":
            return ["m-name-[scripted io manager]", "m-ready"]
        if not command.startswith("dut "):
            return [f"e-[Unknown command: {command}]", "m-ready"]
        inner = command[4:]
        return [f"m-dut-passthrough({inner})", "m-ready", "io: relaying"] + [f"[dut]: {x}" for x in self._dut(inner)]

    def _dut(self, command: str) -> list[str]:
        word, _, rest = command.partition(" ")
        if word == "name":
            self._names += 1
            if self.ignore_first_name and self._names == 1:
                return []
            lines = ["m-name-dut-[scripted]"]
        elif word == "profile":
            lines = ["m-profile-[scripted-fw 1.0]", "m-model-[kws01]"]
        elif word == "db":
            lines = self._db(rest)
        elif word == "infer":
            lines = self._infer(rest)
        elif word == "results":
            lines = [self._results()]
        else:
            lines = [f"e-[Unknown command: {command}]"]
        if lines and lines[-1] == "m-ready":
            return lines  # a boot banner already ends with m-ready
        return lines + ["m-ready"] + (["debug: heap 1234 free"] if self.noise_after_ready else [])

    def _db(self, rest: str) -> list[str]:
        if rest.startswith("load "):
            self._expected = int(rest[5:])
            self._buffer.clear()
            return [f"m-[Expecting {self._expected} bytes]"]
        index = self._chunks
        self._chunks += 1
        if index in self.chunk_errors:
            return [f"e-[{self.chunk_errors[index]}]"]
        if index in self.drop_digit_in_chunks:
            rest = rest[:-1]
        if index in self.corrupt_digit_in_chunks:
            rest = rest[:10] + "g" + rest[11:]
        if len(rest) % 2:
            return ["e-[Insufficent number of hex digits]"]
        for i in range(0, len(rest), 2):
            try:
                self._buffer += bytes.fromhex(rest[i:i + 2])
            except ValueError:
                return [f"e-[Invalid hex digit '{rest[i:i + 2]}']"]
        return ["m-load-done"] if len(self._buffer) == self._expected else []

    def _infer(self, rest: str) -> list[str]:
        index = self._infers
        self._infers += 1
        if index in self.reset_on_infers:
            self._buffer.clear()
            self._expected = 0
            self._clock_us = 1_000
            return list(BANNER)
        n, warmup = (int(v) for v in rest.split())
        self._clock_us += warmup * self.latency_us
        a = self._clock_us
        self._clock_us += n * self.latency_us
        return [f"m-warmup-start-{warmup}", "m-warmup-done", f"m-infer-start-{n}", f"m-lap-us-{a}",
                f"m-lap-us-{self._clock_us}", "m-infer-done", self.results_lines.get(index, self._results())]

    def _results(self) -> str:
        return "m-results-[" + ",".join(f"{v:.3f}" for v in scores_for(bytes(self._buffer))) + "]"
