"""Carbon and cost of a fleet: annual energy, kg CO2e and electricity cost per model x target (x region).

The same accounting as the efficiency table: each device draws its deployed power (energy per inference
x the rate it achieves, plus its idle floor for the time left over) for a year, so kWh per device per
year / 8,766 h is the efficiency table's deployed power. A device that cannot keep up with the rate is
flagged and counted at the rate it manages. A year is the Julian year, 365.25 days = 31,557,600 s.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.errors import DataError
from harness.core.units import Duration, Energy, co2e_kg
from harness.evaluation.deployment import deployed_power
from harness.registry.plans import Fleet, Plan
from harness.reports.tables import write_table
from harness.rundir import contract

YEAR = Duration(365.25 * 86400.0)
CAR_KG_PER_YEAR = 4600.0  # US EPA, EPA-420-F-23-014: a typical passenger vehicle, 4.6 t CO2 per year (docs/sources.md)
DEFAULT_REGION = "default"

MD_COLUMNS = {
    "model": "model", "target": "target", "region": "region", "energy_mj_per_inference": "mJ/inf",
    "inference_rate_hz": "inf/s asked", "achieved_rate_hz": "inf/s done", "keeps_up": "keeps up",
    "deployed_power_mw": "mW/device", "devices": "devices", "energy_kwh_per_year": "kWh/year",
    "grid_kg_per_kwh": "kg CO2e/kWh", "co2e_kg_per_year": "kg CO2e/year", "car_years": "car-years",
    "cost_per_year": "cost/year",
}


def carbon_rows(efficiency: pd.DataFrame, fleet: Fleet, grid_kg_per_kwh: float) -> pd.DataFrame:
    """One row per (model, target, region); the default region uses the plan's grid intensity."""
    regions = {DEFAULT_REGION: (grid_kg_per_kwh, fleet.price_per_kwh)}
    regions |= {name: (r.grid_kg_per_kwh, r.price_per_kwh if r.price_per_kwh is not None else fleet.price_per_kwh)
                for name, r in fleet.regions.items()}
    rows: list[dict[str, Any]] = []
    for row in efficiency.to_dict("records"):
        rate = fleet.inference_rate_hz or float(row["inference_rate_hz"])
        use = deployed_power(float(row["energy_mj_per_inference"]), float(row["latency_ms_p50"]) / 1e3, rate,
                             float(row.get("deployed_idle_mw", 0.0)))
        inferences = use.achieved_hz * YEAR.seconds * fleet.devices
        energy = Energy(use.power_mw / 1e3 * YEAR.seconds * fleet.devices)
        for region, (grid, price) in regions.items():
            co2 = co2e_kg(energy, grid)
            rows.append({
                "model": row["model"], "target": row["target"], "target_class": row.get("target_class"),
                "backend": row.get("backend"), "region": region,
                "energy_mj_per_inference": float(row["energy_mj_per_inference"]), "inference_rate_hz": rate,
                "rate_source": "plan fleet.inference_rate_hz" if fleet.inference_rate_hz
                else row.get("inference_rate_source", "model (efficiency.csv)"),
                "achieved_rate_hz": use.achieved_hz, "keeps_up": use.keeps_up,
                "deployed_power_mw": use.power_mw, "idle_power_mw": float(row.get("deployed_idle_mw", 0.0)),
                "devices": fleet.devices, "year_s": YEAR.seconds, "inferences_per_year": inferences,
                "energy_kwh_per_year": energy.kwh, "grid_kg_per_kwh": grid, "co2e_kg_per_year": co2,
                "car_years": co2 / CAR_KG_PER_YEAR,
                "price_per_kwh": price if price is not None else math.nan,
                "cost_per_year": energy.kwh * price if price is not None else math.nan,
                "currency": fleet.currency,
            })
    return pd.DataFrame(rows)


def plan_of(run_dir: Path) -> Plan:
    """The plan recorded in the run's manifest (fields added since then take their defaults)."""
    manifest = json.loads((run_dir / contract.MANIFEST).read_text(encoding="utf-8"))
    if not manifest.get("plan"):
        raise DataError(f"{run_dir}/manifest.json records no plan", hint="pass the plan to write_carbon")
    return Plan.model_validate(manifest["plan"])


def write_carbon(run_dir: Path, plan: Plan | None = None) -> list[Path]:
    """carbon.csv|md|json in the run directory from its efficiency.csv and the plan's fleet and grid."""
    plan = plan or plan_of(run_dir)
    path = run_dir / contract.EFFICIENCY.csv
    if not path.is_file():
        raise DataError(f"{run_dir}: no efficiency.csv, so no energy per inference to scale to a fleet")
    df = carbon_rows(pd.read_csv(path), plan.fleet, plan.reporting.grid_kg_per_kwh)
    fleet = plan.fleet
    notes = [
        f"inputs: {fleet.devices:,} devices; inference rate "
        f"{fleet.inference_rate_hz if fleet.inference_rate_hz else 'each model own (efficiency.csv)'} per device; "
        f"grid {plan.reporting.grid_kg_per_kwh} kg CO2e/kWh (plan reporting.grid_kg_per_kwh; 0.4 rounds down the world "
        "average, 0.436 in 2022 per Ember: docs/sources.md#carbon-and-cost)"
        + "".join(f"; region {n}: {r.grid_kg_per_kwh} kg CO2e/kWh" for n, r in fleet.regions.items()) + "; "
        + (f"electricity {fleet.price_per_kwh} {fleet.currency}/kWh" if fleet.price_per_kwh is not None
           else "no electricity price in the plan (fleet.price_per_kwh), so no cost"),
        "annual energy = deployed power per device x devices x 31,557,600 s (Julian year); deployed power = energy "
        "per inference x the rate the device achieves (at most back to back) + its idle floor for the rest of "
        "the time, as in efficiency.csv; 'keeps up' no: the device cannot run the requested rate, and is counted "
        "at the rate it manages.",
        "kg CO2e = kWh x grid intensity; car-years: a passenger car emits about 4.6 t CO2 per year "
        "(US EPA, EPA-420-F-23-014).",
        "energy per inference comes from the run's backend (sim:<target> rows are simulated devices).",
    ]
    return write_table(df, run_dir, "carbon", title=f"Carbon and cost of a fleet, run {run_dir.name}",
                       notes=notes, md_columns=MD_COLUMNS,
                       meta={"run_id": run_dir.name, "fleet": fleet.model_dump(),
                             "grid_kg_per_kwh": plan.reporting.grid_kg_per_kwh, "year_s": YEAR.seconds})
