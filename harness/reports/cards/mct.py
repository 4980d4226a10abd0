"""The card's JSON twin in the Model Card Toolkit schema (model_details, model_parameters, quantitative_analysis,
considerations).

Field names and types follow MCT's ``model_card.proto`` and Python API (``PerformanceMetric(type, value, slice,
confidence_interval=ConfidenceInterval(lower_bound, upper_bound))``, all strings;
https://tensorflow.org/responsible_ai/model_card_toolkit/api_docs/python/model_card_toolkit/PerformanceMetric).
Numbers are written with ``repr`` so the twin keeps the tables' full precision.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.evaluation.groups import OVERALL
from harness.reports.cards.context import CardContext, file_name
from harness.reports.cards.facts import ModelFacts

SCHEMA_VERSION = "0.0.2"
EFFICIENCY_METRICS = ("latency_ms_p50", "latency_ms_p90", "latency_ms_p99", "energy_mj_per_inference",
                      "avg_power_mw", "deployed_power_mw")


def _text(value: Any) -> str:
    return repr(float(value)) if isinstance(value, (float, int)) and not isinstance(value, bool) else str(value)


def _metric(row: pd.Series, slice_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": str(row["metric"]), "value": _text(row["value"]), "slice": slice_name}
    if not (math.isnan(float(row["ci_low"])) or math.isnan(float(row["ci_high"]))):
        out["confidence_interval"] = {"lower_bound": _text(row["ci_low"]), "upper_bound": _text(row["ci_high"])}
    return out


def performance_metrics(facts: ModelFacts) -> list[dict[str, Any]]:
    """Accuracy metrics (overall and public groups, with intervals), then efficiency per target with its
    provenance in the slice (and the cost model's interval for a prediction)."""
    metrics = [_metric(r, OVERALL[0]) for _, r in facts.overall.iterrows() if pd.notna(r["value"])]
    for attribute in facts.attributes():
        rows = facts.groups[facts.groups["attribute"] == attribute]
        metrics += [_metric(r, f"{attribute}={r['group']}") for _, r in rows.iterrows() if pd.notna(r["value"])]
    for _, row in facts.efficiency.iterrows():
        where = f"target={row['target']}, provenance={row.get('provenance', 'not recorded')}"
        for column in EFFICIENCY_METRICS:
            if column not in row or pd.isna(row[column]):
                continue
            metric = {"type": column, "value": _text(row[column]), "slice": where}
            low, high = row.get(f"{column}_low"), row.get(f"{column}_high")
            if low is not None and high is not None and pd.notna(low) and pd.notna(high):
                metric["confidence_interval"] = {"lower_bound": _text(low), "upper_bound": _text(high)}
            metrics.append(metric)
    return metrics


def mct_json(facts: ModelFacts, ctx: CardContext, markdown_name: str) -> dict[str, Any]:
    entry, record = facts.entry, facts.record
    limitations = [f"Suppressed from this card: {r['attribute']}={r['group']} ({r['metric']}), fewer than "
                   f"{facts.min_group_size} clips." for _, r in facts.suppressed.iterrows()]
    if "sufficient" in facts.groups.columns:
        weak = facts.groups[~facts.groups["sufficient"].astype(bool)]
        limitations += [f"Insufficient evidence: {r['attribute']}={r['group']} ({r['metric']}, n={int(r['n'])})."
                        for _, r in weak.iterrows()]
    corpus = ctx.corpus or {}
    return {
        "schema_version": SCHEMA_VERSION,
        "model_details": {
            "name": facts.name,
            "overview": entry.description.strip() if entry and entry.description else "not documented",
            "documentation": f"See {markdown_name} (same folder) for every section; generated from run {ctx.run_id}.",
            "owners": [],
            "version": {"name": str(record.get("sha256", "not recorded")), "date": ctx.created_utc},
            "licenses": [{"identifier": entry.license}] if entry else [{"custom_text": "not documented"}],
            "references": [{"reference": entry.source}] if entry else [],
            "citations": [],
            "path": file_name(record.get("path")),
        },
        "model_parameters": {
            "model_architecture": entry.family if entry else "not documented",
            "data": [{"name": str(corpus.get("name")),
                      "description": f"evaluation corpus, {corpus.get('n_clips', '?')} clips; manifest sha256 "
                                     f"{corpus.get('manifest_sha256', 'not recorded')}",
                      "sensitive": {"sensitive_data": ["speaker identifiers (pseudonymised in this card)"]}}]
            if corpus else [],
            "input_format": f"{entry.input.dtype} {entry.input.shape}" if entry and entry.input else "not documented",
            "output_format": f"{entry.output.dtype} {entry.output.shape}" if entry and entry.output
            else "not documented",
        },
        "quantitative_analysis": {"performance_metrics": performance_metrics(facts),
                                  "graphics": {"description": "figures are in report.html", "collection": []}},
        "considerations": {
            "users": [],
            "use_cases": [{"description": f'wake-word detection of "{entry.wake_phrase}"'}]
            if entry and entry.wake_phrase else [],
            "limitations": [{"description": text} for text in limitations],
            "tradeoffs": [],
            "ethical_considerations": [{"name": "speaker privacy", "mitigation_strategy":
                                        "speaker ids pseudonymised with a keyed hash; small groups suppressed"}],
        },
    }
