"""``harness predict``: the simulated backend's prediction alone, without running anything."""

from __future__ import annotations

from pathlib import Path

import click

from harness.analysis import analyze
from harness.analysis.profile import ModelProfile
from harness.cli.common import echo_json, models, targets, targets_dir_option
from harness.core.units import Energy, Power
from harness.costmodel.model import default_cost_model
from harness.reports import numbers


@click.command("predict")
@click.option("--model", "model_name", required=True, help="Registered model name or a .tflite/.onnx path.")
@click.option("--target", "target_name", required=True,
              help="Target profile name (see 'harness targets list') or a profile .yaml path.")
@click.option("--stack", default=None, help="Software stack; defaults to the target's default_stack.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (latency_ms, energy_mj, macs, arena_bytes, ...).")
@targets_dir_option
def command(model_name: str, target_name: str, stack: str | None, as_json: bool,
            targets_dirs: tuple[Path, ...]) -> None:
    """Predict device latency and energy per inference from the calibrated cost model.

    \b
    latency = cycles from the model's MACs per op kind and op count, for the target's core,
    clock and stack (docs/calibration.md); energy = the target's active power x latency.
    arena_bytes is the static peak-activation estimate (a run measures TFLite Micro's own).
    """
    entry = models().get(model_name)
    target = targets(targets_dirs).get(target_name)
    profile = ModelProfile.combine([analyze(p) for p in [*entry.stage_paths(), entry.artifact_path()]])
    pred = default_cost_model().predict(profile, target, stack)
    energy = Energy.from_power_and_time(Power.from_mw(target.power.active_for(pred.stack)), pred.latency)
    result = {
        "model": entry.name,
        "target": target.name,
        "stack": pred.stack,
        "latency_ms": pred.latency.ms,
        "energy_mj": energy.mj,
        "macs": profile.macs,
        "arena_bytes": profile.peak_activation_bytes,
        "arena_source": "static-estimate",
        "cycles": pred.cycles,
        "estimated_parameters": pred.estimated_parameters,
    }
    if as_json:
        echo_json(result)
        return
    for key, value in result.items():
        click.echo(f"{key:>22}: {_shown(key, value)}")


def _shown(key: str, value: object) -> str:
    """A value as the documents write it; the arena says which figure it is, since a run may report another."""
    if key == "arena_bytes":
        return f"{numbers.binary_bytes(value)} (static estimate of the peak activations; a run's efficiency.csv " \
               "with arena_source tflm holds TensorFlow Lite Micro's measured allocation, which can differ)"
    if key == "estimated_parameters":
        return ", ".join(value) if value else "none"  # type: ignore[arg-type]
    return numbers.plain(value) if isinstance(value, (int, float)) else str(value)
