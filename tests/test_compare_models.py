"""``harness compare-models`` end to end on real float32/int8 variants of one keyword spotter (tests/kws_variants.py):
the paired table is recomputed here from the run's own predictions and efficiency rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from kws_fixture import CORPUS
from kws_variants import build_variants

from harness.cli import _register, cli
from harness.compare.models import _verb, compare_variants
from harness.core.errors import ConfigError
from harness.evaluation.paired import PairedSettings
from harness.registry.plans import Plan
from harness.registry.yamlio import validate
from harness.signoff.gates import decide

_register()
N_BOOT = 200
LIMIT = 5


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("variants")
    variants = build_variants(directory)
    spec = f"{variants.entries['kws-f32']},{variants.entries['kws-i8']}"
    policy = directory / "policy.yaml"
    policy.write_text(f"name: q\nchecklist: []\nquantization: {{max_group_drop_points: {LIMIT}}}\n")
    result = CliRunner().invoke(cli, ["compare-models", spec, "--corpus", CORPUS, "--target", "mcu", "--workers", "1",
                                      "--min-clips", "3", "--min-speakers", "2", "--n-boot", str(N_BOOT),
                                      "--policy", str(policy), "--results", str(directory / "results")],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1, 2), result.output
    return Path(result.stdout.strip().splitlines()[-1])


def test_accuracy_differences_are_the_variants_own_counts_on_the_same_clips(compared: Path) -> None:
    predictions = pd.read_parquet(compared / "raw" / "predictions.parquet")
    wide = predictions.pivot(index="clip_id", columns="model", values="correct").astype(float)
    accents = predictions.drop_duplicates("clip_id").set_index("clip_id")["accent"]
    table = pd.read_csv(compared / "model_comparison.csv")
    acc = table[(table["kind"] == "accuracy") & (table["metric"] == "accuracy")]
    overall = acc[acc["attribute"] == "overall"].iloc[0]
    assert overall["baseline"] == "kws-f32" and overall["variant"] == "kws-i8"
    assert overall["difference"] == pytest.approx(wide["kws-i8"].mean() - wide["kws-f32"].mean())
    for _, row in acc[acc["attribute"] == "accent"].iterrows():
        clips = accents.index[accents == row["group"]]
        assert row["n"] == len(clips)
        assert row["baseline_value"] == pytest.approx(wide.loc[clips, "kws-f32"].mean())
        assert row["variant_value"] == pytest.approx(wide.loc[clips, "kws-i8"].mean())
        assert row["ci_low"] <= row["difference"] + 1e-12 and row["difference"] <= row["ci_high"] + 1e-12


def test_efficiency_differences_come_from_the_efficiency_rows_with_their_provenance(compared: Path) -> None:
    eff = pd.read_csv(compared / "efficiency.csv").set_index("model")
    table = pd.read_csv(compared / "model_comparison.csv")
    energy = table[(table["kind"] == "efficiency") & (table["metric"] == "energy_mj_per_inference")].iloc[0]
    a, b = eff.loc["kws-f32"], eff.loc["kws-i8"]
    assert energy["target"] == "mcu"
    assert energy["difference"] == pytest.approx(b["energy_mj_per_inference"] - a["energy_mj_per_inference"])
    assert energy["provenance"] == f"{a['provenance']} vs {b['provenance']}"
    assert energy["ci_low"] == pytest.approx(b["energy_mj_per_inference_low"] - a["energy_mj_per_inference_high"])
    assert energy["ci_high"] == pytest.approx(b["energy_mj_per_inference_high"] - a["energy_mj_per_inference_low"])
    size = table[(table["kind"] == "efficiency") & (table["metric"] == "model_bytes")].iloc[0]
    assert size["difference"] == size["ci_low"] == size["ci_high"] == b["model_bytes"] - a["model_bytes"]
    assert size["difference"] < 0  # int8 weights take a quarter of the float32 bytes


def test_one_sentence_per_target_names_the_saving_and_the_worst_group(compared: Path) -> None:
    meta = json.loads((compared / "model_comparison.json").read_text())["meta"]
    assert meta["baseline"] == "kws-f32" and meta["variants"] == ["kws-i8"] and meta["n_boot"] == N_BOOT
    (answer,) = meta["answers"]
    assert answer["target"] == "mcu"
    table = pd.read_csv(compared / "model_comparison.csv")
    energy = table[(table["kind"] == "efficiency") & (table["metric"] == "energy_mj_per_inference")].iloc[0]
    resolved = energy["ci_high"] < 0  # the whole interval is a saving; else the direction is unresolved
    assert answer["sentence"].startswith("kws-i8 saves " if resolved else "kws-i8 may save ")
    assert " mJ per inference on mcu" in answer["sentence"]
    assert "points of accuracy" in answer["sentence"] and "paired interval" in answer["sentence"]
    assert (compared / "model_comparison.md").read_text().startswith("# Variants against kws-f32")


def test_the_variants_card_has_the_quantization_section_with_the_tables_numbers(compared: Path) -> None:
    card = (compared / "model_cards" / "kws-i8.md").read_text()
    assert "### Quantization effect by group" in card
    overall = pd.read_csv(compared / "model_comparison.csv").query("kind == 'accuracy' and metric == 'accuracy' "
                                                                   "and attribute == 'overall'").iloc[0]
    points = f"{overall['difference'] * 100:.2g}"
    line = next(x for x in card.splitlines() if x.startswith("| overall | all |"))
    assert f"| {points} [" in line.replace("-0 [", "0 [") or f"| {float(points):g} [" in line
    baseline_card = (compared / "model_cards" / "kws-f32.md").read_text()
    assert "This model is the baseline of the paired comparison" in baseline_card


def test_the_report_plots_the_change_per_group(compared: Path) -> None:
    html = (compared / "report.html").read_text()
    assert '<h2 id="quantization">Quantization effect by group</h2>' in html
    assert "speaker-level paired bootstrap intervals (model_comparison.csv)" in html
    assert html.count("data:image/png;base64,") >= 1


def test_signoff_gates_every_group_on_its_paired_interval_under_the_runs_policy(compared: Path) -> None:
    table = pd.read_csv(compared / "model_comparison.csv")
    rows = table[(table["kind"] == "accuracy") & (table["metric"] == "accuracy")
                 & table["attribute"].isin(["overall", "accent_group", "accent", "noise", "gender"])]  # the default
    assert set(rows["attribute"]) >= {"overall", "accent", "noise"}
    gates = {g["id"]: g for g in json.loads((compared / "signoff.json").read_text())["gates"]
             if g["kind"] == "quantization"}
    assert len(gates) == len(rows)
    for _, r in rows.iterrows():
        where = "overall" if r["attribute"] == "overall" else f"{r['attribute']}={r['group']}"
        g = gates[f"quantization/kws-i8/{where}/accuracy"]
        assert (g["value"], g["ci_low"], g["ci_high"]) == pytest.approx((r["harm"] * 100, r["harm_low"] * 100,
                                                                         r["harm_high"] * 100))
        expected = decide(r["harm_low"] * 100, r["harm_high"] * 100, LIMIT, "<=")
        assert g["status"] == (expected.value if r["sufficient"] or expected.value == "INSUFFICIENT_EVIDENCE"
                               else "INSUFFICIENT_EVIDENCE")


def test_one_model_is_not_a_comparison(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["compare-models", "kws-f32", "--corpus", CORPUS])
    assert result.exit_code == 2 and "at least one variant" in result.output


def test_a_baseline_outside_the_plan_is_refused_with_the_field() -> None:
    with pytest.raises(ConfigError, match="paired_baseline 'c' is not one of the plan's models"):
        validate(Plan, {"name": "p", "models": ["a", "b"], "paired_baseline": "c"}, "test plan")


def test_variants_of_another_task_are_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"model": ["a", "b"], "clip_id": ["c", "c"]})
    with pytest.raises(ConfigError, match="do not have the task of 'a'"):
        compare_variants(tmp_path, frame, {"a": "kws", "b": "wake_word"}, "a", [], PairedSettings())


def test_eval_paired_writes_the_same_comparison_without_targets(compared: Path) -> None:
    directory = compared.parent.parent
    result = CliRunner().invoke(cli, ["eval", "--model", str(directory / "kws-f32.yaml"), "--model",
                                      str(directory / "kws-i8.yaml"), "--paired", "--corpus", CORPUS, "--workers", "1",
                                      "--min-clips", "3", "--min-speakers", "2", "--results",
                                      str(directory / "eval-results")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = Path(result.stdout.strip().splitlines()[-1])
    mine = pd.read_csv(run / "model_comparison.csv")
    assert set(mine["kind"]) == {"accuracy"}  # no target: no efficiency rows
    theirs = pd.read_csv(compared / "model_comparison.csv").query("kind == 'accuracy'")
    columns = ["attribute", "group", "metric", "n", "difference", "baseline_only", "variant_only"]
    pd.testing.assert_frame_equal(mine[columns].reset_index(drop=True), theirs[columns].reset_index(drop=True),
                                  check_dtype=False)
    (answer,) = json.loads((run / "model_comparison.json").read_text())["meta"]["answers"]
    assert answer["target"] is None and "measured on no target" in answer["sentence"]
    bad = CliRunner().invoke(cli, ["eval", "--model", "kws-f32", "--paired", "--corpus", CORPUS])
    assert bad.exit_code == 2 and "at least one variant" in bad.output


def test_measured_pairs_get_sample_intervals_and_sizes_exact_differences(tmp_path: Path) -> None:
    import shutil

    from run_fixture import RunSpec, energy_mj, write_run

    from harness.compare.models import efficiency_differences

    measured = {"provenance": "measured:device"}
    a = RunSpec(model="f32", row_extra=measured)
    b = RunSpec(model="i8", latencies_ms=np.arange(2, 402, 2, dtype=float), current_a=0.004, arena_bytes=8_000,
                row_extra=measured)
    run = write_run(tmp_path, a, "a")
    other = write_run(tmp_path, b, "b")
    for path in (other / "raw").glob("*.parquet"):
        shutil.copy(path, run / "raw" / path.name)
    rows = pd.concat([pd.read_csv(run / "efficiency.csv"), pd.read_csv(other / "efficiency.csv")])
    rows.to_csv(run / "efficiency.csv", index=False)
    table = efficiency_differences(run, "f32", ["i8"], 0.95, seed=0).set_index("metric")
    latency = table.loc["latency_ms_p50"]
    assert latency["difference"] == pytest.approx(201.0 - 100.5)  # medians of 2..400 step 2 and of 1..200
    assert latency["ci_low"] < latency["difference"] < latency["ci_high"]
    assert latency["provenance"] == "measured:device vs measured:device"
    energy = table.loc["energy_mj_per_inference"]
    d = energy_mj(b) - energy_mj(a)  # constant currents: every batch equal, so the interval has no width
    assert d < 0 and (energy["difference"], energy["ci_low"], energy["ci_high"]) == pytest.approx((d, d, d))
    arena = table.loc["arena_bytes"]
    assert (arena["difference"], arena["ci_low"], arena["ci_high"]) == (-12_000, -12_000, -12_000)


@pytest.mark.parametrize(("verb", "low", "high", "said"), [
    ("saves", -3.0, -1.0, "saves"), ("saves", -3.0, 1.0, "may save"), ("costs", 1.0, 2.0, "costs"),
    ("costs", -0.5, 2.0, "may cost"), ("gains", 0.0, 2.0, "gains"), ("costs", None, None, "costs")])
def test_a_sentence_says_may_when_the_interval_holds_both_directions(verb: str, low, high, said: str) -> None:
    assert _verb(verb, low, high) == said
