"""Dask figures: evaluation throughput on a 2-worker local Dask cluster against the local 2-process pool.

Same clips and models as the evaluation group (bench/evaluation.py). Both rates are steady state, timed
from the second finished chunk (every worker has loaded its models by then) to the last; the ratio is what
Dask's engine (task submission, serialising rows back, the controller's writes) costs over the process pool.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.evaluation import CHUNK_CLIPS, bench_corpus
from bench.overhead import OVERHEAD_MODELS
from harness.core.paths import models_dir
from harness.corpus.directory import Corpus
from harness.evaluation.engine import EvalSettings, evaluate
from harness.registry.models import ModelEntry, ModelRegistry

WORKERS = 2
COMMAND = "python -m bench.run --only dask"


def steady_rate(entries: list[ModelEntry], corpus: Corpus, settings: EvalSettings) -> float:
    """Clips/s between the WORKERS-th and the last finished chunk of a fresh evaluation."""
    stamps: list[tuple[float, int]] = []

    def progress(_label: str, done: int, _total: int) -> None:
        stamps.append((time.perf_counter(), done))

    with tempfile.TemporaryDirectory(prefix="bench-dask-") as work:
        evaluate(entries, corpus, Path(work), settings, progress)
    finished = [(t, d) for t, d in stamps if d > 0]
    (t0, d0), (t1, d1) = finished[WORKERS - 1], finished[-1]
    return (d1 - d0) * CHUNK_CLIPS / (t1 - t0)


def dask_figures() -> dict[str, dict[str, Any]]:
    from harness.cluster.local import start_local_cluster

    registry = ModelRegistry(models_dir())
    entries = [registry.get(name) for name in OVERHEAD_MODELS]
    corpus = bench_corpus()
    pool = steady_rate(entries, corpus, EvalSettings(workers=WORKERS, chunk_clips=CHUNK_CLIPS))
    with start_local_cluster(WORKERS, port=0) as cluster:
        dask = steady_rate(entries, corpus, EvalSettings(chunk_clips=CHUNK_CLIPS, scheduler=cluster.scheduler_address))
    common = {"clips": len(corpus.manifest), "models": list(OVERHEAD_MODELS), "workers": WORKERS,
              "chunk_clips": CHUNK_CLIPS, "command": COMMAND}
    return {
        "eval_dask_clips_per_s": {"value": round(dask, 2), "unit": "clips/s", **common,
                                  "note": "a local Dask cluster on 127.0.0.1: scheduler + 2 single-threaded workers"},
        "eval_dask_overhead_ratio": {"value": round(pool / dask, 3), "goal": 1.1,
                                     "clips_per_s": {"process_pool": round(pool, 2), "dask": round(dask, 2)},
                                     **common, "note": "process-pool clips/s / Dask clips/s, same machine, "
                                                       "same run: above 1 is Dask's cost"},
    }
