"""``harness models``: list and show registered models, with their static analysis."""

from __future__ import annotations

import click
import yaml
from rich.table import Table

from harness.analysis import analyze
from harness.analysis.profile import ModelProfile
from harness.cli.common import echo_json, models, render


@click.group("models")
def command() -> None:
    """The model registry in models/*.yaml.

    Each entry pins an artifact by sha256 (inside an installed package, beside the YAML, or
    built by the project's deterministic builders) and records its task, front end, tensors,
    decision parameters, source and licence. Add your own model with a YAML entry, or pass a
    .tflite/.onnx path wherever a model name is accepted.
    """


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(as_json: bool) -> None:
    """One line per registered model."""
    registry = models()
    entries = registry.all()
    for name, exc in sorted(registry.broken.items()):
        click.secho(f"warning: model '{name}' is not listed: {exc.message}", fg="yellow", err=True)
    if as_json:
        echo_json([e.model_dump(mode="json") for e in entries])
        return
    table = Table("name", "task", "family", "format", "front end", "step ms", "cutoff", "source")
    for e in entries:
        table.add_row(e.name, e.task.value, e.family, e.format, e.frontend, f"{e.step_ms or ''}",
                      f"{e.decision.cutoff:g}" if e.decision else "", e.source)
    click.echo(render(table), nl=False)


@command.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(name: str, as_json: bool) -> None:
    """The entry (NAME or a model file path), its verified file, and its static analysis."""
    entry = models().get(name)
    paths = [*entry.stage_paths(), entry.artifact_path()]
    profile = ModelProfile.combine([analyze(p) for p in paths])
    data = entry.model_dump(mode="json", exclude={"source_file"})
    data["verified_files"] = [str(p) for p in paths]
    data["analysis"] = {
        "model_bytes": profile.model_bytes,
        "params": profile.params,
        "macs": profile.macs,
        "macs_by_op": profile.macs_by_type(),
        "op_histogram": profile.op_histogram,
        "peak_activation_bytes": profile.peak_activation_bytes,
        "subgraphs": profile.subgraphs,
    }
    if as_json:
        echo_json(data)
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False))
