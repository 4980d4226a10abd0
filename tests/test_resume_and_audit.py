"""Nothing mixed, nothing forged: resume continues the run's own plan, one process holds a run directory, and the
audit trail holds for copies and amendments (the reproduced defects of the reliability issue)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from harness.cli import _register, cli
from harness.ledger import chain
from harness.rundir.directory import RunDirectory

_register()


def harness(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run(*args: str) -> Path:
    code, out, err = harness(*args)
    assert code == 0, err
    return Path(out.strip().splitlines()[-1])


def ledger_lines(results: Path) -> list[dict]:
    return [json.loads(line) for line in (results / "ledger.jsonl").read_text().splitlines()]


# ---- resume is a continuation -----------------------------------------------------------------------------


def test_resume_without_options_continues_the_runs_own_plan(tmp_path: Path) -> None:
    results = tmp_path / "elsewhere"
    run_dir = run("run", "--model", "mww-alexa", "--target", "mcu", "--target", "wearable", "--runs", "20",
                  "--seed", "4", "--results", str(results))
    rows = (run_dir / "raw" / "efficiency_rows.jsonl").read_text().splitlines()
    (run_dir / "raw" / "efficiency_rows.jsonl").write_text(rows[0] + "\n")  # interrupted after one pair
    # no --plan, --model, --seed: the default plans/demo.yaml must not creep in
    assert run("run", "--resume", str(run_dir)) == run_dir
    eff = pd.read_csv(run_dir / "efficiency.csv")
    assert list(zip(eff["model"], eff["target"], eff["seed"], eff["n_runs"], strict=True)) == [
        ("mww-alexa", "mcu", 4, 20), ("mww-alexa", "wearable", 4, 20)]
    # the resumed run records in the ledger of the folder it lives in (an amendment: it was recorded once)
    lines = ledger_lines(results)
    assert [line["run_id"] for line in lines] == [run_dir.name, run_dir.name] and lines[1]["amends"] == run_dir.name
    assert not (Path(os.environ["HARNESS_RESULTS"]) / "ledger.jsonl").exists()


@pytest.mark.parametrize("change, needle", [
    (("--target", "embedded_camera"), "plan field 'targets'"),
    (("--seed", "9"), "plan field 'seed'"),
    (("--runs", "21"), "plan field 'measure.runs'"),
])
def test_resume_refuses_options_that_would_change_the_run(tmp_path: Path, change: tuple[str, ...],
                                                           needle: str) -> None:
    run_dir = run("run", "--model", "mww-alexa", "--target", "mcu", "--runs", "20", "--seed", "4")
    before = (run_dir / "efficiency.csv").read_bytes()
    args = {"--target": "mcu", "--runs": "20", "--seed": "4"} | dict([change])
    code, out, err = harness("run", "--model", "mww-alexa", *[x for kv in args.items() for x in kv],
                             "--resume", str(run_dir))
    assert code == 2 and needle in err and "Traceback" not in out + err
    assert (run_dir / "efficiency.csv").read_bytes() == before


def test_eval_resume_checks_the_corpus_audio_and_the_models(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    code, out, _ = harness("corpus", "synth", "--out", str(corpus), "--size", "tiny")
    assert code == 0
    run_dir = run("eval", "--model", "mww-okay-nabu", "--corpus", str(corpus), "--workers", "1")
    manifest = pd.read_parquet(corpus / "manifest.parquet")
    first = corpus / manifest["path"].iloc[0]
    audio, rate = sf.read(first, dtype="int16")
    sf.write(first, np.zeros_like(audio), rate, subtype="PCM_16")  # same clip ids, silent audio
    code, _, err = harness("eval", "--model", "mww-okay-nabu", "--corpus", str(corpus), "--workers", "1",
                           "--resume", str(run_dir))
    assert code == 2 and "its clips or labels changed" in err
    code, _, err = harness("eval", "--model", "mww-alexa", "--corpus", str(corpus), "--resume", str(run_dir))
    assert code == 2 and "model 'mww-alexa' is not in the run" in err and "KeyError" not in err


# ---- one process per run directory ------------------------------------------------------------------------


def test_a_second_process_refuses_a_run_directory_in_use(tmp_path: Path) -> None:
    run_dir = run("run", "--model", "mww-alexa", "--target", "mcu", "--runs", "20")
    RunDirectory(run_dir).write_json("status.json", {"status": "running", "pid": 4242, "host": "bench-1",
                                                     "updated_utc": "2026-12-05T10:00:00+00:00"})
    with RunDirectory(run_dir).locked():
        code, out, err = harness("run", "--resume", str(run_dir))
    assert code == 2 and "in use by another harness process (pid 4242 on bench-1" in err
    assert "Traceback" not in out + err
    assert run("run", "--resume", str(run_dir)) == run_dir  # the holder is gone: the lock went with it


# ---- an audit trail that survives copies and amendments ---------------------------------------------------


def verify(results: Path) -> tuple[int, str]:
    code, out, _ = harness("verify", str(results))
    return code, out


def test_a_copied_results_folder_verifies_on_its_own_contents(tmp_path: Path) -> None:
    results = Path(os.environ["HARNESS_RESULTS"])
    run_dir = run("run", "--model", "mww-alexa", "--target", "mcu", "--runs", "20")
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    assert verify(copy)[0] == 0
    edited = copy / run_dir.name / "efficiency.csv"
    edited.write_text(edited.read_text().replace("mww-alexa", "mww-alexx"))
    code, out = verify(copy)
    assert code == 1 and f"TAMPERED: run {run_dir.name}: {edited}: file changed" in out
    assert verify(results)[0] == 0  # the original is untouched and still intact


@pytest.mark.parametrize("name", ["report.html", "raw/latency__mww-alexa__mcu.parquet", "signoff.md",
                                  "model_cards/mww-alexa.md", "efficiency.md"])
def test_every_file_of_a_run_is_covered(name: str) -> None:
    results = Path(os.environ["HARNESS_RESULTS"])
    run_dir = run("run", "--model", "mww-alexa", "--target", "mcu", "--runs", "20")
    with (run_dir / name).open("ab") as f:
        f.write(b"\n")
    code, out = verify(results)
    assert code == 1 and f"{run_dir / name}: file changed since the run recorded it" in out


def test_a_file_added_to_a_run_afterwards_is_named() -> None:
    results = Path(os.environ["HARNESS_RESULTS"])
    run_dir = run("run", "--model", "mww-alexa", "--target", "mcu", "--runs", "20")
    (run_dir / "efficiency_fixed.csv").write_text("model\nbetter\n")
    code, out = verify(results)
    assert code == 1 and "efficiency_fixed.csv: file added after the run" in out


def test_a_re_run_sign_off_is_an_amendment_not_tampering(tmp_path: Path) -> None:
    results = Path(os.environ["HARNESS_RESULTS"])
    run_dir = run("run", "--model", "mww-alexa", "--target", "mcu", "--runs", "20")
    policy = tmp_path / "strict.yaml"
    text = (Path(__file__).resolve().parents[1] / "plans" / "policy-default.yaml").read_text()
    policy.write_text(text.replace("name: default", "name: strict"))
    harness("signoff", str(run_dir), "--policy", str(policy))
    code, out = verify(results)
    assert code == 0, out
    assert f"run {run_dir.name}: amended by harness signoff --policy {policy}" in out
    assert "intact, 1 run(s) amended" in out
    amendment = ledger_lines(results)[-1]
    assert amendment["amends"] == run_dir.name and set(amendment["files"]) == {"signoff.json", "signoff.md"}
    (run_dir / "signoff.json").write_text("{}")  # editing after the amendment is still tampering
    assert verify(results)[0] == 1


def _append_many(path: str, start: int) -> None:
    for i in range(start, start + 40):
        chain.append(Path(path), {"run_id": f"r{i}"})


def test_concurrent_appends_keep_the_chain_whole(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_many, args=(str(ledger), k * 100)) for k in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert chain.verify(ledger) == 120
    lines = ledger.read_text().splitlines()
    for before, line in zip(lines, lines[1:], strict=False):
        assert json.loads(line)["prev_sha256"] == hashlib.sha256(before.encode()).hexdigest()


def test_a_ledger_that_cannot_be_read_stops_a_run_before_it_measures(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "ledger.jsonl").write_bytes(b'{"run_id": "a"}\n\xff\xfe broken\n')
    code, out, err = harness("run", "--model", "mww-alexa", "--target", "mcu", "--runs", "20",
                             "--results", str(results))
    assert code == 2 and "ledger.jsonl" in err and "not UTF-8" in err and "Traceback" not in out + err
    assert sorted(p.name for p in results.iterdir()) == ["ledger.jsonl"]  # no run directory left behind


def test_two_bench_sessions_cannot_resume_one_run_directory_at_once(tmp_path: Path) -> None:
    from harness.core.paths import models_dir, targets_dir
    from harness.dut.sim.firmware import SimulatedFirmware
    from harness.dut.sim.server import SimDutServer
    from harness.registry.models import ModelRegistry
    from harness.registry.targets import TargetRegistry

    model = ModelRegistry(models_dir()).get("mlperf-dscnn-kws")
    mcu = TargetRegistry(targets_dir()).get("mcu")
    with SimDutServer(SimulatedFirmware(mcu, model)) as first, SimDutServer(SimulatedFirmware(mcu, model)) as other:
        args = ["bench-device", "--model", model.name, "--target", "mcu", "--quick", "--results", str(tmp_path)]
        run_dir = run(*args, "--port", first.url)
        windows = (run_dir / "raw" / "latency_windows__mlperf-dscnn-kws__mcu.jsonl").read_bytes()
        with RunDirectory(run_dir).locked():  # the first session is still measuring
            code, out, err = harness(*args, "--port", other.url, "--resume", str(run_dir))
    assert code == 2 and "in use by another harness process" in err and "Traceback" not in out + err
    assert (run_dir / "raw" / "latency_windows__mlperf-dscnn-kws__mcu.jsonl").read_bytes() == windows


def test_a_run_that_failed_before_measuring_is_marked_failed_and_verify_notes_it(tmp_path: Path) -> None:
    from harness.core.paths import models_dir
    from harness.registry.models import ModelRegistry

    results = Path(os.environ["HARNESS_RESULTS"])
    run("run", "--model", "mww-alexa", "--target", "mcu", "--runs", "20")  # a recorded run beside it
    dynamic = ModelRegistry(models_dir()).get("oww-alexa").stage_paths()[0]  # needs --input-shape
    code, out, err = harness("run", "--model", str(dynamic), "--target", "mcu", "--runs", "5")
    assert code == 2 and "dynamic dimensions" in err and "Traceback" not in out + err
    (failed,) = [p for p in results.iterdir() if p.is_dir() and
                 json.loads((p / "status.json").read_text())["status"] == "failed"]
    status = json.loads((failed / "status.json").read_text())
    assert "cannot allocate tensors" in status["error"] and "--input-shape" in status["error_hint"]
    assert "--resume" in status["hint"]
    code, out = verify(results)
    assert code == 0 and f"note: {failed}: a failed run, not in the ledger" in out
