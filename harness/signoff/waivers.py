"""Waivers: a named owner accepts a failing or undecided gate, for a reason, until a date. An expired waiver
is void; a waived gate shows WAIVED and keeps its measured value, interval and status."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from fnmatch import fnmatchcase
from typing import Any

from harness.core.verdict import Verdict
from harness.signoff.gates import Gate
from harness.signoff.policy import Waiver


def apply_waivers(gates: list[Gate], waivers: list[Waiver], today: date) -> tuple[list[Gate], list[dict[str, Any]]]:
    """Gates with waivers applied, and one record per waiver saying what it matched and whether it held."""
    used: dict[int, list[str]] = {i: [] for i in range(len(waivers))}
    out = []
    for gate in gates:
        index = next((i for i, w in enumerate(waivers) if _matches(w, gate)), None)
        if index is None or gate.status == Verdict.PASS:
            out.append(gate)
            continue
        w = waivers[index]
        used[index].append(gate.id)
        record = {"owner": w.owner, "reason": w.reason, "expires": w.expires.isoformat(), "kind": "waiver"}
        if w.expires < today:
            out.append(replace(gate, waiver={**record, "state": "expired"},
                               reason=f"{gate.reason}; waiver by {w.owner} expired on {w.expires.isoformat()} "
                                      "and is void"))
        else:
            out.append(gate.waived({**record, "state": "active"},
                                   f"waived by {w.owner} until {w.expires.isoformat()}: {w.reason}"))
    records = [{"gate": w.gate, "owner": w.owner, "reason": w.reason, "expires": w.expires.isoformat(),
                "state": "unused" if not used[i] else ("expired" if w.expires < today else "active"),
                "gates": used[i]} for i, w in enumerate(waivers)]
    return out, records


def _matches(waiver: Waiver, gate: Gate) -> bool:
    """Checklist items are accepted by their own risk_acceptance, never by a gate waiver."""
    return gate.kind != "checklist" and fnmatchcase(gate.id, waiver.gate)
