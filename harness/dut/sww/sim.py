"""A simulated enhanced interface board and sww DUT, byte-compatible with the real pair, served on a socket.

The board "plays" 2-channel WAVs from a folder standing in for its SD card into the DUT, in simulated time:
a stream of any length is processed as fast as the model runs. The DUT hears the left slot, runs a
``StreamDetector`` (a real model: front end and model on every step) and pulses its detection pin for each
detection and on its first frame after ``start`` (the runner's t = 0 marker), and its processing pin from each
frame's arrival for the detector's per-frame latency. The board stamps pulses with TIM2 (10 us ticks since
``record_detections``) and keeps the processing edges of the first 100 frames, as the real firmware does.
The DUT drives its supply draw on ``Wiring``s (active while a frame is processed, idle otherwise), which is how
a simulated power monitor integrates energy over the stream. Faults: the simulated DUT's seeded byte and command
faults, and scripted ones (replies dropped, a play that never finishes, a DUT reset halfway through a play, after
which it prints its boot banner).
"""

from __future__ import annotations

import logging
import threading
import wave
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np

from harness.core.errors import ConfigError, DeviceError
from harness.dut.sim.faults import FaultPlan
from harness.dut.sim.injector import FaultInjector, FaultLog
from harness.dut.sim.links import Link, Listener, open_listener
from harness.dut.sww import wire as w
from harness.power.wiring import Wiring

SAMPLE_RATE = 16_000
TICKS_PER_S = 100_000
EEMBC_BOOT_BANNER = ("m-timestamp-mode-performance", "m-init-done")  # what EEMBC-derived firmware prints at boot
# The sww reference firmware (sww_ref_util.c, main.c) prints nothing at boot: it comes up idle.
log = logging.getLogger("harness.dut.sww")


class StreamDetector(Protocol):
    """What runs inside the simulated DUT: detections of a model on a whole stream, and its cost per frame."""

    frame_samples: int     # audio per model step: the DMA block after which the DUT processes
    latency_s: float       # device time per frame (front end + model)
    latency_source: str    # where latency_s comes from (a prediction is never a measurement)
    description: str

    def detections(self, audio: np.ndarray) -> np.ndarray:
        """End sample (exclusive) of the audio each detection had consumed, for int16 mono ``audio``."""


def sample_ticks(samples: int) -> int:
    """TIM2 ticks (10 us) spanned by ``samples`` at 16 kHz, floored."""
    return samples * TICKS_PER_S // SAMPLE_RATE


@dataclass
class Heard:
    """The DUT's pin activity for one played stream, in ticks from the start of playback."""

    detection_pulses: list[int]
    processing_edges: list[tuple[int, int]]


class SimSwwDut:
    """The DUT's command set (sww_ref_util.c: name, profile, start, stop) and its response to audio.

    ``wirings`` receive its supply draw in seconds of board time: ``idle_w`` between frames, ``active_w`` while
    a frame is processed (from its arrival for the detector's latency).
    """

    def __init__(self, detector: StreamDetector, name: str = "sim-sww", wirings: list[Wiring] | None = None,
                 idle_w: float = 0.0, active_w: float = 0.0, boot_banner: tuple[str, ...] = ()) -> None:
        self.detector = detector
        self.boot_banner = boot_banner  # () as the reference firmware; EEMBC_BOOT_BANNER as EEMBC-derived firmware
        self.name = name
        self.streaming = False
        self._first_frame = False
        self.wirings = list(wirings or [])
        self.idle_w, self.active_w = idle_w, active_w
        self._powered_from = 0  # ticks: the wirings' last event, so simulated time never runs backwards
        self._booted: list[str] = []  # banner lines printed since the last command, relayed with the next reply
        for wiring in self.wirings:
            wiring.power(0.0, idle_w)

    def reset(self) -> None:
        """A reset (watchdog, brown-out): streaming stops until the host sends ``start`` again; a boot banner, if
        the firmware prints one, comes out before the next reply."""
        self.streaming, self._first_frame = False, False
        self._booted = list(self.boot_banner)

    def fault_reset(self, command: str) -> list[str] | None:
        """The seeded reset fault on the DUT's own port: it resets while receiving ``command``, which is lost."""
        self.reset()
        return None

    def handle(self, command: str) -> list[str]:
        banner, self._booted = self._booted, []
        return [*banner, *self._reply(command)]

    def _reply(self, command: str) -> list[str]:
        if command == "name":
            return [f"m-name-dut-[{self.name}]", w.END]
        if command == "profile":
            return [f"m-profile-[{self.detector.description}; latency {self.detector.latency_s * 1e3:.3f} ms per "
                    f"frame, {self.detector.latency_source}]", "m-model-[sww01]", w.END]
        if command == "start":
            self.streaming, self._first_frame = True, True
            return [w.END]
        if command == "stop":
            was, self.streaming = self.streaming, False
            return ["Streaming stopped." if was else f"{w.IDLE_AT_STOP}.  Ignoring stop request", w.END]
        return [f"e-[Unknown command: {command}]", w.END]

    def hear(self, left: np.ndarray, start_tick: int = 0) -> Heard:
        """Pins while ``left`` (int16) streams in from board tick ``start_tick``; silent unless started."""
        if not self.streaming:
            return Heard([], [])
        frame = self.detector.frame_samples
        latency = round(self.detector.latency_s * TICKS_PER_S)
        n_frames = left.size // frame
        self._drive_power(start_tick, n_frames, frame, latency)
        pulses = []
        if self._first_frame and n_frames:
            pulses.append(sample_ticks(frame))
            self._first_frame = False
        for end in np.asarray(self.detector.detections(left), dtype=np.int64):
            arrived = -(-int(end) // frame) * frame  # processed once the frame holding its last sample arrived
            if arrived <= n_frames * frame:
                pulses.append(sample_ticks(arrived) + latency)
        edges = [(sample_ticks((k + 1) * frame), sample_ticks((k + 1) * frame) + latency)
                 for k in range(min(n_frames, w.MAX_FRAMES))]
        return Heard(sorted(pulses), edges)

    def _drive_power(self, start_tick: int, n_frames: int, frame: int, latency: int) -> None:
        """Active power from each frame's arrival for ``latency`` ticks, idle between; back-to-back frames merge."""
        if not self.wirings or not n_frames:
            return
        busy: list[list[int]] = []
        for k in range(n_frames):
            begin = max(start_tick + sample_ticks((k + 1) * frame), self._powered_from)
            if busy and begin <= busy[-1][1]:
                busy[-1][1] = max(busy[-1][1], begin + latency)
            else:
                busy.append([begin, begin + latency])
        for wiring in self.wirings:
            for begin, end in busy:
                wiring.power(begin / TICKS_PER_S, self.active_w)
                wiring.power(end / TICKS_PER_S, self.idle_w)
        self._powered_from = busy[-1][1]


def read_board_wav(path: Path) -> np.ndarray:
    """The left slot of a WAV the board can play; DeviceError (the board's own refusal) otherwise."""
    try:
        with wave.open(str(path), "rb") as f:
            shape = (f.getnchannels(), f.getframerate(), f.getsampwidth(), f.getcomptype())
            frames = f.readframes(f.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise DeviceError(f"Error playing file {path.name}: {exc}") from None
    if shape != (2, SAMPLE_RATE, 2, "NONE"):
        raise DeviceError(f"Error playing file {path.name}: need a 2-channel wav file, 16 kHz 16-bit PCM "
                          f"(got {shape[0]} channel(s), {shape[1]} Hz, {8 * shape[2]}-bit)")
    return np.frombuffer(frames, dtype="<i2").reshape(-1, 2)[:, 0].astype(np.int16)


@dataclass
class SimInterfaceBoard:
    """The board's command set over a folder standing in for the SD card, with the DUT wired to it."""

    sd_card: Path
    dut: SimSwwDut
    hang_play: bool = False  # fault: a play that never finishes (no reply at all)
    hang_plays: frozenset[int] = frozenset()   # fault: these plays (1 = the first) never finish
    reset_plays: frozenset[int] = frozenset()  # fault: the DUT resets halfway through these plays
    drop_replies: frozenset[int] = frozenset()  # fault: the replies to these commands (1 = the first) are lost
    clock: int = 0           # simulated ticks since power-on
    commands: int = 0
    plays: int = 0
    reset_dut_mid_play: bool = False  # fault armed: the DUT resets halfway through the next play
    dut_resets: list[int] = field(default_factory=list)  # ticks at which the DUT was reset by a fault
    _record_from: int = 0
    _detections_ms: list[int] = field(default_factory=list)
    _edges: list[tuple[int, int]] = field(default_factory=list)

    def handle(self, command: str) -> list[str] | None:
        """The reply lines to one command (without ``%``); None when the board never answers."""
        self.commands += 1
        reply = self._reply(command)
        return None if self.commands in self.drop_replies else reply

    def _reply(self, command: str) -> list[str] | None:
        word, _, argument = command.strip().partition(" ")
        if word == "name":
            return [w.BOARD_NAME, w.END]
        if word == "ls":
            return [*sorted(p.name for p in self.sd_card.iterdir() if p.is_file()), w.END]
        if word == "play":
            return self._play(argument.strip())
        if word == "record_detections":
            self._record_from, self._detections_ms, self._edges = self.clock, [], []
            return [w.END]
        if word == "print_detections":
            return [w.DETECTIONS_HEADER, *(f"{ms}," for ms in self._detections_ms), w.END]
        if word == "print_dutycycle":
            return [w.DUTY_START_HEADER, *w.number_lines([a for a, _ in self._edges]),
                    w.DUTY_STOP_HEADER, *w.number_lines([b for _, b in self._edges]), w.END]
        if word == "dut":  # the board's m-ready first, then the DUT's reply relayed (InterfaceMenu.cpp Passthrough)
            return [w.passthrough_echo(argument), w.END, *(w.DUT_PREFIX + line for line in self.dut.handle(argument))]
        return [f"Unknown command: {word}", w.END]

    def _play(self, name: str) -> list[str] | None:
        path = self.sd_card / name
        if not name or not path.is_file():
            return [f"Error playing file {name}: not found", w.END]
        try:
            left = read_board_wav(path)
        except DeviceError as exc:
            return [exc.message, w.END]
        self.plays += 1
        if self.hang_play or self.plays in self.hang_plays:
            return None
        if self.plays in self.reset_plays:
            self.reset_dut_mid_play = True
        start = self.clock
        reset_at = self._reset_at_sample(left.size)
        heard = self.dut.hear(left[:reset_at], start)
        if reset_at < left.size:
            self.dut.reset()
        for tick in heard.detection_pulses:
            self._record(start + tick)
        room = w.MAX_FRAMES - len(self._edges)
        self._edges += [(start + a - self._record_from, start + b - self._record_from)
                        for a, b in heard.processing_edges[:max(room, 0)]]
        self.clock = start + sample_ticks(left.size)
        return [w.PLAY_OK, w.END]

    def _reset_at_sample(self, n: int) -> int:
        """Where the DUT stops hearing this play: halfway when a reset fault was armed for it, else the end."""
        if not self.reset_dut_mid_play:
            return n
        self.reset_dut_mid_play = False
        self.dut_resets.append(self.clock + sample_ticks(n // 2))
        return n // 2

    def fault_reset(self, command: str) -> list[str] | None:
        """The seeded reset fault: the DUT resets, halfway through the stream if this command plays one."""
        self.reset_dut_mid_play = command.strip().startswith("play ")
        reply = self.handle(command)
        self.dut.reset()
        return reply

    @property
    def timer_us(self) -> int:
        return self.clock * 10

    def _record(self, tick: int) -> None:
        ms = (tick - self._record_from) // 100
        if self._detections_ms and ms - self._detections_ms[-1] < w.DEBOUNCE_MS:
            return
        if len(self._detections_ms) < w.MAX_TIMESTAMPS:
            self._detections_ms.append(ms)


class Responder(Protocol):
    """What a server answers for: the board, or the DUT on its own UART."""

    def handle(self, command: str) -> list[str] | None: ...

    def fault_reset(self, command: str) -> list[str] | None: ...


class SimBoardServer:
    """Serves a simulated board (or the DUT's own port) on ``socket://127.0.0.1:PORT`` or a pty, for
    ``serial.serial_for_url``, with the simulated DUT's seeded faults on its bytes and commands."""

    def __init__(self, board: Responder, listen: str = "socket://127.0.0.1:0", faults: FaultPlan | None = None,
                 name: str = "sim-sww-board") -> None:
        self.board = board
        self.name = name
        self._listen = listen
        self.fault_log = FaultLog()
        self._injector = FaultInjector(faults or FaultPlan(), self.fault_log)
        self._listener: Listener | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> SimBoardServer:
        if self._listener is not None:
            raise ConfigError(f"the simulated board already serves on {self.url}")
        self._listener = open_listener(self._listen)
        self.url = self._listener.url
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> SimBoardServer:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            link = self._listener.accept()
            if link is not None:
                try:
                    self._converse(link)
                except Exception:  # a bug must not kill the board silently: log it and serve the next host
                    log.exception("%s: dropping the connection after an internal error", self.name)
                finally:
                    link.close()

    def _converse(self, link: Link) -> None:
        pending = bytearray()
        while not self._stop.is_set():
            data = link.recv()
            if data is None:
                return
            pending += self._injector.inbound(data)
            while b"%" in pending:
                raw, _, rest = bytes(pending).partition(b"%")
                pending = bytearray(rest)
                reply = self._reply(raw.decode("latin-1").strip())
                if reply and not link.send(self._injector.outbound(reply)):
                    return

    def _reply(self, command: str) -> bytes:
        """The bytes the host receives for one command: nothing when it is swallowed or the board hangs."""
        action = self._injector.on_command(command)
        if action == "swallow":
            return b""
        lines = self.board.fault_reset(command) if action == "reset" else self.board.handle(command)
        log.info("%s: %s -> %s", self.name, command, "(no reply)" if lines is None else f"{len(lines)} line(s)")
        if lines is None:
            return b""
        delay = self._injector.reply_delay_s()
        if delay:
            self._stop.wait(delay)
        noise = self._injector.noise_lines(getattr(self.board, "timer_us", 0))
        return "".join(line + "\r\n" for line in [*lines, *noise]).encode("latin-1")
