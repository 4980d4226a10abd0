"""Streaming wake-word (sww01) on the simulated bench over sockets: ``harness bench-device --mode stream`` plays
per-accent and per-noise streams of the built-in corpus through the interface board into a DUT running a real
model, with the simulated power monitor integrating; per-stream scores under both window rules, per-group FRR and
FA/h with intervals, device/host parity, and the faults a bench meets."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sww_bench import sww_bench

from harness.cli import _register, cli
from harness.core.errors import ConfigError, DeviceError, DeviceTimeout
from harness.core.paths import models_dir, targets_dir
from harness.evaluation.intervals import poisson_rate, wilson
from harness.evaluation.scoring import WakeWordScorer
from harness.evaluation.sww import WindowRule, count
from harness.evaluation.sww_device import host_detection_times
from harness.registry.models import ModelRegistry
from harness.registry.targets import TargetRegistry
from harness.rundir import contract
from harness.runs.bench import BenchSettings, bench_device
from harness.runs.stream_set import StreamSet, load_stream_set
from harness.runtimes import RuntimeOptions

_register()
MODEL = ModelRegistry(models_dir()).get("mww-alexa")
TARGET = TargetRegistry(targets_dir()).get("mcu")


@pytest.fixture(scope="module")
def tiny() -> StreamSet:
    return load_stream_set("builtin:tiny", MODEL)


@pytest.fixture(scope="module")
def small(tiny: StreamSet, tmp_path_factory: pytest.TempPathFactory) -> StreamSet:
    """The first three streams of builtin:tiny in a folder of their own, as a user's --streams DIR would be."""
    import shutil

    from harness.evaluation.sww import write_truth

    folder = tmp_path_factory.mktemp("streams")
    for played in tiny.streams[:3]:
        shutil.copy(tiny.folder / played.truth.wav_file, folder)
    for index in tiny.folder.glob("sww_streams_index*.json"):
        shutil.copy(index, folder)
    write_truth(folder / "sww_streams.json", [p.truth for p in tiny.streams[:3]])
    return load_stream_set(str(folder), MODEL)


def settings(url: str, **kwargs: object) -> BenchSettings:
    options: dict = {"streams": "builtin:tiny", **kwargs}
    return BenchSettings(port=url, model=MODEL.name, target=TARGET.name, mode="stream", **options)


def left(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as f:
        return np.frombuffer(f.readframes(f.getnframes()), "<i2").reshape(-1, 2)[:, 0].copy()


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / contract.SWW_STREAM_ROWS).read_text().splitlines()]


def test_builtin_tiny_has_a_stream_per_accent_and_per_noise(tiny: StreamSet) -> None:
    groups = [(p.group.attribute, p.group.group) for p in tiny.streams]
    assert groups == [("accent", "en-us"), ("accent", "ru"), ("noise", "babble"), ("noise", "clean"),
                      ("noise", "reverb")]
    assert all(p.truth.length_sec == 40.0 and p.group.speakers for p in tiny.streams)


@pytest.mark.slow
def test_the_whole_flow_on_the_simulated_bench(tiny: StreamSet, tmp_path: Path) -> None:
    with sww_bench(tiny.folder, MODEL, TARGET) as bench:
        result = CliRunner().invoke(cli, ["bench-device", "--mode", "stream", "--board", bench.board_url,
                                          "--streams", "builtin:tiny", "--model", MODEL.name, "--target", TARGET.name,
                                          "--monitor", bench.monitor, "--results", str(tmp_path)])
        assert result.exit_code == 0, result.output
        latency_s = bench.detector.latency_s
    run = Path(result.output.strip().splitlines()[-1])
    status = json.loads((run / contract.STATUS).read_text())
    assert (status["status"], status["mode"]) == ("complete", "stream")
    records = rows(run)
    assert [r["wav_file"] for r in records] == [p.truth.wav_file for p in tiny.streams]

    scorer = WakeWordScorer(MODEL, RuntimeOptions())
    try:
        for played, record in zip(tiny.streams, records, strict=True):
            truth = played.truth
            host_s = host_detection_times(scorer, left(tiny.folder / truth.wav_file))
            # parity: the DUT stamps each host detection when its 30 ms frame has arrived plus the latency, in
            # whole ms of 10 us ticks, relative to the first-frame marker (stamped at the first frame's arrival)
            frame_ticks, latency_ticks = 3000, round(latency_s * 100_000)
            arrived = [-(-round(t * 16000) // 480) * 3000 for t in host_s]
            expected_ms = [(a + latency_ticks) // 100 - frame_ticks // 100 for a in arrived]
            stamps = record["detections_ms"]
            assert stamps[0] == 30 and [s - stamps[0] for s in stamps[1:]] == expected_ms
            assert record["parity"]["equal"] and record["parity"]["host_detections"] == len(host_s)
            device_s = (np.array(stamps[1:]) - stamps[0]) / 1000
            for rule in WindowRule:
                c = count(device_s, truth.detection_windows, truth.length_sec, rule)
                assert record["counts"][str(rule)] == {
                    "tp": c.tp, "fn": c.fn, "fp": c.fp, "f1": c.f1, "false_accepts_per_hour": c.fp * 90.0,
                    "passed": c.fp <= 8 and c.fn <= 8, "missed_s": list(c.false_negatives)}
            said = record["wake_word_speakers"]  # each wake word's start and speaker, from the stream index
            assert [start for start, _ in said] == pytest.approx([w[0] for w in truth.detection_windows])
            assert sorted({speaker for _, speaker in said}) == record["speakers"]
            # duty cycle: the processing pin is high for the latency every 30 ms frame
            assert record["duty"]["period_ms"] == pytest.approx(30.0)
            assert record["duty"]["duty_cycle"] == pytest.approx(latency_ticks * 1e-5 / 0.030)
            assert record["duty"]["throughput_per_s"] == pytest.approx(1 / (latency_ticks * 1e-5))
            # average power: idle, and active while each frame is processed (1 % seeded noise averages out)
            idle, active = TARGET.power.idle_mw, TARGET.power.active_mw
            frames = int(truth.length_sec * 16000) // 480
            busy_s = frames * latency_ticks * 1e-5
            span = record["power"]["acquired_s"]
            expected_mw = (idle * (span - busy_s) + active * busy_s) / span
            assert record["power"]["avg_power_mw"] == pytest.approx(expected_mw, rel=2e-3)
            assert record["power"]["stream_energy_mj"] == pytest.approx(record["power"]["avg_power_mw"] * 40.0)
    finally:
        scorer.close()

    # per-group FRR and FA/h with intervals, both rules; the verdict rule's rows in fairness.csv
    groups = pd.read_csv(run / contract.SWW_FAIRNESS.csv)
    assert set(groups["window_rule"]) == {"code", "readme"}
    assert set(zip(groups["attribute"], groups["group"], strict=True)) == {
        ("accent", "en-us"), ("accent", "ru"), ("noise", "babble"), ("noise", "clean"), ("noise", "reverb")}
    for (attribute, group, rule), part in groups.groupby(["attribute", "group", "window_rule"]):
        mine = [r for r in records if (r["attribute"], r["group"]) == (attribute, group)]
        tp, fn, fp = (sum(r["counts"][rule][k] for r in mine) for k in ("tp", "fn", "fp"))
        frr = part[part["metric"] == "frr"].iloc[0]
        deff = _kish(mine, rule)
        low, high = wilson(fn / deff, (tp + fn) / deff)
        assert (frr["n"], frr["k"]) == (tp + fn, fn) and frr["design_effect"] == pytest.approx(deff)
        assert (frr["value"], frr["ci_low"], frr["ci_high"]) == pytest.approx((fn / (tp + fn), low, high))
        fa = part[part["metric"] == "fa_per_hour"].iloc[0]
        assert (fa["value"], fa["ci_low"], fa["ci_high"]) == pytest.approx(poisson_rate(fp, 40.0 / 3600))
        assert fa["provenance"].startswith("measured on the device: mww-alexa on the DUT m-name-dut-[sim-sww]")
    fairness = pd.read_csv(run / contract.FAIRNESS.csv)
    assert set(fairness["window_rule"]) == {"code"} and len(fairness) == len(groups) // 2
    assert "Wilson" in (run / contract.FAIRNESS.md).read_text()
    streams = pd.read_csv(run / contract.SWW_STREAMS.csv)
    assert len(streams) == 10 and streams["verdict_rule"].sum() == 5
    summary = json.loads((run / "stream.json").read_text())
    assert summary["parity_all_equal"] and summary["verdict_rule"] == "code" and summary["n_streams"] == 5
    assert "predicted by the cost model" in summary["dut_profile"]  # the simulated duty cycle says what it is
    assert json.loads((run / contract.PARITY).read_text())["all_equal"]
    assert "play sww_accent_en-us.wav%" in (run / contract.TRANSCRIPT).read_text()


def _kish(records: list[dict], rule: str) -> float:
    """The speakers' design effect of the miss rate, written out: the cluster-robust variance of the pooled
    rate over the binomial one, at least 1, and 1 when every or no wake word was missed or one speaker spoke."""
    per: dict[str, list[int]] = {}
    for r in records:
        missed = r["counts"][rule]["missed_s"]
        for start, speaker in r["wake_word_speakers"]:
            per.setdefault(speaker, [0, 0])
            per[speaker][0] += 1
            per[speaker][1] += any(abs(m - start) < 1e-6 for m in missed)
    e_total = sum(e for e, _ in per.values())
    k_total = sum(k for _, k in per.values())
    p = k_total / e_total
    if p in (0.0, 1.0) or len(per) < 2:
        return 1.0
    robust = sum((k - p * e) ** 2 for e, k in per.values()) / e_total**2
    return max(1.0, robust / (p * (1 - p) / e_total))


@pytest.mark.slow
def test_a_dut_on_its_own_port_and_the_readme_rule(small: StreamSet, tmp_path: Path) -> None:
    with sww_bench(small.folder, MODEL, TARGET, dut_port=True) as bench:
        run = bench_device(settings(bench.board_url, streams=str(small.folder), dut=bench.dut_url,
                                    verdict_rule="readme"), MODEL, TARGET,
                           tmp_path)
    assert "dut start%" not in (run / contract.TRANSCRIPT).read_text()
    assert "start%" in (run / contract.SWW_DUT_TRANSCRIPT).read_text()
    records = rows(run)
    assert all(r["verdict_rule"] == "readme" and r["parity"]["equal"] for r in records)
    assert all(r["power"] is None for r in records)  # no monitor: no power figure, never an invented one


def test_rule_dependent_verdicts_are_flagged(tmp_path: Path) -> None:
    from harness.evaluation.sww import StreamTruth
    from harness.evaluation.sww_groups import StreamGroup
    from harness.runs.stream_set import PlayedStream
    from harness.runs.streams import scored

    # nine words, each detected 1.5 s after its end: a TP under the code's window, an FN and an FP under the README's
    windows = tuple((10.0 * i, 10.0 * i + 0.5) for i in range(1, 10))
    played = PlayedStream(StreamTruth("x.wav", 16000, 120.0, windows), StreamGroup("accent", "x"))
    stamps = (30, *(30 + round((end + 1.5) * 1000) for _, end in windows))
    result = scored(stamps, played, WindowRule.CODE)
    assert result.counts[WindowRule.CODE].passed and not result.counts[WindowRule.README].passed
    assert result.rule_dependent and str(result.verdict) == "PASS"
    empty = scored((), played, WindowRule.CODE)  # an empty list (not even the marker) scores as no detection
    assert (empty.counts[WindowRule.CODE].tp, empty.counts[WindowRule.CODE].fn) == (0, 9)


def test_stream_mode_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="needs the streams"):
        settings("socket://127.0.0.1:1", streams=None).check()
    with pytest.raises(ConfigError, match="for stream mode"):
        BenchSettings(port="socket://127.0.0.1:1", model="m", streams="builtin:tiny").check()
    with pytest.raises(ConfigError, match="stream mode plays wake-word streams"):
        from harness.runs.bench import bench_job
        bench_job(settings("socket://127.0.0.1:1"), ModelRegistry(models_dir()).get("mlperf-dscnn-kws"), TARGET)
    result = CliRunner().invoke(cli, ["bench-device", "--mode", "stream", "--port", "socket://127.0.0.1:1",
                                      "--streams", "builtin:tiny", "--model", MODEL.name])
    assert result.exit_code != 0 and "give --board URL" in result.output


# ---- faults ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_dropped_replies_are_asked_for_again(small: StreamSet, tmp_path: Path) -> None:
    with sww_bench(small.folder, MODEL, TARGET, drop_replies=frozenset({1, 9})) as bench:
        run = bench_device(settings(bench.board_url, streams=str(small.folder)), MODEL, TARGET, tmp_path)
    assert len(rows(run)) == 3 and all(r["parity"]["equal"] for r in rows(run))
    assert (run / contract.TRANSCRIPT).read_text().count("asking again") == 2


def test_a_play_that_never_finishes_then_resume_plays_only_the_rest(small: StreamSet, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.dut.sww.board import InterfaceBoard
    real_play = InterfaceBoard.play

    def play(self: InterfaceBoard, wav: str, length_s: float, margin_s: float = 10.0) -> None:
        hung = wav == "sww_noise_babble.wav"  # wait 0.5 s, not the stream's 40 s + 10 s, for the hung play
        real_play(self, wav, 0.0 if hung else length_s, 0.5 if hung else margin_s)

    monkeypatch.setattr(InterfaceBoard, "play", play)
    with sww_bench(small.folder, MODEL, TARGET, hang_plays=frozenset({3})) as bench:
        with pytest.raises(DeviceTimeout, match="did not finish 'play sww_noise_babble.wav'") as caught:
            bench_device(settings(bench.board_url, streams=str(small.folder)), MODEL, TARGET, tmp_path)
    assert caught.value.log_path is not None and caught.value.log_path.name == "transcript.log"
    run = next(tmp_path.glob("*-device-stream"))
    status = json.loads((run / contract.STATUS).read_text())
    assert status["status"] == "failed" and status["log"].endswith("raw/transcript.log")
    kept = rows(run)
    assert [r["wav_file"] for r in kept] == ["sww_accent_en-us.wav", "sww_accent_ru.wav"]
    monkeypatch.undo()  # the resumed run waits the stream's own length + 10 s for every play
    with sww_bench(small.folder, MODEL, TARGET) as bench:
        bench_device(settings(bench.board_url, streams=str(small.folder)), MODEL, TARGET, tmp_path, resume=run)
        played = [line for line in (run / contract.TRANSCRIPT).read_text().splitlines() if "> play " in line]
    assert rows(run)[:2] == kept and len(rows(run)) == 3
    # plays: two before the failure, the hung one, then only the remaining stream
    assert [p.split("play ")[1].split("%")[0] for p in played] == [
        "sww_accent_en-us.wav", "sww_accent_ru.wav", "sww_noise_babble.wav", "sww_noise_babble.wav"]
    assert json.loads((run / contract.STATUS).read_text())["status"] == "complete"


def test_a_dut_reset_mid_stream_plays_the_stream_again(small: StreamSet, tmp_path: Path) -> None:
    with sww_bench(small.folder, MODEL, TARGET, reset_plays=frozenset({2})) as bench:
        run = bench_device(settings(bench.board_url, streams=str(small.folder)), MODEL, TARGET, tmp_path)
    records = rows(run)
    assert [r["replays"] for r in records] == [0, 1, 0]
    assert all(r["parity"]["equal"] for r in records)  # the replayed stream is whole
    assert json.loads((run / contract.STATUS).read_text())["resets"] == 1
    assert "the DUT reset" in (run / contract.TRANSCRIPT).read_text()


def test_a_dut_that_keeps_resetting_is_a_clear_error_and_keeps_the_streams_done(small: StreamSet,
                                                                               tmp_path: Path) -> None:
    with sww_bench(small.folder, MODEL, TARGET, reset_plays=frozenset({2, 3})) as bench:
        with pytest.raises(DeviceError, match="the DUT reset during stream sww_accent_ru.wav 2 times"):
            bench_device(settings(bench.board_url, streams=str(small.folder)), MODEL, TARGET, tmp_path)
    run = next(tmp_path.glob("*-device-stream"))
    assert [r["wav_file"] for r in rows(run)] == ["sww_accent_en-us.wav"]


def test_an_empty_detection_list_is_scored_and_flagged(small: StreamSet, tmp_path: Path) -> None:
    with sww_bench(small.folder, MODEL, TARGET) as bench:
        original = bench.board._record
        bench.board._record = lambda tick: None  # the detection line is not wired: the board stamps nothing
        run = bench_device(settings(bench.board_url, streams=str(small.folder)), MODEL, TARGET, tmp_path)
        bench.board._record = original
    records = rows(run)
    assert all(r["marker_missing"] and r["detections_ms"] == [] for r in records)
    assert [r["counts"]["code"]["fn"] for r in records] == [len(p.truth.detection_windows) for p in small.streams]
    assert not json.loads((run / contract.PARITY).read_text())["all_equal"]
    assert "no first-frame marker" in (run / contract.SWW_STREAMS.md).read_text()


# ---- a plan whose target profile names an interface board --------------------------------------------------


@pytest.mark.slow
def test_harness_run_streams_on_a_profile_whose_link_names_a_board(tiny: StreamSet, tmp_path: Path) -> None:
    import shutil

    import yaml

    from harness.registry.plans import Measure, Plan
    from harness.runs.runner import Context, run_plan

    targets = tmp_path / "targets"
    shutil.copytree(targets_dir(), targets)
    with sww_bench(tiny.folder, MODEL, TARGET) as bench:
        profile = yaml.safe_load((targets_dir() / "mcu.yaml").read_text())
        profile.update(name="bench-sww", link={"url": bench.board_url, "timeout_s": 5.0,
                                               "board": {"url": bench.board_url, "streams": "builtin:tiny"}},
                       power_monitor={"model": "sim", "url": bench.wiring_url})
        (targets / "bench-sww.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
        plan = Plan(name="with-board", models=[MODEL.name], targets=["mcu", "bench-sww"], corpus="builtin:tiny",
                    measure=Measure(warmup=1, runs=10))
        run = run_plan(plan, Context(ModelRegistry(models_dir()), TargetRegistry(targets), tmp_path / "results"))
    assert json.loads((run / contract.STATUS).read_text())["status"] == "complete"
    efficiency = pd.read_csv(run / contract.EFFICIENCY.csv)
    assert list(efficiency["target"]) == ["mcu"]  # the board's DUT runs sww firmware: measured by the stream step
    records = rows(run)
    assert [r["wav_file"] for r in records] == [p.truth.wav_file for p in tiny.streams]
    assert all(r["parity"]["equal"] and r["power"]["avg_power_mw"] > 0 for r in records)
    assert set(pd.read_csv(run / contract.SWW_FAIRNESS.csv)["attribute"]) == {"accent", "noise"}
    assert "dut start%" in (run / contract.TRANSCRIPT).read_text()  # url == the board's: DUT via pass-through
    # the host's evaluation of the corpus and the device's streams share fairness.csv, told apart by attribute
    fairness = pd.read_csv(run / contract.FAIRNESS.csv)
    device = fairness[fairness["attribute"].str.endswith("(device stream)")]
    assert set(device["attribute"]) == {"accent (device stream)", "noise (device stream)"}
    assert device["provenance"].str.startswith("measured on the device").all()
    assert set(device["window_rule"]) == {"code"}
    assert {"overall", "accent", "noise"} <= set(fairness["attribute"])
    assert fairness[~fairness.index.isin(device.index)]["provenance"].isna().all()
    assert "## Measured on the device: streaming wake-word" in (run / contract.FAIRNESS.md).read_text()
    gates = json.loads((run / contract.SIGNOFF).read_text())["gates"]
    assert not any("device stream" in g["id"] for g in gates)  # the host's gates are not fed device rows

    two = Plan(name="two", models=[MODEL.name, "mww-hey-jarvis"], targets=["bench-sww"])
    with pytest.raises(ConfigError, match="one wake-word model on one interface board"):
        run_plan(two, Context(ModelRegistry(models_dir()), TargetRegistry(targets), tmp_path / "refused"))
    assert not (tmp_path / "refused").exists()


def test_a_bad_stream_folder_leaves_no_run_and_changed_streams_are_not_resumed(small: StreamSet,
                                                                              tmp_path: Path) -> None:
    import shutil

    with pytest.raises(ConfigError, match="no sww_streams.json"):
        bench_device(settings("socket://127.0.0.1:1", streams=str(tmp_path / "absent")), MODEL, TARGET,
                     tmp_path / "results")
    assert not (tmp_path / "results").exists()
    folder = tmp_path / "streams"
    shutil.copytree(small.folder, folder)
    with sww_bench(folder, MODEL, TARGET) as bench:
        run = bench_device(settings(bench.board_url, streams=str(folder)), MODEL, TARGET, tmp_path / "results")
    assert json.loads((run / contract.MANIFEST).read_text())["streams"]["spec"] == str(folder)
    (folder / small.streams[0].truth.wav_file).write_bytes(b"changed")
    with pytest.raises(ConfigError, match="changed since the run began"):
        bench_device(settings("socket://127.0.0.1:1", streams=str(folder)), MODEL, TARGET, tmp_path / "results",
                     resume=run)


def test_the_driver_reads_the_dut_reply_the_board_relays_after_its_own_m_ready(tmp_path: Path) -> None:
    """InterfaceMenu.cpp's Passthrough prints the board's m-ready before relaying the DUT's reply, and its Play
    says "Playing <file>"; a board answering that way (a scripted socket peer here) is read as the runner reads it."""
    import socket
    import threading

    from harness.core.transcript import Transcript
    from harness.dut.sww.board import InterfaceBoard

    replies = {b"dut profile%": b"m-dut-passthrough(profile)\r\nm-ready\r\n[dut]: m-profile-[x]\r\n"
                                b"[dut]: m-model-[sww01]\r\n[dut]: m-ready\r\n",
               b"play a.wav%": b"Playing a.wav\r\nm-ready\r\n"}
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        buffer = b""
        while True:
            data = conn.recv(1024)
            if not data:
                break
            buffer += data
            while b"%" in buffer:
                command, _, buffer = buffer.partition(b"%")
                conn.sendall(replies[command + b"%"])
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"socket://127.0.0.1:{server.getsockname()[1]}"
    with InterfaceBoard(url, Transcript(tmp_path / "t.log")) as board:
        assert board.dut_model() == "sww01"
        board.play("a.wav", 0.1)
    thread.join(timeout=5)
    server.close()
