"""A gate: one measured value, its interval and threshold, decided on the interval, never the point."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from harness.core.verdict import Verdict
from harness.reports.numbers import significant

Op = Literal["<=", ">="]
RULE = ("FAIL if any gate fails; otherwise INSUFFICIENT_EVIDENCE if any gate is undecided; otherwise PASS. "
        "A predicted figure is decided on the cost model's interval combined with the jitter; a gate the policy "
        "marks evidence: measured is undecided on a prediction. "
        "A gate passes only when its whole interval is on the allowed side of the threshold and fails only when "
        "its whole interval is beyond it. WAIVED gates (active waiver or risk acceptance) do not block.")


def decide(low: float | None, high: float | None, threshold: float, op: Op) -> Verdict:
    """PASS when the whole interval is on the allowed side (touching the threshold counts), FAIL when the
    whole interval is beyond it, INSUFFICIENT_EVIDENCE when it straddles it or is missing."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return Verdict.INSUFFICIENT
    if op == "<=":
        return Verdict.PASS if high <= threshold else Verdict.FAIL if low > threshold else Verdict.INSUFFICIENT
    return Verdict.PASS if low >= threshold else Verdict.FAIL if high < threshold else Verdict.INSUFFICIENT


@dataclass(frozen=True)
class Gate:
    """One row of signoff.json. ``extra_samples`` (in ``extra_unit``) would likely resolve an undecided gate."""

    id: str
    kind: str
    model: str | None
    target: str | None
    metric: str
    value: float | None
    threshold: float | None
    op: Op
    ci_low: float | None
    ci_high: float | None
    status: str
    reason: str
    unit: str = ""
    extra_samples: float | None = None
    extra_unit: str | None = None
    measured_status: str | None = None
    waiver: dict[str, str] | None = None
    provenance: str | None = None  # measured:device, measured:host, predicted:..., or evidence (checklist)

    def waived(self, waiver: dict[str, str], note: str) -> Gate:
        return replace(self, status=Verdict.WAIVED, measured_status=self.status, waiver=waiver,
                       reason=f"{note}; measured: {self.reason}")

    def record(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in asdict(self).items()}


def _finite(value: Any) -> Any:
    """JSON has no infinity: an unbounded interval end is written as null (the reason says so)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def interval_gate(*, id: str, kind: str, model: str | None, target: str | None, metric: str, value: float | None,
                  threshold: float, op: Op, low: float | None, high: float | None, unit: str, what: str,
                  extra: float | None = None, extra_unit: str | None = None, note: str = "",
                  provenance: str | None = None) -> Gate:
    """Decide a gate on [low, high] and say why in words a reviewer can check."""
    status = decide(low, high, threshold, op)
    side = "at most" if op == "<=" else "at least"
    if low is None or high is None:
        reason = f"{what}: no interval ({note or 'not measured'})"
    else:
        shown = f"{_num(value)} [{_num(low)}, {_num(high)}] {unit}".strip()
        verdict = {Verdict.PASS: "the whole interval is within", Verdict.FAIL: "the whole interval is beyond",
                   Verdict.INSUFFICIENT: "the interval straddles"}[status]
        reason = f"{what} {shown}: {verdict} the limit ({side} {_num(threshold)})"
        if note:
            reason += f"; {note}"
    if status == Verdict.INSUFFICIENT and low is not None and high is not None:
        reason += f"; about {_num(extra)} more {extra_unit} would decide it" if extra is not None else \
            "; no finite sample decides it at this estimate"
    return Gate(id=id, kind=kind, model=model, target=target, metric=metric, value=value, threshold=threshold,
                op=op, ci_low=low, ci_high=high, status=status, reason=reason, unit=unit,
                extra_samples=extra if status == Verdict.INSUFFICIENT else None,
                extra_unit=extra_unit if status == Verdict.INSUFFICIENT else None, provenance=provenance)


def require_measurement(gate: Gate) -> Gate:
    """A gate the policy wants measured but that rests on a prediction decides nothing: measure on a device."""
    if not (gate.provenance or "").startswith("predicted"):
        return gate
    was = "" if gate.status == Verdict.INSUFFICIENT else f" (on the prediction it would be {gate.status})"
    return replace(gate, status=Verdict.INSUFFICIENT, extra_samples=None, extra_unit=None,
                   reason=f"{gate.reason}; the policy requires evidence: measured and this figure is "
                          f"{gate.provenance}{was}: measure on a device to decide it")


def _num(value: float | None) -> str:
    """A figure in a gate's reason: 4 significant digits, plain notation (no 1.169e+06 in a sign-off)."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if float(value).is_integer():
        return f"{int(value):,}"  # a count (bytes, clips) is shown whole
    return significant(value, 4)
