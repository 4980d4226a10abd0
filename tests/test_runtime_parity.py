"""Cross-runtime parity on a fixed slice of the tiny corpus: float32 and int8 variants of one keyword spotter
(tests/kws_variants.py) through LiteRT, TFLite Micro and ONNX Runtime."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from kws_fixture import CORPUS
from kws_variants import build_variants
from onnx import numpy_helper

from harness.cli import _register, cli
from harness.evaluation.runtime_parity import FLOAT_TOLERANCE, parity, run_everywhere, slice_clips
from harness.registry.models import entry_from_yaml
from harness.runs.evaluation import resolve_corpus

CLIPS = 12
_register()


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    variants = build_variants(tmp_path_factory.mktemp("parity"))
    entries = [entry_from_yaml(path) for path in variants.entries.values()]
    found = parity(entries, resolve_corpus(CORPUS), CLIPS)
    directory = next(iter(variants.entries.values())).parent
    return {(p.a, p.b): p for p in found} | {"features": variants.features, "directory": directory}


def test_every_pair_of_runs_is_compared_on_the_same_slice(pairs: dict) -> None:
    runs = ["kws-f32@litert", "kws-f32@tflm", "kws-i8@litert", "kws-i8@tflm", "kws-f32-onnx@onnxruntime",
            "kws-i8-onnx@onnxruntime"]
    compared = {k for k in pairs if k not in ("features", "directory")}
    assert len(compared) == len(runs) * (len(runs) - 1) // 2
    assert all(p.n == CLIPS for k, p in pairs.items() if k not in ("features", "directory"))


def test_one_model_agrees_with_itself_across_runtimes(pairs: dict) -> None:
    int8 = pairs[("kws-i8@litert", "kws-i8@tflm")]
    assert int8.top1_agreement == 1.0 and int8.max_abs_diff == 0.0  # reference kernels are bit-exact
    assert int8.tolerance == pytest.approx(1 / 256) and int8.within_tolerance
    f32 = pairs[("kws-f32@litert", "kws-f32@tflm")]
    assert f32.top1_agreement == 1.0 and f32.max_abs_diff <= FLOAT_TOLERANCE


def test_float_tflite_and_float_onnx_compute_the_same_function(pairs: dict) -> None:
    pair = pairs[("kws-f32@litert", "kws-f32-onnx@onnxruntime")]
    assert pair.top1_agreement == 1.0 and pair.max_abs_diff < 1e-5 and pair.tolerance is None
    assert "two float variants" in pair.cause


def test_the_float_scores_are_numpys_softmax_of_the_fitted_layer(pairs: dict) -> None:
    directory = pairs["directory"]
    init = {t.name: numpy_helper.to_array(t) for t in onnx.load(directory / "kws-f32-onnx.onnx").graph.initializer}
    logits = pairs["features"][:CLIPS].astype(np.float64) @ init["w"] + init["b"]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    corpus = resolve_corpus(CORPUS)
    for run in run_everywhere(entry_from_yaml(directory / "kws-f32.yaml"), corpus, slice_clips(corpus, CLIPS)):
        assert run.scores == pytest.approx(probs, abs=1e-5), run.runtime
    quantization = pairs[("kws-f32@litert", "kws-i8@litert")]
    assert quantization.max_abs_diff > 0 and "quantization" in quantization.cause
    for d in quantization.disagreements:
        assert d["top1_a"] != d["top1_b"] and d["explanation"]


def test_disagreements_are_explained_as_near_ties_or_divergence(pairs: dict) -> None:
    for key, pair in pairs.items():
        if key in ("features", "directory"):
            continue
        assert len(pair.disagreements) == round((1 - pair.top1_agreement) * pair.n)
        for d in pair.disagreements:
            assert d["explanation"].startswith("near tie" if d["near_tie"] else "not a near tie")


def test_the_parity_command_reports_every_pair_and_exits_0_without_drift(pairs: dict) -> None:
    directory = pairs["directory"]
    spec = ",".join(str(directory / f"{n}.yaml") for n in ("kws-f32", "kws-i8"))
    result = CliRunner().invoke(cli, ["parity", spec, "--corpus", CORPUS, "--clips", "4", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)["pairs"]
    assert len(records) == 6 and all(r["n"] == 4 for r in records)


TRAINED_PREFIX = "dscnn-kws12"  # the trained DS-CNN's variants (issue 15), once registered


def test_the_registered_trained_variants_agree_with_themselves_across_runtimes() -> None:
    from harness.cli.common import models

    registry = models()
    entries = [registry.get(n) for n in registry.names() if n.startswith(TRAINED_PREFIX)]
    if not entries:
        pytest.skip(f"no registered model named {TRAINED_PREFIX}*: the trained artifacts have not landed")
    for pair in parity(entries, resolve_corpus(CORPUS), 16):
        if pair.tolerance is not None:  # one model in two runtimes: rounding only
            assert pair.top1_agreement == 1.0 and pair.within_tolerance, pair.record()
        assert len(pair.disagreements) == round((1 - pair.top1_agreement) * pair.n)


def test_a_flip_is_a_near_tie_only_when_the_difference_is_small_and_the_margin_within_it() -> None:
    from harness.evaluation.runtime_parity import RuntimeScores, _explain

    labels = ["yes", "no", "up"]
    a = RuntimeScores("f32", "litert", False, 0.0, np.array([[0.50, 0.48, 0.02], [0.9, 0.05, 0.05]]))
    b = RuntimeScores("i8", "litert", True, 1 / 256, np.array([[0.47, 0.51, 0.02], [0.2, 0.75, 0.05]]))
    tie = _explain("c0", a, b, 0, labels)
    assert tie["near_tie"] and tie["max_abs_diff"] == pytest.approx(0.03)
    assert (tie["top1_a"], tie["top1_b"]) == ("yes", "no") and tie["explanation"].startswith("near tie")
    far = _explain("c1", a, b, 1, labels)
    assert not far["near_tie"] and far["max_abs_diff"] == pytest.approx(0.7)
    assert "different functions" in far["explanation"] and "i8 are different variants" in far["explanation"]
    same = _explain("c1", a, RuntimeScores("f32", "onnxruntime", False, 0.0, b.scores), 1, labels)
    assert "one model in two runtimes should not differ so" in same["explanation"]
