"""``harness targets``: list and show device profiles."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from harness.cli.common import echo_json, render, targets, targets_dir_option


@click.group("targets")
def command() -> None:
    """Device profiles in targets/*.yaml: the four classes and concrete boards.

    A board names its class and inherits the class's latency and power budgets unless it
    overrides them. Every number in a profile carries its source; add a board by adding a file.
    """


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@targets_dir_option
def list_(as_json: bool, targets_dirs: tuple[Path, ...]) -> None:
    """One line per profile: class, core, clock, memory, default stack, budgets.

    A profile that fails validation is named on stderr with its error; the others are listed.
    """
    registry = targets(targets_dirs)
    profiles = registry.all()
    broken = registry.broken
    for name in sorted(broken, key=lambda n: (registry.broken_class_of(n) is not None, n)):
        cls = registry.broken_class_of(name)
        why = f"its class profile '{cls}' is invalid (above)" if cls else broken[name].message
        click.secho(f"warning: target '{name}' is not listed: {why}", fg="yellow", err=True)
    if as_json:
        echo_json([p.model_dump(mode="json", by_alias=True) for p in profiles])
        return
    table = Table("name", "kind", "class", "core", "MHz", "SRAM KiB", "flash KiB", "default stack",
                  "active mW", "latency budget ms", "power budget mW", "link")
    for p in sorted(profiles, key=lambda p: (p.kind.value != "class", p.target_class.value, p.name)):
        table.add_row(p.name, p.kind.value, p.target_class.value, p.core, f"{p.clock_mhz:g}", f"{p.sram_kb:g}",
                      f"{p.flash_kb:g}", p.default_stack, f"{p.power.active_mw:g}", f"{p.budgets.latency_ms:g}",
                      f"{p.budgets.power_mw:g}", p.link.url)
    click.echo(render(table), nl=False)


@command.command("show")
@click.argument("name")
@targets_dir_option
def show(name: str, targets_dirs: tuple[Path, ...]) -> None:
    """Every field of one profile, with the source of each number (YAML)."""
    import yaml

    profile = targets(targets_dirs).get(name)
    click.echo(yaml.safe_dump(profile.model_dump(mode="json", by_alias=True), sort_keys=False))
