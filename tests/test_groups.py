import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, count, false_positive_rate
from scipy import stats
from sklearn.metrics import accuracy_score, recall_score

from harness.core.errors import DataError
from harness.evaluation.det import plot_group_rates
from harness.evaluation.groups import LONG_COLUMNS, by_group, disaggregate


def hand_frame() -> pd.DataFrame:
    """us: 10 positives (8 detected, 5 speakers), 4 negatives of 900 s with 0,1,0,2 false accepts.
    in: 10 positives (5 detected, 4 speakers), 2 negatives of 1800 s with 1,0 false accepts."""
    rows = []
    for i in range(10):
        rows.append(("us", f"u{i // 2}", True, i < 8, 0, 2.0))
        rows.append(("in", f"i{i % 4}", True, i < 5, 0, 2.0))
    rows += [("us", "u9", False, False, fa, 900.0) for fa in (0, 1, 0, 2)]
    rows += [("in", "i9", False, False, fa, 1800.0) for fa in (1, 0)]
    columns = ["accent", "speaker", "is_positive", "detected", "false_accepts", "duration_s"]
    df = pd.DataFrame(rows, columns=columns)
    return df.assign(model="m1", clip_id=[f"c{i}" for i in range(len(df))], label="w")


def row(long: pd.DataFrame, attribute: str, group: str, metric: str) -> pd.Series:
    hit = long[(long["attribute"] == attribute) & (long["group"] == group) & (long["metric"] == metric)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_long_format_columns_and_overall_row() -> None:
    long = disaggregate(hand_frame(), ["accent"], "wake_word")
    assert list(long.columns) == LONG_COLUMNS
    assert set(long["metric"]) == {"detection_rate", "frr", "fa_per_hour", "fpr"}
    assert len(long) == 4 * 3  # overall + two accents, four metrics
    r = row(long, "overall", "all", "detection_rate")
    assert (r["n"], r["n_speakers"], r["value"]) == (20, 9, 13 / 20)


def test_wake_word_rates_and_wilson_intervals_at_the_effective_n() -> None:
    """us: speakers u0..u4 say two clips each and both agree (u0-u3 detected, u4 missed): deff = 2, so the
    interval is Wilson's for 4 of 5. in: the four speakers' rates (2/3, 1/3, 1/2, 1/2) spread less than
    binomially, so deff is floored at 1 and the interval is Wilson's for 5 of 10."""
    long = disaggregate(hand_frame(), ["accent"], "wake_word")
    for group, k, n, deff in (("us", 8, 10, 2), ("in", 5, 10, 1)):
        ref = stats.binomtest(k // deff, n // deff).proportion_ci(method="wilson")
        r = row(long, "accent", group, "detection_rate")
        assert r["value"] == k / n and r["n"] == n and r["k"] == k
        assert (r["design_effect"], r["n_eff"]) == (pytest.approx(deff), pytest.approx(n / deff))
        assert (r["ci_low"], r["ci_high"]) == (pytest.approx(ref.low), pytest.approx(ref.high))
        miss = stats.binomtest((n - k) // deff, n // deff).proportion_ci(method="wilson")
        r = row(long, "accent", group, "frr")
        assert r["value"] == pytest.approx((n - k) / n)
        assert (r["ci_low"], r["ci_high"]) == (pytest.approx(miss.low), pytest.approx(miss.high))
    assert row(long, "accent", "us", "detection_rate")["n_speakers"] == 5
    assert row(long, "accent", "in", "detection_rate")["n_speakers"] == 4


def test_false_accepts_per_hour_and_fpr() -> None:
    long = disaggregate(hand_frame(), ["accent"], "wake_word")
    us = row(long, "accent", "us", "fa_per_hour")
    assert (us["value"], us["k"], us["exposure_h"], us["n"], us["n_speakers"]) == (3.0, 3, 1.0, 4, 1)
    # exact Poisson bounds via gamma quantiles: Gamma(k).ppf(alpha/2), Gamma(k+1).ppf(1-alpha/2)
    assert us["ci_low"] == pytest.approx(stats.gamma.ppf(0.025, 3))
    assert us["ci_high"] == pytest.approx(stats.gamma.ppf(0.975, 4))
    assert row(long, "accent", "in", "fa_per_hour")["value"] == 1.0
    assert row(long, "overall", "all", "fa_per_hour")["value"] == 2.0
    assert row(long, "accent", "us", "fpr")["value"] == 0.5
    assert row(long, "accent", "in", "fpr")["value"] == 0.5
    assert np.isnan(row(long, "accent", "us", "fpr")["exposure_h"])


def test_sufficiency_needs_clips_and_speakers() -> None:
    long = disaggregate(hand_frame(), ["accent"], "wake_word", min_clips=10, min_speakers=5)
    assert bool(row(long, "accent", "us", "detection_rate")["sufficient"])
    assert not row(long, "accent", "in", "detection_rate")["sufficient"]  # 4 speakers
    assert not row(long, "accent", "us", "fa_per_hour")["sufficient"]  # 4 clips
    long = disaggregate(
        hand_frame(), ["accent"], "wake_word", min_clips=1, min_speakers=1, min_exposure_h=1.5
    )
    assert not row(long, "accent", "us", "fa_per_hour")["sufficient"]  # 1 h < 1.5 h
    assert bool(row(long, "overall", "all", "fa_per_hour")["sufficient"])  # 2 h


def test_group_without_population_is_reported_empty_and_insufficient() -> None:
    df = hand_frame()
    df = df[~((df["accent"] == "in") & ~df["is_positive"])]
    long = disaggregate(df, ["accent"], "wake_word", min_clips=0, min_speakers=0)
    r = row(long, "accent", "in", "fa_per_hour")
    assert r["n"] == 0 and np.isnan(r["value"]) and np.isnan(r["ci_low"]) and not r["sufficient"]


def test_intersections_missing_values_and_numeric_labels() -> None:
    df = hand_frame()
    df["snr_db"] = np.where(np.arange(len(df)) % 2 == 0, 20.0, 5.0)
    df["gender"] = ["f", "m", None] * 8 + ["f", "m"]
    long = disaggregate(df, ["gender", ("accent", "snr_db"), "gender&accent"], "wake_word")
    assert set(long["attribute"]) == {"overall", "gender", "accent&snr_db", "gender&accent"}
    groups = long[long["attribute"] == "accent&snr_db"]["group"].unique().tolist()
    assert groups == ["in&5", "in&20", "us&5", "us&20"]
    assert "<missing>" in set(long[long["attribute"] == "gender"]["group"])
    r = row(long, "accent&snr_db", "us&20", "detection_rate")
    sel = df[(df["accent"] == "us") & (df["snr_db"] == 20.0) & df["is_positive"]]
    assert r["n"] == len(sel) and r["value"] == sel["detected"].mean()


def test_missing_columns_raise_data_error() -> None:
    with pytest.raises(DataError, match="duration_s"):
        disaggregate(hand_frame().drop(columns="duration_s"), ["accent"], "wake_word")
    with pytest.raises(DataError, match="room"):
        disaggregate(hand_frame(), ["room"], "wake_word")
    bad = hand_frame().astype({"detected": object})
    bad.loc[0, "detected"] = None
    with pytest.raises(DataError, match="detected"):
        disaggregate(bad, ["accent"], "wake_word")


def random_wake_frame(seed: int = 7, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    speaker = rng.integers(0, 40, n)
    accent = np.array(["en-us", "en-gb", "hi"])[speaker % 3]
    noise = rng.choice(["clean", "babble"], n)
    positive = rng.random(n) < 0.6
    p_detect = np.where(accent == "hi", 0.7, 0.9) - np.where(noise == "babble", 0.1, 0.0)
    detected = positive & (rng.random(n) < p_detect)
    false_accepts = np.where(positive, 0, rng.poisson(0.3, n))
    return pd.DataFrame(
        {
            "model": "m",
            "clip_id": np.arange(n),
            "label": "x",
            "speaker": speaker,
            "accent": accent,
            "noise": noise,
            "is_positive": positive,
            "detected": detected,
            "false_accepts": false_accepts,
            "duration_s": 10.0,
        }
    )


@pytest.mark.parametrize("features", [["accent"], ["accent", "noise"]])
def test_matches_fairlearn_metricframe(features: list[str]) -> None:
    df = random_wake_frame()
    y_pred = np.where(df["is_positive"], df["detected"], df["false_accepts"] > 0)
    mf = MetricFrame(
        metrics={"dr": recall_score, "fpr": false_positive_rate, "count": count},
        y_true=df["is_positive"].to_numpy(),
        y_pred=y_pred,
        sensitive_features=df[features],
    )
    long = disaggregate(df, [tuple(features)], "wake_word")
    name = "&".join(features)
    for key, values in mf.by_group.iterrows():
        group = "&".join(key) if isinstance(key, tuple) else key
        assert row(long, name, group, "detection_rate")["value"] == pytest.approx(values["dr"], abs=1e-15)
        assert row(long, name, group, "fpr")["value"] == pytest.approx(values["fpr"], abs=1e-15)
        n_all = row(long, name, group, "detection_rate")["n"] + row(long, name, group, "fpr")["n"]
        assert n_all == values["count"]
    assert row(long, "overall", "all", "detection_rate")["value"] == pytest.approx(
        mf.overall["dr"], abs=1e-15
    )
    assert row(long, "overall", "all", "fpr")["value"] == pytest.approx(mf.overall["fpr"], abs=1e-15)


def test_kws_accuracy_and_keyword_fpr_match_fairlearn() -> None:
    rng = np.random.default_rng(3)
    n = 400
    words = np.array(["yes", "no", "up", "_silence_", "_unknown_"])
    label = rng.choice(words, n)
    predicted = np.where(rng.random(n) < 0.8, label, rng.choice(words, n))
    gender = rng.choice(["f", "m"], n)
    is_kw = ~np.isin(label, ["_silence_", "_unknown_"])
    pred_kw = ~np.isin(predicted, ["_silence_", "_unknown_"])
    df = pd.DataFrame(
        {
            "model": "k",
            "clip_id": np.arange(n),
            "label": label,
            "speaker": rng.integers(0, 30, n),
            "gender": gender,
            "correct": label == predicted,
            "is_keyword": is_kw,
            "predicted_keyword": pred_kw,
        }
    )
    long = disaggregate(df, ["gender"], "kws")
    assert set(long["metric"]) == {"accuracy", "keyword_fpr"}
    acc = MetricFrame(metrics=accuracy_score, y_true=label, y_pred=predicted, sensitive_features=gender)
    fpr = MetricFrame(metrics=false_positive_rate, y_true=is_kw, y_pred=pred_kw, sensitive_features=gender)
    for g in ("f", "m"):
        assert row(long, "gender", g, "accuracy")["value"] == pytest.approx(acc.by_group[g], abs=1e-15)
        assert row(long, "gender", g, "keyword_fpr")["value"] == pytest.approx(fpr.by_group[g], abs=1e-15)
        assert row(long, "gender", g, "keyword_fpr")["n"] == int(((gender == g) & ~is_kw).sum())
    assert row(long, "overall", "all", "accuracy")["value"] == pytest.approx(acc.overall, abs=1e-15)


def test_by_group_wide_view() -> None:
    df = pd.concat([hand_frame(), hand_frame().assign(model="m2")])
    long = disaggregate(df, ["accent"], "wake_word")
    with pytest.raises(ValueError):
        by_group(long, "accent", "frr")
    wide = by_group(long, "accent", "frr", model="m2")
    assert list(wide.index) == ["in", "us"]
    assert wide.loc["in", "value"] == 0.5 and wide.loc["us", "n"] == 10


def test_plot_group_rates_writes_png(tmp_path: Path) -> None:
    long = disaggregate(random_wake_frame(), ["accent", "noise"], "wake_word", min_speakers=14)
    for metric in ("frr", "detection_rate"):
        out = plot_group_rates(long, metric, tmp_path / f"{metric}.png")
        assert out.stat().st_size > 0 and out.read_bytes()[:4] == b"\x89PNG"
    out = plot_group_rates(long, "fa_per_hour", tmp_path / "sub" / "fa.png", attribute="noise")
    assert out.stat().st_size > 0


def clustered_frame(outcomes: dict[str, list[bool]]) -> pd.DataFrame:
    """Positive clips only: speaker -> whether each of their clips was detected."""
    rows = [(spk, hit) for spk, hits in outcomes.items() for hit in hits]
    df = pd.DataFrame(rows, columns=["speaker", "detected"])
    return df.assign(model="m", clip_id=[f"c{i}" for i in range(len(df))], is_positive=True, false_accepts=0,
                     duration_s=1.0, accent="a")


def wilson_by_hand(k: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    return centre - half, centre + half


def test_speakers_whose_clips_all_agree_have_the_cluster_size_as_design_effect() -> None:
    """6 speakers x 5 clips, each speaker all detected or all missed (3 and 3): the clips carry no more
    information than the 6 speakers, deff = 5, and the interval is Wilson's for 3 of 6."""
    df = clustered_frame({f"s{i}": [i < 3] * 5 for i in range(6)})
    r = row(disaggregate(df, [], "wake_word"), "overall", "all", "detection_rate")
    assert (r["n"], r["n_speakers"], r["value"]) == (30, 6, 0.5)
    assert r["design_effect"] == pytest.approx(5.0) and r["n_eff"] == pytest.approx(6.0)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(wilson_by_hand(3, 6))


def test_independent_clips_have_design_effect_one() -> None:
    """Every speaker detected in exactly half their clips (no between-speaker spread), or one clip per
    speaker: deff = 1 and the interval is the plain Wilson interval over clips."""
    same = clustered_frame({f"s{i}": [True, False, True, False] for i in range(5)})
    r = row(disaggregate(same, [], "wake_word"), "overall", "all", "detection_rate")
    assert (r["design_effect"], r["n_eff"]) == (1.0, 20.0)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(wilson_by_hand(10, 20))
    single = clustered_frame({f"s{i}": [i % 3 == 0] for i in range(12)})
    r = row(disaggregate(single, [], "wake_word"), "overall", "all", "detection_rate")
    assert (r["design_effect"], r["n_eff"], r["k"]) == (1.0, 12.0, 4)


def test_design_effect_from_unequal_speakers_by_hand() -> None:
    """Speakers 3/3, 1/3, 0/2 detected: p = 4/8; sum (k_j - p n_j)^2 = 1.5^2 + 0.5^2 + 1^2 = 3.5, so the
    clustered variance is 3.5 / 64 against the binomial 0.25 / 8: deff = 1.75, n_eff = 8 / 1.75."""
    df = clustered_frame({"a": [True] * 3, "b": [True, False, False], "c": [False, False]})
    r = row(disaggregate(df, [], "wake_word"), "overall", "all", "detection_rate")
    assert r["design_effect"] == pytest.approx(1.75) and r["n_eff"] == pytest.approx(8 / 1.75)
    assert r["value"] == 0.5
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(wilson_by_hand(4 / 1.75, 8 / 1.75))
    fpr_rows = disaggregate(df, [], "wake_word")
    assert row(fpr_rows, "overall", "all", "fpr")["n"] == 0  # no negatives: empty row, NaN design effect
    assert math.isnan(row(fpr_rows, "overall", "all", "fpr")["design_effect"])


def test_false_accepts_per_hour_clustered_by_speaker_by_hand() -> None:
    """Negatives: speaker a 1 h with 4 false accepts, b and c 1 h with none. Rate 4/3 per hour;
    sum (k_j - r e_j)^2 = (8/3)^2 + 2 (4/3)^2 = 96/9 over E^2 = 9, against the Poisson K / E^2 = 4/9:
    deff = 8/3, so the exact interval is for 1.5 events in 1.125 h."""
    rows = [("a", 2, 1800.0), ("a", 2, 1800.0), ("b", 0, 3600.0), ("c", 0, 3600.0)]
    df = pd.DataFrame(rows, columns=["speaker", "false_accepts", "duration_s"])
    df = df.assign(model="m", clip_id=[f"n{i}" for i in range(4)], is_positive=False, detected=False)
    r = row(disaggregate(df, [], "wake_word"), "overall", "all", "fa_per_hour")
    assert r["value"] == pytest.approx(4 / 3) and r["design_effect"] == pytest.approx(8 / 3)
    assert r["n_eff"] == pytest.approx(4 / (8 / 3))
    low, high = stats.chi2.ppf(0.025, 2 * 1.5) / 2 / 1.125, stats.chi2.ppf(0.975, 2 * 1.5 + 2) / 2 / 1.125
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(low), pytest.approx(high))


def test_each_model_gets_the_rows_it_would_get_alone() -> None:
    """Group labels are worked out once over every model's clips: a model keeps only the groups it has, in the
    same order, with the same numbers as when it is the only model in the frame."""
    first = random_wake_frame(seed=1).assign(model="a")
    second = random_wake_frame(seed=2).assign(model="b")
    second = second[second["accent"] != "en-gb"]
    together = disaggregate(pd.concat([second, first], ignore_index=True), ["accent", ("accent", "noise")],
                            "wake_word")
    for alone in (first, second):
        model = alone["model"].iloc[0]
        expected = disaggregate(alone, ["accent", ("accent", "noise")], "wake_word")
        got = together[together["model"] == model].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert "en-gb" not in set(together.loc[together["model"] == "b", "group"])


def test_clips_without_a_speaker_count_as_clips_but_not_as_speakers() -> None:
    """Speakers 3/3 and 1/3 detected, and two clips (both missed) whose speaker is unknown: n = 8 clips from
    2 speakers; the design effect comes from the known speakers' clips alone, p = 4/6:
    (3 - 2)^2 + (1 - 2)^2 = 2 over 6^2, against the binomial (2/3)(1/3) / 6: deff = 1.5."""
    df = clustered_frame({"a": [True] * 3, "b": [True, False, False], "x": [False, False]})
    df["speaker"] = df["speaker"].astype(object).where(df["speaker"] != "x", None)
    r = row(disaggregate(df, [], "wake_word"), "overall", "all", "detection_rate")
    assert (r["n"], r["n_speakers"], r["k"]) == (8, 2, 4)
    assert r["design_effect"] == pytest.approx(1.5)
