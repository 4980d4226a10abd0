"""Whole run directories against golden snapshots: a refactor that changes no behaviour changes no file.

Each case runs a command as a user would and compares every file it wrote (tables, JSON, Markdown,
raw samples; documents by presence) with ``tests/data/golden/<case>.json.gz`` (see tests/golden.py
for what is normalised away and how to regenerate after a deliberate change).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from golden import check
from kws_fixture import CORPUS, LinearKws, fit_linear_kws

from harness.cli import _register, cli
from harness.core.paths import models_dir, targets_dir
from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.server import SimDutServer
from harness.registry.models import ModelRegistry, entry_from_yaml
from harness.registry.targets import TargetRegistry

_register()
DSCNN = "mlperf-dscnn-kws"


def invoke(*args: str) -> Path:
    out = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture()
def mcu_dut() -> Iterator[SimDutServer]:
    model = ModelRegistry(models_dir()).get(DSCNN)
    with SimDutServer(SimulatedFirmware(TargetRegistry(targets_dir()).get("mcu"), model)) as server:
        yield server


def test_run_on_simulated_targets_with_evaluation(results: Path) -> None:
    run = invoke("run", "--model", "mww-okay-nabu", "--model", DSCNN, "--target", "mcu", "--target", "wearable",
                 "--corpus", "builtin:tiny", "--runs", "20", "--seed", "3", "--results", str(results))
    check("run-sim-tiny", run)


def test_bench_device_performance(results: Path, mcu_dut: SimDutServer) -> None:
    run = invoke("bench-device", "--port", mcu_dut.url, "--model", DSCNN, "--target", "mcu", "--quick",
                 "--results", str(results))
    check("bench-performance", run)


def test_bench_device_energy(results: Path) -> None:
    target, model = TargetRegistry(targets_dir()).get("mcu"), ModelRegistry(models_dir()).get(DSCNN)
    with SimDutServer(SimulatedFirmware(target, model, mode="energy"), io_manager=True) as server:
        run = invoke("bench-device", "--port", server.url, "--model", DSCNN, "--target", "mcu", "--mode", "energy",
                     "--monitor", f"sim:{server.wiring_url}", "--quick", "--results", str(results))
    check("bench-energy", run)


def test_bench_device_accuracy_on_seeded_inputs(results: Path, mcu_dut: SimDutServer) -> None:
    run = invoke("bench-device", "--port", mcu_dut.url, "--model", DSCNN, "--target", "mcu", "--mode", "accuracy",
                 "--count", "6", "--seed", "2", "--results", str(results))
    check("bench-accuracy", run)


@pytest.fixture(scope="module")
def linear_kws(tmp_path_factory: pytest.TempPathFactory) -> LinearKws:
    return fit_linear_kws(tmp_path_factory.mktemp("linear-kws"))


def test_bench_device_accuracy_on_a_corpus(results: Path, linear_kws: LinearKws) -> None:
    phone = TargetRegistry(targets_dir()).get("phone")
    model = entry_from_yaml(linear_kws.entry_file)
    with SimDutServer(SimulatedFirmware(phone, model)) as server:
        run = invoke("bench-device", "--port", server.url, "--model", str(linear_kws.entry_file), "--target",
                     "phone", "--mode", "accuracy", "--corpus", CORPUS, "--results", str(results))
    check("bench-accuracy-corpus", run, linear_kws.entry_file.parent)
