"""Checks that an ``infer`` reply is what firmware can print, so corruption on the wire is retried, not reported.

A result line is accepted only if it fits the ``m-results-[v0,...]`` grammar, holds as many scores as
the model has outputs, and every score is finite and one the output can represent: for a quantized
output a dequantized step ``(q - zero_point) * scale`` with q in the dtype's range, as printed with
3 decimals; for a float output any finite value. Laps must fit the ``m-lap-us-<u32>`` grammar and
come in the pair ``th_timestamp`` prints around the timed loop (none in energy mode). The caller knows
the model (its host reference) and passes a :class:`ScoreSpec`; this layer does not load models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.dut import protocol as p
from harness.dut.records import TIMER_WRAP

PRINT_ROUNDING = 0.0005  # m-results prints 3 decimals
_EPS = 1e-9


@dataclass(frozen=True)
class ScoreSpec:
    """What a result line of this model may hold: ``count`` scores, each within ``[low, high]`` (rounding included).

    ``scale``/``zero_point``/``qmin``/``qmax`` describe a quantized output, whose printed scores must lie
    within ``rounding`` of a dequantized step; ``scale`` 0 means a float output (finite is all that is known).
    """

    count: int
    low: float = -math.inf
    high: float = math.inf
    scale: float = 0.0
    zero_point: int = 0
    qmin: int = 0
    qmax: int = 0
    rounding: float = PRINT_ROUNDING

    @classmethod
    def quantized(cls, count: int, scale: float, zero_point: int, dtype: np.dtype,
                  rounding: float = PRINT_ROUNDING) -> ScoreSpec:
        info = np.iinfo(dtype)
        low, high = sorted(((int(info.min) - zero_point) * scale, (int(info.max) - zero_point) * scale))
        return cls(count, low - rounding, high + rounding, scale, zero_point, int(info.min), int(info.max), rounding)

    @classmethod
    def floating(cls, count: int) -> ScoreSpec:
        return cls(count)

    def problem(self, scores: Sequence[float]) -> str | None:
        """Why ``scores`` cannot be what the model printed, or None when they can."""
        if len(scores) != self.count:
            return f"{len(scores)} scores where the model has {self.count} outputs"
        for i, v in enumerate(scores):
            if not math.isfinite(v):
                return f"score {i} is {v}, not finite"
            if not self.low - _EPS <= v <= self.high + _EPS:
                return f"score {i} = {v} lies outside what the output can represent [{self.low:g}, {self.high:g}]"
            if self.scale and not self._on_grid(v):
                return f"score {i} = {v} is no dequantized step of scale {self.scale:g}, zero point {self.zero_point}"
        return None

    def _on_grid(self, v: float) -> bool:
        q = round(v / self.scale) + self.zero_point
        return any(self.qmin <= k <= self.qmax and abs((k - self.zero_point) * self.scale - v) <= self.rounding + _EPS
                   for k in (q - 1, q, q + 1))


def infer_reply_problem(messages: Sequence[p.Message], spec: ScoreSpec | None, max_elapsed_us: float = math.inf,
                        previous_lap_us: int | None = None) -> str | None:
    """Why an ``infer`` reply was corrupted on the wire, or None when it is well formed.

    The timed loop cannot have lasted longer than ``max_elapsed_us`` (the host's timeout for the command),
    and the DUT's timer never runs backwards since its last boot (``previous_lap_us``, the last lap it
    printed; a step forward of more than half the 32-bit wrap is a step backwards). A lap that lost or
    changed a high digit fails one of these; one that changed a low digit into another digit cannot be
    told from a true reading, since the protocol has no checksum.
    """
    malformed = [m.text for m in messages if isinstance(m, p.Malformed)]
    if malformed:
        return f"malformed measurement line {malformed[0]!r}"
    laps = [m.us for m in messages if isinstance(m, p.Lap)]
    if len(laps) not in (0, 2):
        return f"{len(laps)} m-lap-us lines where the firmware prints two (or none in energy mode)"
    if any(us >= TIMER_WRAP for us in laps):
        return f"a lap of {max(laps)} us exceeds the 32-bit timer"
    if laps:
        elapsed = (laps[1] - laps[0]) % TIMER_WRAP
        if elapsed > max_elapsed_us:
            return f"laps {laps[0]} and {laps[1]} span {elapsed} us, longer than the host waited"
        if previous_lap_us is not None and (laps[0] - previous_lap_us) % TIMER_WRAP >= TIMER_WRAP // 2:
            return f"lap {laps[0]} us runs back from the DUT's previous lap {previous_lap_us} us"
    results = [m for m in messages if isinstance(m, p.Results)]
    if len(results) != 1:
        return f"{len(results)} m-results lines where the firmware prints one"
    return results_problem(results[0], spec)


def results_problem(result: p.Results, spec: ScoreSpec | None) -> str | None:
    """Why one ``m-results-[...]`` line cannot be the model's output, or None."""
    if spec is None:
        return None if all(math.isfinite(v) for v in result.values) else f"non-finite score in {result.text!r}"
    problem = spec.problem(result.values)
    return f"{problem} in {result.text!r}" if problem else None
