"""The command families, each in its own module, loaded only when a command is run or its help is shown.

``harness --help`` lists the short help from ``COMMANDS`` without importing any command module (they pull
in runtimes, pandas and matplotlib); tests check that each entry matches its command's own short help.
"""

from __future__ import annotations

import importlib

import click

# command name -> (module under harness.cli, the short help `harness --help` lists)
COMMANDS: dict[str, tuple[str, str]] = {
    "targets": ("targets", "Device profiles in targets/*.yaml: the four classes and concrete boards."),
    "models": ("models", "The model registry in models/*.yaml."),
    "predict": ("predict", "Predict device latency and energy per inference from the calibrated cost model."),
    "run": ("run", "Measure every model on every target, evaluate on the plan's corpus, write results/<run_id>/."),
    "eval": ("eval", "Score every clip of a corpus and break accuracy down by group, with intervals."),
    "corpus": ("corpus", "Build keyword-spotting evaluation corpora."),
    "calibrate": ("calibrate", "Fit cycles per MAC, dispatch cost and core/stack factors; print residuals per "
                               "published row."),
    "sim-dut": ("sim_dut", "Serve a simulated DUT speaking the MLPerf Tiny serial protocol, byte for byte."),
    "bench-device": ("bench_device", "Drive MLPerf Tiny firmware over serial and write results/<run_id>/ like "
                                     "'harness run'."),
    "devices": ("devices", "List serial ports (VID:PID) matched to known DUT probes, monitors and IO managers, "
                           "the Linux boards (ssh://) that target profiles name, and the phones the adb server "
                           "lists (adb://)."),
    "signoff": ("signoff", "Gate a run directory and write signoff.json and signoff.md into it."),
    "report": ("report", "Write model cards and report.html from a run directory's tables."),
    "compare": ("compare", "Compare RUN_B against the baseline RUN_A: latency, energy, per-group detection."),
    "compare-models": ("compare_models", "Compare variants of one network (e.g. float32 and int8) with the first, "
                                         "clip by clip."),
    "parity": ("parity", "Run variants of one network in every runtime that reads them; compare every pair of runs."),
    "verify": ("verify", "Audit RESULTS (default results/): ledger links and recorded file hashes."),
    "cluster": ("cluster", "A Dask cluster to evaluate and measure on (harness eval/run --scheduler)."),
}


def load(name: str) -> click.Command:
    """Import the module of command ``name`` and return its click command."""
    module, _ = COMMANDS[name]
    return importlib.import_module(f"harness.cli.{module}").command


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use; its listing comes from ``COMMANDS``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(load(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            extra = self.commands.get(name) if name not in COMMANDS else None
            rows.append((name, extra.get_short_help_str(formatter.width) if extra else COMMANDS[name][1]))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
