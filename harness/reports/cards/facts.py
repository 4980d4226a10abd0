"""What one model card states, gathered from the run's tables: public rows, suppressed groups, pseudonymised speakers.

Groups measured on fewer than ``min_group_size`` clips are moved out of the public rows (they stay in fairness.csv
and in the internal HTML report). Per-speaker results come from raw/predictions.parquet through the same metric
code as fairness.csv, with every speaker identifier replaced by its pseudonym.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from harness.core.errors import ConfigError, DataError
from harness.evaluation.groups import JOIN, OVERALL, disaggregate
from harness.registry.models import ModelEntry
from harness.reports.cards.pseudonym import pseudonym
from harness.reports.run_tables import RunTables, gate_rank

GROUP_METRICS = {"wake_word": ("detection_rate", "fa_per_hour"), "kws": ("accuracy", "keyword_fpr")}
ATTRIBUTE_ORDER = ("accent_group", "accent", "language", "gender", "age_band", "noise", "snr_db", "room")


@dataclass(frozen=True)
class ModelFacts:
    """Everything a card says about one model; DataFrames hold fairness.csv rows."""

    name: str
    entry: ModelEntry | None
    record: dict[str, Any]
    task: str | None
    min_group_size: int
    efficiency: pd.DataFrame
    overall: pd.DataFrame
    groups: pd.DataFrame
    suppressed: pd.DataFrame
    disparity: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    carbon: pd.DataFrame | None = None
    speakers: pd.DataFrame | None = None
    speakers_total: int = 0
    speakers_suppressed: int = 0

    @property
    def evaluated(self) -> bool:
        return not self.overall.empty

    @property
    def metrics(self) -> tuple[str, ...]:
        return GROUP_METRICS.get(self.task or "", ())

    def attributes(self) -> list[str]:
        """Single attributes in a fixed reading order, then intersections."""
        present = list(dict.fromkeys([*self.groups["attribute"], *self.suppressed["attribute"]]))
        single = [a for a in ATTRIBUTE_ORDER if a in present]
        single += sorted(a for a in present if a not in single and JOIN not in a)
        return single + sorted(a for a in present if JOIN in a)


def task_of(entry: ModelEntry | None, rows: pd.DataFrame) -> str | None:
    """The registry's task, else the one the fairness metrics imply."""
    if entry is not None:
        return entry.task.value
    metrics = set(rows["metric"])
    return "wake_word" if "detection_rate" in metrics else "kws" if "accuracy" in metrics else None


def split_small(rows: pd.DataFrame, min_group_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(public, suppressed): a group's metric is suppressed when it was measured on fewer clips than the minimum."""
    small = rows["n"].astype(int) < min_group_size
    return rows[~small], rows[small]


def gather(tables: RunTables, model: str, entry: ModelEntry | None, *, min_group_size: int, salt: bytes,
           predictions: pd.DataFrame | None) -> ModelFacts:
    if min_group_size < 1:
        raise ConfigError(f"minimum group size for public cards must be at least 1 clip, got {min_group_size}",
                          hint="use the sign-off policy's minimum clips per group (default 20)")
    rows = tables.fairness_of(model)
    task = task_of(entry, rows)
    overall = rows[rows["attribute"] == OVERALL[0]]
    public, suppressed = split_small(rows[rows["attribute"] != OVERALL[0]], min_group_size)
    disparity = [d for d in tables.disparity or [] if d.get("model") == model]
    gates = _public_gates([g for g in (tables.signoff or {}).get("gates", []) if g.get("model") in (model, None)],
                          suppressed)  # model None: run-wide gates such as the deployment checklist
    carbon = None
    if tables.carbon is not None and "model" in tables.carbon.columns:
        carbon = tables.carbon[tables.carbon["model"] == model]
    facts = ModelFacts(name=model, entry=entry, record=tables.model_record(model), task=task,
                       min_group_size=min_group_size, efficiency=tables.efficiency_of(model), overall=overall,
                       groups=public, suppressed=suppressed, disparity=disparity, gates=gates, carbon=carbon)
    if predictions is None or task not in GROUP_METRICS or overall.empty:
        return facts
    return _with_speakers(facts, predictions[predictions["model"] == model], tables, salt)


def _public_gates(gates: list[dict[str, Any]], suppressed: pd.DataFrame) -> list[dict[str, Any]]:
    """Failing gates first; a gate whose reason quotes a suppressed group keeps its status only (its value could
    reveal the group's result; signoff.md keeps everything)."""
    quoted = {f"'{g}'" for g in suppressed["group"]}
    out = []
    for gate in sorted(gates, key=gate_rank):
        if any(q in str(gate.get("reason") or "") for q in quoted):
            gate = {**gate, "value": None, "ci_low": None, "ci_high": None, "withheld": True,
                    "reason": "value and reason withheld: they concern a group suppressed from this card (signoff.md)"}
        out.append(gate)
    return out


def _with_speakers(facts: ModelFacts, predictions: pd.DataFrame, tables: RunTables, salt: bytes) -> ModelFacts:
    """Per-speaker results for the model's first metric, speakers pseudonymised, small speakers suppressed."""
    if predictions.empty or "speaker" not in predictions.columns:
        return facts
    settings = tables.evaluation_settings()
    try:
        long = disaggregate(predictions.assign(speaker=predictions["speaker"].astype(str)), ["speaker"],
                            facts.task, confidence=float(settings.get("confidence", 0.95)),  # type: ignore[arg-type]
                            min_clips=int(settings.get("min_clips", 30)),
                            min_speakers=int(settings.get("min_speakers", 5)))
    except DataError:
        return facts  # predictions without the task's columns: the card says per-speaker results are absent
    rows = long[(long["attribute"] == "speaker") & (long["metric"] == facts.metrics[0]) & (long["n"] > 0)]
    public, small = split_small(rows, facts.min_group_size)
    public = public.assign(group=[pseudonym(g, salt) for g in public["group"]])
    return replace(facts, speakers=public, speakers_total=len(rows), speakers_suppressed=len(small))
