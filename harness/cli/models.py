"""``harness models``: list and show registered models, with their static analysis."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import yaml
from rich.table import Table

from harness.analysis import analyze
from harness.analysis.profile import ModelProfile
from harness.analysis.signature import signature
from harness.cli.common import echo_json, models, render
from harness.core.errors import ConfigError
from harness.core.hashing import sha256_file


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


# input tensors that name a front end the harness has: (shape, dtype) -> front end, task, step ms
FRONTEND_GUESSES = {
    ((1, 3, 40), "int8"): ("micro_frontend", "wake_word", 30),  # microWakeWord: 3 feature windows of 40 channels
    ((1, 49, 10, 1), "int8"): ("mlperf_mfcc", "kws", None),      # MLPerf Tiny KWS: 49 frames x 10 MFCC
    ((1, 49, 10, 1), "float32"): ("mlperf_mfcc", "kws", None),
    ((1, 16, 96), "float32"): ("oww_melspec", "wake_word", 80),  # an openWakeWord head over 16 embeddings
}


@command.command("init")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to write the entry. Default: <model file without suffix>.yaml beside it.")
@click.option("--name", default=None, help="The model's id in runs and cards. Default: the file's stem.")
@click.option("--force", is_flag=True, help="Replace an existing entry file.")
def init(path: Path, out: Path | None, name: str | None, force: bool) -> None:
    """Write a starting entry YAML for your model file: sha256, tensors, a front-end guess, and what to complete.

    \b
    Then edit it (task, labels or wake phrase, step_ms, decision, source, licence) and pass it as
    --model path/to/entry.yaml to run, eval and bench-device. Dynamic input dimensions (-1) must be
    fixed in input.shape before the model can run. Example:
      harness models init my_kws.tflite && harness run --model my_kws.yaml --target mcu
    """
    out = out or path.with_suffix(".yaml")
    if out.exists() and not force:
        raise ConfigError(f"{out}: already exists", hint="pass --force to replace it, or --out another file")
    inputs, outputs = signature(path)
    first = inputs[0] if inputs else None
    guess = FRONTEND_GUESSES.get((first.shape, first.dtype)) if first else None
    entry: dict[str, object] = {
        "name": name or re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem),
        "task": guess[1] if guess else "generic",
        "format": path.suffix.lower().lstrip("."),
        "description": f"{path.name}: describe what it detects and how it was trained",
        "artifact": {"file": os.path.relpath(path.resolve(), out.resolve().parent), "sha256": sha256_file(path)},
    }
    if first is not None:
        entry["input"] = {"shape": list(first.shape), "dtype": first.dtype}
    if outputs:
        entry["output"] = {"shape": list(outputs[0].shape), "dtype": outputs[0].dtype}
    if guess:
        entry["frontend"] = guess[0]
        if guess[2]:
            entry["step_ms"] = guess[2]
    entry |= {"source": "complete: where the model comes from", "license": "complete: its licence"}
    todo = ["# Written by harness models init; complete the fields below (docs/models.md), then run it with",
            f"#   harness run --model {out} --target mcu"]
    if any(t.dynamic for t in inputs):
        todo.append("# input.shape has dynamic dimensions (-1): set the shape to run the model with.")
    if guess is None:
        todo.append("# No front end recognised from the input tensor: set task and frontend if it takes audio.")
    if len(inputs) > 1:
        todo.append(f"# The model has {len(inputs)} inputs; the harness drives the first one.")
    out.write_text("\n".join(todo) + "\n" + yaml.safe_dump(entry, sort_keys=False), encoding="utf-8")
    click.echo(str(out))
