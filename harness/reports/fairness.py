"""Fairness tables, disparity and plots from per-clip predictions: model-card ready, worst group first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.files import write_atomic
from harness.evaluation.det import clip_hours, curves_from_sweep, det_figure, group_rates_figure, save_png, sweep
from harness.evaluation.disparity import Disparity, Thresholds, disparity_rows
from harness.evaluation.groups import JOIN, OVERALL, Attribute, disaggregate
from harness.evaluation.streaming import StreamingRules
from harness.registry.models import ModelEntry, Task
from harness.reports import numbers
from harness.reports.figure_pool import Drawings

SINGLE = ("accent", "accent_group", "language", "gender", "age_band", "noise", "snr_db", "room")
INTERSECTIONS = (("accent_group", "noise"), ("accent", "noise"), ("noise", "snr_db"), ("accent_group", "gender"))
CARD_ATTRIBUTES = ("accent_group", "accent", "noise", "snr_db", "gender")
PRIMARY = {"wake_word": ("frr", "fa_per_hour"), "kws": ("accuracy", "keyword_fpr")}
DET_THRESHOLDS = np.round(np.concatenate([np.linspace(0.05, 0.95, 19), [0.97, 0.98, 0.99, 0.995]]), 4)


@dataclass(frozen=True)
class FairnessSettings:
    confidence: float = 0.95
    min_clips: int = 30
    min_speakers: int = 5
    n_boot: int = 1000
    seed: int = 0
    thresholds: Thresholds = Thresholds()


def attributes_for(frame: pd.DataFrame, group_columns: list[str]) -> list[Attribute]:
    """The corpus's group columns that vary, then the intersections both of whose parts do."""
    varying = [c for c in group_columns if c in SINGLE and frame[c].nunique(dropna=False) > 1]
    return [*varying, *[pair for pair in INTERSECTIONS if all(p in varying for p in pair)]]


def readable_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """SNR as text ("clean" where no noise was mixed in), so tables read as a person would say it."""
    if "snr_db" in frame.columns:
        frame = frame.assign(snr_db=[("clean" if pd.isna(v) else f"{float(v):g} dB") for v in frame["snr_db"]])
    return frame


def fairness_tables(predictions: pd.DataFrame, entries: dict[str, ModelEntry], group_columns: list[str],
                    settings: FairnessSettings) -> tuple[pd.DataFrame, list[Disparity]]:
    """fairness.csv (long) and disparity.json rows for every model, each under its task's metrics; the per-group
    table of each task is computed once and handed to the disparity comparison."""
    frame = readable_groups(predictions)
    longs, disparity = [], []
    for task in ("wake_word", "kws"):
        names = [n for n, e in entries.items() if e.task.value == task]
        part = frame[frame["model"].isin(names)]
        if part.empty:
            continue
        attributes = attributes_for(part, group_columns)
        long = disaggregate(part, attributes, task, settings.confidence, settings.min_clips, settings.min_speakers)
        longs.append(long)
        disparity += disparity_rows(part, attributes, task, thresholds=settings.thresholds,
                                    confidence=settings.confidence, n_boot=settings.n_boot, seed=settings.seed,
                                    min_clips=settings.min_clips, min_speakers=settings.min_speakers, long=long)
    long = pd.concat(longs, ignore_index=True) if longs else pd.DataFrame()
    return long, disparity


def _ci(row: pd.Series) -> str:
    if pd.isna(row["value"]):
        return "n/a"
    scale, unit = (1.0, "") if row["metric"] == "fa_per_hour" else (100.0, " %")
    text = numbers.with_interval(row["value"] * scale, row["ci_low"] * scale, row["ci_high"] * scale) + unit
    return text if row["sufficient"] else text + " (insufficient)"


def _card_table(long: pd.DataFrame, model: str, attribute: str, metrics: tuple[str, str]) -> str:
    rows = long[(long["model"] == model) & (long["attribute"] == attribute)]
    first = rows[rows["metric"] == metrics[0]].set_index("group")
    second = rows[rows["metric"] == metrics[1]].set_index("group")
    worst_first = first.sort_values("value", ascending=metrics[0] in ("accuracy", "detection_rate"),
                                    na_position="last")
    lines = [f"| {attribute} | n | speakers | {metrics[0]} [95% CI] | n | {metrics[1]} [95% CI] |",
             "|---|---:|---:|---|---:|---|"]
    for group, row in worst_first.iterrows():
        other = second.loc[group] if group in second.index else None
        lines.append(f"| {group} | {row['n']} | {row['n_speakers']} | {_ci(row)} | "
                     f"{'' if other is None else other['n']} | {'' if other is None else _ci(other)} |")
    return "\n".join(lines)


def fairness_markdown(long: pd.DataFrame, disparity: list[Disparity], entries: dict[str, ModelEntry],
                      corpus_name: str, backend: str) -> str:
    out = [f"# Fairness: per-group accuracy with {int(100 * 0.95)} % intervals", "",
           f"Corpus: {corpus_name}. Scores from {backend}. Each table is sorted worst group first; n counts "
           "that metric's clips (positives for FRR, negatives for FA/h). Intervals: Wilson for rates, exact "
           "Poisson for FA/h. A group with too few clips or speakers is marked (insufficient) and can never "
           "pass a gate. Intersections are in fairness.csv.", ""]
    for model in sorted(long["model"].unique()):
        entry = entries[model]
        metrics = PRIMARY[entry.task.value]
        overall = long[(long["model"] == model) & (long["attribute"] == OVERALL[0])].set_index("metric", drop=False)
        head = f"## {model}"
        if entry.wake_phrase and entry.decision:
            head += f' (wake phrase "{entry.wake_phrase}", cutoff {entry.decision.cutoff:g}, window ' \
                    f"{entry.decision.window})"
        out += [head, "", "| metric | n | value [95% CI] |", "|---|---:|---|"]
        out += [f"| {m} | {r['n']} | {_ci(r)} |" for m, r in overall.iterrows()]
        for attribute in CARD_ATTRIBUTES:
            if ((long["model"] == model) & (long["attribute"] == attribute)).any():
                out += ["", _card_table(long, model, attribute, metrics)]
        verdicts = [d for d in disparity if d.model == model and JOIN not in d.attribute]
        if verdicts:
            out += ["", "| disparity: attribute | metric | worst | best | ratio [CI] | difference [CI] | verdict |",
                    "|---|---|---|---|---|---|---|"]
            for d in verdicts:
                out.append(f"| {d.attribute} | {d.metric} | {d.worst_group} | {d.best_group} | "
                           f"{_num(d.ratio)} {_pair(d.ratio_ci)} | {_num(d.difference)} "
                           f"{_pair(d.difference_ci)} | {d.verdict} |")
        out.append("")
    return "\n".join(out) + "\n"


def _num(v: Any) -> str:
    if v is None:
        return "n/a"
    return numbers.significant(v, 3)


def _pair(ci: Any) -> str:
    return f"[{_num(ci[0])}, {_num(ci[1])}]" if ci and ci[0] is not None else ""


def write_plots(long: pd.DataFrame, predictions: pd.DataFrame, steps: pd.DataFrame, rules: dict[str, StreamingRules],
                entries: dict[str, ModelEntry], directory: Path) -> list[Path]:
    """Detection (or accuracy) by group with interval bars, and DET curves by noise and accent group; returns the
    files, written by the time this returns (or, inside ``figure_pool.shared_workers``, by the end of that block)."""
    directory.mkdir(parents=True, exist_ok=True)
    frame = readable_groups(predictions)
    written: list[Path] = []
    with Drawings() as drawings:
        for model, entry in entries.items():
            metric = "detection_rate" if entry.task == Task.wake_word else "accuracy"
            for attribute in ("accent", "noise"):
                rows = long[(long["model"] == model) & (long["metric"] == metric)]
                if ((rows["attribute"] == attribute) & rows["value"].notna()).any():
                    written.append(directory / f"{model}__{metric}_by_{attribute}.png")
                    drawings.add(save_png, group_rates_figure, rows, metric, model=model, attribute=attribute,
                                 extra=(written[-1],))
            if model not in rules:
                continue
            clips = frame[frame["model"] == model].reset_index(drop=True)
            if not clips["is_positive"].any():
                continue  # no clip of this model's wake phrase: no miss rate to draw
            attributes = [a for a in ("noise", "accent_group") if a in clips.columns]
            if not attributes:
                continue
            scores = steps[steps["model"] == model].set_index("clip_id").loc[clips["clip_id"], "scores"].tolist()
            cutoff = [entry.decision.cutoff] if entry.decision else []
            thresholds = np.unique(np.concatenate([DET_THRESHOLDS, cutoff]))
            tp, fa = sweep(scores, clips, rules[model], thresholds)  # once for both attributes
            hours = clip_hours(scores, clips, rules[model])
            for attribute in attributes:
                curves = curves_from_sweep(tp, fa, clips, thresholds, hours, attribute)
                written.append(directory / f"{model}__det_by_{attribute}.png")
                drawings.add(save_png, det_figure, curves, entry.decision.cutoff if entry.decision else None,
                             extra=(written[-1],))
        drawings.finish_later()  # inside a run's shared workers, the files are complete when the run's block ends
    return written


def write_disparity(path: Path, rows: list[Disparity]) -> None:
    write_atomic(path, json.dumps([r.record() for r in rows], indent=2, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
