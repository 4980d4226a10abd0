"""Write one DataFrame as CSV, Markdown and JSON: easy to diff, cite and load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.files import write_atomic


def format_cell(value: Any) -> str:
    """One value as the Markdown tables show it (n/a for missing, yes/**no** for booleans, 4 significant digits)."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "**no**"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "n/a"
        if value == 0:
            return "0"
        magnitude = abs(value)
        if magnitude >= 1e5 or magnitude < 1e-3:
            return f"{value:.3g}"
        return f"{value:,.4g}" if magnitude >= 1000 else f"{value:.4g}"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    return str(value)


def to_markdown(df: pd.DataFrame, columns: dict[str, str] | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``columns`` maps column -> header and selects the order."""
    columns = columns or {c: c for c in df.columns}
    header = "| " + " | ".join(columns.values()) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) and df[c].dtype != bool else "---"
                          for c in columns) + "|"
    body = ["| " + " | ".join(format_cell(row[c]) for c in columns) + " |" for _, row in df.iterrows()]
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
