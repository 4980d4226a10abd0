"""Model cards from a real tiny run: HF front matter, Mitchell sections, MCT twin, pseudonyms, small-group suppression.

Every number a card shows is recomputed here from raw/predictions.parquet (or raw/latency samples) with this
file's own arithmetic: counts, Wilson and Garwood intervals, percentiles.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from run_fixture import real_run
from scipy import stats

from harness.cli import _register, cli
from harness.core.paths import models_dir
from harness.reports.cards.pseudonym import SALT_ENV, SALT_FILE, pseudonym
from harness.reports.model_card import write_model_cards

_register()
MODELS = ("oww-hey-jarvis", "mww-alexa")
Z = stats.norm.ppf(0.975)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return real_run(tmp_path_factory, MODELS, "card-results")


@pytest.fixture(scope="module")
def predictions(run) -> pd.DataFrame:
    return pd.read_parquet(run / "raw" / "predictions.parquet")


def card(run: Path, model: str) -> tuple[dict, str]:
    text = (run / "model_cards" / f"{model}.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


# --- the expected numbers, computed here -------------------------------------------------------

def wilson(k: int, n: int) -> tuple[float, float]:
    centre = (k + Z * Z / 2) / (n + Z * Z)
    half = Z / (n + Z * Z) * math.sqrt(k * (n - k) / n + Z * Z / 4)
    return max(0.0, centre - half), min(1.0, centre + half)


def garwood(k: int, hours: float) -> tuple[float, float]:
    low = stats.chi2.ppf(0.025, 2 * k) / 2 if k else 0.0
    return low / hours, stats.chi2.ppf(0.975, 2 * k + 2) / 2 / hours


def group_of(frame: pd.DataFrame, attribute: str, group: str) -> pd.DataFrame:
    """Rows of one slice ("overall", "accent=ru", "accent&noise=ru&clean"); SNR reads "10 dB" or "clean"."""
    if attribute == "overall":
        return frame
    columns, values = attribute.split("&"), group.split("&")
    keep = np.ones(len(frame), dtype=bool)
    for column, value in zip(columns, values, strict=True):
        cells = frame[column].map(lambda v: "clean" if pd.isna(v) else f"{float(v):g} dB") \
            if column == "snr_db" else frame[column].astype(str)
        keep &= (cells == value).to_numpy()
    return frame[keep]


def expected(frame: pd.DataFrame, metric: str) -> tuple[int, float, float, float]:
    """(n, value, low, high) of one metric on one slice of one model's predictions."""
    positive, negative = frame[frame["is_positive"]], frame[~frame["is_positive"]]
    if metric in ("detection_rate", "frr"):
        k = int(positive["detected"].sum()) if metric == "detection_rate" else int((~positive["detected"]).sum())
        return len(positive), k / len(positive), *wilson(k, len(positive))
    if metric == "fpr":
        k = int((negative["false_accepts"] > 0).sum())
        return len(negative), k / len(negative), *wilson(k, len(negative))
    k, hours = int(negative["false_accepts"].sum()), float(negative["duration_s"].sum()) / 3600
    return len(negative), k / hours, *garwood(k, hours)


def shown(metric: str, value: float) -> float:
    return 100 * value if metric != "fa_per_hour" else value


def close(text: str, value: float) -> bool:
    """A displayed number equals ``value`` to the digits shown (1 decimal for %, 3 significant digits else)."""
    got = float(text.replace(",", ""))
    digits = text.split(".")[1] if "." in text else ""
    return abs(got - value) <= max(0.5 * 10 ** -len(digits), 5e-3 * abs(value)) + 1e-12


def assert_outward(shown: tuple[float, float], exact: tuple[float, float], step: float) -> None:
    """Shown bounds are the exact ones rounded away from the estimate, by less than one step of the shown digits."""
    assert exact[0] - step < shown[0] <= exact[0] + 1e-9 and exact[1] - 1e-9 <= shown[1] < exact[1] + step, \
        (shown, exact, step)


# --- tests -------------------------------------------------------------------------------------

def test_front_matter_is_yaml_with_a_model_index_recomputed_from_predictions(run, predictions) -> None:
    write_model_cards(run, min_group_size=3)
    for model in MODELS:
        meta, body = card(run, model)
        assert meta["license"] == "apache-2.0" and meta["pipeline_tag"] == "audio-classification"
        index = meta["model-index"]
        assert [entry["name"] for entry in index] == [model]
        results = [r for r in index[0]["results"] if r["dataset"]["split"] != "efficiency"]
        assert results[0]["dataset"]["config"] == "overall" and len(results) > 1
        frame = predictions[predictions["model"] == model]
        checked = 0
        for result in results:
            assert result["source"]["url"] == "../fairness.csv"
            config = result["dataset"]["config"]
            attribute, _, group = config.partition("=")
            for metric in result["metrics"]:
                value, plus_minus = metric["value"].split(" ± ")
                n, v, low, high = expected(group_of(frame, attribute, group), metric["type"])
                assert f"n={n}," in metric["name"]
                assert close(value, shown(metric["type"], v)), (model, config, metric)
                assert close(plus_minus, shown(metric["type"], max(v - low, high - v))), (model, config, metric)
                bounds = re.search(r"interval \[([^,]+), ([^\]]+)\]", metric["name"]).groups()
                assert close(bounds[0], shown(metric["type"], low)) and close(bounds[1], shown(metric["type"], high))
                checked += 1
        assert checked >= 20
        for section in ("## Model details", "## Intended use", "## Factors", "## Metrics", "## Evaluation data",
                        "## Training data", "## Quantitative analyses", "## Ethical considerations",
                        "## Caveats and recommendations"):
            assert f"\n{section}\n" in body


def test_every_table_number_matches_the_predictions_and_groups_run_worst_first(run, predictions) -> None:
    write_model_cards(run, min_group_size=3)
    _, body = card(run, "oww-hey-jarvis")
    frame = predictions[predictions["model"] == "oww-hey-jarvis"]
    tables = re.findall(r"^\| (\S+) \| n \| detection rate \(%\) \[95% CI\] \| n \| false accepts per hour "
                        r"\[95% CI\] \| speakers \|\n\|[-:|]+\|\n((?:\|.*\|\n)+)", body, flags=re.M)
    assert {t[0] for t in tables} >= {"accent", "accent_group", "gender", "snr_db", "accent_group&gender"}
    rows_checked = 0
    for attribute, rows in tables:
        rates = []
        for line in rows.strip().splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            group = group_of(frame, attribute, cells[0])
            for n_cell, value_cell, metric in ((cells[1], cells[2], "detection_rate"), (cells[3], cells[4],
                                                                                         "fa_per_hour")):
                if value_cell == "suppressed":
                    continue
                n, v, low, high = expected(group, metric)
                number, lo_hi = re.match(r"(\S+) \[([^\]]+)\]", value_cell).groups()
                assert int(n_cell) == n and close(number, shown(metric, v)), (attribute, cells)
                lo, hi = lo_hi.split(", ")
                assert close(lo, shown(metric, low)) and close(hi, shown(metric, high)), (attribute, cells)
                rows_checked += 1
            rates.append(float(cells[2].split()[0]))
        assert rates == sorted(rates), f"{attribute}: worst group (lowest detection) first"
    assert rows_checked >= 20
    # the overall row and the efficiency row read the same tables
    latency = pd.read_parquet(run / "raw" / "latency__oww-hey-jarvis__phone.parquet")["device_latency_ms"]
    row = pd.read_csv(run / "efficiency.csv").iloc[0]
    phone = re.search(rf"^\| phone \| phone \| sim:phone \| {row['provenance']} \| ([^|]+) \| ([^|]+) \| ([^|]+) \|",
                      body, flags=re.M)
    for cell, q in zip(phone.groups(), (50, 90, 99), strict=True):
        parts = re.match(r"(\S+) \[(\S+), (\S+)\]", cell.strip()).groups()
        value, low, high = (float(x.replace(",", "")) for x in parts)
        bounds = row[f"latency_ms_p{q}_low"], row[f"latency_ms_p{q}_high"]
        step = 10.0 ** -(1 - np.floor(np.log10(bounds[1] - bounds[0])))  # two significant digits of the width
        assert value == pytest.approx(np.percentile(latency, q), abs=step / 2 + 1e-9)
        assert_outward((low, high), bounds, step)


def test_json_twin_follows_the_model_card_toolkit_schema_at_full_precision(run, predictions) -> None:
    write_model_cards(run, min_group_size=3)
    twin = json.loads((run / "model_cards" / "oww-hey-jarvis.json").read_text())
    assert {"schema_version", "model_details", "model_parameters", "quantitative_analysis",
            "considerations"} <= set(twin)
    assert twin["model_details"]["name"] == "oww-hey-jarvis"
    assert twin["model_details"]["licenses"] == [{"identifier": "Apache-2.0"}]
    assert {"users", "use_cases", "limitations", "tradeoffs", "ethical_considerations"} <= set(twin["considerations"])
    metrics = twin["quantitative_analysis"]["performance_metrics"]
    assert all({"type", "value", "slice"} <= set(m) and isinstance(m["value"], str) for m in metrics)
    frame = predictions[predictions["model"] == "oww-hey-jarvis"]
    with_ci = [m for m in metrics if "confidence_interval" in m and not m["slice"].startswith("target=")]
    assert len(with_ci) >= 20
    for m in with_ci:
        attribute, _, group = m["slice"].partition("=")
        n, v, low, high = expected(group_of(frame, attribute, group), m["type"])
        ci = m["confidence_interval"]
        assert set(ci) == {"lower_bound", "upper_bound"}
        assert float(m["value"]) == pytest.approx(v, rel=1e-9, abs=1e-12), m
        assert float(ci["lower_bound"]) == pytest.approx(low, rel=1e-6, abs=1e-9), m
        assert float(ci["upper_bound"]) == pytest.approx(high, rel=1e-6, abs=1e-9), m
    row = pd.read_csv(run / "efficiency.csv").iloc[0]
    p99 = next(m for m in metrics if m["type"] == "latency_ms_p99" and m["slice"].startswith("target=phone"))
    assert p99["slice"] == f"target=phone, provenance={row['provenance']}"
    latency = pd.read_parquet(run / "raw" / "latency__oww-hey-jarvis__phone.parquet")["device_latency_ms"]
    assert float(p99["value"]) == pytest.approx(np.percentile(latency, 99), rel=1e-8)
    assert float(p99["confidence_interval"]["lower_bound"]) == pytest.approx(row["latency_ms_p99_low"], rel=1e-8)
    assert float(p99["confidence_interval"]["upper_bound"]) == pytest.approx(row["latency_ms_p99_high"], rel=1e-8)


def test_speakers_are_pseudonymised_with_a_stable_keyed_hash(run, predictions, monkeypatch) -> None:
    monkeypatch.delenv(SALT_ENV, raising=False)
    write_model_cards(run, min_group_size=3)
    salt_file = run.parent / SALT_FILE
    assert stat.S_IMODE(os.stat(salt_file).st_mode) == 0o600
    salt = salt_file.read_text().strip().encode()
    speakers = [s for s in predictions["speaker"].unique() if s != "mixed"]  # "mixed" is also a group label
    text = (run / "model_cards" / "mww-alexa.md").read_text() + (run / "model_cards" / "mww-alexa.json").read_text()
    for speaker in speakers:
        assert speaker not in text
        keyed = "spk-" + hmac.new(salt, speaker.encode(), hashlib.sha256).hexdigest()[:12]
        assert pseudonym(speaker, salt) == keyed and keyed in text
        assert keyed != "spk-" + hashlib.sha256(speaker.encode()).hexdigest()[:12]  # keyed, not a plain hash
    write_model_cards(run, min_group_size=3)
    again = (run / "model_cards" / "mww-alexa.md").read_text() + (run / "model_cards" / "mww-alexa.json").read_text()
    assert again == text
    monkeypatch.setenv(SALT_ENV, "another secret")
    write_model_cards(run, min_group_size=3)
    other = (run / "model_cards" / "mww-alexa.md").read_text()
    assert all(pseudonym(s, salt) not in other and pseudonym(s, b"another secret") in other for s in speakers)


def test_groups_under_the_minimum_size_are_suppressed_with_a_note(run, predictions) -> None:
    write_model_cards(run, min_group_size=4)  # 3 positive clips per accent, 5 clips without the phrase
    meta, body = card(run, "mww-alexa")
    configs = {r["dataset"]["config"]: {m["type"] for m in r["metrics"]} for r in meta["model-index"][0]["results"]}
    assert configs["accent=ru"] == {"fa_per_hour"} and configs["accent=en-us"] == {"fa_per_hour"}
    assert "overall" in configs  # the whole corpus is not a group: it stays, marked insufficient
    accent = re.search(r"^\| accent \| n \|.*?\n\n(.*?)\n\n", body, flags=re.M | re.S)
    assert accent is None or "| ru |" not in accent.group(0)
    assert "Suppressed (fewer than 4 clips): en-us (detection_rate); mixed (detection_rate and fa_per_hour); " \
           "ru (detection_rate)." in body
    twin = json.loads((run / "model_cards" / "mww-alexa.json").read_text())
    slices = {(m["slice"], m["type"]) for m in twin["quantitative_analysis"]["performance_metrics"]}
    assert ("accent=ru", "detection_rate") not in slices and ("accent=ru", "fa_per_hour") in slices
    assert any("accent=ru (detection_rate)" in lim["description"] for lim in twin["considerations"]["limitations"])
    fairness = pd.read_csv(run / "fairness.csv", keep_default_na=False)
    assert ((fairness["attribute"] == "accent") & (fairness["group"] == "ru")).any()  # kept in the tables


def copy_tables(run: Path, to: Path) -> Path:
    """The run's manifest and evaluation tables alone (no signoff.json, no carbon), under the same run id."""
    to = to / run.name
    to.mkdir()
    for name in ("manifest.json", "efficiency.csv", "fairness.csv", "disparity.json"):
        (to / name).write_bytes((run / name).read_bytes())
    return to


def test_registry_gaps_say_not_documented_and_absent_tables_are_named(run, tmp_path) -> None:
    bare = copy_tables(run, tmp_path)
    write_model_cards(bare, min_group_size=3)
    _, body = card(bare, "mww-alexa")
    assert "Primary intended uses and users: not documented" in body
    assert "Training data, its size and its speaker demographics: not documented" in body
    assert "Trained languages (registry field `trained_languages`): en." in body
    assert "Not in this run: signoff.json is absent" in body
    assert "Not in this run: carbon.csv is absent" in body


def test_signoff_gates_and_carbon_rows_appear_when_present(run, tmp_path) -> None:
    signed = copy_tables(run, tmp_path)
    gates = [{"id": "latency/mww-alexa/phone", "model": "mww-alexa", "target": "phone", "metric": "latency_ms_p99",
              "value": 0.0213, "threshold": 100.0, "ci_low": 0.0211, "ci_high": 0.0215, "status": "PASS",
              "reason": "within budget"},
             {"id": "frr/mww-alexa", "model": "mww-alexa", "target": None, "metric": "frr", "value": 0.0,
              "threshold": 0.05, "ci_low": 0.0, "ci_high": 0.39, "status": "INSUFFICIENT_EVIDENCE",
              "reason": "interval straddles the limit"},
             {"id": "fa_difference/mww-alexa/accent", "model": "mww-alexa", "target": None, "metric": "fa_difference",
              "value": 0.0, "threshold": 0.5, "ci_low": 0.0, "ci_high": 0.0, "status": "INSUFFICIENT_EVIDENCE",
              "reason": "'ru' vs 'mixed' (1 clip): 0 [0, 0]"}]
    (signed / "signoff.json").write_text(json.dumps({"verdict": "INSUFFICIENT_EVIDENCE", "gates": gates}))
    (signed / "carbon.json").write_text(json.dumps({"meta": {"grid_kg_per_kwh": 0.4}, "rows": [
        {"model": "mww-alexa", "target": "phone", "region": "default", "energy_kwh_per_year": 12.5,
         "co2e_kg_per_year": 5.0, "cost_per_year": 3.75, "rate_source": "not shown in the card"}]}))
    write_model_cards(signed, min_group_size=3)
    _, body = card(signed, "mww-alexa")
    assert "Run verdict: **INSUFFICIENT_EVIDENCE**" in body
    # undecided gates come before passed ones
    assert body.index("| frr/mww-alexa |") < body.index("| latency/mww-alexa/phone |")
    provenance = pd.read_csv(signed / "efficiency.csv").query("model == 'mww-alexa'")["provenance"].iloc[0]
    assert f"| phone | {provenance} | default | 12.5 | 5 | 3.75 |" in body and "not shown in the card" not in body
    # a gate about a suppressed group ("mixed": one clip) keeps its status, not its value or reason
    withheld = next(line for line in body.splitlines() if line.startswith("| fa_difference/mww-alexa/accent |"))
    assert "| withheld |" in withheld and "INSUFFICIENT_EVIDENCE" in withheld and "'mixed'" not in body


def test_cli_writes_cards_and_report_and_rejects_a_folder_without_a_run(run, tmp_path) -> None:
    result = CliRunner().invoke(cli, ["report", str(run), "--min-group-size", "3"])
    assert result.exit_code == 0, result.stderr
    written = [Path(line) for line in result.stdout.split()]
    assert {p.name for p in written} == {f"{m}.{ext}" for m in MODELS for ext in ("md", "json")} | {"report.html"}
    assert all(p.is_file() for p in written)
    empty = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert empty.exit_code == 2 and "not a run directory (no manifest.json)" in empty.stderr
    assert "Traceback" not in empty.stderr


# --- publishable cards -------------------------------------------------------------------------

ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:[\w.@+-]+/)+[\w.@+-]*")  # a POSIX path from the root, not ../x or a URL


def test_cards_name_no_folder_of_the_machine_that_wrote_them(run) -> None:
    write_model_cards(run, min_group_size=3)
    for path in sorted((run / "model_cards").iterdir()):
        text = path.read_text(encoding="utf-8")
        assert not ABSOLUTE.search(text), f"{path.name}: {ABSOLUTE.search(text).group(0)}"
        for local in (str(run.parent), str(Path.home()), os.environ.get("HARNESS_CACHE", "/nonexistent"), "/tmp"):
            assert local not in text, f"{path.name} names {local}"
    _, body = card(run, "oww-hey-jarvis")
    manifest = json.loads((run / "manifest.json").read_text())
    record = next(m for m in manifest["models"] if m["name"] == "oww-hey-jarvis")
    assert f"- Artifact: `{Path(record['path']).name}`, sha256 `{record['sha256']}`" in body
    entry = re.search(r"registry entry: `([^`]+)` \(sha256 `([0-9a-f]{64})`\)", body)
    source = models_dir() / entry.group(1)
    assert hashlib.sha256(source.read_bytes()).hexdigest() == entry.group(2)
    links = re.findall(r"\]\(([^)]+)\)", body)
    assert links and all(link.startswith("../") and (run / "model_cards" / link).resolve().is_file() for link in links)


def test_the_absolute_path_check_catches_what_it_should() -> None:
    """Negative control for the check above."""
    assert ABSOLUTE.search("read from /root/.cache/edge-harness/corpus/datasheet.md")
    assert ABSOLUTE.search("`/tmp/pytest-1/x.tflite`")
    assert not ABSOLUTE.search("[fairness.csv](../fairness.csv), https://example.org/a/b and 1/2 of the clips")


def test_every_efficiency_figure_carries_its_provenance(run) -> None:
    write_model_cards(run, min_group_size=3)
    eff = pd.read_csv(run / "efficiency.csv")
    for model in MODELS:
        meta, body = card(run, model)
        row = eff[eff["model"] == model].iloc[0]
        results = [r for r in meta["model-index"][0]["results"] if r["dataset"]["split"] == "efficiency"]
        assert [r["dataset"]["config"] for r in results] == ["phone"]
        assert results[0]["source"]["url"] == "../efficiency.csv"
        metrics = {m["type"]: m for m in results[0]["metrics"]}
        assert set(metrics) == {"latency_ms_p99", "energy_mj_per_inference", "deployed_power_mw"}
        for column, metric in metrics.items():
            assert metric["args"] == {"provenance": row["provenance"]} and row["provenance"] in metric["name"]
            value, low, high = (float(x.replace(",", ""))
                                for x in re.match(r"(\S+) \[(\S+), (\S+)\]", metric["value"]).groups())
            step = 10.0 ** -(1 - np.floor(np.log10(row[f"{column}_high"] - row[f"{column}_low"])))
            assert value == pytest.approx(row[column], abs=step / 2 + 1e-12)
            assert_outward((low, high), (row[f"{column}_low"], row[f"{column}_high"]), step)
        table = re.search(r"^\| target \| class \| backend \| provenance \|.*?\n\n", body, flags=re.M | re.S).group(0)
        assert f"| phone | phone | sim:phone | {row['provenance']} |" in table


def test_front_matter_validates_with_huggingface_hub_card_metadata(run) -> None:
    hub = pytest.importorskip("huggingface_hub", reason="huggingface_hub is the optional [cards] extra: "
                                                        "pip install -e '.[cards]' to validate card metadata")
    write_model_cards(run, min_group_size=3)
    for model in MODELS:
        meta, _ = card(run, model)
        parsed = hub.ModelCard((run / "model_cards" / f"{model}.md").read_text(encoding="utf-8"))
        data = parsed.data  # ModelCardData: raises on a model-index it cannot read into EvalResults
        assert isinstance(data, hub.ModelCardData) and data.model_name == model
        expected = [(r["dataset"]["config"], m["type"])
                    for r in meta["model-index"][0]["results"] for m in r["metrics"]]
        assert [(e.dataset_config, e.metric_type) for e in data.eval_results] == expected
        assert all(e.source_url in ("../fairness.csv", "../efficiency.csv") for e in data.eval_results)
        assert {e.metric_args["provenance"] for e in data.eval_results if e.dataset_split == "efficiency"} \
            == set(pd.read_csv(run / "efficiency.csv").query("model == @model")["provenance"])
        assert data.license == "apache-2.0" and data.pipeline_tag == "audio-classification"
        again = hub.ModelCardData(**{k.replace("-", "_") if k != "model-index" else k: v
                                     for k, v in data.to_dict().items()})
        assert [e.metric_value for e in again.eval_results] == [e.metric_value for e in data.eval_results]
