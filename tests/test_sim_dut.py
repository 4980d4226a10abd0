"""The simulated MLPerf Tiny DUT, driven with raw protocol bytes through pyserial, as a host would drive a board."""

from __future__ import annotations

import math
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import IO

import numpy as np
import onnxruntime as ort
import pytest
import serial
from tflite_micro.python.tflite_micro import runtime as tflm

from harness.analysis import analyze
from harness.core.errors import ConfigError
from harness.core.paths import models_dir, targets_dir
from harness.core.seeding import seeded_rng
from harness.costmodel.model import default_cost_model
from harness.dut.sim.faults import FaultPlan
from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.injector import FaultInjector
from harness.dut.sim.io_manager import NAME as IO_MANAGER_NAME
from harness.dut.sim.io_manager import IOManager
from harness.dut.sim.model import model_id_for
from harness.dut.sim.server import SimDutServer
from harness.modelgen import build_artifact
from harness.power.wiring import WireEvent, WiringLog
from harness.registry.models import ModelRegistry, entry_from_file
from harness.registry.targets import TargetRegistry

REGISTRY = ModelRegistry(models_dir())
TARGETS = TargetRegistry(targets_dir())
MODEL = REGISTRY.get("mlperf-dscnn-kws")  # input 1x49x10x1 int8 = 490 bytes
TARGET = TARGETS.get("mcu")
INPUT_BYTES = 490
BANNER = ["m-timestamp-mode-performance", "m-lap-us-0", "m-init-done", "m-ready"]


def sample_input(seed: int = 3) -> bytes:
    return np.random.default_rng(seed).integers(-128, 128, INPUT_BYTES, dtype=np.int8).tobytes()


def firmware(**kwargs: object) -> SimulatedFirmware:
    return SimulatedFirmware(TARGET, MODEL, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[SimDutServer]:
    with SimDutServer(firmware()) as srv:
        yield srv


def read_reply(port: serial.SerialBase, ready: str = "m-ready") -> list[str]:
    """Lines up to and including ``ready``; fails on a timeout."""
    lines: list[str] = []
    while True:
        raw = port.readline()
        assert raw.endswith(b"\r\n"), f"no complete line after {lines}: {raw!r}"
        lines.append(raw[:-2].decode("latin-1"))
        if lines[-1] == ready:
            return lines


def ask(port: serial.SerialBase, command: str, ready: str = "m-ready") -> list[str]:
    port.write(command.encode() + b"%")
    return read_reply(port, ready)


def load(port: serial.SerialBase, data: bytes, chunk: int = 31, prefix: str = "", ready: str = "m-ready") -> None:
    """``db load`` then ``db`` chunks, checking each reply; ``prefix`` 'dut ' goes through an IO manager."""
    dut = _dut(prefix)
    assert ask(port, f"{prefix}db load {len(data)}", ready)[-2:] == [f"{dut}m-[Expecting {len(data)} bytes]", ready]
    for i in range(0, len(data), chunk):
        reply = ask(port, f"{prefix}db {data[i:i + chunk].hex()}", ready)
        done = [f"{dut}m-load-done"] if i + chunk >= len(data) else []
        assert reply[-1 - len(done):] == [*done, ready]
        assert not [line for line in reply if "e-[" in line]


def _dut(prefix: str) -> str:
    return "[dut]: " if prefix else ""


def dut_feed(fw: SimulatedFirmware, command: str) -> list[str]:
    return [r.text for r in fw.feed(command.encode() + b"%")]


def load_direct(fw: SimulatedFirmware, data: bytes) -> None:
    dut_feed(fw, f"db load {len(data)}")
    for i in range(0, len(data), 31):
        dut_feed(fw, f"db {data[i:i + 31].hex()}")


def laps(lines: list[str]) -> list[int]:
    return [int(line.removeprefix("m-lap-us-")) for line in lines if line.startswith("m-lap-us-")]


# ---- protocol ------------------------------------------------------------------------------------


def test_boot_prints_the_banner_and_a_host_then_asks_name_and_profile(server: SimDutServer) -> None:
    assert [r.text for r in firmware().boot()] == BANNER
    assert [r.text for r in firmware(mode="energy").boot()] == ["m-timestamp-mode-energy", "m-init-done", "m-ready"]
    with serial.serial_for_url(server.url, timeout=5) as port:  # booted before the host connected: no banner
        assert ask(port, "name") == ["m-name-dut-[sim:mcu]", "m-ready"]
        profile = ask(port, "profile")
    assert profile[0].startswith("m-profile-[edge-harness simulated MLPerf Tiny firmware ")
    assert "tflite-micro" in profile[0] and "tflm-reference" in profile[0]
    assert profile[1:] == ["m-model-[kws01]", "m-ready"]


def test_db_load_in_chunks_and_db_print_round_trip(server: SimDutServer) -> None:
    data = sample_input()
    with serial.serial_for_url(server.url, timeout=5) as port:
        load(port, data)
        printed = ask(port, "db print")
        window = ask(port, "db print 5 3")
    buffer_lines = [line for line in printed if line.startswith("m-buffer-")]
    assert len(buffer_lines) == math.ceil(INPUT_BYTES / 8)
    assert all(len(line.split("-")) - 2 <= 8 for line in buffer_lines)
    assert bytes.fromhex("".join(line.removeprefix("m-buffer-").replace("-", "") for line in buffer_lines)) == data
    assert printed[-2:] == ["", "m-ready"]  # 490 % 8 != 0: the reference firmware prints one more CR/LF
    assert window == ["m-buffer-" + "-".join(f"{b:02x}" for b in data[3:8]), "", "m-ready"]


def test_errors_are_e_lines_followed_by_ready() -> None:
    fw = firmware()
    fw.boot()
    assert dut_feed(fw, "db 123") == ["e-[Insufficent number of hex digits]", "m-ready"]
    assert dut_feed(fw, "fly me") == ["e-[Unknown command: fly]", "m-ready"]
    assert dut_feed(fw, "db") == ["e-[Command 'db' requires a subcommand]", "m-ready"]
    assert dut_feed(fw, "infer 0") == ["e-[Inference iterations must be >0]", "m-ready"]
    assert dut_feed(fw, "results") == ["e-[No results: run 'infer' first]", "m-ready"]
    dut_feed(fw, "db load 490")
    assert dut_feed(fw, "db 0g") == ["e-[Invalid hex digit '0g']", "m-ready"]
    # 3 + 78 characters: the 80-character command buffer keeps 77 hex digits, an odd count
    assert dut_feed(fw, "db " + "ab" * 39) == ["e-[Insufficent number of hex digits]", "m-ready"]
    wrong_size = dut_feed(fw, "infer 1 0")
    assert wrong_size[0].startswith("e-[Input buffer holds 0 of 490 bytes") and wrong_size[1:] == ["m-ready"]
    assert dut_feed(fw, "name\r\n")[0] == "e-[Unknown command: name\r\n]"  # CR/LF are part of a command


# ---- inference -----------------------------------------------------------------------------------


def host_scores(data: bytes) -> str:
    """The same input through TFLite Micro's own Python interpreter, dequantized and printed as the DUT does."""
    interpreter = tflm.Interpreter.from_bytes(MODEL.artifact_path().read_bytes())
    interpreter.set_input(np.frombuffer(data, dtype=np.int8).reshape(1, 49, 10, 1), 0)
    interpreter.invoke()
    q = interpreter.get_output(0).ravel().astype(np.float64)
    params = interpreter.get_output_details(0)["quantization_parameters"]
    values = (q - params["zero_points"][0]) * params["scales"][0]
    return "m-results-[" + ",".join(f"{v:.3f}" for v in values) + "]"


def test_infer_reports_the_runtime_scores_for_the_loaded_bytes(server: SimDutServer) -> None:
    data = sample_input(seed=8)
    with serial.serial_for_url(server.url, timeout=10) as port:
        load(port, data)
        reply = ask(port, "infer 1 0")
        again = ask(port, "results")
    assert reply[:3] == ["m-warmup-start-0", "m-warmup-done", "m-infer-start-1"]
    assert len(laps(reply[3:5])) == 2 and reply[5] == "m-infer-done"
    expected = host_scores(data)
    assert reply[-2:] == [expected, "m-ready"]
    assert again == [expected, "m-ready"]
    assert len(expected.split(",")) == 12


def expected_window_s(seed: int, warmup: int, n: int) -> float:
    """Sum of the timed latencies: the cost model's prediction x seeded lognormal jitter, drawn warm-up first."""
    prediction = default_cost_model().predict(analyze(MODEL.artifact_path()), TARGET)
    sigma = prediction.jitter_sigma
    z = seeded_rng(seed, MODEL.name, TARGET.name, "dut-latency").standard_normal(warmup + n)[warmup:]
    return float(np.sum(prediction.latency.seconds * np.exp(sigma * z - sigma**2 / 2)))


def test_lap_difference_is_the_sum_of_seeded_cost_model_latencies() -> None:
    spans = []
    for seed in (11, 11, 12):
        fw = firmware(seed=seed)
        fw.boot()
        load_direct(fw, sample_input())
        reply = dut_feed(fw, "infer 20 3")
        a, b = laps(reply)
        assert abs((b - a) - expected_window_s(seed, 3, 20) * 1e6) <= 1.0
        spans.append(b - a)
    assert spans[0] == spans[1] != spans[2]
    predicted_us = default_cost_model().predict(analyze(MODEL.artifact_path()), TARGET).latency.us
    assert 0.5 * predicted_us * 20 < spans[0] < 2.0 * predicted_us * 20


def test_timestamp_prints_the_timer_and_warmup_advances_it() -> None:
    fw = firmware()
    fw.boot()
    load_direct(fw, sample_input())
    (t0,) = laps(dut_feed(fw, "timestamp"))
    a, _ = laps(dut_feed(fw, "infer 1 5"))
    assert a - t0 > 4 * default_cost_model().predict(analyze(MODEL.artifact_path()), TARGET).latency.us


@pytest.mark.parametrize(("target", "model", "runtime", "model_id"), [
    ("mcu", "mlperf-dscnn-kws", "tflm", "kws01"),
    ("wearable", "mww-alexa", "tflm", "sww01"),
    ("phone", "mlperf-dscnn-kws", "litert", "kws01"),
    ("phone", "mlperf-dscnn-kws-onnx", "onnxruntime", "kws01"),
])
def test_runtime_follows_the_target_class_and_model_id_the_task(target: str, model: str, runtime: str,
                                                                model_id: str) -> None:
    fw = SimulatedFirmware(TARGETS.get(target), REGISTRY.get(model))
    assert (fw.model.runtime, fw.model_id) == (runtime, model_id)
    assert [r.text for r in fw.boot()][-1] == "m-ready"
    assert dut_feed(fw, "profile")[1] == f"m-model-[{model_id}]"


def test_model_id_of_a_generic_model_follows_its_input_shape() -> None:
    entry = entry_from_file(build_artifact("mlperf-fc-autoencoder-ad"))
    assert model_id_for(entry, (1, 640)) == "ad01" and model_id_for(entry, (1, 96, 96, 3)) == "vww01"
    with pytest.raises(ConfigError) as info:
        model_id_for(entry, (1, 7))
    assert "--model-id" in (info.value.hint or "")


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"model": "oww-alexa"}, "stage model(s)"), ({"mode": "accuracy"}, "unknown DUT mode 'accuracy'"),
    ({"model_id": "kws02"}, "unknown MLPerf Tiny model id 'kws02'"),
])
def test_unsupported_setups_are_config_errors(kwargs: dict[str, str], named: str) -> None:
    entry = REGISTRY.get(kwargs.pop("model", MODEL.name))
    with pytest.raises(ConfigError) as info:
        SimulatedFirmware(TARGET, entry, **kwargs)  # type: ignore[arg-type]
    assert named in info.value.message


def test_float_model_takes_little_endian_float32_bytes() -> None:
    entry = REGISTRY.get("mlperf-dscnn-kws-onnx")
    fw = SimulatedFirmware(TARGETS.get("phone"), entry)
    fw.boot()
    x = np.random.default_rng(4).standard_normal((1, 1, 49, 10)).astype("<f4")
    load_direct(fw, x.tobytes())
    reply = dut_feed(fw, "infer 1 0")
    out = ort.InferenceSession(str(entry.artifact_path())).run(None, {"input": x})[0]
    assert reply[-2:] == ["m-results-[" + ",".join(f"{v:.3f}" for v in out.ravel()) + "]", "m-ready"]


# ---- energy mode and wiring --------------------------------------------------------------------


def test_energy_mode_marks_the_window_with_edges_and_reports_power() -> None:
    wiring = WiringLog()
    fw = firmware(mode="energy", seed=5, wiring=wiring)
    banner = [r.text for r in fw.boot()]
    assert banner == ["m-timestamp-mode-energy", "m-init-done", "m-ready"]
    load_direct(fw, sample_input())
    reply = dut_feed(fw, "infer 4 2")
    dut_feed(fw, "timestamp")
    assert not [line for line in reply if line.startswith("m-lap-us")]
    edges = [e.t_s for e in wiring.events() if e.kind == "E"]
    assert len(edges) == 4  # boot, window start, window end, timestamp%
    assert edges[2] - edges[1] == pytest.approx(expected_window_s(5, 2, 4), abs=1e-9)
    powers = [(e.t_s, e.watts) for e in wiring.events() if e.kind == "P"]
    idle, active = TARGET.power.idle_mw / 1e3, TARGET.power.active_mw_by_stack["tflm-reference"] / 1e3
    assert [w for _, w in powers] == [idle, active, idle]
    assert powers[1][0] < edges[1] and powers[2][0] == edges[2]  # active from warm-up to the window's end


def test_wiring_url_streams_the_events_as_lines() -> None:
    with SimDutServer(firmware(mode="energy")) as srv:
        host, port_text = srv.wiring_url.removeprefix("socket://").rsplit(":", 1)
        with socket.create_connection((host, int(port_text)), timeout=5) as reader, \
                serial.serial_for_url(srv.url, timeout=10) as port:
            boot = "".join(e.to_line() for e in srv.wiring.events())  # the present draw, then the boot edge
            received = _recv_at_least(reader, b"", len(boot))
            load(port, sample_input())
            ask(port, "infer 2 1")
            expected = "".join(e.to_line() for e in srv.wiring.events())
            received = _recv_at_least(reader, received, len(expected))
    assert received.decode() == expected
    assert [WireEvent.from_line(line).kind for line in received.decode().splitlines()] == ["P", "E", "P", "E", "E", "P"]


def _recv_at_least(reader: socket.socket, received: bytes, n: int) -> bytes:
    while len(received) < n:
        received += reader.recv(4096)
    return received


# ---- IO manager --------------------------------------------------------------------------------


def test_io_manager_passes_commands_through_and_prefixes_dut_lines() -> None:
    dut_ready = "[dut]: m-ready"
    assert [r.text for r in IOManager(firmware()).boot()] == ["m-ready", *("[dut]: " + line for line in BANNER)]
    with SimDutServer(firmware(), io_manager=True) as srv, serial.serial_for_url(srv.url, timeout=10) as port:
        assert ask(port, "name") == [IO_MANAGER_NAME, "m-ready"]
        assert ask(port, "dut name", dut_ready) == ["m-dut-passthrough(name)", "m-ready",
                                                    "[dut]: m-name-dut-[sim:mcu]", dut_ready]
        assert ask(port, "fly") == ["e-[Unknown command: fly]", "m-ready"]
        data = sample_input()
        load(port, data, chunk=26, prefix="dut ", ready=dut_ready)
        reply = ask(port, "dut infer 1 0", dut_ready)
        assert reply[:2] == ["m-dut-passthrough(infer 1 0)", "m-ready"]
        assert reply[-2:] == ["[dut]: " + host_scores(data), dut_ready]
        ask(port, "dut db load 27", dut_ready)
        too_long = ask(port, f"dut db {bytes(27).hex()}", dut_ready)
    # "dut db " + 54 digits overflows the IO manager's buffer: the DUT gets an odd digit count
    assert too_long[2:] == ["[dut]: e-[Insufficent number of hex digits]", dut_ready]


# ---- faults ------------------------------------------------------------------------------------


def test_fault_spec_parses_and_rejects_bad_items_by_name() -> None:
    plan = FaultPlan.parse("drop=0.001,corrupt_out=0.0005,delay=0.3@0.05,reset=40,stall=25:5,noise=0.2,seed=7")
    assert (plan.drop_in, plan.drop_out, plan.corrupt_in, plan.corrupt_out) == (0.001, 0.001, 0.0, 0.0005)
    assert (plan.delay_s, plan.delay_p, plan.reset_at, plan.stall_at, plan.stall_s) == (0.3, 0.05, 40, 25, 5.0)
    assert (plan.noise, plan.seed) == (0.2, 7)
    assert FaultPlan.parse("stall=3").stall_s == math.inf and FaultPlan.parse("delay=2").delay_p == 1.0
    assert not FaultPlan.parse("").active and not FaultPlan.parse("seed=4").active
    for spec, named in [("drp=0.1", "unknown key 'drp'"), ("drop=1.5", "outside 0..1"), ("reset=0", ">= 1"),
                        ("noise", "'noise' needs a value"), ("seed=1,seed=2", "given twice")]:
        with pytest.raises(ConfigError) as info:
            FaultPlan.parse(spec)
        assert named in info.value.message
        assert "valid keys: drop, drop_in" in (info.value.hint or "")


def test_byte_faults_are_logged_and_the_same_for_a_seed_however_bytes_are_chunked() -> None:
    data = bytes(range(256)) * 40
    plan = FaultPlan(drop_in=0.02, corrupt_in=0.03, seed=9)
    whole = FaultInjector(plan)
    out = whole.inbound(data)
    chunked = FaultInjector(plan)
    pieces = b"".join(chunked.inbound(data[i:i + 37]) for i in range(0, len(data), 37))
    assert out == pieces
    dropped, corrupted = whole.log.count("drop_in"), whole.log.count("corrupt_in")
    assert len(out) == len(data) - dropped
    assert 0.01 * len(data) < dropped < 0.03 * len(data) and 0.02 * len(data) < corrupted < 0.04 * len(data)
    lost = {int(e.detail.split()[1]) for e in whole.log.events("drop_in")}
    kept = [b for i, b in enumerate(data) if i not in lost]
    flips = [bin(a ^ b).count("1") for a, b in zip(kept, out, strict=True)]
    assert flips.count(1) == corrupted and set(flips) == {0, 1}
    assert FaultInjector(FaultPlan(drop_in=0.02, corrupt_in=0.03, seed=10)).inbound(data) != out
    assert FaultInjector(FaultPlan(drop_out=0.5)).inbound(data) == data  # the other direction is untouched


def test_reset_fault_reboots_the_dut_and_forgets_its_buffer() -> None:
    with SimDutServer(firmware(), faults=FaultPlan.parse("reset=3")) as srv, \
            serial.serial_for_url(srv.url, timeout=5) as port:
        load(port, sample_input()[:31], chunk=31)  # commands 1 and 2
        assert ask(port, "name") == BANNER  # command 3: the banner instead of a reply
        assert ask(port, "db print") == ["m-ready"]
        assert ask(port, "infer 1 0")[0].startswith("e-[Input buffer holds 0 of 0 bytes")
        assert srv.fault_log.count("reset") == 1


def test_reset_behind_an_io_manager_is_relayed_after_its_acknowledgement() -> None:
    with SimDutServer(firmware(), io_manager=True, faults=FaultPlan.parse("reset=2")) as srv, \
            serial.serial_for_url(srv.url, timeout=5) as port:
        assert ask(port, "dut db load 4", "[dut]: m-ready")[2] == "[dut]: m-[Expecting 4 bytes]"
        assert ask(port, "dut db 01020304", "[dut]: m-ready") == [
            "m-dut-passthrough(db 01020304)", "m-ready", *("[dut]: " + line for line in BANNER)]
        assert ask(port, "dut db print", "[dut]: m-ready") == ["m-dut-passthrough(db print)", "m-ready",
                                                              "[dut]: m-ready"]


def test_stall_fault_swallows_commands_for_its_duration() -> None:
    with SimDutServer(firmware(), faults=FaultPlan.parse("stall=2:0.3")) as srv, \
            serial.serial_for_url(srv.url, timeout=5) as port:
        assert ask(port, "name")[-1] == "m-ready"
        started = time.monotonic()
        port.write(b"name%")
        port.timeout = 0.1
        assert port.readline() == b""
        time.sleep(max(0.0, 0.35 - (time.monotonic() - started)))
        port.timeout = 5
        assert ask(port, "name") == ["m-name-dut-[sim:mcu]", "m-ready"]
        assert srv.fault_log.count("stall") == 1


def test_stall_forever_never_answers_again() -> None:
    with SimDutServer(firmware(), faults=FaultPlan.parse("stall=1")) as srv, \
            serial.serial_for_url(srv.url, timeout=0.2) as port:
        for _ in range(3):
            port.write(b"name%")
            assert port.readline() == b""
        assert srv.fault_log.count("stall") == 3


def test_delay_fault_holds_replies() -> None:
    with SimDutServer(firmware(), faults=FaultPlan.parse("delay=0.25")) as srv, \
            serial.serial_for_url(srv.url, timeout=5) as port:
        started = time.monotonic()
        assert ask(port, "name") == ["m-name-dut-[sim:mcu]", "m-ready"]
        assert time.monotonic() - started >= 0.25
        assert srv.fault_log.count("delay") == 1


def test_noise_fault_prints_debug_lines_after_ready_deterministically() -> None:
    with SimDutServer(firmware(), faults=FaultPlan.parse("noise=1")) as srv, \
            serial.serial_for_url(srv.url, timeout=5) as port:
        assert ask(port, "name") == ["m-name-dut-[sim:mcu]", "m-ready"]
        assert port.readline().startswith(b"[debug] ")
        assert srv.fault_log.count("noise") == 1

    def pattern(seed: int) -> list[int]:
        injector = FaultInjector(FaultPlan(noise=0.5, seed=seed))
        return [len(injector.noise_lines(i)) for i in range(40)]

    assert pattern(7) == pattern(7) != pattern(8)
    assert 5 < sum(pattern(7)) < 35


def test_drop_fault_end_to_end_loses_bytes_the_dut_reports() -> None:
    with SimDutServer(firmware(), faults=FaultPlan.parse("drop_in=1")) as srv, \
            serial.serial_for_url(srv.url, timeout=0.3) as port:
        port.write(b"name%")
        assert port.readline() == b""  # every byte, the terminator too, was lost on the way
        assert srv.fault_log.count("drop_in") == 5


def test_corrupt_out_flips_one_bit_in_every_reply_byte() -> None:
    expected = b"m-name-dut-[sim:mcu]\r\nm-ready\r\n"
    with SimDutServer(firmware(), faults=FaultPlan.parse("corrupt_out=1,seed=3")) as srv, \
            serial.serial_for_url(srv.url, timeout=0.5) as port:
        port.write(b"name%")
        received = port.read(len(expected))
        assert srv.fault_log.count("corrupt_out") == len(expected)
    assert len(received) == len(expected)
    assert [bin(a ^ b).count("1") for a, b in zip(received, expected, strict=True)] == [1] * len(expected)


def test_delay_decisions_are_seeded() -> None:
    def pattern(seed: int) -> list[float]:
        injector = FaultInjector(FaultPlan(delay_s=0.3, delay_p=0.5, seed=seed))
        return [injector.reply_delay_s() for _ in range(40)]

    assert pattern(1) == pattern(1) != pattern(2)
    assert set(pattern(1)) == {0.0, 0.3}


# ---- transports --------------------------------------------------------------------------------


def test_baud_pacing_takes_at_least_the_wire_time() -> None:
    baud = 9600
    with SimDutServer(firmware(), baud=baud) as srv, serial.serial_for_url(srv.url, timeout=10) as port:
        started = time.monotonic()
        moved = 0
        for command in ("name", "db load 16", "db " + bytes(16).hex(), "db print"):
            reply = ask(port, command)
            moved += len(command) + 1 + sum(len(line) + 2 for line in reply)
        elapsed = time.monotonic() - started
    assert elapsed >= moved * 10 / baud


def test_pty_listener_serves_a_dev_pts_path() -> None:
    with SimDutServer(firmware(), listen="pty") as srv:
        assert srv.url.startswith("/dev/")
        with serial.serial_for_url(srv.url, timeout=5) as port:
            lines = ask(port, "name")
    assert lines == ["m-name-dut-[sim:mcu]", "m-ready"]


def test_reconnecting_host_gets_a_fresh_link_to_the_same_dut(server: SimDutServer) -> None:
    with serial.serial_for_url(server.url, timeout=5) as port:
        load(port, b"\x01\x02", chunk=2)
        port.write(b"db pri")  # a partial command, abandoned
    with serial.serial_for_url(server.url, timeout=5) as port:
        assert ask(port, "db print") == ["m-buffer-01-02", "", "m-ready"]


def test_bad_listen_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        SimDutServer(firmware(), listen="tcp://127.0.0.1:1").start()
    assert "socket://HOST:PORT" in (info.value.hint or "")


# ---- CLI ---------------------------------------------------------------------------------------


@pytest.mark.slow  # a fresh interpreter imports the runtimes: about 3 s
def test_cli_prints_the_dut_and_wiring_urls_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from harness.cli import main; main()", "sim-dut", "--target", "mcu",
         "--model", "mlperf-dscnn-kws", "--seed", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    try:
        assert proc.stdout is not None
        lines = _read_lines(proc.stdout, 2, timeout=60)
        assert lines[0].startswith("dut: socket://127.0.0.1:") and lines[1].startswith("wiring: socket://127.0.0.1:")
        with serial.serial_for_url(lines[0].removeprefix("dut: "), timeout=10) as port:
            assert ask(port, "name") == ["m-name-dut-[sim:mcu]", "m-ready"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert b"name -> m-name-dut-[sim:mcu]" in err


def _read_lines(stream: IO[bytes], n: int, timeout: float) -> list[str]:
    """The first ``n`` lines of a child's pipe, or fail after ``timeout`` seconds."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    data = b""
    while data.count(b"\n") < n and selector.select(max(0.0, deadline - time.monotonic())):
        chunk = os.read(stream.fileno(), 4096)
        if not chunk:
            break
        data += chunk
    lines = data.decode().splitlines()[:n]
    assert len(lines) == n, f"sim-dut printed {data!r} within {timeout} s"
    return lines
