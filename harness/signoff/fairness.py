"""Fairness gates per (model, attribute): worst/best ratios and differences from disparity.json decided on their
speaker-bootstrap intervals, and the minimum clips and speakers each group needs before any of them can pass."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from harness.core.verdict import Verdict
from harness.reports.numbers import significant
from harness.signoff.gates import Gate, Op, interval_gate
from harness.signoff.policy import Fairness, Policy
from harness.signoff.sizes import scaled_extra


@dataclass(frozen=True)
class _Spec:
    metric: str
    statistic: str
    ci: str
    field: str
    op: Op


SPECS = (
    _Spec("frr", "ratio", "ratio_ci", "max_error_ratio", "<="),
    _Spec("frr", "difference", "difference_ci", "max_difference", "<="),
    _Spec("detection_rate", "four_fifths", "four_fifths_ci", "min_four_fifths", ">="),
    _Spec("fa_per_hour", "difference", "difference_ci", "max_fa_per_hour_difference", "<="),
    _Spec("accuracy", "ratio", "ratio_ci", "max_error_ratio", "<="),
    _Spec("accuracy", "difference", "difference_ci", "max_difference", "<="),
    _Spec("keyword_fpr", "difference", "difference_ci", "max_difference", "<="),
)
SIZE_METRICS = ("detection_rate", "fa_per_hour", "accuracy")


def fairness_gates(fairness: pd.DataFrame, disparity: list[dict[str, Any]], policy: Policy) -> list[Gate]:
    f = policy.fairness
    gates: list[Gate] = []
    for (model, attribute), rows in fairness.groupby(["model", "attribute"], sort=True):
        if attribute in f.attributes:
            gates.append(_size_gate(model, attribute, rows, f))
    for row in disparity:
        if row["attribute"] not in f.attributes:
            continue
        for spec in (s for s in SPECS if s.metric == row["metric"]):
            gates.append(_disparity_gate(row, spec, policy))
    return [replace(g, provenance="measured:host") for g in gates]  # the host evaluation's counts and bootstrap


def missing_attributes(fairness: pd.DataFrame, policy: Policy) -> list[str]:
    """Policy attributes the run could not break down (absent from the corpus or constant in it)."""
    return [a for a in policy.fairness.attributes if a not in set(fairness["attribute"])]


def _size_gate(model: str, attribute: str, rows: pd.DataFrame, f: Fairness) -> Gate:
    """PASS when every group with clips reaches min_clips and min_speakers; otherwise too little evidence."""
    rows = rows[rows["metric"].isin(SIZE_METRICS) & (rows["n"] > 0)]
    short = rows[(rows["n"] < f.min_clips) | (rows["n_speakers"] < f.min_speakers)]
    smallest = float(rows["n"].min()) if len(rows) else 0.0
    base = {"id": f"group_size/{model}/{attribute}", "kind": "fairness", "model": model, "target": None,
            "metric": "min_group_clips", "value": smallest, "threshold": float(f.min_clips), "op": ">=",
            "ci_low": smallest, "ci_high": smallest, "unit": "clips"}
    if rows.empty:
        return Gate(**base, status=Verdict.INSUFFICIENT, reason=f"no group of '{attribute}' has clips")
    if short.empty:
        return Gate(**base, status=Verdict.PASS, reason=f"every group of '{attribute}' has >= {f.min_clips} clips and "
                                                f">= {f.min_speakers} speakers per metric")
    deficit = short.groupby("group")["n"].min().rsub(f.min_clips).clip(lower=0).sum()
    listed = ", ".join(f"{r['group']} ({r['metric']}: {int(r['n'])} clips, {int(r['n_speakers'])} speakers)"
                       for r in short.to_dict("records")[:6])
    more = f" and {len(short) - 6} more" if len(short) > 6 else ""
    return Gate(**base, status=Verdict.INSUFFICIENT, extra_samples=float(deficit), extra_unit="clips",
                reason=f"groups below {f.min_clips} clips or {f.min_speakers} speakers: {listed}{more}; at least "
                       f"{int(deficit)} more clips (and speakers up to {f.min_speakers} per group) are needed")


def _disparity_gate(row: dict[str, Any], spec: _Spec, policy: Policy) -> Gate:
    f = policy.fairness
    threshold = getattr(f, spec.field)
    gid = f"fairness.{spec.metric}.{spec.statistic}/{row['model']}/{row['attribute']}"
    base = {"id": gid, "kind": "fairness", "model": row["model"], "target": None,
            "metric": f"{spec.metric}_{spec.statistic}", "threshold": threshold, "op": spec.op, "unit": ""}
    pair = f"'{row['worst_group']}' vs '{row['best_group']}'" if row.get("worst_group") is not None else "no pair"
    what = f"{spec.statistic} of {spec.metric}, {pair} ({row['attribute']})"
    value = row.get(spec.statistic)
    low, high = row.get(spec.ci) or (None, None)
    if value is None:
        return interval_gate(**base, value=None, low=None, high=None, what=what, note=row.get("reason", ""))
    short = [f"'{row[g + '_group']}' ({row[g + '_n']} clips, {row[g + '_n_speakers']} speakers)"
             for g in ("worst", "best") if row[g + "_n"] < f.min_clips or row[g + "_n_speakers"] < f.min_speakers]
    if short:
        deficit = sum(max(0, f.min_clips - row[g + "_n"]) for g in ("worst", "best"))
        gate = interval_gate(**base, value=value, low=low, high=high, what=what)
        return replace(gate, status=Verdict.INSUFFICIENT, extra_samples=float(deficit) or None,
                       extra_unit="clips" if deficit else None,
                       reason=f"{what}: {_n(value)} [{_n(low)}, {_n(high)}], but a speaker bootstrap over "
                              f"{' and '.join(short)} cannot be trusted either way")
    n_pair = int(row["worst_n"] + row["best_n"])
    extra = None if low is None or high is None else scaled_extra(
        value, low, high, threshold, n_pair, row.get("confidence", 0.95), policy.evidence.power)
    note = f"speaker-bootstrap interval; disparity.json verdict {row['verdict']}"
    return interval_gate(**base, value=value, low=low, high=high, what=what, extra=extra,
                         extra_unit="clips across the two groups", note=note)


def _n(v: float | None) -> str:
    return "n/a" if v is None else ("inf" if math.isinf(v) else significant(v, 4))
