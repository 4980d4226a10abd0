"""Execute a job: measure every model on every target, evaluate on a device or the host, decide, document, record.

One pipeline for ``harness run`` and ``harness bench-device``; the steps are shared and each lives in
its own module. Each (model, target) result is appended to ``raw/efficiency_rows.jsonl`` as soon as
it is measured, each evaluated chunk of clips under ``raw/eval/``, and each device input to
``raw/accuracy.jsonl``, so an interrupted run loses nothing and ``--resume`` continues where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError, DataError, HarnessError
from harness.core.progress import Progress
from harness.corpus.directory import Corpus
from harness.costmodel.model import default_cost_model
from harness.registry.models import ModelRegistry
from harness.registry.plans import Plan
from harness.registry.targets import TargetRegistry
from harness.reports.carbon import write_carbon
from harness.reports.documents import write_documents
from harness.rundir import contract
from harness.rundir.directory import RunDirectory, new_run_id
from harness.runs.accuracy import measure_accuracy
from harness.runs.efficiency import PairResult, measure_pairs
from harness.runs.evaluation import evaluable, resolve_corpus, run_evaluation
from harness.runs.job import Job
from harness.runs.manifest import build_manifest
from harness.runs.record import record_run
from harness.runs.settings import eval_settings, fairness_settings
from harness.runs.status import write_status
from harness.signoff import load_policy, signoff_run

HOST_BACKEND = "the real models on the host (LiteRT / ONNX Runtime), the outputs every simulated target reports"


@dataclass(frozen=True)
class Context:
    models: ModelRegistry
    targets: TargetRegistry
    results: Path


def plan_job(plan: Plan, ctx: Context) -> Job:
    """A plan's models and targets from the registries, as a job."""
    for t_name in plan.stacks:
        if t_name not in plan.targets:
            raise ConfigError(f"{plan.source_file}: field 'stacks': '{t_name}' is not one of the plan's targets")
    return Job(plan, [ctx.models.get(m) for m in plan.models], [ctx.targets.get(t) for t in plan.targets])


def run_plan(plan: Plan, ctx: Context, progress: Progress | None = None, resume: Path | None = None) -> Path:
    """``harness run``: the plan as a job, executed into ``ctx.results``."""
    return execute(plan_job(plan, ctx), ctx.results, progress, resume)


def execute(job: Job, results: Path, progress: Progress | None = None, resume: Path | None = None) -> Path:
    """Run the job and return its run directory (a bench session's status.json says how it ended)."""
    plan = job.plan
    if not job.targets and not plan.corpus:
        raise ConfigError(f"plan '{plan.name}' has neither targets nor a corpus: nothing to do",
                          hint="give --target (efficiency) and/or --corpus (accuracy)")
    corpus = resolve_corpus(plan.corpus, plan.seed, progress) if plan.corpus else None
    accuracy = job.session.accuracy if job.session else None
    device_corpus = resolve_corpus(accuracy.corpus, plan.seed, progress) if accuracy and accuracy.corpus else None
    run = _open_run(job, results, resume, corpus or device_corpus)
    if job.session is None:
        _steps(run, job, corpus, device_corpus, progress)
        record_run(run, results)
        return run.path
    write_status(run, job, "running")
    try:
        outcome = _steps(run, job, corpus, device_corpus, progress)
        write_status(run, job, "complete", summary=outcome.summary if outcome else {},
                     resets=outcome.resets if outcome else 0)
    except KeyboardInterrupt:
        write_status(run, job, "interrupted", hint=f"harness bench-device ... --resume {run.path}")
        raise
    except HarnessError as e:
        write_status(run, job, "failed", error=e.message, log=str(e.log_path) if e.log_path else None,
                     hint=f"fix the cause, then: harness bench-device ... --resume {run.path}")
        raise
    record_run(run, results)
    return run.path


def _steps(run: RunDirectory, job: Job, corpus: Corpus | None, device_corpus: Corpus | None,
           progress: Progress | None) -> PairResult | None:
    """Efficiency on the targets (or accuracy on the device), host evaluation, the decision, the documents."""
    plan = job.plan
    accuracy = job.session.accuracy if job.session else None
    outcome = None
    if accuracy is not None:
        outcome = measure_accuracy(run, job, job.models[0], job.targets[0], accuracy, device_corpus, progress)
    elif job.targets:
        results = measure_pairs(run, job, progress)
        outcome = results[-1] if results else None
    if corpus is not None and (evaluable(list(job.models)) or not job.targets):
        run_evaluation(run, evaluable(list(job.models)), corpus, eval_settings(plan), fairness_settings(plan),
                       backend=HOST_BACKEND, progress=progress)
    policy = load_policy(plan.policy_path())
    if job.targets and job.session is None:  # a deployment decision needs efficiency on a target
        if progress:
            progress("sign-off", 0, 1)
        write_carbon(run.path, plan)
        signoff_run(run.path, policy)
        if progress:
            progress("sign-off", 1, 1)
    if progress:
        progress("model cards and report.html", 0, 1)
    write_documents(run.path, min_group_size=policy.publication.min_group_size)
    if progress:
        progress("model cards and report.html", 1, 1)
    return outcome


def _open_run(job: Job, results: Path, resume: Path | None, corpus: Corpus | None) -> RunDirectory:
    if resume is not None:
        run = RunDirectory.open(resume)
        if job.session is not None:
            _check_session(run, job, corpus)
        return run
    results.mkdir(parents=True, exist_ok=True)
    run = RunDirectory.create(results, new_run_id(job.run_name))
    run.write_json(contract.MANIFEST, build_manifest(run.run_id, job.plan, list(job.models), list(job.targets),
                                                     _manifest_extra(job, corpus)))
    return run


def _manifest_extra(job: Job, corpus: Corpus | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"backend": sorted({"sim" if t.is_simulated else "device" for t in job.targets})}
    if job.session is not None:
        extra["bench_device"] = job.session.settings
    extra["corpus"] = corpus.record() if corpus else None
    if any(t.is_simulated for t in job.targets):
        extra["cost_model"] = {"calibrated_on": default_cost_model().calibrated_on}
    return extra


def _check_session(run: RunDirectory, job: Job, corpus: Corpus | None) -> None:
    """A bench session resumes only with the options it began with, on the corpus it began with."""
    assert job.session is not None
    manifest = run.read_json(contract.MANIFEST)
    before = manifest.get("bench_device", {})
    for key in ("mode", "model", "quick", "inputs", "seed", "count", "corpus"):
        now = str(job.session.settings.get(key))
        if str(before.get(key)) != now:
            raise DataError(f"{run.path}: was run with {key}={before.get(key)}, not {now}",
                            hint="resume with the same options as the interrupted run")
    recorded = (manifest.get("corpus") or {}).get("manifest_sha256")
    if corpus is not None and recorded != corpus.record()["manifest_sha256"]:
        raise DataError(f"{run.path}: corpus {job.session.settings.get('corpus')} changed since the run began "
                        "(manifest sha256)", hint="resume with the corpus the run began with, or start a new run")
