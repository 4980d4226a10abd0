"""Confusion matrices of multi-class keyword spotters: which word each clip was taken for."""

from __future__ import annotations

import pandas as pd

from harness.registry.models import ModelEntry
from harness.reports.tables import to_markdown

COLUMNS = ["model", "expected", "predicted", "n"]


def confusion_long(predictions: pd.DataFrame, entries: dict[str, ModelEntry]) -> pd.DataFrame:
    """One row per (model, expected class, predicted class) with its clip count, classes in label order.

    Every pair of the model's labels appears, zeros included, so tables of two runs line up for a diff.
    """
    frames = []
    for name, entry in entries.items():
        rows = predictions[predictions["model"] == name]
        if not entry.labels or rows.empty or "expected" not in rows.columns:
            continue
        labels = list(entry.labels)
        counts = pd.crosstab(pd.Categorical(rows["expected"], labels), pd.Categorical(rows["predicted_label"], labels),
                             dropna=False)
        long = counts.stack().rename("n").reset_index()
        long.columns = ["expected", "predicted", "n"]
        long.insert(0, "model", name)
        frames.append(long)
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS].astype({"n": int})


def confusion_markdown(long: pd.DataFrame, corpus_name: str) -> str:
    """A matrix per model: rows are the expected class, columns the predicted one, with per-row recall."""
    parts = [f"# Confusion matrices on corpus '{corpus_name}'", ""]
    for model, rows in long.groupby("model", sort=False):
        order = list(dict.fromkeys(rows["expected"]))
        matrix = rows.pivot(index="expected", columns="predicted", values="n").reindex(index=order, columns=order)
        totals = matrix.sum(axis=1)
        diagonal = pd.Series([matrix.at[c, c] for c in order], index=order)
        table = matrix.reset_index().rename(columns={"expected": "expected \\ predicted"})
        table["n"] = totals.to_numpy()
        table["recall"] = (diagonal / totals.where(totals > 0)).to_numpy()
        parts += [f"## {model}", "", to_markdown(table)]
    return "\n".join(parts)
