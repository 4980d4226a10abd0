"""sww01 scoring: TP/FN/FP under the README's and the code's window rules, debounce, verdict and truth files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.errors import DataError, MeasurementError
from harness.core.verdict import Verdict
from harness.evaluation.intervals import wilson
from harness.evaluation.sww import StreamTruth, WindowRule, count, read_truth, score_stream, write_truth
from harness.evaluation.sww_groups import group_table


def stamps(marker_ms: int, *seconds: float) -> list[int]:
    """Board timestamps: the first-frame marker, then each detection at ``seconds`` after it."""
    return [marker_ms, *(marker_ms + round(s * 1000) for s in seconds)]


def test_the_readme_example_word_counts_differently_under_each_rule() -> None:
    # The README's example: a word spanning [1.0, 1.65]; a detection at 2.6 s is a TP, at 2.8 s an FP.
    truth = StreamTruth("a.wav", 16000, 10.0, ((1.0, 1.65),))
    early = score_stream(stamps(32, 2.6), truth)
    assert [(c.tp, c.fn, c.fp) for c in early.counts.values()] == [(1, 0, 0), (1, 0, 0)]
    late = score_stream(stamps(32, 2.8), truth)
    assert (late.counts[WindowRule.README].tp, late.counts[WindowRule.README].fn,
            late.counts[WindowRule.README].fp) == (0, 1, 1)
    assert (late.counts[WindowRule.CODE].tp, late.counts[WindowRule.CODE].fn, late.counts[WindowRule.CODE].fp) \
        == (1, 0, 0)


def test_a_hand_built_stream_has_exact_counts_under_each_rule() -> None:
    windows = ((1.0, 1.5), (10.0, 10.8), (20.0, 20.4), (30.0, 30.9))
    truth = StreamTruth("s.wav", 16000, 120.0, windows)
    detections = [
        1.2, 1.3, 2.4,   # word 1: all three inside both windows (2.4 <= 2.5)
        12.3,            # word 2: 12.3 > 11.8 (README) but <= 12.8 (code)
        # word 3: missed
        31.0, 32.5,      # word 4: 31.0 inside both; 32.5 only inside the code's window (<= 32.9)
        50.0, 50.6, 51.0, 51.7, 90.0,  # false alarms: 50.0 counts, 50.6 and 51.0 are debounced, 51.7 counts
    ]
    result = score_stream(stamps(40, *detections), truth)
    readme, code = result.counts[WindowRule.README], result.counts[WindowRule.CODE]
    assert (readme.tp, readme.fn, readme.fp) == (2, 2, 5)
    assert readme.true_positives == (1.0, 30.0) and readme.false_negatives == (10.0, 20.0)
    # README: word 2 missed, 12.3 and 32.5 become false positives; 50.6, 51.0 debounced after 50.0
    assert readme.false_positives == pytest.approx((12.3, 32.5, 50.0, 51.7, 90.0))
    assert (code.tp, code.fn, code.fp) == (3, 1, 3)
    assert code.false_positives == pytest.approx((50.0, 51.7, 90.0))
    assert code.f1 == pytest.approx(6 / 10)
    assert code.false_accepts_per_hour == pytest.approx(3 * 3600 / 120)
    assert result.verdict is Verdict.PASS and not result.rule_dependent


def test_pass_fail_that_depends_on_the_rule_is_flagged() -> None:
    windows = tuple((10.0 * i, 10.0 * i + 0.5) for i in range(1, 10))  # nine words
    truth = StreamTruth("s.wav", 16000, 100.0, windows)
    result = score_stream(stamps(0, *(start + 2.0 for start, _ in windows)), truth)  # each 1.5 s after its end
    readme, code = result.counts[WindowRule.README], result.counts[WindowRule.CODE]
    assert (readme.tp, readme.fn, readme.fp) == (0, 9, 9) and not readme.passed
    assert (code.tp, code.fn, code.fp) == (9, 0, 0) and code.passed
    assert result.rule_dependent
    assert result.verdict is Verdict.PASS
    assert score_stream(stamps(0, *(s + 2.0 for s, _ in windows)), truth, WindowRule.README).verdict is Verdict.FAIL
    report = result.to_json()
    assert report["verdict_rule"] == "code" and report["rule_dependent"] is True
    assert report["counts"]["readme"]["window"] == "[start, end + 1 s]"


def test_only_the_marker_is_a_valid_result_and_no_marker_is_an_error() -> None:
    truth = StreamTruth("s.wav", 16000, 60.0, ((5.0, 5.6), (20.0, 20.7)))
    silent = score_stream([123], truth)
    assert [(c.tp, c.fn, c.fp) for c in silent.counts.values()] == [(0, 2, 0), (0, 2, 0)]
    assert silent.counts[WindowRule.CODE].f1 == 0.0
    with pytest.raises(MeasurementError, match="marker"):
        score_stream([], truth)


def test_overlapping_windows_give_their_detections_to_the_earlier_word() -> None:
    result = count([1.5], ((1.0, 1.2), (1.4, 1.6)), 10.0, WindowRule.CODE)
    assert (result.tp, result.fn, result.fp) == (1, 1, 0)


def test_truth_files_round_trip_and_bad_ones_name_the_field(tmp_path: Path) -> None:
    streams = [StreamTruth("long.wav", 16000, 1200.0, ((9.46, 10.1), (20.0, 20.5)))]
    path = tmp_path / "truth.json"
    write_truth(path, streams)
    assert read_truth(path) == streams
    path.write_text(json.dumps([{"wav_file": "x.wav", "sample_rate": 16000, "length_sec": 10,
                                 "detection_windows": [[2.0, 1.0]]}]))
    with pytest.raises(DataError, match="entry 0, field 'detection_windows'"):
        read_truth(path)
    path.write_text(json.dumps([{"wav_file": "x.wav", "sample_rate": 16000, "detection_windows": []}]))
    with pytest.raises(DataError, match="field 'length_sec': missing"):
        read_truth(path)
    path.write_text("{")
    with pytest.raises(DataError, match="not JSON"):
        read_truth(path)


PUBLISHED = Path(__file__).parent / "data" / "mlperf_tiny_v1.3_st_h7a3zi_sww.json"


def test_a_published_submission_rescores_to_its_published_counts_under_the_code_rule(tmp_path: Path) -> None:
    data = json.loads(PUBLISHED.read_text())
    (tmp_path / "truth.json").write_text(json.dumps(data["truth"]))
    truth = read_truth(tmp_path / "truth.json")[0]
    result = score_stream(data["detections_ms"], truth)
    code, readme = result.counts[WindowRule.CODE], result.counts[WindowRule.README]
    published = data["published"]
    assert (code.tp, code.fn, code.fp) == (published["tp"], published["fn"], published["fp"])
    assert (readme.tp, readme.fn, readme.fp) == (43, 7, 24)  # 24 false positives: fails the FP <= 8 target
    assert result.verdict is Verdict.PASS and result.rule_dependent
    assert code.f1 == pytest.approx(88 / 98)


def test_the_published_duty_cycle_edges_give_the_published_duty_cycle() -> None:
    from harness.dut.sww import wire

    ticks = json.loads(PUBLISHED.read_text())["duty_cycle_ticks"]
    lines = [wire.DUTY_START_HEADER, *wire.number_lines(ticks["start"]), wire.DUTY_STOP_HEADER,
             *wire.number_lines(ticks["stop"]), wire.END]
    duty = wire.parse_dutycycle(lines)
    published = json.loads(PUBLISHED.read_text())["published"]
    assert round(duty.duty_cycle, 5) == published["duty_cycle"]
    assert round(duty.period_s, 6) == published["period_s"]
    assert round(duty.throughput_per_s, 2) == published["throughput_per_s"]
    assert duty.period_variation < 0.02


def _stream(group: str, said: list[tuple[float, str]], missed: list[float], length_s: float = 600.0) -> dict:
    counts = {"tp": len(said) - len(missed), "fn": len(missed), "fp": 0, "missed_s": missed}
    return {"wav_file": f"{group}.wav", "attribute": "accent", "group": group, "length_s": length_s,
            "speakers": sorted({s for _, s in said}), "wake_word_speakers": [list(p) for p in said],
            "counts": {"code": counts, "readme": counts}}


def test_stream_frr_interval_is_widened_by_the_speakers_design_effect() -> None:
    """Speaker a misses 5 of 10 wake words, speaker b none of 10: FRR 0.25 over 20, and the misses cluster.

    Kish: robust variance ((5 - 2.5)^2 + (0 - 2.5)^2) / 20^2 = 0.03125, binomial 0.25 * 0.75 / 20 = 0.009375,
    design effect 10/3; the Wilson interval is taken at 1.5 misses of 6 effective wake words.
    """
    said = [(10.0 * i, "a") for i in range(10)] + [(100.0 + 10.0 * i, "b") for i in range(10)]
    missed = [10.0 * i for i in range(5)]
    table = group_table([_stream("x", said, missed)], "m", "measured on the device", WindowRule.CODE,
                        min_clips=1, min_speakers=1)
    frr = table[(table["metric"] == "frr") & (table["window_rule"] == "code")].iloc[0]
    assert frr["design_effect"] == pytest.approx(10 / 3) and frr["n_eff"] == pytest.approx(6.0)
    assert (frr["ci_low"], frr["ci_high"]) == pytest.approx(wilson(1.5, 6.0))
    assert frr["value"] == 0.25 and frr["ci_high"] > wilson(5, 20)[1]


def test_stream_frr_without_speakers_per_wake_word_keeps_design_effect_one() -> None:
    said = [(10.0 * i, "a") for i in range(10)] + [(100.0 + 10.0 * i, "b") for i in range(10)]
    record = _stream("x", said, [10.0 * i for i in range(5)])
    record["wake_word_speakers"] = None  # a user's stream set whose index does not say who spoke
    table = group_table([record], "m", "measured on the device", WindowRule.CODE, min_clips=1, min_speakers=1)
    frr = table[(table["metric"] == "frr") & (table["window_rule"] == "code")].iloc[0]
    assert frr["design_effect"] == 1.0 and (frr["ci_low"], frr["ci_high"]) == pytest.approx(wilson(5, 20))
