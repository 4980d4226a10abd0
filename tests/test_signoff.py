"""Sign-off: gates decided on intervals, extra samples, waivers, the checklist, and the verdict as exit code."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from run_fixture import Group, RunSpec, energy_mj, write_run
from scipy import stats

from harness.cli import _register, cli
from harness.core.errors import ConfigError
from harness.core.verdict import Verdict
from harness.power.trace import Trace
from harness.registry.plans import Plan
from harness.reports.carbon import write_carbon
from harness.signoff import evaluate, load_policy, signoff_run
from harness.signoff.efficiency import energy_batches
from harness.signoff.gates import decide
from harness.signoff.sizes import mean_interval

PASS, FAIL, INSUFFICIENT, WAIVED = Verdict.PASS, Verdict.FAIL, Verdict.INSUFFICIENT, Verdict.WAIVED

_register()
TODAY = date(2026, 6, 1)
Z95 = 1.959963984540054
Z_PLAN = Z95 + 0.8416212335729143  # z(0.975) + z(0.8): the extra-samples estimate at 80 % power


def write_policy(tmp_path: Path, text: str = "", name: str = "policy.yaml") -> Path:
    (tmp_path / "monitoring.md").write_text("monitoring plan\n")
    body = ("name: test\naccuracy: {max_frr: 0.05, max_fa_per_hour: 0.5}\nfairness: {attributes: [accent]}\n"
            "checklist:\n  - {id: evaluation, title: Evaluation, priority: critical, "
            "requires_files: [efficiency.csv, fairness.csv]}\n"
            "  - {id: monitoring, title: Monitoring, priority: high, evidence: monitoring.md}\n") + text
    path = tmp_path / name
    path.write_text(body)
    return path


def gate(result, gate_id: str):
    return next(g for g in result.gates if g.id == gate_id)


@pytest.mark.parametrize(("low", "high", "threshold", "op", "status"), [
    (0.01, 0.05, 0.05, "<=", PASS),            # upper end touches the limit: wholly allowed
    (0.05, 0.09, 0.05, "<=", INSUFFICIENT),    # lower end touches it: part of the interval is allowed
    (0.0501, 0.09, 0.05, "<=", FAIL),
    (0.8, 0.9, 0.8, ">=", PASS),
    (0.7, 0.8, 0.8, ">=", INSUFFICIENT),
    (0.7, 0.7999, 0.8, ">=", FAIL),
    (None, None, 0.8, ">=", INSUFFICIENT),
])
def test_a_gate_is_decided_on_its_whole_interval(low, high, threshold, op, status) -> None:
    assert decide(low, high, threshold, op) == status


def test_a_well_measured_run_passes_with_the_numbers_computed_by_hand(tmp_path) -> None:
    spec = RunSpec()
    result = evaluate(write_run(tmp_path, spec), load_policy(write_policy(tmp_path)), TODAY)
    assert result.verdict == PASS, [g.reason for g in result.gates if g.status != PASS]
    # p90 of 1..200 ms; its order-statistic interval: l, u from the binomial(200, 0.9) quantiles.
    lat = gate(result, "latency_p90/kws-a/mcu")
    assert lat.value == pytest.approx(np.percentile(np.arange(1, 201), 90))
    cdf = np.cumsum([math.comb(200, k) * 0.9**k * 0.1 ** (200 - k) for k in range(201)])
    low_k = int(np.argmax(cdf >= 0.025))
    high_k = int(np.argmax(cdf >= 0.975)) + 1
    assert (lat.ci_low, lat.ci_high) == (float(low_k), float(high_k))  # sample k is k ms
    power = gate(result, "power/kws-a/mcu")
    e_mj = 0.01 * 2.0 * 0.5 / 200 * 1e3  # 10 mA x 2 V x 0.5 s / 200 inferences = 0.05 mJ
    assert power.value == pytest.approx(e_mj * 1.0)  # 1 inference/s, no idle power
    assert power.ci_low == pytest.approx(e_mj) and power.ci_high == pytest.approx(e_mj)
    frr = gate(result, "frr/kws-a")
    assert frr.ci_high == pytest.approx(Z95**2 / (400 + Z95**2))  # Wilson upper bound at k = 0
    assert gate(result, "memory_arena/kws-a/mcu").status == PASS


def test_cli_exit_codes_are_the_verdict(tmp_path) -> None:
    policy = str(write_policy(tmp_path))
    passing = write_run(tmp_path, RunSpec(), "pass")
    failing = write_run(tmp_path, RunSpec(groups=[Group("en-us", 100, 200), Group("ru", 120, 200)]), "fail")
    small = write_run(tmp_path, RunSpec(groups=[Group("en-us", 3, 3, 1), Group("ru", 3, 3, 1)]), "small")
    codes = {}
    for run in (passing, failing, small):
        out = CliRunner().invoke(cli, ["signoff", str(run), "--policy", policy], catch_exceptions=False)
        codes[run.name] = out.exit_code
        assert json.loads((run / "signoff.json").read_text())["verdict"] in out.stdout
        assert (run / "signoff.md").read_text().startswith("# Sign-off: ")
    assert codes == {"pass": 0, "fail": 1, "small": 3}
    usage = CliRunner().invoke(cli, ["signoff", str(passing), "--bogus"])
    assert usage.exit_code == 2


def test_signoff_json_follows_the_contract(tmp_path) -> None:
    run = write_run(tmp_path, RunSpec())
    signoff_run(run, load_policy(write_policy(tmp_path)), TODAY)
    data = json.loads((run / "signoff.json").read_text())
    assert data["verdict"] == PASS
    keys = {"id", "model", "target", "metric", "value", "threshold", "ci_low", "ci_high", "status", "reason"}
    assert data["gates"] and all(keys <= set(g) for g in data["gates"])


def test_undecided_gates_say_how_many_more_samples_would_decide_them(tmp_path) -> None:
    spec = RunSpec(groups=[Group("en-us", 3, 3, 1), Group("ru", 3, 3, 1)], negative_hours=0.5)
    result = evaluate(write_run(tmp_path, spec), load_policy(write_policy(tmp_path)), TODAY)
    assert result.verdict == INSUFFICIENT
    frr = gate(result, "frr/kws-a")
    assert frr.status == INSUFFICIENT
    # Wilson upper at k = 0 is z^2 / (m + z^2); it drops to 0.05 at m = 19 z^2, with z inflated for power.
    assert frr.extra_samples == math.ceil(19 * Z_PLAN**2) - 6
    fa = gate(result, "fa_per_hour/kws-a")
    # Zero false accepts: the exact Poisson upper bound is -ln(alpha/2) / T; 0.5 /h needs T >= 2 * -ln(alpha/2).
    half_alpha = 0.5 * math.erfc(Z_PLAN / math.sqrt(2))
    hours = math.ceil(-math.log(half_alpha) / 0.5 * 10) / 10
    assert fa.extra_samples == pytest.approx(hours - 0.5)
    size = gate(result, "group_size/kws-a/accent")
    assert size.status == INSUFFICIENT and size.extra_samples == 2 * (30 - 3)
    # a perfect bootstrap interval over one speaker per group decides nothing
    assert gate(result, "fairness.frr.difference/kws-a/accent").status == INSUFFICIENT


def test_a_waiver_shows_waived_keeps_the_value_and_expires(tmp_path) -> None:
    spec = RunSpec(budgets=(1000.0, 0.01))  # 0.05 mW deployed power against a 0.01 mW budget: FAIL
    run = write_run(tmp_path, spec)
    active = write_policy(tmp_path, "waivers:\n  - {gate: 'power/*/mcu', owner: Ada, reason: lab board, "
                                    "expires: 2026-06-01}\n", "active.yaml")
    result = evaluate(run, load_policy(active), TODAY)
    power = gate(result, "power/kws-a/mcu")
    assert power.status == WAIVED and power.measured_status == FAIL
    assert power.value == pytest.approx(energy_mj(spec)) and power.waiver["owner"] == "Ada"
    assert result.verdict == PASS and result.waivers[0]["state"] == "active"
    expired = write_policy(tmp_path, "waivers:\n  - {gate: 'power/*/mcu', owner: Ada, reason: lab board, "
                                     "expires: 2026-05-31}\n", "expired.yaml")
    result = evaluate(run, load_policy(expired), TODAY)
    assert gate(result, "power/kws-a/mcu").status == FAIL
    assert "expired on 2026-05-31 and is void" in gate(result, "power/kws-a/mcu").reason
    assert result.verdict == FAIL


def test_checklist_critical_blocks_and_high_priority_needs_evidence_or_risk_acceptance(tmp_path) -> None:
    run = write_run(tmp_path, RunSpec())
    (run / "fairness.csv").rename(run / "moved.csv")
    policy = tmp_path / "checklist.yaml"
    policy.write_text("name: c\naccuracy: {max_frr: 0.05}\nchecklist:\n"
                      "  - {id: evaluation, title: E, priority: critical, requires_files: [fairness.csv]}\n"
                      "  - {id: monitoring, title: M, priority: high}\n"
                      "  - id: training\n    title: T\n    priority: high\n"
                      "    risk_acceptance: {owner: Bo, reason: synthetic corpus only, expires: 2026-12-31}\n"
                      "  - id: labels\n    title: L\n    priority: high\n"
                      "    risk_acceptance: {owner: Cy, reason: pilot, expires: 2026-05-01}\n")
    result = evaluate(run, load_policy(policy), TODAY)
    assert gate(result, "checklist/evaluation").status == FAIL
    assert gate(result, "checklist/monitoring").status == INSUFFICIENT
    training = gate(result, "checklist/training")
    assert training.status == WAIVED and training.waiver["owner"] == "Bo"
    labels = gate(result, "checklist/labels")
    assert labels.status == INSUFFICIENT and "expired on 2026-05-01 and is void" in labels.reason
    assert result.verdict == FAIL


def test_policy_errors_name_file_line_and_field(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nchecklist:\n  - id: evaluation\n    title: E\n    priority: critical\n"
                    "    risk_acceptance: {owner: A, reason: r, expires: 2030-01-01}\n"
                    "fairness:\n  max_error_ratio: -1\n")
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    text = str(err.value)
    assert str(path) in text and "line 8: field 'fairness.max_error_ratio'" in text
    assert "line 3: field 'checklist.0'" in text and "cannot be risk-accepted" in text


def test_default_policy_ships_edge_constraints_numbers() -> None:
    policy = load_policy()
    assert policy.efficiency.budget_for("any-board", "wearable").power_mw == 500
    assert (policy.fairness.max_error_ratio, policy.fairness.max_difference) == (1.25, 0.05)
    assert policy.fairness.min_four_fifths == 0.8
    assert policy.publication.min_group_size >= 1


@pytest.mark.slow
def test_a_tiny_real_run_is_insufficient_evidence_not_a_pass(tmp_path) -> None:
    out = CliRunner().invoke(cli, ["run", "--model", "mww-alexa", "--target", "mcu", "--corpus", "builtin:tiny",
                                   "--runs", "20", "--results", str(tmp_path)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    run = Path(out.stdout.strip().splitlines()[-1])
    result = CliRunner().invoke(cli, ["signoff", str(run)], catch_exceptions=False)
    assert result.exit_code == 3, result.output
    data = json.loads((run / "signoff.json").read_text())
    assert data["verdict"] == INSUFFICIENT
    assert any(g["id"].startswith("group_size/mww-alexa/") and g["status"] == INSUFFICIENT for g in data["gates"])


def test_carbon_of_a_fleet_is_computed_from_energy_rate_devices_and_a_julian_year(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame([{"model": "m", "target": "mcu", "target_class": "mcu", "backend": "sim:mcu",
                   "energy_mj_per_inference": 1.0, "inference_rate_hz": 33.3, "latency_ms_p50": 10.0,
                   "deployed_idle_mw": 0.0}]).to_csv(run / "efficiency.csv")
    plan = Plan.model_validate({"name": "p", "models": ["m"], "reporting": {"grid_kg_per_kwh": 0.4},
                                "fleet": {"devices": 1000, "inference_rate_hz": 1.0, "price_per_kwh": 0.2,
                                          "regions": {"hydro": {"grid_kg_per_kwh": 0.02}}}})
    write_carbon(run, plan)
    rows = pd.read_csv(run / "carbon.csv").set_index("region")
    joules = 1e-3 * 1.0 * 1000 * 365.25 * 86400  # 1 mJ x 1/s x 1000 devices x 1 Julian year = 31.5576 MJ
    assert joules == pytest.approx(31.5576e6)
    kwh = joules / 3.6e6  # 8.766 kWh
    assert rows.loc["default", "energy_kwh_per_year"] == pytest.approx(kwh)
    assert rows.loc["default", "co2e_kg_per_year"] == pytest.approx(kwh * 0.4)
    assert rows.loc["default", "cost_per_year"] == pytest.approx(kwh * 0.2)
    assert rows.loc["hydro", "co2e_kg_per_year"] == pytest.approx(kwh * 0.02)
    assert "31,557,600 s" in (run / "carbon.md").read_text()


def test_carbon_uses_the_efficiency_tables_deployed_power_and_flags_a_device_that_cannot_keep_up(tmp_path) -> None:
    out = CliRunner().invoke(cli, ["run", "--model", "mww-alexa", "--model", "oww-alexa", "--target", "mcu",
                                   "--target", "phone", "--runs", "20", "--results", str(tmp_path)],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    run = Path(out.stdout.strip().splitlines()[-1])
    eff = pd.read_csv(run / "efficiency.csv").set_index(["model", "target"])
    carbon = pd.read_csv(run / "carbon.csv")
    devices = carbon["devices"].iloc[0]
    for _, row in carbon.iterrows():
        deployed = eff.loc[(row["model"], row["target"]), "deployed_power_mw"]
        kwh_per_device_year = row["energy_kwh_per_year"] / devices
        assert kwh_per_device_year / 8766.0 * 1e6 == pytest.approx(deployed, rel=0.01)  # mW
    slow = carbon.set_index(["model", "target"]).loc[("oww-alexa", "mcu")]
    assert not slow["keeps_up"] and slow["achieved_rate_hz"] < slow["inference_rate_hz"]
    assert slow["achieved_rate_hz"] == pytest.approx(1e3 / eff.loc[("oww-alexa", "mcu"), "latency_ms_p50"])


def test_an_interval_touching_the_threshold_passes_and_one_crossing_it_is_undecided(tmp_path) -> None:
    run = write_run(tmp_path, RunSpec())
    table = pd.read_csv(run / "fairness.csv")
    upper = float(table[(table["attribute"] == "overall") & (table["metric"] == "frr")]["ci_high"].iloc[0])
    for threshold, status in ((upper, PASS), (upper * 0.999, INSUFFICIENT)):
        path = tmp_path / "touch.yaml"
        path.write_text(f"name: t\naccuracy: {{max_frr: {threshold!r}}}\n")
        assert gate(evaluate(run, load_policy(path), TODAY), "frr/kws-a").status == status


def test_energy_interval_is_a_t_interval_over_batch_means_of_the_trace(tmp_path) -> None:
    rate, start, window, n = 10_000.0, 0.1, 0.5, 200
    t = np.arange(int(0.7 * rate) + 1) / rate
    current = 0.01 + 0.004 * np.sin(2 * np.pi * 3.0 * t)  # a slow wobble so sub-windows differ
    (tmp_path / "raw").mkdir()
    Trace(current, rate, 2.0, np.array([start, start + window]), "test").to_parquet(
        tmp_path / "raw" / "power__m__mcu.parquet")
    batches = energy_batches(tmp_path, "m", "mcu", n)
    # By hand: the exact integral of I(t) x V over each of 10 sub-windows, per inference (20 inferences each).
    edges = np.linspace(start, start + window, 11)
    w = 2 * np.pi * 3.0
    exact = [2.0 * (0.01 * (b - a) - 0.004 / w * (np.cos(w * b) - np.cos(w * a))) / 20 * 1e3
             for a, b in zip(edges[:-1], edges[1:], strict=True)]
    assert batches == pytest.approx(exact, rel=1e-4)
    half = stats.t.ppf(0.975, 9) * np.std(exact, ddof=1) / np.sqrt(10)
    mean, low, high = mean_interval(batches, 0.95)
    assert (low, high) == pytest.approx((np.mean(exact) - half, np.mean(exact) + half), rel=1e-4)


def test_a_board_entry_overrides_its_class_and_a_model_entry_the_defaults(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: o\nefficiency:\n  targets:\n    mcu: {latency_ms: 1000, power_mw: 100}\n"
                    "    esp32-s3: {power_mw: 250}\naccuracy: {max_frr: 0.05, max_fa_per_hour: 0.5}\n"
                    "models:\n  kws-a: {max_frr: 0.1}\n")
    policy = load_policy(path)
    board = policy.efficiency.budget_for("esp32-s3", "mcu")
    assert (board.latency_ms, board.power_mw) == (1000, 250)
    assert policy.accuracy_for("kws-a").max_frr == 0.1 and policy.accuracy_for("kws-a").max_fa_per_hour == 0.5
    run = write_run(tmp_path, RunSpec(budgets=(1000.0, 100.0), target="esp32-s3"))
    power = gate(evaluate(run, policy, TODAY), "power/kws-a/esp32-s3")
    assert power.threshold == 250


def _p90_order_interval() -> tuple[float, float]:
    cdf = np.cumsum([math.comb(200, k) * 0.9**k * 0.1 ** (200 - k) for k in range(201)])
    return float(np.argmax(cdf >= 0.025)), float(np.argmax(cdf >= 0.975) + 1)  # sample k is k ms


def predicted(spec: RunSpec, low: float, high: float) -> RunSpec:
    """The spec's row as the simulated device writes it: predicted, with the cost model's interval x[low, high]."""
    p50, p90, p99 = (float(np.percentile(spec.latencies_ms, q)) for q in (50, 90, 99))
    e = energy_mj(spec)
    spec.row_extra = {"provenance": "predicted:estimated", "estimated_params": "core_factor.cortex-m55",
                      "deployable": True, "not_deployable_reason": "",
                      "latency_ms_p50_low": p50 * low, "latency_ms_p50_high": p50 * high,
                      "latency_ms_p90_low": p90 * low, "latency_ms_p90_high": p90 * high,
                      "latency_ms_p99_low": p99 * low, "latency_ms_p99_high": p99 * high,
                      "energy_mj_per_inference_low": e * low, "energy_mj_per_inference_high": e * high,
                      "deployed_power_mw_low": e * low, "deployed_power_mw_high": e * high}
    return spec


def test_a_prediction_is_decided_on_the_cost_model_interval_times_the_jitter_interval(tmp_path) -> None:
    result = evaluate(write_run(tmp_path, predicted(RunSpec(), 0.5, 2.0)), load_policy(write_policy(tmp_path)),
                      TODAY)
    lat = gate(result, "latency_p90/kws-a/mcu")
    low_k, high_k = _p90_order_interval()
    assert (lat.ci_low, lat.ci_high) == (low_k * 0.5, high_k * 2.0) and lat.status == PASS
    assert lat.provenance == "predicted:estimated" and "predicted by the cost model" in lat.reason
    e = energy_mj(RunSpec())
    power = gate(result, "power/kws-a/mcu")  # constant current: the trace's own interval is the point
    assert (power.ci_low, power.ci_high) == pytest.approx((e * 0.5, e * 2.0))
    assert gate(result, "frr/kws-a").provenance == "measured:host"
    assert gate(result, "memory_flash/kws-a/mcu").provenance == "measured:host"
    md = (tmp_path / "run-a" / "signoff.md")
    signoff_run(tmp_path / "run-a", load_policy(write_policy(tmp_path)), TODAY)
    assert "| PASS | `latency_p90/kws-a/mcu` | 180.1 ms | predicted:estimated |" in md.read_text()
    record = json.loads((tmp_path / "run-a" / "signoff.json").read_text())
    assert {g["id"]: g["provenance"] for g in record["gates"]}["latency_p90/kws-a/mcu"] == "predicted:estimated"


def test_a_prediction_whose_interval_straddles_the_budget_is_undecided_not_failed(tmp_path) -> None:
    result = evaluate(write_run(tmp_path, predicted(RunSpec(), 0.5, 6.0)), load_policy(write_policy(tmp_path)),
                      TODAY)
    lat = gate(result, "latency_p90/kws-a/mcu")
    assert lat.ci_high == _p90_order_interval()[1] * 6.0 > 1000 and lat.status == INSUFFICIENT
    assert lat.extra_samples is None  # more simulated runs cannot narrow the cost model's uncertainty


def test_a_policy_requiring_measurements_leaves_predicted_gates_undecided(tmp_path) -> None:
    policy = load_policy(write_policy(tmp_path, "efficiency:\n  targets:\n    mcu: {evidence: measured}\n"))
    result = evaluate(write_run(tmp_path, predicted(RunSpec(), 0.9, 1.1)), policy, TODAY)
    lat = gate(result, "latency_p90/kws-a/mcu")
    assert lat.status == INSUFFICIENT and "measure on a device" in lat.reason and "would be PASS" in lat.reason
    assert gate(result, "memory_flash/kws-a/mcu").status == PASS  # a file size is not a prediction
    measured = RunSpec(row_extra={"provenance": "measured:device"})
    run = write_run(tmp_path, measured, run_id="run-b")
    assert gate(evaluate(run, policy, TODAY), "latency_p90/kws-a/mcu").status == PASS


def test_a_model_the_stack_cannot_run_fails_its_efficiency_gates_with_the_reason(tmp_path) -> None:
    spec = RunSpec(row_extra={"provenance": "predicted:estimated", "deployable": False,
                              "not_deployable_reason": "onnx model: the tflm-reference stack runs tflite models only"})
    result = evaluate(write_run(tmp_path, spec), load_policy(write_policy(tmp_path)), TODAY)
    for gid in ("latency_p90/kws-a/mcu", "power/kws-a/mcu"):
        g = gate(result, gid)
        assert g.status == FAIL and g.value is None and g.provenance == "not deployable"
        assert "not deployable on this stack" in g.reason and "onnx model" in g.reason
    assert result.verdict == FAIL
