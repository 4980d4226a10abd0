"""``harness report``: the model cards and the self-contained HTML report of a run directory."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import RUN_DIR
from harness.reports.documents import write_documents
from harness.runs.record import amend_dir
from harness.signoff import load_policy


@click.command("report")
@click.argument("run_dir", type=RUN_DIR)
@click.option("--policy", "policy_path", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Sign-off policy whose publication.min_group_size applies (default plans/policy-default.yaml).")
@click.option("--min-group-size", type=click.IntRange(min=1), default=None,
              help="Groups measured on fewer clips are left out of the public model cards (kept in report.html); "
                   "overrides the policy's publication.min_group_size.")
def command(run_dir: Path, policy_path: Path | None, min_group_size: int | None) -> None:
    """Write model cards and report.html from a run directory's tables.

    \b
    Writes, in RUN_DIR:
      model_cards/<model>.md    Hugging Face model card: YAML front matter with a model-index
                                ("x ± y" values), then the Mitchell et al. sections; every
                                number read from the run's tables
      model_cards/<model>.json  the same card in the Model Card Toolkit schema
      report.html               one self-contained page: verdict and gates (signoff.json),
                                efficiency matrix, latency, power traces, accuracy per group,
                                DET curves, fairness-accuracy trade-off
    Speaker ids in cards are keyed hashes (salt: $HARNESS_PSEUDONYM_SALT, else
    <results>/.pseudonym-salt). Prints each file written.
    Example:  harness report results/20260101T000000000Z-demo
    """
    if min_group_size is None:
        min_group_size = load_policy(policy_path).publication.min_group_size
    for path in write_documents(run_dir, min_group_size=min_group_size):
        click.echo(str(path))
    amend_dir(run_dir, f"harness report --min-group-size {min_group_size}")
