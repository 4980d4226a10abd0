"""A plan mixes simulated and attached targets: a profile whose link is a DUT URL runs on that DUT.

The attached boards here are simulated DUTs on local sockets, reached exactly as a board on USB
would be; the second one sits behind an IO manager with the simulated power monitor on its wiring.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.core.paths import models_dir, targets_dir
from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.server import SimDutServer
from harness.registry.models import ModelRegistry
from harness.registry.plans import Measure, Plan
from harness.registry.targets import TargetRegistry
from harness.runs.runner import Context, run_plan

MODEL = "mlperf-dscnn-kws"
BOARD = "nucleo-l4r5zi"


def attached_profile(directory: Path, name: str, link: dict, monitor: dict | None) -> None:
    """A copy of the board's profile under a new name, reached over ``link``."""
    profile = yaml.safe_load((targets_dir() / f"{BOARD}.yaml").read_text())
    profile.update(name=name, link=link)
    if monitor is None:
        profile.pop("power_monitor", None)
    else:
        profile["power_monitor"] = monitor
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))


@pytest.fixture()
def bench(tmp_path: Path):
    model = ModelRegistry(models_dir()).get(MODEL)
    board = TargetRegistry(targets_dir()).get(BOARD)
    with SimDutServer(SimulatedFirmware(board, model)) as perf, \
            SimDutServer(SimulatedFirmware(board, model, mode="energy"), io_manager=True) as energy:
        directory = tmp_path / "targets"
        shutil.copytree(targets_dir(), directory)
        attached_profile(directory, "bench-perf", {"url": perf.url, "timeout_s": 5.0}, None)
        attached_profile(directory, "bench-energy", {"url": energy.url, "timeout_s": 5.0, "io_manager": True},
                         {"model": "sim", "url": energy.wiring_url, "voltage": 1.8})
        yield directory, tmp_path / "results"


@pytest.mark.slow
def test_one_plan_measures_simulated_and_attached_targets(bench: tuple[Path, Path]) -> None:
    targets, results = bench
    plan = Plan(name="mixed", models=[MODEL], targets=["mcu", "bench-perf", "bench-energy"],
                measure=Measure(warmup=1, runs=20))
    run = run_plan(plan, Context(ModelRegistry(models_dir()), TargetRegistry(targets), results))
    eff = pd.read_csv(run / "efficiency.csv").set_index("target")
    assert eff.loc["mcu", "backend"] == "sim:mcu"
    assert eff.loc["bench-perf", "backend"] == eff.loc["bench-energy", "backend"] == "device"
    # performance firmware: latency from the DUT's lap timer, no monitor so no energy
    windows = pd.read_json(run / "raw" / f"latency_windows__{MODEL}__bench-perf.jsonl", lines=True)
    counted = windows[windows["counted"]]
    assert len(counted) == 5 and (counted["window_s"] >= 10.0).all()
    assert eff.loc["bench-perf", "latency_ms_p50"] == pytest.approx(
        (counted["window_s"] / counted["n"]).median() * 1e3)
    assert pd.isna(eff.loc["bench-perf", "energy_mj_per_inference"])
    # energy firmware behind the IO manager: energy between the timestamp edges the monitor saw
    energy = pd.read_json(run / "raw" / f"energy_windows__{MODEL}__bench-energy.jsonl", lines=True)
    energy = energy[energy["counted"]]
    median = energy.sort_values("energy_uj_per_inference").iloc[(len(energy) - 1) // 2]
    assert eff.loc["bench-energy", "energy_mj_per_inference"] == pytest.approx(
        median["energy_uj_per_inference"] / 1e3)
    assert (run / "signoff.json").is_file() and (run / "report.html").is_file()
