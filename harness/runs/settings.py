"""A job's settings for the pieces it drives: devices, the evaluation engine, and the fairness tables."""

from __future__ import annotations

import os
from collections.abc import Sequence

from harness.core.progress import Progress
from harness.devices.factory import DeviceSettings
from harness.dut.modes import MLPERF
from harness.evaluation.engine import EvalSettings
from harness.evaluation.paired import PairedSettings
from harness.registry.plans import Plan
from harness.registry.targets import TargetProfile
from harness.reports.fairness import FairnessSettings
from harness.runs.job import Job
from harness.runtimes import RuntimeOptions
from harness.runtimes.inputs import ModelInput, mlperf_dataset


def device_settings(job: Job, target: TargetProfile, progress: Progress | None = None,
                    inputs: Sequence[ModelInput] | None = None) -> DeviceSettings:
    """The plan's seed and runtime options, the run's host timings; an attachment's window rules and dataset folder
    when it has them."""
    plan = job.plan
    attachment = job.attachment(target)
    if inputs is None and attachment is not None and attachment.inputs is not None:
        inputs = mlperf_dataset(attachment.inputs)
    return DeviceSettings(seed=plan.seed, options=RuntimeOptions(xnnpack=plan.runtime.xnnpack,
                                                                 threads=plan.runtime.threads),
                          rules=attachment.rules if attachment and attachment.rules else MLPERF, inputs=inputs,
                          progress=progress, own_logs=several_attached(job), host_timings=job.host_timings)


def several_attached(job: Job) -> bool:
    """Whether the run measures two or more attached devices (at once): each then keeps its own transcript, from the
    first pair to a resumed run's last (a bench session and a one-device run keep raw/transcript.log)."""
    attached = {t.name for t in job.targets if not t.is_simulated and t.link.board is None}
    return job.session is None and len(attached) >= 2


def eval_settings(plan: Plan) -> EvalSettings:
    return EvalSettings(workers=plan.evaluation.workers or os.cpu_count() or 1, scheduler=plan.scheduler)


def fairness_settings(plan: Plan) -> FairnessSettings:
    e = plan.evaluation
    return FairnessSettings(confidence=e.confidence, min_clips=e.min_clips, min_speakers=e.min_speakers,
                            n_boot=e.n_boot, seed=plan.seed)


def paired_settings(plan: Plan) -> PairedSettings:
    e = plan.evaluation
    return PairedSettings(confidence=e.confidence, n_boot=e.n_boot, seed=plan.seed, min_clips=e.min_clips,
                          min_speakers=e.min_speakers)
