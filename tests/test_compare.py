"""`harness compare`: deltas with intervals; a synthetic regression is flagged, an unchanged rerun is not."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from run_fixture import Group, RunSpec, energy_mj, write_run

from harness.cli import _register, cli
from harness.compare.deltas import newcombe
from harness.compare.runs import compare_runs

_register()
BASE = RunSpec(groups=[Group("en-us", 200, 200), Group("ru", 196, 200)])
WORSE = RunSpec(latencies_ms=np.arange(1, 201, dtype=float) * 1.3, current_a=0.012,
                groups=[Group("en-us", 200, 200), Group("ru", 150, 200)])


def wilson_by_hand(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_newcombe_interval_squares_and_adds_the_wilson_intervals() -> None:
    z = NormalDist().inv_cdf(0.975)
    la, ua = wilson_by_hand(196, 200, z)
    lb, ub = wilson_by_hand(150, 200, z)
    d = 0.75 - 0.98
    low = d - math.sqrt((0.75 - lb) ** 2 + (ua - 0.98) ** 2)
    high = d + math.sqrt((ub - 0.75) ** 2 + (0.98 - la) ** 2)
    assert newcombe(196, 200, 150, 200, 0.95) == pytest.approx((d, low, high))


def test_a_synthetic_regression_is_flagged_and_exits_1(tmp_path) -> None:
    a, b = write_run(tmp_path, BASE, "before"), write_run(tmp_path, WORSE, "after")
    result = CliRunner().invoke(cli, ["compare", str(a), str(b)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    out = tmp_path / "compare-before-vs-after"
    data = json.loads((out / "compare.json").read_text())
    flagged = {(r["kind"], r["metric"], r["group"]) for r in data["rows"] if r["regression"]}
    assert ("detection", "detection_rate", "ru") in flagged
    assert ("energy", "energy_mj_per_inference", None) in flagged
    assert ("latency", "latency_ms_p50", None) in flagged
    assert ("detection", "detection_rate", "en-us") not in flagged  # 200/200 in both runs
    energy = next(r for r in data["rows"] if r["kind"] == "energy")
    assert energy["delta"] == pytest.approx(energy_mj(WORSE) - energy_mj(BASE))
    ru = next(r for r in data["rows"] if r["group"] == "ru")
    # two detection comparisons (en-us, ru): each interval at 1 - 0.05 / 2
    z = NormalDist().inv_cdf(1 - 0.025 / 2)
    la, ua = wilson_by_hand(196, 200, z)
    lb, _ = wilson_by_hand(150, 200, z)
    assert ru["ci_high"] < 0
    assert ru["ci_low"] == pytest.approx(-0.23 - math.sqrt((0.75 - lb) ** 2 + (ua - 0.98) ** 2))
    assert "REGRESSED" in (out / "compare.md").read_text()
    assert {r["verdict"] for r in data["rows"]} == {"regressed", "no change"}
    assert data["tolerance"] == 0.02 and data["rate_tolerance"] == 0.01 and "2.0%" in data["rule"]


def test_an_unchanged_rerun_is_not_a_regression(tmp_path) -> None:
    a, b = write_run(tmp_path, BASE, "one"), write_run(tmp_path, BASE, "two")
    comparison = compare_runs(a, b)
    assert len(comparison.rows) > 0 and comparison.regressions.empty
    result = CliRunner().invoke(cli, ["compare", str(a), str(b), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0 and (tmp_path / "cmp" / "compare.md").is_file()


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path) -> None:
    a = write_run(tmp_path, BASE, "one")
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["compare", str(a), str(tmp_path / "empty")])
    assert result.exit_code == 2 and "not a run directory" in result.stderr


def test_a_tolerance_accepts_small_efficiency_rises_but_not_lost_detection(tmp_path) -> None:
    a, b = write_run(tmp_path, BASE, "before"), write_run(tmp_path, WORSE, "after")
    comparison = compare_runs(a, b, tolerance=0.5)  # accept up to +50 % latency and energy
    assert set(comparison.regressions["kind"]) == {"detection"}
    assert set(compare_runs(a, b, tolerance=0.1).regressions["kind"]) == {"latency", "energy", "detection"}


def test_a_significant_change_within_the_tolerance_is_no_change(tmp_path) -> None:
    """Latencies of 100-100.2 ms, then every one 1 % higher: p50 rises by 1.001 ms, far outside the 0.2 ms spread
    of the samples (significant), yet within the default 2 % tolerance, so no change; with no tolerance it is
    a regression."""
    steady = 100.0 + np.arange(200) * 0.001
    a = write_run(tmp_path, RunSpec(latencies_ms=steady), "a")
    b = write_run(tmp_path, RunSpec(latencies_ms=steady * 1.01), "b")
    p50 = compare_runs(a, b).rows.set_index("metric").loc["latency_ms_p50"]
    assert p50["delta"] == pytest.approx(0.01 * np.percentile(steady, 50))
    assert p50["significant"] and p50["verdict"] == "no change"
    assert p50["margin"] == pytest.approx(0.02 * np.percentile(steady, 50))
    strict = compare_runs(a, b, tolerance=0.0).rows.set_index("metric").loc["latency_ms_p50"]
    assert strict["verdict"] == "regressed"


def test_detection_intervals_use_the_effective_n(tmp_path) -> None:
    """A group whose design effect is 2 in both runs compares as k/2 of n/2 clips: a wider Newcombe interval."""
    a, b = write_run(tmp_path, BASE, "a"), write_run(tmp_path, WORSE, "b")
    for run in (a, b):
        table = pd.read_csv(run / "fairness.csv")
        table.assign(design_effect=2.0, n_eff=table["n"] / 2.0).to_csv(run / "fairness.csv", index=False)
    ru = compare_runs(a, b, confidence=0.95).rows.set_index("group").loc["ru"]
    _, low, high = newcombe(98, 100, 75, 100, 1 - 0.05 / 2)
    assert (ru["ci_low"], ru["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert ru["delta"] == pytest.approx(0.75 - 0.98) and ru["verdict"] == "regressed"


def _harness_run(results: Path, seed: int) -> Path:
    out = CliRunner().invoke(cli, ["run", "--model", "mww-okay-nabu", "--target", "mcu", "--no-corpus", "--runs",
                                   "200", "--seed", str(seed), "--results", str(results)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def seeded_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    results = tmp_path_factory.mktemp("seeded")
    return _harness_run(results, 1), _harness_run(results, 2)


def test_two_runs_that_differ_only_in_their_seed_are_no_change(seeded_runs, tmp_path) -> None:
    a, b = seeded_runs
    result = CliRunner().invoke(cli, ["compare", str(a), str(b), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "0 regression(s)" in result.stdout and "within 0.02" in result.stdout
    rows = json.loads((tmp_path / "cmp" / "compare.json").read_text())["rows"]
    assert {r["kind"] for r in rows} == {"latency", "energy"}
    assert all(r["verdict"] == "no change" for r in rows)


def test_a_real_2x_slowdown_is_regressed_and_exits_1(seeded_runs, tmp_path) -> None:
    """A copy of run B whose every latency sample is doubled: both percentiles regress."""
    a, b = seeded_runs
    slow = tmp_path / "slow"
    shutil.copytree(b, slow)
    samples = next((slow / "raw").glob("latency__*.parquet"))
    table = pd.read_parquet(samples)
    table.assign(device_latency_ms=table["device_latency_ms"] * 2).to_parquet(samples)
    result = CliRunner().invoke(cli, ["compare", str(a), str(slow), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 1, result.output
    rows = json.loads((tmp_path / "cmp" / "compare.json").read_text())["rows"]
    verdicts = {r["metric"]: r["verdict"] for r in rows}
    assert verdicts == {"latency_ms_p50": "regressed", "latency_ms_p99": "regressed",
                        "energy_mj_per_inference": "no change"}
    assert "REGRESSED latency_ms_p50" in result.stderr
