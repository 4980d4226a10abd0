"""compare.md and compare.json: every delta with its interval, significant regressions first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.compare.runs import Comparison
from harness.reports.tables import to_markdown

MD_COLUMNS = {"kind": "kind", "model": "model", "target": "target", "attribute": "attribute", "group": "group",
              "metric": "metric", "a": "A", "b": "B", "delta": "B - A", "ci_low": "CI low", "ci_high": "CI high",
              "verdict": "verdict"}
NOTE = ("A figure regressed (or improved) only when the whole interval of B - A lies beyond the practical "
        "tolerance on the worse (better) side; otherwise it is no change, even when the interval excludes zero "
        "(column `significant` in compare.json). Intervals: latency percentiles by bootstrap of each run's raw "
        "samples; energy by Welch's t over batch means of the power trace; detection rate and accuracy per group "
        "by Newcombe's hybrid score method from the two Wilson intervals at the effective n (clips over the "
        "speaker design effect). Each family (latency, energy, detection) is Bonferroni-corrected: its "
        "intervals are drawn at 1 - alpha/m.")


def tolerance_text(comparison: Comparison) -> str:
    """The practical tolerance in words, for compare.md and the command's output."""
    return (f"tolerance: a change within {comparison.tolerance:.3g} x A's value ({comparison.tolerance:.1%}) for "
            f"latency and energy, or within {comparison.rate_tolerance * 100:.3g} percentage points for a "
            "per-group rate, is no change")


def write_comparison(comparison: Comparison, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    rows = comparison.rows.copy()
    regression, improvement = rows["regression"].astype(bool), rows["improvement"].astype(bool)  # object when empty
    rows["verdict"] = np.select([regression, improvement], ["**REGRESSED**", "improved"], "no change")
    rows = rows.sort_values(["regression", "kind", "model"], ascending=[False, True, True], kind="stable")
    n_reg = int(rows["regression"].astype(bool).sum())
    table = to_markdown(rows.fillna(""), MD_COLUMNS) if len(rows) else \
        "(nothing to compare: the runs share no model/target pair and no group)"
    md = [f"# Compare {comparison.run_a.name} (A) -> {comparison.run_b.name} (B)", "",
          f"{n_reg} regression(s) in {len(rows)} comparisons at {comparison.confidence:g} confidence per family; "
          f"{tolerance_text(comparison)}.", "", NOTE, "", *[f"- note: {n}" for n in comparison.notes], "", table]
    md_path, json_path = out / "compare.md", out / "compare.json"
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    records = json.loads(comparison.rows.to_json(orient="records", double_precision=10))
    json_path.write_text(json.dumps({"run_a": str(comparison.run_a), "run_b": str(comparison.run_b),
                                     "confidence": comparison.confidence, "correction": "bonferroni per family",
                                     "tolerance": comparison.tolerance,
                                     "rate_tolerance": comparison.rate_tolerance,
                                     "rule": tolerance_text(comparison), "notes": list(comparison.notes),
                                     "regressions": n_reg, "rows": records}, indent=2) + "\n", encoding="utf-8")
    return [md_path, json_path]
