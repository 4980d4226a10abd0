"""Peak memory of an evaluation as the corpus grows: 1,000 and 50,000 clips, each in a fresh process.

The corpus is generated in a temporary folder: 50 short clips (the first 0.5 s of demo-corpus clips,
labels and groups kept) and, for each manifest row, a hard link to one of them, so 50,000 rows cost
50 WAVs of disk. Each size is evaluated by ``evaluate`` (one worker, in the child process itself, so
its peak RSS is the whole evaluation's) with one microWakeWord model; the child reports
``ru_maxrss`` of itself.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from bench.evaluation import bench_corpus
from harness.corpus.audio import read_corpus_wav, write_wav
from harness.corpus.directory import load_corpus

SIZES = (1_000, 50_000)
SOURCE_CLIPS = 50
CLIP_SAMPLES = 8000  # 0.5 s
MODEL = "mww-okay-nabu"
COLUMNS = ("label", "speaker", "kind", "accent", "accent_group", "gender", "noise")
COMMAND = "python -m bench.run --only memory"


def generate_corpus(out: Path, n_clips: int) -> Path:
    """A corpus folder of ``n_clips`` rows over ``SOURCE_CLIPS`` short WAVs (hard links)."""
    source = bench_corpus(SOURCE_CLIPS, seed=2)
    (out / "source").mkdir(parents=True, exist_ok=True)
    (out / "clips").mkdir(exist_ok=True)
    originals = []
    for i, row in enumerate(source.manifest.to_dict("records")):
        path = out / "source" / f"s{i:03d}.wav"
        write_wav(path, read_corpus_wav(source.path / row["path"])[:CLIP_SAMPLES])
        originals.append((path, {c: row[c] for c in COLUMNS if c in row}))
    rows = []
    for n in range(n_clips):
        path, fields = originals[n % len(originals)]
        name = f"clips/c{n:06d}.wav"
        os.link(path, out / name)
        rows.append({"clip_id": f"c{n:06d}", "path": name, **fields, "duration_s": CLIP_SAMPLES / 16000})
    pd.DataFrame(rows).to_parquet(out / "manifest.parquet", index=False)
    return out


def _peak_rss_of_evaluation(corpus_dir: str) -> dict[str, float]:
    """In a fresh process: load the corpus, evaluate it with one worker; this process's peak RSS in MiB."""
    from harness.core.paths import models_dir
    from harness.evaluation.engine import EvalSettings, evaluate
    from harness.registry.models import ModelRegistry

    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    entry = ModelRegistry(models_dir()).get(MODEL)
    corpus = load_corpus(Path(corpus_dir))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as work:
        predictions, steps = evaluate([entry], corpus, Path(work), EvalSettings(workers=1))
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024  # ru_maxrss is KiB on Linux, bytes on macOS
    return {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale,
            "start_rss_mib": start / scale, "rows": float(len(predictions)), "seconds": time.perf_counter() - t0}


def memory_figures() -> dict[str, dict[str, Any]]:
    measured = {}
    for n in SIZES:
        with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
            corpus_dir = generate_corpus(Path(tmp), n)
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                measured[n] = pool.submit(_peak_rss_of_evaluation, str(corpus_dir)).result()
    small, large = (measured[n] for n in SIZES)
    return {"eval_peak_rss_ratio": {
        "value": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3), "limit": 1.5,
        "peak_rss_mib": {str(n): round(m["peak_rss_mib"], 1) for n, m in measured.items()},
        "eval_s": {str(n): round(m["seconds"], 1) for n, m in measured.items()},
        "model": MODEL, "clip_s": CLIP_SAMPLES / 16000, "command": COMMAND,
        "note": "peak RSS of a one-worker evaluation (corpus load, engine, assembled results) in a fresh "
                "process, 50,000 clips / 1,000 clips"}}
