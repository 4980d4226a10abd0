"""``harness devices``: list serial ports with their USB VID:PID and match them to known boards and monitors."""

from __future__ import annotations

import click
from rich.table import Table

from harness.cli.common import echo_json, render
from harness.devices.discovery import describe_ports, joulescopes


@click.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(as_json: bool) -> None:
    """List serial ports (VID:PID) and match them to known DUT probes, monitors and IO managers."""
    rows = describe_ports() + joulescopes()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no serial ports found (a simulated DUT: 'harness sim-dut' prints a socket:// URL)")
        return
    table = Table(title="Serial ports")
    for column in ("port", "vid_pid", "serial_number", "description", "match", "use"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(row[c] for c in ("port", "vid_pid", "serial_number", "description", "match", "use")))
    click.echo(render(table))
