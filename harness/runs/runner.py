"""Execute a job: measure every model on every target, evaluate on a device or the host, decide, document, record.

One pipeline for ``harness run`` and ``harness bench-device``; the steps are shared and each lives in
its own module. Each (model, target) result is appended to ``raw/efficiency_rows.jsonl`` as soon as
it is measured, each evaluated chunk of clips under ``raw/eval/``, and each device input to
``raw/accuracy.jsonl``, so an interrupted run loses nothing and ``--resume`` continues where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.analysis.signature import signature
from harness.cluster.client import check_scheduler
from harness.core.errors import ConfigError, HarnessError
from harness.core.progress import Progress
from harness.corpus.directory import Corpus, content_sha256
from harness.costmodel.model import default_cost_model
from harness.devices.host_timing import HostTimings
from harness.ledger import chain
from harness.registry.models import ModelEntry, ModelRegistry, TensorSpec
from harness.registry.plans import Plan
from harness.registry.targets import TargetRegistry
from harness.reports.carbon import write_carbon
from harness.reports.documents import write_documents
from harness.reports.figure_pool import shared_workers
from harness.rundir import contract
from harness.rundir.directory import RunDirectory, new_run_id
from harness.runs.accuracy import measure_accuracy
from harness.runs.efficiency import measure_pairs
from harness.runs.evaluation import evaluable, resolve_corpus, run_evaluation, run_variant_comparison
from harness.runs.job import Attachment, Job, PairResult
from harness.runs.manifest import build_manifest
from harness.runs.record import record_run
from harness.runs.resume import check_continuation
from harness.runs.settings import eval_settings, fairness_settings, paired_settings
from harness.runs.status import command_of, resume_hint, write_status
from harness.runs.stream_set import load_stream_set
from harness.runs.stream_tables import join_stream_fairness
from harness.runs.streams import board_streams, measure_streams
from harness.signoff import load_policy, signoff_run

HOST_BACKEND = "the real models on the host (LiteRT / ONNX Runtime), the outputs every simulated target reports"


@dataclass(frozen=True)
class Context:
    models: ModelRegistry
    targets: TargetRegistry
    results: Path


def with_input_shape(model: ModelEntry, shape: list[int]) -> ModelEntry:
    """``model`` run with ``shape`` for its first input (its dtype as the file declares it)."""
    inputs, _ = signature(model.artifact_path())
    if not inputs:
        raise ConfigError(f"model '{model.name}' has no input to give a shape to")
    declared = inputs[0]
    if len(shape) != len(declared.shape) or min(shape, default=0) < 1 or \
            any(d > 0 and d != s for d, s in zip(declared.shape, shape, strict=True)):
        raise ConfigError(f"--input-shape {','.join(map(str, shape))} for model '{model.name}' does not fit its input "
                          f"'{declared.name}' {list(declared.shape)} (-1 marks a dynamic dimension)",
                          hint="give a value for every dimension and keep the fixed ones")
    return model.model_copy(update={"input": TensorSpec(shape=list(shape), dtype=declared.dtype)})


def plan_job(plan: Plan, ctx: Context, device_urls: dict[str, str] | None = None) -> Job:
    """A plan's models and targets from the registries, as a job; ``device_urls`` attaches targets on the bench
    (target name -> link URL), keeping each profile's budgets, power figures and power monitor."""
    for t_name in plan.stacks:
        if t_name not in plan.targets:
            raise ConfigError(f"{plan.source_file}: field 'stacks': '{t_name}' is not one of the plan's targets")
    models = [ctx.models.get(m) for m in plan.models]
    shapes = plan.input_shapes  # keyed by the model as the plan names it, or by its id
    models = [with_input_shape(m, shapes.get(spec) or shapes[m.name]) if spec in shapes or m.name in shapes else m
              for spec, m in zip(plan.models, models, strict=True)]
    unknown = sorted(set(shapes) - {m.name for m in models} - set(plan.models))
    if unknown:
        raise ConfigError(f"--input-shape names model(s) {', '.join(unknown)}, which the plan does not run",
                          hint=f"the plan's models: {', '.join(m.name for m in models)}")
    registered = set(ctx.models.names())
    by_name: dict[str, list[str]] = {}
    for spec, model in zip(plan.models, models, strict=True):
        by_name.setdefault(model.name, []).append(spec)
        if model.name in registered and spec != model.name:
            raise ConfigError(f"model file '{spec}' would be named '{model.name}', the name of a registered model",
                              hint="rename the file, so its rows, cards and gates cannot be mistaken for the "
                                   "registered model's")
    clashes = {name: specs for name, specs in by_name.items() if len(specs) > 1}
    if clashes:
        shown = "; ".join(f"'{n}' from {', '.join(specs)}" for n, specs in clashes.items())
        raise ConfigError(f"two models of the plan would share a name: {shown}",
                          hint="model ids name the rows, latency files, cards and gates: rename one of the files")
    targets = [ctx.targets.get(t) for t in plan.targets]
    unknown = sorted(set(device_urls or {}) - set(plan.targets))
    if unknown:
        raise ConfigError(f"--device-url names target(s) {', '.join(unknown)}, which the plan does not measure",
                          hint=f"the plan's targets: {', '.join(plan.targets) or 'none'}")
    attachments = {t.name: Attachment(link=t.link.model_copy(update={"url": device_urls[t.name]}),
                                      monitor=t.power_monitor) for t in targets if t.name in (device_urls or {})}
    return Job(plan, models, [attachments[t.name].apply(t) if t.name in attachments else t for t in targets],
               attachments)


def run_plan(plan: Plan, ctx: Context, progress: Progress | None = None, resume: Path | None = None,
             device_urls: dict[str, str] | None = None) -> Path:
    """``harness run``: the plan as a job, executed into ``ctx.results``."""
    return execute(plan_job(plan, ctx, device_urls), ctx.results, progress, resume)


def execute(job: Job, results: Path, progress: Progress | None = None, resume: Path | None = None) -> Path:
    """Run the job and return its run directory; ``status.json`` says how it ended.

    Everything a command line can get wrong is checked before the run directory is created, so a rejected
    command leaves nothing behind. A resumed run continues its own plan (any difference is refused), holds
    the directory's lock, and records in the ledger of the folder it lives in.
    """
    job = replace(job, host_timings=HostTimings())  # host timings belong to this run alone (a resume re-times)
    plan = job.plan
    if not job.targets and not plan.corpus:
        raise ConfigError(f"plan '{plan.name}' has neither targets nor a corpus: nothing to do",
                          hint="give --target (efficiency) and/or --corpus (accuracy)")
    streaming = board_streams(job) if job.session is None else None  # refused now if the plan cannot stream
    if job.session is not None and job.session.streams is not None:
        streaming = (job.models[0], job.targets[0], job.session.streams)
    streams = None
    if streaming is not None:  # a bad --streams leaves no run directory behind
        spec = streaming[2].streams
        streams = load_stream_set(spec, streaming[0], plan.seed, progress).record(spec)
    if plan.scheduler:
        check_scheduler(plan.scheduler)
    corpus = resolve_corpus(plan.corpus, plan.seed, progress) if plan.corpus else None
    accuracy = job.session.accuracy if job.session else None
    device_corpus = resolve_corpus(accuracy.corpus, plan.seed, progress) if accuracy and accuracy.corpus else None
    evaluated = corpus or device_corpus
    content = content_sha256(evaluated.path, evaluated.manifest) if evaluated else None
    ledger = (resume.parent if resume is not None else results) / contract.LEDGER
    chain.entries(ledger)  # a ledger that cannot be read is reported now, not after the measurements
    if resume is not None:
        run = RunDirectory.open(resume)
        check_continuation(run, job, evaluated, content)
        _check_streams(run, streams)
    else:
        results.mkdir(parents=True, exist_ok=True)
        run = RunDirectory.create(results, new_run_id(job.run_name))
        run.write_json(contract.MANIFEST, build_manifest(run.run_id, job.plan, list(job.models), list(job.targets),
                                                         _manifest_extra(job, evaluated, content, streams)))
    with run.locked():
        write_status(run, job, "running")
        try:
            outcome, notes = _steps(run, job, corpus, device_corpus, progress)
        except KeyboardInterrupt:
            write_status(run, job, "interrupted", hint=resume_hint(run, job))
            raise
        except HarnessError as e:
            write_status(run, job, "failed", error=e.message, error_hint=e.hint,
                         log=str(e.log_path) if e.log_path else None,
                         hint=f"fix the cause, then: {resume_hint(run, job)}")
            raise
        except Exception as e:
            write_status(run, job, "failed", error=f"internal error: {type(e).__name__}: {e}",
                         hint=f"report it; then: {resume_hint(run, job)}")
            raise
        extra = {"summary": outcome.summary, "resets": outcome.resets} if job.session is not None and outcome \
            else {}
        if notes:
            extra["not_measured"] = notes
        write_status(run, job, "complete", **extra)
        record_run(run, command_of(job))
    return run.path


def _steps(run: RunDirectory, job: Job, corpus: Corpus | None, device_corpus: Corpus | None,
           progress: Progress | None) -> tuple[PairResult | None, list[str]]:
    """Efficiency on the targets (or accuracy on the device), host evaluation, the decision, the documents; returns
    the last device's outcome and what could not be measured, with why."""
    with shared_workers():  # one pool of figure workers for the run's plots and its report
        return _measure_and_document(run, job, corpus, device_corpus, progress)


def _measure_and_document(run: RunDirectory, job: Job, corpus: Corpus | None, device_corpus: Corpus | None,
                          progress: Progress | None) -> tuple[PairResult | None, list[str]]:
    plan = job.plan
    accuracy = job.session.accuracy if job.session else None
    streams = job.session.streams if job.session else None
    outcome = None
    notes: list[str] = []
    if streams is not None:
        outcome = measure_streams(run, job, job.models[0], job.targets[0], streams, progress)
    elif accuracy is not None:
        outcome = measure_accuracy(run, job, job.models[0], job.targets[0], accuracy, device_corpus, progress)
    elif job.targets:
        results = measure_pairs(run, job, progress)
        outcome = results[-1] if results else None
        streaming = board_streams(job)
        if streaming is not None:
            model, target, spec = streaming
            measure_streams(run, job, model, target, spec, progress)
    if corpus is not None and (evaluable(list(job.models)) or not job.targets):
        notes += run_evaluation(run, evaluable(list(job.models)), corpus, eval_settings(plan),
                                fairness_settings(plan), backend=HOST_BACKEND, progress=progress)
        if plan.paired_baseline is not None:
            baseline = job.models[plan.models.index(plan.paired_baseline)].name
            run_variant_comparison(run, evaluable(list(job.models)), baseline, corpus, paired_settings(plan))
    if job.session is None and (run.path / contract.SWW_FAIRNESS.csv).is_file():
        join_stream_fairness(run)  # after the host's tables, which it joins
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
    return outcome, notes


def _check_streams(run: RunDirectory, streams: dict[str, Any] | None) -> None:
    """A resumed streaming run plays the streams it began with: same truth file and WAVs."""
    before = run.read_json(contract.MANIFEST).get("streams")
    if streams is not None and before is not None and \
            (before["truth_sha256"], before["wav_sha256"]) != (streams["truth_sha256"], streams["wav_sha256"]):
        raise ConfigError(f"{run.path}: the streams of {streams['spec']} changed since the run began (their truth "
                          "file or WAVs differ)", hint="resume with the streams the run began with, or start a new run")


def _manifest_extra(job: Job, corpus: Corpus | None, content: str | None,
                    streams: dict[str, Any] | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {"backend": sorted({"sim" if t.is_simulated else "device" for t in job.targets})}
    if streams is not None:
        extra["streams"] = streams
    if job.session is not None:
        extra["bench_device"] = job.session.settings
    extra["corpus"] = {**corpus.record(), "content_sha256": content} if corpus else None
    if any(t.is_simulated for t in job.targets):
        extra["cost_model"] = {"calibrated_on": default_cost_model().calibrated_on}
    return extra
