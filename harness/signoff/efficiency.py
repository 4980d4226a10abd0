"""Efficiency gates per (model, target): latency percentile, deployed power, energy per inference, memory fit.

Intervals come from the run's raw samples: a distribution-free order-statistic interval for the latency
percentile, and batch means over sub-windows of the power trace for energy (and so deployed power).
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
from harness.signoff.gates import Gate, interval_gate
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


def efficiency_gates(run: Path, table: pd.DataFrame, policy: Policy, confidence: float) -> list[Gate]:
    gates: list[Gate] = []
    for row in table.to_dict("records"):
        budget = policy.efficiency.budget_for(row["target"], row["target_class"])
        base = {"kind": "efficiency", "model": row["model"], "target": row["target"]}
        gates.append(_latency(run, row, budget.latency_ms or row["latency_budget_ms"], policy, confidence, base))
        batches = energy_batches(run, row["model"], row["target"], int(row["n_runs"]))
        energy = mean_interval(batches, confidence) if batches is not None else (row["energy_mj_per_inference"],
                                                                                  None, None)
        n = int(row["n_runs"])
        note = f"energy interval from batch means over {BATCHES} sub-windows of the trace" if batches is not None \
            else "no power trace in raw/"
        power_ci = (None, None) if energy[1] is None else _power_interval(row, energy)
        gates.append(_scaled(f"power/{row['model']}/{row['target']}", "deployed_power_mw", row["deployed_power_mw"],
                             budget.power_mw or row["power_budget_mw"], power_ci, "mW", n, confidence, policy,
                             "deployed power", note, base))
        if budget.max_energy_mj is not None:
            gates.append(_scaled(f"energy/{row['model']}/{row['target']}", "energy_mj_per_inference", energy[0],
                                 budget.max_energy_mj, energy[1:], "mJ", n, confidence, policy,
                                 "energy per inference", note, base))
        gates.append(_exact(f"memory_arena/{row['model']}/{row['target']}", "arena_bytes", row["arena_bytes"],
                            budget.sram_bytes or row["sram_bytes"], "tensor arena vs SRAM", base))
        gates.append(_exact(f"memory_flash/{row['model']}/{row['target']}", "model_bytes", row["model_bytes"],
                            budget.flash_bytes or row["flash_bytes"], "model size vs flash", base))
    return gates


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
    if samples is None:
        return interval_gate(id=gid, metric=metric, value=row.get(metric), threshold=threshold, op="<=", low=None,
                             high=None, unit="ms", what=f"p{pct} latency", note="no latency samples in raw/", **base)
    value, low, high = quantile_interval(samples, pct / 100.0, confidence)
    extra = quantile_extra(samples, pct / 100.0, threshold, confidence, policy.evidence.power)
    if math.isinf(high):
        note += f"; {len(samples)} runs cannot bound p{pct} from above (order-statistic interval)"
    return interval_gate(id=gid, metric=metric, value=value, threshold=threshold, op="<=", low=low, high=high,
                         unit="ms", what=f"p{pct} latency", extra=extra, extra_unit="timed inferences", note=note,
                         **base)


def _scaled(gid: str, metric: str, value: float, threshold: float, ci: tuple[float | None, float | None], unit: str,
            n: int, confidence: float, policy: Policy, what: str, note: str, base: dict[str, Any]) -> Gate:
    low, high = ci
    extra = None if low is None or high is None else \
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
