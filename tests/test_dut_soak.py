"""Fault-injection soak: the README's fault mix over 20 seeds against the simulated DUT, on real sockets.

Every seed either completes its windows or ends with a DeviceError, and never yields a wrong number:
each accepted score equals the host reference's score for its input within the parity tolerance, and
each accepted lap pair is one the simulated firmware printed itself (before the link corrupted anything).
Seeds run in parallel threads, since each run mostly waits (on the 5 s stall, on delays, on timeouts): the
20 seeds take about 35 s of wall time on a 2-core machine, one seed alone 10-20 s.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import DeviceError
from harness.core.paths import models_dir, targets_dir
from harness.core.transcript import Transcript
from harness.devices.parity import HostReference
from harness.devices.serial_dut import SerialDutDevice
from harness.dut.client import DutClient
from harness.dut.modes import Rules
from harness.dut.records import RetryPolicy
from harness.dut.sim.faults import FaultPlan
from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.server import SimDutServer
from harness.dut.sim.wire import Reply
from harness.registry.models import ModelRegistry
from harness.registry.resources import Link
from harness.registry.targets import TargetRegistry
from harness.rundir.directory import RunDirectory
from harness.runs.bench import BenchSettings, bench_device
from harness.runtimes.inputs import seeded_inputs

MODEL = ModelRegistry(models_dir()).get("mlperf-dscnn-kws")
TARGET = TargetRegistry(targets_dir()).get("nucleo-l4r5zi")
README_MIX = "drop=0.001,corrupt=0.0005,delay=0.3@0.05,reset=40,stall=25:5,noise=0.2"
SEEDS = range(20)
RULES = Rules(windows=3, min_window_s=1.0, warmup=1, label="quick")
WINDOWS = f"raw/latency_windows__{MODEL.name}__{TARGET.name}.jsonl"
TIMEOUT_S = 3.0  # one timeout plus the lone-'%' resync outlasts the mix's 5 s stall
LOADING = threading.Lock()  # TFLite Micro reports its arena on the process's stdout: one model load at a time


class RecordingFirmware(SimulatedFirmware):
    """The simulated firmware, keeping every reply it printed before the faulty link touched it."""

    def __init__(self) -> None:
        super().__init__(TARGET, MODEL)
        self.printed: list[list[str]] = []

    def handle(self, command: str) -> list[Reply]:
        replies = super().handle(command)
        self.printed.append([r.text for r in replies])
        return replies

    def lap_pairs(self) -> set[tuple[int, int]]:
        laps = ([int(t.removeprefix("m-lap-us-")) for t in reply if t.startswith("m-lap-us-")]
                for reply in self.printed)
        return {(pair[0], pair[1]) for pair in laps if len(pair) == 2}


@dataclass
class Outcome:
    seed: int
    error: DeviceError | None = None
    windows: list[dict[str, object]] = field(default_factory=list)
    inferred: list[tuple[str, np.ndarray]] = field(default_factory=list)
    firmware_laps: set[tuple[int, int]] = field(default_factory=set)
    faults: dict[str, int] = field(default_factory=dict)
    caught: int = 0  # corrupted infer replies the client recognised and ran again


def soak(seed: int, root: Path) -> Outcome:
    """One seed: deploy, three quick windows, then one inference per input; whatever was accepted is kept."""
    outcome = Outcome(seed)
    with LOADING:
        firmware = RecordingFirmware()
    with SimDutServer(firmware, faults=FaultPlan.parse(f"{README_MIX},seed={seed}")) as server:
        target = TARGET.model_copy(update={"link": Link(url=server.url, timeout_s=TIMEOUT_S)})
        run = RunDirectory(root / f"seed{seed}")
        (run.path / "raw").mkdir(parents=True, exist_ok=True)
        device = SerialDutDevice(target, run, seed=seed, rules=RULES, retry=RetryPolicy(attempts=4, backoff_s=0.05),
                                 verify_loads=True)
        try:
            with LOADING:
                device.deploy(MODEL, TARGET.default_stack)
            device.measure_latency(1, RULES.warmup)
            assert device.inputs is not None
            for x in device.inputs:
                outcome.inferred.append((x.id, device.infer(x)))
        except DeviceError as e:
            outcome.error = e
        finally:
            device.close()
        outcome.windows = run.read_jsonl(WINDOWS)  # every window written, counted or not, interrupted or not
        outcome.caught = (run.path / "raw" / "transcript.log").read_text().count("# error: the reply to 'infer")
        outcome.firmware_laps = firmware.lap_pairs()
        outcome.faults = {k: server.fault_log.count(k) for k in ("drop_in", "drop_out", "corrupt_in", "corrupt_out")}
    return outcome


def test_the_readme_fault_mix_never_yields_a_wrong_number(tmp_path: Path) -> None:
    host = HostReference.load(MODEL)  # first: builds the model and imports the runtimes before threads race for them
    try:
        RecordingFirmware().model.close()
        with ThreadPoolExecutor(max_workers=len(SEEDS)) as pool:
            outcomes = list(pool.map(lambda s: soak(s, tmp_path), SEEDS))
        for outcome in outcomes:
            inputs = {x.id: x.data for x in seeded_inputs(host.input, RULES.windows, outcome.seed, MODEL.name)}
            if outcome.error is not None:  # an honest failure names its transcript
                assert outcome.error.log_path == tmp_path / f"seed{outcome.seed}" / "raw" / "transcript.log"
            else:
                assert len([w for w in outcome.windows if w["counted"]]) == RULES.windows
                assert len(outcome.inferred) == len(inputs)
            for w in outcome.windows:
                assert (w["lap_a_us"], w["lap_b_us"]) in outcome.firmware_laps, (outcome.seed, w)
                expected = host.scores(inputs[str(w["input_id"])])
                got = np.array(w["scores"], dtype=np.float64)
                assert got.shape == expected.shape and np.max(np.abs(got - expected)) <= host.tolerance, outcome.seed
            for input_id, got in outcome.inferred:
                assert np.max(np.abs(got - host.scores(inputs[input_id]))) <= host.tolerance, (outcome.seed, input_id)
    finally:
        host.close()
    completed = [o.seed for o in outcomes if o.error is None]
    corrupted = sum(o.faults["corrupt_in"] + o.faults["corrupt_out"] for o in outcomes)
    # every fault in the mix is recoverable: the retry budget must carry nearly every seed through
    assert len(completed) >= len(SEEDS) - 1, [(o.seed, o.error and o.error.message) for o in outcomes]
    assert corrupted > 0 and sum(o.caught for o in outcomes) > 0  # the soak met corruption, and caught some of it


def test_the_readme_fault_mix_with_seed_2_completes_a_bench_run(tmp_path: Path) -> None:
    """It used to end in exit 4: a garbled 'Insufficent' reply restarted whole loads until the retries ran out."""
    with SimDutServer(SimulatedFirmware(TARGET, MODEL), faults=FaultPlan.parse(f"{README_MIX},seed=2")) as server:
        run = bench_device(BenchSettings(port=server.url, model=MODEL.name, target=TARGET.name, quick=True,
                                         timeout_s=TIMEOUT_S), MODEL, TARGET, tmp_path)
        faults = {kind: server.fault_log.count(kind) for kind in ("reset", "stall", "corrupt_in", "drop_in")}
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "complete" and status["summary"]["windows"] == 3 and status["resets"] == 1
    assert all(faults.values()), faults  # the run met every kind of fault in the mix


class FlippingFirmware(SimulatedFirmware):
    """Receives the first ``db <hex>`` chunk with one hex digit flipped into another (bit 0 of its first digit)."""

    def __init__(self) -> None:
        super().__init__(TARGET, MODEL)
        self.flipped = False

    def handle(self, command: str) -> list[Reply]:
        if command.startswith("db ") and not command.startswith(("db load", "db print")) and not self.flipped:
            self.flipped = True
            command = "db " + format(int(command[3], 16) ^ 1, "x") + command[4:]
        return super().handle(command)


@pytest.mark.parametrize("verify", [False, True])
def test_a_hex_digit_flipped_into_another_is_caught_only_by_the_read_back(tmp_path: Path, verify: bool) -> None:
    data = bytes(range(200, 256)) + bytes(434)  # 490 bytes, the model's input; the first digit sent is 'c'
    firmware = FlippingFirmware()
    with SimDutServer(firmware) as server, DutClient(Link(url=server.url, timeout_s=2.0),
                                                     Transcript(tmp_path / "transcript.log"),
                                                     verify_loads=verify) as client:
        stats = client.load(data)
    held = bytes(firmware._db_buffer.data)
    assert firmware.flipped
    if verify:
        assert stats.attempts == 2 and held == data
        assert "read back" in (tmp_path / "transcript.log").read_text()
    else:  # the firmware cannot tell: it stores 0xd8 for 0xc8 and says m-load-done
        assert stats.attempts == 1 and held == bytes([0xd8]) + data[1:]


def test_corrupted_result_lines_are_not_blamed_on_the_model(tmp_path: Path) -> None:
    """``corrupt_out=0.003,seed=6`` flips a digit of a printed score (2.0 off); parity used to call that drift."""
    with SimDutServer(SimulatedFirmware(TARGET, MODEL), faults=FaultPlan.parse("corrupt_out=0.003,seed=6")) as server:
        run = bench_device(BenchSettings(port=server.url, model=MODEL.name, target=TARGET.name, mode="accuracy",
                                         count=8, timeout_s=2.0), MODEL, TARGET, tmp_path)
        flips = server.fault_log.count("corrupt_out")
    accuracy = json.loads((run / "accuracy.json").read_text())
    assert accuracy["status"] == "complete" and accuracy["n_done"] == 8 and flips > 0
    assert accuracy["parity"]["drift"] is False and accuracy["parity"]["top1_agreement"] == 1.0
    assert "was corrupted" in (run / "raw" / "transcript.log").read_text()
