"""`harness eval` end to end on the tiny synthetic corpus: the fairness part of the run contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from harness.cli import _register, cli
from harness.core.paths import models_dir
from harness.corpus.directory import load_corpus
from harness.evaluation.streaming import match, smooth
from harness.registry.models import ModelRegistry

_register()
FAIRNESS_COLUMNS = ["model", "attribute", "group", "n", "n_speakers", "metric", "value", "ci_low", "ci_high"]
DISPARITY_KEYS = {"model", "attribute", "metric", "worst_group", "best_group", "ratio", "ratio_ci", "difference",
                  "difference_ci", "four_fifths", "verdict"}


def run_eval(*args: str) -> Path:
    result = CliRunner().invoke(cli, ["eval", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def test_eval_writes_fairness_disparity_predictions_and_plots() -> None:
    run = run_eval("--model", "mww-alexa", "--model", "oww-hey-jarvis", "--corpus", "builtin:tiny",
                   "--workers", "1")
    fairness = pd.read_csv(run / "fairness.csv")
    assert list(fairness.columns[: len(FAIRNESS_COLUMNS)]) == FAIRNESS_COLUMNS
    assert {"accent", "noise", "accent&noise", "overall"} <= set(fairness["attribute"])
    assert {"detection_rate", "frr", "fa_per_hour", "fpr"} <= set(fairness["metric"])
    rows = json.loads((run / "disparity.json").read_text())
    assert rows and all(DISPARITY_KEYS <= set(r) for r in rows)
    assert all(r["worst_group"] != r["best_group"] for r in rows if r["worst_group"] is not None)
    manifest = json.loads((run / "manifest.json").read_text())
    corpus = load_corpus(Path(manifest["corpus"]["path"]))
    assert manifest["corpus"]["n_clips"] == len(corpus.manifest)
    predictions = pd.read_parquet(run / "raw" / "predictions.parquet")
    assert len(predictions) == 2 * len(corpus.manifest)
    for col in ("model", "clip_id", "path", "label", "speaker", "accent", "noise", "score", "predicted", "correct"):
        assert col in predictions.columns
    assert sorted(p.name for p in (run / "plots").glob("mww-alexa__*.png")) == [
        "mww-alexa__det_by_accent_group.png", "mww-alexa__det_by_noise.png",
        "mww-alexa__detection_rate_by_accent.png", "mww-alexa__detection_rate_by_noise.png"]
    # every tiny-corpus group is far below 30 clips: nothing may pass
    assert not fairness.loc[fairness["attribute"] != "overall", "sufficient"].any()
    assert {r["verdict"] for r in rows} == {"INSUFFICIENT_EVIDENCE"}


def test_decisions_follow_the_counting_rules_from_the_stored_scores() -> None:
    run = run_eval("--model", "mww-alexa", "--corpus", "builtin:tiny", "--workers", "1")
    predictions = pd.read_parquet(run / "raw" / "predictions.parquet")
    scores = pd.read_parquet(run / "raw" / "scores.parquet").set_index("clip_id")["scores"]
    entry = ModelRegistry(models_dir()).get("mww-alexa")
    window, cutoff = entry.decision.window, entry.decision.cutoff
    for _, clip in predictions.iterrows():
        smoothed = smooth(np.asarray(scores[clip["clip_id"]], dtype=float), window)
        assert clip["score"] == smoothed.max()
        above = smoothed > cutoff
        assert clip["predicted"] == bool(above.any())
        if clip["label"] == "alexa":
            # microWakeWord steps are stamped at the end of their audio: 20 ms + 30 ms per step
            times = 0.02 + 0.03 * (np.flatnonzero(above) + 1)
            tp, _ = match(times[:1], clip["phrase_start_s"], clip["phrase_end_s"], 1.0)
            assert clip["detected"] == tp
    positives = predictions[predictions["label"] == "alexa"]
    assert positives["detected"].sum() >= 1  # the real model hears the synthetic "alexa"


def test_eval_resume_keeps_scored_chunks(tmp_path) -> None:
    run = run_eval("--model", "mww-okay-nabu", "--corpus", "builtin:tiny", "--workers", "1")
    chunk = next((run / "raw" / "eval").glob("chunk-*.parquet"))
    stamp = chunk.stat().st_mtime_ns
    (run / "fairness.csv").unlink()
    again = run_eval("--model", "mww-okay-nabu", "--corpus", "builtin:tiny", "--resume", str(run))
    assert again == run and chunk.stat().st_mtime_ns == stamp and (run / "fairness.csv").is_file()


def test_missing_corpus_is_a_clean_error(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["eval", "--corpus", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "corpus directory not found" in result.stderr
    assert "Traceback" not in result.stderr
