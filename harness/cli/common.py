"""Shared CLI plumbing: registries from the shipped and the user's folders, a stderr console, progress."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from harness.cli.progress import LineProgress
from harness.core.errors import ConfigError, read_json
from harness.core.paths import model_dirs, plan_dirs, results_dir, target_dirs
from harness.core.progress import Progress
from harness.registry.models import ModelRegistry
from harness.registry.plans import MAX_RUNS, MAX_SEED
from harness.registry.targets import TargetRegistry
from harness.rundir import contract

err_console = Console(stderr=True)


def targets(extra_dirs: tuple[Path, ...] = ()) -> TargetRegistry:
    """The shipped profiles, the project's ``[tool.edge-harness] targets`` folders, then ``--targets-dir``."""
    return TargetRegistry(target_dirs(extra_dirs))


def models(allow_unpinned: bool = False) -> ModelRegistry:
    return ModelRegistry(model_dirs(), allow_unpinned=allow_unpinned)


SEED = click.IntRange(0, MAX_SEED)
RUNS = click.IntRange(1, MAX_RUNS)
COUNT = click.IntRange(1, 1_000_000)

results_option = click.option(
    "--results", type=click.Path(path_type=Path), default=None,
    help="Where run directories go. Default: results/ (or $HARNESS_RESULTS).")
allow_unpinned_option = click.option(
    "--allow-unpinned", is_flag=True,
    help="Run model entries whose artifact has no sha256 (the manifest records allow_unpinned).")


def results_folder(results: Path | None) -> Path:
    """The folder run directories go to: ``--results``, else the default; refused when it is a file."""
    folder = results if results is not None else results_dir()
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                which = "--results" if results is not None else "the results folder"
                raise ConfigError(f"{which} {folder}: {part} is a file, not a folder",
                                  hint="pass a folder (it is created if missing), e.g. --results results/")
            break
    return folder


targets_dir_option = click.option(
    "--targets-dir", "targets_dirs", multiple=True, type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="A folder of your own target profiles, added to the shipped ones (repeatable; also "
         "[tool.edge-harness] targets = [...] in your pyproject.toml).")


def plan_file(name_or_path: Path) -> Path:
    """A plan's path as given, or a plan named without its folder and suffix (``demo``) in the plan folders."""
    if name_or_path.exists() or name_or_path.suffix or len(name_or_path.parts) > 1:
        return name_or_path
    for folder in plan_dirs():
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    return name_or_path


def render(table: Table) -> str:
    """A rich table as plain text for stdout (wide enough not to wrap)."""
    console = Console(width=220, color_system=None)
    with console.capture() as cap:
        console.print(table)
    return cap.get()


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@contextmanager
def progress_bar(description: str) -> Iterator[Progress]:
    """Progress on stderr, yielding ``update(label, done, total)``: a rich bar with elapsed time and ETA on a
    terminal; otherwise (CI logs, a pipe) one plain line every 10 % of a step or every 10 s."""
    if not err_console.is_terminal:
        yield LineProgress(description, lambda line: click.echo(line, err=True))
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with RichProgress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task(description, total=None)
        step: list[int | None] = [None, 0]  # the current step's total and its last count

        def update(label: str, done: int, total: int) -> None:
            text = f"{description}: {label}"
            if total != step[0] or done < (step[1] or 0):  # a new step: its own rate, so its own ETA
                bar.reset(task, total=total, completed=done, description=text)
            else:
                bar.update(task, description=text, completed=done, total=total)
            step[:] = [total, done]

        yield update


def echo_verdict(run_dir: Path) -> None:
    """One stderr line with the run's sign-off verdict and its gate counts (details: signoff.md)."""
    path = run_dir / contract.SIGNOFF
    if not path.is_file():
        return
    record = read_json(path, dict)
    counts = ", ".join(f"{n} {status}" for status, n in record.get("counts", {}).items() if n)
    err_console.print(f"sign-off: [bold]{record['verdict']}[/bold] ({counts}); see {run_dir / contract.SIGNOFF_MD}",
                      highlight=False, soft_wrap=True)


def echo_not_measured(run_dir: Path) -> None:
    """One stderr line per figure the run could not measure, with why (status.json ``not_measured``)."""
    path = run_dir / contract.STATUS
    if not path.is_file():
        return
    for note in json.loads(path.read_text(encoding="utf-8")).get("not_measured", []):
        err_console.print(f"not measured: {note}", highlight=False, soft_wrap=True)


class RunDir(click.ParamType):
    """A run directory, or ``latest``: the newest run in the results folder ($HARNESS_RESULTS, else ./results)."""

    name = "RUN_DIR"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if isinstance(value, Path):
            return value
        if str(value) == "latest":
            runs = sorted(p.parent for p in results_dir().glob(f"*/{contract.MANIFEST}"))
            if not runs:
                self.fail(f"no run directory in {results_dir()} to call 'latest'", param, ctx)
            return runs[-1]  # run ids start with their UTC time, so the last in name order is the newest
        path = Path(str(value))
        if not path.is_dir():
            self.fail(f"{path}: no such run directory (or give 'latest')", param, ctx)
        return path


RUN_DIR = RunDir()
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON summary object on stdout instead of text (schema in the README).")

input_shape_option = click.option(
    "--input-shape", "input_shapes", multiple=True, metavar="[MODEL=]D0,D1,...",
    help="The input shape to run a model with dynamic input dimensions with (e.g. 1,16000); MODEL= may be left "
         "out when the run has one model. Also 'input: {shape: [...]}' in an entry YAML.")

scheduler_option = click.option(
    "--scheduler", default=None, metavar="tcp://HOST:PORT|local",
    help="Compute on this Dask cluster: the corpus is sharded over its workers, which read it from shared storage, "
         "and attached devices are measured by the workers holding them (harness cluster up starts one here). "
         "'local': this machine. Default: the plan's 'scheduler', else local.")


def parse_input_shapes(given: tuple[str, ...], models: list[str]) -> dict[str, list[int]]:
    """``MODEL=1,16000`` pairs; a bare shape belongs to the run's only model."""
    shapes: dict[str, list[int]] = {}
    for item in given:
        name, sep, text = item.rpartition("=")
        if not sep:
            if len(models) != 1:
                raise ConfigError(f"--input-shape {item}: the run has {len(models)} models, so say which one",
                                  hint="--input-shape MODEL=1,16000")
            name = models[0]
        try:
            shapes[name] = [int(d) for d in text.split(",")]
        except ValueError:
            raise ConfigError(f"--input-shape {item}: '{text}' is not a list of whole numbers",
                              hint="e.g. --input-shape 1,16000") from None
    return shapes
