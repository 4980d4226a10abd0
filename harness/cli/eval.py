"""``harness eval``: per-group keyword-spotting accuracy of models on a corpus directory."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import echo_verdict, models, progress_bar, targets
from harness.core.paths import results_dir
from harness.registry.models import Task
from harness.registry.plans import Evaluation, Plan
from harness.runs.runner import Context, run_plan


@click.command("eval")
@click.option("--model", "model_names", multiple=True,
              help="Model name or .tflite/.onnx path (repeatable). Default: every registered wake-word model.")
@click.option("--corpus", required=True,
              help="Corpus directory (harness corpus synth/import --out DIR), or builtin:tiny|demo|full.")
@click.option("--workers", type=int, default=0, show_default=True, help="Worker processes; 0 = one per core.")
@click.option("--min-clips", type=int, default=30, show_default=True,
              help="Groups with fewer clips are marked insufficient evidence.")
@click.option("--min-speakers", type=int, default=5, show_default=True,
              help="Groups with fewer speakers are marked insufficient evidence.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the speaker bootstrap.")
@click.option("--results", type=click.Path(path_type=Path), default=None,
              help="Where run directories go. Default: $HARNESS_RESULTS, else ./results.")
@click.option("--resume", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Continue an interrupted evaluation; scored chunks of clips are kept.")
def command(model_names: tuple[str, ...], corpus: str, workers: int, min_clips: int, min_speakers: int,
            seed: int, results: Path | None, resume: Path | None) -> None:
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
    """
    registry = models()
    names = list(model_names) or [e.name for e in registry.all() if e.task == Task.wake_word and e.evaluate]
    plan = Plan(name="eval", description="evaluation from the command line", models=names, targets=[],
                corpus=corpus, seed=seed,
                evaluation=Evaluation(workers=workers, min_clips=min_clips, min_speakers=min_speakers))
    ctx = Context(models=registry, targets=targets(), results=results or results_dir())
    with progress_bar("eval") as update:
        run_dir = run_plan(plan, ctx, progress=update, resume=resume)
    echo_verdict(run_dir)
    click.echo(str(run_dir))
