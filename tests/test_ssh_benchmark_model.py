"""A Linux board timed by LiteRT's benchmark_model (``?benchmark_model=PATH``) over a real SSH server on 127.0.0.1.

The user's binary is a stand-in at the transport boundary (tests/fake_benchmark_model.py: the real LiteRT's
invokes, printed in the tool's format); everything from the link to the row is the harness's own path.
"""

from __future__ import annotations

import hashlib
import re
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import ConfigError, DeviceError
from harness.devices.capabilities import EnergyMeter, Inference, LatencyMeter
from harness.devices.parity import HostReference
from harness.devices.ssh.address import SshAddress
from harness.runtimes import RuntimeOptions
from harness.runtimes.inputs import seeded_inputs
from tests.ssh_board import BoardServer
from tests.test_ssh_device import device

FAKE = Path(__file__).with_name("fake_benchmark_model.py")
WRONG_ARCH = "cannot execute binary file: Exec format error"


def binary(tmp_path: Path) -> Path:
    """The user's benchmark_model "for the board": on this machine, the stand-in run by this Python."""
    path = tmp_path / "bin" / "benchmark_model"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
    return path


def wrong_binary(path: Path) -> Path:
    """A binary for another architecture, as the board's shell reports running one (status 126)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "bash: $0: {WRONG_ARCH}" >&2\nexit 126\n')
    return path


def averages(log: Path) -> list[float]:
    """Every ``Inference (avg)`` benchmark_model printed, in the order its runs happened (us)."""
    return [float(v) for v in re.findall(r"Inference \(avg\): (\S+)", log.read_text())]


def test_the_link_names_the_binary(tmp_path: Path) -> None:
    a = SshAddress.parse("ssh://pi@board?benchmark_model=~/bin/benchmark_model", "t")
    assert a.benchmark_model == Path("~/bin/benchmark_model").expanduser()
    assert SshAddress.parse("ssh://pi@board", "t").benchmark_model is None
    with pytest.raises(ConfigError, match="benchmark_model binary .*nope does not exist"):
        device(tmp_path, f"ssh://pi@127.0.0.1:22?benchmark_model={tmp_path}/nope")


def test_latency_is_what_benchmark_model_printed_on_the_board(tmp_path: Path, board: BoardServer, model) -> None:
    path = binary(tmp_path)
    runs, warmup = 6, 2
    with device(tmp_path, board.url(benchmark_model=str(path)), options=RuntimeOptions(threads=2, xnnpack=True)) as d:
        assert d.capabilities() == [LatencyMeter, Inference]
        deployment = d.deploy(model, "litert-xnnpack")
        m = d.measure_latency(runs=runs, warmup=warmup)
    # the binary went over with its bytes, executable; its hash names it
    copied = board.home / ".cache" / "edge-harness" / "benchmark_model"
    assert copied.read_bytes() == path.read_bytes() and copied.stat().st_mode & stat.S_IXUSR
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert deployment.details["benchmark_model_sha256"] == sha == m.row_fields["benchmark_model_sha256"]
    assert deployment.runtime == "LiteRT benchmark_model (xnnpack)"
    # one run at deploy, one process per timed inference with the plan's warm-ups, then the loop
    bench = [c for c in board.commands if "/benchmark_model " in c]
    assert len(bench) == 1 + runs + 1
    graph = f"--graph=.cache/edge-harness/{model.artifact_path().name}"
    assert all(graph in c and "--num_threads=2" in c and "--use_xnnpack=true" in c for c in bench)
    assert all("--num_runs=1 --warmup_runs=2" in c for c in bench[1:-1])
    assert f"--num_runs={runs} --warmup_runs={warmup}" in bench[-1]
    assert "--report_peak_memory_footprint=true" in bench[-1]
    # the samples are the single runs' averages as the tool printed them; the loop's statistics go in the row
    printed = averages(d.log_path)
    assert len(printed) == 1 + runs + 1
    assert np.array_equal(m.device_latency_s, np.array(printed[1:-1]) / 1e6)
    assert m.row_fields["loop_runs"] == runs and m.row_fields["loop_avg_ms"] == pytest.approx(printed[-1] / 1e3)
    assert m.row_fields["loop_memory_overall_mb"] > 0 and m.row_fields["delegate"] == "xnnpack"
    assert m.backend == "device" and m.outputs == []
    # the board's facts still come from the runner, before and after
    assert m.row_fields["board_kernel"] == deployment.details["board"]["kernel"]
    assert sum(" facts" in c for c in board.commands) == 3


def test_inference_still_runs_on_the_boards_runtime(tmp_path: Path, board: BoardServer, model) -> None:
    host = HostReference.load(model)
    x = seeded_inputs(host.input, 1, seed=2, model=model.name)[0]
    with device(tmp_path, board.url(benchmark_model=str(binary(tmp_path)))) as d:
        d.deploy(model, "litert-xnnpack")
        scores = d.require(Inference).infer(x)
    assert np.max(np.abs(scores - host.scores(x.data))) <= host.tolerance
    host.close()


def test_energy_needs_the_python_runner(tmp_path: Path, board: BoardServer) -> None:
    url = board.url(benchmark_model=str(binary(tmp_path)))
    with device(tmp_path, url, monitor={"model": "board-rails", "url": "jetson"}) as d, \
            pytest.raises(ConfigError, match="remove \\?benchmark_model="):
        d.require(EnergyMeter)


def test_a_binary_for_another_architecture_is_named_at_deploy(tmp_path: Path, board: BoardServer, model) -> None:
    path = wrong_binary(tmp_path / "bin" / "benchmark_model")
    with device(tmp_path, board.url(benchmark_model=str(path))) as d, \
            pytest.raises(DeviceError, match="cannot execute benchmark_model") as e:
        d.deploy(model, "litert-xnnpack")
    assert WRONG_ARCH in str(e.value) and "target 'pi-bench'" in str(e.value)
    assert "uname -m" in (e.value.hint or "") and e.value.log_path == d.log_path
    assert WRONG_ARCH in d.log_path.read_text()
