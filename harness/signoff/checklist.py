"""The pre-deployment checklist as explicit gates: a critical-path item without evidence blocks (FAIL), unless
the run deliberately evaluated no corpus (then it is undecided: not evaluated in this run); a high-priority
item without evidence is undecided unless someone has accepted the risk in writing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from harness.core.verdict import Verdict
from harness.signoff.gates import Gate
from harness.signoff.policy import ChecklistItem, Policy


def checklist_gates(run: Path, policy: Policy, today: date, not_evaluated: frozenset[str] = frozenset()) -> list[Gate]:
    """``not_evaluated``: run files the run deliberately did not write (no corpus); an item missing only those
    is undecided, not failed."""
    base_dir = Path(policy.source_file).parent if policy.source_file else Path.cwd()
    return [_gate(item, run, base_dir, today, not_evaluated) for item in policy.checklist]


def _gate(item: ChecklistItem, run: Path, base_dir: Path, today: date, not_evaluated: frozenset[str]) -> Gate:
    evidence, missing = _evidence(item, run, base_dir)
    base = {"id": f"checklist/{item.id}", "kind": "checklist", "model": None, "target": None,
            "metric": f"checklist:{item.priority}", "value": None, "threshold": None, "op": ">=",
            "ci_low": None, "ci_high": None, "unit": "", "provenance": "evidence:documents"}
    if evidence and not missing:
        return Gate(**base, status=Verdict.PASS, reason=f"{item.title}: evidence {', '.join(evidence)}")
    gap = f"{item.title}: " + ("missing " + ", ".join(missing) if missing else "no evidence recorded")
    skipped = {f"run file {f}" for f in not_evaluated}
    if item.priority == "critical" and missing and set(missing) <= skipped:
        return Gate(**base, status=Verdict.INSUFFICIENT,
                    reason=f"{gap}: accuracy and fairness not evaluated in this run (no corpus); the item cannot "
                           "pass until a run evaluates them")
    if item.priority == "critical":
        return Gate(**base, status=Verdict.FAIL, reason=f"{gap}; a critical-path item blocks deployment")
    gate = Gate(**base, status=Verdict.INSUFFICIENT,
                reason=f"{gap}; a high-priority item needs evidence or a written risk acceptance")
    accepted = item.risk_acceptance
    if accepted is None:
        return gate
    record = {"owner": accepted.owner, "reason": accepted.reason, "expires": accepted.expires.isoformat(),
              "kind": "risk acceptance"}
    if accepted.expires < today:
        return replace(gate, waiver={**record, "state": "expired"},
                       reason=f"{gate.reason}; the risk acceptance by {accepted.owner} expired on "
                              f"{accepted.expires.isoformat()} and is void")
    return gate.waived({**record, "state": "active"},
                       f"risk accepted by {accepted.owner} until {accepted.expires.isoformat()}: {accepted.reason}")


def _evidence(item: ChecklistItem, run: Path, base_dir: Path) -> tuple[list[str], list[str]]:
    """(evidence found, evidence named but missing): run files, then the item's document."""
    found = [f for f in item.requires_files if (run / f).is_file()]
    missing = [f"run file {f}" for f in item.requires_files if not (run / f).is_file()]
    if item.evidence:
        if "://" in item.evidence or (base_dir / item.evidence).is_file():
            found.append(item.evidence)
        else:
            missing.append(f"document {base_dir / item.evidence}")
    return found, missing
