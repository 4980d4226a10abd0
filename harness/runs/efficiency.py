"""The efficiency step: every (model, target) pair deployed and measured, one row each, appended as it finishes.

A pair is measured with the richest timing capability its device offers (energy with latency, else
latency alone); rows already in ``raw/efficiency_rows.jsonl`` are kept and not measured again.
"""

from __future__ import annotations

import pandas as pd

from harness.core.progress import Progress
from harness.devices.base import Device, Measurement
from harness.devices.capabilities import EnergyMeter, LatencyMeter
from harness.devices.factory import DeviceSettings, open_device
from harness.evaluation.efficiency import efficiency_row
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile
from harness.reports.efficiency import DEVICE_MD_COLUMNS, DEVICE_NOTES, MD_COLUMNS, NOTES
from harness.reports.tables import write_table
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runs.job import Job, PairResult
from harness.runs.parallel import concurrent, measure_devices
from harness.runs.settings import device_settings


def measure_pairs(run: RunDirectory, job: Job, progress: Progress | None = None) -> list[PairResult]:
    """Measure every pair not yet in the run, then write efficiency.csv|md|json from all rows."""
    measured = run.read_jsonl(contract.EFFICIENCY_ROWS)
    run.rewrite_jsonl(contract.EFFICIENCY_ROWS, measured)  # drops a torn last line left by an interrupted run
    done = {(r["model"], r["target"]) for r in measured}
    pairs = [(m, t) for m in job.models for t in job.targets if t.link.board is None]  # boards: the stream step
    todo = [(m, t) for m, t in pairs if (m.name, t.name) not in done]
    if concurrent(job, todo):  # several attached devices: one job each, all at once
        results = measure_devices(run, job, todo, progress)
    else:
        results = []
        for index, (model, target) in enumerate(pairs):
            if progress:
                progress(f"{model.name} on {target.name}", index, len(pairs))
            if (model.name, target.name) not in done:
                results.append(measure_pair(run, job, model, target, device_settings(job, target, progress)))
    if progress:
        progress("efficiency tables", len(pairs), len(pairs))
    write_efficiency_table(run, job)
    return results


def timed(device: Device, runs: int, warmup: int) -> Measurement:
    """Energy and latency when the device measures energy, else latency alone."""
    if EnergyMeter in device.capabilities():
        return device.require(EnergyMeter).measure_energy(runs, warmup)
    return device.require(LatencyMeter).measure_latency(runs, warmup)


def measure_pair(run: RunDirectory, job: Job, model: ModelEntry, target: TargetProfile,
                 settings: DeviceSettings) -> PairResult:
    plan = job.plan
    attachment = job.attachment(target)
    runs, warmup = (1, attachment.rules.warmup) if attachment and attachment.rules else \
        (plan.measure.runs, plan.measure.warmup)
    with open_device(target, run, settings) as device:
        deployment = device.deploy(model, plan.stacks.get(target.name, target.default_stack))
        m = timed(device, runs, warmup)
        resets = device.resets
    if job.session is None:  # a bench session keeps its windows instead (raw/*_windows__*.jsonl)
        _write_samples(run, model.name, target.name, m)
    row = efficiency_row(model, target, deployment, m, grid_kg_per_kwh=plan.reporting.grid_kg_per_kwh,
                         default_rate_hz=plan.reporting.default_rate_hz, seed=plan.seed)
    row.update(m.row_fields)
    if job.session is not None:
        run.write_json(contract.mode_summary(job.session.mode), {**m.summary, "dut": deployment.details})
    run.append_jsonl(contract.EFFICIENCY_ROWS, row)
    return PairResult(m.summary, resets)


def _write_samples(run: RunDirectory, model: str, target: str, m: Measurement) -> None:
    samples = pd.DataFrame({
        "model": model,
        "target": target,
        "inference": range(len(m.device_latency_s)),
        "device_latency_ms": m.device_latency_s * 1e3,
        "host_latency_ms": m.host_latency_s * 1e3 if m.host_latency_s is not None else float("nan"),
    })
    samples.to_parquet(run.path / contract.latency_samples(model, target), index=False)
    if m.trace is not None:
        m.trace.to_parquet(run.path / contract.power_trace(model, target))


def write_efficiency_table(run: RunDirectory, job: Job) -> None:
    order = {(m.name, t.name): i for i, (m, t) in enumerate((m, t) for m in job.models for t in job.targets)}
    rows = pd.DataFrame(sorted(run.read_jsonl(contract.EFFICIENCY_ROWS),  # the plan's order, however they finished
                               key=lambda r: order.get((r.get("model"), r.get("target")), len(order))))
    if job.session is not None:
        model, target = job.models[0], job.targets[0]
        mlperf = "mlperf_status" in rows.columns  # a serial DUT's MLPerf verdict
        write_table(rows, run.path, contract.EFFICIENCY.stem,
                    title=f"Efficiency: {model.name} on the DUT at {target.link.url}, run {run.run_id}",
                    notes=NOTES + (DEVICE_NOTES if mlperf else []),
                    md_columns=DEVICE_MD_COLUMNS if mlperf else MD_COLUMNS,
                    meta={"run_id": run.run_id, "mode": job.session.mode})
        return
    plan = job.plan
    write_table(rows, run.path, contract.EFFICIENCY.stem, title=f"Efficiency: plan '{plan.name}', run {run.run_id}",
                notes=NOTES + [f"grid intensity: {plan.reporting.grid_kg_per_kwh} kg CO2e/kWh"],
                md_columns=MD_COLUMNS, meta={"run_id": run.run_id, "plan": plan.name})
