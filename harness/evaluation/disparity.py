"""Worst-versus-best group comparisons with speaker-bootstrap intervals, Holm-adjusted p-values and a verdict.

One row per (model, attribute, metric), shaped as disparity.json. The bootstrap resamples speakers, not
clips, because clips of one speaker are correlated; the worst and best groups are fixed from the full
data and re-measured in every replicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from harness.core.verdict import Verdict
from harness.evaluation.groups import (
    OVERALL,
    POISSON_METRICS,
    Attribute,
    MetricInputs,
    Task,
    check_columns,
    disaggregate,
    error_of,
    group_labels,
    labels_within,
    metric_inputs,
)

P_METHOD = "wald_z_speaker_bootstrap_se"
Interval = list[float | None]  # [low, high], either bound None when it cannot be computed


@dataclass
class Disparity:
    """One row of disparity.json: the worst and best group of one (model, attribute, metric), their ratio and
    difference with speaker-bootstrap intervals, the gates, the Holm-adjusted p-value and the verdict."""

    model: str
    attribute: str
    metric: str
    insufficient_groups: list[str]
    worst_group: str | None
    best_group: str | None
    ratio: float | None
    ratio_ci: Interval
    difference: float | None
    difference_ci: Interval
    four_fifths: float | None
    four_fifths_ci: Interval | None
    verdict: Verdict
    reason: str
    gates: list[dict[str, Any]]
    worst_value: float | None
    best_value: float | None
    worst_n: int | None
    best_n: int | None
    worst_n_speakers: int | None
    best_n_speakers: int | None
    n_groups: int
    p_value: float | None
    p_method: str
    thresholds: dict[str, float]
    confidence: float
    n_boot: int
    n_boot_valid: int
    worst_ci: Interval | None = None  # None: no two groups to compare
    best_ci: Interval | None = None
    p_holm: float | None = None
    significant: bool | None = None
    worst_n_eff: float | None = None  # clips over the speaker design effect (the group intervals' sample size)
    best_n_eff: float | None = None

    def record(self) -> dict[str, Any]:
        """The row as disparity.json holds it (an undecided row has no group intervals to show)."""
        row = asdict(self)
        if self.worst_group is None:
            del row["worst_ci"], row["best_ci"]
        return row


@dataclass(frozen=True)
class Thresholds:
    """Sign-off gates (defaults and their sources: docs/sources.md#fairness-thresholds; the FA/h difference is a
    project default)."""

    max_error_ratio: float = 1.25
    max_difference: float = 0.05
    min_four_fifths: float = 0.8
    max_fa_per_hour_difference: float = 0.5


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values; NaN entries are left out of the family and stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m = order.size
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def bootstrap_weights(n_speakers: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_speakers) matrix: how often each speaker is drawn in each replicate.

    Replicate b draws ``rng.integers(0, n_speakers, size=(n_boot, n_speakers))[b]``.
    """
    draws = rng.integers(0, n_speakers, size=(n_boot, n_speakers))
    flat = (draws + n_speakers * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n_speakers).reshape(n_boot, n_speakers).astype(float)


def error_ratio(worst: np.ndarray | float, best: np.ndarray | float) -> np.ndarray:
    """worst / best error; inf when only the best is 0, 1 when both are 0."""
    w, b = np.asarray(worst, dtype=float), np.asarray(best, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = w / b
    return np.where(b == 0, np.where(w == 0, 1.0, np.inf), r)


def _percentile_ci(samples: np.ndarray, confidence: float) -> list[float | None]:
    kept = samples[~np.isnan(samples)]
    if kept.size == 0:
        return [None, None]
    alpha = 1.0 - confidence
    q = np.quantile(kept, [alpha / 2.0, 1.0 - alpha / 2.0], method="inverted_cdf")
    return [float(q[0]), float(q[1])]


def _gates(
    metric: str, ratio: float, difference: float, four_fifths: float | None, t: Thresholds
) -> list[dict]:
    """Which gates a worst/best pair must pass; an infinite ratio hands over to the difference gate."""
    max_diff = t.max_fa_per_hour_difference if metric in POISSON_METRICS else t.max_difference
    gates = []
    if metric == "detection_rate":
        gates.append(("four_fifths", four_fifths, t.min_four_fifths, ">="))
    elif np.isfinite(ratio):
        gates.append(("error_ratio", ratio, t.max_error_ratio, "<="))
    if metric in ("detection_rate", "frr", "fpr", "keyword_fpr") or not np.isfinite(ratio):
        gates.append(("difference", difference, max_diff, "<="))
    out = []
    for name, value, threshold, op in gates:
        passed = value >= threshold if op == ">=" else value <= threshold
        gate = {"name": name, "value": float(value), "threshold": threshold, "op": op, "passed": bool(passed)}
        if name == "difference" and not np.isfinite(ratio):
            gate["note"] = "error ratio infinite (best group has zero error): the difference decides"
        out.append(gate)
    return out


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


def four_fifths_ratio(lowest: np.ndarray | float, highest: np.ndarray | float) -> np.ndarray:
    """Lowest / highest detection rate; 1 when both are 0 (no group is selected more than another)."""
    lo, hi = np.asarray(lowest, dtype=float), np.asarray(highest, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hi == 0, 1.0, lo / hi)


def _pair_stats(metric: str, err_worst: float, err_best: float) -> tuple[float, float, float | None]:
    ratio = float(error_ratio(err_worst, err_best))
    four_fifths = None
    if metric == "detection_rate":
        four_fifths = float(four_fifths_ratio(1.0 - err_worst, 1.0 - err_best))
    return ratio, float(err_worst - err_best), four_fifths


def extremes(errors: np.ndarray) -> tuple[int, int]:
    """Indices of the worst (highest error) and best group; two different groups even when errors tie,
    so a comparison is never a group against itself. NaN entries are never chosen."""
    order = np.argsort(np.where(np.isnan(errors), np.inf, errors), kind="stable")
    valid = order[: int((~np.isnan(errors)).sum())]
    worst = int(valid[-1])
    best = int(valid[0]) if valid[0] != worst else int(valid[1])
    return worst, best


def _verdict(
    metric: str, rows: pd.DataFrame, errors: np.ndarray, short: list[str], t: Thresholds
) -> tuple[str, str, list[dict]]:
    """Verdict, reason and the gates of the all-groups worst/best pair.

    A failing pair of sufficient groups is a FAIL whatever the small groups show; otherwise any group
    short of evidence (``short``, including groups with no clips for this metric) blocks a PASS.
    """
    worst, best = extremes(errors)
    gates = _gates(metric, *_pair_stats(metric, errors[worst], errors[best]), t)
    sufficient = rows["sufficient"].to_numpy(dtype=bool)
    if sufficient.sum() >= 2:
        err_s = np.where(sufficient, errors, np.nan)
        w_s, b_s = extremes(err_s)
        gates_s = _gates(metric, *_pair_stats(metric, errors[w_s], errors[b_s]), t)
        failed = [g for g in gates_s if not g["passed"]]
        if failed:
            pair = f"'{rows['group'].iloc[w_s]}' vs '{rows['group'].iloc[b_s]}'"
            detail = "; ".join(f"{g['name']} {g['value']:.4g} not {g['op']} {g['threshold']}" for g in failed)
            scope = "" if (w_s, b_s) == (worst, best) else " (among sufficient groups)"
            return Verdict.FAIL, f"{pair}{scope}: {detail}", gates
    if short:
        return Verdict.INSUFFICIENT, f"too little evidence for group(s) {', '.join(map(str, short))}", gates
    return Verdict.PASS, "all gates passed", gates


def _bootstrap_errors(
    mi: MetricInputs, group_code: np.ndarray, pair: list[int], speaker_code: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """(n_boot, 2) errors of the two groups in ``pair`` in every speaker-resampled replicate (NaN when
    a replicate holds no clip of a group)."""
    k_mat = np.zeros((weights.shape[1], 2))
    e_mat = np.zeros((weights.shape[1], 2))
    for col, g in enumerate(pair):
        sel = mi.mask & (group_code == g)
        np.add.at(k_mat[:, col], speaker_code[sel], mi.k[sel])
        np.add.at(e_mat[:, col], speaker_code[sel], mi.e[sel])
    k_b, e_b = weights @ k_mat, weights @ e_mat
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(error_of(mi.metric, np.where(e_b > 0, k_b / e_b, np.nan)))


def _wald_p(difference: float, diff_b: np.ndarray) -> float:
    """Two-sided p-value of difference / (bootstrap standard error) against a standard normal."""
    if diff_b.size < 2:
        return float("nan")
    se = float(np.std(diff_b, ddof=1))
    if se == 0:
        return 0.0 if difference > 0 else 1.0
    return float(2.0 * stats.norm.sf(abs(difference) / se))


def _attribute_rows(
    model: str,
    labelled: tuple[str, pd.Series, list[str]],
    cells: dict[tuple[str, str], pd.DataFrame],
    inputs: list[MetricInputs],
    speaker_code: np.ndarray,
    weights: np.ndarray,
    thresholds: Thresholds,
    confidence: float,
) -> list[Disparity]:
    """``cells``: the model's rows of the per-group table by (attribute, metric)."""
    name, labels, order = labelled
    group_code = pd.Categorical(labels, categories=order).codes
    out = []
    for mi in inputs:
        all_rows = cells.get((name, mi.metric), _none_of(cells))
        # a group with no clip in this metric's population (e.g. streams without positives) is not compared
        all_rows = all_rows[all_rows["n"] > 0].reset_index(drop=True)
        short = all_rows.loc[~all_rows["sufficient"], "group"].tolist()
        base = {"model": model, "attribute": name, "metric": mi.metric, "insufficient_groups": short}
        rows = all_rows[all_rows["value"].notna()].reset_index(drop=True)
        if len(rows) < 2:
            out.append(Disparity(**_undecided(base, len(rows), thresholds, confidence, weights.shape[0])))
            continue
        errors = np.asarray(error_of(mi.metric, rows["value"].to_numpy(dtype=float)))
        worst, best = extremes(errors)
        ratio, difference, four_fifths = _pair_stats(mi.metric, errors[worst], errors[best])
        verdict, reason, gates = _verdict(mi.metric, rows, errors, short, thresholds)

        pair = [order.index(rows["group"].iloc[worst]), order.index(rows["group"].iloc[best])]
        err_b = _bootstrap_errors(mi, group_code, pair, speaker_code, weights)
        err_b = err_b[~np.isnan(err_b).any(axis=1)]
        diff_b = err_b[:, 0] - err_b[:, 1]
        ff_ci = None
        if four_fifths is not None:
            ff_ci = _percentile_ci(four_fifths_ratio(1.0 - err_b[:, 0], 1.0 - err_b[:, 1]), confidence)
        w_row, b_row = rows.iloc[worst], rows.iloc[best]
        out.append(Disparity(**(
            base
            | {
                "worst_group": w_row["group"],
                "best_group": b_row["group"],
                "ratio": ratio,
                "ratio_ci": _percentile_ci(error_ratio(err_b[:, 0], err_b[:, 1]), confidence),
                "difference": difference,
                "difference_ci": _percentile_ci(diff_b, confidence),
                "four_fifths": four_fifths,
                "four_fifths_ci": ff_ci,
                "verdict": verdict,
                "reason": reason,
                "gates": gates,
                "worst_value": float(w_row["value"]),
                "best_value": float(b_row["value"]),
                "worst_ci": [_num(w_row["ci_low"]), _num(w_row["ci_high"])],
                "best_ci": [_num(b_row["ci_low"]), _num(b_row["ci_high"])],
                "worst_n": int(w_row["n"]),
                "best_n": int(b_row["n"]),
                "worst_n_speakers": int(w_row["n_speakers"]),
                "best_n_speakers": int(b_row["n_speakers"]),
                "worst_n_eff": _num(w_row["n_eff"]),
                "best_n_eff": _num(b_row["n_eff"]),
                "n_groups": len(rows),
                "p_value": _num(_wald_p(difference, diff_b)),
                "p_method": P_METHOD,
                "thresholds": asdict(thresholds),
                "confidence": confidence,
                "n_boot": int(weights.shape[0]),
                "n_boot_valid": int(len(err_b)),
            }
        )))
    return out


def _none_of(cells: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """No rows, with the per-group table's columns."""
    return next(iter(cells.values())).iloc[:0] if cells else pd.DataFrame(columns=["group", "n", "value", "sufficient"])


def _undecided(base: dict, n_groups: int, t: Thresholds, confidence: float, n_boot: int) -> dict:
    empty = ("worst_group", "best_group", "ratio", "difference", "four_fifths", "four_fifths_ci")
    empty += ("worst_value", "best_value", "worst_n", "best_n", "worst_n_speakers", "best_n_speakers")
    return (
        base
        | dict.fromkeys(empty)
        | {
            "ratio_ci": [None, None],
            "difference_ci": [None, None],
            "verdict": Verdict.INSUFFICIENT,
            "reason": "fewer than two groups with data",
            "gates": [],
            "n_groups": n_groups,
            "p_value": None,
            "p_method": P_METHOD,
            "thresholds": asdict(t),
            "confidence": confidence,
            "n_boot": n_boot,
            "n_boot_valid": 0,
        }
    )


def disparity_rows(
    df: pd.DataFrame,
    attributes: Sequence[Attribute],
    task: Task,
    *,
    thresholds: Thresholds | None = None,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    min_clips: int = 30,
    min_speakers: int = 5,
    min_exposure_h: float = 0.0,
    long: pd.DataFrame | None = None,
) -> list[Disparity]:
    """disparity.json rows: one per (model, attribute, metric), Holm-adjusted within each model.

    ``long`` is the per-group table of ``df`` when the caller has it (``disaggregate`` with the same
    settings); it is computed here otherwise. Each model's bootstrap uses ``np.random.default_rng(seed)``
    over its unique speakers sorted as text.
    """
    thresholds = thresholds or Thresholds()
    check_columns(df, task, attributes)
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    if long is None:
        long = disaggregate(df, attributes, task, confidence, min_clips, min_speakers, min_exposure_h)
    results: list[Disparity] = []
    df = df.reset_index(drop=True)  # a unique index, by which each model takes its rows' labels
    labelled = [group_labels(df, attribute) for attribute in attributes]
    for model, frame in df.groupby("model", sort=True):
        speakers, speaker_code = np.unique(frame["speaker"].astype(str).to_numpy(), return_inverse=True)
        weights = bootstrap_weights(len(speakers), n_boot, np.random.default_rng(seed))
        inputs = metric_inputs(frame, task)
        model_long = long[(long["model"] == model) & (long["attribute"] != OVERALL[0])]
        cells = dict(iter(model_long.groupby(["attribute", "metric"], sort=False)))
        rows: list[Disparity] = []
        for block in labelled:
            rows += _attribute_rows(model, labels_within(block, frame.index), cells, inputs, speaker_code, weights,
                                    thresholds, confidence)
        _adjust(rows, 1.0 - confidence)
        results += rows
    return results


def _adjust(rows: list[Disparity], alpha: float) -> None:
    """Set p_holm and significant on one model's rows. A detection-rate row tests the same hypothesis
    as the FRR row of its attribute (same pair, same difference), so it is counted once in the family."""
    keys = [(r.attribute, "frr" if r.metric == "detection_rate" else r.metric) for r in rows]
    family: dict[tuple[str, str], float] = {}
    for key, row in zip(keys, rows, strict=True):
        family.setdefault(key, np.nan if row.p_value is None else row.p_value)
    adjusted = dict(zip(family, holm(list(family.values())), strict=True))
    for key, row in zip(keys, rows, strict=True):
        p = adjusted[key]
        row.p_holm = _num(p)
        row.significant = None if np.isnan(p) else bool(p < alpha)
        _settle(row)


_CI_OF_GATE = {"four_fifths": "four_fifths_ci", "error_ratio": "ratio_ci", "difference": "difference_ci"}


def _settle(row: Disparity) -> None:
    """Let the evidence decide: a point-estimate FAIL stands only when the disparity is significant after
    Holm, and a PASS only when every gated interval lies within its gate; otherwise the row is
    INSUFFICIENT_EVIDENCE, with the reason saying which."""
    if row.verdict == Verdict.FAIL and not row.significant:
        row.verdict = Verdict.INSUFFICIENT
        row.reason = (f"{row.reason}; but the difference is not significant after Holm correction "
                      f"(p_holm={row.p_holm}), so more data is needed to confirm it")
    elif row.verdict == Verdict.PASS:
        reaching = []
        for gate in row.gates:
            low, high = getattr(row, _CI_OF_GATE[gate["name"]]) or (None, None)
            bound = low if gate["op"] == ">=" else high
            inside = bound is not None and (bound >= gate["threshold"] if gate["op"] == ">="
                                            else bound <= gate["threshold"])
            if not inside:
                reaching.append(f"{gate['name']} interval bound {bound} is beyond {gate['threshold']}")
        if row.metric in POISSON_METRICS and not reaching:
            reaching += _unbounded_fa_rate(row)
        if reaching:
            row.verdict = Verdict.INSUFFICIENT
            row.reason = "point estimates pass, but " + "; ".join(reaching)


def _unbounded_fa_rate(row: Disparity) -> list[str]:
    """A ratio of false-accept rates says nothing when a group saw no false accept; then the worst group's
    exact Poisson upper bound must lie within the FA/h difference gate of the best group's rate."""
    assert row.worst_value is not None and row.best_value is not None and row.worst_ci is not None
    if row.worst_value > 0 and row.best_value > 0:
        return []
    limit = row.thresholds["max_fa_per_hour_difference"]
    upper = row.worst_ci[1]
    if upper is not None and upper - row.best_value <= limit:
        return []
    return [f"with zero false accepts in a group, FA/h is bounded only by its Poisson interval; the worst "
            f"group's upper bound {upper:.3g}/h exceeds the best group's rate by more than {limit}/h "
            "(more hours of negative audio are needed)"]
