"""``harness run``: execute a plan and write a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli.common import (
    RUN_DIR,
    RUNS,
    SEED,
    allow_unpinned_option,
    echo_not_measured,
    echo_verdict,
    input_shape_option,
    json_option,
    models,
    parse_input_shapes,
    plan_file,
    progress_bar,
    results_folder,
    results_option,
    scheduler_option,
    targets,
    targets_dir_option,
)
from harness.cluster.client import scheduler_or_none
from harness.core.errors import ConfigError, HarnessError
from harness.core.paths import plans_dir
from harness.core.verdict import Verdict
from harness.registry.plans import Plan, load_plan
from harness.registry.yamlio import validate
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runs.resume import frozen_device_urls, frozen_plan
from harness.runs.runner import Context, run_plan
from harness.runs.summary import run_summary
from harness.signoff import load_policy


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
@click.option("--runs", type=RUNS, default=None, help="Timed inferences per window (overrides the plan).")
@click.option("--seed", type=SEED, default=None, help="Seed for inputs and simulated jitter (overrides the plan).")
@click.option("--rate-hz", type=click.FloatRange(min=0, min_open=True, max=1e6), default=None,
              help="Inferences per second of models whose entry gives no step_ms (deployed power, battery, "
                   "carbon). Default: the plan's reporting.default_rate_hz (1/s), named as an assumption.")
@click.option("--device-url", "device_urls", multiple=True, metavar="[TARGET=]URL",
              help="Measure a target on an attached device instead of simulating it, keeping its profile's budgets: "
                   "ssh://user@host[:port] (a Linux board), adb://SERIAL?benchmark_model=PATH (an Android phone), "
                   "a serial port or pyserial URL (MLPerf Tiny firmware). "
                   "TARGET= may be left out when the run has one target; repeatable.")
@results_option
@allow_unpinned_option
@click.option("--resume", type=RUN_DIR, default=None,
              help="Continue an interrupted run directory with its own plan; finished pairs are not measured "
                   "again. Options that would change the plan are refused.")
@targets_dir_option
@json_option
@input_shape_option
@scheduler_option
@click.option("--gate", is_flag=True,
              help="For CI: exit with the sign-off verdict (0 PASS, 1 FAIL, 3 INSUFFICIENT_EVIDENCE; 3 when the run "
                   "has no sign-off). Without it a completed run exits 0 whatever the verdict.")
@click.pass_context
def command(click_ctx: click.Context, plan_path: Path | None, model_names: tuple[str, ...],
            target_names: tuple[str, ...], corpus: str | None, no_corpus: bool, runs: int | None, seed: int | None,
            rate_hz: float | None, device_urls: tuple[str, ...], results: Path | None, allow_unpinned: bool,
            resume: Path | None, targets_dirs: tuple[Path, ...], as_json: bool, input_shapes: tuple[str, ...],
            gate: bool, scheduler: str | None) -> None:
    """Measure every model on every target, evaluate on the plan's corpus, write results/<run_id>/.

    \b
    Examples:
      harness run                                   # plans/demo.yaml
      harness run --model mww-okay-nabu --target esp32-s3 --no-corpus
      harness run --model path/to/model.tflite --target mcu --runs 500
      harness run --model mlperf-dscnn-kws --target rpi4-camera --device-url ssh://pi@board?host_key=accept-new
    The run directory holds manifest.json, efficiency.csv|.md|.json, fairness.csv|.md|.json,
    disparity.json, plots/ and raw/ samples; the run is appended to results/ledger.jsonl.
    The directory is printed as the last line.
    A run without a corpus (--no-corpus, or --model/--target without --corpus) leaves its accuracy and
    fairness gates INSUFFICIENT_EVIDENCE, "not evaluated in this run", never FAIL.
    Exit status: 0 on a completed run; with --gate, the sign-off verdict's code (0 PASS, 1 FAIL,
    3 INSUFFICIENT_EVIDENCE), e.g. in CI:  harness run --plan my-plan.yaml --gate
    """
    changes = plan_path or model_names or target_names or corpus or no_corpus or runs is not None or \
        seed is not None or rate_hz is not None or bool(input_shapes)
    if resume is not None:
        RunDirectory.open(resume)  # checked first: a folder that is not a run must not cost a measurement
    if resume is not None and not changes:
        plan = frozen_plan(resume)  # a continuation of the run's own plan, on the devices it began on
        attached = frozen_device_urls(resume) | _device_urls(device_urls, plan)
    else:
        plan = _plan(plan_path, model_names, target_names, corpus, no_corpus, runs, seed, rate_hz, input_shapes)
        attached = _device_urls(device_urls, plan)
    if scheduler is not None:  # where the run computes, not what it measures: a resumed run may move
        plan = plan.model_copy(update={"scheduler": scheduler_or_none(scheduler)})
    _check_policy(plan)
    ctx = Context(models=models(allow_unpinned), targets=targets(targets_dirs), results=results_folder(results))
    with progress_bar(f"run {plan.name}") as update:
        run_dir = run_plan(plan, ctx, progress=update, resume=resume, device_urls=attached)
    echo_not_measured(run_dir)
    echo_verdict(run_dir)
    click.echo(json.dumps(run_summary(run_dir), indent=2) if as_json else str(run_dir))
    if gate:
        click_ctx.exit(_verdict(run_dir).exit_code)


def _verdict(run_dir: Path) -> Verdict:
    """The run's sign-off verdict; a run without one (no target measured) decided nothing."""
    path = run_dir / contract.SIGNOFF
    if not path.is_file():
        click.echo("--gate: the run wrote no sign-off (no target measured): INSUFFICIENT_EVIDENCE", err=True)
        return Verdict.INSUFFICIENT
    return Verdict(json.loads(path.read_text(encoding="utf-8"))["verdict"])


def _device_urls(given: tuple[str, ...], plan: Plan) -> dict[str, str]:
    """``TARGET=URL`` pairs; a bare URL attaches the plan's only target."""
    attached: dict[str, str] = {}
    for item in given:
        name, sep, url = item.partition("=")
        if not sep or "://" in name or name.startswith("/"):
            if len(plan.targets) != 1:
                raise ConfigError(f"--device-url {item}: the run has {len(plan.targets)} targets, so say which one",
                                  hint="--device-url TARGET=URL, e.g. rpi4-camera=ssh://pi@board")
            name, url = plan.targets[0], item
        attached[name] = url
    return attached


def _plan(plan_path: Path | None, model_names: tuple[str, ...], target_names: tuple[str, ...], corpus: str | None,
          no_corpus: bool, runs: int | None, seed: int | None, rate_hz: float | None,
          input_shapes: tuple[str, ...] = ()) -> Plan:
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
        overrides["measure"] = {**plan.measure.model_dump(), "runs": runs}
    if input_shapes:
        overrides["input_shapes"] = parse_input_shapes(input_shapes, list(model_names) or plan.models)
    if rate_hz is not None:
        overrides["reporting"] = {**plan.reporting.model_dump(), "default_rate_hz": rate_hz}
    if overrides:
        plan = validate(Plan, {**plan.model_dump(), **overrides},
                        f"{plan.source_file} with the command line's options")
    return plan


def _check_policy(plan: Plan) -> None:
    """Load the plan's sign-off policy now: a missing or invalid one is reported before anything is measured."""
    try:
        load_policy(plan.policy_path())
    except HarnessError as exc:
        if plan.policy is None:
            raise
        raise ConfigError(f"{plan.source_file or 'the plan'}: field 'policy': {exc.message}", hint=exc.hint) from None
