"""The ``harness`` command line: one click group, one module per command family, each imported on first use.

Every HarnessError is turned into a one-paragraph message and its exit code here, in one place;
a user mistake never shows a traceback.
"""

from __future__ import annotations

import sys

import click

from harness import __version__
from harness.cli.commands import LazyGroup
from harness.core.errors import HarnessError


class _Group(LazyGroup):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            click.secho(f"error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(f"  hint: {exc.hint}", err=True)
            if exc.log_path:
                click.echo(f"  log: {exc.log_path}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """edge-harness: benchmark quantized edge ML models on real or simulated devices.

    \b
    Typical session:
      harness targets list                 # device profiles and their budgets
      harness models list                  # registered models (sha256-pinned)
      harness predict --model mww-alexa --target esp32-s3 --json
      harness run                          # the default plan, plans/demo.yaml
      harness run --model my.tflite --target mcu
      harness eval --model mww-alexa --corpus builtin:demo   # accuracy per accent and noise
      harness signoff results/<run_id>     # the verdict: exit 0 PASS, 1 FAIL, 3 undecided
      harness sim-dut --target mcu --model mlperf-dscnn-kws  # a simulated MLPerf Tiny board
      harness bench-device --port /dev/ttyACM0 --model mlperf-dscnn-kws
    Every run writes results/<run_id>/ (tables, report.html, model_cards/, signoff.md)
    and prints that directory as its last line.
    """


def _register() -> None:
    """Nothing to do: the group imports each command when it is first used (kept for callers of old)."""


def main() -> None:
    cli(prog_name="harness")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
