"""MLPerf Tiny streaming wake-word (sww01) scoring: detection timestamps against a stream's detection windows.

The field runner (mlcommons/tiny benchmark/runner/streaming_ww_utils.py, ``calc_detection_stats``) counts a
wake word as a true positive when at least one detection falls in its admissible window, removes every
detection in that window, and counts each remaining detection as a false positive after a 1 s debounce. Its
README and its code disagree on the window (docs/streaming.md): [start, end + 1 s] in the README, [start,
end + 2 s] in the code merged in mlcommons/tiny#176. Both are computed; the verdict names the rule it used
and flags a result whose pass/fail (at most 8 FP and 8 FN) depends on the rule.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from harness.core.errors import DataError, MeasurementError
from harness.core.verdict import Verdict

MAX_FALSE_POSITIVES = 8  # MLPerf Tiny rules, sww quality target: at most 8 FP and 8 FN
MAX_FALSE_NEGATIVES = 8
DEBOUNCE_S = 1.0
_EPS = 1e-9


class WindowRule(str, Enum):
    """How far past a wake word's end a detection still counts as its true positive."""

    README = "readme"  # [start, end + 1 s]: the runner README's definition
    CODE = "code"      # [start, end + 2 s]: the runner code adds the 1 s delay twice

    __str__ = str.__str__

    @property
    def extension_s(self) -> float:
        return 1.0 if self is WindowRule.README else 2.0


@dataclass(frozen=True)
class StreamTruth:
    """One entry of a runner truth file (``sww_long_test.json``): a WAV and its wake words' windows."""

    wav_file: str
    sample_rate: int
    length_sec: float
    detection_windows: tuple[tuple[float, float], ...]

    def to_json(self) -> dict[str, Any]:
        return {"wav_file": self.wav_file, "sample_rate": self.sample_rate, "length_sec": self.length_sec,
                "detection_windows": [[start, end] for start, end in self.detection_windows]}


def _field(path: Path, index: int, name: str, problem: str, valid: str) -> DataError:
    return DataError(f"{path}: entry {index}, field '{name}': {problem}", hint=f"valid: {valid}")


def parse_truth(data: object, path: Path) -> list[StreamTruth]:
    """Validate a truth file's decoded JSON: a list of {wav_file, sample_rate, length_sec, detection_windows}."""
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of streams, got {type(data).__name__}",
                        hint='valid: [{"wav_file": ..., "sample_rate": 16000, "length_sec": ..., '
                             '"detection_windows": [[start_s, end_s], ...]}]')
    streams = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise DataError(f"{path}: entry {i} is not an object")
        for name in ("wav_file", "sample_rate", "length_sec", "detection_windows"):
            if name not in entry:
                raise _field(path, i, name, "missing", "every entry has wav_file, sample_rate, length_sec, "
                             "detection_windows")
        if not isinstance(entry["wav_file"], str) or not entry["wav_file"]:
            raise _field(path, i, "wav_file", f"{entry['wav_file']!r} is not a file name", "a WAV file name")
        rate, length = entry["sample_rate"], entry["length_sec"]
        if not isinstance(rate, int) or rate <= 0:
            raise _field(path, i, "sample_rate", f"{rate!r}", "a positive integer (16000)")
        if not isinstance(length, (int, float)) or not math.isfinite(length) or length <= 0:
            raise _field(path, i, "length_sec", f"{length!r}", "a positive number of seconds")
        windows = []
        for window in entry["detection_windows"]:
            ok = (isinstance(window, list) and len(window) == 2
                  and all(isinstance(v, (int, float)) and math.isfinite(v) for v in window)
                  and 0 <= window[0] <= window[1])
            if not ok:
                raise _field(path, i, "detection_windows", f"{window!r} is not a window",
                             "[start_s, end_s] with 0 <= start_s <= end_s")
            windows.append((float(window[0]), float(window[1])))
        streams.append(StreamTruth(entry["wav_file"], rate, float(length), tuple(windows)))
    return streams


def read_truth(path: Path) -> list[StreamTruth]:
    """Read a runner truth file, refusing a malformed one with the file and field named."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: truth file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not JSON: {exc}") from None
    return parse_truth(data, path)


def write_truth(path: Path, streams: list[StreamTruth]) -> None:
    path.write_text(json.dumps([s.to_json() for s in streams], indent=2) + "\n", encoding="utf-8")


def detections_since_start(timestamps_ms: ArrayLike) -> np.ndarray:
    """Detection times in seconds after the start marker: the DUT pulses on its first frame after ``start``.

    Only the marker (no wake word heard) is a valid result with no detections; no timestamp at all means
    the detection line was never wired or the DUT never streamed.
    """
    stamps = np.asarray(timestamps_ms, dtype=np.int64).reshape(-1)
    if stamps.size == 0:
        raise MeasurementError("no detection timestamps at all: the DUT's first-frame marker is missing",
                               hint="check the WW_DETECTED wiring to the interface board and that the DUT "
                                    "received 'start' before the stream played")
    return (stamps[1:] - stamps[0]) / 1000.0


@dataclass(frozen=True)
class SwwCount:
    """Counts under one window rule. Times are seconds of stream time."""

    rule: WindowRule
    true_positives: tuple[float, ...]   # start of each detected wake word
    false_negatives: tuple[float, ...]  # start of each missed wake word
    false_positives: tuple[float, ...]  # each debounced false detection
    length_s: float

    @property
    def tp(self) -> int:
        return len(self.true_positives)

    @property
    def fn(self) -> int:
        return len(self.false_negatives)

    @property
    def fp(self) -> int:
        return len(self.false_positives)

    @property
    def f1(self) -> float:
        """2TP / (2TP + FP + FN), what the submission checker records as sww accuracy."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else float("nan")

    @property
    def false_accepts_per_hour(self) -> float:
        """False positives per hour of stream (the whole stream's length, wake-word stretches included)."""
        return self.fp * 3600.0 / self.length_s

    @property
    def passed(self) -> bool:
        return self.fp <= MAX_FALSE_POSITIVES and self.fn <= MAX_FALSE_NEGATIVES

    def to_json(self) -> dict[str, Any]:
        return {"rule": str(self.rule), "window": f"[start, end + {self.rule.extension_s:g} s]",
                "tp": self.tp, "fn": self.fn, "fp": self.fp, "f1": self.f1,
                "false_accepts_per_hour": self.false_accepts_per_hour, "passed": self.passed,
                "false_positive_times_s": list(self.false_positives)}


def count(detections_s: ArrayLike, windows: tuple[tuple[float, float], ...], length_s: float,
          rule: WindowRule, debounce_s: float = DEBOUNCE_S) -> SwwCount:
    """TP/FN/FP of detections (seconds after the start marker) against the wake words' windows.

    Windows are taken in order; each TP removes every detection in its window. The remaining detections
    are debounced: one counts, and any within ``debounce_s`` after it is dropped.
    """
    remaining = np.sort(np.asarray(detections_s, dtype=float).reshape(-1))
    hits, misses = [], []
    for start, end in windows:
        inside = (remaining >= start - _EPS) & (remaining <= end + rule.extension_s + _EPS)
        if inside.any():
            hits.append(start)
            remaining = remaining[~inside]
        else:
            misses.append(start)
    false_positives: list[float] = []
    for t in remaining:
        if not false_positives or t > false_positives[-1] + debounce_s + _EPS:
            false_positives.append(float(t))
    return SwwCount(rule, tuple(hits), tuple(misses), tuple(false_positives), length_s)


@dataclass(frozen=True)
class SwwResult:
    """One stream scored under both window rules, with the verdict taken under ``verdict_rule``."""

    wav_file: str
    counts: dict[WindowRule, SwwCount]
    verdict_rule: WindowRule

    @property
    def verdict(self) -> Verdict:
        return Verdict.PASS if self.counts[self.verdict_rule].passed else Verdict.FAIL

    @property
    def rule_dependent(self) -> bool:
        """True when the README and code windows give different pass/fail."""
        return len({c.passed for c in self.counts.values()}) > 1

    def to_json(self) -> dict[str, Any]:
        return {"wav_file": self.wav_file, "verdict": str(self.verdict), "verdict_rule": str(self.verdict_rule),
                "rule_dependent": self.rule_dependent,
                "limits": {"max_fp": MAX_FALSE_POSITIVES, "max_fn": MAX_FALSE_NEGATIVES},
                "counts": {str(rule): c.to_json() for rule, c in self.counts.items()}}


def score_stream(timestamps_ms: ArrayLike, truth: StreamTruth, verdict_rule: WindowRule = WindowRule.CODE,
                 debounce_s: float = DEBOUNCE_S) -> SwwResult:
    """Score a board's printed detection timestamps (marker first, in ms) against one stream's truth.

    The verdict defaults to the code's rule: it is what the field runner, and so every published result,
    used.
    """
    detections = detections_since_start(timestamps_ms)
    counts = {rule: count(detections, truth.detection_windows, truth.length_sec, rule, debounce_s)
              for rule in WindowRule}
    return SwwResult(truth.wav_file, counts, verdict_rule)
