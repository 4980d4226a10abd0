"""Execute a plan: measure every model on every target, evaluate on the corpus, write the run directory.

Each (model, target) result is appended to ``raw/efficiency_rows.jsonl`` as soon as it is measured
and each evaluated chunk of clips is saved under ``raw/eval/``, so an interrupted run loses nothing
and ``--resume`` continues where it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.devices.base import Device
from harness.devices.cost_model import default_cost_model
from harness.devices.serial_dut import SerialDutDevice
from harness.devices.sim import SimulatedDevice
from harness.errors import ConfigError
from harness.evaluation.engine import EvalSettings
from harness.ledger import chain
from harness.ledger.audit import RECORDED
from harness.registry.models import ModelEntry, ModelRegistry, sha256_file
from harness.registry.plans import Plan
from harness.registry.targets import TargetProfile, TargetRegistry
from harness.reports.carbon import write_carbon
from harness.reports.documents import write_documents
from harness.reports.efficiency import MD_COLUMNS, NOTES, efficiency_row
from harness.reports.fairness import FairnessSettings
from harness.reports.tables import write_table
from harness.runs.evaluation import evaluable, resolve_corpus, run_evaluation
from harness.runs.manifest import build_manifest
from harness.runs.rundir import RunDirectory, new_run_id
from harness.runtimes import RuntimeOptions
from harness.signoff import Policy, load_policy, signoff_run

Progress = Callable[[str, int, int], None]

ROWS = "raw/efficiency_rows.jsonl"


@dataclass(frozen=True)
class Context:
    models: ModelRegistry
    targets: TargetRegistry
    results: Path


def open_device(target: TargetProfile, plan: Plan, raw: Path) -> Device:
    """Pick the backend from the target's link URL (a DUT's transcript goes to ``raw``)."""
    if target.is_simulated:
        options = RuntimeOptions(xnnpack=plan.runtime.xnnpack, threads=plan.runtime.threads)
        return SimulatedDevice(target, seed=plan.seed, options=options)
    monitor = target.power_monitor.spec if target.power_monitor else None  # a monitor: energy mode
    return SerialDutDevice(target, raw, seed=plan.seed, monitor=monitor, io_manager=target.link.io_manager)


def resolve(plan: Plan, ctx: Context) -> tuple[list[ModelEntry], list[TargetProfile]]:
    models = [ctx.models.get(m) for m in plan.models]
    targets = [ctx.targets.get(t) for t in plan.targets]
    for t_name in plan.stacks:
        if t_name not in plan.targets:
            raise ConfigError(f"{plan.source_file}: field 'stacks': '{t_name}' is not one of the plan's targets")
    return models, targets


def execute(plan: Plan, ctx: Context, progress: Progress | None = None, resume: Path | None = None) -> Path:
    """Run the plan (efficiency on its targets, then accuracy on its corpus) and return the run directory."""
    models, targets = resolve(plan, ctx)
    if not targets and not plan.corpus:
        raise ConfigError(f"plan '{plan.name}' has neither targets nor a corpus: nothing to do",
                          hint="give --target (efficiency) and/or --corpus (accuracy)")
    corpus = resolve_corpus(plan.corpus, plan.seed, progress) if plan.corpus else None
    if resume is not None:
        run = RunDirectory.open(resume)
    else:
        ctx.results.mkdir(parents=True, exist_ok=True)
        run = RunDirectory.create(ctx.results, new_run_id(plan.name))
        cost = default_cost_model()
        run.write_json("manifest.json", build_manifest(run.run_id, plan, models, targets, {
            "backend": sorted({"sim" if t.is_simulated else "device" for t in targets}),
            "corpus": corpus.record() if corpus else None,
            "cost_model": {"calibrated_on": cost.calibrated_on},
        }))
    if targets:
        _run_efficiency(run, plan, models, targets, progress)
    if corpus is not None and (evaluable(models) or not targets):
        run_evaluation(run, evaluable(models), corpus, _eval_settings(plan), _fairness_settings(plan),
                       backend="the real models on the host (LiteRT / ONNX Runtime), the outputs every "
                               "simulated target reports", progress=progress)
    policy = load_policy(plan.policy_path())
    if targets:  # a deployment decision needs efficiency on a target; accuracy-only runs get no verdict
        _decide(run, plan, policy, progress)
    if progress:
        progress("model cards and report.html", 0, 1)
    write_documents(run.path, min_group_size=policy.publication.min_group_size)
    if progress:
        progress("model cards and report.html", 1, 1)
    _record(run, ctx.results)
    return run.path


def _decide(run: RunDirectory, plan: Plan, policy: Policy, progress: Progress | None) -> None:
    """Carbon and cost for the fleet, then the sign-off verdict, so the ledger line covers them too."""
    if progress:
        progress("sign-off", 0, 1)
    write_carbon(run.path, plan)
    signoff_run(run.path, policy)
    if progress:
        progress("sign-off", 1, 1)


def _run_efficiency(run: RunDirectory, plan: Plan, models: list[ModelEntry], targets: list[TargetProfile],
                    progress: Progress | None) -> None:
    measured = run.read_jsonl(ROWS)
    run.rewrite_jsonl(ROWS, measured)  # drops a torn last line left by an interrupted run
    done = {(r["model"], r["target"]) for r in measured}
    pairs = [(m, t) for m in models for t in targets]
    for index, (model, target) in enumerate(pairs):
        if progress:
            progress(f"{model.name} on {target.name}", index, len(pairs))
        if (model.name, target.name) not in done:
            _measure_pair(run, plan, model, target)
    if progress:
        progress("efficiency tables", len(pairs), len(pairs))
    _write_tables(run, plan)


def _eval_settings(plan: Plan) -> EvalSettings:
    workers = plan.evaluation.workers or os.cpu_count() or 1
    return EvalSettings(workers=workers)


def _fairness_settings(plan: Plan) -> FairnessSettings:
    e = plan.evaluation
    return FairnessSettings(confidence=e.confidence, min_clips=e.min_clips, min_speakers=e.min_speakers,
                            n_boot=e.n_boot, seed=plan.seed)


def _measure_pair(run: RunDirectory, plan: Plan, model: ModelEntry, target: TargetProfile) -> None:
    device = open_device(target, plan, run.raw)
    try:
        deployment = device.deploy(model, plan.stacks.get(target.name, target.default_stack))
        m = device.measure(runs=plan.measure.runs, warmup=plan.measure.warmup)
    finally:
        device.close()
    stem = f"{model.name}__{target.name}"
    samples = pd.DataFrame({
        "model": model.name,
        "target": target.name,
        "inference": range(len(m.device_latency_s)),
        "device_latency_ms": m.device_latency_s * 1e3,
        "host_latency_ms": m.host_latency_s * 1e3 if m.host_latency_s is not None else float("nan"),
    })
    samples.to_parquet(run.raw / f"latency__{stem}.parquet", index=False)
    if m.trace is not None:
        m.trace.to_parquet(run.raw / f"power__{stem}.parquet")
    row = efficiency_row(model, target, deployment, m, grid_kg_per_kwh=plan.reporting.grid_kg_per_kwh,
                         default_rate_hz=plan.reporting.default_rate_hz, seed=plan.seed)
    run.append_jsonl(ROWS, row)


def _write_tables(run: RunDirectory, plan: Plan) -> None:
    rows = run.read_jsonl(ROWS)
    df = pd.DataFrame(rows)
    write_table(df, run.path, "efficiency", title=f"Efficiency: plan '{plan.name}', run {run.run_id}",
                notes=NOTES + [f"grid intensity: {plan.reporting.grid_kg_per_kwh} kg CO2e/kWh"],
                md_columns=MD_COLUMNS, meta={"run_id": run.run_id, "plan": plan.name})


def _record(run: RunDirectory, results: Path) -> None:
    record = {"run_id": run.run_id, "run_dir": str(run.path)}
    for name in RECORDED.values():
        if (run.path / name).is_file():
            record[f"{name.split('.')[0]}_sha256"] = sha256_file(run.path / name)
    chain.append(results / "ledger.jsonl", record)
