"""`harness predict` names its arena figure: a static estimate, a run's measured tflm arena may differ."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from harness.cli import _register, cli

_register()


def predict(*extra: str) -> str:
    result = CliRunner().invoke(cli, ["predict", "--model", "mww-alexa", "--target", "esp32-s3", *extra])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_json_says_where_the_arena_comes_from() -> None:
    data = json.loads(predict("--json"))
    assert data["arena_source"] == "static-estimate" and isinstance(data["arena_bytes"], int)


def test_the_terminal_shows_the_arena_in_kib_labelled_as_an_estimate() -> None:
    arena = json.loads(predict("--json"))["arena_bytes"]
    line = next(line for line in predict().splitlines() if line.strip().startswith("arena_bytes:"))
    shown = re.search(r"arena_bytes: ([\d.,]+) (B|KiB|MiB) \(static estimate", line)
    assert shown, line
    scale = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2}[shown.group(2)]
    assert abs(float(shown.group(1).replace(",", "")) * scale - arena) <= 0.0005 * arena + 0.5 * scale / 1000
    assert "tflm" in line and "e+" not in predict()
