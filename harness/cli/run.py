"""``harness run``: execute a plan and write a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli.common import echo_verdict, models, progress_bar, targets
from harness.core.paths import plans_dir, results_dir
from harness.core.verdict import Verdict
from harness.registry.plans import Plan, load_plan
from harness.rundir import contract
from harness.runs.resume import frozen_plan
from harness.runs.runner import Context, run_plan


@click.command("run")
@click.option("--plan", "plan_path", type=click.Path(path_type=Path), default=None,
              help="Plan YAML (models x targets, measurement, reporting). Default: plans/demo.yaml.")
@click.option("--model", "model_names", multiple=True,
              help="Run these models instead of the plan's (name or .tflite/.onnx path; repeatable).")
@click.option("--target", "target_names", multiple=True, help="Run on these targets instead (repeatable).")
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
              help="Where run directories go. Default: results/ (or $HARNESS_RESULTS).")
@click.option("--resume", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Continue an interrupted run directory with its own plan; finished pairs are not measured "
                   "again. Options that would change the plan are refused.")
@click.option("--gate", is_flag=True,
              help="For CI: exit with the sign-off verdict (0 PASS, 1 FAIL, 3 INSUFFICIENT_EVIDENCE; 3 when the run "
                   "has no sign-off). Without it a completed run exits 0 whatever the verdict.")
@click.pass_context
def command(click_ctx: click.Context, plan_path: Path | None, model_names: tuple[str, ...],
            target_names: tuple[str, ...], corpus: str | None, no_corpus: bool, runs: int | None, seed: int | None,
            rate_hz: float | None, results: Path | None, resume: Path | None, gate: bool) -> None:
    """Measure every model on every target, evaluate on the plan's corpus, write results/<run_id>/.

    \b
    Examples:
      harness run                                   # plans/demo.yaml
      harness run --model mww-okay-nabu --target esp32-s3 --no-corpus
      harness run --model path/to/model.tflite --target mcu --runs 500
    The run directory holds manifest.json, efficiency.csv|.md|.json, fairness.csv|.md|.json,
    disparity.json, plots/ and raw/ samples; the run is appended to results/ledger.jsonl.
    The directory is printed as the last line.
    A run without a corpus (--no-corpus, or --model/--target without --corpus) leaves its accuracy and
    fairness gates INSUFFICIENT_EVIDENCE, "not evaluated in this run", never FAIL.
    Exit status: 0 on a completed run; with --gate, the sign-off verdict's code (0 PASS, 1 FAIL,
    3 INSUFFICIENT_EVIDENCE), e.g. in CI:  harness run --plan my-plan.yaml --gate
    """
    changes = plan_path or model_names or target_names or corpus or no_corpus or runs is not None or \
        seed is not None or rate_hz is not None
    if resume is not None and not changes:
        plan = frozen_plan(resume)  # a continuation of the run's own plan
    else:
        plan = _plan(plan_path, model_names, target_names, corpus, no_corpus, runs, seed, rate_hz)
    ctx = Context(models=models(), targets=targets(), results=results or results_dir())
    with progress_bar(f"run {plan.name}") as update:
        run_dir = run_plan(plan, ctx, progress=update, resume=resume)
    echo_verdict(run_dir)
    click.echo(str(run_dir))
    if gate:
        click_ctx.exit(_verdict(run_dir).exit_code)


def _verdict(run_dir: Path) -> Verdict:
    """The run's sign-off verdict; a run without one (no target measured) decided nothing."""
    path = run_dir / contract.SIGNOFF
    if not path.is_file():
        click.echo("--gate: the run wrote no sign-off (no target measured): INSUFFICIENT_EVIDENCE", err=True)
        return Verdict.INSUFFICIENT
    return Verdict(json.loads(path.read_text(encoding="utf-8"))["verdict"])


def _plan(plan_path: Path | None, model_names: tuple[str, ...], target_names: tuple[str, ...], corpus: str | None,
          no_corpus: bool, runs: int | None, seed: int | None, rate_hz: float | None) -> Plan:
    """The plan file (default plans/demo.yaml) with the command line's overrides."""
    plan = load_plan(plan_path or plans_dir() / "demo.yaml")
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
