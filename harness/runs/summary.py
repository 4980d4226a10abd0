"""One JSON object per command for scripts and CI (``--json``): the run directory, its verdict, counts and key
figures, read back from the run's own files. Every object names its ``schema`` (documented in the README)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.errors import DataError, read_json
from harness.rundir import contract

RUN_SCHEMA = "edge-harness/run-summary/1"
KEY_FIGURES = ("provenance", "latency_ms_p50", "latency_ms_p99", "latency_ms_p99_low", "latency_ms_p99_high",
               "energy_mj_per_inference", "deployed_power_mw", "fits_latency", "fits_power", "fits_memory")
OVERALL_METRICS = ("frr", "fa_per_hour", "accuracy")


def _plain(value: Any) -> Any:
    """JSON-safe: NaN is null, numpy scalars are Python numbers."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def _json(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


def run_summary(run_dir: Path) -> dict[str, Any]:
    """The run as one object: status, verdict and gate counts, efficiency per pair, overall accuracy per model."""
    manifest = _json(run_dir / contract.MANIFEST)
    if not isinstance(manifest, dict):
        raise DataError(f"{run_dir}: not a run directory (no manifest.json)", hint="pass a results/<run_id> folder")
    status = _json(run_dir / contract.STATUS) or {}
    signoff = _json(run_dir / contract.SIGNOFF) or {}
    summary: dict[str, Any] = {
        "schema": RUN_SCHEMA, "run_dir": str(run_dir), "run_id": run_dir.name, "status": status.get("status"),
        "verdict": signoff.get("verdict"), "counts": signoff.get("counts", {}),
        "models": [m.get("name") for m in manifest.get("models") or []],
        "targets": [t.get("name") for t in manifest.get("targets") or []],
        "corpus": (manifest.get("corpus") or {}).get("name"),
        "efficiency": [], "accuracy": [], "not_measured": status.get("not_measured", []),
    }
    efficiency = run_dir / contract.EFFICIENCY.csv
    if efficiency.is_file():
        table = pd.read_csv(efficiency)
        summary["efficiency"] = [{"model": r["model"], "target": r["target"],
                                  **{k: _plain(r[k]) for k in KEY_FIGURES if k in table.columns}}
                                 for r in table.to_dict("records")]
    fairness = run_dir / contract.FAIRNESS.csv
    if fairness.is_file():
        table = pd.read_csv(fairness, keep_default_na=False, na_values=[""])
        overall = table[(table["attribute"] == "overall") & table["metric"].isin(OVERALL_METRICS)]
        summary["accuracy"] = [{k: _plain(r[k]) for k in ("model", "metric", "value", "ci_low", "ci_high", "n",
                                                            "n_speakers")} for r in overall.to_dict("records")]
    return summary
