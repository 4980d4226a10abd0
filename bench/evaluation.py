"""Evaluation figures: clips/s, scaling from 1 to 2 worker processes, and overhead over the raw compute.

All three use the same clips (a seeded sample of the built-in demo corpus, streams excluded so
every chunk costs about the same) and the four microWakeWord models, which share one front end.
Rates are steady state: timed from the first finished chunk to the last, so process start-up and
model load are left out, as the architecture's definition asks.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.overhead import OVERHEAD_MODELS
from harness.core.paths import models_dir
from harness.corpus.audio import load_conformed
from harness.corpus.directory import Corpus
from harness.evaluation.engine import EvalSettings, evaluate
from harness.frontends import micro
from harness.registry.models import ModelEntry, ModelRegistry
from harness.runs.evaluation import resolve_corpus

N_CLIPS = 480
CHUNK_CLIPS = 24
COMMAND = "python -m bench.run --only evaluation"


def bench_corpus(n_clips: int = N_CLIPS, seed: int = 0) -> Corpus:
    """A seeded sample of the demo corpus's clips (streams left out)."""
    corpus = resolve_corpus("builtin:demo")
    clips = corpus.manifest[corpus.manifest["kind"] != "stream"]
    sample = clips.sample(n=min(n_clips, len(clips)), random_state=seed).reset_index(drop=True)
    return dataclasses.replace(corpus, manifest=sample)


def steady_rate(entries: list[ModelEntry], corpus: Corpus, workers: int) -> float:
    """Clips/s between the first and the last finished chunk of a fresh evaluation."""
    stamps: list[tuple[float, int]] = []

    def progress(_label: str, done: int, _total: int) -> None:
        stamps.append((time.perf_counter(), done))

    settings = EvalSettings(workers=workers, chunk_clips=CHUNK_CLIPS)
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as work:
        evaluate(entries, corpus, Path(work), settings, progress)
    finished = [(t, d) for t, d in stamps if d > 0]
    (t0, d0), (t1, d1) = finished[workers - 1], finished[-1]  # after every worker has delivered once
    return (d1 - d0) * CHUNK_CLIPS / (t1 - t0)


def raw_seconds_per_clip(entries: list[ModelEntry], corpus: Corpus) -> float:
    """The irreducible compute: read, micro front end once, then per model a fresh interpreter and its invokes."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    blobs = [e.artifact_path().read_bytes() for e in entries]
    resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    paths = [corpus.path / p for p in corpus.manifest["path"]]

    def one_clip(path: Path) -> None:
        feats = micro.features(load_conformed(path).samples)
        for blob in blobs:
            it = Interpreter(model_content=blob, experimental_op_resolver_type=resolver)
            it.allocate_tensors()
            inp, out = it.get_input_details()[0], it.get_output_details()[0]
            scale, zero = inp["quantization"]
            steps = micro.model_inputs(feats, int(inp["shape"][1]), scale=scale, zero_point=zero,
                                       dtype=inp["dtype"])
            for x in steps:
                it.set_tensor(inp["index"], x)
                it.invoke()
                it.get_tensor(out["index"])

    for path in paths[:CHUNK_CLIPS]:  # warm-up, as the engine's first chunk is left out
        one_clip(path)
    t0 = time.perf_counter()
    for path in paths:
        one_clip(path)
    return (time.perf_counter() - t0) / len(paths)


def evaluation_figures() -> dict[str, dict[str, Any]]:
    registry = ModelRegistry(models_dir())
    entries = [registry.get(name) for name in OVERHEAD_MODELS]
    corpus = bench_corpus()
    rate_1 = steady_rate(entries, corpus, workers=1)
    raw = raw_seconds_per_clip(entries, corpus)
    rate_2 = steady_rate(entries, corpus, workers=2)
    common = {"clips": len(corpus.manifest), "models": list(OVERHEAD_MODELS), "command": COMMAND}
    return {
        "eval_clips_per_s": {"value": round(rate_1, 2), "unit": "clips/s", "workers": 1, **common,
                             "note": "each clip scored by all four models (one shared front end)"},
        "eval_scaling_2_workers": {"value": round(rate_2 / rate_1, 3), "limit": 2.0,
                                   "clips_per_s": {"1": round(rate_1, 2), "2": round(rate_2, 2)}, **common},
        "eval_overhead_ratio": {"value": round(float(1.0 / rate_1 / raw), 3), "goal": 1.3, "limit": 1.0,
                                "raw_ms_per_clip": round(raw * 1e3, 3),
                                "eval_ms_per_clip": round(1e3 / rate_1, 3), **common},
    }


