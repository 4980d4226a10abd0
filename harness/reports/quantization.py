""""Quantization effect by group": the paired comparison of model_comparison.csv for model cards (a table per
variant) and report.html (the change of accuracy per group with its paired interval, as a figure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.evaluation.groups import OVERALL
from harness.reports import numbers
from harness.reports.fairness import CARD_ATTRIBUTES
from harness.rundir import contract

TITLE = "Quantization effect by group"
POINTS = 100.0


def read_comparison(run: Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """model_comparison.csv and its JSON meta, or None for a run without a paired comparison."""
    csv, js = run / contract.MODEL_COMPARISON.csv, run / contract.MODEL_COMPARISON.json
    if not csv.is_file():
        return None
    meta = json.loads(js.read_text(encoding="utf-8")).get("meta", {}) if js.is_file() else {}
    return pd.read_csv(csv, keep_default_na=False, na_values=[""]), meta


def headline_rows(table: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The variant's accuracy (or detection-rate) rows, overall first, then the card's attributes (accent group,
    accent, noise, SNR, gender), worst change first."""
    rows = table[(table["kind"] == "accuracy") & (table["variant"] == variant)]
    metric = "accuracy" if (rows["metric"] == "accuracy").any() else "detection_rate"
    rows = rows[(rows["metric"] == metric) & rows["attribute"].isin([OVERALL[0], *CARD_ATTRIBUTES])]
    overall = rows[rows["attribute"] == OVERALL[0]]
    groups = rows[rows["attribute"] != OVERALL[0]].sort_values(["difference", "attribute", "group"], kind="stable")
    return pd.concat([overall, groups], ignore_index=True)


def _points(value: Any) -> str:
    return "n/a" if numbers.real(value) is None else numbers.significant(float(value) * POINTS, 2)


def card_section(run: Path, model: str, min_group_size: int) -> list[str]:
    """The card's section for a variant (its change against the baseline) or the baseline (a pointer to them)."""
    found = read_comparison(run)
    if found is None:
        return []
    table, meta = found
    baseline = str(meta.get("baseline", table["baseline"].iloc[0] if len(table) else ""))
    lines = [f"### {TITLE}", ""]
    if model == baseline:
        variants = ", ".join(sorted(table["variant"].unique()))
        return lines + [f"This model is the baseline of the paired comparison; see the cards of {variants} and "
                        "[model_comparison.md](../model_comparison.md).", ""]
    if model not in set(table["variant"]):
        return []
    lines += [f"- {a['sentence']}" for a in meta.get("answers", []) if a.get("variant") == model]
    rows = headline_rows(table, model)
    confidence = float(meta.get("confidence", 0.95))
    lines += ["", f"Change against {baseline} on the same clips, in percentage points, with the {confidence:.0%} "
              "speaker-level paired bootstrap interval (source: [model_comparison.csv](../model_comparison.csv)). "
              f"Groups of fewer than {min_group_size} clips are suppressed here.", "",
              f"| attribute | group | clips | {baseline} | {model} | change (points) [interval] | evidence |",
              "|---|---|---:|---:|---:|---|---|"]
    for _, r in rows.iterrows():
        if r["attribute"] != OVERALL[0] and int(r["n"]) < min_group_size:
            continue
        change = f"{_points(r['difference'])} [{_points(r['ci_low'])}, {_points(r['ci_high'])}]"
        lines.append(f"| {r['attribute']} | {r['group']} | {int(r['n'])} | {_points(r['baseline_value'])} % | "
                     f"{_points(r['variant_value'])} % | {change} | "
                     f"{'sufficient' if str(r['sufficient']).lower() == 'true' else 'insufficient'} |")
    return lines + [""]


def change_figure(rows: pd.DataFrame, variant: str, baseline: str) -> Figure:
    """Horizontal bars of the change per group in points with paired-interval error bars, largest loss at the top;
    insufficient groups grey and hatched; zero is a solid line."""
    rows = rows[rows["difference"].notna()].iloc[::-1]
    value = rows["difference"].to_numpy(dtype=float) * POINTS
    low, high = (rows[c].to_numpy(dtype=float) * POINTS for c in ("ci_low", "ci_high"))
    ok = rows["sufficient"].astype(str).str.lower().eq("true").to_numpy()
    fig = Figure(figsize=(6.4, 1.2 + 0.35 * len(rows)))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    ax.barh(y, value, xerr=np.nan_to_num(np.vstack([value - low, high - value])),
            color=np.where(ok, "tab:blue", "lightgrey").tolist(), capsize=3)
    for i in np.flatnonzero(~ok):
        ax.barh(y[i], value[i], color="none", edgecolor="grey", hatch="//")
    ax.axvline(0.0, color="black", linewidth=1)
    labels = [f"{a}: {g} (n={int(n)})" for a, g, n in zip(rows["attribute"], rows["group"], rows["n"], strict=True)]
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"change of {rows['metric'].iloc[0] if len(rows) else 'accuracy'} (points), {variant} - {baseline}")
    ax.set_title("change per group with paired intervals (largest loss at top; grey: insufficient evidence)")
    return fig


def report_section(run: Path) -> list[dict[str, Any]]:
    """report.html's section: per variant its answers and the change figure (all groups: the report is internal)."""
    from harness.reports.html.figures import data_uri

    found = read_comparison(run)
    if found is None:
        return []
    table, meta = found
    confidence = float(meta.get("confidence", 0.95))
    out = []
    for variant in sorted(table.loc[table["kind"] == "accuracy", "variant"].unique()):
        rows = headline_rows(table, variant)
        baseline = str(rows["baseline"].iloc[0]) if len(rows) else str(meta.get("baseline", ""))
        figure = data_uri(change_figure(rows, variant, baseline)) if rows["difference"].notna().any() else None
        out.append({"variant": variant, "baseline": baseline,
                    "answers": [a["sentence"] for a in meta.get("answers", []) if a.get("variant") == variant],
                    "uri": figure,
                    "caption": f"change per group, {variant} - {baseline} on the same clips, with {confidence:.0%} "
                               "speaker-level paired bootstrap intervals (model_comparison.csv)"})
    return out
