"""Rate-correct deployed power for any model: a bare file that is a registered artifact runs at that model's rate,
and a rate nobody stated is a visible assumption in the tables that depend on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from harness.cli import _register, cli
from harness.core.paths import models_dir
from harness.modelgen import build_artifact
from harness.registry.models import ModelRegistry

_register()


def efficiency(*args: str) -> pd.DataFrame:
    out = CliRunner().invoke(cli, ["run", *args, "--runs", "20"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return pd.read_csv(Path(out.stdout.strip().splitlines()[-1]) / "efficiency.csv")


def test_the_file_behind_a_registered_model_is_deployed_at_that_models_rate(tmp_path: Path) -> None:
    artifact = ModelRegistry(models_dir()).get("mww-okay-nabu").artifact_path()
    own = tmp_path / "okay_nabu.tflite"
    shutil.copy(artifact, own)
    registered = efficiency("--model", "mww-okay-nabu", "--target", "mcu").iloc[0]
    bare = efficiency("--model", str(own), "--target", "mcu").iloc[0]
    assert bare["model"] == "okay_nabu"
    assert bare["inference_rate_hz"] == registered["inference_rate_hz"] == pytest.approx(1000 / 30)
    assert bare["inference_rate_source"] == "model step 30 ms"
    assert bare["deployed_power_mw"] == pytest.approx(registered["deployed_power_mw"], rel=0.05)


def test_a_rate_nobody_stated_is_named_as_an_assumption(tmp_path: Path) -> None:
    own = tmp_path / "my_classifier.tflite"
    shutil.copy(build_artifact("mlperf-resnet8-ic"), own)  # no registry entry: nothing says how often it runs
    row = efficiency("--model", str(own), "--target", "mcu").iloc[0]
    assert row["inference_rate_hz"] == 1.0
    assert row["inference_rate_source"].startswith("assumed 1/s")
    assert "--rate-hz" in row["inference_rate_source"]


def test_rate_hz_states_the_rate_of_a_model_without_a_step(tmp_path: Path) -> None:
    own = tmp_path / "my_classifier.tflite"
    shutil.copy(build_artifact("mlperf-resnet8-ic"), own)
    row = efficiency("--model", str(own), "--target", "mcu", "--rate-hz", "4").iloc[0]
    assert row["inference_rate_hz"] == 4.0 and "4/s" in row["inference_rate_source"]


def test_two_model_files_with_one_name_and_a_file_named_like_a_registered_model_are_refused(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(build_artifact("mlperf-resnet8-ic"), tmp_path / folder / "kws.tflite")
    out = CliRunner().invoke(cli, ["run", "--model", str(tmp_path / "a" / "kws.tflite"), "--model",
                                   str(tmp_path / "b" / "kws.tflite"), "--target", "mcu"], catch_exceptions=False)
    assert out.exit_code == 2 and "two models of the plan would share a name: 'kws'" in out.stderr
    shutil.copy(build_artifact("mlperf-resnet8-ic"), tmp_path / "mww-alexa.tflite")
    out = CliRunner().invoke(cli, ["run", "--model", str(tmp_path / "mww-alexa.tflite"), "--target", "mcu"],
                             catch_exceptions=False)
    assert out.exit_code == 2 and "the name of a registered model" in out.stderr
