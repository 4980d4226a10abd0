"""A keyword spotter whose predictions mean something: a linear classifier fitted on the tiny corpus.

It is fitted on the MLPerf MFCC features of the speakers outside en-us (so unseen en-us clips go
wrong sometimes), shipped as a float ONNX file with a user entry YAML beside it, and returned with
numpy's own predictions for every clip, the reference the tests compare the harness against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import yaml
from onnx import TensorProto, helper, numpy_helper

from harness.core.hashing import sha256_file
from harness.corpus.audio import load_conformed
from harness.frontends import get_frontend
from harness.runs.evaluation import resolve_corpus

LABELS = ["alexa", "hey_jarvis", "_silence_", "_unknown_"]
CORPUS = "builtin:tiny"


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


@dataclass(frozen=True)
class LinearKws:
    """The fitted model's entry file, and per clip (manifest order) its expected and numpy-predicted class."""

    entry_file: Path
    truth: pd.DataFrame  # the corpus manifest plus expected and numpy_predicted


def fit_linear_kws(directory: Path) -> LinearKws:
    """Fit, write ``linear-kws.onnx`` and ``linear-kws.yaml`` into ``directory``, and predict every clip in numpy."""
    corpus = resolve_corpus(CORPUS)
    frontend = get_frontend("mlperf_mfcc")
    clips = corpus.manifest
    x = np.stack([frontend.features(load_conformed(corpus.path / p).samples).reshape(-1)[:490] for p in clips["path"]])
    classes = [expected_class(lab) for lab in clips["label"]]
    train = (clips["accent"] != "en-us").to_numpy()  # en-us speakers are unseen: some of their clips go wrong
    weights, bias = fit_linear(x[train], [c for c, t in zip(classes, train, strict=True) if t])
    model = write_model(directory, weights, bias)
    entry = {
        "name": "linear-kws", "task": "kws", "format": "onnx", "frontend": "mlperf_mfcc",
        "artifact": {"file": model.name, "sha256": sha256_file(model)},
        "input": {"shape": [1, 49, 10, 1], "dtype": "float32"},
        "output": {"shape": [1, len(LABELS)], "dtype": "float32"},
        "labels": LABELS, "source": "fitted by tests/kws_fixture.py", "license": "Apache-2.0",
    }
    entry_file = directory / "linear-kws.yaml"
    entry_file.write_text(yaml.safe_dump(entry, sort_keys=False))
    logits = x @ weights + bias
    predicted = [LABELS[i] for i in logits.argmax(axis=1)]
    return LinearKws(entry_file, clips.assign(expected=classes, numpy_predicted=predicted))
