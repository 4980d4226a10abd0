"""DET curves (FRR against FA/h over thresholds) per group, and the figures for them and for group rates.

Curves are computed from stored per-step probabilities through ``streaming.StreamingRules``, so every
point obeys the same smoothing, refractory and tolerance rules as the reported operating point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from harness.core.errors import DataError
from harness.evaluation.groups import HIGHER_IS_BETTER, OVERALL, Attribute, group_labels
from harness.evaluation.streaming import StreamingRules, smooth_rows

SWEEP_BATCH = 1 << 21  # (clip, threshold, step) cells swept at once: some tens of MB of working arrays
DET_COLUMNS = [
    "threshold",
    "frr",
    "fa_per_hour",
    "n_positive",
    "n_negative",
    "misses",
    "false_accepts",
    "exposure_h",
]


def sweep(
    probs: Sequence[ArrayLike], clips: pd.DataFrame, rules: StreamingRules, thresholds: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """(true positive, false accepts) per clip (rows) and threshold (columns).

    ``clips`` is aligned with ``probs`` and has ``is_positive``; ``phrase_start_s`` and ``phrase_end_s``
    when it has them (positive clips without timings are counted by the untimed rule, as the scorer counts them).
    """
    if len(probs) != len(clips):
        raise DataError(f"{len(probs)} probability sequences for {len(clips)} clips")
    if "is_positive" not in clips.columns:
        raise DataError("clips lack column is_positive")
    cutoffs = np.asarray(thresholds, dtype=float)
    tp = np.zeros((len(clips), cutoffs.size), dtype=bool)
    fa = np.zeros((len(clips), cutoffs.size), dtype=int)
    positive = clips["is_positive"].to_numpy(dtype=bool)
    nan = np.full(len(clips), np.nan)
    starts = clips["phrase_start_s"].to_numpy(dtype=float) if "phrase_start_s" in clips.columns else nan
    ends = clips["phrase_end_s"].to_numpy(dtype=float) if "phrase_end_s" in clips.columns else nan
    arrays = [np.asarray(p, dtype=float) for p in probs]
    if any(a.ndim != 1 for a in arrays):
        raise DataError("every clip's probabilities must be a 1-D sequence of per-step scores")
    lengths = np.array([a.size for a in arrays], dtype=np.int64)
    for length in np.unique(lengths[lengths > 0]):  # clips of equal length are swept together
        same = np.flatnonzero(lengths == length)
        for rows in np.array_split(same, -(-same.size * cutoffs.size * int(length) // SWEEP_BATCH)):
            smoothed = smooth_rows(np.stack([arrays[i] for i in rows]), rules.window)
            tp[rows], fa[rows] = rules.count_rows(smoothed, cutoffs, positive[rows], starts[rows], ends[rows])
    return tp, fa


def _curve(
    thresholds: np.ndarray, tp: np.ndarray, fa: np.ndarray, positive: np.ndarray, hours: np.ndarray
) -> pd.DataFrame:
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    exposure_h = float(hours[~positive].sum())
    misses = (~tp[positive]).sum(axis=0)
    false_accepts = fa[~positive].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frr = misses / n_pos if n_pos else np.full(thresholds.size, np.nan)
        fa_h = false_accepts / exposure_h if exposure_h > 0 else np.full(thresholds.size, np.nan)
    columns = {
        "threshold": thresholds,
        "frr": frr,
        "fa_per_hour": fa_h,
        "n_positive": n_pos,
        "n_negative": n_neg,
        "misses": misses,
        "false_accepts": false_accepts,
        "exposure_h": exposure_h,
    }
    return pd.DataFrame(columns)  # in DET_COLUMNS order


def det_curves(
    probs: Sequence[ArrayLike],
    clips: pd.DataFrame,
    rules: StreamingRules,
    thresholds: ArrayLike,
    attribute: Attribute | None = None,
) -> dict[str, pd.DataFrame]:
    """DET curve per group of ``attribute`` ({'all': curve} without one).

    FRR counts positive clips without a true positive; FA/h counts false accepts on negative clips per
    hour of negative audio (``duration_s``, else the clip's steps times ``step_s``).
    """
    cutoffs = np.asarray(thresholds, dtype=float)
    tp, fa = sweep(probs, clips, rules, cutoffs)
    return curves_from_sweep(tp, fa, clips, cutoffs, clip_hours(probs, clips, rules), attribute)


def clip_hours(probs: Sequence[ArrayLike], clips: pd.DataFrame, rules: StreamingRules) -> np.ndarray:
    """Each clip's audio in hours: ``duration_s``, else its steps times ``step_s``."""
    if "duration_s" in clips.columns:
        return clips["duration_s"].to_numpy(dtype=float) / 3600.0
    return np.array([np.size(p) * rules.step_s / 3600.0 for p in probs])


def curves_from_sweep(
    tp: np.ndarray,
    fa: np.ndarray,
    clips: pd.DataFrame,
    thresholds: np.ndarray,
    hours: np.ndarray,
    attribute: Attribute | None = None,
) -> dict[str, pd.DataFrame]:
    """DET curve per group from one ``sweep`` (so several attributes share a single sweep)."""
    cutoffs = np.asarray(thresholds, dtype=float)
    positive = clips["is_positive"].to_numpy(dtype=bool)
    if attribute is None:
        return {OVERALL[1]: _curve(cutoffs, tp, fa, positive, hours)}
    _, labels, order = group_labels(clips, attribute)
    codes = labels.to_numpy()
    curves = {}
    for group in order:
        sel = codes == group
        curves[group] = _curve(cutoffs, tp[sel], fa[sel], positive[sel], hours[sel])
    return curves


def det_curve(
    probs: Sequence[ArrayLike], clips: pd.DataFrame, rules: StreamingRules, thresholds: ArrayLike
) -> pd.DataFrame:
    """DET curve over all clips."""
    return det_curves(probs, clips, rules, thresholds)[OVERALL[1]]


def operating_point(curve: pd.DataFrame, cutoff: float) -> dict[str, float]:
    """The curve's point at ``cutoff`` (which must be one of its thresholds)."""
    hit = np.isclose(curve["threshold"].to_numpy(dtype=float), cutoff)
    if not hit.any():
        raise ValueError(f"cutoff {cutoff} is not among the curve's thresholds; include it in the sweep")
    row = curve[hit].iloc[0]
    return {key: float(row[key]) for key in ("threshold", "frr", "fa_per_hour")}


def literal(text: object) -> str:
    """A user string (group, accent) as matplotlib draws it verbatim: ``$`` escaped so no mathtext is parsed,
    and a leading ``_`` kept visible (legends hide labels that start with it)."""
    shown = str(text).replace("$", r"\$")
    return "\u200b" + shown if shown.startswith("_") else shown


def save_png(fig: Figure, path: Path | str) -> Path:
    """The figure as a PNG file at ``path`` (its folder made if needed), as plots/ keeps figures."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_det(curves: Mapping[str, pd.DataFrame], operating_cutoff: float | None, path: Path | str) -> Path:
    """Save ``det_figure`` as a PNG."""
    return save_png(det_figure(curves, operating_cutoff), path)


def det_figure(curves: Mapping[str, pd.DataFrame], operating_cutoff: float | None) -> Figure:
    """FRR against FA/h (log axis) per group; a marker at the operating cutoff. Zero FA/h is drawn at
    half an event per the smallest exposure, since a log axis has no 0."""
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot()
    exposures = [c["exposure_h"].iloc[0] for c in curves.values() if len(c) and c["exposure_h"].iloc[0] > 0]
    floor = 0.5 / max(exposures) if exposures else 1e-3
    for group, curve in curves.items():
        fa_h = np.maximum(curve["fa_per_hour"].to_numpy(dtype=float), floor)
        line = ax.plot(fa_h, 100.0 * curve["frr"].to_numpy(dtype=float), label=literal(group))[0]
        if operating_cutoff is not None and np.isclose(curve["threshold"], operating_cutoff).any():
            point = operating_point(curve, operating_cutoff)
            ax.plot(max(point["fa_per_hour"], floor), 100.0 * point["frr"], "o", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour (0 drawn at {floor:.2g})")
    ax.set_ylabel("false rejection rate (%)")
    title = "DET per group" + (f"; dots: cutoff {operating_cutoff:g}" if operating_cutoff is not None else "")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_group_rates(
    fairness: pd.DataFrame,
    metric: str,
    path: Path | str,
    model: str | None = None,
    attribute: str | None = None,
) -> Path:
    """Save ``group_rates_figure`` as a PNG."""
    return save_png(group_rates_figure(fairness, metric, model=model, attribute=attribute), path)


def group_rates_figure(
    fairness: pd.DataFrame, metric: str, model: str | None = None, attribute: str | None = None
) -> Figure:
    """Horizontal bars of one metric per group with CI error bars, worst group at the top.

    Insufficient groups are grey and hatched; the overall value is a dashed line.
    """
    rows = fairness[fairness["metric"] == metric]
    if model is not None:
        rows = rows[rows["model"] == model]
    if rows["model"].nunique() > 1:
        raise ValueError("several models in the frame; pass model=")
    overall = rows[rows["attribute"] == OVERALL[0]]
    keep = rows["attribute"] != OVERALL[0] if attribute is None else rows["attribute"] == attribute
    rows = rows[keep]
    rows = rows[rows["value"].notna()]
    if rows.empty:
        raise DataError(f"no group values for metric '{metric}'")
    # barh draws the first row at the bottom, so the worst group goes last
    rows = rows.sort_values("value", ascending=metric not in HIGHER_IS_BETTER, kind="stable")
    pairs = zip(rows["attribute"], rows["group"], strict=True)
    labels = [literal(g) if attribute else literal(f"{a}: {g}") for a, g in pairs]
    value = rows["value"].to_numpy(dtype=float)
    low, high = rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float)
    err = np.vstack([value - low, high - value])
    ok = rows["sufficient"].to_numpy(dtype=bool)
    fig = Figure(figsize=(6.4, 1.2 + 0.35 * len(rows)))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    colours = np.where(ok, "tab:blue", "lightgrey").tolist()
    ax.barh(y, value, xerr=np.nan_to_num(err), color=colours, capsize=3)
    for i in np.flatnonzero(~ok):
        ax.barh(y[i], value[i], color="none", edgecolor="grey", hatch="//")
    if not overall.empty:
        ax.axvline(float(overall["value"].iloc[0]), color="black", linestyle="--", label="overall")
        ax.legend(fontsize="small")
    ax.set_yticks(y, [f"{lab} (n={n})" for lab, n in zip(labels, rows["n"], strict=True)])
    ax.set_xlabel(metric)
    ax.set_title(f"{metric} per group (worst at top; grey: insufficient evidence)")
    return fig
