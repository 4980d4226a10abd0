"""The list of command families; each lives in its own module."""

from __future__ import annotations

import importlib

import click

_MODULES = (
    "targets", "models", "predict", "run", "eval", "corpus", "calibrate",            # registry, runs, accuracy
    "sim_dut", "bench_device", "devices",                                          # the lab bench
    "signoff", "report", "compare", "verify",                                      # decisions and audit
)


def all_commands() -> list[click.Command]:
    commands = []
    for name in _MODULES:
        commands.append(importlib.import_module(f"harness.cli.{name}").command)
    return commands
