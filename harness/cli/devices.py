"""``harness devices``: list serial ports with their USB VID:PID and match them to known boards and monitors."""

from __future__ import annotations

import click
from rich.table import Table

from harness.cli.common import echo_json, render, targets
from harness.devices.discovery import adb_devices, describe_ports, joulescopes, profile_links


@click.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--probe", is_flag=True,
              help="Also ask each ST-LINK serial port 'name%' (tells the MLPerf Tiny interface board from a Nucleo DUT "
                   "on the same VID:PID) and try a TCP connection to each SSH board a target profile names.")
def command(as_json: bool, probe: bool) -> None:
    """List serial ports (VID:PID) matched to known DUT probes, monitors and IO managers, the Linux boards
    (ssh://) that target profiles name, and the phones the adb server lists (adb://)."""
    phones, adb_note = adb_devices()
    rows = describe_ports(probe=probe) + joulescopes() + profile_links(targets().all(), probe=probe) + phones
    if adb_note:
        click.echo(adb_note, err=True)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no serial ports or SSH boards found (a simulated DUT: 'harness sim-dut' prints a socket:// URL; "
                   "a Linux board: a target profile with link url ssh://user@host)")
        return
    table = Table(title="Serial ports")
    for column in ("port", "vid_pid", "serial_number", "description", "match", "use"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(row[c] for c in ("port", "vid_pid", "serial_number", "description", "match", "use")))
    click.echo(render(table))
