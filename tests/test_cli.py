"""The CLI as a user drives it: outputs per the run-directory contract, clean errors, exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from harness.cli import _register, cli
from harness.core.paths import models_dir, project_root
from harness.ledger import chain
from harness.modelgen import build_artifact

_register()

CONTRACT_COLUMNS = [
    "model", "target", "target_class", "backend", "model_bytes", "params", "macs", "arena_bytes",
    "latency_ms_p50", "latency_ms_p90", "latency_ms_p99", "energy_mj_per_inference", "avg_power_mw",
    "latency_budget_ms", "power_budget_mw", "fits_latency", "fits_power", "fits_memory",
]


def harness(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_run_writes_the_contract_and_prints_the_directory_last() -> None:
    code, out, _ = harness("run", "--model", "mww-okay-nabu", "--model", "mww-alexa", "--target", "mcu",
                           "--target", "wearable", "--runs", "30")
    assert code == 0
    run_dir = Path(out.strip().splitlines()[-1])
    assert run_dir.parent == Path(os.environ["HARNESS_RESULTS"])
    eff = pd.read_csv(run_dir / "efficiency.csv")
    assert list(eff.columns[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    assert len(eff) == 4 and set(eff["backend"]) == {"sim:mcu", "sim:wearable"}
    assert (run_dir / "efficiency.md").read_text().startswith("# Efficiency")
    assert len(json.loads((run_dir / "efficiency.json").read_text())["rows"]) == 4
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for key in ("run_id", "created_utc", "harness_version", "git_commit", "host", "seed", "runtime_versions"):
        assert key in manifest
    assert {m["name"] for m in manifest["models"]} == {"mww-okay-nabu", "mww-alexa"}
    assert all(len(m["sha256"]) == 64 for m in manifest["models"])
    assert (run_dir / "raw" / "latency__mww-alexa__wearable.parquet").is_file()
    # energy per inference x rate and the CO2e column are derived from the same row's numbers
    row = eff.iloc[0]
    assert row["co2e_g_per_million"] == pytest.approx(row["energy_mj_per_inference"] * 1e6 / 3.6e9 * 0.4 * 1e3,
                                                      rel=1e-5)
    assert chain.verify(Path(os.environ["HARNESS_RESULTS"]) / "ledger.jsonl") == 1
    # a run on targets ends with carbon and a sign-off verdict, and the ledger line covers both files
    signoff = json.loads((run_dir / "signoff.json").read_text())
    assert signoff["verdict"] in {"PASS", "FAIL", "INSUFFICIENT_EVIDENCE"} and signoff["gates"]
    assert len(pd.read_csv(run_dir / "carbon.csv")) == 4
    ledger_line = json.loads((Path(os.environ["HARNESS_RESULTS"]) / "ledger.jsonl").read_text().splitlines()[-1])
    on_disk = {p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in run_dir.rglob("*") if p.is_file()}
    assert ledger_line["run_dir"] == run_dir.name and ledger_line["command"] == "run"
    assert ledger_line["files"] == on_disk  # every file, the sign-off and carbon tables among them
    assert {"signoff.json", "carbon.csv", "report.html", "status.json"} <= set(on_disk)


def test_resume_measures_only_what_is_missing() -> None:
    code, out, _ = harness("run", "--model", "mww-alexa", "--target", "mcu", "--target", "wearable",
                           "--runs", "20")
    run_dir = Path(out.strip().splitlines()[-1])
    rows = (run_dir / "raw" / "efficiency_rows.jsonl").read_text().splitlines()
    (run_dir / "raw" / "efficiency_rows.jsonl").write_text(rows[0] + "\n" + rows[1][:25])  # torn write
    code, out, _ = harness("run", "--model", "mww-alexa", "--target", "mcu", "--target", "wearable",
                           "--runs", "20", "--resume", str(run_dir))
    assert code == 0
    eff = pd.read_csv(run_dir / "efficiency.csv")
    assert list(eff["target"]) == ["mcu", "wearable"]
    # the CSV keeps 10 significant digits
    assert json.loads(rows[0])["latency_ms_p50"] == pytest.approx(eff.iloc[0]["latency_ms_p50"], rel=1e-9)


def test_a_users_own_tflite_file_runs_on_a_class_target(tmp_path) -> None:
    own = tmp_path / "my_kws.tflite"
    shutil.copy(build_artifact("mlperf-dscnn-kws"), own)
    code, out, _ = harness("run", "--model", str(own), "--target", "mcu", "--runs", "10")
    assert code == 0
    eff = pd.read_csv(Path(out.strip().splitlines()[-1]) / "efficiency.csv")
    assert eff.loc[0, "model"] == "my_kws" and eff.loc[0, "macs"] == 2_656_768


def test_predict_json_has_the_documented_keys() -> None:
    code, out, _ = harness("predict", "--model", "mww-alexa", "--target", "esp32-s3", "--json")
    assert code == 0
    data = json.loads(out)
    assert {"latency_ms", "energy_mj", "macs", "arena_bytes"} <= set(data)
    assert data["stack"] == "esp-nn"
    code, out, _ = harness("predict", "--model", "mww-alexa", "--target", "nucleo-l4r5zi", "--stack",
                           "tflm-reference", "--json")
    slower = json.loads(out)
    assert slower["stack"] == "tflm-reference" and slower["macs"] == data["macs"]


def test_targets_and_models_listings() -> None:
    code, out, _ = harness("targets", "list")
    assert code == 0 and "nucleo-l4r5zi" in out and "wearable" in out
    code, out, _ = harness("targets", "show", "esp32-s3")
    assert yaml.safe_load(out)["default_stack"] == "esp-nn"
    code, out, _ = harness("models", "show", "mww-okay-nabu", "--json")
    analysis = json.loads(out)["analysis"]
    assert analysis["op_histogram"]["CONV_2D"] == 6 and analysis["macs"] > 0


# --- errors: a message naming the problem, exit code 2, never a traceback ----------------------------


def assert_clean_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "\nerror: " in "\n" + err
    for needle in needles:
        assert needle in err, err


def test_bad_plan_yaml(tmp_path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: p\nmodels: [mww-alexa\ntargets: [mcu]\n")
    code, _, err = harness("run", "--plan", str(plan))
    assert_clean_error(code, err, str(plan), "invalid YAML", "line")


def test_plan_with_a_wrong_field(tmp_path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: p\nmodels: [mww-alexa]\ntargets: [mcu]\nmeasure: {runs: 0}\n")
    code, _, err = harness("run", "--plan", str(plan))
    assert_clean_error(code, err, str(plan), "field 'measure.runs'")


def test_unknown_target() -> None:
    code, _, err = harness("run", "--model", "mww-alexa", "--target", "nucleo-xyz")
    assert_clean_error(code, err, "unknown target 'nucleo-xyz'", "nucleo-l4r5zi")


def test_model_hash_mismatch(tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"
    shutil.copytree(project_root() / "targets", home / "targets")
    shutil.copytree(project_root() / "plans", home / "plans")
    (home / "models").mkdir()
    entry = yaml.safe_load((models_dir() / "mww-alexa.yaml").read_text())
    entry["artifact"]["sha256"] = "f" * 64
    (home / "models" / "mww-alexa.yaml").write_text(yaml.safe_dump(entry))
    monkeypatch.setenv("HARNESS_HOME", str(home))
    code, _, err = harness("run", "--model", "mww-alexa", "--target", "mcu", "--runs", "5")
    assert_clean_error(code, err, "sha256 mismatch", "f" * 64)


def test_a_file_that_is_not_a_model(tmp_path) -> None:
    fake = tmp_path / "notes.tflite"
    fake.write_text("these are my notes, not a model\n")
    code, _, err = harness("run", "--model", str(fake), "--target", "mcu", "--runs", "5")
    assert_clean_error(code, err, str(fake))


def test_missing_model_file(tmp_path) -> None:
    code, _, err = harness("run", "--model", str(tmp_path / "absent.onnx"), "--target", "mcu")
    assert_clean_error(code, err, "absent.onnx", "not found")
