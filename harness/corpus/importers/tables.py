"""Reading source tables (TSV, CSV, Parquet) row by row with line numbers, and normalising their text."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.errors import DataError
from harness.corpus.importers.report import ImportReport


@dataclass
class Table:
    """A source table: its file, its columns, and its well-formed rows as (line, values)."""

    path: Path
    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]]


def missing_column(path: Path, column: str, found: Iterable[str], why: str = "") -> DataError:
    """The error for a required column a table lacks: names the file, the column, and what was found."""
    found_text = ", ".join(found) or "(none)"
    return DataError(f"{path}: required column '{column}' is missing{why}; columns found: {found_text}")


def require(table: Table, columns: Iterable[str], why: str = "") -> None:
    for column in columns:
        if column not in table.columns:
            raise missing_column(table.path, column, table.columns, why)


def read_delimited(
    path: Path, report: ImportReport, source: str, *, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL
) -> Table:
    """All rows of a CSV/TSV; a row with the wrong number of fields is counted as read and skipped."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
            header = [name.strip() for name in next(reader, [])]
            if not header:
                raise DataError(f"{path}: empty file, expected a header line")
            rows = []
            for values in reader:
                if not values or values == [""]:
                    continue
                line = reader.line_num
                if len(values) != len(header):
                    report.rows_read += 1
                    raw = delimiter.join(values)
                    reason = f"malformed row ({len(values)} fields, header has {len(header)})"
                    report.skip(source, line, raw if len(raw) <= 80 else raw[:77] + "...", reason)
                    continue
                rows.append((line, dict(zip(header, values, strict=True))))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable {'TSV' if delimiter == chr(9) else 'CSV'} ({exc})") from exc
    return Table(path, header, rows)


def read_frame(path: Path, text_columns: Iterable[str] = ()) -> Table:
    """A CSV, TSV or Parquet table through pandas: types inferred, ``text_columns`` kept as text.

    Row numbers are CSV lines (header = line 1, no multi-line fields) or, for Parquet, 1-based rows.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            df, first = pd.read_parquet(path), 1
        else:
            sep = "\t" if suffix == ".tsv" else ","
            header = pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8-sig").columns
            dtypes = {c: str for c in header if str(c).strip() in set(text_columns)}
            df, first = pd.read_csv(path, sep=sep, dtype=dtypes, encoding="utf-8-sig"), 2
    except Exception as exc:  # pandas and pyarrow raise many unrelated types for an unreadable table
        raise DataError(
            f"{path}: not a readable {suffix.lstrip('.').upper() or 'table'} file ({exc})"
        ) from exc
    df.columns = [str(c).strip() for c in df.columns]
    records = df.astype(object).where(df.notna(), None).to_dict("records")
    return Table(path, list(df.columns), [(i + first, row) for i, row in enumerate(records)])


def blank(value: Any) -> bool:
    """True for None, NaN and empty or whitespace-only strings."""
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and not value.strip()


def first_blank(values: dict[str, Any]) -> str | None:
    """``'empty <name>'`` for the first blank value (in order), or None when all are filled."""
    return next((f"empty {name}" for name, value in values.items() if blank(value)), None)


def text(value: Any) -> str | None:
    """A cell as text with whitespace runs collapsed; None when blank."""
    return None if blank(value) else " ".join(str(value).split())


_NOT_WORD = re.compile(r"[^\w\s'-]+")


def normalise_sentence(sentence: str) -> str:
    """Lower-case, NFKC, punctuation other than in-word apostrophes and hyphens removed, single spaces."""
    folded = unicodedata.normalize("NFKC", sentence).casefold().replace("\u2019", "'")
    words = _NOT_WORD.sub(" ", folded).split()
    return " ".join(w.strip("'-") for w in words if w.strip("'-"))
