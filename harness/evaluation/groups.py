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
    if len(columns) == 1:  # the values as the column holds them, as a one-column row holds them too
        label_of = {int(code): _format(value) for code, value in zip(keys["_code"], keys[columns[0]].tolist(),
                                                                         strict=True)}
    else:  # a row of several columns shares one type (an int beside a float becomes a float): keep that
        label_of = {int(row["_code"]): JOIN.join(_format(row[c]) for c in columns) for _, row in keys.iterrows()}
    labels = codes.map(label_of)
    return name, labels, [label_of[c] for c in sorted(label_of)]


def labels_within(labelled: tuple[str, pd.Series, list[str]], index: pd.Index) -> tuple[str, pd.Series, list[str]]:
    """``group_labels`` of the rows ``index`` of the frame ``labelled`` was computed on, without recomputing it: the
    same labels, and the groups that occur there in the same order (that of the sorted group values)."""
    name, labels, order = labelled
    part = labels.loc[index]
    seen = set(part.unique())
    return name, part, [label for label in order if label in seen]


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


def _cell_sums(cell: np.ndarray, columns: dict[str, np.ndarray], size: int) -> pd.DataFrame:
    """Sums of ``columns`` per cell 0..size-1 (0 for a cell without rows), added in row order as a per-group
    pandas sum adds them, so every total is that sum bit for bit."""
    sums = pd.DataFrame({"cell": cell, **columns}).groupby("cell", sort=False).sum()
    return sums.reindex(np.arange(size), fill_value=0)


def _speaker_spread(cell: np.ndarray, speaker: np.ndarray, k: np.ndarray, e: np.ndarray, size: int) -> pd.DataFrame:
    """Per cell (a metric's group, 0..size-1): k, e, the squared spread of its speakers' sums around the cell's
    rate and how many speakers have exposure, for ``intervals.design_effect``; speakers in order of appearance,
    clips without a speaker (code -1) left out as pandas leaves out a missing key."""
    known = speaker >= 0
    span = int(speaker.max()) + 1 if speaker.size else 1
    spk = pd.DataFrame({"key": cell[known] * span + speaker[known], "k": k[known], "e": e[known]})
    spk = spk.groupby("key", sort=False).sum().reset_index()
    spk["cell"] = spk["key"].to_numpy() // span
    totals = spk.groupby("cell", sort=False)[["k", "e"]].transform("sum")
    with np.errstate(divide="ignore", invalid="ignore"):
        spk = spk.assign(spread=(spk["k"] - totals["k"] / totals["e"] * spk["e"]) ** 2,
                         clusters=(spk["e"] > 0).astype(int))
    return _cell_sums(spk["cell"].to_numpy(), {c: spk[c].to_numpy() for c in ("k", "e", "spread", "clusters")}, size)


def _distinct(cell: np.ndarray, codes: np.ndarray, size: int) -> np.ndarray:
    """How many distinct non-negative codes each cell 0..size-1 holds."""
    known = codes >= 0
    span = int(codes.max()) + 1 if codes.size else 1
    pairs = np.unique(cell[known] * span + codes[known])
    return np.bincount(pairs // span, minlength=size)


def _one_attribute(
    inputs: list[MetricInputs],
    labels: pd.Series,
    order: list[str],
    speakers: tuple[np.ndarray, np.ndarray],
    confidence: float,
    interval: str,
) -> dict[str, np.ndarray]:
    """Every metric's rows for one attribute's groups (metric-major, groups in ``order``), as columns.

    The clips are stacked once per metric and each sum is one grouped pass over every (metric, group) cell:
    clips outside a metric's population add 0 to its group sums and are left out of its speaker sums.
    ``speakers``: per clip, the speaker's code as written (-1 when missing) and as text.
    """
    distinct = list(dict.fromkeys(order))  # two values may print alike; both rows then show the label's clips
    n_metrics, n_groups = len(inputs), len(distinct)
    size = n_metrics * n_groups
    group = pd.Index(distinct).get_indexer(labels)
    cell = (np.arange(n_metrics)[:, None] * n_groups + group[None, :]).ravel()
    mask = np.concatenate([mi.mask for mi in inputs])
    k = np.concatenate([np.where(mi.mask, mi.k, 0.0) for mi in inputs])
    e = np.concatenate([np.where(mi.mask, mi.e, 0.0) for mi in inputs])
    sums = _cell_sums(cell, {"n": mask.astype(int), "k": k, "e": e}, size)
    as_written, as_text = (np.tile(codes, n_metrics)[mask] for codes in speakers)
    spread = _speaker_spread(cell[mask], as_text, k[mask], e[mask], size)
    n_speakers = _distinct(cell[mask], as_written, size)
    rows = (np.arange(n_metrics)[:, None] * n_groups + pd.Index(distinct).get_indexer(order)[None, :]).ravel()
    sums, spread, n_speakers = sums.iloc[rows], spread.iloc[rows], n_speakers[rows]
    n, k_sum, e_sum = (sums[c].to_numpy(dtype=float) for c in ("n", "k", "e"))
    columns: dict[str, list[np.ndarray]] = {c: [] for c in ("design_effect", "value", "ci_low", "ci_high",
                                                           "exposure_h")}
    for j, mi in enumerate(inputs):
        part = slice(j * len(order), (j + 1) * len(order))
        g = spread.iloc[part]
        deff = np.asarray(design_effect(g["k"], g["e"], g["spread"], g["clusters"], mi.poisson), dtype=float)
        exposure_h = e_sum[part] if mi.poisson else np.full(len(order), np.nan)
        value, low, high = _intervals(mi.metric, k_sum[part], n[part], exposure_h, deff, confidence, interval)
        for column, values in zip(columns, (deff, value, low, high, exposure_h), strict=True):
            columns[column].append(values)
    out = {c: np.concatenate(v) for c, v in columns.items()}
    return {
        "group": np.tile(np.asarray(order, dtype=object), n_metrics),
        "n": n.astype(int),
        "n_speakers": n_speakers,
        "n_eff": n / out["design_effect"],
        "metric": np.repeat(np.asarray([mi.metric for mi in inputs], dtype=object), len(order)),
        "k": k_sum,
        **out,
    }


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
    df = df.reset_index(drop=True)  # a unique index, by which each model takes its rows' labels
    parts: list[dict[str, np.ndarray]] = []
    labelled = [group_labels(df, attribute) for attribute in attributes]
    for model, frame in df.groupby("model", sort=True):
        inputs = metric_inputs(frame, task)
        speakers = (pd.factorize(frame["speaker"])[0], pd.factorize(frame["speaker"].astype(str))[0])
        overall = pd.Series(OVERALL[1], index=frame.index)
        blocks = [(OVERALL[0], overall, [OVERALL[1]])]
        blocks += [labels_within(block, frame.index) for block in labelled]
        for name, labels, order in blocks:
            part = _one_attribute(inputs, labels, order, speakers, confidence, interval)
            rows = len(part["group"])
            parts.append({"model": np.full(rows, model, dtype=object), "attribute": np.full(rows, name, dtype=object),
                          **part})
    if not parts:
        return pd.DataFrame(columns=LONG_COLUMNS)
    out = pd.DataFrame({column: np.concatenate([part[column] for part in parts]) for column in parts[0]})
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
