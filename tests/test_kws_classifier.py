"""Multi-class keyword spotting end to end: a user's MLPerf-style KWS model described by its own entry YAML.

The test fits a linear classifier on the tiny corpus's MLPerf MFCC features, ships it as a float
ONNX file with an entry file beside it, runs ``harness eval --model entry.yaml``, and checks every
prediction, the accuracy per group and the confusion matrix against numpy on the same features.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from kws_fixture import CORPUS, LABELS, fit_linear_kws

from harness.cli import _register, cli

_register()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    directory = tmp_path_factory.mktemp("user-model")
    fit = fit_linear_kws(directory)
    result = CliRunner().invoke(cli, ["eval", "--model", str(fit.entry_file), "--corpus", CORPUS,
                                      "--workers", "1", "--results", str(directory / "results")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    run = Path(result.stdout.strip().splitlines()[-1])
    return {"run": run, "truth": fit.truth}


def test_every_prediction_is_the_argmax_of_the_models_scores(fitted: dict) -> None:
    predictions = pd.read_parquet(fitted["run"] / "raw" / "predictions.parquet").set_index("clip_id")
    truth = fitted["truth"].set_index("clip_id")
    assert predictions.loc[truth.index, "predicted_label"].tolist() == truth["numpy_predicted"].tolist()
    assert predictions.loc[truth.index, "expected"].tolist() == truth["expected"].tolist()
    assert (predictions["predicted_label"] != "_unknown_").any()  # the fit learned something
    assert not (predictions["predicted_label"] == predictions["expected"]).all()  # and errs on unseen speakers


def test_accuracy_per_accent_is_the_share_of_correct_clips(fitted: dict) -> None:
    truth = fitted["truth"]
    correct = truth["numpy_predicted"] == truth["expected"]
    fairness = pd.read_csv(fitted["run"] / "fairness.csv")
    accuracy = fairness[(fairness["metric"] == "accuracy") & (fairness["attribute"] == "accent")]
    by_accent = correct.groupby(truth["accent"].fillna("")).agg(["mean", "size"])
    for _, row in accuracy.iterrows():
        assert row["value"] == pytest.approx(by_accent.loc[row["group"], "mean"])
        assert row["n"] == by_accent.loc[row["group"], "size"]
        assert row["ci_low"] <= row["value"] <= row["ci_high"]


def test_confusion_matrix_counts_every_clip_once(fitted: dict) -> None:
    truth = fitted["truth"]
    confusion = pd.read_csv(fitted["run"] / "confusion.csv")
    assert len(confusion) == len(LABELS) ** 2  # zeros included: every (expected, predicted) pair
    counts = truth.groupby(["expected", "numpy_predicted"]).size()
    for _, row in confusion.iterrows():
        assert row["n"] == counts.get((row["expected"], row["predicted"]), 0)
    assert confusion["n"].sum() == len(truth)
    assert "## linear-kws" in (fitted["run"] / "confusion.md").read_text()
    manifest = json.loads((fitted["run"] / "manifest.json").read_text())
    assert manifest["models"][0]["name"] == "linear-kws"
