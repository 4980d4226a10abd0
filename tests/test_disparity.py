import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.evaluation.disparity import Disparity, disparity_rows, holm

CONTRACT_KEYS = {
    "model",
    "attribute",
    "metric",
    "worst_group",
    "best_group",
    "ratio",
    "ratio_ci",
    "difference",
    "difference_ci",
    "four_fifths",
    "verdict",
}


def frame(
    spec: dict[str, tuple[int, int, int]],
    negatives: dict[str, tuple[int, int, float]] | None = None,
    model: str = "m",
) -> pd.DataFrame:
    """spec: group -> (positives, detected, speakers); negatives: group -> (clips, false accepts, hours).
    Clips go round-robin over the group's own speakers; detections and false accepts go to the first clips."""
    rows = []
    for group, (n, k, s) in spec.items():
        rows += [(f"{group}-{i % s:02d}", group, True, i < k, 0, 2.0) for i in range(n)]
    for group, (n, fa, hours) in (negatives or {}).items():
        s = spec[group][2]
        rows += [
            (f"{group}-{i % s:02d}", group, False, False, int(i < fa), hours * 3600 / n) for i in range(n)
        ]
    columns = ["speaker", "accent", "is_positive", "detected", "false_accepts", "duration_s"]
    df = pd.DataFrame(rows, columns=columns)
    return df.assign(model=model, clip_id=np.arange(len(df)), label="w")


def pick(rows: list[Disparity], metric: str, model: str = "m", attribute: str = "accent") -> dict:
    """One row as disparity.json holds it."""
    hit = [r.record() for r in rows if (r.model, r.attribute, r.metric) == (model, attribute, metric)]
    assert len(hit) == 1
    return hit[0]


def test_holm_hand_computed() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    out = holm([0.5, np.nan, 0.2])
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.5, 0.4])
    np.testing.assert_allclose(holm([0.6, 0.7]), [1.0, 1.0])


def test_failing_disparity_worst_best_ratio_difference() -> None:
    rows = disparity_rows(
        frame({"a": (100, 90, 10), "b": (100, 80, 10)}), ["accent"], "wake_word", n_boot=200
    )
    frr = pick(rows, "frr")
    assert CONTRACT_KEYS <= set(frr)
    assert (frr["worst_group"], frr["best_group"]) == ("b", "a")
    assert frr["ratio"] == pytest.approx(2.0)
    assert frr["difference"] == pytest.approx(0.10)
    assert frr["four_fifths"] is None
    assert frr["verdict"] == "FAIL"
    dr = pick(rows, "detection_rate")
    assert (dr["worst_group"], dr["best_group"]) == ("b", "a")
    assert dr["four_fifths"] == pytest.approx(0.8 / 0.9)
    assert dr["difference"] == pytest.approx(0.10)
    gates = {g["name"]: g["passed"] for g in dr["gates"]}
    assert gates == {"four_fifths": True, "difference": False}
    assert dr["verdict"] == "FAIL"
    # no negative clips: nothing to compare
    assert pick(rows, "fa_per_hour")["verdict"] == "INSUFFICIENT_EVIDENCE"


def test_small_gap_passes_only_when_the_intervals_fit_inside_the_gates() -> None:
    # 100 clips per group: the point estimates pass, but the ratio interval reaches past 1.25
    rows = disparity_rows(
        frame({"a": (100, 90, 10), "b": (100, 89, 10)}), ["accent"], "wake_word", n_boot=200
    )
    frr = pick(rows, "frr")
    assert frr["ratio"] == pytest.approx(0.11 / 0.10)
    assert all(g["passed"] for g in frr["gates"])
    assert frr["ratio_ci"][1] > 1.25 and frr["verdict"] == "INSUFFICIENT_EVIDENCE"
    assert "interval" in frr["reason"]
    # 4000 clips per group from 40 speakers each: the same rates, now with narrow intervals
    rows = disparity_rows(
        frame({"a": (4000, 3600, 40), "b": (4000, 3580, 40)}), ["accent"], "wake_word", n_boot=200
    )
    frr = pick(rows, "frr")
    assert frr["ratio_ci"][1] <= 1.25 and frr["difference_ci"][1] <= 0.05
    assert frr["verdict"] == "PASS"
    assert pick(rows, "detection_rate")["verdict"] == "PASS"


def test_insufficient_group_never_passes() -> None:
    # c has 20 clips (< 30): even though its rate sits between a and b, no PASS
    df = frame({"a": (100, 90, 10), "b": (100, 89, 10), "c": (20, 18, 5)})
    frr = pick(disparity_rows(df, ["accent"], "wake_word", n_boot=200), "frr")
    assert frr["verdict"] == "INSUFFICIENT_EVIDENCE"
    assert frr["insufficient_groups"] == ["c"]
    # c is the worst group and too small: insufficient, not fail
    df = frame({"a": (100, 90, 10), "b": (100, 89, 10), "c": (20, 10, 5)})
    frr = pick(disparity_rows(df, ["accent"], "wake_word", n_boot=200), "frr")
    assert frr["worst_group"] == "c" and frr["verdict"] == "INSUFFICIENT_EVIDENCE"
    # too few speakers counts as well: 100 clips from 4 speakers
    df = frame({"a": (100, 90, 10), "b": (100, 90, 4)})
    assert (
        pick(disparity_rows(df, ["accent"], "wake_word", n_boot=200), "frr")["verdict"]
        == "INSUFFICIENT_EVIDENCE"
    )


def test_failure_among_sufficient_groups_is_not_hidden_by_a_small_group() -> None:
    df = frame({"a": (100, 90, 10), "b": (100, 70, 10), "c": (20, 2, 5)})
    frr = pick(disparity_rows(df, ["accent"], "wake_word", n_boot=200), "frr")
    assert frr["worst_group"] == "c"
    assert frr["verdict"] == "FAIL"
    assert "'b' vs 'a' (among sufficient groups)" in frr["reason"]


def test_zero_error_best_group_reports_inf_and_uses_difference() -> None:
    rows = disparity_rows(
        frame({"a": (100, 100, 10), "b": (100, 98, 10)}), ["accent"], "wake_word", n_boot=200
    )
    frr = pick(rows, "frr")
    assert frr["ratio"] == math.inf
    assert [g["name"] for g in frr["gates"]] == ["difference"]
    assert frr["verdict"] == "PASS"  # 2 pp <= 5 pp
    rows = disparity_rows(
        frame({"a": (100, 100, 10), "b": (100, 90, 10)}), ["accent"], "wake_word", n_boot=200
    )
    assert pick(rows, "frr")["verdict"] == "FAIL"  # 10 pp


def test_fa_per_hour_ratio_and_zero_fallback() -> None:
    spec = {"a": (40, 36, 10), "b": (40, 36, 10)}
    df = frame(spec, {"a": (40, 2, 2.0), "b": (40, 6, 2.0)})
    fa = pick(disparity_rows(df, ["accent"], "wake_word", n_boot=200), "fa_per_hour")
    assert (fa["worst_group"], fa["worst_value"], fa["best_value"]) == ("b", 3.0, 1.0)
    assert fa["ratio"] == pytest.approx(3.0) and fa["difference"] == pytest.approx(2.0)
    assert [g["name"] for g in fa["gates"]] == ["error_ratio"]
    # 2 vs 6 false accepts fail the ratio gate on their face but are not significant evidence
    assert fa["significant"] is False and fa["verdict"] == "INSUFFICIENT_EVIDENCE"
    df = frame(spec, {"a": (400, 20, 20.0), "b": (400, 120, 20.0)})
    fa = pick(disparity_rows(df, ["accent"], "wake_word", n_boot=200), "fa_per_hour")
    assert fa["ratio"] == pytest.approx(6.0) and fa["significant"] and fa["verdict"] == "FAIL"
    df = frame(spec, {"a": (40, 0, 10.0), "b": (40, 2, 10.0)})
    fa = pick(disparity_rows(df, ["accent"], "wake_word", n_boot=200), "fa_per_hour")
    assert fa["ratio"] == math.inf
    (gate,) = fa["gates"]
    assert (gate["name"], gate["value"], gate["threshold"], gate["passed"]) == ("difference", 0.2, 0.5, True)
    assert "infinite" in gate["note"]
    # 2 false accepts in 10 h: the exact Poisson upper bound, 0.72/h, exceeds the 0.5/h gate
    assert fa["worst_ci"][1] == pytest.approx(stats.chi2.ppf(0.975, 6) / 2 / 10.0)
    assert fa["verdict"] == "INSUFFICIENT_EVIDENCE" and "Poisson" in fa["reason"]
    df = frame(spec, {"a": (40, 0, 100.0), "b": (40, 2, 100.0)})
    fa = pick(disparity_rows(df, ["accent"], "wake_word", n_boot=200), "fa_per_hour")
    assert fa["worst_ci"][1] < 0.5 and fa["verdict"] == "PASS"


def test_bootstrap_matches_naive_speaker_resampling() -> None:
    rng = np.random.default_rng(11)
    n = 300
    speaker = rng.integers(0, 24, n)
    df = pd.DataFrame(
        {
            "model": "m",
            "clip_id": np.arange(n),
            "label": "w",
            "speaker": speaker,
            "accent": np.where(speaker < 12, "x", "y"),
            "is_positive": True,
            "detected": rng.random(n) < np.where(speaker < 12, 0.85, 0.7),
            "false_accepts": 0,
            "duration_s": 1.0,
        }
    )
    B, seed = 300, 5
    frr = pick(disparity_rows(df, ["accent"], "wake_word", n_boot=B, seed=seed), "frr")
    worst, best = frr["worst_group"], frr["best_group"]

    # naive: rebuild every replicate's data set from whole speakers, sorted by their text
    speakers = sorted(df["speaker"].astype(str).unique())
    by_speaker = {s: g for s, g in df.groupby(df["speaker"].astype(str))}
    draws = np.random.default_rng(seed).integers(0, len(speakers), size=(B, len(speakers)))
    ratios, diffs = [], []
    for b in range(B):
        sample = pd.concat([by_speaker[speakers[i]] for i in draws[b]])
        miss = 1.0 - sample.groupby("accent")["detected"].mean()
        ratios.append(miss[worst] / miss[best])
        diffs.append(miss[worst] - miss[best])
    q = [0.025, 0.975]
    assert frr["ratio_ci"] == pytest.approx(list(np.quantile(ratios, q, method="inverted_cdf")), rel=1e-12)
    assert frr["difference_ci"] == pytest.approx(
        list(np.quantile(diffs, q, method="inverted_cdf")), rel=1e-12
    )
    p = 2 * stats.norm.sf(frr["difference"] / np.std(diffs, ddof=1))
    assert frr["p_value"] == pytest.approx(p, rel=1e-9)
    assert frr["difference_ci"][0] <= frr["difference"] <= frr["difference_ci"][1]


def test_bootstrap_resamples_speakers_not_clips() -> None:
    # every speaker of a misses 1 in 10 and of b 2 in 10: resampling speakers cannot move the rates,
    # so the interval collapses (a clip bootstrap would not)
    frr = pick(
        disparity_rows(frame({"a": (100, 90, 10), "b": (100, 80, 10)}), ["accent"], "wake_word"), "frr"
    )
    assert frr["ratio_ci"] == [pytest.approx(2.0), pytest.approx(2.0)]
    assert frr["difference_ci"] == [pytest.approx(0.1), pytest.approx(0.1)]
    # the same misses concentrated on one speaker per group: wide interval
    df = frame({"a": (100, 90, 10), "b": (100, 80, 10)})
    df["detected"] = ~df["speaker"].isin(["a-00", "b-00", "b-01"])
    frr = pick(disparity_rows(df, ["accent"], "wake_word"), "frr")
    assert frr["difference"] == pytest.approx(0.1)
    assert frr["difference_ci"][1] - frr["difference_ci"][0] > 0.1


def test_seeded_and_holm_within_each_model() -> None:
    df = pd.concat(
        [
            frame(
                {"a": (100, 90, 10), "b": (100, 80, 10)}, {"a": (50, 5, 5.0), "b": (50, 9, 5.0)}, model="m1"
            ),
            frame(
                {"a": (100, 90, 10), "b": (100, 88, 10)}, {"a": (50, 5, 5.0), "b": (50, 6, 5.0)}, model="m2"
            ),
        ]
    )
    df["detected"] = df["is_positive"] & (np.random.default_rng(0).random(len(df)) < 0.85)
    rows = disparity_rows(df, ["accent"], "wake_word", n_boot=300, seed=1)
    assert rows == disparity_rows(df, ["accent"], "wake_word", n_boot=300, seed=1)
    other = disparity_rows(df, ["accent"], "wake_word", n_boot=300, seed=2)
    assert pick(rows, "frr", "m1")["ratio_ci"] != pick(other, "frr", "m1")["ratio_ci"]
    for model in ("m1", "m2"):
        mine = {r.metric: r.record() for r in rows if r.model == model}
        assert len(mine) == 4
        # detection rate and FRR are one hypothesis: a family of three
        assert mine["detection_rate"]["p_value"] == pytest.approx(mine["frr"]["p_value"])
        family = [mine[m]["p_value"] for m in ("frr", "fa_per_hour", "fpr")]
        np.testing.assert_allclose([mine[m]["p_holm"] for m in ("frr", "fa_per_hour", "fpr")], holm(family))
        assert mine["detection_rate"]["p_holm"] == mine["frr"]["p_holm"]


def test_intersection_attribute_names() -> None:
    df = frame({"a": (60, 54, 6), "b": (60, 50, 6)})
    df["noise"] = np.where(np.arange(len(df)) % 2 == 0, "clean", "babble")
    rows = disparity_rows(df, [("accent", "noise")], "wake_word", n_boot=50, min_clips=10, min_speakers=3)
    frr = pick(rows, "frr", attribute="accent&noise")
    assert {frr["worst_group"], frr["best_group"]} <= {"a&clean", "a&babble", "b&clean", "b&babble"}
    assert frr["n_groups"] == 4


def test_group_without_clips_for_a_metric_is_left_out_of_that_comparison() -> None:
    spec = {"a": (40, 36, 10), "b": (40, 36, 10), "c": (40, 36, 10)}
    df = frame(spec, {"a": (40, 2, 2.0), "b": (40, 2, 2.0)})  # c has no negative audio
    fa = pick(disparity_rows(df, ["accent"], "wake_word", n_boot=100), "fa_per_hour")
    assert fa["ratio"] == 1.0 and fa["n_groups"] == 2 and fa["insufficient_groups"] == []
    # 2 vs 2 false accepts: the two groups are compared (not one group with itself), and equal rates
    # from so few events leave the ratio's interval far wider than the 1.25 gate
    assert {fa["worst_group"], fa["best_group"]} == {"a", "b"}
    assert fa["ratio_ci"][1] > 1.25 and fa["verdict"] == "INSUFFICIENT_EVIDENCE"


def test_kws_accuracy_uses_error_ratio() -> None:
    df = frame({"a": (100, 90, 10), "b": (100, 80, 10)})
    df = df.assign(correct=df["detected"], is_keyword=True, predicted_keyword=True)
    rows = disparity_rows(df, ["accent"], "kws", n_boot=100)
    acc = pick(rows, "accuracy")
    assert (acc["worst_group"], acc["worst_value"], acc["best_value"]) == ("b", 0.8, 0.9)
    assert acc["ratio"] == pytest.approx(2.0) and acc["four_fifths"] is None
    assert [g["name"] for g in acc["gates"]] == ["error_ratio"] and acc["verdict"] == "FAIL"
    assert pick(rows, "keyword_fpr")["verdict"] == "INSUFFICIENT_EVIDENCE"  # no non-keyword clips
