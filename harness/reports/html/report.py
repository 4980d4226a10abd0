"""``report.html``: one self-contained page per run (verdict, efficiency, latency, power, accuracy per group, DET,
trade-off), figures embedded as base64 PNG and no reference to anything outside the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from harness import __version__
from harness.reports.figure_pool import Drawings
from harness.reports.html.fairness import model_section
from harness.reports.html.sections import (
    carbon_section,
    efficiency_matrix,
    fairness_gaps,
    latency_figures,
    power_figures,
    signoff_section,
)
from harness.reports.model_card import DEFAULT_MIN_GROUP_SIZE, registry_entries
from harness.reports.quantization import TITLE, report_section
from harness.reports.run_tables import RunTables
from harness.rundir.directory import RunDirectory

TEMPLATE = "report.html.j2"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("harness.reports.html", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def _raw(tables: RunTables, name: str) -> pd.DataFrame | None:
    path = tables.path / "raw" / name
    return pd.read_parquet(path) if path.is_file() else None


def page(tables: RunTables, min_group_size: int) -> dict[str, Any]:
    """Everything the template shows, as plain data; a section a run has no data for is None or empty. The figures
    are drawn as one batch (in worker processes when there are many) while the sections are worked out."""
    with Drawings() as drawings:
        return drawings.fill(_sections(tables, min_group_size, drawings))


def _sections(tables: RunTables, min_group_size: int, drawings: Drawings) -> dict[str, Any]:
    manifest = tables.manifest
    predictions, scores = _raw(tables, "predictions.parquet"), _raw(tables, "scores.parquet")
    entries = registry_entries(tables.model_names)
    evaluated = [m for m in tables.model_names if not tables.fairness_of(m).empty]
    power, flat_power = power_figures(tables, drawings)  # the slowest figures first
    latency, flat_latency = latency_figures(tables, drawings)
    return {
        "run_id": tables.run_id,
        "created": manifest.get("created_utc", "not recorded"),
        "commit": manifest.get("git_commit") or "not recorded",
        "harness_version": manifest.get("harness_version", "not recorded"),
        "report_version": __version__,
        "host": (manifest.get("host") or {}).get("platform", "not recorded"),
        "backends": ", ".join(manifest.get("backend", [])) or "not recorded",
        "plan": (manifest.get("plan") or {}).get("name", "not recorded"),
        "corpus": manifest.get("corpus"),
        "min_group_size": min_group_size,
        "signoff": signoff_section(tables),
        "efficiency": efficiency_matrix(tables),
        "gaps": fairness_gaps(tables),
        "carbon": carbon_section(tables),
        "latency": latency,
        "flat_latency": flat_latency,
        "power": power,
        "flat_power": flat_power,
        "models": [model_section(tables, m, entries[m], predictions, scores, min_group_size, drawings)
                   for m in evaluated],
        "quantization": report_section(tables.path),
        "not_evaluated": [m for m in tables.model_names if m not in evaluated] if evaluated else [],
    }


def render(data: dict[str, Any]) -> str:
    return _environment().get_template(TEMPLATE).render(quantization_title=TITLE, **data)


def write_report(run_dir: Path, *, min_group_size: int = DEFAULT_MIN_GROUP_SIZE) -> Path:
    """Write ``report.html`` into the run directory and return its path."""
    tables = RunTables.load(run_dir)
    return RunDirectory(tables.path).write_text("report.html", render(page(tables, min_group_size)))
