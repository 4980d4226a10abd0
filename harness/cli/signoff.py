"""``harness signoff``: decide a run under a policy; the exit code is the verdict."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli.common import RUN_DIR, json_option
from harness.core.verdict import Verdict
from harness.rundir import contract
from harness.runs.record import amend_dir
from harness.signoff import load_policy, signoff_run

GATE_FIELDS = ("id", "model", "target", "metric", "status", "provenance", "value", "ci_low", "ci_high", "threshold",
               "reason")


@click.command("signoff")
@click.argument("run_dir", type=RUN_DIR)
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), default=None,
              help="Sign-off policy YAML. Default: plans/policy-default.yaml.")
@json_option
@click.pass_context
def command(ctx: click.Context, run_dir: Path, policy_path: Path | None, as_json: bool) -> None:
    """Gate a run directory and write signoff.json and signoff.md into it.

    \b
    Every gate is decided on its interval: PASS only if the whole interval is on the allowed side of
    the threshold, FAIL only if it is wholly beyond it, else INSUFFICIENT_EVIDENCE with the extra
    samples that would decide it. Exit status: 0 PASS, 1 FAIL, 3 INSUFFICIENT_EVIDENCE.
    RUN_DIR may be 'latest' (the newest run in the results folder).
    Example:  harness signoff results/<run_id> --policy plans/policy-default.yaml
    """
    policy = load_policy(policy_path)
    result = signoff_run(run_dir, policy)
    amend_dir(run_dir, f"harness signoff --policy {policy.source_file or 'default'}")
    counts = ", ".join(f"{n} {s}" for s, n in result.counts().items())
    blocking = [g for g in result.gates if g.status in (Verdict.FAIL, Verdict.INSUFFICIENT)]
    for gate in sorted(blocking, key=lambda g: (g.status != Verdict.FAIL, g.id))[:10]:
        click.echo(f"  {gate.status:<22} {gate.id}: {gate.reason}", err=True)
    if len(blocking) > 10:
        click.echo(f"  ... {len(blocking) - 10} more in signoff.md", err=True)
    if as_json:
        click.echo(json.dumps({"schema": "edge-harness/signoff/1", "run_dir": str(run_dir), "verdict": result.verdict,
                               "counts": result.counts(), "policy": policy.name,
                               "gates": [{k: g.record().get(k) for k in GATE_FIELDS} for g in result.gates]},
                              indent=2, default=str))
    else:
        click.echo(f"verdict: {result.verdict} ({counts})")
        click.echo(str(run_dir / contract.SIGNOFF_MD))
    ctx.exit(result.exit_code)
