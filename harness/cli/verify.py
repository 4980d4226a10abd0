"""``harness verify``: check the ledger's hash chain and every run's recorded file hashes."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from harness.cli.common import json_option
from harness.core.errors import ExitCode
from harness.core.paths import results_dir
from harness.ledger.audit import audit


@click.command("verify")
@click.argument("results", type=click.Path(path_type=Path, file_okay=False), required=False)
@json_option
@click.pass_context
def command(ctx: click.Context, results: Path | None, as_json: bool) -> None:
    """Audit RESULTS (default results/): ledger links and recorded file hashes.

    \b
    Every broken link, missing run, changed, missing or unrecorded file is listed with the expected
    and actual sha256; run directories are looked up beside the ledger, so a copied results folder is
    judged on its own contents. Files rewritten later by harness signoff or harness report are
    amendment lines and show as "amended by ...", not as tampering. The last line has no successor to
    vouch for it: keep the printed head hash somewhere else too.
    Exit status: 0 intact (amendments included), 1 tampering found.
    """
    report = audit(results or results_dir())
    if as_json:
        click.echo(json.dumps({"schema": "edge-harness/verify/1", "ledger": str(report.ledger),
                               "entries": report.entries, "files_checked": report.files_checked,
                               "state": report.state, "tampered": report.tampered,
                               "head_sha256": report.head_sha256, "amended": report.amended,
                               "findings": [asdict(f) for f in report.findings]}, indent=2))
        ctx.exit(ExitCode.FAIL if report.tampered else ExitCode.OK)
    for f in report.findings:
        label = "TAMPERED" if f.tampering else "note"
        click.echo(f"{label}: {f.where}: {f.message}")
        if f.expected or f.actual:
            click.echo(f"  expected {f.expected}\n  actual   {f.actual}")
    click.echo(f"{report.ledger}: {report.entries} entries, {report.files_checked} files checked, {report.state}; "
               f"head sha256 {report.head_sha256}")
    ctx.exit(ExitCode.FAIL if report.tampered else ExitCode.OK)
