"""``harness compare-models``: variants of one network on the same clips and targets, paired group by group."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli.common import (
    SEED,
    allow_unpinned_option,
    echo_not_measured,
    echo_verdict,
    json_option,
    models,
    progress_bar,
    results_folder,
    results_option,
    targets,
)
from harness.core.errors import read_json
from harness.registry.plans import MAX_WORKERS, Plan
from harness.registry.yamlio import validate
from harness.rundir import contract
from harness.runs.runner import Context, run_plan
from harness.runs.summary import run_summary
from harness.signoff import load_policy


@click.command("compare-models")
@click.argument("model_list", metavar="BASELINE,VARIANT[,VARIANT...]")
@click.option("--corpus", required=True,
              help="Corpus directory (harness corpus synth/import --out DIR), or builtin:tiny|demo|full.")
@click.option("--target", "target_names", multiple=True,
              help="Target profile to measure every variant on (repeatable); none: accuracy only.")
@click.option("--workers", type=click.IntRange(0, MAX_WORKERS), default=0, show_default=True,
              help="Worker processes; 0 = one per core.")
@click.option("--min-clips", type=click.IntRange(1, None), default=30, show_default=True,
              help="Groups with fewer clips are marked insufficient evidence.")
@click.option("--min-speakers", type=click.IntRange(1, None), default=5, show_default=True,
              help="Groups with fewer speakers are marked insufficient evidence.")
@click.option("--n-boot", type=click.IntRange(2, 1_000_000), default=1000, show_default=True,
              help="Speaker-bootstrap replicates of every paired interval.")
@click.option("--policy", "policy_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Sign-off policy YAML (e.g. with quantization.max_group_drop_points). Default: the default policy.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the bootstrap and the measurements.")
@results_option
@allow_unpinned_option
@json_option
def command(model_list: str, corpus: str, target_names: tuple[str, ...], workers: int, min_clips: int,
            min_speakers: int, n_boot: int, policy_path: Path | None, seed: int, results: Path | None,
            allow_unpinned: bool, as_json: bool) -> None:
    """Compare variants of one network (e.g. float32 and int8) with the first, clip by clip.

    \b
    Every model is evaluated on the same clips (and measured on every --target); each variant's
    difference from BASELINE is reported per group and overall with a speaker-level paired
    bootstrap interval, beside its latency, energy and memory difference on each target.
    Writes a run directory as `harness run` does, plus model_comparison.csv|md|json whose
    meta.answers say per target: "<variant> saves X mJ per inference on <target> and costs
    Y points of accuracy on <group> [interval]".
    Example:  harness compare-models dscnn-kws12,dscnn-kws12-int8 --corpus builtin:demo --target nrf52840
    """
    names = [n.strip() for n in model_list.split(",") if n.strip()]
    if len(names) < 2:
        raise click.BadParameter("give the baseline and at least one variant, separated by commas",
                                 param_hint="BASELINE,VARIANT")
    if policy_path is not None:
        load_policy(policy_path)  # an invalid policy is reported before anything is measured
    registry = models(allow_unpinned)
    plan = validate(Plan, {"name": "compare-models", "description": "paired comparison of model variants",
                           "models": names, "targets": list(target_names), "corpus": corpus, "seed": seed,
                           "paired_baseline": names[0],
                           "policy": str(policy_path.resolve()) if policy_path else None,
                           "evaluation": {"workers": workers, "min_clips": min_clips, "min_speakers": min_speakers,
                                          "n_boot": n_boot}},
                    "the command line (BASELINE,VARIANT, --corpus, --target, --workers, --min-clips, --min-speakers, "
                    "--n-boot, --policy, --seed)")
    ctx = Context(models=registry, targets=targets(), results=results_folder(results))
    with progress_bar("compare-models") as update:
        run_dir = run_plan(plan, ctx, progress=update)
    echo_not_measured(run_dir)
    if target_names:
        echo_verdict(run_dir)
    answers = read_json(run_dir / contract.MODEL_COMPARISON.json, dict)["meta"]["answers"]
    if as_json:
        click.echo(json.dumps({**run_summary(run_dir), "answers": answers}, indent=2))
        return
    for a in answers:
        click.echo(a["sentence"], err=True)
    click.echo(str(run_dir))
