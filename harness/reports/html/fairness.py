"""The report's per-model accuracy section: overall table, detection by group with intervals, DET curves per
group and the fairness-accuracy trade-off, all groups included (this report is internal)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.evaluation.det import det_figure, group_rates_figure
from harness.evaluation.engine import EvalSettings
from harness.evaluation.groups import JOIN, OVERALL
from harness.evaluation.scoring import WakeWordScorer
from harness.evaluation.streaming import StreamingRules
from harness.registry.models import ModelEntry, Task
from harness.reports.cards import formatting as fmt
from harness.reports.figure_pool import Drawings
from harness.reports.html.figures import figure_uri, tradeoff_figure
from harness.reports.html.tradeoff import sweep_model, tradeoff
from harness.reports.run_tables import RunTables

RATE_ATTRIBUTES = ("accent", "noise")
DET_ATTRIBUTES = ("noise", "accent_group")
TRADEOFF_ATTRIBUTES = ("accent", "accent_group", "noise")


def rules_for(entry: ModelEntry) -> StreamingRules:
    """The counting rules the evaluation used: built by the model's scorer (its step timing needs the front end)."""
    scorer = WakeWordScorer(entry, EvalSettings().options_for(entry))
    try:
        return scorer.rules
    finally:
        scorer.close()


def _overall(rows: pd.DataFrame) -> list[dict[str, str]]:
    return [{"metric": fmt.label(r["metric"]), "n": str(int(r["n"])), "speakers": str(int(r["n_speakers"])),
             "value": fmt.bracket(r["metric"], r["value"], r["ci_low"], r["ci_high"]),
             "evidence": "sufficient" if bool(r.get("sufficient", True)) else "insufficient"}
            for _, r in rows.iterrows()]


def _tradeoff_rows(tables: dict[str, pd.DataFrame], cutoff: float) -> list[dict[str, str]]:
    rows = []
    for attribute, table in tables.items():
        at = table[np.isclose(table["threshold"], cutoff)]
        if at.empty or pd.isna(at["gap"].iloc[0]):
            continue
        r = at.iloc[0]
        rows.append({"attribute": attribute, "frr": fmt.shown("frr", r["frr"]),
                     "worst": f"{r['worst_group']} {fmt.shown('frr', r['worst_frr'])}",
                     "best": f"{r['best_group']} {fmt.shown('frr', r['best_frr'])}",
                     "gap": fmt.shown("frr", r["gap"]), "groups": str(int(r["n_groups"]))})
    return rows


def model_section(tables: RunTables, model: str, entry: ModelEntry | None, predictions: pd.DataFrame | None,
                  scores: pd.DataFrame | None, min_group_size: int, drawings: Drawings | None = None) -> dict[str, Any]:
    """One model's accuracy section; its figures drawn now, or added to ``drawings``."""
    rows = tables.fairness_of(model)
    section: dict[str, Any] = {"name": model, "anchor": f"model-{model}", "notes": [], "figures": [],
                               "overall": [], "tradeoff": [], "disparity": [], "small": []}
    if entry is not None and entry.wake_phrase and entry.decision:
        section["head"] = f'wake phrase "{entry.wake_phrase}", cutoff {entry.decision.cutoff:g}, window ' \
                          f"{entry.decision.window}"
    if rows.empty:
        section["notes"].append("No accuracy results for this model in this run (no rows in fairness.csv).")
        return section
    section["overall"] = _overall(rows[rows["attribute"] == OVERALL[0]])
    metric = "detection_rate" if "detection_rate" in set(rows["metric"]) else "accuracy"
    confidence = float(tables.evaluation_settings().get("confidence", 0.95))
    for attribute in RATE_ATTRIBUTES:
        part = rows[(rows["metric"] == metric) & rows["attribute"].isin([attribute, OVERALL[0]])]
        if (part["attribute"] == attribute).any() and part["value"].notna().any():
            section["figures"].append({
                "caption": f"{metric} by {attribute} with {confidence:.0%} intervals (fairness.csv); grey hatched: "
                           "insufficient evidence",
                "uri": figure_uri(drawings, group_rates_figure, part, metric, model=model, attribute=attribute)})
    small = rows[(rows["attribute"] != OVERALL[0]) & (rows["n"] < min_group_size) & ~rows["attribute"].str.contains(
        JOIN, regex=False)]
    section["small"] = sorted({f"{a}={g}" for a, g in zip(small["attribute"], small["group"], strict=True)})
    disparity = [d for d in tables.disparity or [] if d.get("model") == model and JOIN not in str(d.get("attribute"))]
    section["disparity"] = [{"attribute": d["attribute"], "metric": d["metric"], "worst": str(d.get("worst_group")),
                             "best": str(d.get("best_group")), "ratio": fmt.number(d["ratio"])
                             if d.get("ratio") is not None else "n/a", "verdict": d.get("verdict", ""),
                             "cls": d.get("verdict", "").lower().split("_")[0]} for d in disparity]
    if entry is None or entry.task != Task.wake_word or entry.decision is None:
        return section
    if predictions is None or scores is None:
        section["notes"].append("DET curves and the trade-off need raw/predictions.parquet and raw/scores.parquet, "
                                "which this run directory lacks.")
        return section
    swept = sweep_model(model, predictions, scores, rules_for(entry), [*TRADEOFF_ATTRIBUTES, *DET_ATTRIBUTES])
    for attribute in DET_ATTRIBUTES:
        if attribute in swept.curves:
            section["figures"].append({"caption": f"DET curves by {attribute} (raw/scores.parquet through the "
                                                  "model's counting rules); dots: the cutoff",
                                       "uri": figure_uri(drawings, det_figure, swept.curves[attribute],
                                                         swept.cutoff)})
    trade = {a: tradeoff(swept.curves[a], min_group_size) for a in TRADEOFF_ATTRIBUTES if a in swept.curves}
    trade = {a: t for a, t in trade.items() if t["gap"].notna().any()}
    if trade:
        section["figures"].append({"caption": f"fairness-accuracy trade-off: groups with at least {min_group_size} "
                                              "positive clips; star: the model's cutoff",
                                   "uri": figure_uri(drawings, tradeoff_figure, trade, swept.cutoff, model)})
        section["tradeoff"] = _tradeoff_rows(trade, entry.decision.cutoff)
    return section
