"""``harness calibrate``: refit the simulated cost model to the published MLPerf Tiny results."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from harness.core.paths import project_root
from harness.costmodel import calibration


@click.command("calibrate")
@click.option("--write", is_flag=True, help="Write harness/costmodel/cost_model.json and docs/calibration.md.")
def command(write: bool) -> None:
    """Fit cycles per MAC, dispatch cost and core/stack factors; print residuals per published row.

    The method is in docs/calibration.md. Without --write nothing is changed.
    """
    cal = calibration.calibrate()
    for r in cal.residuals:
        click.echo(f"{r['residual_pct']:>8.2f} %  {r['predicted_ms']:>10.3f} ms vs {r['published_ms']:>10.3f} ms  "
                   f"{r['row']}")
    covered = sum(r["covered"] for r in cal.loo)
    click.echo(f"leave-one-out: published / predicted in [{cal.params['error_band']['low']}, "
               f"{cal.params['error_band']['high']}]; {covered} of {len(cal.loo)} held-out rows covered")
    if write:
        json_path = Path(str(resources.files("harness.costmodel").joinpath("cost_model.json")))
        doc_path = project_root() / "docs" / "calibration.md"
        calibration.write(cal, json_path, doc_path)
        click.echo(f"wrote {json_path} and {doc_path}")
