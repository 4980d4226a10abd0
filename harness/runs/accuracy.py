"""Accuracy on a device: every input through the deployed model, each row kept as it arrives, then parity with the host.

Rows go to ``raw/accuracy.jsonl`` one input at a time, so an interrupted run resumes after the last
input it finished; the host runs the same model on the same bytes for ``parity.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.core.errors import DataError
from harness.core.progress import Progress
from harness.corpus.directory import Corpus
from harness.devices.capabilities import Inference
from harness.devices.factory import open_device
from harness.devices.parity import HostReference, compare, summarize
from harness.evaluation.kws_inputs import corpus_inputs
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runs.evaluation import write_device_evaluation
from harness.runs.job import DeviceAccuracy, Job, PairResult
from harness.runs.settings import device_settings, fairness_settings
from harness.runtimes.inputs import ModelInput, mlperf_dataset, seeded_inputs


def accuracy_inputs(model: ModelEntry, spec: DeviceAccuracy, corpus: Corpus | None, seed: int,
                    progress: Progress | None = None) -> list[ModelInput]:
    """The corpus's clips as model inputs, an MLPerf Tiny dataset folder, or seeded inputs."""
    if corpus is not None:
        return corpus_inputs(model, corpus, progress)
    if spec.inputs is not None:
        return mlperf_dataset(spec.inputs)
    host = HostReference.load(model)
    try:
        return seeded_inputs(host.input, spec.count, seed, model.name)
    finally:
        host.close()


def measure_accuracy(run: RunDirectory, job: Job, model: ModelEntry, target: TargetProfile, spec: DeviceAccuracy,
                     corpus: Corpus | None, progress: Progress | None = None) -> PairResult:
    """accuracy.json and parity.json (and with a corpus the fairness tables) from the device's scores."""
    inputs = accuracy_inputs(model, spec, corpus, job.plan.seed, progress)
    with open_device(target, run, device_settings(job, target, progress, inputs)) as device:
        deployment = device.deploy(model, job.plan.stacks.get(target.name, target.default_stack))
        rows = infer_inputs(run, device.require(Inference), inputs, progress)
        resets, log_path = device.resets, device.log_path
    summary = accuracy_summary(rows, inputs)
    host = HostReference.load(model)
    try:
        summary["parity"] = parity(run, rows, inputs, host)
    finally:
        host.close()
    run.write_json(contract.ACCURACY, {**summary, "dut": deployment.details})
    run.write_json(contract.PARITY, summary["parity"])
    if corpus is not None:
        write_device_evaluation(run, model, corpus, rows, fairness_settings(job.plan),
                                f"{model.name} on the DUT at {target.link.url} ({deployment.details['dut_name']})",
                                log_path)
    return PairResult(summary, resets)


def infer_inputs(run: RunDirectory, device: Inference, inputs: Sequence[ModelInput],
                 progress: Progress | None = None) -> list[dict[str, Any]]:
    """One row per input (top-1 on argmax); resumes after the inputs already in raw/accuracy.jsonl."""
    rows = run.read_jsonl(contract.ACCURACY_ROWS)
    run.rewrite_jsonl(contract.ACCURACY_ROWS, rows)
    for row in rows:
        if row["index"] >= len(inputs) or inputs[row["index"]].id != row["input_id"]:
            raise DataError(f"{run.path / contract.ACCURACY_ROWS}: input {row['index']} was '{row['input_id']}', "
                            "which is not this run's input at that position", hint="resume with the same --inputs")
    done = {r["index"] for r in rows}
    for i, x in enumerate(inputs):
        if i in done:
            continue
        if progress:
            progress(x.id, i, len(inputs))
        scores = device.infer(x)
        predicted = int(np.argmax(scores))
        row = {"index": i, "input_id": x.id, "label": x.label, "predicted": predicted,
               "correct": None if x.label is None else predicted == x.label, "scores": scores.tolist()}
        run.append_jsonl(contract.ACCURACY_ROWS, row)
        rows.append(row)
    return rows


def accuracy_summary(rows: list[dict[str, Any]], inputs: Sequence[ModelInput]) -> dict[str, Any]:
    labelled = [r for r in rows if r["label"] is not None]
    return {"mode": "accuracy", "n_inputs": len(inputs), "n_done": len(rows), "n_labelled": len(labelled),
            "top1_accuracy": sum(r["correct"] for r in labelled) / len(labelled) if labelled else None,
            "status": "complete" if len(rows) == len(inputs) else "partial"}


def parity(run: RunDirectory, rows: list[dict[str, Any]], inputs: Sequence[ModelInput],
           host: HostReference) -> dict[str, Any]:
    """Compare every device row with the host; rows compared before an interruption are kept."""
    kept = run.read_jsonl(contract.PARITY_ROWS)
    run.rewrite_jsonl(contract.PARITY_ROWS, kept)
    compared = {r["index"] for r in kept}
    for row in rows:
        if row["index"] not in compared:
            host_scores = host.scores(inputs[row["index"]].data)
            result = compare(row["index"], row["input_id"], np.array(row["scores"]), host_scores)
            run.append_jsonl(contract.PARITY_ROWS, result)
            kept.append(result)
    return summarize(kept, host.tolerance, host.runtime)
