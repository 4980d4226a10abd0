"""Evaluate models on a corpus inside a run directory: predictions, fairness, disparity, plots.

Scores come from the host (``run_evaluation``) or from a device's accuracy rows (``write_device_evaluation``);
both write the same tables, so a device run and a host run on one corpus compare clip for clip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.compare.models import compare_variants, write_model_comparison
from harness.core.errors import ConfigError
from harness.core.paths import cache_dir
from harness.core.progress import Progress
from harness.corpus.directory import Corpus, load_corpus
from harness.evaluation.engine import EvalSettings, evaluate
from harness.evaluation.kws_inputs import STEPS_COLUMNS, device_predictions
from harness.evaluation.paired import PairedSettings
from harness.evaluation.scoring import WakeWordScorer
from harness.evaluation.streaming import StreamingRules
from harness.registry.models import ModelEntry, Task
from harness.reports.confusion import confusion_long, confusion_markdown
from harness.reports.fairness import (
    FairnessSettings,
    fairness_markdown,
    fairness_tables,
    write_disparity,
    write_plots,
)
from harness.reports.figure_pool import warm as warm_figure_workers
from harness.reports.tables import write_table
from harness.rundir import contract
from harness.rundir.directory import RunDirectory

BUILTIN = "builtin:"
PLOTS_PER_MODEL = 4  # in plots/: detection by accent and by noise, DET by noise and by accent group


def resolve_corpus(spec: str, seed: int = 0, progress: Progress | None = None) -> Corpus:
    """A corpus directory, or ``builtin:<size>`` (``builtin:kws12-<size>`` for the 12-class KWS vocabulary):
    the synthetic corpus, built once into the cache."""
    if spec.startswith(BUILTIN):
        from harness.corpus.synth import synthesize_corpus
        from harness.corpus.vocabulary import KWS12

        size = spec[len(BUILTIN):]
        vocabulary = None
        if size.startswith(f"{KWS12.name}-"):
            size, vocabulary = size[len(KWS12.name) + 1:], KWS12
        out = cache_dir("corpus") / f"synthetic-{spec[len(BUILTIN):]}-seed{seed}"
        report = (lambda label, done, total: progress(f"corpus {size}", done, total)) if progress else None
        return load_corpus(synthesize_corpus(out, size=size, seed=seed, progress=report, vocabulary=vocabulary))
    return load_corpus(Path(spec))


def evaluable(entries: list[ModelEntry]) -> list[ModelEntry]:
    return [e for e in entries if e.evaluate and e.task in (Task.wake_word, Task.kws)]


def run_evaluation(run: RunDirectory, entries: list[ModelEntry], corpus: Corpus, settings: EvalSettings,
                   fairness: FairnessSettings, backend: str, progress: Progress | None = None) -> list[str]:
    """Score every clip (resumable), then write the fairness outputs of the run-directory contract; returns what
    could not be measured on this corpus, and why."""
    if not entries:
        raise ConfigError("no model to evaluate: evaluation needs wake_word or kws models with evaluate: true")
    predictions, steps = evaluate(entries, corpus, run.path / contract.EVAL_CHUNKS, settings, progress)
    warm_figure_workers(PLOTS_PER_MODEL * len(entries))  # their imports overlap the tables below
    predictions.to_parquet(run.path / contract.PREDICTIONS, index=False)
    steps.to_parquet(run.path / contract.SCORES, index=False)
    by_name = {e.name: e for e in entries}
    long = write_fairness(run, predictions, by_name, corpus, fairness, backend)
    if progress:
        progress("plots", 0, 1)
    write_plots(long, predictions, steps, _rules(entries, settings), by_name, run.path / contract.PLOTS)
    return coverage_notes(predictions, by_name, corpus)


def write_device_evaluation(run: RunDirectory, model: ModelEntry, corpus: Corpus, rows: list[dict[str, Any]],
                            fairness: FairnessSettings, backend: str, log_path: Path | None) -> pd.DataFrame:
    """raw/predictions.parquet, the fairness, disparity and confusion tables and plots from a device's accuracy
    rows, as ``harness eval`` writes them from the host's."""
    predictions = device_predictions(model, corpus, rows, log_path)
    predictions.to_parquet(run.path / contract.PREDICTIONS, index=False)
    by_name = {model.name: model}
    long = write_fairness(run, predictions, by_name, corpus, fairness, backend)
    write_plots(long, predictions, pd.DataFrame(columns=STEPS_COLUMNS), {}, by_name, run.path / contract.PLOTS)
    return predictions


def write_fairness(run: RunDirectory, predictions: pd.DataFrame, by_name: dict[str, ModelEntry], corpus: Corpus,
                   fairness: FairnessSettings, backend: str) -> pd.DataFrame:
    """fairness.csv|md|json, disparity.json and (multi-class models) confusion.csv|md|json; returns fairness rows.

    ``backend`` says in fairness.md where the scores came from.
    """
    long, disparity = fairness_tables(predictions, by_name, corpus.group_columns, fairness)
    markdown = fairness_markdown(long, disparity, by_name, corpus.name, backend)
    missing = coverage_notes(predictions, by_name, corpus)
    if missing:
        markdown += "\n## Not measured, and why\n\n" + "".join(f"- {note}\n" for note in missing)
    write_table(long, run.path, contract.FAIRNESS.stem, markdown=markdown,
                meta={"run_id": run.run_id, "corpus": corpus.name, "confidence": fairness.confidence,
                      "not_measured": missing})
    write_disparity(run.path / contract.DISPARITY, disparity)
    confusion = confusion_long(predictions, by_name)
    if not confusion.empty:
        write_table(confusion, run.path, contract.CONFUSION.stem, markdown=confusion_markdown(confusion, corpus.name),
                    meta={"run_id": run.run_id, "corpus": corpus.name})
    return long


def coverage_notes(predictions: pd.DataFrame, by_name: dict[str, ModelEntry], corpus: Corpus) -> list[str]:
    """Why a figure is missing: a wake-word model with no clip of its phrase (no FRR, detection rate or DET curve),
    or a corpus with no negative audio (no FA/h), each with the labels found and how to build a suitable corpus."""
    labels = sorted(str(label) for label in corpus.manifest["label"].dropna().unique())
    found = ", ".join(labels[:12]) + (f" and {len(labels) - 12} more" if len(labels) > 12 else "")
    notes = []
    for name, entry in by_name.items():
        if entry.task != Task.wake_word:
            continue
        mine = predictions[predictions["model"] == name]
        if not mine["is_positive"].any():
            notes.append(f"{name}: corpus {corpus.name} has no clip of its wake phrase '{entry.wake_phrase}', so its "
                         f"FRR, detection rate and DET curves are not measured (labels found: {found}); the built-in "
                         "corpus at --size demo or full speaks every built-in wake phrase: harness corpus synth "
                         "--size demo --out DIR, or builtin:demo")
        if mine["is_positive"].all():
            notes.append(f"{name}: corpus {corpus.name} has no negative audio, so false accepts per hour are not "
                         "measured; add speech without the wake phrase (or the built-in corpus's streams)")
    return notes


def _rules(entries: list[ModelEntry], settings: EvalSettings) -> dict[str, StreamingRules]:
    """The counting rules each wake-word scorer used (its step timing comes from its front end)."""
    rules = {}
    for entry in entries:
        if entry.task == Task.wake_word:
            scorer = WakeWordScorer(entry, settings.options_for(entry))
            rules[entry.name] = scorer.rules
            scorer.close()
    return rules



def run_variant_comparison(run: RunDirectory, entries: list[ModelEntry], baseline: str, corpus: Corpus,
                           settings: PairedSettings) -> None:
    """model_comparison.csv|md|json: every other evaluated model against ``baseline`` on the run's clips, beside
    the efficiency rows already measured."""
    predictions = pd.read_parquet(run.path / contract.PREDICTIONS)
    tasks = {e.name: e.task.value for e in entries}
    comparison = compare_variants(run.path, predictions, tasks, baseline, corpus.group_columns, settings)
    write_model_comparison(run.path, run.run_id, comparison, settings)
