"""The CLI's start-up and progress: `harness --help` imports no command module; CI logs get plain progress lines."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import click
from rich.console import Console

from harness.cli import cli, common
from harness.cli.commands import COMMANDS, load
from harness.cli.progress import LineProgress, format_duration

MODULES = sorted(f"harness.cli.{module}" for module, _ in COMMANDS.values())


def imported_after(*args: str) -> list[str]:
    """The command modules imported by ``harness ARGS`` in a fresh interpreter."""
    script = ("import json, sys\nfrom harness.cli import cli\n"
              f"try:\n    cli({list(args)!r}, prog_name='harness')\nexcept SystemExit:\n    pass\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.startswith('harness.cli.'))), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return [m for m in json.loads(done.stderr.strip().splitlines()[-1]) if m in MODULES]


def test_help_imports_no_command_module() -> None:
    assert imported_after("--help") == []


def test_a_commands_help_imports_only_its_module() -> None:
    assert imported_after("sim-dut", "--help") == ["harness.cli.sim_dut"]


def test_the_static_table_matches_every_commands_own_help() -> None:
    for name in COMMANDS:
        command = load(name)
        assert command.name == name
        assert COMMANDS[name][1] == command.get_short_help_str(limit=10_000), name


def test_help_lists_every_command_with_its_short_help() -> None:
    ctx = click.Context(cli, info_name="harness")
    text = cli.get_help(ctx)
    for name, (_, short) in COMMANDS.items():
        assert name in text
        assert short.split()[0] in text


def test_line_progress_every_tenth_and_every_interval() -> None:
    now = [0.0]
    lines: list[str] = []
    progress = LineProgress("run demo", lines.append, interval_s=10.0, clock=lambda: now[0])
    for done in range(0, 201):  # 200 clips at 0.5 s each: 100 s
        now[0] = done * 0.5
        progress("clips", done, 200)
    assert len(lines) == 11  # 0 %, 10 %, ..., 100 %: each tenth comes every 10 s, so no extra lines
    assert lines[1] == "[    10s] run demo: clips 20/200 (10 %), eta 1m30s"
    assert lines[-1] == "[  1m40s] run demo: clips 200/200 (100 %) done"
    lines.clear()
    slow = LineProgress("eval", lines.append, interval_s=10.0, clock=lambda: now[0])
    for done in range(0, 6):  # 1000 items, 25 s per item: a tenth takes 2500 s, the interval rules
        now[0] = 1000 + done * 25.0
        slow("clips", done, 1000)
    assert [line.split("] ")[1] for line in lines] == [
        "eval: clips 0/1000 (0 %)",
        "eval: clips 1/1000 (0 %), eta 6h56m",  # 999 x 25 s = 24975 s
        "eval: clips 2/1000 (0 %), eta 6h55m",
        "eval: clips 3/1000 (0 %), eta 6h55m",
        "eval: clips 4/1000 (0 %), eta 6h55m",
        "eval: clips 5/1000 (0 %), eta 6h54m",
    ]


def test_a_new_step_gets_its_own_eta() -> None:
    now = [0.0]
    lines: list[str] = []
    progress = LineProgress("run", lines.append, clock=lambda: now[0])
    progress("pairs", 0, 4)
    now[0] = 100.0
    progress("pairs", 4, 4)
    progress("sign-off", 0, 1)  # a new total: the rate of the pairs says nothing about it
    now[0] = 101.0
    progress("sign-off", 1, 1)
    assert lines[-2] == "[  1m40s] run: sign-off 0/1 (0 %)"
    assert lines[-1] == "[  1m41s] run: sign-off 1/1 (100 %) done"


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 59.4, 60, 3599, 3600, 7325)] == ["0s", "59s", "1m00s", "59m59s",
                                                                            "1h00m", "2h02m"]


def test_without_a_terminal_progress_is_plain_lines(capsys, monkeypatch) -> None:
    monkeypatch.setattr(common, "err_console", Console(file=io.StringIO(), force_terminal=False))
    with common.progress_bar("run x") as update:
        update("pair", 0, 2)
        update("pair", 2, 2)
    err = capsys.readouterr().err.splitlines()
    assert [line.split("] ")[1] for line in err] == ["run x: pair 0/2 (0 %)", "run x: pair 2/2 (100 %) done"]


def test_on_a_terminal_the_bar_shows_an_eta(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(common, "err_console", Console(file=out, force_terminal=True, width=150))
    with common.progress_bar("run x") as update:
        update("pair", 1, 4)
    assert "eta" in out.getvalue() and "1/4" in out.getvalue()
