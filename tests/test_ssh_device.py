"""A Linux board over SSH: a real SSH server on 127.0.0.1 runs the real board runner with the real LiteRT.

The links, host-key trust, deployment, timing and inference go through asyncssh to a server that
executes commands as subprocesses on this machine; the errors a bench meets (refused connection,
failed authentication, untrusted host key, no runtime, full disk, a dropped connection) are made at
the transport and must end in DeviceErrors that name the board and cite the session log.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.core.errors import ConfigError, DeviceError, DeviceTimeout
from harness.core.paths import models_dir, targets_dir
from harness.devices.capabilities import EnergyMeter, Inference, LatencyMeter
from harness.devices.factory import DeviceSettings, open_device
from harness.devices.parity import HostReference
from harness.devices.ssh.address import SshAddress
from harness.devices.ssh.device import SshDevice, board_warnings
from harness.registry.models import ModelRegistry
from harness.registry.plans import Measure, Plan
from harness.registry.targets import TargetProfile, TargetRegistry
from harness.rundir.directory import RunDirectory
from harness.runs.bench import BenchSettings, bench_device
from harness.runs.runner import Context, run_plan
from harness.runtimes import RuntimeOptions
from harness.runtimes.inputs import seeded_inputs
from tests.ssh_board import BoardServer

MODEL = "mlperf-dscnn-kws"
BOARD = "rpi4-camera"


def board_profile(directory: Path, name: str, url: str, timeout_s: float = 10.0,
                  monitor: dict[str, str] | None = None) -> None:
    """A copy of the Raspberry Pi 4 profile under ``name``, reached at ``url`` (with ``monitor`` if given)."""
    profile = yaml.safe_load((targets_dir() / f"{BOARD}.yaml").read_text())
    profile.update(name=name, link={"url": url, "timeout_s": timeout_s})
    if monitor is not None:
        profile["power_monitor"] = monitor
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))


def board_target(tmp_path: Path, url: str, timeout_s: float = 10.0,
                 monitor: dict[str, str] | None = None) -> TargetProfile:
    directory = tmp_path / "targets"
    if not directory.is_dir():
        shutil.copytree(targets_dir(), directory)
    board_profile(directory, "pi-bench", url, timeout_s, monitor)
    return TargetRegistry(directory).get("pi-bench")


def device(tmp_path: Path, url: str, timeout_s: float = 10.0, monitor: dict[str, str] | None = None,
           **kwargs: object) -> SshDevice:
    results = tmp_path / "results"
    run = RunDirectory.create(results, f"ssh-test-{len(list(results.glob('*'))) if results.is_dir() else 0}")
    return SshDevice(board_target(tmp_path, url, timeout_s, monitor), run, **kwargs)  # type: ignore[arg-type]


def test_address_parses_the_link_and_rejects_what_it_cannot_use() -> None:
    a = SshAddress.parse("ssh://pi@bench-pi.local:2222?host_key=accept-new&key=~/k&python=python3.11", "t")
    assert (a.user, a.host, a.port, a.host_key, a.python) == ("pi", "bench-pi.local", 2222, "accept-new", "python3.11")
    assert a.key == Path("~/k").expanduser() and a.known_hosts_name == "[bench-pi.local]:2222"
    assert SshAddress.parse("ssh://board", "t").known_hosts_name == "board"
    with pytest.raises(ConfigError, match="unknown query key.*hostkey"):
        SshAddress.parse("ssh://pi@board?hostkey=yes", "t")
    with pytest.raises(ConfigError, match="host_key='never'") as e:
        SshAddress.parse("ssh://pi@board?host_key=never", "t")
    assert "accept-new" in str(e.value)
    with pytest.raises(ConfigError, match="port"):
        SshAddress.parse("ssh://pi@board:99999", "t")


def test_the_factory_opens_ssh_links(tmp_path: Path, board: BoardServer) -> None:
    run = RunDirectory.create(tmp_path / "results", "factory")
    with open_device(board_target(tmp_path, board.url()), run, DeviceSettings()) as d:
        assert isinstance(d, SshDevice)
        assert d.capabilities() == [LatencyMeter, Inference]


def test_latency_is_timed_by_the_real_runtime_on_the_board(tmp_path: Path, board: BoardServer, model) -> None:
    with device(tmp_path, board.url(), seed=3, options=RuntimeOptions(threads=2, xnnpack=True)) as d:
        deployment = d.deploy(model, "litert-xnnpack")
        m = d.measure_latency(runs=15, warmup=2)
    assert m.backend == "device" and m.energy is None and m.host_latency_s is None
    # the latencies are the ones the board runner printed (the session log keeps every line it sent)
    log = d.log_path.read_text()
    printed = [int(n) for n in re.findall(r'"event": "latency", "i": \d+, "ns": (\d+)', log)]
    assert len(printed) == 15 and np.array_equal(m.device_latency_s, np.array(printed) / 1e9)
    # what was run: the plan's threads and xnnpack, the seed, on the model file copied over SFTP
    bench = [c for c in board.commands if " bench " in c]
    assert len(bench) == 1 and "--threads 2 --xnnpack --runs 15 --warmup 2 --seed 3" in bench[0]
    copied = board.home / ".cache" / "edge-harness" / model.artifact_path().name
    assert copied.read_bytes() == model.artifact_path().read_bytes()
    # the board's facts are this machine's
    facts = deployment.details["board"]
    uname = platform.uname()
    assert facts["kernel"] == f"{uname.system} {uname.release} {uname.version}"
    assert facts["hostname"] == deployment.details["dut_name"] == uname.node
    assert deployment.runtime == f"ai_edge_litert {metadata.version('ai-edge-litert')}"
    assert m.row_fields["board_kernel"] == facts["kernel"]


def test_cpus_pins_the_runner_with_taskset_and_the_row_shows_its_affinity(tmp_path: Path, board: BoardServer,
                                                                           model) -> None:
    core = sorted(os.sched_getaffinity(0))[-1]  # a core this machine (the "board") lets us use
    with device(tmp_path, board.url(cpus=str(core))) as d:
        d.deploy(model, "litert-xnnpack")
        m = d.measure_latency(runs=5, warmup=1)
    bench = [c for c in board.commands if " bench " in c]
    assert len(bench) == 1 and bench[0].startswith(f"taskset -c {core} ")
    assert m.row_fields["cpu_affinity"] == str(core)  # what the runner's own sched_getaffinity reported
    with pytest.raises(ConfigError, match="cpus='two' is not a core list"):
        SshAddress.parse("ssh://pi@board?cpus=two", "t")
    assert SshAddress.parse("ssh://pi@board?cpus=0,2-3", "t").pinned("x") == "taskset -c 0,2-3 x"


def test_inference_on_the_board_agrees_with_the_host(tmp_path: Path, board: BoardServer, model) -> None:
    host = HostReference.load(model)
    inputs = seeded_inputs(host.input, 6, seed=11, model=model.name)
    with device(tmp_path, board.url()) as d:
        d.deploy(model, "litert-xnnpack")
        scores = [d.require(Inference).infer(x) for x in inputs]
    for x, s in zip(inputs, scores, strict=True):
        expected = host.scores(x.data)
        assert s.shape == expected.shape
        assert np.max(np.abs(s - expected)) <= host.tolerance
    host.close()
    assert sum(" serve " in c for c in board.commands) == 1  # one server process for all inputs


def test_governor_and_temperature_are_recorded_and_warned(tmp_path: Path, model, capsys) -> None:
    sysroot = tmp_path / "sysroot"
    cpu = sysroot / "sys/devices/system/cpu"
    for core in (0, 1):
        (cpu / f"cpu{core}/cpufreq").mkdir(parents=True)
        (cpu / f"cpu{core}/cpufreq/scaling_governor").write_text("ondemand\n")
        (cpu / f"cpu{core}/cpufreq/scaling_cur_freq").write_text("1500000\n")
    (cpu / "online").write_text("0-1\n")
    zone = sysroot / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("48312\n")
    (zone / "type").write_text("cpu-thermal\n")
    firmware = sysroot / "sys/devices/platform/soc/soc:firmware"
    firmware.mkdir(parents=True)
    (firmware / "get_throttled").write_text("0x50005\n")
    with BoardServer(tmp_path / "board", env={"EDGE_HARNESS_SYSROOT": str(sysroot)}) as server, \
            device(tmp_path, server.url()) as d:
        deployment = d.deploy(model, "litert-xnnpack")
        m = d.measure_latency(runs=3, warmup=0)
    board = deployment.details["board"]
    assert board["online_cores"] == [0, 1] and board["governors"] == ["ondemand"]
    assert board["temperatures_c"] == {"thermal_zone0:cpu-thermal": 48.312}
    assert board["cur_freq_khz"] == {"0": 1500000, "1": 1500000}
    assert m.row_fields["temperature_c_before"] == m.row_fields["temperature_c_after"] == 48.312
    warnings = deployment.details["warnings"]
    assert len(warnings) == 2 and "ondemand, not performance" in warnings[0] and "0x50005" in warnings[1]
    assert "ondemand, not performance" in capsys.readouterr().err


def test_board_warnings_on_heating_and_throttle_counters() -> None:
    before = {"governors": ["performance"], "max_temperature_c": 50.0, "throttling": {"core_throttle_count": 4}}
    after = {"governors": ["performance"], "max_temperature_c": 52.5, "throttling": {"core_throttle_count": 7}}
    assert board_warnings(before, after) == [
        "temperature rose from 50.0 to 52.5 C during the measurement",
        "the CPU throttled 3 times during the measurement (core_throttle_count)"]
    assert board_warnings(before, {**after, "max_temperature_c": 51.9, "throttling": {"core_throttle_count": 4}}) == []


def test_accept_new_records_a_first_seen_host_key_and_strict_refuses_it(tmp_path: Path, board: BoardServer,
                                                                       model) -> None:
    fresh = tmp_path / "fresh_known_hosts"
    with device(tmp_path, board.url(known_hosts=str(fresh))) as d, \
            pytest.raises(DeviceError, match="no known_hosts file") as e:
        d.deploy(model, "litert-xnnpack")
    assert "host_key=accept-new" in str(e.value)
    with device(tmp_path, board.url(known_hosts=str(fresh), host_key="accept-new")) as d:
        d.deploy(model, "litert-xnnpack")
    assert fresh.read_text() == f"[127.0.0.1]:{board.port} {board.public_host_key()}\n"
    # a recorded key that does not match is a changed key: refused even with accept-new, and nothing is appended
    other = BoardServer(tmp_path / "other").public_host_key()
    fresh.write_text(f"[127.0.0.1]:{board.port} {other}\n")
    with device(tmp_path, board.url(known_hosts=str(fresh), host_key="accept-new")) as d, \
            pytest.raises(DeviceError, match="host key is not trusted") as e:
        d.deploy(model, "litert-xnnpack")
    assert fresh.read_text() == f"[127.0.0.1]:{board.port} {other}\n"
    assert "pi-bench" in str(e.value) and e.value.log_path == d.log_path


def test_authentication_failure_names_the_login(tmp_path: Path, board: BoardServer, model) -> None:
    stranger = BoardServer(tmp_path / "stranger").client_key_path
    with device(tmp_path, board.url(key=str(stranger))) as d, pytest.raises(DeviceError, match="authentication") as e:
        d.deploy(model, "litert-xnnpack")
    assert "ssh-add" in str(e.value) and "pi-bench" in str(e.value)


def test_a_refused_connection_is_a_device_error(tmp_path: Path, model) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connecting is refused
        with device(tmp_path, f"ssh://pi@127.0.0.1:{port}?known_hosts={tmp_path}/kh&host_key=accept-new") as d, \
                pytest.raises(DeviceError, match="cannot reach the board") as e:
            d.deploy(model, "litert-xnnpack")
    assert f"pi@127.0.0.1:{port}" in str(e.value) and e.value.log_path == d.log_path and d.log_path.is_file()


def test_a_board_without_a_runtime_says_what_to_install(tmp_path: Path, board: BoardServer, model) -> None:
    bare = tmp_path / "bare-python"
    bare.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")  # no site-packages: no numpy, no LiteRT
    bare.chmod(0o755)
    with device(tmp_path, board.url(python=str(bare))) as d, pytest.raises(DeviceError, match="numpy is not") as e:
        d.deploy(model, "litert-xnnpack")
    assert "pip install ai-edge-litert numpy" in str(e.value) and e.value.log_path == d.log_path
    with device(tmp_path, board.url(python="/nonexistent/python3")) as d, \
            pytest.raises(DeviceError, match="cannot run '/nonexistent/python3'") as e:
        d.deploy(model, "litert-xnnpack")
    assert "?python=" in str(e.value)


def test_a_board_that_stops_answering_times_out(tmp_path: Path, board: BoardServer, model) -> None:
    hung = tmp_path / "hung-python"
    hung.write_text("#!/bin/sh\nexec sleep 30\n")
    hung.chmod(0o755)
    with device(tmp_path, board.url(python=str(hung)), timeout_s=0.5) as d, pytest.raises(DeviceTimeout) as e:
        d.deploy(model, "litert-xnnpack")
    assert "loading the model on the board" in str(e.value) and e.value.log_path == d.log_path


def test_a_full_disk_is_named(tmp_path: Path, model) -> None:
    with BoardServer(tmp_path / "board", disk_full=True) as server, device(tmp_path, server.url()) as d, \
            pytest.raises(DeviceError, match="board_runner.py.*No space left on device") as e:
        d.deploy(model, "litert-xnnpack")
    assert "disk is full" in str(e.value)


def test_a_connection_lost_mid_run_is_named(tmp_path: Path, model) -> None:
    with BoardServer(tmp_path / "board", drop_after_lines=5) as server, device(tmp_path, server.url()) as d:
        d.deploy(model, "litert-xnnpack")
        with pytest.raises(DeviceError, match="connection lost during timing inferences") as e:
            d.measure_latency(runs=50, warmup=0)
    assert e.value.log_path == d.log_path
    assert '"i": 2' in d.log_path.read_text()  # the lines that arrived before the drop are in the log


@pytest.mark.slow
def test_one_plan_measures_a_simulated_mcu_and_a_board_over_ssh(tmp_path: Path, board: BoardServer) -> None:
    board_target(tmp_path, board.url())  # tmp targets dir: every profile, plus pi-bench at the SSH server
    plan = Plan(name="mixed-ssh", models=[MODEL], targets=["mcu", "pi-bench"], measure=Measure(warmup=1, runs=20))
    run = run_plan(plan, Context(ModelRegistry(models_dir()), TargetRegistry(tmp_path / "targets"),
                                 tmp_path / "results-plan"))
    eff = pd.read_csv(run / "efficiency.csv").set_index("target")
    assert eff.loc["mcu", "backend"] == "sim:mcu" and eff.loc["pi-bench", "backend"] == "device"
    assert pd.isna(eff.loc["pi-bench", "energy_mj_per_inference"])
    # the board row's latency is the board runner's 20 timed invokes, as printed into the session log
    printed = [int(n) for n in re.findall(r'"event": "latency", "i": \d+, "ns": (\d+)',
                                          (run / "raw" / "ssh__pi-bench.log").read_text())]
    assert len(printed) == 20
    assert eff.loc["pi-bench", "latency_ms_p50"] == pytest.approx(np.percentile(np.array(printed) / 1e6, 50))
    assert eff.loc["pi-bench", "dut_name"] == platform.uname().node
    assert eff.loc["pi-bench", "host_runtime"].startswith("ai_edge_litert ")
    assert (run / "signoff.json").is_file() and (run / "report.html").is_file()


@pytest.mark.slow
def test_device_accuracy_on_the_board_has_no_drift(tmp_path: Path, board: BoardServer, model) -> None:
    target = board_target(tmp_path, board.url())
    settings = BenchSettings(port=board.url(), model=MODEL, target="pi-bench", mode="accuracy", count=8, seed=5)
    run = bench_device(settings, model, target, tmp_path / "results-bench")
    parity = json.loads((run / "parity.json").read_text())
    assert parity["n"] == 8 and parity["top1_agreement"] == 1.0 and parity["drift"] is False
    rows = [json.loads(line) for line in (run / "raw" / "accuracy.jsonl").read_text().splitlines()]
    host = HostReference.load(model)
    inputs = seeded_inputs(host.input, 8, seed=5, model=model.name)
    for row, x in zip(rows, inputs, strict=True):
        assert row["input_id"] == x.id
        assert np.max(np.abs(np.array(row["scores"]) - host.scores(x.data))) <= host.tolerance
    host.close()


@pytest.mark.slow
def test_bench_performance_over_ssh_times_the_plans_runs_not_mlperf_windows(tmp_path: Path, board: BoardServer,
                                                                             model) -> None:
    target = board_target(tmp_path, board.url())
    settings = BenchSettings(port=board.url(), model=MODEL, target="pi-bench", mode="performance", quick=True)
    run = bench_device(settings, model, target, tmp_path / "results-bench")
    row = pd.read_csv(run / "efficiency.csv").iloc[0]
    assert row["backend"] == "device" and row["n_runs"] == Measure().runs  # MLPerf windows are a serial DUT's


@pytest.mark.slow
def test_run_device_url_measures_a_profile_on_the_attached_board_and_resume_stays_on_it(tmp_path: Path,
                                                                                        board: BoardServer) -> None:
    from click.testing import CliRunner

    from harness.cli import _register, cli

    _register()
    args = ["run", "--model", MODEL, "--target", BOARD, "--runs", "20", "--results", str(tmp_path / "r")]
    out = CliRunner().invoke(cli, [*args, "--device-url", board.url()], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    run = Path(out.stdout.strip().splitlines()[-1])
    row = pd.read_csv(run / "efficiency.csv").iloc[0]
    profile = TargetRegistry(targets_dir()).get(BOARD)
    assert (row["target"], row["backend"], row["provenance"]) == (BOARD, "device", "measured:device")
    assert row["latency_budget_ms"] == profile.budgets.latency_ms  # the profile's budgets, on the attached board
    rows = (run / "raw" / "efficiency_rows.jsonl").read_text().splitlines()
    (run / "raw" / "efficiency_rows.jsonl").write_text("")  # interrupted before the pair finished
    out = CliRunner().invoke(cli, ["run", "--resume", str(run)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    again = pd.read_csv(run / "efficiency.csv").iloc[0]
    assert again["backend"] == "device" and len(rows) == 1  # resumed on the board, not simulated


def rails_sysroot(root: Path, files: dict[str, str]) -> Path:
    for name, value in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(value + "\n")
    return root


@pytest.mark.parametrize(("monitor", "files", "watts"), [
    ({"model": "board-rails", "url": "jetson"},
     {"sys/class/hwmon/hwmon1/name": "ina3221", "sys/class/hwmon/hwmon1/in1_label": "VDD_IN",
      "sys/class/hwmon/hwmon1/in1_input": "5000", "sys/class/hwmon/hwmon1/curr1_input": "1240",
      "sys/class/hwmon/hwmon1/in2_label": "VDD_CPU_GPU_CV", "sys/class/hwmon/hwmon1/in2_input": "5000",
      "sys/class/hwmon/hwmon1/curr2_input": "300"}, 6.2),
    ({"model": "board-rails", "url": "hwmon:5V_IN"},
     {"sys/class/hwmon/hwmon0/name": "ina219", "sys/class/hwmon/hwmon0/label": "5V_IN",
      "sys/class/hwmon/hwmon0/in1_input": "5100", "sys/class/hwmon/hwmon0/curr1_input": "702",
      "sys/class/hwmon/hwmon0/power1_input": "3580000"}, 3.58),
])
def test_energy_from_the_boards_own_rails(tmp_path: Path, model, monitor: dict[str, str], files: dict[str, str],
                                          watts: float) -> None:
    sysroot = rails_sysroot(tmp_path / "sysroot", files)
    with BoardServer(tmp_path / "board", env={"EDGE_HARNESS_SYSROOT": str(sysroot)}) as server, \
            device(tmp_path, server.url(), monitor=monitor) as d:
        assert d.capabilities() == [LatencyMeter, EnergyMeter, Inference]
        d.deploy(model, "litert-xnnpack")
        m = d.require(EnergyMeter).measure_energy(runs=300, warmup=2)
    window = re.search(r'"event": "window", "start_ns": (\d+), "end_ns": (\d+)', d.log_path.read_text())
    assert window is not None
    window_s = (int(window[2]) - int(window[1])) / 1e9
    assert m.energy is not None and m.energy.n_inferences == 300
    assert m.energy.window.seconds == pytest.approx(window_s)
    assert m.energy.energy.joules == pytest.approx(watts * window_s)  # the rail read steady: P x window
    assert m.energy.avg_power.watts == pytest.approx(watts) and m.energy.idle_power.watts == pytest.approx(watts)
    assert len(m.device_latency_s) == 300


def test_bench_device_energy_mode_reads_the_rails_named_by_monitor(tmp_path: Path, model) -> None:
    files = {"sys/class/hwmon/hwmon0/name": "ina219", "sys/class/hwmon/hwmon0/label": "5V_IN",
             "sys/class/hwmon/hwmon0/in1_input": "5000", "sys/class/hwmon/hwmon0/curr1_input": "500"}
    sysroot = rails_sysroot(tmp_path / "sysroot", files)
    with BoardServer(tmp_path / "board", env={"EDGE_HARNESS_SYSROOT": str(sysroot)}) as server:
        target = board_target(tmp_path, server.url())
        settings = BenchSettings(port=server.url(), model=MODEL, target="pi-bench", mode="energy", quick=True,
                                 monitor="board-rails:hwmon:5V_IN")
        run = bench_device(settings, model, target, tmp_path / "results-bench")
    row = pd.read_csv(run / "efficiency.csv").iloc[0]
    assert row["backend"] == "device" and row["provenance"] == "measured:device"
    assert row["avg_power_mw"] == pytest.approx(5.0 * 0.5 * 1e3)  # 5 V x 500 mA, read steady on the board
    with pytest.raises(ConfigError, match="unknown power monitor kind 'rails'") as e:
        bench_device(BenchSettings(port=server.url(), model=MODEL, mode="energy", monitor="rails:jetson"),
                     model, target, tmp_path / "results-bad")
    assert "board-rails" in str(e.value)


def test_energy_needs_the_boards_rails(tmp_path: Path, board: BoardServer) -> None:
    with device(tmp_path, board.url()) as d, pytest.raises(ConfigError, match="cannot measure energy") as e:
        d.require(EnergyMeter)
    assert "board-rails" in str(e.value)
    with pytest.raises(ConfigError, match="not a 'lpm01a' monitor"):
        device(tmp_path, board.url(), monitor={"model": "lpm01a", "url": "/dev/ttyACM0"})
    with pytest.raises(ConfigError, match="names no rail"):
        device(tmp_path, board.url(), monitor={"model": "board-rails", "url": "hwmon:"})
