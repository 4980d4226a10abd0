"""An efficiency row: one (model, target) measurement turned into latency, energy, deployed power and budget fits.

Every row says where its device figures come from (``provenance``): ``measured:device`` (a DUT over the link),
``measured:host`` (the host timed it), ``predicted:calibrated`` / ``predicted:estimated`` (the cost model, with or
without estimated parameters, named in ``estimated_params``), ``predicted:simulated-dut``, or ``not deployable``.
Predicted rows carry the cost model's interval combined with the jitter (``*_low``/``*_high``); a model the
target's stack cannot run has ``deployable`` false, the reason, and no device figures.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.core.errors import ConfigError
from harness.core.units import Duration, Energy, Power, co2e_kg
from harness.costmodel.model import default_cost_model
from harness.devices.base import Deployment, Measurement
from harness.evaluation.deployment import deployed_power
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile

CONTRACT_COLUMNS = (
    "model", "target", "target_class", "backend", "model_bytes", "params", "macs", "arena_bytes",
    "latency_ms_p50", "latency_ms_p90", "latency_ms_p99", "energy_mj_per_inference", "avg_power_mw",
    "latency_budget_ms", "power_budget_mw", "fits_latency", "fits_power", "fits_memory",
)

INTERVAL_COLUMNS = (
    "latency_ms_p50_low", "latency_ms_p50_high", "latency_ms_p90_low", "latency_ms_p90_high",
    "latency_ms_p99_low", "latency_ms_p99_high", "energy_mj_per_inference_low", "energy_mj_per_inference_high",
    "deployed_power_mw_low", "deployed_power_mw_high",
)


def provenance(backend: str, estimated: list[str], row_fields: dict[str, Any]) -> str:
    """Where the row's device figures come from (module docstring)."""
    if backend.startswith("sim"):
        return "predicted:estimated" if estimated else "predicted:calibrated"
    if backend == "device":
        firmware = f"{row_fields.get('dut_name', '')} {row_fields.get('dut_firmware', '')}".lower()
        return "predicted:simulated-dut" if "simulated" in firmware else "measured:device"
    return "measured:host"


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
    details = {**deployment.details, **_simulated_dut_prediction(target, deployment, measurement)}
    reason = details.get("not_deployable", "")
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
        "estimated_params": ";".join(details.get("estimated_parameters", [])),
        "calibrated_params": ";".join(details.get("calibrated_parameters", [])),
        "provenance": "not deployable" if reason else provenance(
            measurement.backend, details.get("estimated_parameters", []), measurement.row_fields),
        "deployable": not reason,
        "not_deployable_reason": reason,
    }
    row.update(_model_interval(row, details, target.power.idle_mw))
    if reason:
        row.update(fits_latency=None, fits_power=None, inferences_per_joule=float("nan"),
                   duty_cycle=float("nan"), deployed_power_mw=float("nan"), battery_life_h=float("nan"))
    return {**{c: row[c] for c in CONTRACT_COLUMNS}, **row}


def _simulated_dut_prediction(target: TargetProfile, deployment: Deployment,
                              measurement: Measurement) -> dict[str, Any]:
    """A simulated DUT answers over the real protocol with the cost model's device time: the same prediction's
    interval and parameters, so its figures are decided like the simulated device's."""
    if provenance(measurement.backend, [], measurement.row_fields) != "predicted:simulated-dut" \
            or "predicted_latency_ms" in deployment.details:
        return {}
    try:
        p = default_cost_model().predict(deployment.profile, target, deployment.stack)
    except ConfigError:
        return {}
    return {"predicted_latency_ms": p.latency.ms, "predicted_latency_low_ms": p.latency_low.ms,
            "predicted_latency_high_ms": p.latency_high.ms, "estimated_parameters": p.estimated_parameters,
            "calibrated_parameters": p.calibrated_parameters, "not_deployable": p.not_deployable}


def _model_interval(row: dict[str, Any], details: dict[str, Any], idle_mw: float) -> dict[str, float]:
    """Predicted rows: the jitter's percentiles scaled by the cost model's interval around its point prediction
    (the whole latency distribution scales with the predicted mean); energy (active power x latency) and deployed
    power follow. Measured rows: NaN (their intervals come from the samples at sign-off)."""
    point = details.get("predicted_latency_ms")
    if not row["provenance"].startswith("predicted") or not point or not math.isfinite(point):
        return dict.fromkeys(INTERVAL_COLUMNS, float("nan"))
    scale = {"low": details["predicted_latency_low_ms"] / point, "high": details["predicted_latency_high_ms"] / point}
    out: dict[str, float] = {}
    for side, k in scale.items():
        for q in (50, 90, 99):
            out[f"latency_ms_p{q}_{side}"] = row[f"latency_ms_p{q}"] * k
        energy_mj = row["energy_mj_per_inference"] * k
        out[f"energy_mj_per_inference_{side}"] = energy_mj
        use = deployed_power(energy_mj, row["latency_ms_p50"] * k / 1e3, row["inference_rate_hz"], idle_mw)
        out[f"deployed_power_mw_{side}"] = use.power_mw
    return out
