"""Small run directories written by tests: the tables of the run-directory contract with chosen numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.power.trace import Trace
from harness.reports.tables import write_table

VOLTAGE = 2.0
RATE_HZ = 10_000.0


@dataclass
class Group:
    name: str
    detected: int
    positives: int
    speakers: int = 10


@dataclass
class RunSpec:
    model: str = "kws-a"
    target: str = "mcu"
    latencies_ms: np.ndarray = field(default_factory=lambda: np.arange(1, 201, dtype=float))
    current_a: float = 0.01        # constant current over the inference window
    window_s: float = 0.5          # inference window between the two timestamp events
    n_runs: int = 200
    idle_mw: float = 0.0
    rate_hz: float = 1.0
    budgets: tuple[float, float] = (1000.0, 100.0)   # latency ms, power mW
    arena_bytes: int = 20_000
    sram_bytes: int = 655_360
    false_accepts: int = 0
    negative_hours: float = 20.0
    groups: list[Group] = field(default_factory=lambda: [Group("en-us", 200, 200), Group("ru", 200, 200)])
    row_extra: dict = field(default_factory=dict)  # further efficiency.csv columns (provenance, intervals)


def energy_mj(spec: RunSpec) -> float:
    """Energy per inference by hand: I x V x window / inferences."""
    return spec.current_a * VOLTAGE * spec.window_s / spec.n_runs * 1e3


def write_run(root: Path, spec: RunSpec, run_id: str = "run-a") -> Path:
    run = root / run_id
    (run / "raw").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"run_id": run_id, "models": [{"name": spec.model}]}))
    _efficiency(run, spec)
    _fairness(run, spec)
    return run


def _efficiency(run: Path, spec: RunSpec) -> None:
    stem = f"{spec.model}__{spec.target}"
    pd.DataFrame({"model": spec.model, "target": spec.target, "inference": range(len(spec.latencies_ms)),
                  "device_latency_ms": spec.latencies_ms}).to_parquet(run / "raw" / f"latency__{stem}.parquet")
    start = 0.1
    n_samples = int((spec.window_s + 2 * start) * RATE_HZ) + 1
    Trace(current_a=np.full(n_samples, spec.current_a), sample_rate_hz=RATE_HZ, voltage_v=VOLTAGE,
          events_s=np.array([start, start + spec.window_s]), monitor="test").to_parquet(
        run / "raw" / f"power__{stem}.parquet")
    p50 = float(np.percentile(spec.latencies_ms, 50))
    e = energy_mj(spec)
    duty = p50 / 1e3 * spec.rate_hz
    deployed = e * min(spec.rate_hz, 1e3 / p50) + spec.idle_mw * max(0.0, 1.0 - duty)
    row = {"model": spec.model, "target": spec.target, "target_class": "mcu", "backend": "sim:mcu",
           "model_bytes": 50_000, "arena_bytes": spec.arena_bytes, "latency_ms_p50": p50,
           "latency_ms_p90": float(np.percentile(spec.latencies_ms, 90)),
           "latency_ms_p99": float(np.percentile(spec.latencies_ms, 99)), "energy_mj_per_inference": e,
           "latency_budget_ms": spec.budgets[0], "power_budget_mw": spec.budgets[1], "sram_bytes": spec.sram_bytes,
           "flash_bytes": 2_097_152, "idle_power_mw": spec.idle_mw, "inference_rate_hz": spec.rate_hz,
           "duty_cycle": duty, "deployed_power_mw": deployed, "n_runs": spec.n_runs, **spec.row_extra}
    write_table(pd.DataFrame([row]), run, "efficiency", title="efficiency")


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * np.sqrt(k * (n - k) / n + z * z / 4)
    return max(0.0, centre - half), min(1.0, centre + half)


def _fairness(run: Path, spec: RunSpec) -> None:
    rows = []

    def add(attribute: str, group: str, n: int, speakers: int, metric: str, k: int, value: float,
            ci: tuple[float, float], exposure: float | None = None) -> None:
        rows.append({"model": spec.model, "attribute": attribute, "group": group, "n": n, "n_speakers": speakers,
                     "metric": metric, "value": value, "ci_low": ci[0], "ci_high": ci[1], "k": k,
                     "exposure_h": exposure, "sufficient": n >= 30 and speakers >= 5})

    detected = sum(g.detected for g in spec.groups)
    positives = sum(g.positives for g in spec.groups)
    speakers = sum(g.speakers for g in spec.groups)
    missed = positives - detected
    lo, hi = _wilson(missed, positives)
    add("overall", "all", positives, speakers, "frr", missed, missed / positives, (lo, hi))
    upper = -np.log(0.025) / spec.negative_hours if spec.false_accepts == 0 else np.nan
    add("overall", "all", 100, speakers, "fa_per_hour", spec.false_accepts,
        spec.false_accepts / spec.negative_hours, (0.0, upper), spec.negative_hours)
    for g in spec.groups:
        add("accent", g.name, g.positives, g.speakers, "detection_rate", g.detected, g.detected / g.positives,
            _wilson(g.detected, g.positives))
        add("accent", g.name, g.positives, g.speakers, "frr", g.positives - g.detected,
            1 - g.detected / g.positives, _wilson(g.positives - g.detected, g.positives))
    write_table(pd.DataFrame(rows), run, "fairness", title="fairness", meta={"confidence": 0.95})
    rates = {g.name: g.detected / g.positives for g in spec.groups}
    worst = min(spec.groups, key=lambda g: rates[g.name])
    best = max(spec.groups, key=lambda g: rates[g.name])
    diff = rates[best.name] - rates[worst.name]
    common = {"model": spec.model, "attribute": "accent", "worst_group": worst.name, "best_group": best.name,
              "worst_n": worst.positives, "best_n": best.positives, "worst_n_speakers": worst.speakers,
              "best_n_speakers": best.speakers, "verdict": "PASS", "confidence": 0.95}
    ratio = (1 - rates[worst.name]) / (1 - rates[best.name]) if rates[best.name] < 1 else 1.0
    disparity = [
        {**common, "metric": "frr", "ratio": ratio, "ratio_ci": [ratio, ratio], "difference": diff,
         "difference_ci": [diff - 0.01 if diff else 0.0, diff + 0.01]},
        {**common, "metric": "detection_rate", "four_fifths": rates[worst.name] / rates[best.name],
         "four_fifths_ci": [rates[worst.name] / rates[best.name] - 0.01, 1.0]},
    ]
    (run / "disparity.json").write_text(json.dumps(disparity))


def real_run(tmp_path_factory: pytest.TempPathFactory, models: tuple[str, ...], name: str) -> Path:
    """A real run: ``models`` on the simulated phone, evaluated on the tiny synthetic corpus (fresh cache)."""
    from click.testing import CliRunner

    from harness.cli import _register, cli

    _register()
    results = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_RESULTS", str(results))
        mp.setenv("HARNESS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        args = ["run", *[a for m in models for a in ("--model", m)], "--target", "phone", "--corpus",
                "builtin:tiny", "--runs", "20"]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])
