"""Whole-corpus accuracy gates per model (FRR, FA/h, top-1 accuracy) decided on the intervals in fairness.csv,
which are drawn at the effective sample size of clips clustered by speaker."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.signoff.gates import Gate, Op, interval_gate
from harness.signoff.policy import Policy
from harness.signoff.sizes import poisson_extra, proportion_extra


@dataclass(frozen=True)
class _Spec:
    metric: str
    field: str
    op: Op
    unit: str
    extra_unit: str
    what: str


SPECS = (
    _Spec("frr", "max_frr", "<=", "", "positive clips", "false-rejection rate"),
    _Spec("fa_per_hour", "max_fa_per_hour", "<=", "/h", "hours of negative audio", "false accepts per hour"),
    _Spec("accuracy", "min_accuracy", ">=", "", "clips", "top-1 accuracy"),
)


def design_effect_of(row: dict) -> float:
    """The row's design effect; 1 for tables written before fairness.csv carried it."""
    deff = row.get("design_effect")
    return 1.0 if deff is None or pd.isna(deff) else float(deff)


def accuracy_gates(fairness: pd.DataFrame, policy: Policy, confidence: float) -> list[Gate]:
    overall = fairness[fairness["attribute"] == "overall"]
    gates = []
    for row in overall.to_dict("records"):
        spec = next((s for s in SPECS if s.metric == row["metric"]), None)
        if spec is None:
            continue
        threshold = getattr(policy.accuracy_for(row["model"]), spec.field)
        if threshold is None:
            continue
        gates.append(_gate(row, spec, threshold, policy, confidence))
    return gates


def _gate(row: dict, spec: _Spec, threshold: float, policy: Policy, confidence: float) -> Gate:
    value, low, high = (None if pd.isna(row[c]) else float(row[c]) for c in ("value", "ci_low", "ci_high"))
    power = policy.evidence.power
    deff = design_effect_of(row)
    clustered = f"design effect {deff:.3g} of clips clustered by speaker"
    if spec.metric == "fa_per_hour":
        extra = poisson_extra(row["k"], row["exposure_h"], threshold, spec.op, confidence, power, deff=deff)
        note = f"{int(row['k'])} false accepts in {row['exposure_h']:.4g} h, exact Poisson interval ({clustered})"
    else:
        extra = proportion_extra(row["k"], row["n"], threshold, spec.op, confidence, power, deff=deff)
        note = (f"k={int(row['k'])} of n={int(row['n'])} clips from {int(row['n_speakers'])} speakers, Wilson interval "
                f"at the effective n={row['n'] / deff:.4g} ({clustered})")
    return interval_gate(id=f"{spec.metric}/{row['model']}", kind="accuracy", model=row["model"], target=None,
                         metric=spec.metric, value=value, threshold=threshold, op=spec.op, low=low, high=high,
                         unit=spec.unit, what=spec.what, extra=extra, extra_unit=spec.extra_unit, note=note,
                         provenance="measured:host")
