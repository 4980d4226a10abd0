"""``harness models init``: a starting entry for a user's model file that runs as written and says what to complete."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import yaml
from click.testing import CliRunner

from harness.cli import cli
from harness.core.hashing import sha256_file
from harness.core.paths import models_dir
from harness.registry.models import ModelRegistry


def test_init_writes_the_hash_tensors_and_a_front_end_guess_and_the_entry_runs(tmp_path: Path) -> None:
    own = tmp_path / "my wake word.tflite"
    shutil.copy(ModelRegistry(models_dir()).get("mww-alexa").artifact_path(), own)
    out = CliRunner().invoke(cli, ["models", "init", str(own)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    written = Path(out.stdout.strip())
    text = written.read_text()
    entry = yaml.safe_load(text)
    assert entry["name"] == "my-wake-word" and entry["artifact"]["sha256"] == sha256_file(own)
    assert (entry["input"], entry["output"]) == ({"shape": [1, 3, 40], "dtype": "int8"},
                                                 {"shape": [1, 1], "dtype": "uint8"})
    assert (entry["frontend"], entry["task"], entry["step_ms"]) == ("micro_frontend", "wake_word", 30)
    assert text.startswith("# Written by harness models init")
    run = CliRunner().invoke(cli, ["run", "--model", str(written), "--target", "mcu", "--runs", "10"],
                             catch_exceptions=False)
    assert run.exit_code == 0, run.output
    row = pd.read_csv(Path(run.stdout.strip().splitlines()[-1]) / "efficiency.csv").iloc[0]
    assert row["model"] == "my-wake-word" and row["inference_rate_source"] == "model step 30 ms"
    again = CliRunner().invoke(cli, ["models", "init", str(own)])
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_init_names_dynamic_dimensions_to_fix(tmp_path: Path) -> None:
    own = tmp_path / "melspec.tflite"
    shutil.copy(ModelRegistry(models_dir()).get("oww-alexa").stage_paths()[0], own)
    out = CliRunner().invoke(cli, ["models", "init", str(own)], catch_exceptions=False)
    text = Path(out.stdout.strip()).read_text()
    assert "dynamic dimensions (-1)" in text and yaml.safe_load(text)["input"]["shape"] == [-1, -1]
