"""``harness eval``: per-group keyword-spotting accuracy of models on a corpus directory."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli.common import (
    RUN_DIR,
    SEED,
    allow_unpinned_option,
    echo_not_measured,
    echo_verdict,
    input_shape_option,
    json_option,
    models,
    parse_input_shapes,
    progress_bar,
    results_folder,
    results_option,
    scheduler_option,
    targets,
)
from harness.cluster.client import scheduler_or_none
from harness.registry.models import Task
from harness.registry.plans import MAX_WORKERS, Plan
from harness.registry.yamlio import validate
from harness.rundir.directory import RunDirectory
from harness.runs.runner import Context, run_plan
from harness.runs.summary import run_summary


@click.command("eval")
@click.option("--model", "model_names", multiple=True,
              help="Model name or .tflite/.onnx path (repeatable). Default: every registered wake-word model.")
@click.option("--corpus", required=True,
              help="Corpus directory (harness corpus synth/import --out DIR), or builtin:tiny|demo|full.")
@click.option("--workers", type=click.IntRange(0, MAX_WORKERS), default=0, show_default=True,
              help="Worker processes; 0 = one per core. With --scheduler the cluster's workers are used.")
@click.option("--min-clips", type=click.IntRange(1, None), default=30, show_default=True,
              help="Groups with fewer clips are marked insufficient evidence.")
@click.option("--min-speakers", type=click.IntRange(1, None), default=5, show_default=True,
              help="Groups with fewer speakers are marked insufficient evidence.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the speaker bootstrap.")
@click.option("--paired", is_flag=True,
              help="Compare every other --model with the first, clip by clip (model_comparison.csv).")
@results_option
@allow_unpinned_option
@json_option
@input_shape_option
@scheduler_option
@click.option("--resume", type=RUN_DIR, default=None,
              help="Continue an interrupted evaluation; scored chunks of clips are kept.")
def command(model_names: tuple[str, ...], corpus: str, workers: int, min_clips: int, min_speakers: int,
            seed: int, paired: bool, results: Path | None, allow_unpinned: bool, resume: Path | None, as_json: bool,
            input_shapes: tuple[str, ...], scheduler: str | None) -> None:
    """Score every clip of a corpus and break accuracy down by group, with intervals.

    \b
    Wake-word models are run as they stream on a device: front end, model, sliding-mean
    smoothing, cutoff, 1 s refractory period; a detection from the phrase start to 1 s after
    its end is a true positive, any other a false accept. Writes, in results/<run_id>/:
      fairness.csv|.md|.json  per model, attribute (accent, noise, snr_db, ... and
                              intersections such as accent&noise), group and metric:
                              n, speakers, value and its 95 % interval
      disparity.json          worst vs best group per attribute with speaker-bootstrap
                              intervals, Holm-corrected p-values and a verdict
      raw/predictions.parquet one row per (model, clip): score, decision, group columns
      plots/                  detection rate by group with interval bars; DET curves
    Example:  harness eval --model mww-okay-nabu --corpus builtin:demo
    On a Dask cluster:  harness eval --corpus /shared/corpus --scheduler tcp://HOST:8786
    """
    if resume is not None:
        RunDirectory.open(resume)  # checked first: a folder that is not a run must not cost an evaluation
    if paired and len(model_names) < 2:
        raise click.BadParameter("--paired needs the baseline and at least one variant", param_hint="--model")
    registry = models(allow_unpinned)
    names = list(model_names) or [e.name for e in registry.all() if e.task == Task.wake_word and e.evaluate]
    if not model_names:
        for name, exc in sorted(registry.broken.items()):
            click.secho(f"warning: model '{name}' is left out: {exc.message}", fg="yellow", err=True)
    plan = validate(Plan, {"name": "eval", "description": "evaluation from the command line", "models": names,
                           "targets": [], "corpus": corpus, "seed": seed, "scheduler": scheduler_or_none(scheduler),
                           "input_shapes": parse_input_shapes(input_shapes, names),
                           "paired_baseline": names[0] if paired else None,
                           "evaluation": {"workers": workers, "min_clips": min_clips, "min_speakers": min_speakers}},
                    "the command line options (--model, --corpus, --workers, --min-clips, --min-speakers, --seed)")
    ctx = Context(models=registry, targets=targets(), results=results_folder(results))
    with progress_bar("eval") as update:
        run_dir = run_plan(plan, ctx, progress=update, resume=resume)
    echo_not_measured(run_dir)
    echo_verdict(run_dir)
    click.echo(json.dumps(run_summary(run_dir), indent=2) if as_json else str(run_dir))
