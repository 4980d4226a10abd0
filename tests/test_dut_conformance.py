"""One conformance suite for any MLPerf Tiny DUT: the simulated one always, a real board on request.

``pytest tests/test_dut_conformance.py --device-url /dev/ttyACM0`` runs the same checks on a board
flashed with MLPerf Tiny firmware in performance mode (any pyserial URL works; monitor URLs such as
``lpm01a:...`` are for the power tests and are ignored here).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.core.paths import models_dir, targets_dir
from harness.core.transcript import Transcript
from harness.dut.client import DutClient
from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.server import SimDutServer
from harness.power.monitor import monitor_kinds
from harness.registry.models import ModelRegistry
from harness.registry.resources import Link
from harness.registry.targets import TargetRegistry

MODEL_IDS = {"kws01", "vww01", "ic01", "ad01", "sww01"}
SIM_INPUT_BYTES = 490  # the project's DS-CNN KWS: 1x49x10x1 int8


def _board_url(config: pytest.Config) -> str | None:
    urls = [u for u in config.getoption("--device-url") or [] if u.split(":")[0] not in monitor_kinds()
            and not u.startswith(("adb://", "ssh://"))]  # phones and boards have their own tests
    return urls[0] if urls else None


@pytest.fixture(params=["sim", "board"])
def dut(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[DutClient, int | None]]:
    """An open client and the input size to load (None: a board, whose input size is read from its model id)."""
    if request.param == "board":
        url = _board_url(request.config)
        if url is None:
            pytest.skip("needs a board running MLPerf Tiny firmware: run pytest --device-url /dev/ttyACM0")
        with DutClient(Link(url=url), Transcript(tmp_path / "transcript.log")) as client:
            yield client, None
        return
    model = ModelRegistry(models_dir()).get("mlperf-dscnn-kws")
    target = TargetRegistry(targets_dir()).get("nucleo-l4r5zi")
    with SimDutServer(SimulatedFirmware(target, model)) as server, \
            DutClient(Link(url=server.url, timeout_s=5.0), Transcript(tmp_path / "transcript.log")) as client:
        yield client, SIM_INPUT_BYTES


INPUT_BYTES = {"kws01": 490, "vww01": 96 * 96 * 3, "ic01": 32 * 32 * 3, "ad01": 640 * 4}


def test_identifies_itself_in_performance_mode(dut: tuple[DutClient, int | None]) -> None:
    client, _ = dut
    info = client.open()
    assert info.name
    assert info.model in MODEL_IDS
    assert info.timestamp_mode in (None, "performance")


def test_a_loaded_input_gives_finite_scores_and_a_positive_device_time(dut: tuple[DutClient, int | None]) -> None:
    client, size = dut
    info = client.open()
    if size is None:
        if info.model not in INPUT_BYTES:
            pytest.skip(f"no input size known for model id {info.model}")
        size = INPUT_BYTES[info.model]
    stats = client.load(bytes(range(256)) * (size // 256) + bytes(size % 256))
    assert stats.tensor_bytes == size
    result = client.infer(5, 1, timeout_s=30.0)
    assert result.scores and all(math.isfinite(s) for s in result.scores)
    assert result.elapsed_us is not None and result.elapsed_us > 0
    assert client.results() == result.scores
