"""Per-group figures of sww01 streams played on a device: FRR and false accepts per hour with intervals, under both
window rules, and the device's detections side by side with the host's streaming evaluation of the same stream.

Each stream stands for one group (an accent, a noise environment): its wake words are that group's positives
(FRR = FN / (TP + FN), Wilson interval) and its length is that group's exposure (FA/h = FP / hours, exact
Poisson interval). Streams of one attribute are summed per group. When the stream set says who spoke each wake
word, the FRR interval is widened by the speakers' design effect (Kish, ``intervals.design_effect``): one
speaker's wake words are not independent trials, as in the clip evaluation. False accepts are counted over
the stream's whole length, not per speaker (design effect 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.evaluation.intervals import design_effect, poisson_rate, wilson
from harness.evaluation.sww import WindowRule

GROUP_COLUMNS = ["model", "attribute", "group", "window_rule", "verdict_rule", "metric", "n", "n_speakers", "n_eff",
                 "design_effect", "value", "ci_low", "ci_high", "k", "exposure_h", "sufficient", "streams",
                 "provenance"]
ROUNDING_S = 0.0011  # the board stamps whole ms, from 10 us ticks: a stamp is at most this far from its pulse


@dataclass(frozen=True)
class StreamGroup:
    """Which group a stream stands for, and the speakers of its wake words (None when the set does not say):
    ``speakers`` the distinct ones, ``wake_word_speakers`` (start s, speaker) of each wake word."""

    attribute: str
    group: str
    speakers: tuple[str, ...] | None = None
    wake_word_speakers: tuple[tuple[float, str], ...] | None = None


def missed_by_speaker(streams: Sequence[dict[str, Any]], rule: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(wake words, misses) per speaker over ``streams`` under ``rule``, or None when a stream does not say who
    spoke its wake words or which it missed. A miss is matched to its wake word by start time."""
    totals: dict[str, list[int]] = {}
    for stream in streams:
        said = stream.get("wake_word_speakers")
        missed = stream["counts"][rule].get("missed_s")
        if said is None or missed is None:
            return None
        missed_starts = np.asarray(missed, dtype=float)
        for start_s, speaker in said:
            counts = totals.setdefault(str(speaker), [0, 0])
            counts[0] += 1
            counts[1] += int(np.any(np.abs(missed_starts - float(start_s)) < 1e-6))
    if not totals:
        return None
    e, k = np.array(list(totals.values()), dtype=float).T
    return e, k


def speaker_design_effect(e: np.ndarray, k: np.ndarray) -> float:
    """Kish's design effect of the miss rate sum(k) / sum(e) clustered by speaker."""
    total_k, total_e = float(k.sum()), float(e.sum())
    spread = float(np.sum((k - total_k / total_e * e) ** 2)) if total_e else 0.0
    return float(design_effect(total_k, total_e, spread, int(np.count_nonzero(e)), poisson=False))


def group_table(streams: Sequence[dict[str, Any]], model: str, provenance: str, verdict_rule: WindowRule,
                confidence: float = 0.95, min_clips: int = 30, min_speakers: int = 5) -> pd.DataFrame:
    """Per (attribute, group, window rule): FRR and FA/h with intervals from the streams' counts.

    ``streams`` are per-stream records with ``attribute``, ``group``, ``length_s``, ``speakers`` (list or None),
    ``counts`` ({rule: {tp, fn, fp, missed_s}}) and ``wake_word_speakers`` ([start s, speaker] per wake word, or
    None: then the FRR's design effect is 1). A group is ``sufficient`` with at least ``min_clips`` wake words
    and, when the speakers are known, ``min_speakers`` of them.
    """
    rows = []
    keys = sorted({(s["attribute"], s["group"]) for s in streams})
    for attribute, group in keys:
        mine = [s for s in streams if (s["attribute"], s["group"]) == (attribute, group)]
        known = [s["speakers"] for s in mine if s.get("speakers") is not None]
        speakers = len({sp for sps in known for sp in sps}) if len(known) == len(mine) else None
        hours = sum(s["length_s"] for s in mine) / 3600.0
        for rule in WindowRule:
            tp = sum(s["counts"][str(rule)]["tp"] for s in mine)
            fn = sum(s["counts"][str(rule)]["fn"] for s in mine)
            fp = sum(s["counts"][str(rule)]["fp"] for s in mine)
            n = tp + fn
            frr = fn / n if n else float("nan")
            per_speaker = missed_by_speaker(mine, str(rule))
            deff = speaker_design_effect(*per_speaker) if per_speaker is not None and n else 1.0
            low, high = wilson(fn / deff, n / deff, confidence)
            rate, r_low, r_high = poisson_rate(fp, hours, confidence)
            enough = n >= min_clips and (speakers is None or speakers >= min_speakers)
            base = {"model": model, "attribute": attribute, "group": group, "window_rule": str(rule),
                    "verdict_rule": rule is verdict_rule, "n_speakers": speakers,
                    "streams": ";".join(s["wav_file"] for s in mine), "provenance": provenance}
            rows.append({**base, "metric": "frr", "n": n, "n_eff": n / deff, "design_effect": deff, "value": frr,
                         "ci_low": low, "ci_high": high, "k": fn, "exposure_h": float("nan"),
                         "sufficient": enough and n > 0})
            rows.append({**base, "metric": "fa_per_hour", "n": len(mine), "n_eff": float(len(mine)),
                         "design_effect": 1.0, "value": rate, "ci_low": r_low, "ci_high": r_high, "k": fp,
                         "exposure_h": hours, "sufficient": enough and hours > 0})
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


def expected_device_times(host_s: np.ndarray, frame_s: float, processing_s: float) -> np.ndarray:
    """Where a device running the host's model would stamp the host's detections, relative to its first-frame
    marker: when the frame holding the detection's last sample has arrived, plus the processing time."""
    frames = np.ceil(np.asarray(host_s, dtype=float) / frame_s - 1e-9)
    return frames * frame_s + processing_s - frame_s


def stream_parity(device_s: Sequence[float], host_s: Sequence[float], frame_s: float,
                  processing_s: float) -> dict[str, Any]:
    """The device's detections (s after its marker) beside the host's (s of stream), paired in order.

    ``equal``: as many detections, each within the board's ms rounding of where the host's would be stamped
    (deployment drift otherwise); ``within_frame`` counts pairs less than one frame apart.
    """
    device = np.sort(np.asarray(device_s, dtype=float))
    host = np.sort(np.asarray(host_s, dtype=float))
    expected = expected_device_times(host, frame_s, processing_s)
    paired = min(device.size, expected.size)
    offsets = device[:paired] - expected[:paired]
    return {"device_detections": device.size, "host_detections": host.size,
            "equal": bool(device.size == host.size and np.all(np.abs(offsets) <= ROUNDING_S)),
            "within_frame": int(np.sum(np.abs(offsets) < frame_s)),
            "max_abs_offset_ms": float(np.max(np.abs(offsets)) * 1e3) if paired else None,
            "device_times_s": [round(float(t), 6) for t in device],
            "host_times_s": [round(float(t), 6) for t in host],
            "host_as_device_s": [round(float(t), 6) for t in expected]}
