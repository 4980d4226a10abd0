"""The fairness-accuracy trade-off of a wake-word model across decision thresholds.

For each threshold: the overall false rejection rate against the gap between the worst and the best group's
FRR. Every point comes from one sweep of the stored per-step scores through the model's own counting rules
(``harness.evaluation.det``), so the point at the model's cutoff is exactly the operating point in fairness.csv.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.evaluation.det import DET_COLUMNS, curves_from_sweep, sweep
from harness.evaluation.streaming import StreamingRules
from harness.reports.fairness import DET_THRESHOLDS, readable_groups

# The DET thresholds plus the low end, where a lenient cutoff trades false accepts for a smaller group gap.
SWEEP = np.array([0.01, 0.02, 0.03])
TRADEOFF_COLUMNS = ["threshold", "frr", "fa_per_hour", "worst_group", "worst_frr", "best_group", "best_frr", "gap",
                    "n_groups"]


@dataclass(frozen=True)
class ModelSweep:
    """One model's DET curves per group for several attributes, from a single sweep."""

    model: str
    cutoff: float | None
    curves: dict[str, dict[str, pd.DataFrame]]


def sweep_model(model: str, predictions: pd.DataFrame, scores: pd.DataFrame, rules: StreamingRules,
                attributes: list[str]) -> ModelSweep:
    """Sweep the model's clips once over ``SWEEP``, the DET thresholds and its cutoff; curves per attribute."""
    clips = readable_groups(predictions[predictions["model"] == model]).reset_index(drop=True)
    per_step = scores[scores["model"] == model].set_index("clip_id")["scores"]
    probs = per_step.loc[clips["clip_id"]].tolist()
    thresholds = np.unique(np.concatenate([SWEEP, DET_THRESHOLDS, [rules.cutoff]]))
    tp, fa = sweep(probs, clips, rules, thresholds)
    hours = clips["duration_s"].to_numpy(dtype=float) / 3600.0
    curves = {a: curves_from_sweep(tp, fa, clips, thresholds, hours, a) for a in attributes if a in clips.columns}
    return ModelSweep(model, rules.cutoff, curves)


def tradeoff(curves: dict[str, pd.DataFrame], min_positives: int) -> pd.DataFrame:
    """Per threshold: overall FRR and FA/h (pooled over the groups), and the worst-best FRR gap among groups
    with at least ``min_positives`` positive clips."""
    if not curves:
        return pd.DataFrame(columns=TRADEOFF_COLUMNS)
    stacked = pd.concat([c.assign(group=g) for g, c in curves.items()], ignore_index=True)[[*DET_COLUMNS, "group"]]
    pooled = stacked.groupby("threshold").agg(misses=("misses", "sum"), n_positive=("n_positive", "sum"),
                                              false_accepts=("false_accepts", "sum"))
    exposure = sum(float(c["exposure_h"].iloc[0]) for c in curves.values() if len(c))
    eligible = stacked[stacked["n_positive"] >= min_positives]
    rows = []
    for threshold, part in eligible.groupby("threshold"):
        frr, groups = part["frr"].to_numpy(dtype=float), part["group"].to_numpy()
        worst, best = int(np.nanargmax(frr)), int(np.nanargmin(frr))  # the first of equals, as idxmax takes
        rows.append({"threshold": threshold, "worst_group": groups[worst], "worst_frr": float(frr[worst]),
                     "best_group": groups[best], "best_frr": float(frr[best]),
                     "gap": float(frr[worst] - frr[best]), "n_groups": len(part)})
    out = pd.DataFrame(rows, columns=[c for c in TRADEOFF_COLUMNS if c not in ("frr", "fa_per_hour")])
    out = out.merge(pooled.reset_index(), on="threshold", how="right")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["frr"] = out["misses"] / out["n_positive"]
        out["fa_per_hour"] = out["false_accepts"] / exposure if exposure > 0 else np.nan
    return out[TRADEOFF_COLUMNS].sort_values("threshold", ignore_index=True)
