"""signoff.json (the run-directory contract) and signoff.md (the same gates for a reviewer), worst first."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.verdict import Verdict
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.signoff.gates import RULE, Gate

if TYPE_CHECKING:
    from harness.signoff.verdict import SignoffResult

ORDER = {Verdict.FAIL: 0, Verdict.INSUFFICIENT: 1, Verdict.WAIVED: 2, Verdict.PASS: 3}


def signoff_record(result: SignoffResult) -> dict[str, Any]:
    policy_file = Path(result.policy.source_file) if result.policy.source_file else None
    return {
        "verdict": result.verdict,
        "run_id": result.run_dir.name,
        "decided_on": result.decided_on.isoformat(),
        "policy": {
            "name": result.policy.name,
            "file": str(policy_file) if policy_file else None,
            "sha256": hashlib.sha256(policy_file.read_bytes()).hexdigest() if policy_file and policy_file.is_file()
            else None,
            "latency_percentile": result.policy.efficiency.latency_percentile,
            "power": result.policy.evidence.power,
        },
        "rule": RULE,
        "counts": result.counts(),
        "gates": [g.record() for g in _sorted(result.gates)],
        "waivers": result.waivers,
        "notes": result.notes,
    }


def write_signoff(result: SignoffResult) -> list[Path]:
    run = RunDirectory(result.run_dir)
    return [run.write_json(contract.SIGNOFF, signoff_record(result)),
            run.write_text(contract.SIGNOFF_MD, markdown(result))]


def _sorted(gates: list[Gate]) -> list[Gate]:
    return sorted(gates, key=lambda g: (ORDER[g.status], g.kind, g.id))


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf"
    text = f"{value:,.0f}" if unit == "bytes" else f"{value:.4g}"
    return f"{text} {unit}".strip()


def _row(g: Gate) -> str:
    interval = f"[{_num(g.ci_low)}, {_num(g.ci_high)}]" if g.ci_low is not None or g.ci_high is not None else ""
    threshold = f"{g.op} {_num(g.threshold, g.unit)}" if g.threshold is not None else ""
    extra = f"{_num(g.extra_samples)} {g.extra_unit}" if g.extra_samples is not None else ""
    status = f"**{g.status}**" if g.status in (Verdict.FAIL, Verdict.INSUFFICIENT) else g.status
    reason = g.reason.replace("|", "\\|")
    return (f"| {status} | `{g.id}` | {_num(g.value, g.unit)} | {g.provenance or ''} | {interval} | {threshold} | "
            f"{extra} | {reason} |")


def _by_model(gates: list[Gate]) -> list[str]:
    """One line per model: its own verdict and the gates that decide it."""
    models = sorted({g.model for g in gates if g.model})
    if not models:
        return []
    out = ["## By model", "", "| model | verdict | failing gates | undecided gates | waived |",
           "|---|---|---|---:|---:|"]
    for model in models:
        mine = [g for g in gates if g.model == model]
        failing = [g.id for g in mine if g.status == Verdict.FAIL]
        undecided = sum(g.status == Verdict.INSUFFICIENT for g in mine)
        verdict = Verdict.FAIL if failing else Verdict.INSUFFICIENT if undecided else Verdict.PASS
        shown = ", ".join(f"`{i}`" for i in failing[:5]) + (f" and {len(failing) - 5} more" if len(failing) > 5 else "")
        out.append(f"| {model} | {verdict} | {shown} | {undecided} | {sum(g.status == Verdict.WAIVED for g in mine)} |")
    return out + [""]


def markdown(result: SignoffResult) -> str:
    counts = result.counts()
    policy = result.policy
    out = [f"# Sign-off: {result.verdict}", "",
           f"Run `{result.run_dir.name}`, policy `{policy.name}` ({policy.source_file or 'built in'}), decided on "
           f"{result.decided_on.isoformat()}.", "",
           " · ".join(f"{s}: {n}" for s, n in counts.items()), "",
           "Each gate is decided on its interval: PASS only when the whole interval is on the allowed side of the "
           "threshold, FAIL only when it is wholly beyond it, otherwise INSUFFICIENT_EVIDENCE with the extra samples "
           f"that would likely decide it (power {policy.evidence.power:g}). A waiver never hides the measured "
           "value.", "",
           "Provenance says where each figure comes from: measured:device (a device over its link), measured:host "
           "(the host evaluation, file sizes, TFLite Micro's arena planner), predicted:calibrated or "
           "predicted:estimated (the cost model, whose interval is part of the gate's interval; estimated "
           "parameters are named in efficiency.csv), not deployable (the target's stack cannot run the model).", ""]
    waived = result.waivers
    accepted = [g for g in result.gates if g.kind == "checklist" and g.waiver]
    if waived or accepted:
        out += ["## Waivers and risk acceptances", "", "| kind | applies to | owner | reason | expires | state |",
                "|---|---|---|---|---|---|"]
        out += [f"| waiver | `{w['gate']}` ({len(w['gates'])} gates) | {w['owner']} | {w['reason']} | {w['expires']} "
                f"| {w['state']} |" for w in waived]
        out += [f"| risk acceptance | `{g.id}` | {g.waiver['owner']} | {g.waiver['reason']} | {g.waiver['expires']} "
                f"| {g.waiver['state']} |" for g in accepted if g.waiver]
        out.append("")
    out += _by_model(result.gates)
    out += ["## Gates (blocking first)", "",
            "| status | gate | value | provenance | interval | threshold | extra samples | reason |",
            "|---|---|---:|---|---|---|---|---|"]
    out += [_row(g) for g in _sorted(result.gates)]
    if result.notes:
        out += ["", "## Notes", "", *[f"- {n}" for n in result.notes]]
    return "\n".join(out) + "\n"
