"""Write one DataFrame as CSV, Markdown and JSON: easy to diff, cite and load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.files import write_atomic
from harness.reports import numbers


def format_cell(value: Any, column: str | None = None) -> str:
    """One value as the Markdown tables show it (n/a for missing, yes/**no** for booleans, 4 significant digits,
    thousands separators, byte columns in KiB/MiB; harness.reports.numbers)."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "**no**"
    if column is not None and column.endswith("_bytes") and numbers.real(value) is not None:
        return numbers.binary_bytes(value)
    return numbers.plain(value)


def format_row_cell(row: pd.Series, column: str) -> str:
    """A row's cell; with finite, distinct ``<column>_low`` / ``_high`` siblings it is "value [low, high]" to the
    precision the interval's width supports (predictions carry their interval, measurements none)."""
    low, high = row.get(f"{column}_low"), row.get(f"{column}_high")
    if numbers.real(low) is not None and numbers.real(high) is not None and numbers.real(row[column]) is not None:
        return numbers.with_interval(row[column], low, high)
    return format_cell(row[column], column)


def to_markdown(df: pd.DataFrame, columns: dict[str, str] | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``columns`` maps column -> header and selects the order."""
    columns = columns or {c: c for c in df.columns}
    header = "| " + " | ".join(columns.values()) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) and df[c].dtype != bool else "---"
                          for c in columns) + "|"
    body = ["| " + " | ".join(format_row_cell(row, c) for c in columns) + " |" for _, row in df.iterrows()]
    return "\n".join([header, rule, *body]) + "\n"


def write_table(
    df: pd.DataFrame,
    directory: Path,
    stem: str,
    *,
    title: str = "",
    notes: list[str] | None = None,
    md_columns: dict[str, str] | None = None,
    markdown: str | None = None,
    meta: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``stem``.csv (all columns), ``stem``.md and ``stem``.json (records + meta).

    The Markdown is ``markdown`` when given, else the table titled ``title`` with ``notes`` below it.
    """
    csv_path, md_path, json_path = (directory / f"{stem}.{ext}" for ext in ("csv", "md", "json"))
    write_atomic(csv_path, df.to_csv(index=False, float_format="%.10g"))
    if markdown is None:
        markdown = "\n".join([f"# {title}", "", to_markdown(df, md_columns), *[f"- {n}" for n in notes or []]])
    write_atomic(md_path, markdown.rstrip("\n") + "\n")
    records = json.loads(df.to_json(orient="records", double_precision=10))
    write_atomic(json_path, json.dumps({"meta": meta or {}, "rows": records}, indent=2) + "\n")
    return [csv_path, md_path, json_path]
