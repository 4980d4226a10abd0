"""Per-group keyword-spotting accuracy measured on a DUT: ``bench-device --mode accuracy --corpus``.

A linear keyword spotter fitted on the tiny corpus (tests/kws_fixture.py) runs on the simulated DUT
(ONNX Runtime on the phone profile) over the serial protocol, and on the host through ``harness eval``.
The device run must count every clip as the host does: same predictions, same fairness, disparity
and confusion tables, full parity, and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from kws_fixture import CORPUS, LinearKws, fit_linear_kws

from harness.cli import _register, cli
from harness.core.errors import ConfigError
from harness.core.paths import targets_dir
from harness.core.progress import Progress
from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.server import SimDutServer
from harness.registry.models import ModelEntry, entry_from_yaml
from harness.registry.targets import TargetRegistry
from harness.rundir.directory import RunDirectory
from harness.runs.bench import BenchSettings, bench_device
from harness.runs.evaluation import resolve_corpus

_register()
PHONE = TargetRegistry(targets_dir()).get("phone")  # not MCU-class: the simulated firmware runs ONNX Runtime
PRINT_ROUNDING = 0.0005  # m-results prints 3 decimals


@pytest.fixture(scope="module")
def fit(tmp_path_factory: pytest.TempPathFactory) -> LinearKws:
    return fit_linear_kws(tmp_path_factory.mktemp("linear-kws"))


@pytest.fixture(scope="module")
def model(fit: LinearKws) -> ModelEntry:
    return entry_from_yaml(fit.entry_file)


@pytest.fixture(scope="module")
def host_run(fit: LinearKws, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = CliRunner().invoke(cli, ["eval", "--model", str(fit.entry_file), "--corpus", CORPUS, "--workers", "1",
                                   "--results", str(tmp_path_factory.mktemp("host"))], catch_exceptions=False)
    assert out.exit_code == 0, out.stderr
    return Path(out.stdout.strip().splitlines()[-1])


def settings_for(model: ModelEntry, corpus: str) -> BenchSettings:
    return BenchSettings(port="", model=model.name, target=PHONE.name, mode="accuracy", corpus=corpus, timeout_s=5.0)


def bench_on_sim(model: ModelEntry, settings: BenchSettings, results: Path, resume: Path | None = None,
                 progress: Progress | None = None) -> Path:
    with SimDutServer(SimulatedFirmware(PHONE, model)) as server:
        return bench_device(replace(settings, port=server.url), model, PHONE, results, resume=resume,
                            progress=progress)


@pytest.fixture(scope="module")
def device_run(fit: LinearKws, model: ModelEntry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with SimDutServer(SimulatedFirmware(PHONE, model)) as server:
        out = CliRunner().invoke(cli, ["bench-device", "--port", server.url, "--model", str(fit.entry_file),
                                       "--target", PHONE.name, "--mode", "accuracy", "--corpus", CORPUS,
                                       "--results", str(tmp_path_factory.mktemp("device"))], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return Path(out.stdout.strip().splitlines()[-1])


def test_every_device_prediction_is_the_host_evaluations_prediction(fit: LinearKws, host_run: Path,
                                                                    device_run: Path) -> None:
    host = pd.read_parquet(host_run / "raw" / "predictions.parquet")
    device = pd.read_parquet(device_run / "raw" / "predictions.parquet")
    assert list(device.columns) == list(host.columns)
    pd.testing.assert_frame_equal(device.drop(columns="score"), host.drop(columns="score"))
    assert device["score"].to_numpy() == pytest.approx(host["score"].to_numpy(), abs=PRINT_ROUNDING)
    truth = fit.truth.set_index("clip_id").loc[device["clip_id"]]
    assert device["predicted_label"].tolist() == truth["numpy_predicted"].tolist()
    assert device["expected"].tolist() == truth["expected"].tolist()
    assert 0 < device["correct"].sum() < len(device)  # right on some clips, wrong on some unseen speakers


def test_fairness_disparity_and_confusion_tables_equal_the_host_runs(host_run: Path, device_run: Path) -> None:
    host, device = pd.read_csv(host_run / "fairness.csv"), pd.read_csv(device_run / "fairness.csv")
    pd.testing.assert_frame_equal(device, host)
    accuracy = device[device["metric"] == "accuracy"]
    assert set(accuracy["attribute"]) >= {"overall", "accent"} and accuracy["ci_low"].notna().all()
    disparity = json.loads((device_run / "disparity.json").read_text())
    assert disparity and disparity == json.loads((host_run / "disparity.json").read_text())
    confusion = pd.read_csv(device_run / "confusion.csv")
    pd.testing.assert_frame_equal(confusion, pd.read_csv(host_run / "confusion.csv"))
    assert confusion["n"].sum() == 17
    markdown = (device_run / "fairness.md").read_text()
    assert "Scores from linear-kws on the DUT at socket://" in markdown and "(sim:phone)" in markdown


def test_parity_accuracy_and_manifest_record_the_device_run(fit: LinearKws, device_run: Path) -> None:
    parity = json.loads((device_run / "parity.json").read_text())
    assert parity["n"] == 17 and parity["top1_agreement"] == 1.0 and parity["drift"] is False
    assert parity["host_runtime"] == "onnxruntime"
    truth = fit.truth
    accuracy = json.loads((device_run / "accuracy.json").read_text())
    assert accuracy["status"] == "complete" and accuracy["n_labelled"] == 17
    assert accuracy["top1_accuracy"] == pytest.approx((truth["numpy_predicted"] == truth["expected"]).mean())
    corpus = resolve_corpus(CORPUS)
    manifest = json.loads((device_run / "manifest.json").read_text())
    assert manifest["corpus"]["n_clips"] == 17 and manifest["bench_device"]["corpus"] == CORPUS
    assert manifest["corpus"]["manifest_sha256"] == hashlib.sha256(corpus.manifest_file.read_bytes()).hexdigest()
    assert json.loads((device_run / "status.json").read_text())["status"] == "complete"


def test_an_interrupted_corpus_run_resumes_without_rerunning_finished_clips(model: ModelEntry, device_run: Path,
                                                                            tmp_path: Path) -> None:
    corpus = resolve_corpus(CORPUS)
    clip_ids = corpus.manifest["clip_id"].tolist()
    settings = settings_for(model, str(corpus.path))  # a corpus directory, as a user's own would be given
    seen: list[str] = []

    def note(label: str, done: int, total: int) -> None:
        if label in clip_ids:  # measure_accuracy reports each clip before sending it
            seen.append(label)

    def ctrl_c_at_clip_5(label: str, done: int, total: int) -> None:
        note(label, done, total)
        if len(seen) == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bench_on_sim(model, settings, tmp_path, progress=ctrl_c_at_clip_5)
    run = next(tmp_path.iterdir())
    assert json.loads((run / "status.json").read_text())["status"] == "interrupted"
    assert [r["index"] for r in RunDirectory(run).read_jsonl("raw/accuracy.jsonl")] == [0, 1, 2, 3, 4]
    seen.clear()
    assert bench_on_sim(model, settings, tmp_path, resume=run, progress=note) == run
    assert seen == clip_ids[5:]  # only the clips not yet measured were sent
    rows = RunDirectory(run).read_jsonl("raw/accuracy.jsonl")
    assert [r["index"] for r in rows] == list(range(17))
    transcript = (run / "raw" / "transcript.log").read_text()
    assert transcript.count("> infer 1 0%") == 17  # one inference per clip over both sessions
    pd.testing.assert_frame_equal(pd.read_csv(run / "fairness.csv"), pd.read_csv(device_run / "fairness.csv"))


def test_a_wake_word_model_is_refused_with_exit_2_and_sent_to_harness_eval(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["bench-device", "--port", "socket://127.0.0.1:1", "--model", "mww-okay-nabu",
                                   "--mode", "accuracy", "--corpus", CORPUS, "--results", str(tmp_path)])
    assert out.exit_code == 2, out.output
    assert "wake-word model" in out.output and "no streaming audio path" in out.output
    assert "harness eval --model mww-okay-nabu" in out.output
    assert not any(tmp_path.iterdir())  # refused before a run directory was made


def test_corpus_is_an_accuracy_mode_option_and_excludes_inputs(tmp_path: Path) -> None:
    for bad, needle in (({"mode": "performance"}, "--corpus is for accuracy mode"),
                        ({"mode": "accuracy", "inputs": tmp_path}, "--corpus and --inputs")):
        with pytest.raises(ConfigError, match=needle):
            BenchSettings(**{"port": "socket://127.0.0.1:1", "model": "m", "corpus": CORPUS, **bad}).check()
