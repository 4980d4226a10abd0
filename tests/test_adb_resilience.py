"""What a phone bench meets (issue point 7): each fault ends the run with a DeviceError that names the phone and its
adb log, the pairs measured before it stay in the run, and ``--resume`` finishes the rest once the fault is gone.

The faults are made by the stand-in adb server at the transport: a connection dropped mid-command, a phone that
reboots and leaves the server's list, a full disk on push, a binary for another architecture, a severe thermal
status.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.errors import DeviceError
from harness.core.paths import models_dir
from harness.registry.models import ModelRegistry
from harness.registry.plans import Measure, Plan
from harness.registry.targets import TargetRegistry
from harness.rundir import contract
from harness.runs.runner import Context, run_plan
from tests.adb_server import SERIAL, AdbStandIn, Phone
from tests.test_adb_device import BINARY_BYTES, binary, phone_target

MODELS = ["mlperf-dscnn-kws", "mww-okay-nabu"]
RUNS = 3
PER_PAIR = 1 + RUNS + 1  # benchmark_model commands per pair: the run at deploy, the single inferences, the loop


def first_pair_bytes() -> int:
    return len(BINARY_BYTES) + ModelRegistry(models_dir()).get(MODELS[0]).artifact_path().stat().st_size


def break_phone(phone: Phone, fault: str) -> None:
    """Make ``fault`` happen during the second pair (the wrong binary already at the first deploy)."""
    if fault == "connection lost":
        phone.drop_at_benchmark = PER_PAIR + 2
    elif fault == "reboot":
        phone.vanish_at_benchmark = PER_PAIR + 2
    elif fault == "full disk":
        phone.free_bytes = first_pair_bytes() + len(BINARY_BYTES) + 1000
    elif fault.startswith("wrong architecture"):
        phone.wrong_arch = fault.split(": ", 1)[1]
    elif fault == "thermal":
        phone.thermal = [0, 0, 0, 3]  # deploy, before and after the first pair; the second deploy finds it severe
    elif fault == "thermal shutdown":
        phone.thermal = [0, 0, 0, 0, 0, 6]  # the second pair's measurement ends at the shutdown status


def mend_phone(phone: Phone) -> None:
    phone.drop_at_benchmark = phone.vanish_at_benchmark = phone.wrong_arch = None
    phone.online, phone.free_bytes, phone.thermal = True, 8 * 2**30, [0]


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "message", "hint", "kept"), [
    ("connection lost", "connection lost during timed inference 1 of 3", "--resume", 1),
    ("reboot", f"no longer lists '{SERIAL}'", "rebooted", 1),
    ("full disk", "no space left on device", "free space on the phone", 1),
    ("wrong architecture: not executable: 64-bit ELF file", "cannot execute the binary", "android_arm64", 0),
    ("wrong architecture: cannot execute binary file: Exec format error", "cannot execute the binary",
     "android_arm64", 0),
    ("thermal", r"thermal status is severe \(3\) before deploying", "let the phone cool", 1),
    ("thermal shutdown", r"thermal status is shutdown \(6\) after the measurement", "let the phone cool", 1),
])
def test_a_fault_names_the_phone_and_its_log_keeps_measured_pairs_and_resume_finishes(
        tmp_path: Path, fault: str, message: str, hint: str, kept: int) -> None:
    phone = Phone()
    results = tmp_path / "results"
    with AdbStandIn(phone) as adb:
        phone_target(tmp_path, adb.url(benchmark_model=str(binary(tmp_path))))
        ctx = Context(ModelRegistry(models_dir()), TargetRegistry(tmp_path / "targets"), results)
        plan = Plan(name="phone-faults", models=MODELS, targets=["phone-bench"],
                    measure=Measure(warmup=1, runs=RUNS))
        break_phone(phone, fault)
        with pytest.raises(DeviceError, match=message) as e:
            run_plan(plan, ctx)
        run = next(p for p in results.iterdir() if p.is_dir())
        log = run / contract.adb_log("phone-bench")
        assert e.value.log_path == log and log.is_file()
        assert "target 'phone-bench'" in str(e.value) and SERIAL in str(e.value)
        assert hint in (e.value.hint or "")
        status = json.loads((run / contract.STATUS).read_text())
        assert status["status"] == "failed" and status["log"] == str(log)
        rows = [json.loads(line) for line in (run / contract.EFFICIENCY_ROWS).read_text().splitlines()]
        assert [r["model"] for r in rows] == MODELS[:kept]
        assert all(r["provenance"] == "measured:device" for r in rows)
        mend_phone(phone)
        assert run_plan(plan, ctx, resume=run) == run
    rows = [json.loads(line) for line in (run / contract.EFFICIENCY_ROWS).read_text().splitlines()]
    assert [r["model"] for r in rows] == MODELS and all(r["backend"] == "device" for r in rows)
    assert json.loads((run / contract.STATUS).read_text())["status"] == "complete"
