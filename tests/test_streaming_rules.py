from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.core.errors import DataError
from harness.evaluation.det import DET_COLUMNS, det_curve, det_curves, operating_point, plot_det, sweep
from harness.evaluation.streaming import StreamingRules, detect, match, score, smooth, smooth_rows


def spikes(n: int, at: list[int], value: float = 0.9) -> np.ndarray:
    out = np.zeros(n)
    out[at] = value
    return out


def test_smooth_is_zero_until_window_fills_then_sliding_mean() -> None:
    probs = [0.2, 0.4, 0.6, 0.8]
    np.testing.assert_allclose(smooth(probs, 1), probs)
    np.testing.assert_allclose(smooth(probs, 2), [0.0, 0.3, 0.5, 0.7])
    np.testing.assert_allclose(smooth(probs, 3), [0.0, 0.0, 0.4, 0.6])
    np.testing.assert_array_equal(smooth(probs, 5), np.zeros(4))
    assert smooth([], 3).size == 0
    with pytest.raises(ValueError):
        smooth(probs, 0)


def test_score_is_max_smoothed_probability() -> None:
    assert score([0.1, 0.9, 0.7, 0.2], 2) == pytest.approx(0.8)
    assert score([0.9, 0.9], 3) == 0.0
    assert score([], 3) == 0.0


def test_detection_time_is_end_of_consumed_audio() -> None:
    # step 4 of 0.1 s has consumed 0.5 s of audio
    np.testing.assert_allclose(detect(spikes(10, [4]), 0.1, 0.5), [0.5])
    np.testing.assert_allclose(detect(spikes(10, [4]), 0.1, 0.5, offset_s=0.2), [0.7])


def test_refractory_suppresses_half_a_second_later_but_not_one_and_a_half() -> None:
    # peaks at 0.5 s, 1.0 s (0.5 s later: suppressed) and 2.0 s (1.5 s after the first: counted)
    s = spikes(30, [4, 9, 19])
    np.testing.assert_allclose(detect(s, 0.1, 0.5, refractory_s=1.0), [0.5, 2.0])


def test_refractory_boundary_in_whole_steps() -> None:
    # 30 ms steps: 33 steps (0.99 s) is inside a 1 s refractory, 34 steps (1.02 s) is not
    assert detect(spikes(40, [0, 33]), 0.03, 0.5, 1.0).size == 1
    np.testing.assert_allclose(detect(spikes(40, [0, 34]), 0.03, 0.5, 1.0), [0.03, 35 * 0.03])
    # exactly one refractory period later is allowed again
    np.testing.assert_allclose(detect(spikes(30, [4, 14]), 0.1, 0.5, 1.0), [0.5, 1.5])


def test_events_not_frames_and_long_plateau_fires_once_per_refractory() -> None:
    assert detect(np.r_[np.zeros(5), np.full(8, 0.9), np.zeros(5)], 0.1, 0.5, 1.0).size == 1
    np.testing.assert_allclose(detect(np.full(30, 0.9), 0.1, 0.5, 1.0), [0.1, 1.1, 2.1])


def test_cutoff_is_strict() -> None:
    assert detect(np.full(5, 0.5), 0.1, 0.5).size == 0
    assert detect(np.full(5, 0.5001), 0.1, 0.5).size == 1


def test_match_tolerance_after_phrase_end() -> None:
    # phrase 1.0-1.6 s, tolerance 1 s
    assert match([1.8], 1.0, 1.6) == (True, 0)  # 0.2 s after the end
    assert match([2.8], 1.0, 1.6) == (False, 1)  # 1.2 s after the end
    assert match([2.6], 1.0, 1.6) == (True, 0)  # exactly at end + tolerance
    assert match([0.9], 1.0, 1.6) == (False, 1)  # before the phrase starts
    assert match([1.0], 1.0, 1.6) == (True, 0)  # at the start
    assert match([1.8], 1.0, 1.6, tolerance_s=0.1) == (False, 1)


def test_match_at_most_one_true_positive() -> None:
    assert match([0.5, 1.2, 2.4, 4.0], 1.0, 1.6) == (True, 3)
    assert match([], 1.0, 1.6) == (False, 0)
    assert match([0.5, 3.0], None, None) == (False, 2)


def test_rules_chain_smooth_detect_match() -> None:
    rules = StreamingRules(window=3, cutoff=0.7, step_s=0.1, refractory_s=1.0, tolerance_s=1.0)
    probs = np.zeros(40)
    probs[10:13] = 0.9  # smoothed 0.3, 0.6, 0.9 at steps 10-12: first above 0.7 at step 12 -> t = 1.3 s
    probs[30:33] = 0.9  # second event at step 32 -> t = 3.3 s
    times = rules.detections(probs)
    np.testing.assert_allclose(times, [1.3, 3.3])
    assert rules.match(times, 1.0, 1.5) == (True, 1)
    assert rules.detections(probs, cutoff=0.95).size == 0
    np.testing.assert_allclose(rules.detections(probs, cutoff=0.5), [1.2, 3.2])


def _toy_clips() -> tuple[list[np.ndarray], pd.DataFrame]:
    """Four positive clips (peak heights 0.9, 0.7, 0.5, 0.3 inside the phrase) and two negative clips
    (one 0.6 peak; two 0.8 peaks 2 s apart), 0.1 s steps, window 1."""
    probs, rows = [], []
    for i, peak in enumerate([0.9, 0.7, 0.5, 0.3]):
        probs.append(spikes(50, [14], peak))  # t = 1.5 s, phrase 1.0-1.6 s
        rows.append(
            {
                "clip_id": f"p{i}",
                "is_positive": True,
                "phrase_start_s": 1.0,
                "phrase_end_s": 1.6,
                "duration_s": 5.0,
                "accent": "a" if i < 2 else "b",
            }
        )
    probs.append(spikes(36000, [100], 0.6))
    probs.append(spikes(36000, [100, 120], 0.8))
    for i, accent in enumerate(["a", "b"]):
        rows.append(
            {
                "clip_id": f"n{i}",
                "is_positive": False,
                "phrase_start_s": np.nan,
                "phrase_end_s": np.nan,
                "duration_s": 3600.0,
                "accent": accent,
            }
        )
    return probs, pd.DataFrame(rows)


def test_det_curve_counts_with_the_streaming_rules() -> None:
    probs, clips = _toy_clips()
    rules = StreamingRules(window=1, cutoff=0.55, step_s=0.1, refractory_s=1.0)
    curve = det_curve(probs, clips, rules, [0.2, 0.55, 0.75, 0.95])
    assert list(curve.columns) == DET_COLUMNS
    # misses: 0 / 2 (0.3, 0.5 <= 0.55) / 3 / 4 of 4 positives
    np.testing.assert_allclose(curve["frr"], [0.0, 0.5, 0.75, 1.0])
    # false accepts over 2 h of negative audio: 3, 3, 2, 0
    np.testing.assert_array_equal(curve["false_accepts"], [3, 3, 2, 0])
    np.testing.assert_allclose(curve["fa_per_hour"], [1.5, 1.5, 1.0, 0.0])
    assert operating_point(curve, 0.55) == {"threshold": 0.55, "frr": 0.5, "fa_per_hour": 1.5}
    with pytest.raises(ValueError):
        operating_point(curve, 0.6)
    # without timings a positive clip's first detection is its hit: no clip here fires outside its phrase, so the
    # untimed curve equals the timed one, and columns that are absent altogether count the same way
    untimed = det_curve(probs, clips.assign(phrase_start_s=np.nan), rules, [0.2, 0.55, 0.75, 0.95])
    np.testing.assert_allclose(untimed["frr"], curve["frr"])
    np.testing.assert_array_equal(untimed["false_accepts"], curve["false_accepts"])
    bare = det_curve(probs, clips.drop(columns=["phrase_start_s", "phrase_end_s"]), rules, [0.55])
    assert bare["frr"].iloc[0] == 0.5
    with pytest.raises(DataError, match="is_positive"):
        det_curve(probs, clips.drop(columns=["is_positive"]), rules, [0.5])


def test_det_curves_per_group(tmp_path: Path) -> None:
    probs, clips = _toy_clips()
    rules = StreamingRules(window=1, cutoff=0.55, step_s=0.1)
    curves = det_curves(probs, clips, rules, [0.2, 0.55, 0.75], attribute="accent")
    assert list(curves) == ["a", "b"]
    np.testing.assert_allclose(curves["a"]["frr"], [0.0, 0.0, 0.5])
    np.testing.assert_allclose(curves["a"]["fa_per_hour"], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(curves["b"]["frr"], [0.0, 1.0, 1.0])
    np.testing.assert_allclose(curves["b"]["fa_per_hour"], [2.0, 2.0, 2.0])
    out = plot_det(curves, 0.55, tmp_path / "det.png")
    assert out.exists() and out.stat().st_size > 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_equals_the_rules_applied_at_every_threshold() -> None:
    rng = np.random.default_rng(3)
    rules = StreamingRules(window=3, cutoff=0.5, step_s=0.08, refractory_s=1.0)
    probs = [rng.beta(0.5, 2.0, size=rng.integers(0, 80)) for _ in range(40)]
    positive = np.arange(40) % 2 == 0
    clips = pd.DataFrame({"is_positive": positive, "phrase_start_s": np.where(positive, 1.0, np.nan),
                          "phrase_end_s": np.where(positive, 1.6, np.nan)})
    thresholds = np.linspace(0, 1, 21)
    tp, fa = sweep(probs, clips, rules, thresholds)
    for i, p in enumerate(probs):
        start, end = (1.0, 1.6) if positive[i] else (None, None)
        for j, cutoff in enumerate(thresholds):
            assert (tp[i, j], fa[i, j]) == rules.match(rules.detections(p, cutoff), start, end)


@pytest.mark.parametrize("window", [1, 3, 5, 8, 9, 17])
def test_smooth_rows_is_smooth_of_every_row_bit_for_bit(window: int) -> None:
    rng = np.random.default_rng(window)
    for steps in (window - 1, window, 12, 41):
        rows = rng.random((6, max(steps, 0))).astype(np.float32)
        batch = smooth_rows(rows, window)
        for row, smoothed in zip(rows, batch, strict=True):
            assert np.array_equal(smoothed, smooth(row, window))


def test_count_rows_by_hand() -> None:
    """Steps of 0.1 s, a refractory of 4 steps, tolerance 0.25 s. The row fires at steps 1 and 5 at cutoff 0.5
    (times 0.2 s and 0.6 s; step 8 falls inside the refractory after step 5), at step 1 only at cutoff 0.85, and
    never at 0.95. A negative clip counts both as false accepts; a positive clip with its phrase at 0.3-0.5 s
    hits at 0.6 s (within the tolerance after the phrase) and the early one is a false accept; without timings
    the first is the hit and the second, 0.4 s later, is a false accept (more than the tolerance apart)."""
    rules = StreamingRules(window=1, cutoff=0.5, step_s=0.1, refractory_s=0.35, tolerance_s=0.25)
    row = [0.0, 0.9, 0.6, 0.6, 0.6, 0.7, 0.7, 0.0, 0.6, 0.0]
    smoothed = np.array([row, row, row, np.zeros(10)])
    positive = np.array([False, True, True, True])
    starts, ends = np.array([np.nan, 0.3, np.nan, 0.3]), np.array([np.nan, 0.5, np.nan, 0.5])
    hit, fa = rules.count_rows(smoothed, np.array([0.5, 0.85, 0.95]), positive, starts, ends)
    np.testing.assert_array_equal(hit, [[False, False, False], [True, False, False], [True, True, False],
                                        [False, False, False]])
    np.testing.assert_array_equal(fa, [[2, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0]])
    lenient = StreamingRules(window=1, cutoff=0.5, step_s=0.1, refractory_s=0.35, tolerance_s=0.5)
    hit, fa = lenient.count_rows(smoothed[2:3], np.array([0.5]), positive[2:3], starts[2:3], ends[2:3])
    assert (bool(hit[0, 0]), int(fa[0, 0])) == (True, 0)  # 0.4 s apart: the same utterance firing again


@pytest.mark.parametrize("refractory_s", [0.01, 0.3, 1.0])
def test_sweep_equals_the_rules_for_timed_untimed_and_negative_clips(refractory_s: float) -> None:
    """Clips of mixed and equal lengths (so several are swept together), plateaus that fire again, an offset."""
    rng = np.random.default_rng(11)
    rules = StreamingRules(window=2, cutoff=0.5, step_s=0.05, refractory_s=refractory_s, tolerance_s=0.3,
                           offset_s=0.02)
    probs = [np.repeat(rng.beta(0.6, 1.2, size=rng.integers(0, 30)), rng.integers(1, 4)) for _ in range(90)]
    kind = np.arange(90) % 3  # 0 negative, 1 positive with timings, 2 positive without
    clips = pd.DataFrame({"is_positive": kind > 0, "phrase_start_s": np.where(kind == 1, 0.4, np.nan),
                          "phrase_end_s": np.where(kind == 1, 0.9, np.nan)})
    thresholds = np.linspace(0.05, 0.95, 13)
    tp, fa = sweep(probs, clips, rules, thresholds)
    for i, p in enumerate(probs):
        for j, cutoff in enumerate(thresholds):
            expected = rules.count(rules.detections(p, cutoff), bool(kind[i] > 0), clips["phrase_start_s"].iloc[i],
                                   clips["phrase_end_s"].iloc[i])
            assert (bool(tp[i, j]), int(fa[i, j])) == expected
