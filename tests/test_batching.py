"""Batched invokes of frame-independent models give the step-by-step outputs, and the same decisions.

Real models over a slice of the tiny corpus: the openWakeWord embedding model and heads (float32,
within ``BATCH_FLOAT_TOLERANCE``; bit-exact under XNNPACK here), the int8 DS-CNN (bit-exact), and
the melspectrogram model, whose windows interact in a batch and so must never share an invoke.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from harness.core.paths import models_dir
from harness.evaluation.engine import EvalSettings, read_clip
from harness.evaluation.scoring import make_scorer
from harness.frontends import oww
from harness.modelgen import build_artifact
from harness.registry.models import ModelRegistry
from harness.runs.evaluation import resolve_corpus
from harness.runtimes import RuntimeOptions, get_runtime
from harness.runtimes.base import BATCH_FLOAT_TOLERANCE, same_outputs

OWW_MODELS = ["oww-alexa", "oww-hey-jarvis", "oww-hey-mycroft", "oww-okay-nabu", "oww-hey-rhasspy"]


@pytest.fixture(scope="module")
def clips() -> list[tuple[dict, np.ndarray]]:
    """Twelve clips of the tiny corpus: positives of two phrases and negatives, streams left out."""
    corpus = resolve_corpus("builtin:tiny")
    manifest = corpus.manifest[corpus.manifest["kind"] != "stream"]
    picked = manifest.groupby("label", group_keys=False).head(2).head(12)
    records = picked.astype(object).where(picked.notna(), None).to_dict("records")
    return [(r, read_clip(corpus.path, r)) for r in records]


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry(models_dir())


def _plain(row: dict) -> dict:
    """The row with NaN as None, so two rows compare equal when their missing values are."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def _options(xnnpack: bool, max_batch: int) -> RuntimeOptions:
    return RuntimeOptions(xnnpack=xnnpack, max_batch=max_batch)


@pytest.mark.parametrize("xnnpack", [True, False], ids=["xnnpack", "builtin"])
def test_oww_scores_and_decisions_match_step_by_step(clips, registry, xnnpack) -> None:
    stepwise = [make_scorer(registry.get(n), _options(xnnpack, 1)) for n in OWW_MODELS]
    batched = [make_scorer(registry.get(n), _options(xnnpack, 64)) for n in OWW_MODELS]
    worst = 0.0
    for clip, audio in clips:
        feats_step, feats_batch = stepwise[0].features(audio), batched[0].features(audio)
        assert same_outputs(feats_batch, feats_step)
        worst = max(worst, float(np.abs(feats_batch - feats_step).max()))
        for a, b in zip(stepwise, batched, strict=True):
            row_a, probs_a = a.score(feats_step, clip)
            row_b, probs_b = b.score(feats_step, clip)  # same features: the head alone
            if xnnpack:
                assert _plain(row_a) == _plain(row_b)
            else:  # builtin float kernels: the score may move in the last bits, the decisions may not
                assert _plain({**row_a, "score": 0.0}) == _plain({**row_b, "score": 0.0})
                assert row_a["score"] == pytest.approx(row_b["score"], abs=BATCH_FLOAT_TOLERANCE)
            assert same_outputs(probs_b, probs_a)
            assert b.score(feats_batch, clip)[0]["predicted"] == row_a["predicted"]
    print(f"xnnpack={xnnpack}: largest embedding difference batched vs step by step = {worst:.3g}")
    if xnnpack:
        assert worst == 0.0  # XNNPACK's kernels give every row the same arithmetic whatever the batch


def test_embeddings_run_as_whole_stretches_of_mel_frames(clips, registry) -> None:
    """One invoke per stretch of up to 64 embeddings, each stretch length checked once against the windows."""
    scorer = make_scorer(registry.get("oww-alexa"), _options(True, 64))
    audio = np.concatenate([clips[0][1]] * 4)  # long enough for two stretches
    step = make_scorer(registry.get("oww-alexa"), _options(True, 1)).features(audio)
    assert np.array_equal(scorer.features(audio), step)
    emb = scorer.stages[1]
    n_audio = len(step) - (oww.prefill_embeddings() - 1)
    lengths = {min(64, n_audio - a) for a in range(0, n_audio, 64)}
    assert {shape[1] for shape in emb._reshaped} == {8 * (8 * -(-n // 8) - 1) + 76 for n in lengths}
    assert all(runner is not None for runner in emb._reshaped.values())
    assert set(oww._SEQUENCE_CHECKED[emb].values()) == {True}


class _ShiftedStretches:
    """The embedding session, except that a stretch's embeddings come back one row late (as a model whose
    pooling is not aligned to the 8-frame hop would give them)."""

    def __init__(self, session) -> None:
        self._session = session
        self.max_batch = session.max_batch

    def run_reshaped(self, x: np.ndarray) -> np.ndarray:
        y = self._session.run_reshaped(x).reshape(-1, 96)
        return np.concatenate([y[:1], y[:-1]])

    def __getattr__(self, name: str):
        return getattr(self._session, name)


def test_a_model_whose_stretches_differ_runs_window_by_window(clips, registry) -> None:
    scorer = make_scorer(registry.get("oww-alexa"), _options(True, 64))
    audio = clips[0][1]
    shifted = _ShiftedStretches(scorer.stages[1])
    expected = oww.embeddings(audio, scorer.stages[0], make_scorer(registry.get("oww-alexa"),
                                                                   _options(True, 1)).stages[1])
    for _ in range(2):  # the first call finds the difference, the second does not try again
        assert np.array_equal(oww.embeddings(audio, scorer.stages[0], shifted), expected)
    assert set(oww._SEQUENCE_CHECKED[shifted].values()) == {False}


def test_int8_model_batches_bit_exact() -> None:
    """The int8 fully connected autoencoder of MLPerf Tiny: batches of 8 and 1 give the row-by-row bytes."""
    session = get_runtime("litert").load(build_artifact("mlperf-fc-autoencoder-ad"), RuntimeOptions(max_batch=64))
    rows = np.random.default_rng(3).integers(-128, 128, size=(9, 640)).astype(np.int8)
    stepwise = session.run_each(rows)
    for _ in range(2):  # the first call checks the new 8-row interpreter, the second uses it
        batched = session.run_rows(rows)
        assert batched.dtype == np.int8 and np.array_equal(batched, stepwise)
    assert session._batched[8] is not None


def test_a_model_with_a_fixed_batch_runs_row_by_row(clips, registry) -> None:
    """The DS-CNN reshapes to [1, 64] inside, so LiteRT cannot give it 8 rows: run_rows falls back."""
    scorer = make_scorer(registry.get("mlperf-dscnn-kws"), _options(False, 64))
    rows = np.stack([scorer.model_input(scorer.features(audio))[0] for _, audio in clips[:9]])
    assert np.array_equal(scorer.session.run_rows(rows), scorer.session.run_each(rows))
    assert scorer.session._batched == {8: None}


def test_mel_windows_interact_so_they_run_one_at_a_time(registry) -> None:
    """The melspectrogram model floors at 80 dB below the loudest value of its whole input tensor."""
    entry = registry.get("oww-alexa")
    path = entry.stage_paths()[0]
    litert = get_runtime("litert")
    rng = np.random.default_rng(0)
    windows = np.stack([rng.normal(0, 3000, 1760), np.zeros(1760)]).astype(np.float32)
    one = litert.load(path, RuntimeOptions(), input_shapes=[[1, 1760]])
    two = litert.load(path, RuntimeOptions(), input_shapes=[[2, 1760]])
    together = two.run([windows])[0]
    assert not np.array_equal(together, one.run_each(windows))
    session = litert.load(path, RuntimeOptions(max_batch=64), input_shapes=[[1, 1760]])
    audio = np.concatenate([np.zeros(8000), rng.normal(0, 3000, 16000)]).astype(np.int16)
    assert np.array_equal(oww.mels(audio, session), oww.mels(audio, one))


def _matmul_model(path, batch: int | str) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 2])
    w = helper.make_tensor("w", TensorProto.FLOAT, [3, 2], [1.0, -2.0, 0.5, 3.0, 2.0, 0.25])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "m", [x], [y], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.mark.parametrize("batch", ["N", 1])
def test_onnx_batches_only_a_dynamic_batch_dimension(tmp_path, batch) -> None:
    path = tmp_path / "m.onnx"
    _matmul_model(path, batch)
    rows = np.arange(21, dtype=np.float32).reshape(7, 3)
    session = get_runtime("onnxruntime").load(path, RuntimeOptions(max_batch=4),
                                              input_shapes=[[1, 3]] if batch == "N" else None)
    expected = rows @ np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 0.25]], dtype=np.float32)
    np.testing.assert_allclose(session.run_rows(rows), expected, rtol=1e-6)
    np.testing.assert_allclose(session.run_rows(rows), expected, rtol=1e-6)
    assert session._batching is (batch == "N")


def test_same_outputs_tolerance() -> None:
    step = np.array([[60.0, -1.0]], dtype=np.float32)
    assert same_outputs(step + np.float32(60 * BATCH_FLOAT_TOLERANCE / 2), step)
    assert not same_outputs(step + np.float32(60 * BATCH_FLOAT_TOLERANCE * 2), step)
    assert not same_outputs(np.array([1], np.int8), np.array([2], np.int8))
    assert not same_outputs(step.astype(np.float64), step)
    assert dataclasses.replace(EvalSettings().options_float).max_batch > 1


def test_a_stretch_check_on_a_one_embedding_clip_still_sees_every_row(clips, registry) -> None:
    """The first clip of a stretch length may fill one row of it: the check compares every row (padding
    included), so a model whose later rows are misplaced is caught before a longer clip uses them."""
    scorer = make_scorer(registry.get("oww-alexa"), _options(True, 64))
    windowed = make_scorer(registry.get("oww-alexa"), _options(True, 1)).stages[1]
    shifted = _ShiftedStretches(scorer.stages[1])
    audio = clips[0][1]
    one = np.resize(audio, 1760 + 9 * 1280)  # one embedding without a prefill
    five = np.resize(audio, 1760 + 13 * 1280)  # five: the same stretch length (8)
    for clip in (one, five):
        got = oww.embeddings(clip, scorer.stages[0], shifted, prefill_samples=0)
        assert np.array_equal(got, oww.embeddings(clip, scorer.stages[0], windowed, prefill_samples=0))
    assert oww._SEQUENCE_CHECKED[shifted] == {8: False}
