"""The documents of a run: public model cards and the internal HTML report, written from its tables."""

from __future__ import annotations

from pathlib import Path

from harness.reports.html.report import write_report
from harness.reports.model_card import DEFAULT_MIN_GROUP_SIZE, write_model_cards


def write_documents(run_dir: Path, *, min_group_size: int = DEFAULT_MIN_GROUP_SIZE) -> list[Path]:
    """Write model_cards/<model>.md|.json and report.html into ``run_dir``; return every path written.

    Groups measured on fewer than ``min_group_size`` clips are left out of the cards and kept in the report.
    """
    return [*write_model_cards(run_dir, min_group_size=min_group_size),
            write_report(run_dir, min_group_size=min_group_size)]
