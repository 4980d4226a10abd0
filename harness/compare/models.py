"""Variants of one network in one run: per-group paired accuracy differences beside the efficiency differences on
each target, and one sentence per (variant, target) that answers "what does this variant save, and what does it
cost whom". Written as model_comparison.csv|md|json (docs/paired-comparison.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd

from harness.compare.deltas import mean_delta, percentile_delta
from harness.core.errors import ConfigError
from harness.evaluation.groups import OVERALL, Task
from harness.evaluation.paired import PAIRED_COLUMNS, PairedSettings, paired_differences
from harness.reports import numbers
from harness.reports.fairness import attributes_for, readable_groups
from harness.reports.tables import to_markdown, write_table
from harness.rundir import contract
from harness.signoff.efficiency import energy_batches, latency_samples

HEADLINE = {"kws": "accuracy", "wake_word": "detection_rate"}
EFFICIENCY_METRICS = {  # column -> unit
    "latency_ms_p50": "ms", "energy_mj_per_inference": "mJ", "arena_bytes": "B", "model_bytes": "B",
}
COLUMNS = ["kind", "target", "unit", "provenance", *PAIRED_COLUMNS]


@dataclass(frozen=True)
class ModelComparison:
    baseline: str
    variants: list[str]
    table: pd.DataFrame
    answers: list[dict[str, Any]]
    confidence: float


def compare_variants(run: Path, predictions: pd.DataFrame, tasks: dict[str, str], baseline: str,
                     group_columns: list[str], settings: PairedSettings) -> ModelComparison:
    """The comparison of every other model of ``predictions`` with ``baseline`` (same task), on the run's clips and
    its efficiency rows."""
    variants = [m for m in sorted(predictions["model"].unique()) if m != baseline]
    task = tasks.get(baseline)
    if task is None:
        raise ConfigError(f"paired_baseline '{baseline}' was not evaluated in this run",
                          hint="the baseline must be a wake_word or kws model with evaluate: true")
    other = [v for v in variants if tasks[v] != task]
    if other:
        raise ConfigError(f"paired comparison: model(s) {', '.join(other)} do not have the task of '{baseline}' "
                          f"({task})", hint="compare variants of one network: same task, labels and corpus")
    frame = readable_groups(predictions)
    attributes = attributes_for(frame, group_columns)
    accuracy = paired_differences(frame, baseline, variants, attributes, cast(Task, task), settings)
    accuracy = accuracy.assign(kind="accuracy", target=None, unit="", provenance="measured:host")
    efficiency = efficiency_differences(run, baseline, variants, settings.confidence, settings.seed)
    table = pd.concat([t for t in (accuracy, efficiency) if not t.empty], ignore_index=True)[COLUMNS]
    answers = [answer(table, variant, target, HEADLINE[task], settings.confidence)
               for variant in variants for target in _targets(table, variant)]
    return ModelComparison(baseline, variants, table, answers, settings.confidence)


def _targets(table: pd.DataFrame, variant: str) -> list[str | None]:
    found = table.loc[(table["kind"] == "efficiency") & (table["variant"] == variant), "target"].unique().tolist()
    return sorted(found) or [None]


def efficiency_differences(run: Path, baseline: str, variants: list[str], confidence: float,
                           seed: int) -> pd.DataFrame:
    """Variant - baseline per target and efficiency figure. Measured pairs: a bootstrap of the latency samples and
    Welch's t over the energy trace's batches; predicted pairs: the widest difference the cost model's two intervals
    allow (whatever their correlation); sizes are counted, so their difference is exact."""
    path = run / contract.EFFICIENCY.csv
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    rows = pd.read_csv(path).to_dict("records")
    by_key = {(r["model"], r["target"]): r for r in rows}
    out = []
    for variant in variants:
        for target in sorted({r["target"] for r in rows if r["model"] == variant}):
            a, b = by_key.get((baseline, target)), by_key.get((variant, target))
            if a is None or b is None:
                continue
            for metric, unit in EFFICIENCY_METRICS.items():
                value_a, value_b = _num(a.get(metric)), _num(b.get(metric))
                low, high, method = _efficiency_interval(run, metric, a, b, confidence, seed)
                d = value_b - value_a if value_a is not None and value_b is not None else float("nan")
                out.append({"kind": "efficiency", "target": target, "unit": unit,
                            "provenance": f"{a['provenance']} vs {b['provenance']}", "baseline": baseline,
                            "variant": variant, "attribute": None, "group": None, "metric": metric,
                            "baseline_value": value_a, "variant_value": value_b, "difference": d,
                            "ci_low": low, "ci_high": high, "harm": d, "harm_low": low, "harm_high": high,
                            "method": method})
    return pd.DataFrame(out, columns=COLUMNS)


def _num(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _efficiency_interval(run: Path, metric: str, a: dict[str, Any], b: dict[str, Any], confidence: float,
                         seed: int) -> tuple[float, float, str]:
    nan = float("nan")
    if metric.endswith("_bytes"):
        va, vb = _num(a.get(metric)), _num(b.get(metric))
        return (vb - va, vb - va, "counted") if va is not None and vb is not None else (nan, nan, "not reported")
    bounds = [_num(r.get(f"{metric}_{side}")) for r in (a, b) for side in ("low", "high")]
    if all(v is not None for v in bounds):
        a_low, a_high, b_low, b_high = bounds
        return b_low - a_high, b_high - a_low, "cost-model intervals, widest difference"  # type: ignore[operator]
    if str(a["provenance"]).startswith("predicted") or str(b["provenance"]).startswith("predicted"):
        return nan, nan, "prediction without interval"
    if metric == "latency_ms_p50":
        sa, sb = latency_samples(run, a["model"], a["target"]), latency_samples(run, b["model"], b["target"])
        if sa is not None and sb is not None:
            _, low, high = percentile_delta(sa, sb, 50, confidence, seed=seed)
            return low, high, "bootstrap of the latency samples"
    else:
        ea = energy_batches(run, a["model"], a["target"], int(a["n_runs"]))
        eb = energy_batches(run, b["model"], b["target"], int(b["n_runs"]))
        if ea is not None and eb is not None:
            _, low, high = mean_delta(ea, eb, confidence)
            return low, high, "Welch t over the power trace's batches"
    return nan, nan, "no samples"


def worst_group(table: pd.DataFrame, variant: str, metric: str) -> pd.Series | None:
    """The group the variant harms most (by point estimate) among sufficient groups, else the overall row."""
    rows = table[(table["kind"] == "accuracy") & (table["variant"] == variant) & (table["metric"] == metric)]
    groups = rows[(rows["attribute"] != OVERALL[0]) & rows["sufficient"].astype(bool) & rows["harm"].notna()]
    if not groups.empty:
        return groups.sort_values(["harm", "attribute", "group"], ascending=[False, True, True]).iloc[0]
    overall = rows[rows["attribute"] == OVERALL[0]]
    return overall.iloc[0] if not overall.empty else None


def _points(value: float) -> str:
    return numbers.significant(abs(value) * 100, 2)


def answer(table: pd.DataFrame, variant: str, target: str | None, metric: str, confidence: float) -> dict[str, Any]:
    """One sentence: what ``variant`` saves per inference on ``target`` and what it costs its worst group."""
    baseline = str(table["baseline"].iloc[0])
    parts = []
    if target is not None:
        e = table[(table["kind"] == "efficiency") & (table["variant"] == variant) & (table["target"] == target)
                  & (table["metric"] == "energy_mj_per_inference")]
        d = _num(e["difference"].iloc[0]) if not e.empty else None
        if d is None:
            parts.append(f"{variant} has no energy figure on {target}")
        else:
            row = e.iloc[0]
            verb = _verb("saves" if d <= 0 else "costs", _num(row["ci_low"]), _num(row["ci_high"]))
            ci = _interval(row["ci_low"], row["ci_high"], " mJ")
            parts.append(f"{variant} {verb} {numbers.significant(abs(d), 3)} mJ per inference on {target}{ci} "
                         f"({row['provenance']})")
    else:
        parts.append(f"{variant} was measured on no target")
    worst = worst_group(table, variant, metric)
    if worst is None:
        parts.append(f"its {metric} was not compared")
    else:
        harm = float(worst["harm"])
        where = "overall" if worst["attribute"] == OVERALL[0] else f"on {worst['attribute']}={worst['group']}"
        low, high = -float(worst["harm_high"]), -float(worst["harm_low"])  # the change of the metric, in points
        verb = _verb("gains" if harm < 0 else "costs", low, high)
        parts.append(f"{verb} {_points(harm)} points of {metric} {where} ({confidence:.0%} paired interval of the "
                     f"change [{numbers.significant(low * 100, 2)}, {numbers.significant(high * 100, 2)}] points)")
    return {"variant": variant, "baseline": baseline, "target": target, "metric": metric,
            "group": None if worst is None else f"{worst['attribute']}={worst['group']}",
            "sentence": " and ".join(parts) + f", against {baseline}."}


def _verb(verb: str, low: float | None, high: float | None) -> str:
    """``verb``, or "may ..." when the interval of the difference holds both signs (the direction is unresolved)."""
    if low is not None and high is not None and low < 0 < high:
        return {"saves": "may save", "costs": "may cost", "gains": "may gain"}[verb]
    return verb


def _interval(low: Any, high: Any, unit: str) -> str:
    lo, hi = _num(low), _num(high)
    if lo is None or hi is None:
        return ""
    return f" (difference [{numbers.significant(lo, 3)}, {numbers.significant(hi, 3)}]{unit})"


MD_COLUMNS = {"variant": "variant", "attribute": "attribute", "group": "group", "metric": "metric", "n": "clips",
              "n_speakers": "speakers", "baseline_value": "baseline", "variant_value": "variant value",
              "difference": "difference", "ci_low": "low", "ci_high": "high", "mcnemar_p": "McNemar p",
              "sufficient": "enough data"}
MD_EFFICIENCY = {"variant": "variant", "target": "target", "metric": "figure", "unit": "unit",
                 "baseline_value": "baseline", "variant_value": "variant value", "difference": "difference",
                 "ci_low": "low", "ci_high": "high", "provenance": "provenance", "method": "interval from"}


def comparison_markdown(c: ModelComparison) -> str:
    lines = [f"# Variants against {c.baseline}, clip by clip", "",
             *[f"- {a['sentence']}" for a in c.answers], "",
             f"Differences are variant - {c.baseline}. Accuracy intervals: {c.confidence:.0%} speaker-level paired "
             "cluster bootstrap (clips paired, speakers resampled within each group); McNemar p is the exact test of "
             "the discordant clips (see docs/paired-comparison.md).", ""]
    accuracy = c.table[c.table["kind"] == "accuracy"]
    if not accuracy.empty:
        lines += ["## Accuracy by group", "", to_markdown(accuracy, MD_COLUMNS)]
    efficiency = c.table[c.table["kind"] == "efficiency"]
    if not efficiency.empty:
        lines += ["## Efficiency by target", "", to_markdown(efficiency, MD_EFFICIENCY)]
    return "\n".join(lines)


def write_model_comparison(run: Path, run_id: str, comparison: ModelComparison, settings: PairedSettings) -> None:
    write_table(comparison.table, run, contract.MODEL_COMPARISON.stem, markdown=comparison_markdown(comparison),
                meta={"run_id": run_id, "baseline": comparison.baseline, "variants": comparison.variants,
                      "confidence": settings.confidence, "n_boot": settings.n_boot, "seed": settings.seed,
                      "method": "speaker_paired_cluster_bootstrap", "answers": comparison.answers})
