"""The quick path says what it did not evaluate, `harness run --gate` exits with the sign-off verdict, and the
accuracy gates work at the effective n of clips clustered by speaker."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from run_fixture import Group, RunSpec, write_run

from harness.cli import _register, cli
from harness.core.verdict import Verdict
from harness.signoff import evaluate, load_policy

_register()
QUICK = ["run", "--model", "mww-okay-nabu", "--target", "mcu", "--no-corpus", "--runs", "40", "--seed", "1"]


def gates_of(run: Path) -> dict[str, dict]:
    return {g["id"]: g for g in json.loads((run / "signoff.json").read_text())["gates"]}


def test_a_run_without_a_corpus_is_insufficient_evidence_not_fail_and_gate_exits_3(tmp_path) -> None:
    out = CliRunner().invoke(cli, [*QUICK, "--results", str(tmp_path), "--gate"], catch_exceptions=False)
    assert out.exit_code == 3, out.output
    run = Path(out.stdout.strip().splitlines()[-1])
    record = json.loads((run / "signoff.json").read_text())
    assert record["verdict"] == "INSUFFICIENT_EVIDENCE" and record["counts"]["FAIL"] == 0
    gates = gates_of(run)
    for gid in ("accuracy/mww-okay-nabu/not_evaluated", "fairness/mww-okay-nabu/not_evaluated"):
        assert gates[gid]["status"] == "INSUFFICIENT_EVIDENCE"
        assert "not evaluated in this run" in gates[gid]["reason"]
    evaluation = gates["checklist/evaluation"]
    assert evaluation["status"] == "INSUFFICIENT_EVIDENCE" and "not evaluated in this run" in evaluation["reason"]


def test_gate_exits_1_on_a_failing_verdict_and_0_without_gate(tmp_path) -> None:
    """A policy whose MCU latency budget (1 us) no model meets: FAIL, exit 1 with --gate, 0 without."""
    policy = tmp_path / "strict.yaml"
    policy.write_text("name: strict\nefficiency: {targets: {mcu: {latency_ms: 0.001}}}\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: strict\nmodels: [mww-okay-nabu]\ntargets: [mcu]\nmeasure: {runs: 40}\n"
                    "policy: strict.yaml\n")
    gated = CliRunner().invoke(cli, ["run", "--plan", str(plan), "--results", str(tmp_path / "r"), "--gate"],
                               catch_exceptions=False)
    assert gated.exit_code == Verdict.FAIL.exit_code == 1, gated.output
    run = Path(gated.stdout.strip().splitlines()[-1])
    assert gates_of(run)["latency_p90/mww-okay-nabu/mcu"]["status"] == "FAIL"
    plain = CliRunner().invoke(cli, ["run", "--resume", str(run), "--results", str(tmp_path / "r")],
                               catch_exceptions=False)
    assert plain.exit_code == 0, plain.output


def test_a_run_that_evaluated_a_corpus_but_lost_its_tables_still_fails(tmp_path) -> None:
    """Only a manifest that records no corpus makes missing fairness files 'not evaluated'."""
    run = write_run(tmp_path, RunSpec())
    (run / "fairness.csv").unlink()
    (run / "disparity.json").unlink()
    policy = load_policy()
    lost = evaluate(run, policy)
    assert next(g for g in lost.gates if g.id == "checklist/evaluation").status == Verdict.FAIL
    assert not any(g.id.endswith("/not_evaluated") for g in lost.gates)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "corpus": None}))
    quick = evaluate(run, policy)
    assert next(g for g in quick.gates if g.id == "checklist/evaluation").status == Verdict.INSUFFICIENT
    assert {g.id for g in quick.gates if g.id.endswith("/not_evaluated")} == {
        "accuracy/kws-a/not_evaluated", "fairness/kws-a/not_evaluated"}
    assert not [g.id for g in quick.gates if g.status == Verdict.FAIL and g.kind in ("accuracy", "fairness",
                                                                                   "checklist")]


def test_the_frr_gate_names_the_effective_n_and_asks_for_clips_at_the_design_effect(tmp_path) -> None:
    """0 misses of 6 clips at design effect 2: the Wilson upper bound at the effective size m / 2 is
    z^2 / (m / 2 + z^2), which reaches 0.05 at m = 38 z^2 (z inflated for 80 % power)."""
    z_plan = 1.959963984540054 + 0.8416212335729143
    run = write_run(tmp_path, RunSpec(groups=[Group("en-us", 3, 3, 1), Group("ru", 3, 3, 1)]))
    table = pd.read_csv(run / "fairness.csv")
    table.assign(design_effect=2.0, n_eff=table["n"] / 2.0).to_csv(run / "fairness.csv", index=False)
    frr = next(g for g in evaluate(run, load_policy()).gates if g.id == "frr/kws-a")
    assert frr.status == Verdict.INSUFFICIENT
    assert "Wilson interval at the effective n=3 (design effect 2 of clips clustered by speaker)" in frr.reason
    assert frr.extra_samples == math.ceil(38 * z_plan**2) - 6
