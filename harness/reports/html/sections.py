"""The report's sections as plain data for the template: verdict and gates, efficiency matrix, carbon, figures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.power.trace import Trace
from harness.reports.html.figures import data_uri, latency_figure, power_figure
from harness.reports.run_tables import GATE_STATUS_ORDER, RunTables, carbon_view, gate_rank
from harness.reports.tables import format_cell

FITS = ("fits_latency", "fits_power", "fits_memory")
STATUS_CLASS = {"PASS": "pass", "FAIL": "fail", "INSUFFICIENT_EVIDENCE": "insufficient", "WAIVED": "waived"}
GATE_KEYS = ("id", "model", "target", "metric", "value", "ci_low", "ci_high", "threshold", "status", "reason")
QUIET_KEYS = ("kind", "op", "unit")  # shown through other columns


def cell(value: Any) -> str:
    """A table cell as the Markdown tables write it (n/a, thousands separators, 4 significant digits)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format_cell(value).replace("**", "")


def signoff_section(tables: RunTables) -> dict[str, Any] | None:
    """Verdict and gate rows, failing gates first (other keys that are set, such as a waiver, go in ``extra``),
    or None without signoff.json."""
    if tables.signoff is None:
        return None
    gates = []
    for gate in sorted(tables.signoff.get("gates", []), key=gate_rank):
        extra = {k: v for k, v in gate.items() if k not in GATE_KEYS + QUIET_KEYS and v not in (None, "", [], {})}
        row = {k: cell(gate.get(k)) if k in ("value", "ci_low", "ci_high") else gate.get(k) or "" for k in GATE_KEYS}
        row["threshold"] = f"{gate.get('op') or ''} {cell(gate.get('threshold'))} {gate.get('unit') or ''}".strip()
        gates.append({**row, "cls": STATUS_CLASS.get(str(gate.get("status")), ""),
                      "extra": "; ".join(f"{k}: {v}" for k, v in extra.items())})
    verdict = str(tables.signoff.get("verdict", "not recorded"))
    counts = pd.Series([g["status"] for g in gates], dtype=object).value_counts()
    return {"verdict": verdict, "cls": STATUS_CLASS.get(verdict, ""),
            "counts": ", ".join(f"{int(counts[s])} {s}" for s in GATE_STATUS_ORDER if s in counts),
            "by_model": _by_model(gates),
            "gates": [g for g in gates if g["status"] != "PASS"], "passed": [g for g in gates if g["status"] == "PASS"]}


def _by_model(gates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model (run-wide gates such as the checklist apart): its worst gate status and the count of each."""
    rows = []
    for model, group in pd.DataFrame(gates).groupby("model", sort=False):
        statuses = group["status"].value_counts()
        worst = next(s for s in GATE_STATUS_ORDER if s in statuses)
        rows.append({"model": model or "(run-wide)", "status": worst, "cls": STATUS_CLASS.get(worst, ""),
                     "counts": ", ".join(f"{int(statuses[s])} {s}" for s in GATE_STATUS_ORDER if s in statuses)})
    return rows


def efficiency_matrix(tables: RunTables) -> dict[str, Any] | None:
    """Models x targets: p99 latency, energy and deployed power per cell, green when every budget fits."""
    eff = tables.efficiency
    if eff is None or eff.empty:
        return None
    targets = list(dict.fromkeys(eff["target"]))
    rows = []
    for model in dict.fromkeys(eff["model"]):
        cells = []
        for target in targets:
            hit = eff[(eff["model"] == model) & (eff["target"] == target)]
            if hit.empty:
                cells.append({"cls": "empty", "lines": ["not measured"], "title": ""})
                continue
            r = hit.iloc[0]
            failed = [f.removeprefix("fits_") for f in FITS if f in r and not bool(r[f])]
            lines = [f"p99 {cell(r['latency_ms_p99'])} ms", f"{cell(r['energy_mj_per_inference'])} mJ/inf"]
            if "deployed_power_mw" in r:
                lines.append(f"{cell(r['deployed_power_mw'])} mW deployed")
            lines.append("over budget: " + ", ".join(failed) if failed else "fits every budget")
            title = (f"latency budget {cell(r.get('latency_budget_ms'))} ms, power budget "
                     f"{cell(r.get('power_budget_mw'))} mW, backend {r['backend']}")
            cells.append({"cls": "nofit" if failed else "fit", "lines": lines, "title": title})
        rows.append({"model": model, "cells": cells})
    budgets = {t: eff[eff["target"] == t].iloc[0] for t in targets}
    header = [{"target": t, "sub": f"{budgets[t].get('target_class', '')}, {cell(budgets[t].get('latency_budget_ms'))}"
               f" ms, {cell(budgets[t].get('power_budget_mw'))} mW"} for t in targets]
    return {"targets": header, "rows": rows}


def carbon_section(tables: RunTables) -> dict[str, Any] | None:
    if tables.carbon is None:
        return None
    frame = carbon_view(tables.carbon)
    inputs = tables.carbon_meta or {}
    return {"columns": list(frame.columns),
            "rows": [[cell(v) for v in row] for row in frame.itertuples(index=False)],
            "inputs": [f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in inputs.items()]}


def _by_target(tables: RunTables) -> dict[str, list[str]]:
    eff = tables.efficiency
    if eff is None:
        return {}
    return {t: list(dict.fromkeys(eff.loc[eff["target"] == t, "model"])) for t in dict.fromkeys(eff["target"])}


def latency_figures(tables: RunTables) -> list[dict[str, str]]:
    out = []
    for target, models in _by_target(tables).items():
        samples = {}
        for model in models:
            path = tables.path / "raw" / f"latency__{model}__{target}.parquet"
            if path.is_file():
                samples[model] = pd.read_parquet(path, columns=["device_latency_ms"])["device_latency_ms"]
        if samples:
            budget = tables.efficiency.loc[tables.efficiency["target"] == target, "latency_budget_ms"].iloc[0]
            out.append({"caption": f"{target}: device latency of every timed inference "
                                   f"(raw/latency__<model>__{target}.parquet)",
                        "uri": data_uri(latency_figure(samples, float(budget), target))})
    return out


def _trace_file(raw: Path, model: str, target: str) -> Path | None:
    """A simulated run's trace, else the first energy window a DUT run kept (bench-device --mode energy)."""
    path = raw / f"power__{model}__{target}.parquet"
    if path.is_file():
        return path
    windows = sorted(raw.glob(f"energy_windows__{model}__{target}__trace*.parquet"))
    return windows[0] if windows else None


def power_figures(tables: RunTables) -> list[dict[str, str]]:
    out = []
    eff = tables.efficiency
    for target, models in _by_target(tables).items():
        traces: dict[str, Trace] = {}
        for model in models:
            path = _trace_file(tables.path / "raw", model, target)
            if path is not None:
                traces[model] = Trace.from_parquet(path)
        if traces:
            runs = {m: int(eff.loc[(eff["model"] == m) & (eff["target"] == target), "n_runs"].iloc[0])
                    for m in traces if "n_runs" in eff.columns}
            out.append({"caption": f"{target}: power over the measurement; shaded: the timed window between the two "
                                   "timestamp events, whose energy / inferences is mJ/inf",
                        "uri": data_uri(power_figure(traces, runs, target))})
    return out
