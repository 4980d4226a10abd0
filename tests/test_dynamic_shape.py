"""A model with dynamic input dimensions runs when its entry says which shape to use, and otherwise the error says
how to say it (not a Python API hint)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from click.testing import CliRunner

from harness.cli import cli
from harness.core.paths import models_dir
from harness.registry.models import ModelRegistry

STAGE = ModelRegistry(models_dir()).get("oww-alexa").stages[0]  # openWakeWord's melspectrogram: [1, -1] float32


def test_a_dynamic_model_needs_a_shape_and_runs_with_the_one_its_entry_gives(tmp_path: Path) -> None:
    path = ModelRegistry(models_dir()).get("oww-alexa").stage_paths()[0]
    out = CliRunner().invoke(cli, ["run", "--model", str(path), "--target", "phone", "--runs", "5"])
    assert out.exit_code != 0 and "dynamic dimensions" in out.stderr and "entry YAML" in out.stderr
    assert "load()" not in out.stderr and "Traceback" not in out.stderr
    entry = tmp_path / "melspec.yaml"
    entry.write_text(yaml.safe_dump({
        "name": "melspec-1760", "task": "generic", "format": "tflite", "description": "mel front end, 110 ms",
        "artifact": {"file": str(path), "sha256": STAGE.artifact.sha256},
        "input": {"shape": [1, 1760], "dtype": "float32"}, "source": "pyopen-wakeword", "license": "Apache-2.0"}))
    out = CliRunner().invoke(cli, ["run", "--model", str(entry), "--target", "phone", "--runs", "5"],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    row = pd.read_csv(Path(out.stdout.strip().splitlines()[-1]) / "efficiency.csv").iloc[0]
    assert row["model"] == "melspec-1760" and row["latency_ms_p50"] > 0


def test_input_shape_on_the_command_line_runs_a_bare_dynamic_model(tmp_path: Path) -> None:
    path = ModelRegistry(models_dir()).get("oww-alexa").stage_paths()[0]
    out = CliRunner().invoke(cli, ["run", "--model", str(path), "--target", "phone", "--runs", "5",
                                   "--input-shape", "1,1760"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    assert pd.read_csv(run_dir / "efficiency.csv").iloc[0]["latency_ms_p50"] > 0
    manifest = yaml.safe_load((run_dir / "manifest.json").read_text())
    assert manifest["plan"]["input_shapes"] == {str(path): [1, 1760]}  # frozen with the plan, for --resume
    bad = CliRunner().invoke(cli, ["run", "--model", str(path), "--target", "phone", "--input-shape", "1,2,3"])
    assert bad.exit_code == 2 and "does not fit its input" in bad.stderr and "Traceback" not in bad.stderr
