"""The wake-word counting rules: the one implementation every engine's probabilities go through.

A model emits one probability per step (30 ms for microWakeWord, 80 ms for openWakeWord). The rules:
smooth with a sliding mean, detect where the mean exceeds the cutoff with a refractory period after
each detection (events, not frames), and match detections to the spoken phrase with a tolerance.
Step ``i`` is stamped at ``offset_s + (i + 1) * step_s``: the end of the audio it has consumed.

A positive clip without phrase timings (every imported corpus: short recordings of one utterance)
is matched by ``match_untimed``: its first detection is the hit, a detection within the tolerance of
the one before it belongs to the same utterance (a plateau firing again), and any later one is a
false accept. Negative clips count every detection as a false accept either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

_EPS = 1e-9  # absorbs float error when seconds are converted to whole steps


def _as_1d(values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D sequence, got shape {arr.shape}")
    return arr


def smooth(probs: ArrayLike, window: int) -> np.ndarray:
    """Mean of the last ``window`` probabilities at each step; 0 until ``window`` values exist.

    This is what microWakeWord does: no decision is possible before the window has filled.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    p = _as_1d(probs)
    out = np.zeros_like(p)
    if p.size >= window:
        out[window - 1 :] = np.lib.stride_tricks.sliding_window_view(p, window).mean(axis=1)
    return out


def smooth_rows(probs: np.ndarray, window: int) -> np.ndarray:
    """``smooth`` of every row of a (clips, steps) array of equal-length clips, each row bit for bit as ``smooth``
    gives it (the same mean over the same window)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    p = np.asarray(probs, dtype=float)
    out = np.zeros_like(p)
    if p.shape[1] >= window:
        out[:, window - 1 :] = np.lib.stride_tricks.sliding_window_view(p, window, axis=1).mean(axis=-1)
    return out


def score(probs: ArrayLike, window: int) -> float:
    """Per-clip score: the highest smoothed probability (0 for a clip shorter than the window)."""
    smoothed = smooth(probs, window)
    return float(smoothed.max()) if smoothed.size else 0.0


def refractory_steps(refractory_s: float, step_s: float) -> int:
    """Whole steps after a detection during which no new detection may start."""
    if step_s <= 0 or refractory_s < 0:
        raise ValueError("step_s must be > 0 and refractory_s >= 0")
    return max(1, math.ceil(refractory_s / step_s - _EPS))


def detect(
    smoothed: ArrayLike, step_s: float, cutoff: float, refractory_s: float = 1.0, offset_s: float = 0.0
) -> np.ndarray:
    """Detection times in seconds: steps with smoothed > cutoff, at least ``refractory_s`` apart.

    After a detection at step d the next one may happen at step j only if (j - d) * step_s >= refractory_s.
    A plateau above the cutoff longer than the refractory period fires again, as a device would.
    """
    s = _as_1d(smoothed)
    gap = refractory_steps(refractory_s, step_s)
    above = np.flatnonzero(s > cutoff)
    chosen: list[int] = []
    pos = 0
    while pos < above.size:
        chosen.append(int(above[pos]))
        pos = int(np.searchsorted(above, above[pos] + gap, side="left"))
    return offset_s + (np.asarray(chosen, dtype=float) + 1.0) * step_s


def match(
    detections: ArrayLike,
    phrase_start_s: float | None,
    phrase_end_s: float | None,
    tolerance_s: float = 1.0,
) -> tuple[bool, int]:
    """Split detections into (true positive found, number of false accepts).

    The first detection in [phrase_start_s, phrase_end_s + tolerance_s] is the true positive (at most
    one per phrase); every other detection is a false accept. A clip without a phrase (start None)
    has no true positive.
    """
    times = _as_1d(detections)
    if phrase_start_s is None or phrase_end_s is None:
        return False, int(times.size)
    hit = (times >= phrase_start_s - _EPS) & (times <= phrase_end_s + tolerance_s + _EPS)
    tp = bool(hit.any())
    return tp, int(times.size) - int(tp)


def match_untimed(detections: ArrayLike, tolerance_s: float = 1.0) -> tuple[bool, int]:
    """(true positive found, false accepts) for a positive clip whose phrase timings are unknown."""
    times = np.sort(_as_1d(detections))
    if not times.size:
        return False, 0
    same_utterance = np.diff(times) <= tolerance_s + _EPS
    chained = np.logical_and.accumulate(same_utterance)  # only the run of re-fires right after the hit
    return True, int(times.size - 1 - chained.sum())


def timed(value: object) -> float | None:
    """A phrase timing as seconds, or None when the clip has none (absent, None or NaN)."""
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


@dataclass(frozen=True)
class StreamingRules:
    """One model's counting parameters, so callers cannot mix a cutoff with the wrong window."""

    window: int
    cutoff: float
    step_s: float
    refractory_s: float = 1.0
    tolerance_s: float = 1.0
    offset_s: float = 0.0

    def detections(self, probs: ArrayLike, cutoff: float | None = None) -> np.ndarray:
        """Detection times for raw per-step probabilities (``cutoff`` overrides the model's)."""
        return self.detect_smoothed(smooth(probs, self.window), cutoff)

    def detect_smoothed(self, smoothed: ArrayLike, cutoff: float | None = None) -> np.ndarray:
        threshold = self.cutoff if cutoff is None else cutoff
        return detect(smoothed, self.step_s, threshold, self.refractory_s, self.offset_s)

    def match(
        self, detections: ArrayLike, phrase_start_s: float | None, phrase_end_s: float | None
    ) -> tuple[bool, int]:
        return match(detections, phrase_start_s, phrase_end_s, self.tolerance_s)

    def count_rows(self, smoothed: np.ndarray, cutoffs: np.ndarray, positive: np.ndarray, phrase_start_s: np.ndarray,
                   phrase_end_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hit, false accepts) per clip (rows of equal-length ``smoothed``) and cutoff (columns): for every pair what
        ``count(detect_smoothed(row, cutoff), ...)`` gives, with all pairs stepped through their detections at once.

        Each pair's next detection is the first step above its cutoff at least the refractory gap after its last
        one; times, phrase windows and the untimed chain use the same arithmetic as ``detect`` and ``match*``.
        """
        s = np.asarray(smoothed, dtype=float)
        steps = s.shape[1]
        # step-major layout, steps reversed: a running minimum down axis 0 then gives, for every step, the first
        # step at or after it above each cutoff (steps when there is none)
        backwards = np.ascontiguousarray(s[:, ::-1].T)[:, :, None] > np.asarray(cutoffs, dtype=float)[None, None, :]
        index = np.arange(steps - 1, -1, -1, dtype=np.int32)[:, None, None]
        next_above = np.minimum.accumulate(np.where(backwards, index, np.int32(steps)), axis=0)
        pairs = next_above.shape[1:]

        def first_above(step: np.ndarray) -> np.ndarray:
            inside = step < steps
            at = np.take_along_axis(next_above, (steps - 1 - np.where(inside, step, steps - 1))[None], axis=0)[0]
            return np.where(inside, at, steps)

        gap = refractory_steps(self.refractory_s, self.step_s)
        starts = np.asarray(phrase_start_s, dtype=float)[:, None]
        ends = np.asarray(phrase_end_s, dtype=float)[:, None]
        positive = np.asarray(positive, dtype=bool)[:, None]
        timed_phrase = positive & ~np.isnan(starts) & ~np.isnan(ends)
        count = np.zeros(pairs, dtype=np.int64)
        in_phrase = np.zeros(pairs, dtype=bool)
        chained = np.zeros(pairs, dtype=np.int64)
        chain_open = np.ones(pairs, dtype=bool)
        previous = np.zeros(pairs)
        at = next_above[-1].astype(np.int64)
        while (found := at < steps).any():
            time = self.offset_s + (at.astype(float) + 1.0) * self.step_s
            in_phrase |= found & (time >= starts - _EPS) & (time <= ends + self.tolerance_s + _EPS)
            chain_open &= ~found | (count == 0) | (time - previous <= self.tolerance_s + _EPS)
            chained += found & (count > 0) & chain_open
            count += found
            previous = np.where(found, time, previous)
            at = first_above(at + gap)
        hit = np.where(timed_phrase, in_phrase, positive & (count > 0))
        false_accepts = np.where(~positive, count, np.where(timed_phrase, count - in_phrase,
                                                             np.maximum(count - 1 - chained, 0)))
        return hit, false_accepts

    def count(self, detections: ArrayLike, positive: bool, phrase_start_s: object = None,
              phrase_end_s: object = None) -> tuple[bool, int]:
        """(hit, false accepts) of one clip: matched to its phrase timings, or untimed when it has none."""
        if not positive:
            return False, int(_as_1d(detections).size)
        start, end = timed(phrase_start_s), timed(phrase_end_s)
        if start is None or end is None:
            return match_untimed(detections, self.tolerance_s)
        return match(detections, start, end, self.tolerance_s)
