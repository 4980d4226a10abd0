"""`harness compare`: deltas with intervals; a synthetic regression is flagged, an unchanged rerun is not."""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
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
    assert "REGRESSION" in (out / "compare.md").read_text()


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
