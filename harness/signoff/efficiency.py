"""Efficiency gates per (model, target): latency percentile, deployed power, energy per inference, memory fit.

Intervals come from the run's raw samples: a distribution-free order-statistic interval for the latency
percentile, and batch means over sub-windows of the power trace for energy (and so deployed power). A predicted
row (provenance predicted:*) widens them by the cost model's interval (the row's ``*_low``/``*_high`` over its
point value), so the seeded jitter alone never decides a gate; a row whose stack cannot run the model fails its
latency, power and energy gates with the reason. Every gate records the provenance of its figure.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.verdict import Verdict
from harness.power.integrate import energy_between
from harness.power.trace import Trace
from harness.rundir import contract
from harness.signoff.gates import Gate, interval_gate, require_measurement
from harness.signoff.policy import Policy
from harness.signoff.sizes import mean_interval, quantile_extra, quantile_interval, scaled_extra

BATCHES = 10


def latency_samples(run: Path, model: str, target: str) -> np.ndarray | None:
    path = run / contract.latency_samples(model, target)
    return pd.read_parquet(path)["device_latency_ms"].to_numpy(dtype=float) if path.is_file() else None


def energy_batches(run: Path, model: str, target: str, n_inferences: int) -> np.ndarray | None:
    """Energy per inference (mJ) in each of up to ``BATCHES`` equal sub-windows of the inference window."""
    path = run / contract.power_trace(model, target)
    if not path.is_file() or n_inferences < 2:
        return None
    trace = Trace.from_parquet(path)
    if len(trace.events_s) < 2:
        return None
    batches = min(BATCHES, n_inferences)
    edges = np.linspace(trace.events_s[0], trace.events_s[1], batches + 1)
    per_batch = n_inferences / batches
    return np.array([energy_between(trace, a, b).mj / per_batch for a, b in zip(edges[:-1], edges[1:], strict=True)])


def _power_interval(row: dict[str, Any], energy: tuple[float, float, float]) -> tuple[float, float]:
    """Deployed power is linear in energy per inference (slope: the achieved rate, at most 1 / p50 latency), so
    the energy interval shifts the table's deployed power by (bound - mean) x rate."""
    rate = min(row["inference_rate_hz"], 1e3 / row["latency_ms_p50"])
    mean, low, high = energy
    return row["deployed_power_mw"] + (low - mean) * rate, row["deployed_power_mw"] + (high - mean) * rate


def _provenance(row: dict[str, Any]) -> str:
    """The row's provenance; rows written before it existed are simulated when their backend says so."""
    value = row.get("provenance")
    if isinstance(value, str) and value:
        return value
    return "predicted" if str(row.get("backend", "")).startswith("sim") else "unknown"


def _model_scale(row: dict[str, Any], metric: str) -> tuple[float, float]:
    """The cost model's interval around a predicted figure, as factors on it (1, 1 for measured rows)."""
    low, high, value = row.get(f"{metric}_low"), row.get(f"{metric}_high"), row.get(metric)
    if not _provenance(row).startswith("predicted") or low is None or high is None or not value \
            or any(math.isnan(float(v)) for v in (low, high, value)):
        return 1.0, 1.0
    return float(low) / float(value), float(high) / float(value)


def _not_deployable(row: dict[str, Any]) -> str:
    deployable = row.get("deployable")
    if deployable is None or (isinstance(deployable, float) and math.isnan(deployable)) or bool(deployable):
        return ""
    return str(row.get("not_deployable_reason") or "the target's stack cannot run this model")


def efficiency_gates(run: Path, table: pd.DataFrame, policy: Policy, confidence: float) -> list[Gate]:
    gates: list[Gate] = []
    for row in table.to_dict("records"):
        budget = policy.efficiency.budget_for(row["target"], row["target_class"])
        prov = _provenance(row)
        base = {"kind": "efficiency", "model": row["model"], "target": row["target"]}
        mine: list[Gate] = []
        reason = _not_deployable(row)
        if reason:
            mine += _undeployable(row, budget.max_energy_mj is not None, policy, reason, base)
        else:
            mine.append(_latency(run, row, budget.latency_ms or row["latency_budget_ms"], policy, confidence,
                                 {**base, "provenance": prov}))
            mine += _energy_gates(run, row, budget, policy, confidence, {**base, "provenance": prov})
        arena_prov = prov if prov.startswith("measured:device") else \
            "measured:host" if row.get("arena_source") == "tflm" else "predicted:static-estimate"
        mine.append(_exact(f"memory_arena/{row['model']}/{row['target']}", "arena_bytes", row["arena_bytes"],
                           budget.sram_bytes or row["sram_bytes"], "tensor arena vs SRAM",
                           {**base, "provenance": arena_prov}))
        mine.append(_exact(f"memory_flash/{row['model']}/{row['target']}", "model_bytes", row["model_bytes"],
                           budget.flash_bytes or row["flash_bytes"], "model size vs flash",
                           {**base, "provenance": "measured:host"}))
        if budget.evidence == "measured":
            mine = [require_measurement(g) for g in mine]
        gates += mine
    return gates


def _energy_gates(run: Path, row: dict[str, Any], budget: Any, policy: Policy, confidence: float,
                  base: dict[str, Any]) -> list[Gate]:
    batches = energy_batches(run, row["model"], row["target"], int(row["n_runs"]))
    energy = mean_interval(batches, confidence) if batches is not None else (row["energy_mj_per_inference"],
                                                                              None, None)
    n = int(row["n_runs"])
    note = f"energy interval from batch means over {BATCHES} sub-windows of the trace" if batches is not None \
        else "no power trace in raw/"
    power_ci = (None, None) if energy[1] is None else _power_interval(row, energy)
    e_low, e_high = _model_scale(row, "energy_mj_per_inference")
    if energy[1] is not None and (e_low, e_high) != (1.0, 1.0):
        energy = (energy[0], energy[1] * e_low, energy[2] * e_high)
        shift_low = row["deployed_power_mw_low"] - row["deployed_power_mw"]
        shift_high = row["deployed_power_mw_high"] - row["deployed_power_mw"]
        power_ci = (power_ci[0] + shift_low, power_ci[1] + shift_high)
        note += "; widened by the cost model's interval (predicted, not measured)"
    gates = [_scaled(f"power/{row['model']}/{row['target']}", "deployed_power_mw", row["deployed_power_mw"],
                     budget.power_mw or row["power_budget_mw"], power_ci, "mW", n, confidence, policy,
                     "deployed power", note, base)]
    if budget.max_energy_mj is not None:
        gates.append(_scaled(f"energy/{row['model']}/{row['target']}", "energy_mj_per_inference", energy[0],
                             budget.max_energy_mj, energy[1:], "mJ", n, confidence, policy,
                             "energy per inference", note, base))
    return gates


def _undeployable(row: dict[str, Any], gate_energy: bool, policy: Policy, reason: str,
                  base: dict[str, Any]) -> list[Gate]:
    """The model cannot run on the target's stack: its device figures do not exist, so these gates fail."""
    pct = policy.efficiency.latency_percentile
    specs = [(f"latency_p{pct}", f"latency_ms_p{pct}", "ms"), ("power", "deployed_power_mw", "mW")]
    if gate_energy:
        specs.append(("energy", "energy_mj_per_inference", "mJ"))
    return [Gate(id=f"{name}/{row['model']}/{row['target']}", metric=metric, value=None, threshold=None, op="<=",
                 ci_low=None, ci_high=None, status=Verdict.FAIL, unit=unit, provenance="not deployable",
                 reason=f"not deployable on this stack ({row.get('stack', '')}): {reason}", **base)
            for name, metric, unit in specs]


def _latency(run: Path, row: dict[str, Any], budget_ms: float, policy: Policy, confidence: float,
             base: dict[str, Any]) -> Gate:
    pct = policy.efficiency.latency_percentile
    period_ms = round(1e3 / row["inference_rate_hz"], 6)  # the rate is stored to 10 digits
    threshold, note = budget_ms, f"budget {budget_ms:g} ms"
    if period_ms < budget_ms:
        threshold, note = period_ms, f"the {period_ms:.4g} ms step period of a streaming model binds before the " \
                                     f"{budget_ms:g} ms budget (it must keep up with its input)"
    metric = f"latency_ms_p{pct}"
    gid = f"latency_p{pct}/{row['model']}/{row['target']}"
    samples = latency_samples(run, row["model"], row["target"])
    m_low, m_high = _model_scale(row, metric)
    if samples is None:
        return interval_gate(id=gid, metric=metric, value=row.get(metric), threshold=threshold, op="<=", low=None,
                             high=None, unit="ms", what=f"p{pct} latency", note="no latency samples in raw/", **base)
    value, low, high = quantile_interval(samples, pct / 100.0, confidence)
    extra = quantile_extra(samples, pct / 100.0, threshold, confidence, policy.evidence.power)
    if (m_low, m_high) != (1.0, 1.0):
        low, high = low * m_low, high * m_high
        extra = None  # more simulated runs cannot narrow the cost model's own uncertainty
        note += (f"; predicted by the cost model: the jitter's interval widened by its interval "
                 f"(x{m_low:.3g} to x{m_high:.3g}); only a measurement on a device narrows it")
    if math.isinf(high):
        note += f"; {len(samples)} runs cannot bound p{pct} from above (order-statistic interval)"
    return interval_gate(id=gid, metric=metric, value=value, threshold=threshold, op="<=", low=low, high=high,
                         unit="ms", what=f"p{pct} latency", extra=extra, extra_unit="timed inferences", note=note,
                         **base)


def _scaled(gid: str, metric: str, value: float, threshold: float, ci: tuple[float | None, float | None], unit: str,
            n: int, confidence: float, policy: Policy, what: str, note: str, base: dict[str, Any]) -> Gate:
    low, high = ci
    widened = "cost model" in note  # more simulated runs cannot narrow the cost model's own uncertainty
    extra = None if low is None or high is None or widened else \
        scaled_extra(value, low, high, threshold, n, confidence, policy.evidence.power)
    return interval_gate(id=gid, metric=metric, value=value, threshold=threshold, op="<=", low=low, high=high,
                         unit=unit, what=what, extra=extra, extra_unit="timed inferences", note=note, **base)


def _exact(gid: str, metric: str, value: float, limit: float, what: str, base: dict[str, Any]) -> Gate:
    """Sizes are counted, not sampled: the interval is the value itself."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Gate(id=gid, metric=metric, value=None, threshold=float(limit), op="<=", ci_low=None, ci_high=None,
                    status=Verdict.INSUFFICIENT, reason=f"{what}: not measured", unit="bytes", **base)
    value = float(value)
    return interval_gate(id=gid, metric=metric, value=value, threshold=float(limit), op="<=", low=value, high=value,
                         unit="bytes", what=what, note="a count, so its interval is the value", **base)
