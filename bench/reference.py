"""Side by side with the reference implementations, on the same clips, one model and one worker at a time.

The harness's evaluation (``evaluate`` with one worker, model load and chunk files included) against
the packages' own streaming loops, fed the clip in 80 ms chunks from a fresh state as a device would:
pyopen-wakeword's ``OpenWakeWordFeatures`` + ``OpenWakeWord.process_streaming`` and pymicro-wakeword's
``MicroWakeWordFeatures`` + ``MicroWakeWord.process_streaming``. A reference model's time is its
front-end loop (run once per clip and shared by the family's models, as the harness shares it, so
counted in full for each model) plus its own loop. A decision is whether the clip fires at all: the
harness's ``predicted`` against "the loop reported a detection" (a probability above the model's
cutoff for openWakeWord, ``process_streaming`` True for microWakeWord).

The batched vs step-by-step figure evaluates the openWakeWord models with ``max_batch`` 64 and 1.
Times are this process's CPU seconds (everything runs in it: ``evaluate`` with one worker scores
in-process), which a shared machine's load disturbs far less than wall time.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.evaluation import bench_corpus
from harness.core.paths import models_dir
from harness.corpus.directory import Corpus
from harness.evaluation.engine import MAX_BATCH, EvalSettings, evaluate, read_clip
from harness.evaluation.streaming import smooth
from harness.registry.models import ModelEntry, ModelRegistry
from harness.runtimes import RuntimeOptions

OWW_MODELS = ("oww-alexa", "oww-hey-jarvis", "oww-hey-mycroft", "oww-okay-nabu", "oww-hey-rhasspy")
MWW_MODELS = ("mww-alexa", "mww-hey-jarvis", "mww-hey-mycroft", "mww-okay-nabu")
N_CLIPS = 40  # the openWakeWord reference loop takes ~0.7 s per clip, so its sample stays small
N_CLIPS_MWW = 240  # microWakeWord's loops take ~6 ms per clip: a sample large enough that per-evaluation
# costs (model load, chunk files) do not dominate a figure of a quarter of a second
MWW_ROUNDS = 3  # both loops cost the same kernels per step, so the ratio is near 1 and load noise decides it
CHUNK_BYTES = 1280 * 2  # 80 ms of 16-bit samples
COMMAND = "python -m bench.run --only reference"


def harness_run(entry: ModelEntry, corpus: Corpus, max_batch: int = MAX_BATCH) -> tuple[float, dict[str, bool]]:
    """Seconds for a fresh one-worker evaluation of one model, and each clip's ``predicted``."""
    settings = EvalSettings(workers=1, options_int8=RuntimeOptions(max_batch=max_batch),
                            options_float=RuntimeOptions(xnnpack=True, max_batch=max_batch))
    with tempfile.TemporaryDirectory(prefix="bench-ref-") as work:
        t0 = time.process_time()
        predictions, _ = evaluate([entry], corpus, Path(work), settings)
        seconds = time.process_time() - t0
    return seconds, dict(zip(predictions["clip_id"], predictions["predicted"].astype(bool), strict=True))


def _chunks(audio: np.ndarray) -> list[bytes]:
    data = audio.tobytes()
    return [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]


def _fires(probs: list[float], entry: ModelEntry) -> bool:
    assert entry.decision is not None
    return bool(len(probs)) and bool((smooth(probs, entry.decision.window) > entry.decision.cutoff).any())


def oww_reference(entries: list[ModelEntry], clips: dict[str, np.ndarray]) -> dict[str, tuple[float, dict[str, bool]]]:
    """Per model: reference seconds (shared feature loop + its head loop) and each clip's decision."""
    from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures

    t0 = time.process_time()
    features = OpenWakeWordFeatures.from_builtin()
    per_clip = {}
    for clip_id, audio in clips.items():
        features.reset()
        per_clip[clip_id] = [emb for chunk in _chunks(audio) for emb in features.process_streaming(chunk)]
    feature_s = time.process_time() - t0
    out = {}
    for entry in entries:
        t0 = time.process_time()
        head = OpenWakeWord.from_model(entry.artifact_path())
        decisions = {}
        for clip_id, embeddings in per_clip.items():
            head.reset()
            probs = [p for emb in embeddings for p in head.process_streaming(emb)]
            decisions[clip_id] = _fires(probs, entry)
        head.close()
        out[entry.name] = (feature_s + time.process_time() - t0, decisions)
    return out


def mww_reference(entries: list[ModelEntry], clips: dict[str, np.ndarray]) -> dict[str, tuple[float, dict[str, bool]]]:
    """Per model: reference seconds (shared feature loop + its model loop) and each clip's decision."""
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

    t0 = time.process_time()
    features = MicroWakeWordFeatures()
    per_clip = {}
    for clip_id, audio in clips.items():
        features.reset()
        per_clip[clip_id] = [f for chunk in _chunks(audio) for f in features.process_streaming(chunk)]
    feature_s = time.process_time() - t0
    out = {}
    for entry in entries:
        t0 = time.process_time()
        model = MicroWakeWord.from_config(entry.artifact_path().with_suffix(".json"))
        decisions = {}
        for clip_id, frames in per_clip.items():
            model.reset()
            decisions[clip_id] = any(model.process_streaming(f) for f in frames)
        model.close()
        out[entry.name] = (feature_s + time.process_time() - t0, decisions)
    return out


def _side_by_side(entries: list[ModelEntry], corpus: Corpus,
                  reference: Callable[[], dict[str, tuple[float, dict[str, bool]]]],
                  goal: float, rounds: int = 1) -> dict[str, Any]:
    """Per model, the best of ``rounds`` alternating runs of each side (the least disturbed by other load)."""
    harness_s: dict[str, float] = {}
    reference_s: dict[str, float] = {}
    ours: dict[str, dict[str, bool]] = {}
    theirs: dict[str, dict[str, bool]] = {}
    for _ in range(rounds):
        for name, (seconds, decisions) in reference().items():
            reference_s[name] = min(seconds, reference_s.get(name, seconds))
            theirs[name] = decisions
        for entry in entries:
            seconds, ours[entry.name] = harness_run(entry, corpus)
            harness_s[entry.name] = min(seconds, harness_s.get(entry.name, seconds))
    per_model = {}
    for entry in entries:
        name = entry.name
        agree = np.mean([ours[name][c] == theirs[name][c] for c in theirs[name]])
        per_model[name] = {"speed_ratio": round(reference_s[name] / harness_s[name], 2),
                           "decision_agreement": float(agree),
                           "harness_s": round(harness_s[name], 3), "reference_s": round(reference_s[name], 3)}
    return {"value": min(m["speed_ratio"] for m in per_model.values()), "goal": goal,
            "decision_agreement": min(m["decision_agreement"] for m in per_model.values()),
            "per_model": per_model, "clips": len(corpus.manifest), "rounds": rounds, "command": COMMAND,
            "note": "reference loop CPU s / harness evaluation CPU s, one worker, same clips, best of the rounds "
                    "for each side; value = worst model"}


def _clips(corpus: Corpus) -> dict[str, np.ndarray]:
    return {str(r["clip_id"]): read_clip(corpus.path, r) for r in corpus.manifest.to_dict("records")}


def reference_figures(n_clips: int = N_CLIPS, n_clips_mww: int = N_CLIPS_MWW) -> dict[str, dict[str, Any]]:
    registry = ModelRegistry(models_dir())
    corpus, corpus_mww = bench_corpus(n_clips, seed=1), bench_corpus(n_clips_mww, seed=1)
    oww = [registry.get(n) for n in OWW_MODELS]
    mww = [registry.get(n) for n in MWW_MODELS]
    clips, clips_mww = _clips(corpus), _clips(corpus_mww)
    figures = {
        "reference_oww_speed_ratio": _side_by_side(oww, corpus, lambda: oww_reference(oww, clips), goal=5.0),
        "reference_mww_speed_ratio": _side_by_side(mww, corpus_mww, lambda: mww_reference(mww, clips_mww),
                                                   goal=1.0, rounds=MWW_ROUNDS),
    }
    batched = {}
    for entry in oww:
        step_s, step_decisions = harness_run(entry, corpus, max_batch=1)
        batch_s, batch_decisions = harness_run(entry, corpus)
        assert step_decisions == batch_decisions, f"{entry.name}: batched decisions differ"
        batched[entry.name] = round(step_s / batch_s, 3)
    figures["batched_vs_step_by_step"] = {
        "value": min(batched.values()), "goal": 2.0, "per_model": batched, "clips": len(corpus.manifest),
        "command": COMMAND, "max_batch": MAX_BATCH,
        "note": "one-worker evaluation CPU s with max_batch 1 / with max_batch 64 (embedding model and heads batched)"}
    return figures

