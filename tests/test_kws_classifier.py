"""Multi-class keyword spotting end to end: a user's MLPerf-style KWS model described by its own entry YAML.

The test fits a linear classifier on the tiny corpus's MLPerf MFCC features, ships it as a float
ONNX file with an entry file beside it, runs ``harness eval --model entry.yaml``, and checks every
prediction, the accuracy per group and the confusion matrix against numpy on the same features.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from harness.cli import _register, cli
from harness.corpus.audio import load_conformed
from harness.frontends import get_frontend
from harness.registry.models import sha256_file
from harness.runs.evaluation import resolve_corpus

_register()
LABELS = ["alexa", "hey_jarvis", "_silence_", "_unknown_"]


def expected_class(label: str) -> str:
    return label if label in LABELS else "_unknown_"


def fit_linear(x: np.ndarray, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Ridge least squares onto one-hot targets: weights [n_features, n_classes] and biases."""
    targets = np.eye(len(LABELS))[[LABELS.index(c) for c in classes]]
    design = np.hstack([x, np.ones((len(x), 1))])
    solution = np.linalg.solve(design.T @ design + 1e-1 * np.eye(design.shape[1]), design.T @ targets)
    return solution[:-1].astype(np.float32), solution[-1].astype(np.float32)


def write_model(directory: Path, weights: np.ndarray, bias: np.ndarray) -> Path:
    nodes = [
        helper.make_node("Flatten", ["mfcc"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "linear-kws",
        [helper.make_tensor_value_info("mfcc", TensorProto.FLOAT, [1, 49, 10, 1])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, len(LABELS)])],
        initializer=[numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = directory / "linear-kws.onnx"
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    corpus = resolve_corpus("builtin:tiny")
    frontend = get_frontend("mlperf_mfcc")
    clips = corpus.manifest
    x = np.stack([frontend.features(load_conformed(corpus.path / p).samples).reshape(-1)[:490] for p in clips["path"]])
    classes = [expected_class(lab) for lab in clips["label"]]
    train = (clips["accent"] != "en-us").to_numpy()  # en-us speakers are unseen: some of their clips go wrong
    weights, bias = fit_linear(x[train], [c for c, t in zip(classes, train, strict=True) if t])
    directory = tmp_path_factory.mktemp("user-model")
    model = write_model(directory, weights, bias)
    entry = {
        "name": "linear-kws", "task": "kws", "format": "onnx", "frontend": "mlperf_mfcc",
        "artifact": {"file": model.name, "sha256": sha256_file(model)},
        "input": {"shape": [1, 49, 10, 1], "dtype": "float32"},
        "output": {"shape": [1, len(LABELS)], "dtype": "float32"},
        "labels": LABELS, "source": "fitted by tests/test_kws_classifier.py", "license": "Apache-2.0",
    }
    entry_file = directory / "linear-kws.yaml"
    entry_file.write_text(yaml.safe_dump(entry, sort_keys=False))
    logits = x @ weights + bias
    predicted = [LABELS[i] for i in logits.argmax(axis=1)]
    result = CliRunner().invoke(cli, ["eval", "--model", str(entry_file), "--corpus", "builtin:tiny",
                                      "--workers", "1", "--results", str(directory / "results")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    run = Path(result.stdout.strip().splitlines()[-1])
    truth = clips.assign(expected=classes, numpy_predicted=predicted)
    return {"run": run, "truth": truth}


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
