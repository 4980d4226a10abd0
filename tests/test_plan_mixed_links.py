"""One plan over every kind of link: a simulated target, a Linux board over SSH and a phone over adb.

The board is a real SSH server on 127.0.0.1 running the real board runner with the real LiteRT; the phone
is the stand-in adb server reached through adbutils. One run directory holds all three rows, and each row
says whether its figures were measured on a device or predicted by the cost model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.core.paths import models_dir, targets_dir
from harness.registry.models import ModelRegistry
from harness.registry.plans import Measure, Plan
from harness.registry.targets import TargetRegistry
from harness.runs.runner import Context, run_plan
from tests.adb_server import AdbStandIn, Phone
from tests.ssh_board import BoardServer
from tests.test_adb_device import binary, phone_target
from tests.test_ssh_device import board_target

MODEL = "mlperf-dscnn-kws"


@pytest.mark.slow
def test_one_run_measures_a_board_and_a_phone_and_predicts_the_simulated_target(tmp_path: Path) -> None:
    singles = [1999, 1510, 1432, 1618, 1475, 1702, 1390, 1544, 1499, 1620, 1480]  # the first: the run at deploy
    with BoardServer(tmp_path / "board") as board, AdbStandIn(Phone(singles_us=list(singles))) as adb:
        board_target(tmp_path, board.url())
        phone_target(tmp_path, adb.url(benchmark_model=str(binary(tmp_path))))
        plan = Plan(name="mixed-links", models=[MODEL], targets=["mcu", "pi-bench", "phone-bench"],
                    measure=Measure(warmup=2, runs=10))
        run = run_plan(plan, Context(ModelRegistry(models_dir()), TargetRegistry(tmp_path / "targets"),
                                     tmp_path / "results"))
    eff = pd.read_csv(run / "efficiency.csv").set_index("target")
    assert eff.loc["mcu", "backend"] == "sim:mcu" and eff.loc["mcu", "provenance"].startswith("predicted:")
    assert eff.loc["pi-bench", "backend"] == "device" and eff.loc["pi-bench", "provenance"] == "measured:device"
    assert eff.loc["phone-bench", "backend"] == "device" and eff.loc["phone-bench", "provenance"] == "measured:device"
    # the phone's row: the single inferences benchmark_model printed, on the phone named by getprop
    phone = np.array(singles[1:]) / 1e3
    assert eff.loc["phone-bench", "latency_ms_p50"] == pytest.approx(np.percentile(phone, 50))
    assert eff.loc["phone-bench", "latency_ms_p99"] == pytest.approx(np.percentile(phone, 99))
    assert eff.loc["phone-bench", "dut_name"] == "Pixel 7" and eff.loc["phone-bench", "n_runs"] == 10
    samples = pd.read_parquet(run / "raw" / f"latency__{MODEL}__phone-bench.parquet")
    assert np.allclose(samples["device_latency_ms"], phone)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["backend"] == ["device", "sim"]
    assert (run / "raw" / "adb__phone-bench.log").is_file() and (run / "raw" / "ssh__pi-bench.log").is_file()
    assert (run / "signoff.json").is_file() and (run / "report.html").is_file()


@pytest.mark.slow
def test_run_device_url_puts_the_phone_profile_on_the_attached_phone(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from harness.cli import _register, cli

    _register()
    with AdbStandIn() as adb:
        url = adb.url(benchmark_model=str(binary(tmp_path)))
        args = ["run", "--model", MODEL, "--target", "pixel-7-tensor-g2", "--runs", "4", "--results",
                str(tmp_path / "r"), "--device-url", url]
        out = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    run = Path(out.stdout.strip().splitlines()[-1])
    row = pd.read_csv(run / "efficiency.csv").iloc[0]
    profile = TargetRegistry(targets_dir()).get("pixel-7-tensor-g2")
    assert (row["target"], row["backend"], row["provenance"]) == ("pixel-7-tensor-g2", "device", "measured:device")
    assert row["latency_budget_ms"] == profile.budgets.latency_ms and row["delegate"] == "cpu"


@pytest.mark.slow
def test_accuracy_on_the_phone_per_group_from_the_phones_scores(tmp_path: Path) -> None:
    from harness.runs.bench import BenchSettings, bench_device

    model = ModelRegistry(models_dir()).get(MODEL)
    with AdbStandIn() as adb:
        url = adb.url(benchmark_model=str(binary(tmp_path)))
        target = phone_target(tmp_path, url)
        settings = BenchSettings(port=url, model=MODEL, target="phone-bench", mode="accuracy", corpus="builtin:tiny",
                                 seed=5)
        run = bench_device(settings, model, target, tmp_path / "results")
        fed = [c for c in adb.phone.commands if "--output_filepath=" in c]
    parity = json.loads((run / "parity.json").read_text())
    # LiteRT's built-in int8 kernels (XNNPACK off) agree with the host's reference kernels clip for clip
    assert parity["n"] == len(fed) > 0 and parity["top1_agreement"] == 1.0 and parity["max_abs_diff"] == 0.0
    assert parity["drift"] is False
    fairness = pd.read_csv(run / "fairness.csv")
    assert len(fairness) > 0 and (run / "raw" / "predictions.parquet").is_file()
