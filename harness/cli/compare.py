"""``harness compare``: deltas between two runs with intervals; exit 1 on a significant regression."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

from harness.cli.common import RUN_DIR, json_option
from harness.compare.runs import RATE_TOLERANCE, TOLERANCE, compare_runs
from harness.compare.writer import tolerance_text, write_comparison
from harness.core.errors import ExitCode


@click.command("compare")
@click.argument("run_a", type=RUN_DIR)
@click.argument("run_b", type=RUN_DIR)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for compare.md and compare.json. Default: compare-<A>-vs-<B> next to RUN_B.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
              help="Confidence of each family of intervals (Bonferroni-corrected within it).")
@click.option("--tolerance", type=click.FloatRange(0.0, 10.0), default=TOLERANCE, show_default=True,
              help="Relative latency/energy change that counts as no change (0.02 = 2 % of A's value).")
@click.option("--rate-tolerance", type=click.FloatRange(0.0, 1.0), default=RATE_TOLERANCE, show_default=True,
              help="Absolute change of a per-group detection rate or accuracy that counts as no change (0.01 = 1 pp).")
@json_option
@click.pass_context
def command(ctx: click.Context, run_a: Path, run_b: Path, out: Path | None, confidence: float,
            tolerance: float, rate_tolerance: float, as_json: bool) -> None:
    """Compare RUN_B against the baseline RUN_A: latency, energy, per-group detection.

    \b
    Each figure is regressed, improved or no change, decided on the interval of B - A from the two runs'
    own samples: regressed only when the whole interval lies beyond the tolerance on the worse side
    (slower, more energy, lower detection or accuracy). A change within the tolerance is no change even
    when significant, so reruns that differ only in --seed give no change.
    Exit status: 0 no regression, 1 at least one regression.
    RUN_B may be 'latest' (the newest run in the results folder).
    Example:  harness compare results/<before> results/<after-requantization>
    """
    comparison = compare_runs(run_a, run_b, confidence, tolerance=tolerance, rate_tolerance=rate_tolerance)
    for note in comparison.notes:
        click.echo(f"  note: {note}", err=True)
    out = out or run_b.parent / f"compare-{run_a.name}-vs-{run_b.name}"
    paths = write_comparison(comparison, out)
    for r in comparison.regressions.to_dict("records"):
        where = "/".join(str(r[k]) for k in ("model", "target", "attribute", "group") if not pd.isna(r[k]))
        click.echo(f"  REGRESSED {r['metric']} {where}: {r['a']:.4g} -> {r['b']:.4g} "
                   f"(delta {r['delta']:.4g}, CI [{r['ci_low']:.4g}, {r['ci_high']:.4g}])", err=True)
    if as_json:
        regressed = json.loads(comparison.regressions.to_json(orient="records", double_precision=10))
        click.echo(json.dumps({"schema": "edge-harness/compare/1", "a": str(run_a), "b": str(run_b),
                               "regressions": len(comparison.regressions), "comparisons": len(comparison.rows),
                               "tolerance": tolerance, "rate_tolerance": rate_tolerance, "confidence": confidence,
                               "regressed": regressed, "report": str(paths[0])}, indent=2))
    else:
        click.echo(f"{len(comparison.regressions)} regression(s) in {len(comparison.rows)} comparisons "
                   f"({tolerance_text(comparison)})")
        click.echo(str(paths[0]))
    ctx.exit(ExitCode.FAIL if len(comparison.regressions) else ExitCode.OK)
