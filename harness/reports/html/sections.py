"""The report's sections as plain data for the template: verdict and gates, efficiency matrix, carbon, figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.evaluation.groups import JOIN
from harness.power.trace import Trace
from harness.reports import numbers
from harness.reports.cards import formatting as fmt
from harness.reports.figure_pool import Drawings
from harness.reports.html.figures import figure_uri, latency_figure, power_figure
from harness.reports.run_tables import GATE_STATUS_ORDER, RunTables, carbon_view, gate_rank

FITS = ("fits_latency", "fits_power", "fits_memory")
STATUS_CLASS = {"PASS": "pass", "FAIL": "fail", "INSUFFICIENT_EVIDENCE": "insufficient", "WAIVED": "waived"}
GATE_KEYS = ("id", "model", "target", "metric", "value", "ci_low", "ci_high", "threshold", "status", "reason",
             "provenance")
QUIET_KEYS = ("kind", "op", "unit")  # shown through other columns


def cell(value: Any, unit: str = "") -> str:
    """A table cell as the documents write it (harness.reports.numbers); bytes in binary units."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if unit in ("bytes", "B") and numbers.real(value) is not None:
        return numbers.binary_bytes(value)
    return numbers.plain(value)


def gate_value(gate: dict[str, Any]) -> tuple[str, str]:
    """(value, "[low, high]") of a gate with the interval's precision; no interval when it is missing or a point."""
    return numbers.value_and_interval(gate.get("value"), gate.get("ci_low"), gate.get("ci_high"),
                                      str(gate.get("unit") or ""))


def signoff_section(tables: RunTables) -> dict[str, Any] | None:
    """Verdict and gate rows, failing gates first (other keys that are set, such as a waiver, go in ``extra``),
    or None without signoff.json."""
    if tables.signoff is None:
        return None
    gates = []
    for gate in sorted(tables.signoff.get("gates", []), key=gate_rank):
        extra = {k: v for k, v in gate.items() if k not in GATE_KEYS + QUIET_KEYS and v not in (None, "", [], {})}
        row = {k: gate.get(k) or "" for k in GATE_KEYS}
        row["value"], row["interval"] = gate_value(gate)
        row["reason"] = numbers.in_text(str(row["reason"]))
        row["threshold"] = f"{gate.get('op') or ''} {cell(gate.get('threshold'), gate.get('unit') or '')} " \
                           f"{'' if gate.get('unit') == 'bytes' else gate.get('unit') or ''}".strip()
        row["threshold"] = row["threshold"].replace("n/a", "").strip() or "n/a"
        gates.append({**row, "cls": STATUS_CLASS.get(str(gate.get("status")), ""),
                      "predicted": str(gate.get("provenance") or "").startswith("predicted"),
                      "extra": "; ".join(f"{k}: {_readable(v)}" for k, v in extra.items())})
    verdict = str(tables.signoff.get("verdict", "not recorded"))
    counts = pd.Series([g["status"] for g in gates], dtype=object).value_counts()
    return {"verdict": verdict, "cls": STATUS_CLASS.get(verdict, ""),
            "counts": ", ".join(f"{int(counts[s])} {s}" for s in GATE_STATUS_ORDER if s in counts),
            "by_model": _by_model(gates),
            "gates": [g for g in gates if g["status"] != "PASS"], "passed": [g for g in gates if g["status"] == "PASS"]}


def _readable(value: Any) -> str:
    """A nested value as "key value, ..." text: the report shows no raw dicts."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_readable(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, (list, tuple)):
        return ", ".join(_readable(v) for v in value)
    return cell(value) if isinstance(value, (int, float, np.number)) else str(value)


def _by_model(gates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model (run-wide gates such as the checklist apart): its worst gate status and the count of each."""
    rows = []
    for model, group in pd.DataFrame(gates).groupby("model", sort=False):
        statuses = group["status"].value_counts()
        worst = next(s for s in GATE_STATUS_ORDER if s in statuses)
        rows.append({"model": model or "(run-wide)", "status": worst, "cls": STATUS_CLASS.get(worst, ""),
                     "counts": ", ".join(f"{int(statuses[s])} {s}" for s in GATE_STATUS_ORDER if s in statuses)})
    return rows


def _provenance(row: pd.Series) -> str:
    if "deployable" in row and pd.notna(row["deployable"]) and not bool(row["deployable"]):
        return "not deployable"
    value = row.get("provenance")
    return str(value) if value is not None and pd.notna(value) else "measured (provenance not recorded)"


def _matrix_cell(r: pd.Series) -> dict[str, Any]:
    provenance = _provenance(r)
    predicted = provenance.startswith("predicted")
    if provenance == "not deployable":
        reason = r.get("not_deployable_reason")
        return {"cls": "undeployable", "predicted": False, "provenance": provenance, "fits": [],
                "figures": str(reason) if reason is not None and pd.notna(reason) else "the stack cannot run it",
                "title": f"backend {r.get('backend')}"}
    fits = []
    for column in FITS:
        value = r.get(column)
        known = value is not None and pd.notna(value)
        fits.append({"name": column.removeprefix("fits_"), "cls": ("ok" if bool(value) else "bad") if known else "na",
                     "mark": ("✓" if bool(value) else "✗") if known else "?"})
    figures = [f"p99 {numbers.si(float(r['latency_ms_p99']) / 1e3, 's', 3)}",
               f"{numbers.si(float(r['energy_mj_per_inference']) / 1e3, 'J', 3)}/inf"]
    if "deployed_power_mw" in r and pd.notna(r["deployed_power_mw"]):
        figures.append(f"{numbers.si(float(r['deployed_power_mw']) / 1e3, 'W', 3)} deployed")
    if "arena_bytes" in r and pd.notna(r["arena_bytes"]):
        figures.append(f"arena {numbers.binary_bytes(r['arena_bytes'])}")
    failed = [f["name"] for f in fits if f["cls"] == "bad"]
    title = (f"latency budget {cell(r.get('latency_budget_ms'))} ms, power budget {cell(r.get('power_budget_mw'))} mW, "
             f"backend {r['backend']}, {provenance}")
    return {"cls": "nofit" if failed else "fit", "predicted": predicted, "provenance": provenance, "fits": fits,
            "figures": " · ".join(figures), "title": title}


def efficiency_matrix(tables: RunTables) -> dict[str, Any] | None:
    """Models x targets: fits latency / power / memory per cell, colored, each cell marked with its provenance
    (predicted cells are hatched with a dashed border, so no prediction reads as a measurement)."""
    eff = tables.efficiency
    if eff is None or eff.empty:
        return None
    targets = list(dict.fromkeys(eff["target"]))
    rows = []
    for model in dict.fromkeys(eff["model"]):
        cells = []
        for target in targets:
            hit = eff[(eff["model"] == model) & (eff["target"] == target)]
            cells.append(_matrix_cell(hit.iloc[0]) if not hit.empty else
                         {"cls": "empty", "predicted": False, "provenance": "", "fits": [], "figures": "not measured",
                          "title": ""})
        rows.append({"model": model, "cells": cells})
    budgets = {t: eff[eff["target"] == t].iloc[0] for t in targets}
    header = [{"target": t, "sub": f"{budgets[t].get('target_class', '')}, {cell(budgets[t].get('latency_budget_ms'))}"
               f" ms, {cell(budgets[t].get('power_budget_mw'))} mW"} for t in targets]
    return {"targets": header, "rows": rows, "any_predicted": any(c["predicted"] for r in rows for c in r["cells"])}


def fairness_gaps(tables: RunTables, count: int = 3) -> list[dict[str, str]]:
    """The ``count`` largest worst-best differences of disparity.json (single attributes), with their intervals."""
    rows = [d for d in tables.disparity or [] if JOIN not in str(d.get("attribute"))
            and numbers.real(d.get("difference")) is not None]
    # a false rejection gap is the detection gap seen from the other side: one of the two is enough
    detection = {(d.get("model"), d.get("attribute")) for d in rows if d.get("metric") == "detection_rate"}
    rows = [d for d in rows if not (d.get("metric") == "frr" and (d.get("model"), d.get("attribute")) in detection)]
    rows.sort(key=lambda d: -abs(float(d["difference"])))
    out = []
    for d in rows[:count]:
        metric = str(d.get("metric"))
        scale, unit = (100.0, " pp") if metric in fmt.RATE_METRICS else (1.0, "")
        low, high = (d.get("difference_ci") or [None, None])[:2]
        value = numbers.with_interval(float(d["difference"]) * scale,
                                      None if numbers.real(low) is None else float(low) * scale,
                                      None if numbers.real(high) is None else float(high) * scale)
        out.append({"model": str(d.get("model")), "attribute": str(d.get("attribute")), "metric": fmt.label(metric),
                    "worst": f"{d.get('worst_group')} ({fmt.shown(metric, d.get('worst_value'))})"
                    if numbers.real(d.get("worst_value")) is not None else str(d.get("worst_group")),
                    "best": f"{d.get('best_group')} ({fmt.shown(metric, d.get('best_value'))})"
                    if numbers.real(d.get("best_value")) is not None else str(d.get("best_group")),
                    "difference": value + unit, "verdict": str(d.get("verdict", "")),
                    "cls": STATUS_CLASS.get(str(d.get("verdict")), "")})
    return out


CARBON_HEADERS = {"model": "model", "target": "target", "region": "region", "devices": "devices",
                  "inference_rate_hz": "inf/s", "energy_mj_per_inference": "mJ/inf", "energy_kwh_per_year": "kWh/year",
                  "grid_kg_per_kwh": "kg CO2e/kWh", "co2e_kg_per_year": "kg CO2e/year", "price_per_kwh": "price/kWh",
                  "cost_per_year": "cost/year", "currency": "currency"}


def carbon_inputs(meta: dict[str, Any], prefix: str = "") -> list[str]:
    """The carbon table's inputs as "name: value" lines (nested records flattened, empty values left out)."""
    lines = []
    for key, value in meta.items():
        if key == "run_id" or value in (None, "", [], {}):
            continue
        name = f"{prefix}{key}".replace("_", " ")
        if isinstance(value, dict):
            lines += carbon_inputs(value, f"{prefix}{key} ")
        elif key == "year_s":
            lines.append(f"year: {cell(float(value))} s (Julian year)")
        else:
            lines.append(f"{name}: {_readable(value)}")
    return lines


def carbon_section(tables: RunTables) -> dict[str, Any] | None:
    if tables.carbon is None or tables.carbon.empty:
        return None
    frame = carbon_view(tables.carbon)
    # columns that are empty in every row (no price in the plan) say nothing
    frame = frame[[c for c in frame.columns if frame[c].notna().any()]]
    return {"columns": [CARBON_HEADERS.get(c, c.replace("_", " ")) for c in frame.columns],
            "rows": [[cell(v) for v in row] for row in frame.itertuples(index=False)],
            "inputs": carbon_inputs(tables.carbon_meta or {})}


def _by_target(tables: RunTables) -> dict[str, list[str]]:
    eff = tables.efficiency
    if eff is None:
        return {}
    return {t: list(dict.fromkeys(eff.loc[eff["target"] == t, "model"])) for t in dict.fromkeys(eff["target"])}


SPREAD = 0.02  # a latency p1-p99 range, or a power trace's spread in its window, under 2 % of its level draws flat


def has_spread(values: np.ndarray) -> bool:
    """Whether the p1-p99 range is at least ``SPREAD`` of the median: otherwise a box plot is a single dot."""
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return False
    low, mid, high = np.percentile(values, [1, 50, 99])
    return bool(high - low > SPREAD * abs(mid)) if mid else bool(high > low)


def latency_figures(tables: RunTables, drawings: Drawings | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Latency distributions of the models whose latency varies, and a note for those that are constant (figures
    drawn now, or added to ``drawings``)."""
    out, flat = [], []
    for target, models in _by_target(tables).items():
        samples = {}
        for model in models:
            path = tables.path / "raw" / f"latency__{model}__{target}.parquet"
            if not path.is_file():
                continue
            series = pd.read_parquet(path, columns=["device_latency_ms"])["device_latency_ms"]
            if has_spread(series.to_numpy(dtype=float)):
                samples[model] = series
            elif len(series):
                flat.append(f"{model} on {target}: {numbers.si(float(series.median()) / 1e3, 's')} for every one of "
                            f"{len(series):,} inferences")
        if samples:
            budget = tables.efficiency.loc[tables.efficiency["target"] == target, "latency_budget_ms"].iloc[0]
            out.append({"caption": f"{target}: device latency of every timed inference "
                                   f"(raw/latency__<model>__{target}.parquet)",
                        "uri": figure_uri(drawings, latency_figure, samples, float(budget), target)})
    return out, flat


def _trace_file(raw: Path, model: str, target: str) -> Path | None:
    """A simulated run's trace, else the first energy window a DUT run kept (bench-device --mode energy)."""
    path = raw / f"power__{model}__{target}.parquet"
    if path.is_file():
        return path
    windows = sorted(raw.glob(f"energy_windows__{model}__{target}__trace*.parquet"))
    return windows[0] if windows else None


def _simulated(row: pd.DataFrame, trace: Trace) -> bool:
    backend = str(row["backend"].iloc[0]) if "backend" in row and not row.empty else ""
    return trace.monitor == "sim" or backend.startswith("sim:")


def _window_power(trace: Trace) -> np.ndarray:
    power = trace.power_w()
    if len(trace.events_s) >= 2:
        first, last = (int(e * trace.sample_rate_hz) for e in trace.events_s[:2])
        if last > first:
            return power[first:last]
    return power


def power_figures(tables: RunTables, drawings: Drawings | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Measured traces, and simulated ones only when the power varies within the timed window (a simulated device
    draws a constant power while it infers: a flat rectangle says nothing that mJ/inf does not); figures drawn now,
    or added to ``drawings``."""
    out, flat = [], []
    eff = tables.efficiency
    for target, models in _by_target(tables).items():
        traces: dict[str, Trace] = {}
        simulated = False
        for model in models:
            path = _trace_file(tables.path / "raw", model, target)
            if path is None:
                continue
            trace = Trace.from_parquet(path)
            sim = _simulated(eff[(eff["model"] == model) & (eff["target"] == target)], trace)
            window = _window_power(trace)
            if sim and not has_spread(window):
                flat.append(f"{model} on {target}: simulated, a constant {numbers.si(float(np.median(window)), 'W')} "
                            "while inferring")
                continue
            traces[model] = trace
            simulated = simulated or sim
        if traces:
            runs = {m: int(eff.loc[(eff["model"] == m) & (eff["target"] == target), "n_runs"].iloc[0])
                    for m in traces if "n_runs" in eff.columns}
            label = "SIMULATED by the cost model, not measured" if simulated else "measured"
            out.append({"caption": f"{target}: power over the measurement ({label}); shaded: the timed window between "
                                   "the two timestamp events, whose energy / inferences is mJ/inf",
                        "uri": figure_uri(drawings, power_figure, traces, runs, target)})
    return out, flat
