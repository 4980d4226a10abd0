"""``harness parity``: the same clips through LiteRT, TFLite Micro and ONNX Runtime for each variant of a network."""

from __future__ import annotations

import json

import click

from harness.cli.common import allow_unpinned_option, json_option, models
from harness.core.errors import ExitCode
from harness.evaluation.runtime_parity import parity
from harness.runs.evaluation import resolve_corpus


@click.command("parity")
@click.argument("model_list", metavar="MODEL[,MODEL...]")
@click.option("--corpus", required=True, help="Corpus directory, or builtin:tiny|demo|full.")
@click.option("--clips", type=click.IntRange(1, 100_000), default=32, show_default=True,
              help="How many clips (the first in manifest order) go through every runtime.")
@allow_unpinned_option
@json_option
@click.pass_context
def command(ctx: click.Context, model_list: str, corpus: str, clips: int, allow_unpinned: bool,
            as_json: bool) -> None:
    """Run variants of one network in every runtime that reads them; compare every pair of runs.

    \b
    Per pair: top-1 agreement, the largest score difference, what can make them differ (kernel
    arithmetic, quantization), and each disagreeing clip explained as a near tie or a divergence.
    Exit status 1 when one model disagrees with itself across runtimes beyond rounding.
    Example:  harness parity dscnn-kws12,dscnn-kws12-int8,dscnn-kws12-onnx --corpus builtin:tiny
    """
    registry = models(allow_unpinned)
    entries = [registry.get(name.strip()) for name in model_list.split(",") if name.strip()]
    pairs = parity(entries, resolve_corpus(corpus), clips)
    drift = [p for p in pairs if p.within_tolerance is False or (p.tolerance is not None and p.top1_agreement < 1)]
    if as_json:
        click.echo(json.dumps({"clips": clips, "pairs": [p.record() for p in pairs]}, indent=2))
    else:
        for p in pairs:
            bound = "" if p.tolerance is None else f" (rounding up to {p.tolerance:.4g})"
            click.echo(f"{p.a} vs {p.b}: top-1 agrees on {p.top1_agreement:.1%} of {p.n}, largest score "
                       f"difference {p.max_abs_diff:.4g}{bound}; {p.cause}")
            for d in p.disagreements:
                click.echo(f"  {d['clip_id']}: {d['top1_a']} vs {d['top1_b']}: {d['explanation']}")
    ctx.exit(ExitCode.FAIL if drift else ExitCode.OK)
