"""Read a run directory's tables once (manifest, efficiency, fairness, disparity, sign-off, carbon) for documents.

Documents never recompute what a table holds: they read it here. Optional tables (those another step writes,
such as ``signoff.json`` and ``carbon.json``) load as ``None`` so a document can say plainly that they are absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.errors import DataError
from harness.rundir import contract

# Group labels such as "none" or "NA" are data, not missing values: only an empty cell is missing.
_CSV = {"keep_default_na": False, "na_values": [""]}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read JSON: {exc}",
                        hint="re-create it with the command that wrote it") from None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, **_CSV)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read CSV: {exc}", hint="re-create it with the command that wrote it") from None
    for column in frame.columns:
        if frame[column].dtype == object:
            lowered = frame[column].astype(str).str.lower()
            if lowered.isin(["true", "false"]).all():
                frame[column] = lowered == "true"
    return frame


def _require(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}",
                        hint="see 'Output contract' in README.md for the columns")
    return frame


GATE_STATUS_ORDER = ("FAIL", "INSUFFICIENT_EVIDENCE", "WAIVED", "PASS")


def gate_rank(gate: dict[str, Any]) -> int:
    """Sort key putting failing gates first, then undecided, waived and passed ones."""
    status = gate.get("status")
    return GATE_STATUS_ORDER.index(status) if status in GATE_STATUS_ORDER else len(GATE_STATUS_ORDER)


FAIRNESS_COLUMNS = ("model", "attribute", "group", "n", "n_speakers", "metric", "value", "ci_low", "ci_high")
EFFICIENCY_COLUMNS = ("model", "target", "target_class", "backend", "latency_ms_p50", "latency_ms_p90",
                      "latency_ms_p99", "energy_mj_per_inference", "fits_latency", "fits_power", "fits_memory")


@dataclass(frozen=True)
class RunTables:
    """Everything a card or report reads from one run directory; absent optional tables are ``None``."""

    path: Path
    manifest: dict[str, Any]
    efficiency: pd.DataFrame | None
    fairness: pd.DataFrame | None
    disparity: list[dict[str, Any]] | None
    signoff: dict[str, Any] | None
    carbon: pd.DataFrame | None
    carbon_meta: dict[str, Any] | None

    @classmethod
    def load(cls, run_dir: Path) -> RunTables:
        run_dir = Path(run_dir)
        manifest_path = run_dir / contract.MANIFEST
        if not manifest_path.is_file():
            raise DataError(f"{run_dir}: not a run directory (no manifest.json)",
                            hint="pass a results/<run_id> folder written by 'harness run' or 'harness eval'")
        manifest = _read_json(manifest_path)
        eff_path, fair_path = run_dir / contract.EFFICIENCY.csv, run_dir / contract.FAIRNESS.csv
        efficiency = _require(_read_csv(eff_path), EFFICIENCY_COLUMNS, eff_path) if eff_path.is_file() else None
        fairness = _require(_read_csv(fair_path), FAIRNESS_COLUMNS, fair_path) if fair_path.is_file() else None
        if fairness is not None:
            fairness["group"] = fairness["group"].astype(str)
        disparity = _read_json(run_dir / contract.DISPARITY) if (run_dir / contract.DISPARITY).is_file() else None
        signoff = _read_json(run_dir / contract.SIGNOFF) if (run_dir / contract.SIGNOFF).is_file() else None
        carbon, carbon_meta = _carbon(run_dir)
        return cls(run_dir, manifest, efficiency, fairness, disparity, signoff, carbon, carbon_meta)

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id", self.path.name))

    @property
    def model_names(self) -> list[str]:
        """Models in the run: the manifest's list, then any that only a table names."""
        names = [m["name"] for m in self.manifest.get("models", [])]
        for table in (self.efficiency, self.fairness):
            if table is not None:
                names += [n for n in table["model"].astype(str).unique() if n not in names]
        return names

    def model_record(self, model: str) -> dict[str, Any]:
        return next((m for m in self.manifest.get("models", []) if m.get("name") == model), {})

    def fairness_of(self, model: str) -> pd.DataFrame:
        if self.fairness is None:
            return pd.DataFrame(columns=list(FAIRNESS_COLUMNS))
        return self.fairness[self.fairness["model"] == model]

    def efficiency_of(self, model: str) -> pd.DataFrame:
        if self.efficiency is None:
            return pd.DataFrame(columns=list(EFFICIENCY_COLUMNS))
        return self.efficiency[self.efficiency["model"] == model]

    def evaluation_settings(self) -> dict[str, Any]:
        """The plan's evaluation block as recorded in the manifest (confidence, min clips, ...)."""
        plan = self.manifest.get("plan") or {}
        return dict(plan.get("evaluation") or {})


# The carbon columns documents show, when the table has them (it may hold more); otherwise every column.
CARBON_COLUMNS = ("model", "target", "region", "devices", "inference_rate_hz", "energy_mj_per_inference",
                  "energy_kwh_per_year", "grid_kg_per_kwh", "co2e_kg_per_year", "price_per_kwh", "cost_per_year",
                  "currency")


def carbon_view(frame: pd.DataFrame) -> pd.DataFrame:
    shown = [c for c in CARBON_COLUMNS if c in frame.columns]
    return frame[shown] if len(shown) > 2 else frame


def _carbon(run_dir: Path) -> tuple[pd.DataFrame | None, dict[str, Any] | None]:
    """carbon.json ({"meta", "rows"} as tables are written, or a list of rows), else carbon.csv, else nothing."""
    json_path, csv_path = run_dir / contract.CARBON.json, run_dir / contract.CARBON.csv
    if json_path.is_file():
        data = _read_json(json_path)
        if isinstance(data, dict):
            return pd.DataFrame(data.get("rows", [])), dict(data.get("meta") or {})
        return pd.DataFrame(data), {}
    if csv_path.is_file():
        return _read_csv(csv_path), {}
    return None, None
