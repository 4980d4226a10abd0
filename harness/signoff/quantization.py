"""Quantization-harm gates: no group may lose more than the policy's points of a metric against the baseline
variant, decided on the speaker-level paired interval of model_comparison.json (docs/paired-comparison.md)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.core.errors import DataError, read_json
from harness.core.verdict import Verdict
from harness.rundir import contract
from harness.signoff.gates import Gate, interval_gate
from harness.signoff.policy import Policy

POINTS = 100.0  # one point is one percentage point of a rate


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def quantization_gates(run: Path, policy: Policy) -> list[Gate]:
    """One gate per (variant, group, metric) of the policy's metrics and attributes (overall always); none when the
    policy sets no limit.
    A run without a paired comparison gets one undecided gate: the policy asks for evidence the run lacks."""
    limit = policy.quantization.max_group_drop_points
    if limit is None:
        return []
    path = run / contract.MODEL_COMPARISON.json
    if not path.is_file():
        return [Gate(id="quantization/not_compared", kind="quantization", model=None, target=None, metric="harm",
                     value=None, threshold=limit, op="<=", ci_low=None, ci_high=None, status=Verdict.INSUFFICIENT,
                     unit="points", provenance="not evaluated",
                     reason=f"the policy limits the harm of a variant to {limit:g} points per group, but this run has "
                            "no model_comparison.json: run the variants together (harness compare-models, or a plan "
                            "with paired_baseline)")]
    document = read_json(path, dict)
    rows = document.get("rows")
    if not isinstance(rows, list):
        raise DataError(f"{path}: field 'rows' is missing or not a list", hint="re-run the comparison that wrote it")
    confidence = float((document.get("meta") or {}).get("confidence", 0.95))
    attributes = {"overall", *(policy.quantization.attributes if policy.quantization.attributes is not None
                               else policy.fairness.attributes)}
    return [_gate(row, limit, confidence) for row in rows
            if row.get("kind") == "accuracy" and row.get("metric") in policy.quantization.metrics
            and row.get("attribute") in attributes]


def _gate(row: dict[str, Any], limit: float, confidence: float) -> Gate:
    harm, low, high = (_num(row.get(c)) for c in ("harm", "harm_low", "harm_high"))
    scaled = [None if v is None else v * POINTS for v in (harm, low, high)]
    where = "overall" if row["attribute"] == "overall" else f"{row['attribute']}={row['group']}"
    what = (f"{row['metric']} lost by {row['variant']} against {row['baseline']} {where} "
            f"({confidence:.0%} speaker-level paired bootstrap)")
    note = f"{int(row['n'])} clips from {int(row['n_speakers'])} speakers"
    gate = interval_gate(id=f"quantization/{row['variant']}/{where}/{row['metric']}", kind="quantization",
                         model=row["variant"], target=None, metric=row["metric"], value=scaled[0], threshold=limit,
                         op="<=", low=scaled[1], high=scaled[2], unit="points", what=what, note=note,
                         provenance="measured:host")
    if not row.get("sufficient") and gate.status != Verdict.INSUFFICIENT:
        was = gate.status
        gate = replace(gate, status=Verdict.INSUFFICIENT,
                       reason=f"{gate.reason}; but the group is short of evidence (the policy's minimum clips and "
                              f"speakers), so its interval is not trusted (on it the gate would be {was})")
    return gate
