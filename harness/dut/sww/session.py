"""The field runner's stream step (mlcommons/tiny benchmark/runner/script.py), on an ``InterfaceBoard``.

DUT ``stop`` then ``start``; ``record_detections``; ``play`` the WAV; a short settle; DUT ``stop``;
``print_detections``; ``print_dutycycle``. DUT commands go through the board's pass-through, or to the DUT's own
port when one is given. What comes back is raw: the timestamps still start with the DUT's first-frame marker, for
``harness.evaluation.sww.score_stream``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from harness.dut.sww.board import InterfaceBoard
from harness.dut.sww.wire import DutyCycle

SETTLE_S = 0.25  # the runner waits this long after play before stopping the DUT


@dataclass(frozen=True)
class StreamCapture:
    """One played stream as the board reported it (measured on the device)."""

    wav_file: str
    length_s: float
    detections_ms: tuple[int, ...]  # first-frame marker first
    duty: DutyCycle
    dut_stop_lines: tuple[str, ...]
    transcript: Path


def play_stream(board: InterfaceBoard, wav_file: str, length_s: float, settle_s: float = SETTLE_S,
                dut: InterfaceBoard | None = None) -> StreamCapture:
    """Run one stream through the board and its DUT (``dut``: its own port, else the board's pass-through)."""
    control = dut or board
    control.stop()
    control.start()
    board.record_detections()
    board.play(wav_file, length_s)
    if settle_s:
        time.sleep(settle_s)
    stop_lines = control.stop_stream()
    detections = board.print_detections()
    duty = board.print_dutycycle()
    return StreamCapture(wav_file, length_s, tuple(detections), duty, tuple(stop_lines), board.transcript.path)
