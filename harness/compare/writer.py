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
NOTE = ("A difference is significant when its interval excludes zero. Intervals: latency percentiles by bootstrap "
        "of each run's raw samples; energy by Welch's t over batch means of the power trace; detection rate and "
        "accuracy per group by Newcombe's hybrid score method from the two Wilson intervals. Each family "
        "(latency, energy, detection) is Bonferroni-corrected: its intervals are drawn at 1 - alpha/m.")


def write_comparison(comparison: Comparison, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    rows = comparison.rows.copy()
    regression, improvement = rows["regression"].astype(bool), rows["improvement"].astype(bool)  # object when empty
    rows["verdict"] = np.select([regression, improvement], ["**REGRESSION**", "improved"], "no significant change")
    rows = rows.sort_values(["regression", "kind", "model"], ascending=[False, True, True], kind="stable")
    n_reg = int(rows["regression"].astype(bool).sum())
    tolerated = f", tolerating a {comparison.tolerance:.0%} rise in latency and energy" if comparison.tolerance else ""
    table = to_markdown(rows.fillna(""), MD_COLUMNS) if len(rows) else \
        "(nothing to compare: the runs share no model/target pair and no group)"
    md = [f"# Compare {comparison.run_a.name} (A) -> {comparison.run_b.name} (B)", "",
          f"{n_reg} significant regression(s) in {len(rows)} comparisons at {comparison.confidence:g} confidence "
          f"per family{tolerated}.", "", NOTE, "", *[f"- note: {n}" for n in comparison.notes], "", table]
    md_path, json_path = out / "compare.md", out / "compare.json"
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    records = json.loads(comparison.rows.to_json(orient="records", double_precision=10))
    json_path.write_text(json.dumps({"run_a": str(comparison.run_a), "run_b": str(comparison.run_b),
                                     "confidence": comparison.confidence, "correction": "bonferroni per family",
                                     "tolerance": comparison.tolerance, "notes": list(comparison.notes),
                                     "regressions": n_reg, "rows": records}, indent=2) + "\n", encoding="utf-8")
    return [md_path, json_path]
