"""Disaggregated metrics per group, shaped like fairlearn's MetricFrame, in fairness.csv's long format.

Each metric is a sum over clips: clip i contributes ``k_i`` to the numerator and ``e_i`` to the exposure
(1 for a proportion, hours of audio for a Poisson rate) when it belongs to the metric's population (the
mask). Group totals, intervals and the speaker bootstrap in ``disparity`` all start from these arrays.
Clips of one speaker are correlated, so every interval is drawn at the effective sample size n / deff, with
the design effect deff from the spread of the speakers' own rates (``intervals.design_effect``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from harness.core.errors import DataError
from harness.evaluation.intervals import clopper_pearson, design_effect, poisson_rate, wilson

Task = Literal["wake_word", "kws"]
Attribute = str | tuple[str, ...]

OVERALL = ("overall", "all")
MISSING = "<missing>"
JOIN = "&"
WAKE_WORD_METRICS = ("detection_rate", "frr", "fa_per_hour", "fpr")
KWS_METRICS = ("accuracy", "keyword_fpr")
HIGHER_IS_BETTER = frozenset({"detection_rate", "accuracy"})
POISSON_METRICS = frozenset({"fa_per_hour"})
LONG_COLUMNS = [
    "model",
    "attribute",
    "group",
    "n",
    "n_speakers",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "k",
    "exposure_h",
    "sufficient",
    "n_eff",
    "design_effect",
]

_REQUIRED = {
    "wake_word": ("is_positive", "detected", "false_accepts", "duration_s"),
    "kws": ("correct", "is_keyword", "predicted_keyword"),
}


@dataclass(frozen=True)
class MetricInputs:
    """Per-clip contributions to one metric: population mask, numerator k, exposure e."""

    metric: str
    mask: np.ndarray
    k: np.ndarray
    e: np.ndarray

    @property
    def poisson(self) -> bool:
        return self.metric in POISSON_METRICS


def error_of(metric: str, value: float | np.ndarray) -> float | np.ndarray:
    """The error a metric's value stands for: 1 - rate for detection rate and accuracy."""
    return 1.0 - value if metric in HIGHER_IS_BETTER else value


def _flags(df: pd.DataFrame, column: str) -> np.ndarray:
    col = df[column]
    if col.isna().any():
        raise DataError(f"predictions column '{column}' has missing values")
    if not (pd.api.types.is_bool_dtype(col) or pd.api.types.is_integer_dtype(col)):
        raise DataError(f"predictions column '{column}' must be boolean, got {col.dtype}")
    return col.to_numpy().astype(bool)


def _numbers(df: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    if np.isnan(values).any() or (values < 0).any():
        raise DataError(f"predictions column '{column}' must be non-negative numbers without gaps")
    return values


def check_columns(df: pd.DataFrame, task: Task, attributes: Sequence[Attribute] = ()) -> None:
    """Raise DataError naming every column the task and attributes need but the frame lacks."""
    if task not in _REQUIRED:
        raise ValueError(f"task must be one of {sorted(_REQUIRED)}, got {task!r}")
    needed = ["model", "clip_id", "speaker", *_REQUIRED[task]]
    for attribute in attributes:
        needed.extend(attribute_columns(attribute, df.columns))
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise DataError(
            f"predictions lack column(s) {', '.join(missing)}",
            hint=f"a {task} predictions frame needs {', '.join(dict.fromkeys(needed))}",
        )


def metric_inputs(df: pd.DataFrame, task: Task) -> list[MetricInputs]:
    """Per-clip contributions for every metric of the task, in the order of the task's metric list."""
    check_columns(df, task)
    ones = np.ones(len(df))
    if task == "wake_word":
        positive = _flags(df, "is_positive")
        detected = _flags(df, "detected")
        false_accepts = _numbers(df, "false_accepts")
        hours = _numbers(df, "duration_s") / 3600.0
        negative = ~positive
        return [
            MetricInputs("detection_rate", positive, detected.astype(float), ones),
            MetricInputs("frr", positive, (~detected).astype(float), ones),
            MetricInputs("fa_per_hour", negative, false_accepts, hours),
            MetricInputs("fpr", negative, (false_accepts > 0).astype(float), ones),
        ]
    correct = _flags(df, "correct")
    keyword = _flags(df, "is_keyword")
    predicted_keyword = _flags(df, "predicted_keyword")
    return [
        MetricInputs("accuracy", np.ones(len(df), dtype=bool), correct.astype(float), ones),
        MetricInputs("keyword_fpr", ~keyword, predicted_keyword.astype(float), ones),
    ]


def attribute_columns(attribute: Attribute, columns: Sequence[str] | pd.Index = ()) -> tuple[str, ...]:
    """The group columns an attribute names: a tuple, or a string joined by '&' that is not a column."""
    if isinstance(attribute, tuple):
        return attribute
    if JOIN in attribute and attribute not in columns:
        return tuple(attribute.split(JOIN))
    return (attribute,)


def _format(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return MISSING
    if isinstance(value, float | np.floating):
        return f"{value:g}"
    return str(value)


def group_labels(df: pd.DataFrame, attribute: Attribute) -> tuple[str, pd.Series, list[str]]:
    """(attribute name, per-clip group label, group labels in sorted order) for one attribute."""
    columns = attribute_columns(attribute, df.columns)
    name = JOIN.join(columns)
    if len(df) == 0:
        return name, pd.Series([], index=df.index, dtype=object), []
    codes = df.groupby(list(columns), dropna=False, sort=True).ngroup()
    keys = df[list(columns)].drop_duplicates().assign(_code=codes).sort_values("_code")
    label_of = {int(row["_code"]): JOIN.join(_format(row[c]) for c in columns) for _, row in keys.iterrows()}
    labels = codes.map(label_of)
    return name, labels, [label_of[c] for c in sorted(label_of)]


def _intervals(
    metric: str, k: np.ndarray, n: np.ndarray, exposure_h: np.ndarray, deff: np.ndarray, confidence: float,
    interval: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point values from the raw counts; intervals from the counts and exposure divided by the design effect."""
    scale = np.where(np.isnan(deff), 1.0, deff)
    if metric in POISSON_METRICS:
        rate, _, _ = poisson_rate(k, exposure_h, confidence)
        _, low, high = poisson_rate(k / scale, exposure_h / scale, confidence)
        return np.asarray(rate), np.asarray(low), np.asarray(high)
    method = {"wilson": wilson, "clopper_pearson": clopper_pearson}[interval]
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    low, high = method(k / scale, n / scale, confidence)
    return value, np.asarray(low), np.asarray(high)


def _design_effects(per_clip: pd.DataFrame, order: list[str], poisson: bool) -> np.ndarray:
    """One design effect per group in ``order`` from its speakers' sums (NaN for a group without clips)."""
    population = per_clip[per_clip["n"] > 0]
    spk = population.groupby(["group", "speaker"], sort=False)[["k", "e"]].sum().reset_index()
    totals = spk.groupby("group", sort=False)[["k", "e"]].transform("sum")
    with np.errstate(divide="ignore", invalid="ignore"):
        spk = spk.assign(spread=(spk["k"] - totals["k"] / totals["e"] * spk["e"]) ** 2,
                         cluster=(spk["e"] > 0).astype(int))
    g = spk.groupby("group", sort=False).agg(k=("k", "sum"), e=("e", "sum"), spread=("spread", "sum"),
                                             clusters=("cluster", "sum")).reindex(order, fill_value=0)
    return np.asarray(design_effect(g["k"], g["e"], g["spread"], g["clusters"], poisson), dtype=float)


def _one_attribute(
    frame: pd.DataFrame,
    inputs: list[MetricInputs],
    name: str,
    labels: pd.Series,
    order: list[str],
    confidence: float,
    interval: str,
) -> list[pd.DataFrame]:
    parts = []
    for mi in inputs:
        per_clip = pd.DataFrame(
            {
                "group": labels.to_numpy(),
                "n": mi.mask.astype(int),
                "k": np.where(mi.mask, mi.k, 0.0),
                "e": np.where(mi.mask, mi.e, 0.0),
                "speaker": frame["speaker"].where(mi.mask).to_numpy(),
            }
        )
        deff = _design_effects(per_clip.assign(speaker=frame["speaker"].astype(str).to_numpy()), order, mi.poisson)
        sums = per_clip.groupby("group", sort=False).agg(
            n=("n", "sum"), k=("k", "sum"), e=("e", "sum"), n_speakers=("speaker", "nunique")
        )
        sums = sums.reindex(order, fill_value=0)
        n, k, e = (sums[c].to_numpy(dtype=float) for c in ("n", "k", "e"))
        exposure_h = e if mi.poisson else np.full(len(order), np.nan)
        value, low, high = _intervals(mi.metric, k, n, exposure_h, deff, confidence, interval)
        parts.append(
            pd.DataFrame(
                {
                    "attribute": name,
                    "group": order,
                    "n": n.astype(int),
                    "n_speakers": sums["n_speakers"].to_numpy(dtype=int),
                    "n_eff": n / deff,
                    "design_effect": deff,
                    "metric": mi.metric,
                    "value": value,
                    "ci_low": low,
                    "ci_high": high,
                    "k": k,
                    "exposure_h": exposure_h,
                }
            )
        )
    return parts


def disaggregate(
    df: pd.DataFrame,
    attributes: Sequence[Attribute],
    task: Task,
    confidence: float = 0.95,
    min_clips: int = 30,
    min_speakers: int = 5,
    min_exposure_h: float = 0.0,
    interval: Literal["wilson", "clopper_pearson"] = "wilson",
) -> pd.DataFrame:
    """Overall and per-group metrics with intervals, one row per (model, attribute, group, metric).

    ``n``/``n_speakers`` count the metric's own population (positives for detection rate, negatives for
    false accepts); ``design_effect`` is its speaker-clustering design effect and ``n_eff = n / design_effect``
    the effective number of clips the interval is drawn at. A row is ``sufficient`` only with at least
    ``min_clips`` clips, ``min_speakers`` speakers and, for FA/h, ``min_exposure_h`` hours of negative audio.
    """
    check_columns(df, task, attributes)
    if interval not in ("wilson", "clopper_pearson"):
        raise ValueError(f"interval must be 'wilson' or 'clopper_pearson', got {interval!r}")
    parts: list[pd.DataFrame] = []
    for model, frame in df.groupby("model", sort=True):
        inputs = metric_inputs(frame, task)
        overall = pd.Series(OVERALL[1], index=frame.index)
        blocks = [(OVERALL[0], overall, [OVERALL[1]])]
        blocks += [group_labels(frame, attribute) for attribute in attributes]
        for name, labels, order in blocks:
            for part in _one_attribute(frame, inputs, name, labels, order, confidence, interval):
                parts.append(part.assign(model=model))
    if not parts:
        return pd.DataFrame(columns=LONG_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    enough_exposure = out["exposure_h"].isna() | (out["exposure_h"] >= min_exposure_h)
    enough_clips = (out["n"] > 0) & (out["n"] >= min_clips) & (out["n_speakers"] >= min_speakers)
    out["sufficient"] = enough_clips & enough_exposure & out["value"].notna()
    return out[LONG_COLUMNS]


def by_group(long: pd.DataFrame, attribute: str, metric: str, model: str | None = None) -> pd.DataFrame:
    """One metric of one attribute from ``disaggregate``'s output, indexed by group."""
    rows = long[(long["attribute"] == attribute) & (long["metric"] == metric)]
    models = rows["model"].unique()
    if model is None and len(models) > 1:
        raise ValueError(f"several models in the frame ({', '.join(map(str, models))}); pass model=")
    if model is not None:
        rows = rows[rows["model"] == model]
    columns = ["n", "n_speakers", "n_eff", "value", "ci_low", "ci_high", "sufficient"]
    return rows.set_index("group")[columns]
