"""An efficiency row: one (model, target) measurement turned into latency, energy, deployed power and budget fits."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.core.units import Duration, Energy, Power, co2e_kg
from harness.devices.base import Deployment, Measurement
from harness.evaluation.deployment import deployed_power
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile

CONTRACT_COLUMNS = (
    "model", "target", "target_class", "backend", "model_bytes", "params", "macs", "arena_bytes",
    "latency_ms_p50", "latency_ms_p90", "latency_ms_p99", "energy_mj_per_inference", "avg_power_mw",
    "latency_budget_ms", "power_budget_mw", "fits_latency", "fits_power", "fits_memory",
)

def _pct(samples_s: np.ndarray, q: float) -> float:
    return float(np.percentile(samples_s, q) * 1e3)


def efficiency_row(
    model: ModelEntry,
    target: TargetProfile,
    deployment: Deployment,
    measurement: Measurement,
    *,
    grid_kg_per_kwh: float,
    default_rate_hz: float,
    seed: int,
) -> dict[str, Any]:
    """Compute every column from the measurement; nothing is typed in."""
    lat = measurement.device_latency_s
    p50 = Duration(float(np.percentile(lat, 50)))
    energy = measurement.energy  # None: no power monitor on this run (a device in performance mode)
    e_inf = energy.per_inference if energy is not None else Energy(float("nan"))
    rate, rate_source = model.inference_rate(default_rate_hz)
    use = deployed_power(e_inf.mj, p50.seconds, rate, target.power.idle_mw)
    duty, deployed = use.duty, Power.from_mw(use.power_mw)
    per_million = e_inf * 1e6
    arena = deployment.arena_bytes
    fits_memory = (arena is None or arena <= target.sram_bytes) and deployment.profile.model_bytes <= target.flash_bytes
    battery_h = (target.battery_mwh / deployed.mw) if target.battery_mwh else float("nan")
    host = measurement.host_latency_s
    row = {
        "model": model.name,
        "target": target.name,
        "target_class": target.target_class.value,
        "backend": measurement.backend,
        "stack": deployment.stack,
        "host_runtime": deployment.runtime,
        "model_bytes": deployment.profile.model_bytes,
        "params": deployment.profile.params,
        "macs": deployment.profile.macs,
        "arena_bytes": arena,
        "arena_source": deployment.details.get("arena_source", ""),
        "sram_bytes": target.sram_bytes,
        "flash_bytes": target.flash_bytes,
        "latency_ms_p50": p50.ms,
        "latency_ms_p90": _pct(lat, 90),
        "latency_ms_p99": _pct(lat, 99),
        "host_latency_ms_p50": _pct(host, 50) if host is not None else float("nan"),
        "host_latency_ms_p99": _pct(host, 99) if host is not None else float("nan"),
        "energy_mj_per_inference": e_inf.mj,
        "avg_power_mw": energy.avg_power.mw if energy is not None else float("nan"),
        "idle_power_mw": energy.idle_power.mw if energy is not None else float("nan"),
        "inference_rate_hz": rate,
        "inference_rate_source": rate_source,
        "duty_cycle": duty,
        "deployed_power_mw": deployed.mw,
        "deployed_idle_mw": target.power.idle_mw,
        "inferences_per_joule": 1.0 / e_inf.joules,
        "energy_kwh_per_million": per_million.kwh,
        "co2e_g_per_million": co2e_kg(per_million, grid_kg_per_kwh) * 1e3,
        "grid_kg_per_kwh": grid_kg_per_kwh,
        "battery_life_h": battery_h,
        "latency_budget_ms": target.budgets.latency_ms,
        "power_budget_mw": target.budgets.power_mw,
        "fits_latency": bool(_pct(lat, 99) <= target.budgets.latency_ms and duty <= 1.0),
        "fits_power": bool(deployed.mw <= target.budgets.power_mw) if energy is not None else None,
        "fits_memory": bool(fits_memory),
        "n_runs": int(len(lat)),
        "seed": seed,
        "estimated_params": ";".join(deployment.details.get("estimated_parameters", [])),
    }
    return {**{c: row[c] for c in CONTRACT_COLUMNS}, **row}
