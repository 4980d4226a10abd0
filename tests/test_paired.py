"""Paired variant differences: values and intervals recomputed here by separate, plain formulas."""

import math

import numpy as np
import pandas as pd
import pytest

from harness.core.errors import DataError
from harness.evaluation.paired import PairedSettings, paired_differences

# speaker -> accent, [(baseline correct, variant correct), ...] per clip
CLIPS = {
    "s1": ("a", [(1, 1), (1, 0), (1, 0), (1, 1)]),
    "s2": ("a", [(1, 1), (1, 1)]),
    "s3": ("b", [(0, 1), (1, 1), (0, 0)]),
    "s4": ("b", [(1, 0), (0, 0)]),
}


def predictions(clips: dict = CLIPS) -> pd.DataFrame:
    rows = []
    clip = 0
    for speaker, (accent, pairs) in clips.items():
        for base_ok, var_ok in pairs:
            for model, ok in (("float", base_ok), ("int8", var_ok)):
                rows.append({"model": model, "clip_id": f"c{clip:02d}", "speaker": speaker, "accent": accent,
                             "correct": bool(ok), "is_keyword": True, "predicted_keyword": True})
            clip += 1
    return pd.DataFrame(rows)


def bootstrap_by_hand(per_speaker: list[tuple[float, float]], n_boot: int, seed: int, confidence: float):
    """Replicates from the documented draw, summed speaker by speaker in a loop; the percentile by rank."""
    draws = np.random.default_rng(seed).integers(0, len(per_speaker), size=(n_boot, len(per_speaker)))
    reps = []
    for row in draws:
        num = sum(per_speaker[j][0] for j in row)
        den = sum(per_speaker[j][1] for j in row)
        reps.append(num / den)
    reps.sort()
    alpha = 1 - confidence
    low = reps[math.ceil(alpha / 2 * len(reps)) - 1]
    high = reps[math.ceil((1 - alpha / 2) * len(reps)) - 1]
    return low, high


def pick(table: pd.DataFrame, attribute: str, group: str, metric: str = "accuracy") -> pd.Series:
    hit = table[(table["attribute"] == attribute) & (table["group"] == group) & (table["metric"] == metric)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_overall_and_group_differences_match_a_hand_count_and_a_loop_bootstrap() -> None:
    settings = PairedSettings(n_boot=400, seed=7, min_clips=1, min_speakers=1)
    table = paired_differences(predictions(), "float", ["int8"], ["accent"], "kws", settings)
    overall = pick(table, "overall", "all")
    # baseline right on 8 of 11 clips, the variant on 6 of 11
    assert overall["baseline_value"] == pytest.approx(8 / 11)
    assert overall["variant_value"] == pytest.approx(6 / 11)
    assert overall["difference"] == pytest.approx(-2 / 11)
    assert overall["harm"] == pytest.approx(2 / 11)
    # per speaker (variant - baseline correct, clips), speakers in text order s1..s4
    per_speaker = [(-2, 4), (0, 2), (1, 3), (-1, 2)]
    low, high = bootstrap_by_hand(per_speaker, 400, 7, 0.95)
    assert (overall["ci_low"], overall["ci_high"]) == pytest.approx((low, high))
    assert (overall["harm_low"], overall["harm_high"]) == pytest.approx((-high, -low))
    # group b: speakers s3, s4 resampled among themselves
    b = pick(table, "accent", "b")
    assert b["difference"] == pytest.approx(0.0) and b["n"] == 5 and b["n_speakers"] == 2
    assert (b["ci_low"], b["ci_high"]) == pytest.approx(bootstrap_by_hand([(1, 3), (-1, 2)], 400, 7, 0.95))


def test_mcnemar_counts_exact_p_and_clip_wald_interval() -> None:
    table = paired_differences(predictions(), "float", ["int8"], ["accent"], "kws",
                               PairedSettings(min_clips=1, min_speakers=1))
    overall = pick(table, "overall", "all")
    # discordant: baseline only right on 3 clips (s1 x2, s4), variant only on 1 (s3)
    assert (overall["baseline_only"], overall["variant_only"]) == (3, 1)
    # exact two-sided binomial of 1 in 4 at 1/2: 2 * (1 + 4) / 16
    assert overall["mcnemar_p"] == pytest.approx(10 / 16)
    d, n = (1 - 3) / 11, 11
    se = math.sqrt(1 + 3 - (1 - 3) ** 2 / n) / n
    assert (overall["clip_ci_low"], overall["clip_ci_high"]) == pytest.approx((d - 1.959963985 * se,
                                                                               d + 1.959963985 * se))


def test_same_change_for_every_speaker_gives_a_zero_width_interval_and_sufficiency_counts() -> None:
    clips = {f"s{i}": ("a", [(1, 1), (1, 0)]) for i in range(6)}
    table = paired_differences(predictions(clips), "float", ["int8"], [], "kws", PairedSettings(min_clips=12))
    overall = pick(table, "overall", "all")
    assert (overall["difference"], overall["ci_low"], overall["ci_high"]) == pytest.approx((-0.5, -0.5, -0.5))
    assert bool(overall["sufficient"])
    table = paired_differences(predictions(clips), "float", ["int8"], [], "kws", PairedSettings(min_clips=13))
    assert not bool(pick(table, "overall", "all")["sufficient"])


def test_keyword_fpr_is_paired_over_the_non_keyword_clips_only() -> None:
    frame = predictions()
    frame["is_keyword"] = frame["clip_id"].isin(["c00", "c01", "c02"])
    frame["predicted_keyword"] = (frame["model"] == "int8") & frame["clip_id"].isin(["c03", "c04"])
    table = paired_differences(frame, "float", ["int8"], [], "kws", PairedSettings(min_clips=1, min_speakers=1))
    row = pick(table, "overall", "all", "keyword_fpr")
    assert row["n"] == 8 and row["difference"] == pytest.approx(2 / 8) and row["harm"] == pytest.approx(2 / 8)


def test_variants_scored_on_other_clips_are_refused() -> None:
    frame = predictions()
    frame = frame[~((frame["model"] == "int8") & (frame["clip_id"] == "c03"))]
    with pytest.raises(DataError, match="same clips"):
        paired_differences(frame, "float", ["int8"], [], "kws")
    with pytest.raises(DataError, match="no predictions of model 'fp16'"):
        paired_differences(predictions(), "float", ["fp16"], [], "kws")


def test_the_clustered_wald_interval_is_obuchowskis_variance_by_hand() -> None:
    table = paired_differences(predictions(), "float", ["int8"], [], "kws", PairedSettings(min_clips=1, min_speakers=1))
    overall = pick(table, "overall", "all")
    # speakers' (variant - baseline correct, clips): s1 (-2, 4), s2 (0, 2), s3 (1, 3), s4 (-1, 2); d = -2/11
    d, total = -2 / 11, 11
    spread = (-2 - d * 4) ** 2 + (0 - d * 2) ** 2 + (1 - d * 3) ** 2 + (-1 - d * 2) ** 2
    se = math.sqrt(4 / 3 * spread / total**2)
    assert (overall["cluster_ci_low"], overall["cluster_ci_high"]) == pytest.approx((d - 1.959963985 * se,
                                                                                     d + 1.959963985 * se))
