"""What a Linux board bench meets (issue point 7), over a real SSH server on 127.0.0.1: each fault ends in a
DeviceError that names the board and its session log, the pairs measured before it stay in the run, and
``harness run --resume`` finishes the rest once the fault is cleared.

The faults are made at the transport (tests/ssh_board.py): a reboot (the connection drops and sshd refuses
connections for a while), a thermal shutdown (the last facts read a zone at its critical trip point, then
the connection drops), a benchmark_model binary for another architecture, and a board without a runtime.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import _register, cli
from harness.core.errors import DeviceError
from harness.core.hashing import sha256_file
from harness.core.paths import models_dir
from harness.devices.ssh.thermal import overheated
from harness.registry.models import ModelRegistry
from harness.rundir import contract
from tests.ssh_board import BoardServer
from tests.test_ssh_benchmark_model import binary, wrong_binary
from tests.test_ssh_device import BOARD, MODEL, device

MODELS = [MODEL, "mww-okay-nabu"]
ZONE = "thermal_zone0:cpu-thermal"


def artifact(name: str) -> str:
    return ModelRegistry(models_dir()).get(name).artifact_path().name


def thermal_sysroot(root: Path, millidegrees: int) -> Path:
    """A board's /sys with one zone at ``millidegrees``, a passive trip at 70 C and a critical one at 85 C."""
    zone = root / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True, exist_ok=True)
    for name, value in {"type": "cpu-thermal", "temp": str(millidegrees), "trip_point_0_type": "passive",
                        "trip_point_0_temp": "70000", "trip_point_1_type": "critical",
                        "trip_point_1_temp": "85000"}.items():
        (zone / name).write_text(value + "\n")
    return root


def listening(port: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def test_overheated_reads_the_last_temperature_against_critical_and_hot_trips() -> None:
    facts = {"temperatures_c": {ZONE: 85.0, "thermal_zone1:gpu": 60.0},
             "trip_points_c": {ZONE: {"critical": 85.0}, "thermal_zone1:gpu": {"hot": 90.0}}}
    assert overheated(facts) == f"{ZONE} read 85.0 C, at or over its critical trip point of 85.0 C"
    assert overheated({**facts, "temperatures_c": {ZONE: 84.9}}) is None
    assert overheated({"temperatures_c": {"z:gpu": 91.5}, "trip_points_c": {"z:gpu": {"hot": 90.0}}}) == \
        "z:gpu read 91.5 C, at or over its hot trip point of 90.0 C"
    assert overheated({"temperatures_c": {ZONE: 99.0}}) is None and overheated(None) is None


def test_a_reboot_is_named_when_the_board_refuses_to_reconnect(tmp_path: Path) -> None:
    model = ModelRegistry(models_dir()).get(MODEL)
    with BoardServer(tmp_path / "board", drop_after_lines=3, reboot_s=3.0) as server, \
            device(tmp_path, server.url()) as d:
        d.deploy(model, "litert-xnnpack")
        with pytest.raises(DeviceError, match="connection lost during timing inferences") as e:
            d.measure_latency(runs=20, warmup=0)
        assert server.reboots == 1
    assert "refuses new connections: it is likely rebooting" in str(e.value)
    assert f"@127.0.0.1:{server.port}" in str(e.value) and "target 'pi-bench'" in str(e.value)
    assert "--resume" in (e.value.hint or "") and e.value.log_path == d.log_path


def test_a_thermal_shutdown_cites_the_last_temperature(tmp_path: Path) -> None:
    model = ModelRegistry(models_dir()).get(MODEL)
    sysroot = thermal_sysroot(tmp_path / "sysroot", 86_000)
    with BoardServer(tmp_path / "board", env={"EDGE_HARNESS_SYSROOT": str(sysroot)}, drop_after_lines=1,
                     reboot_s=3.0) as server, device(tmp_path, server.url()) as d:
        deployment = d.deploy(model, "litert-xnnpack")
        with pytest.raises(DeviceError, match="the board likely shut down for heat") as e:
            d.measure_latency(runs=20, warmup=0)
    assert deployment.details["board"]["trip_points_c"] == {ZONE: {"critical": 85.0}}
    assert f"{ZONE} read 86.0 C, at or over its critical trip point of 85.0 C" in str(e.value)
    assert "let the board cool" in (e.value.hint or "") and e.value.log_path == d.log_path
    assert "target 'pi-bench'" in str(e.value)


def break_board(fault: str, tmp_path: Path, sysroot: Path) -> dict[str, object]:
    """The server's options and the link's query that make ``fault`` happen in the second pair (or the first)."""
    second = artifact(MODELS[1])
    if fault == "reboot":
        return {"server": {"drop_on": f"--graph=.cache/edge-harness/{second} ", "drop_after_lines": 0,
                           "reboot_s": 3.0}, "query": {"benchmark_model": str(binary(tmp_path))}}
    if fault == "thermal shutdown":
        thermal_sysroot(sysroot, 86_000)
        return {"server": {"drop_on": f"bench --model .cache/edge-harness/{second} ", "drop_after_lines": 1,
                           "env": {"EDGE_HARNESS_SYSROOT": str(sysroot)}}, "query": {}}
    if fault == "wrong architecture":
        return {"server": {}, "query": {"benchmark_model": str(wrong_binary(tmp_path / "bin" / "benchmark_model"))}}
    assert fault == "missing runtime"
    python = tmp_path / "board-python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")  # no site-packages: no numpy, no LiteRT
    python.chmod(0o755)
    return {"server": {}, "query": {"python": str(python)}}


def mend_board(fault: str, board: BoardServer, tmp_path: Path, sysroot: Path) -> None:
    board.drop_on = None
    if fault == "thermal shutdown":
        thermal_sysroot(sysroot, 52_000)  # cooled down
    elif fault == "wrong architecture":
        binary(tmp_path)  # the user puts the board's build at the same path
    elif fault == "missing runtime":
        (tmp_path / "board-python").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")  # pip install done
    assert listening(board.port, 10.0)


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "message", "hint", "kept"), [
    ("reboot", "refuses new connections: it is likely rebooting", "wait until ssh reaches it again", 1),
    ("thermal shutdown", f"likely shut down for heat \\(its last temperature reading: {ZONE} read 86.0 C",
     "let the board cool", 1),
    ("wrong architecture", "the board cannot execute benchmark_model", "uname -m", 0),
    ("missing runtime", "numpy is not installed", "pip install ai-edge-litert numpy", 0),
])
def test_harness_run_keeps_measured_pairs_and_resume_finishes(tmp_path: Path, fault: str, message: str, hint: str,
                                                              kept: int) -> None:
    _register()
    sysroot = tmp_path / "sysroot"
    broken = break_board(fault, tmp_path, sysroot)
    results = tmp_path / "results"
    with BoardServer(tmp_path / "board", **broken["server"]) as board:  # type: ignore[arg-type]
        url = board.url(**broken["query"])  # type: ignore[arg-type]
        args = ["run", *[a for m in MODELS for a in ("--model", m)], "--target", BOARD, "--runs", "3",
                "--no-corpus", "--results", str(results), "--device-url", url]
        out = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert out.exit_code == DeviceError.exit_code, out.output
        run = next(p for p in results.iterdir() if p.is_dir())
        log = run / contract.ssh_log(BOARD)
        assert f"target '{BOARD}'" in out.output and f"@127.0.0.1:{board.port}" in out.output
        assert f"log: {log}" in out.output and log.is_file()
        assert len(__import__("re").findall(message, out.output)) == 1, out.output
        assert hint in out.output
        status = json.loads((run / contract.STATUS).read_text())
        assert status["status"] == "failed" and status["log"] == str(log)
        rows = [json.loads(line) for line in (run / contract.EFFICIENCY_ROWS).read_text().splitlines()]
        assert [r["model"] for r in rows] == MODELS[:kept]
        mend_board(fault, board, tmp_path, sysroot)
        out = CliRunner().invoke(cli, ["run", "--resume", str(run)], catch_exceptions=False)
        assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in (run / contract.EFFICIENCY_ROWS).read_text().splitlines()]
    assert [r["model"] for r in rows] == MODELS
    assert all((r["backend"], r["provenance"]) == ("device", "measured:device") for r in rows)
    if "benchmark_model" in broken["query"]:
        sha = sha256_file(Path(str(broken["query"]["benchmark_model"])))  # type: ignore[index]
        assert [r["benchmark_model_sha256"] for r in rows] == [sha, sha]
    assert json.loads((run / contract.STATUS).read_text())["status"] == "complete"
