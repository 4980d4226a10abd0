"""Build every gate of a run under a policy, apply waivers, and reduce them to one verdict.

PASS needs every gate's interval inside its threshold, an intersection-union test, so the per-gate
intervals need no multiplicity correction for the PASS verdict to hold at their level; a single FAIL
errs on the side of not deploying.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.errors import DataError
from harness.core.verdict import Verdict
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.signoff.accuracy import accuracy_gates
from harness.signoff.checklist import checklist_gates
from harness.signoff.efficiency import efficiency_gates
from harness.signoff.fairness import fairness_gates, missing_attributes
from harness.signoff.gates import Gate
from harness.signoff.policy import Policy
from harness.signoff.waivers import apply_waivers
from harness.signoff.writer import write_signoff


@dataclass(frozen=True)
class SignoffResult:
    verdict: Verdict
    gates: list[Gate]
    waivers: list[dict[str, Any]]
    run_dir: Path
    policy: Policy
    notes: list[str] = field(default_factory=list)
    decided_on: date = field(default_factory=lambda: datetime.now(timezone.utc).date())

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    def counts(self) -> dict[str, int]:
        return {s.value: sum(g.status == s for g in self.gates) for s in Verdict}


def reduce_verdict(gates: list[Gate]) -> Verdict:
    statuses = {g.status for g in gates}
    if Verdict.FAIL in statuses:
        return Verdict.FAIL
    return Verdict.INSUFFICIENT if Verdict.INSUFFICIENT in statuses else Verdict.PASS


def evaluate(run_dir: Path, policy: Policy, today: date | None = None) -> SignoffResult:
    """Every gate of ``run_dir`` under ``policy`` with waivers applied (writes nothing)."""
    run = RunDirectory.open(run_dir)
    today = today or datetime.now(timezone.utc).date()
    gates: list[Gate] = []
    notes: list[str] = []
    efficiency = run.path / contract.EFFICIENCY.csv
    fairness = run.path / contract.FAIRNESS.csv
    if not efficiency.is_file() and not fairness.is_file():
        raise DataError(f"{run.path}: neither efficiency.csv nor fairness.csv: nothing to sign off",
                        hint="run `harness run` with targets and/or a corpus first")
    confidence = _confidence(run)
    if efficiency.is_file():
        gates += efficiency_gates(run.path, pd.read_csv(efficiency), policy, confidence)
    else:
        notes.append("no efficiency.csv: latency, power and memory were not measured in this run")
    if fairness.is_file():
        table = pd.read_csv(fairness, keep_default_na=False, na_values=[""])  # a group may be named "None"
        disparity = json.loads((run.path / contract.DISPARITY).read_text(encoding="utf-8")) \
            if (run.path / contract.DISPARITY).is_file() else []
        gates += accuracy_gates(table, policy, confidence)
        gates += fairness_gates(table, disparity, policy)
        absent = missing_attributes(table, policy)
        if absent:
            notes.append(f"policy attributes the corpus does not vary, so they are not gated: {', '.join(absent)}")
    else:
        notes.append("no fairness.csv: accuracy and fairness were not evaluated in this run")
    skipped = _not_evaluated(run, fairness.is_file())
    if skipped:
        gates += not_evaluated_gates(_models(run, efficiency), policy)
    gates += checklist_gates(run.path, policy, today, skipped)
    gates, waivers = apply_waivers(gates, policy.waivers, today)
    return SignoffResult(reduce_verdict(gates), gates, waivers, run.path, policy, notes, today)


NOT_EVALUATED = "not evaluated in this run"


def _not_evaluated(run: RunDirectory, has_fairness: bool) -> frozenset[str]:
    """Run files the run deliberately did not write: fairness.csv and disparity.json when its manifest records
    that it evaluated no corpus (a quick efficiency-only run). Empty otherwise, so a lost file still fails."""
    if has_fairness:
        return frozenset()
    path = run.path / contract.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if "corpus" not in manifest or manifest["corpus"] is not None:
        return frozenset()
    return frozenset({contract.FAIRNESS.csv, contract.DISPARITY})


def _models(run: RunDirectory, efficiency: Path) -> list[str]:
    if efficiency.is_file():
        return sorted(pd.read_csv(efficiency)["model"].astype(str).unique())
    manifest = json.loads((run.path / contract.MANIFEST).read_text(encoding="utf-8"))
    return sorted(str(m["name"]) for m in manifest.get("models", []))


def not_evaluated_gates(models: list[str], policy: Policy) -> list[Gate]:
    """One accuracy and one fairness gate per model, undecided: the run measured no corpus, so they say so
    rather than pass or fail."""
    gates = []
    for model in models:
        limits = policy.accuracy_for(model).model_dump(exclude_none=True)
        if limits:
            named = ", ".join(f"{k} {v:g}" for k, v in limits.items())
            gates.append(Gate(id=f"accuracy/{model}/not_evaluated", kind="accuracy", model=model, target=None,
                              metric="accuracy", value=None, threshold=None, op="<=", ci_low=None, ci_high=None,
                              status=Verdict.INSUFFICIENT, provenance="not evaluated",
                              reason=f"accuracy ({named}): {NOT_EVALUATED} (no corpus); run with --corpus to "
                                     "decide it"))
        if policy.fairness.attributes:
            gates.append(Gate(id=f"fairness/{model}/not_evaluated", kind="fairness", model=model, target=None,
                              metric="fairness", value=None, threshold=None, op="<=", ci_low=None, ci_high=None,
                              status=Verdict.INSUFFICIENT, provenance="not evaluated",
                              reason=f"per-group fairness ({', '.join(policy.fairness.attributes)}): "
                                     f"{NOT_EVALUATED} (no corpus); run with --corpus to decide it"))
    return gates


def _confidence(run: RunDirectory) -> float:
    """The confidence level the run's intervals were drawn at (fairness.json meta), else 0.95."""
    path = run.path / contract.FAIRNESS.json
    if path.is_file():
        return float(json.loads(path.read_text(encoding="utf-8")).get("meta", {}).get("confidence", 0.95))
    return 0.95


def signoff_run(run_dir: Path, policy: Policy, today: date | None = None) -> SignoffResult:
    """Decide the run under ``policy``, write signoff.json and signoff.md into it, and return the result."""
    result = evaluate(run_dir, policy, today)
    write_signoff(result)
    return result
