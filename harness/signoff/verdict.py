"""Build every gate of a run under a policy, apply waivers, and reduce them to one verdict.

PASS needs every gate's interval inside its threshold, an intersection-union test, so the per-gate
intervals need no multiplicity correction for the PASS verdict to hold at their level; a single FAIL
errs on the side of not deploying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.errors import DataError, read_json, read_utf8
from harness.core.verdict import Verdict
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.signoff.accuracy import accuracy_gates
from harness.signoff.checklist import checklist_gates
from harness.signoff.efficiency import efficiency_gates
from harness.signoff.fairness import fairness_gates, missing_attributes
from harness.signoff.gates import Gate
from harness.signoff.policy import Policy
from harness.signoff.quantization import quantization_gates
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
        gates += efficiency_gates(run.path, read_table(efficiency, EFFICIENCY_COLUMNS), policy, confidence)
    else:
        notes.append("no efficiency.csv: latency, power and memory were not measured in this run")
    if fairness.is_file():
        table = read_table(fairness, FAIRNESS_COLUMNS, only_empty_is_missing=True)
        disparity = read_json(run.path / contract.DISPARITY) \
            if (run.path / contract.DISPARITY).is_file() else []
        gates += accuracy_gates(table, policy, confidence)
        gates += fairness_gates(table, disparity, policy)
        absent = missing_attributes(table, policy)
        if absent:
            notes.append(f"policy attributes the corpus does not vary, so they are not gated: {', '.join(absent)}")
    else:
        notes.append("no fairness.csv: accuracy and fairness were not evaluated in this run")
    gates += quantization_gates(run.path, policy)
    skipped = _not_evaluated(run, fairness.is_file())
    if skipped:
        gates += not_evaluated_gates(_models(run, efficiency), policy)
    gates += checklist_gates(run.path, policy, today, skipped)
    gates, waivers = apply_waivers(gates, policy.waivers, today)
    return SignoffResult(reduce_verdict(gates), gates, waivers, run.path, policy, notes, today)


# the columns sign-off reads from each table: name -> True when it must hold numbers
EFFICIENCY_COLUMNS = {
    "model": False, "target": False, "target_class": False, "n_runs": True, "latency_ms_p50": True,
    "energy_mj_per_inference": True, "deployed_power_mw": True, "inference_rate_hz": True, "arena_bytes": True,
    "model_bytes": True, "latency_budget_ms": True, "power_budget_mw": True, "sram_bytes": True, "flash_bytes": True,
}
FAIRNESS_COLUMNS = {
    "model": False, "attribute": False, "group": False, "metric": False, "n": True, "n_speakers": True, "k": True,
    "value": True, "ci_low": True, "ci_high": True, "exposure_h": True,
}


def read_table(path: Path, columns: dict[str, bool], *, only_empty_is_missing: bool = False) -> pd.DataFrame:
    """A run's CSV table, checked once: UTF-8, parseable, every needed column present and numeric where it must be.

    ``only_empty_is_missing`` keeps text such as "None" as text (a fairness group may be named "None").
    """
    import io

    text = read_utf8(path)
    try:
        table = pd.read_csv(io.StringIO(text), **({"keep_default_na": False, "na_values": [""]}
                                                  if only_empty_is_missing else {}))
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not a readable CSV table: {str(exc).strip()}",
                        hint="the file was truncated or edited; re-run the command that wrote it") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{path}: column(s) missing: {', '.join(missing)}",
                        hint=f"the table needs the columns: {', '.join(columns)}")
    for column in (c for c, numeric in columns.items() if numeric):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table[column].notna() & values.isna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(f"{path}: column '{column}', line {row + 2}: {table[column].iloc[row]!r} is not a number",
                            hint="the file was edited or corrupted; re-run the command that wrote it")
        table[column] = values
    return table


NOT_EVALUATED = "not evaluated in this run"


def _not_evaluated(run: RunDirectory, has_fairness: bool) -> frozenset[str]:
    """Run files the run deliberately did not write: fairness.csv and disparity.json when its manifest records
    that it evaluated no corpus (a quick efficiency-only run). Empty otherwise, so a lost file still fails."""
    if has_fairness:
        return frozenset()
    path = run.path / contract.MANIFEST
    manifest = read_json(path) if path.is_file() else {}
    if "corpus" not in manifest or manifest["corpus"] is not None:
        return frozenset()
    return frozenset({contract.FAIRNESS.csv, contract.DISPARITY})


def _models(run: RunDirectory, efficiency: Path) -> list[str]:
    if efficiency.is_file():
        return sorted(pd.read_csv(efficiency)["model"].astype(str).unique())
    manifest = read_json(run.path / contract.MANIFEST)
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
        meta = read_json(path, dict).get("meta") or {}
        try:
            return float(meta.get("confidence", 0.95))
        except (TypeError, ValueError):
            raise DataError(f"{path}: field 'meta.confidence': {meta.get('confidence')!r} is not a number",
                            hint="a confidence level between 0 and 1, e.g. 0.95") from None
    return 0.95


def signoff_run(run_dir: Path, policy: Policy, today: date | None = None) -> SignoffResult:
    """Decide the run under ``policy``, write signoff.json and signoff.md into it, and return the result."""
    result = evaluate(run_dir, policy, today)
    write_signoff(result)
    return result
