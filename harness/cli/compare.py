"""``harness compare``: deltas between two runs with intervals; exit 1 on a significant regression."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from harness.compare.runs import compare_runs
from harness.compare.writer import write_comparison
from harness.core.errors import ExitCode


@click.command("compare")
@click.argument("run_a", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("run_b", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for compare.md and compare.json. Default: compare-<A>-vs-<B> next to RUN_B.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
              help="Confidence of each family of intervals (Bonferroni-corrected within it).")
@click.option("--tolerance", type=click.FloatRange(0.0, 10.0), default=0.0, show_default=True,
              help="Relative latency/energy increase accepted before a significant rise counts (0.05 = 5 %).")
@click.pass_context
def command(ctx: click.Context, run_a: Path, run_b: Path, out: Path | None, confidence: float,
            tolerance: float) -> None:
    """Compare RUN_B against the baseline RUN_A: latency, energy, per-group detection.

    \b
    A regression is significant when its interval excludes zero on the worse side (slower, more energy,
    lower detection or accuracy). Exit status: 0 none, 1 at least one significant regression.
    Example:  harness compare results/<before> results/<after-requantization>
    """
    comparison = compare_runs(run_a, run_b, confidence, tolerance=tolerance)
    for note in comparison.notes:
        click.echo(f"  note: {note}", err=True)
    out = out or run_b.parent / f"compare-{run_a.name}-vs-{run_b.name}"
    paths = write_comparison(comparison, out)
    for r in comparison.regressions.to_dict("records"):
        where = "/".join(str(r[k]) for k in ("model", "target", "attribute", "group") if not pd.isna(r[k]))
        click.echo(f"  REGRESSION {r['metric']} {where}: {r['a']:.4g} -> {r['b']:.4g} "
                   f"(delta {r['delta']:.4g}, CI [{r['ci_low']:.4g}, {r['ci_high']:.4g}])", err=True)
    click.echo(f"{len(comparison.regressions)} significant regression(s) in {len(comparison.rows)} comparisons")
    click.echo(str(paths[0]))
    ctx.exit(ExitCode.FAIL if len(comparison.regressions) else ExitCode.OK)
