"""Measurement modes, the serial Device, bench-device and devices: on the scripted responder and the simulated DUT."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from dut_responder import ScriptedDut
from serial.tools.list_ports_common import ListPortInfo

from harness.cli import _register, cli
from harness.core.errors import ConfigError, DeviceError
from harness.core.paths import models_dir, targets_dir
from harness.core.transcript import Transcript
from harness.devices import discovery
from harness.devices.factory import DeviceSettings, open_device
from harness.devices.serial_dut import SerialDutDevice
from harness.dut import protocol as p
from harness.dut.client import DutClient
from harness.dut.modes import MLPERF, QUICK, Rules, measure_performance
from harness.dut.records import RetryPolicy
from harness.dut.sim.faults import FaultPlan
from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.server import SimDutServer
from harness.dut.transfer import transfer_efficiency
from harness.power.trace import Trace
from harness.registry.models import ModelRegistry
from harness.registry.resources import Link
from harness.registry.targets import TargetRegistry
from harness.rundir.directory import RunDirectory
from harness.runs.bench import BenchSettings, bench_device
from harness.runtimes.inputs import ModelInput

MODELS = ModelRegistry(models_dir())
TARGETS = TargetRegistry(targets_dir())
MODEL = MODELS.get("mlperf-dscnn-kws")  # input 1x49x10x1 int8: 490 bytes
TARGET = TARGETS.get("nucleo-l4r5zi")
FAST = RetryPolicy(attempts=3, backoff_s=0.01)
_register()


def scripted_client(dut: ScriptedDut, tmp_path: Path, timeout_s: float = 2.0) -> DutClient:
    return DutClient(Link(url=dut.url, timeout_s=timeout_s), Transcript(tmp_path / "raw" / "transcript.log"),
                     retry=FAST, wake_s=0.3)


def run_dir(tmp_path: Path) -> RunDirectory:
    (tmp_path / "raw").mkdir(exist_ok=True)
    return RunDirectory(tmp_path)


INPUTS = [ModelInput(f"x{i}", bytes([i]) * 100) for i in range(5)]


# ---- performance rules on the scripted responder: device time is exact there ----------------------------


def test_quick_rules_choose_n_from_calibration_and_are_labelled_quick(tmp_path: Path) -> None:
    with ScriptedDut(latency_us=20_000) as dut, scripted_client(dut, tmp_path) as c:
        result = measure_performance(c, INPUTS, QUICK, run_dir(tmp_path))
    # calibration: infer 1 (0.02 s < 0.1 s target) then infer 5 (0.1 s); N = ceil(1.0 s x 1.05 / 0.02 s) = 53
    assert [cmd for cmd in dut.commands if cmd.startswith("infer")] == ["infer 1 0", "infer 5 0"] + ["infer 53 1"] * 3
    assert [w["window_s"] for w in result.windows] == [53 * 0.02] * 3
    assert result.latency_ms == pytest.approx(20.0, rel=1e-12)
    assert result.status == "quick" and result.flags == ["fewer_than_5_windows", "window_under_10_s"]
    assert [w["input_id"] for w in result.windows] == ["x0", "x1", "x2"]


def test_mlperf_rules_give_a_valid_run_of_five_windows_of_at_least_10_s(tmp_path: Path) -> None:
    with ScriptedDut(latency_us=20_000) as dut, scripted_client(dut, tmp_path) as c:
        result = measure_performance(c, INPUTS, MLPERF, run_dir(tmp_path))
    n = math.ceil(10.0 * 1.05 / 0.02)  # 525
    assert [w["n"] for w in result.windows] == [n] * 5 and all(w["window_s"] >= 10.0 for w in result.windows)
    assert result.status == "valid" and result.flags == []
    assert result.score_ips == pytest.approx(n / (n * 0.02)) and result.latency_ms == pytest.approx(20.0)


@pytest.mark.parametrize(("rules", "flags"), [
    (Rules(windows=3, min_window_s=10.0, label="mlperf"), ["fewer_than_5_windows"]),
    (Rules(windows=5, min_window_s=5.0, label="mlperf"), ["window_under_10_s"]),
])
def test_a_run_breaking_an_mlperf_rule_is_invalid_and_names_the_rule(tmp_path: Path, rules: Rules,
                                                                      flags: list[str]) -> None:
    with ScriptedDut(latency_us=20_000) as dut, scripted_client(dut, tmp_path) as c:
        result = measure_performance(c, INPUTS, rules, run_dir(tmp_path))
    assert result.status == "invalid" and result.flags == flags


def test_an_interrupted_performance_run_keeps_its_finished_windows(tmp_path: Path) -> None:
    run, rules = run_dir(tmp_path), Rules(windows=3, min_window_s=0.2, warmup=1, label="quick")
    with ScriptedDut(latency_us=20_000, dead_from_infer=3) as dut, scripted_client(dut, tmp_path, 0.5) as c:
        with pytest.raises(DeviceError):
            measure_performance(c, INPUTS, rules, run)  # calibration (infer 1 0), windows 0 and 1, then silence
    assert [r["window"] for r in run.read_jsonl("raw/latency_windows.jsonl")] == [0, 1]
    with ScriptedDut(latency_us=20_000) as dut, scripted_client(dut, tmp_path) as c:
        result = measure_performance(c, INPUTS, rules, run)
    assert [cmd for cmd in dut.commands if cmd.startswith("infer")] == ["infer 11 1"]  # only window 2: ceil(0.21/0.02)
    assert [w["window"] for w in result.windows] == [0, 1, 2]


# ---- bench-device end to end on the simulated DUT --------------------------------------------------------


def sim_server(mode: str = "performance", **kwargs: object) -> SimDutServer:
    return SimDutServer(SimulatedFirmware(TARGET, MODEL, mode=mode), **kwargs)


def test_bench_device_quick_performance_writes_the_run_directory_contract(tmp_path: Path) -> None:
    with sim_server() as server:
        out = CliRunner().invoke(cli, ["bench-device", "--port", server.url, "--model", MODEL.name, "--target",
                                       TARGET.name, "--quick", "--results", str(tmp_path)])
    assert out.exit_code == 0, out.output
    run = Path(out.stdout.strip().splitlines()[-1])
    assert run.parent == tmp_path
    row = pd.read_csv(run / "efficiency.csv").iloc[0]
    windows = [json.loads(line) for line in (run / "raw" / "latency_windows__mlperf-dscnn-kws__nucleo-l4r5zi.jsonl")
               .read_text().splitlines()]
    per_window_ms = [(w["lap_b_us"] - w["lap_a_us"]) / 1e3 / w["n"] for w in windows]
    assert row["backend"] == "device" and row["dut_name"] == "sim:nucleo-l4r5zi"
    assert row["latency_ms_p50"] == pytest.approx(float(np.median(per_window_ms)), rel=1e-9)
    assert row["mlperf_status"] == "quick" and row["mlperf_flags"] == "fewer_than_5_windows;window_under_10_s"
    assert math.isnan(row["energy_mj_per_inference"])
    assert json.loads((run / "status.json").read_text())["status"] == "complete"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["backend"] == ["device"] and manifest["models"][0]["name"] == MODEL.name
    assert "> infer " in (run / "raw" / "transcript.log").read_text()


def test_a_reset_mid_run_is_survived_and_every_window_counted(tmp_path: Path) -> None:
    settings = BenchSettings(port="", model=MODEL.name, target=TARGET.name, quick=True)
    with sim_server(faults=FaultPlan.parse("reset=30")) as server:
        run = bench_device(replace(settings, port=server.url), MODEL, TARGET, tmp_path)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "complete" and status["resets"] == 1
    assert status["summary"]["windows"] == 3
    assert "m-init-done" in (run / "raw" / "transcript.log").read_text()


def test_dropped_bytes_noise_and_a_reset_are_survived_and_parity_proves_the_inputs_arrived_intact(
        tmp_path: Path) -> None:
    faults = FaultPlan.parse("drop=0.001,noise=0.3,reset=60,seed=1")
    with sim_server(faults=faults) as server:
        run = bench_device(BenchSettings(port=server.url, model=MODEL.name, target=TARGET.name, mode="accuracy",
                                         count=5, timeout_s=2.0), MODEL, TARGET, tmp_path)
    accuracy = json.loads((run / "accuracy.json").read_text())
    assert accuracy["status"] == "complete" and accuracy["n_done"] == 5
    # the DUT ran the real model: identical scores to the host's on every input means every byte arrived
    assert accuracy["parity"]["drift"] is False and accuracy["parity"]["top1_agreement"] == 1.0
    log = (run / "raw" / "transcript.log").read_text()
    assert "Insufficent number of hex digits" in log and "m-init-done" in log and "[debug]" in log
    assert json.loads((run / "status.json").read_text())["resets"] == 1


def write_dataset(folder: Path, labels: list[int]) -> None:
    folder.mkdir()
    lines = []
    for i, label in enumerate(labels):
        (folder / f"tst_{i:03d}.bin").write_bytes(bytes([label]) + bytes(489))
        lines.append(f"tst_{i:03d}.bin, 12, {(label + (i % 3 == 0)) % 12}")  # every third truth differs
    (folder / "y_labels.csv").write_text("\n".join(lines) + "\n")


def test_accuracy_resumes_after_the_last_input_and_parity_finds_drift(tmp_path: Path) -> None:
    labels = [3, 7, 1, 9, 4, 2]
    write_dataset(tmp_path / "data", labels)
    truth = [(label + (i % 3 == 0)) % 12 for i, label in enumerate(labels)]
    with ScriptedDut(dead_from_infer=3) as dut:
        settings = BenchSettings(port=dut.url, model=MODEL.name, target=TARGET.name, mode="accuracy",
                                 inputs=tmp_path / "data", timeout_s=0.5)
        with pytest.raises(DeviceError) as err:
            bench_device(settings, MODEL, TARGET, tmp_path / "results")
    run = next((tmp_path / "results").iterdir())
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and status["log"] == str(run / "raw" / "transcript.log")
    assert err.value.log_path == run / "raw" / "transcript.log"
    assert [r["index"] for r in RunDirectory(run).read_jsonl("raw/accuracy.jsonl")] == [0, 1, 2]
    with ScriptedDut() as dut:
        settings = replace(settings, port=dut.url, timeout_s=2.0)
        bench_device(settings, MODEL, TARGET, tmp_path / "results", resume=run)
    assert [c for c in dut.commands if c.startswith("infer")] == ["infer 1 0"] * 3  # inputs 3, 4, 5 only
    accuracy = json.loads((run / "accuracy.json").read_text())
    predicted = [label % 12 for label in labels]  # the responder's top-1 is the first byte mod 12
    assert accuracy["top1_accuracy"] == pytest.approx(np.mean(np.array(predicted) == np.array(truth)))
    assert accuracy["status"] == "complete" and accuracy["n_done"] == 6
    parity = json.loads((run / "parity.json").read_text())
    assert parity["n"] == 6 and parity["drift"] is True and "deployment drift" in parity["finding"]


def test_a_port_that_never_answers_exits_4_with_the_transcript(tmp_path: Path) -> None:
    with ScriptedDut(silent=True) as dut:
        out = CliRunner().invoke(cli, ["bench-device", "--port", dut.url, "--model", MODEL.name, "--timeout", "0.5",
                                       "--results", str(tmp_path)])
    assert out.exit_code == 4
    run = next(tmp_path.iterdir())
    assert f"log: {run / 'raw' / 'transcript.log'}" in out.output
    assert json.loads((run / "status.json").read_text())["status"] == "failed"


def test_bench_settings_reject_inconsistent_options() -> None:
    for bad, needle in (({"mode": "energy"}, "needs a power monitor"), ({"monitor": "sim"}, "energy mode"),
                        ({"port": "sim://mcu"}, "harness run"), ({"mode": "latency"}, "unknown mode")):
        with pytest.raises(ConfigError, match=needle):
            BenchSettings(**{"port": "socket://127.0.0.1:1", "model": "m", **bad}).check()


@pytest.mark.slow
def test_mlperf_performance_and_energy_on_the_simulated_bench(tmp_path: Path) -> None:
    with sim_server() as server:
        run = bench_device(BenchSettings(port=server.url, model=MODEL.name, target=TARGET.name), MODEL, TARGET,
                           tmp_path)
    summary = json.loads((run / "performance.json").read_text())
    assert summary["status"] == "valid" and summary["windows"] == 5 and min(summary["window_s"]) >= 10.0
    with sim_server(mode="energy", io_manager=True) as server:
        run = bench_device(BenchSettings(port=server.url, model=MODEL.name, target=TARGET.name, mode="energy",
                                         monitor=f"sim:{server.wiring_url}", quick=True), MODEL, TARGET, tmp_path)
    row = pd.read_csv(run / "efficiency.csv").iloc[0]
    windows = RunDirectory(run).read_jsonl("raw/energy_windows__mlperf-dscnn-kws__nucleo-l4r5zi.jsonl")
    per_inference_mj = []
    for w in windows:  # recompute each window's energy from its saved trace: trapezoid between the two edges
        trace = Trace.from_parquet(run / w["trace"])
        t, pw = trace.times(), trace.power_w()
        inside = (t >= trace.events_s[0]) & (t <= trace.events_s[1])
        per_inference_mj.append(np.trapezoid(pw[inside], t[inside]) * 1e3 / w["n"])
    assert row["energy_mj_per_inference"] == pytest.approx(float(np.median(per_inference_mj)), rel=2e-3)
    active_mw = TARGET.power.active_for(TARGET.default_stack)
    assert row["energy_mj_per_inference"] == pytest.approx(active_mw * row["latency_ms_p50"] / 1e3, rel=0.02)


# ---- transfer efficiency, the serial Device in plans, and the port listing -------------------------------


def test_transfer_efficiency_counts_every_wire_byte_against_a_paced_link(tmp_path: Path) -> None:
    with sim_server(baud=115200) as server, DutClient(Link(url=server.url, baud=115200),
                                                       Transcript(tmp_path / "t.log")) as c:
        e = transfer_efficiency(c, bytes(range(256)) + bytes(234), loads=2)
    wire = p.reference_load_wire_bytes(490)
    assert e.wire_bytes == 2 * wire
    assert e.ceiling_bytes_per_s == pytest.approx(490 / (wire * 10 / 115200))
    assert 0.3 < e.efficiency <= 1.0  # paced at 115200 baud the host cannot beat the wire


def test_a_target_whose_link_is_not_sim_opens_the_serial_dut_device(tmp_path: Path) -> None:
    target = TARGET.model_copy(update={"link": Link(url="socket://127.0.0.1:1")})
    device = open_device(target, RunDirectory(tmp_path), DeviceSettings())
    assert isinstance(device, SerialDutDevice) and device.backend == "device"
    assert device.transcript_path == tmp_path / "raw" / "transcript.log"


def test_devices_lists_ports_and_matches_known_boards(monkeypatch: pytest.MonkeyPatch) -> None:
    def port(device: str, vid: int | None, pid: int | None) -> ListPortInfo:
        info = ListPortInfo(device)
        info.vid, info.pid, info.serial_number, info.description = vid, pid, "SN1", "desc"
        return info

    ports = [port("/dev/ttyACM1", 0x0483, 0x374B), port("/dev/ttyACM0", 0x1915, 0xC00A),
             port("/dev/ttyUSB0", 0x1366, 0x1051), port("/dev/ttyS0", None, None)]
    monkeypatch.setattr(discovery.list_ports, "comports", lambda: ports)
    out = CliRunner().invoke(cli, ["devices", "--json"])
    rows = {r["port"]: r for r in json.loads(out.stdout)}
    assert rows["/dev/ttyACM1"]["vid_pid"] == "0483:374b" and rows["/dev/ttyACM1"]["role"] == "dut"
    assert rows["/dev/ttyACM0"]["match"] == "Nordic Power Profiler Kit II"
    assert rows["/dev/ttyACM0"]["use"] == "--monitor <kind>:/dev/ttyACM0 (lpm01a or ppk2)"
    assert rows["/dev/ttyUSB0"]["match"].startswith("SEGGER J-Link")  # matched by vendor
    assert rows["/dev/ttyS0"]["match"] == "" and rows["/dev/ttyS0"]["vid_pid"] == ""
    assert list(rows) == ["/dev/ttyACM0", "/dev/ttyACM1", "/dev/ttyS0", "/dev/ttyUSB0"]
