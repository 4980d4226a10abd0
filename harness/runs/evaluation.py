"""Evaluate models on a corpus inside a run directory: predictions, fairness, disparity, plots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from harness.corpus.directory import Corpus, load_corpus
from harness.errors import ConfigError
from harness.evaluation.engine import EvalSettings, evaluate
from harness.evaluation.scoring import WakeWordScorer
from harness.evaluation.streaming import StreamingRules
from harness.paths import cache_dir
from harness.registry.models import ModelEntry, Task
from harness.reports.confusion import confusion_long, confusion_markdown
from harness.reports.fairness import (
    FairnessSettings,
    fairness_markdown,
    fairness_tables,
    write_disparity,
    write_plots,
)
from harness.reports.tables import write_table
from harness.runs.rundir import RunDirectory

Progress = Callable[[str, int, int], None]
BUILTIN = "builtin:"


def resolve_corpus(spec: str, seed: int = 0, progress: Progress | None = None) -> Corpus:
    """A corpus directory, or ``builtin:<size>``: the synthetic corpus, built once into the cache."""
    if spec.startswith(BUILTIN):
        from harness.corpus.synth import synthesize_corpus

        size = spec[len(BUILTIN):]
        out = cache_dir("corpus") / f"synthetic-{size}-seed{seed}"
        report = (lambda done, total: progress(f"corpus {size}", done, total)) if progress else None
        return load_corpus(synthesize_corpus(out, size=size, seed=seed, progress=report))
    return load_corpus(Path(spec))


def evaluable(entries: list[ModelEntry]) -> list[ModelEntry]:
    return [e for e in entries if e.evaluate and e.task in (Task.wake_word, Task.kws)]


def run_evaluation(run: RunDirectory, entries: list[ModelEntry], corpus: Corpus, settings: EvalSettings,
                   fairness: FairnessSettings, backend: str, progress: Progress | None = None) -> None:
    """Score every clip (resumable), then write the fairness outputs of the run-directory contract."""
    if not entries:
        raise ConfigError("no model to evaluate: evaluation needs wake_word or kws models with evaluate: true")
    predictions, steps = evaluate(entries, corpus, run.raw / "eval", settings, progress)
    predictions.to_parquet(run.raw / "predictions.parquet", index=False)
    steps.to_parquet(run.raw / "scores.parquet", index=False)
    by_name = {e.name: e for e in entries}
    long = write_fairness(run, predictions, by_name, corpus, fairness, backend)
    if progress:
        progress("plots", 0, 1)
    write_plots(long, predictions, steps, _rules(entries, settings), by_name, run.path / "plots")


def write_fairness(run: RunDirectory, predictions: pd.DataFrame, by_name: dict[str, ModelEntry], corpus: Corpus,
                   fairness: FairnessSettings, backend: str) -> pd.DataFrame:
    """fairness.csv|md|json, disparity.json and (multi-class models) confusion.csv|md|json; returns fairness rows.

    ``backend`` says in fairness.md where the scores came from.
    """
    long, disparity = fairness_tables(predictions, by_name, corpus.group_columns, fairness)
    write_table(long, run.path, "fairness", markdown=fairness_markdown(long, disparity, by_name, corpus.name, backend),
                meta={"run_id": run.run_id, "corpus": corpus.name, "confidence": fairness.confidence})
    write_disparity(run.path / "disparity.json", disparity)
    confusion = confusion_long(predictions, by_name)
    if not confusion.empty:
        write_table(confusion, run.path, "confusion", markdown=confusion_markdown(confusion, corpus.name),
                    meta={"run_id": run.run_id, "corpus": corpus.name})
    return long


def _rules(entries: list[ModelEntry], settings: EvalSettings) -> dict[str, StreamingRules]:
    """The counting rules each wake-word scorer used (its step timing comes from its front end)."""
    rules = {}
    for entry in entries:
        if entry.task == Task.wake_word:
            scorer = WakeWordScorer(entry, settings.options_for(entry))
            rules[entry.name] = scorer.rules
            scorer.close()
    return rules

