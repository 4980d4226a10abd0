"""The committed trained DS-CNN (models/dscnn-kws12*): pinned entries, TFLite re-derived byte for byte from the
ONNX graphs, every artifact running in its runtimes, and `harness eval` scoring all four per group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from click.testing import CliRunner

from harness.cli import _register, cli
from harness.core.paths import models_dir
from harness.corpus.vocabulary import KWS12_LABELS
from harness.frontends.base import quantize
from harness.frontends.mfcc import features
from harness.modelgen.trained_dscnn import tflite_from_onnx
from harness.registry.models import ModelRegistry
from harness.runs.evaluation import resolve_corpus
from harness.runtimes import RuntimeOptions, get_runtime

_register()
NAMES = ("dscnn-kws12", "dscnn-kws12-int8", "dscnn-kws12-onnx", "dscnn-kws12-int8-onnx")
MODELS = models_dir()


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry(MODELS)


def test_entries_are_pinned_trained_kws_models(registry: ModelRegistry) -> None:
    for name in NAMES:
        entry = registry.get(name)
        path = entry.artifact_path()  # checks the sha256
        assert path.stat().st_size < 200_000
        assert entry.evaluate and entry.task.value == "kws" and tuple(entry.labels or ()) == KWS12_LABELS
        assert entry.frontend == "mlperf_mfcc"
    assert (MODELS / "dscnn-kws12.md").is_file() and (MODELS / "dscnn-kws12.data.json").is_file()


def test_tflite_artifacts_are_the_onnx_graphs_written_by_modelgen(registry: ModelRegistry) -> None:
    float_onnx = onnx.load(str(registry.get("dscnn-kws12-onnx").artifact_path()))
    qdq_onnx = onnx.load(str(registry.get("dscnn-kws12-int8-onnx").artifact_path()))
    float_tflite, int8_tflite = tflite_from_onnx(float_onnx, qdq_onnx, float_onnx.doc_string)
    assert float_tflite == registry.get("dscnn-kws12").artifact_path().read_bytes()
    assert int8_tflite == registry.get("dscnn-kws12-int8").artifact_path().read_bytes()


def _outputs(path: Path, runtime: str, clips: list[np.ndarray]) -> np.ndarray:
    session = get_runtime(runtime).load(path, RuntimeOptions())
    try:
        info = session.inputs[0]
        return np.stack([session.run([quantize(features(c).reshape(info.shape), info.scale, info.zero_point,
                                               info.dtype)])[0].reshape(-1) for c in clips])
    finally:
        session.close()


def test_every_artifact_runs_and_the_runtimes_agree(registry: ModelRegistry) -> None:
    corpus = resolve_corpus("builtin:kws12-tiny")
    from harness.corpus.audio import read_corpus_wav

    clips = [read_corpus_wav(corpus.path / p) for p in corpus.manifest["path"][:24]]
    paths = {name: registry.get(name).artifact_path() for name in NAMES}
    tflm = _outputs(paths["dscnn-kws12-int8"], "tflm", clips)
    litert = _outputs(paths["dscnn-kws12-int8"], "litert", clips)
    assert tflm.dtype == np.int8 and np.array_equal(tflm, litert)  # both integer-exact reference arithmetic
    float_tflite = _outputs(paths["dscnn-kws12"], "litert", clips)
    float_onnx = _outputs(paths["dscnn-kws12-onnx"], "onnxruntime", clips)
    np.testing.assert_allclose(float_tflite, float_onnx, atol=1e-4)
    qdq = _outputs(paths["dscnn-kws12-int8-onnx"], "onnxruntime", clips)
    assert qdq.shape == (24, 12) and np.allclose(qdq.sum(axis=1), 1.0, atol=0.05)


def test_eval_scores_all_four_per_group_with_intervals() -> None:
    result = CliRunner().invoke(cli, ["eval", *[a for n in NAMES for a in ("--model", n)], "--corpus",
                                      "builtin:kws12-tiny", "--workers", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    run = Path(result.stdout.strip().splitlines()[-1])
    predictions = pd.read_parquet(run / "raw" / "predictions.parquet")
    fairness = pd.read_csv(run / "fairness.csv")
    accuracy = fairness[fairness["metric"] == "accuracy"]
    assert set(accuracy["model"]) == set(NAMES)
    for name in NAMES:
        rows = accuracy[accuracy["model"] == name]
        assert set(rows.loc[rows["attribute"] == "accent", "group"]) == {"en-us", "es"}
        overall = rows[rows["attribute"] == "overall"].iloc[0]
        assert overall["value"] == pytest.approx(predictions.loc[predictions["model"] == name, "correct"].mean())
        assert (rows["ci_low"] <= rows["value"]).all() and (rows["value"] <= rows["ci_high"]).all()
    expected = predictions.loc[predictions["label"] == "bed", "expected"]
    assert set(expected) <= {"_unknown_"}
