"""The quantization-harm gate: a variant may lose at most N points of accuracy in any group, decided on the paired
interval of model_comparison.json (PASS inside, FAIL wholly beyond, INSUFFICIENT_EVIDENCE when it straddles)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from run_fixture import RunSpec, write_run
from test_paired import predictions

from harness.core.verdict import Verdict
from harness.evaluation.paired import PairedSettings, paired_differences
from harness.reports.tables import write_table
from harness.rundir import contract
from harness.signoff import evaluate, load_policy
from harness.signoff.quantization import quantization_gates

TWO_OF_TEN = {f"s{i}": ("a" if i < 3 else "b", [(1, 0), (1, 0)] + [(1, 1)] * 8) for i in range(6)}


def policy(tmp_path: Path, points: float | None):
    text = "name: q\nchecklist: []\n" + (f"quantization: {{max_group_drop_points: {points}}}\n" if points else "")
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return load_policy(path)


def compared_run(tmp_path: Path, clips: dict, min_clips: int = 10) -> Path:
    run = write_run(tmp_path, RunSpec())
    table = paired_differences(predictions(clips), "float", ["int8"], ["accent"], "kws",
                               PairedSettings(n_boot=300, min_clips=min_clips, min_speakers=3))
    write_table(table.assign(kind="accuracy"), run, contract.MODEL_COMPARISON.stem, markdown="# test",
                meta={"confidence": 0.95})
    return run


def by_id(gates: list) -> dict:
    return {g.id: g for g in gates}


def test_every_speaker_losing_two_clips_in_ten_is_twenty_points_pass_at_twenty_fail_at_fifteen(tmp_path) -> None:
    run = compared_run(tmp_path, TWO_OF_TEN)
    gates = by_id(quantization_gates(run, policy(tmp_path, 20)))
    overall = gates["quantization/int8/overall/accuracy"]
    assert (overall.value, overall.ci_low, overall.ci_high) == pytest.approx((20.0, 20.0, 20.0))
    assert overall.status == Verdict.PASS and overall.unit == "points"
    assert {g.status for g in gates.values()} == {Verdict.PASS}
    assert set(gates) >= {"quantization/int8/accent=a/accuracy", "quantization/int8/accent=b/accuracy"}
    failed = quantization_gates(run, policy(tmp_path, 15))
    assert {g.status for g in failed if g.metric == "accuracy"} == {Verdict.FAIL}
    verdict = evaluate(run, policy(tmp_path, 15))
    assert verdict.verdict == Verdict.FAIL


def test_an_interval_straddling_the_limit_is_insufficient_evidence(tmp_path) -> None:
    # speakers lose 0, 1, 2, 3, 4 or 5 clips of 10: overall 25 points, the bootstrap interval spans 15 ... 35
    clips = {f"s{i}": ("a", [(1, 0)] * i + [(1, 1)] * (10 - i)) for i in range(6)}
    run = compared_run(tmp_path, clips)
    gate = by_id(quantization_gates(run, policy(tmp_path, 25)))["quantization/int8/overall/accuracy"]
    assert gate.value == pytest.approx(25.0)
    assert gate.ci_low < 25.0 < gate.ci_high
    assert gate.status == Verdict.INSUFFICIENT and "straddles" in gate.reason


def test_a_group_short_of_clips_is_never_passed(tmp_path) -> None:
    run = compared_run(tmp_path, TWO_OF_TEN, min_clips=100)
    gates = quantization_gates(run, policy(tmp_path, 50))
    assert {g.status for g in gates} == {Verdict.INSUFFICIENT}
    assert all("short of evidence" in g.reason and "would be PASS" in g.reason for g in gates)


def test_no_limit_no_gate_and_a_limit_without_a_comparison_is_undecided(tmp_path) -> None:
    run = write_run(tmp_path, RunSpec())
    assert quantization_gates(run, policy(tmp_path, None)) == []
    (gate,) = quantization_gates(run, policy(tmp_path, 5))
    assert gate.id == "quantization/not_compared" and gate.status == Verdict.INSUFFICIENT
    assert "harness compare-models" in gate.reason


def test_the_gate_reads_harm_so_a_gain_passes(tmp_path) -> None:
    gains = {f"s{i}": ("a", [(0, 1)] + [(1, 1)] * 9) for i in range(6)}
    run = compared_run(tmp_path, gains)
    gate = by_id(quantization_gates(run, policy(tmp_path, 1)))["quantization/int8/overall/accuracy"]
    assert gate.value == pytest.approx(-10.0) and gate.status == Verdict.PASS
    assert pd.read_csv(run / contract.MODEL_COMPARISON.csv)["harm"].iloc[0] == pytest.approx(-0.1)


def test_only_the_policys_attributes_and_overall_are_gated(tmp_path) -> None:
    run = compared_run(tmp_path, TWO_OF_TEN)
    path = tmp_path / "only-overall.yaml"
    path.write_text("name: q\nchecklist: []\nquantization: {max_group_drop_points: 20, attributes: []}\n")
    gates = quantization_gates(run, load_policy(path))
    assert [g.id for g in gates] == ["quantization/int8/overall/accuracy"]
