"""Paired differences between variants of one network on the same clips, per group, with speaker-cluster intervals.

Every variant scored the same clips, so each clip contributes ``k_variant - k_baseline`` to the difference of a
metric (``groups.metric_inputs``); the clips of one speaker are correlated, so the interval resamples speakers
with replacement inside each group (a paired cluster bootstrap), applying each drawn speaker's clips to both
variants at once. Binary metrics also carry the discordant-pair counts, the exact McNemar p-value and a clip-level
Wald interval (which ignores the speaker clustering), and a Wald interval with Obuchowski's speaker-clustered
variance (docs/paired-comparison.md says when to read which).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from harness.core.errors import DataError
from harness.evaluation.disparity import bootstrap_weights
from harness.evaluation.groups import (
    HIGHER_IS_BETTER,
    OVERALL,
    POISSON_METRICS,
    Attribute,
    MetricInputs,
    Task,
    check_columns,
    group_labels,
    metric_inputs,
)

METHOD = "speaker_paired_cluster_bootstrap"
PAIRED_COLUMNS = [
    "baseline", "variant", "attribute", "group", "metric", "n", "n_speakers", "baseline_value", "variant_value",
    "difference", "ci_low", "ci_high", "harm", "harm_low", "harm_high", "n_boot_valid", "baseline_only",
    "variant_only", "mcnemar_p", "clip_ci_low", "clip_ci_high", "cluster_ci_low", "cluster_ci_high", "sufficient",
    "method",
]  # fmt: skip


@dataclass(frozen=True)
class PairedSettings:
    confidence: float = 0.95
    n_boot: int = 1000
    seed: int = 0
    min_clips: int = 30
    min_speakers: int = 5


def harm_of(metric: str, difference: float | np.ndarray) -> float | np.ndarray:
    """How much worse the variant is: the drop of a higher-is-better metric, the rise of an error metric."""
    return -difference if metric in HIGHER_IS_BETTER else difference


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval of the finite replicates (NaN, NaN without any)."""
    kept = samples[np.isfinite(samples)]
    if kept.size == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    low, high = np.quantile(kept, [alpha / 2.0, 1.0 - alpha / 2.0], method="inverted_cdf")
    return float(low), float(high)


def paired_bootstrap(k_diff: np.ndarray, e: np.ndarray, speakers: np.ndarray, n_boot: int, seed: int,
                     confidence: float) -> tuple[float, float, int]:
    """Interval of sum(k_diff) / sum(e) with speakers resampled: replicate b draws
    ``rng.integers(0, S, size=(n_boot, S))[b]`` over the S distinct speakers sorted as text, rng seeded with ``seed``.
    Returns (low, high, replicates with exposure)."""
    return _bootstrap_by_code(k_diff, e, speaker_codes(speakers), n_boot, seed, confidence)


def speaker_codes(speakers: np.ndarray) -> np.ndarray:
    """Each clip's speaker as its rank among the distinct speakers sorted as text (codes of a subset keep that
    order, so they stand for the speakers in every computation here)."""
    return np.unique(speakers.astype(str), return_inverse=True)[1].ravel()


def _bootstrap_by_code(k_diff: np.ndarray, e: np.ndarray, codes: np.ndarray, n_boot: int, seed: int,
                       confidence: float) -> tuple[float, float, int]:
    ranks, code = np.unique(codes, return_inverse=True)
    if ranks.size == 0:
        return float("nan"), float("nan"), 0
    k_spk = np.bincount(code, weights=k_diff, minlength=ranks.size)
    e_spk = np.bincount(code, weights=e, minlength=ranks.size)
    weights = _weights(ranks.size, n_boot, seed)
    num, den = weights @ k_spk, weights @ e_spk
    with np.errstate(divide="ignore", invalid="ignore"):
        replicates = np.where(den > 0, num / den, np.nan)
    low, high = percentile_interval(replicates, confidence)
    return low, high, int(np.isfinite(replicates).sum())


@lru_cache(maxsize=64)
def _weights(n_speakers: int, n_boot: int, seed: int) -> np.ndarray:
    """``bootstrap_weights`` from a fresh rng seeded with ``seed``: the same for every group of as many speakers."""
    weights = bootstrap_weights(n_speakers, n_boot, np.random.default_rng(seed))
    weights.flags.writeable = False
    return weights


@lru_cache(maxsize=8)
def _z(confidence: float) -> float:
    return float(stats.norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def mcnemar(baseline_hit: np.ndarray, variant_hit: np.ndarray, confidence: float) -> tuple[int, int, float, float,
                                                                                           float]:
    """Discordant pairs (baseline only, variant only), the exact McNemar p-value (two-sided binomial test of the
    discordant pairs at 1/2) and the Wald interval of the paired difference p_variant - p_baseline over clips."""
    b = int(np.sum(baseline_hit & ~variant_hit))
    c = int(np.sum(~baseline_hit & variant_hit))
    n = baseline_hit.size
    p = float(stats.binomtest(c, b + c, 0.5).pvalue) if b + c else 1.0
    if n == 0:
        return b, c, p, float("nan"), float("nan")
    d = (c - b) / n
    se = np.sqrt(max(b + c - (c - b) ** 2 / n, 0.0)) / n
    z = _z(confidence)
    return b, c, p, float(d - z * se), float(d + z * se)


def clustered_wald(k_diff: np.ndarray, e: np.ndarray, speakers: np.ndarray,
                   confidence: float) -> tuple[float, float]:
    """Wald interval of the paired difference d = sum(k_diff) / sum(e) with Obuchowski's (1998) speaker-clustered
    variance K / ((K - 1) E^2) * sum_j (D_j - d e_j)^2 over the K speakers (D_j, e_j: speaker j's sums); NaN with
    fewer than two speakers."""
    return _wald_by_code(k_diff, e, speaker_codes(speakers), confidence)


def _wald_by_code(k_diff: np.ndarray, e: np.ndarray, codes: np.ndarray, confidence: float) -> tuple[float, float]:
    ranks, code = np.unique(codes, return_inverse=True)
    total = float(e.sum())
    if ranks.size < 2 or total <= 0:
        return float("nan"), float("nan")
    d_spk = np.bincount(code, weights=k_diff, minlength=ranks.size)
    e_spk = np.bincount(code, weights=e, minlength=ranks.size)
    d = float(d_spk.sum()) / total
    k = ranks.size
    se = float(np.sqrt(k / (k - 1) * np.sum((d_spk - d * e_spk) ** 2) / total**2))
    z = _z(confidence)
    return d - z * se, d + z * se


def _paired_frame(predictions: pd.DataFrame, baseline: str, variant: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The baseline's rows (clip and group columns) with the variant's scored fields beside them, per clip."""
    base = predictions[predictions["model"] == baseline].sort_values("clip_id").reset_index(drop=True)
    other = predictions[predictions["model"] == variant].sort_values("clip_id").reset_index(drop=True)
    for name, rows in ((baseline, base), (variant, other)):
        if rows.empty:
            raise DataError(f"no predictions of model '{name}' to compare",
                            hint=f"models in the predictions: {', '.join(sorted(predictions['model'].unique()))}")
    if base["clip_id"].tolist() != other["clip_id"].tolist():
        only = sorted(set(base["clip_id"]) ^ set(other["clip_id"]))[:5]
        raise DataError(f"models '{baseline}' and '{variant}' were not scored on the same clips (e.g. {only})",
                        hint="a paired comparison needs every variant evaluated on one corpus in one run")
    return base, other


def paired_differences(predictions: pd.DataFrame, baseline: str, variants: Sequence[str],
                       attributes: Sequence[Attribute], task: Task,
                       settings: PairedSettings = PairedSettings()) -> pd.DataFrame:
    """One row per (variant, attribute, group, metric): variant - baseline on the same clips, with the paired
    speaker-bootstrap interval (``ci_low``/``ci_high``) and the same as harm (positive: the variant is worse)."""
    check_columns(predictions, task, attributes)
    rows: list[dict] = []
    for variant in variants:
        base, other = _paired_frame(predictions, baseline, variant)
        inputs_a, inputs_b = metric_inputs(base, task), metric_inputs(other, task)
        blocks = [(OVERALL[0], pd.Series(OVERALL[1], index=base.index), [OVERALL[1]])]
        blocks += [group_labels(base, attribute) for attribute in attributes]
        codes = speaker_codes(base["speaker"].to_numpy())
        for name, labels, order in blocks:
            values = labels.to_numpy()
            members = {group: values == group for group in order}
            for mi_a, mi_b in zip(inputs_a, inputs_b, strict=True):
                for group in order:
                    rows.append(_row(baseline, variant, name, group, mi_a, mi_b, members[group], codes, settings))
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def _row(baseline: str, variant: str, attribute: str, group: str, mi_a: MetricInputs, mi_b: MetricInputs,
         in_group: np.ndarray, codes: np.ndarray, s: PairedSettings) -> dict:
    """``codes``: each clip's speaker as ``speaker_codes`` gives it."""
    sel = in_group & mi_a.mask
    k_a, k_b, e = mi_a.k[sel], mi_b.k[sel], mi_a.e[sel]
    spk = codes[sel]
    exposure = float(e.sum())
    value_a = float(k_a.sum() / exposure) if exposure > 0 else float("nan")
    value_b = float(k_b.sum() / exposure) if exposure > 0 else float("nan")
    low, high, valid = _bootstrap_by_code(k_b - k_a, e, spk, s.n_boot, s.seed, s.confidence)
    difference = value_b - value_a
    harm_bounds = sorted((harm_of(mi_a.metric, low), harm_of(mi_a.metric, high)))
    row = {
        "baseline": baseline, "variant": variant, "attribute": attribute, "group": group, "metric": mi_a.metric,
        "n": int(sel.sum()), "n_speakers": int(np.unique(spk).size), "baseline_value": value_a,
        "variant_value": value_b, "difference": difference, "ci_low": low, "ci_high": high,
        "harm": harm_of(mi_a.metric, difference), "harm_low": harm_bounds[0], "harm_high": harm_bounds[1],
        "n_boot_valid": valid, "method": METHOD,
        "baseline_only": np.nan, "variant_only": np.nan, "mcnemar_p": np.nan, "clip_ci_low": np.nan,
        "clip_ci_high": np.nan,
    }
    row["cluster_ci_low"], row["cluster_ci_high"] = _wald_by_code(k_b - k_a, e, spk, s.confidence)
    if mi_a.metric not in POISSON_METRICS:
        b, c, p, c_low, c_high = mcnemar(k_a > 0, k_b > 0, s.confidence)
        row |= {"baseline_only": b, "variant_only": c, "mcnemar_p": p, "clip_ci_low": c_low, "clip_ci_high": c_high}
    row["sufficient"] = bool(row["n"] >= s.min_clips and row["n_speakers"] >= s.min_speakers and exposure > 0)
    return row
