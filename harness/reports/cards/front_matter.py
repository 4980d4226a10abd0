"""The card's YAML front matter, in the Hugging Face model-card metadata format (``model-index`` with results).

Each result is one slice of the evaluation corpus (``overall`` or ``<attribute>=<group>``); each value is written
"x ± y" as huggingface_hub's ``EvalResult`` allows, with the exact interval in the metric's name and a link to the
table it came from. Suppressed groups never appear here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import yaml

from harness.evaluation.groups import JOIN
from harness.reports import numbers
from harness.reports.cards import formatting as fmt
from harness.reports.cards.facts import ModelFacts

TAGS = {"wake_word": ["wake-word", "keyword-spotting"], "kws": ["keyword-spotting"], "generic": []}
TABLE_LINK = "../fairness.csv"


def _license(value: str | None) -> str:
    """Hub license ids are lower-case SPDX ids; "unknown" stays "unknown"."""
    return (value or "unknown").strip().lower()


def _metric(row: pd.Series, confidence: float) -> dict[str, Any]:
    metric = str(row["metric"])
    interval = f"{confidence:.0%} interval [{fmt.shown(metric, row['ci_low'])}, {fmt.shown(metric, row['ci_high'])}]"
    return {
        "type": metric,
        "name": f"{fmt.label(metric)}, n={int(row['n'])}, {interval}"
                + ("" if bool(row.get("sufficient", True)) else ", insufficient evidence"),
        "value": fmt.plus_minus(metric, float(row["value"]), float(row["ci_low"]), float(row["ci_high"])),
    }


def _result(facts: ModelFacts, corpus: str, run_id: str, slice_name: str, rows: pd.DataFrame,
            confidence: float) -> dict[str, Any]:
    task_name = {"wake_word": f'wake-word detection ("{facts.entry.wake_phrase}")' if facts.entry
                 and facts.entry.wake_phrase else "wake-word detection", "kws": "keyword spotting"}
    return {
        "task": {"type": "audio-classification", "name": task_name.get(facts.task or "", "audio classification")},
        "dataset": {"type": corpus, "name": f"{corpus} ({slice_name})", "config": slice_name, "split": "all"},
        "metrics": [_metric(r, confidence) for _, r in rows.iterrows() if pd.notna(r["value"])],
        "source": {"name": f"edge-harness run {run_id}, fairness.csv", "url": TABLE_LINK},
    }


EFFICIENCY_METRICS = {"latency_ms_p99": "p99 device latency (ms)",
                      "energy_mj_per_inference": "energy per inference (mJ)",
                      "deployed_power_mw": "deployed power (mW)"}
EFFICIENCY_LINK = "../efficiency.csv"


def _efficiency_metric(row: pd.Series, column: str) -> dict[str, Any]:
    """One efficiency figure; its provenance is in the name and in ``args`` so no prediction reads as a measurement."""
    provenance = str(row.get("provenance") or "not recorded")
    low, high = row.get(f"{column}_low"), row.get(f"{column}_high")
    bounded = low is not None and high is not None and pd.notna(low) and pd.notna(high)
    shown = numbers.with_interval(row[column], low, high) if bounded else numbers.significant(row[column])
    return {"type": column, "name": f"{EFFICIENCY_METRICS[column]}, {provenance}"
            + (f", interval [{numbers.significant(low)}, {numbers.significant(high)}]" if bounded else ""),
            "value": shown, "args": {"provenance": provenance}}


def _efficiency_results(facts: ModelFacts, run_id: str) -> list[dict[str, Any]]:
    """One result per target: the target stands where a dataset would (efficiency has no evaluation data)."""
    results = []
    for _, row in facts.efficiency.iterrows():
        metrics = [_efficiency_metric(row, c) for c in EFFICIENCY_METRICS if c in row and pd.notna(row[c])]
        if not metrics:
            continue
        target = str(row["target"])
        results.append({
            "task": {"type": "audio-classification", "name": f"on-device inference on {target}"},
            "dataset": {"type": "edge-harness-target", "name": f"target {target} ({row.get('provenance')})",
                        "config": target, "split": "efficiency"},
            "metrics": metrics,
            "source": {"name": f"edge-harness run {run_id}, efficiency.csv", "url": EFFICIENCY_LINK},
        })
    return results


def front_matter(facts: ModelFacts, *, corpus: str, run_id: str, confidence: float) -> dict[str, Any]:
    entry = facts.entry
    data: dict[str, Any] = {
        "license": _license(entry.license if entry else None),
        "tags": ["edge-harness", *TAGS.get(facts.task or "generic", []), *([entry.family] if entry else []),
                 *([facts.record["format"]] if facts.record.get("format") else [])],
        "pipeline_tag": "audio-classification",
    }
    if entry and entry.trained_languages:
        data["language"] = list(entry.trained_languages)
    efficiency = _efficiency_results(facts, run_id)
    if not facts.evaluated:
        if efficiency:
            data["model-index"] = [{"name": facts.name, "results": efficiency}]
        return data
    results = [_result(facts, corpus, run_id, "overall", facts.overall, confidence)]
    for attribute in [a for a in facts.attributes() if JOIN not in a]:  # intersections: in the body only
        rows = facts.groups[(facts.groups["attribute"] == attribute) & facts.groups["metric"].isin(facts.metrics)]
        for group, part in rows.groupby("group", sort=True):
            results.append(_result(facts, corpus, run_id, f"{attribute}={group}", part, confidence))
    data["model-index"] = [{"name": facts.name, "results": [r for r in results if r["metrics"]] + efficiency}]
    return data


def render(data: dict[str, Any]) -> str:
    """``---``-fenced YAML, keys in the order given."""
    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000) + "---\n"
