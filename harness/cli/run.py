"""``harness run``: execute a plan and write a run directory."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import echo_verdict, models, plan_file, progress_bar, targets, targets_dir_option
from harness.core.paths import plans_dir, results_dir
from harness.registry.plans import Plan, load_plan
from harness.runs.resume import frozen_plan
from harness.runs.runner import Context, run_plan


@click.command("run")
@click.option("--plan", "plan_path", type=click.Path(path_type=Path), default=None,
              help="Plan YAML, or the name of a plan in the plan folders (demo). Default: the shipped plans/demo.yaml.")
@click.option("--model", "model_names", multiple=True,
              help="Run these models instead of the plan's (name or .tflite/.onnx path; repeatable).")
@click.option("--target", "target_names", multiple=True,
              help="Run on these targets instead (name or profile .yaml path; repeatable).")
@click.option("--corpus", default=None,
              help="Evaluate accuracy per group on this corpus (directory or builtin:tiny|demo|full). "
                   "Runs given --model/--target skip the plan's corpus unless this is set.")
@click.option("--no-corpus", is_flag=True, help="Skip the plan's corpus: efficiency only.")
@click.option("--runs", type=int, default=None, help="Timed inferences per window (overrides the plan).")
@click.option("--seed", type=int, default=None, help="Seed for inputs and simulated jitter (overrides the plan).")
@click.option("--rate-hz", type=click.FloatRange(min=0, min_open=True, max=1e6), default=None,
              help="Inferences per second of models whose entry gives no step_ms (deployed power, battery, "
                   "carbon). Default: the plan's reporting.default_rate_hz (1/s), named as an assumption.")
@click.option("--results", type=click.Path(path_type=Path), default=None,
              help="Where run directories go. Default: $HARNESS_RESULTS, else ./results.")
@click.option("--resume", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Continue an interrupted run directory with its own plan; finished pairs are not measured "
                   "again. Options that would change the plan are refused.")
@targets_dir_option
def command(plan_path: Path | None, model_names: tuple[str, ...], target_names: tuple[str, ...],
            corpus: str | None, no_corpus: bool, runs: int | None, seed: int | None, rate_hz: float | None,
            results: Path | None, resume: Path | None, targets_dirs: tuple[Path, ...]) -> None:
    """Measure every model on every target, evaluate on the plan's corpus, write results/<run_id>/.

    \b
    Examples:
      harness run                                   # plans/demo.yaml
      harness run --model mww-okay-nabu --target esp32-s3 --no-corpus
      harness run --model path/to/model.tflite --target mcu --runs 500
    The run directory holds manifest.json, efficiency.csv|.md|.json, fairness.csv|.md|.json,
    disparity.json, plots/ and raw/ samples; the run is appended to results/ledger.jsonl.
    The directory is printed as the last line.
    """
    changes = plan_path or model_names or target_names or corpus or no_corpus or runs is not None or \
        seed is not None or rate_hz is not None
    if resume is not None and not changes:
        plan = frozen_plan(resume)  # a continuation of the run's own plan
    else:
        plan = _plan(plan_path, model_names, target_names, corpus, no_corpus, runs, seed, rate_hz)
    ctx = Context(models=models(), targets=targets(targets_dirs), results=results or results_dir())
    with progress_bar(f"run {plan.name}") as update:
        run_dir = run_plan(plan, ctx, progress=update, resume=resume)
    echo_verdict(run_dir)
    click.echo(str(run_dir))


def _plan(plan_path: Path | None, model_names: tuple[str, ...], target_names: tuple[str, ...], corpus: str | None,
          no_corpus: bool, runs: int | None, seed: int | None, rate_hz: float | None) -> Plan:
    """The plan file (default plans/demo.yaml) with the command line's overrides."""
    plan = load_plan(plan_file(plan_path) if plan_path else plans_dir() / "demo.yaml")
    overrides: dict[str, object] = {}
    if model_names:
        overrides["models"] = list(model_names)
        overrides["name"] = "adhoc"
        overrides["description"] = "ad-hoc run from the command line"
    if target_names:
        overrides["targets"] = list(target_names)
        overrides["name"] = "adhoc"
        overrides["description"] = "ad-hoc run from the command line"
    if seed is not None:
        overrides["seed"] = seed
    if model_names or target_names or no_corpus:
        overrides["corpus"] = None  # quick runs measure efficiency unless --corpus asks for accuracy too
    if corpus is not None and not no_corpus:
        overrides["corpus"] = corpus
    if runs is not None:
        overrides["measure"] = plan.measure.model_copy(update={"runs": runs})
    if rate_hz is not None:
        overrides["reporting"] = plan.reporting.model_copy(update={"default_rate_hz": rate_hz})
    if overrides:
        plan = Plan.model_validate({**plan.model_dump(), **overrides})
    return plan
