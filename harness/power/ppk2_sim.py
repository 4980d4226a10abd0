"""A simulated PPK2 on a pseudo-terminal: ppk2-api's opcodes in, metadata and 32-bit sample words out.

``PPK2_API`` opens a real serial port, so the simulator serves the controller side of a pty and hands out
the device path. It answers ``GET_META_DATA`` with calibration text ending in ``END``, follows
``REGULATOR_SET`` for VDD, and between ``AVERAGE_START`` and ``AVERAGE_STOP`` streams words (ADC in bits
0-13, range in 14-16, logic D0-D7 in 24-31; ppk2-api 0.9.2) rendered from a simulated DUT's wiring, with
the timestamp channel pulled low for a few samples at each edge.
"""

from __future__ import annotations

import os
import select
import threading
import tty

import numpy as np

from harness.power.ppk2 import ADC_MULT, DEFAULT_MODIFIERS, RANGES, RATE_HZ
from harness.power.sim_stream import WiringRenderer, WiringSource, open_source
from harness.power.wiring import WiringLog

# opcodes (ppk2-api PPK2_Command) and how many argument bytes follow each
GET_META_DATA, REGULATOR_SET, SET_POWER_MODE, DEVICE_RUNNING_SET = 0x19, 0x0D, 0x11, 0x0C
AVERAGE_START, AVERAGE_STOP = 0x06, 0x07
ARGUMENTS = {GET_META_DATA: 0, REGULATOR_SET: 2, SET_POWER_MODE: 1, DEVICE_RUNNING_SET: 1, AVERAGE_START: 0,
             AVERAGE_STOP: 0}
R = np.array([DEFAULT_MODIFIERS["R"][str(r)] for r in range(RANGES)])
ADC_MAX = (1 << 14) - 1
PULSE_SAMPLES = 10  # how long the timestamp pin stays low after each edge


def metadata_text() -> str:
    """Calibration in the device's ``key: value`` lines: nominal resistors, no offsets, unit gains."""
    rows = ["Calibrated: 0"] + [f"R{r}: {R[r]}" for r in range(RANGES)]
    for key, value in (("GS", 0), ("GI", 1), ("O", 0), ("S", 0), ("I", 0), ("UG", 1)):
        rows += [f"{key}{r}: {value}" for r in range(RANGES)]
    return "\n".join(rows + ["HW: 9173", "IA: 56", "END"]) + "\n"


def encode_words(current_a: np.ndarray, logic: np.ndarray) -> bytes:
    """Current as the most precise range whose 14-bit ADC holds it (I = 4 x ADC x ADC_MULT / R)."""
    counts = np.clip(current_a, 0, None)[:, None] * R[None, :] / (4 * ADC_MULT)
    fits = counts <= ADC_MAX
    rng = np.where(fits.any(axis=1), fits.argmax(axis=1), RANGES - 1)
    adc = np.minimum(np.rint(counts[np.arange(len(rng)), rng]), ADC_MAX).astype(np.uint32)
    words = adc | (rng.astype(np.uint32) << 14) | (logic.astype(np.uint32) << 24)
    return words.astype("<u4").tobytes()


class Ppk2SimDevice:
    """Serves one simulated PPK2 on ``self.port`` (a /dev/pts path) until ``close()``."""

    def __init__(self, *, wiring: WiringLog | None = None, wiring_url: str | None = None, channel: int = 0,
                 noise: float = 0.0, seed: int = 0, lead_s: float = 0.01, tail_s: float = 0.01) -> None:
        self._source: WiringSource = open_source(wiring_url, wiring, "simulated PPK2")
        self._controller, self._device = os.openpty()
        tty.setraw(self._device)
        self.port = os.ttyname(self._device)
        self.channel = channel
        self.vdd_mv = 3300.0
        self._options = {"noise": noise, "seed": seed, "lead_s": lead_s, "tail_s": tail_s}
        self._renderer: WiringRenderer | None = None
        self._low_until = 0  # the timestamp pin is low up to this sample (a pulse may straddle blocks)
        self._closing = threading.Event()
        self.measuring = threading.Event()  # set once AVERAGE_START is processed: later wiring is measured
        self._thread = threading.Thread(target=self._serve, name="ppk2-sim", daemon=True)

    def start(self) -> Ppk2SimDevice:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5.0)
        os.close(self._controller)
        os.close(self._device)
        self._source.close()

    def __enter__(self) -> Ppk2SimDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        commands = b""
        while not self._closing.is_set():
            ready, _, _ = select.select([self._controller], [], [], 0.002 if self._renderer else 0.05)
            if ready:
                commands += os.read(self._controller, 4096)
            while commands and len(commands) > ARGUMENTS.get(commands[0], 0):
                n = 1 + ARGUMENTS.get(commands[0], 0)
                self._command(commands[0], commands[1:n])
                commands = commands[n:]
            if self._renderer is not None:
                self._stream(self._source.poll(0.0))

    def _command(self, opcode: int, args: bytes) -> None:
        if opcode == GET_META_DATA:
            self._send(metadata_text().encode("ascii"))
        elif opcode == REGULATOR_SET:  # ppk2-api: (b1, b2) = (3 + d // 256, d % 256), d = mV - 800 + 32
            self.vdd_mv = float((args[0] - 3) * 256 + args[1] + 800 - 32)
        elif opcode == AVERAGE_START:
            self._renderer = WiringRenderer(RATE_HZ, self.vdd_mv / 1000, **self._options)  # type: ignore[arg-type]
            self._renderer.prime(self._source.backlog())
            self._low_until = 0
            self.measuring.set()
        elif opcode == AVERAGE_STOP and self._renderer is not None:
            self._renderer.feed(self._source.poll(0.05))  # what the DUT did up to the stop request
            self._renderer.finish()
            self._stream([])
            self._renderer = None
            self.measuring.clear()

    def _stream(self, events: list) -> None:
        assert self._renderer is not None
        self._renderer.feed(events)
        while (block := self._renderer.render()) is not None:
            low = np.zeros(len(block.current_a), dtype=bool)
            edges = np.rint(block.events_s * RATE_HZ).astype(int).tolist()
            spans = [(block.start, self._low_until)] + [(e, e + PULSE_SAMPLES) for e in edges]
            for a, b in spans:
                low[max(a - block.start, 0):max(b - block.start, 0)] = True
            self._low_until = max(b for _, b in spans)
            logic = np.where(low, 0, 1 << self.channel).astype(np.uint8)
            self._send(encode_words(block.current_a, logic))

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._closing.is_set():
            _, writable, _ = select.select([], [self._controller], [], 0.1)
            if writable:
                view = view[os.write(self._controller, view):]
