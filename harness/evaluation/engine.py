"""Evaluate models on a corpus: parallel over clip chunks, resumable, one row per (model, clip).

Clips are split into fixed chunks. Each worker loads every model once, reads each clip once,
computes each distinct front end once, and scores every model. A finished chunk is written to
``raw/eval/chunk-NNNNN.parquet`` before the next is reported, so a crash loses at most the chunks
in flight and a resumed evaluation skips the rest. The pool starts the longest chunks first and
queues at most two per worker; each chunk's clip rows are built when it is queued, so memory does not
grow with the corpus beyond the results themselves.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.errors import DataError
from harness.core.progress import Progress
from harness.corpus.audio import AudioError, read_corpus_wav
from harness.corpus.directory import Corpus
from harness.evaluation.scoring import Scorer, make_scorer
from harness.registry.models import ModelEntry
from harness.rundir import contract
from harness.runtimes import RuntimeOptions

CHUNK_CLIPS = 24
IN_FLIGHT_PER_WORKER = 2  # chunks queued per worker process
MAX_BATCH = 64  # rows per invoke for frame-independent models and front ends (RuntimeOptions.max_batch)
PREDICTION_BASE = ("model", "clip_id", "path", "label", "speaker")


@dataclass(frozen=True)
class EvalSettings:
    workers: int = 1
    chunk_clips: int = CHUNK_CLIPS
    options_int8: RuntimeOptions = RuntimeOptions(max_batch=MAX_BATCH)
    options_float: RuntimeOptions = RuntimeOptions(xnnpack=True, max_batch=MAX_BATCH)
    scheduler: str | None = None  # a Dask scheduler address: chunks become shards on its workers (sharded.py)

    def options_for(self, entry: ModelEntry) -> RuntimeOptions:
        """XNNPACK for float models (fast, numerically benign); builtin kernels for int8 models."""
        return self.options_float if entry.format == "onnx" or "float" in _dtype_hint(entry) else self.options_int8


def _dtype_hint(entry: ModelEntry) -> str:
    spec = entry.input or (entry.stages[0].input if entry.stages else None)
    return spec.dtype if spec else ""


_WORKER: dict[str, Any] = {}


def load_scorers(entries: list[ModelEntry], settings: EvalSettings) -> list[Scorer]:
    return [make_scorer(e, settings.options_for(e)) for e in entries]


def _init_worker(entries: list[ModelEntry], settings: EvalSettings) -> None:
    _WORKER["scorers"] = load_scorers(entries, settings)


def _score_chunk(corpus_dir: str, clips: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return score_chunk(_WORKER["scorers"], corpus_dir, clips)


def score_chunk(scorers: list[Scorer], corpus_dir: str,
                clips: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows and per-step scores for every (model, clip) of one chunk."""
    rows, steps = [], []
    for clip in clips:
        audio = read_clip(Path(corpus_dir), clip)
        cache: dict[tuple[str, ...], np.ndarray] = {}
        for scorer in scorers:
            if scorer.feature_key not in cache:
                cache[scorer.feature_key] = scorer.features(audio)
            fields, per_step = scorer.score(cache[scorer.feature_key], clip)
            rows.append({"model": scorer.entry.name, "clip_id": clip["clip_id"], **fields})
            steps.append({"model": scorer.entry.name, "clip_id": clip["clip_id"],
                          "scores": per_step.astype(np.float32)})
    return rows, steps


def read_clip(corpus_dir: Path, clip: dict[str, Any]) -> np.ndarray:
    """A clip's int16 samples as stored: audio not in the corpus format is refused, never silently converted."""
    path = corpus_dir / str(clip["path"])
    if not path.is_file():
        raise DataError(f"{corpus_dir}: clip '{clip['clip_id']}' names a missing file {path}")
    try:
        return read_corpus_wav(path)
    except AudioError as exc:
        raise DataError(f"{corpus_dir}: clip '{clip['clip_id']}': {path}: {exc.reason}", hint=exc.hint) from None


def evaluate(
    entries: list[ModelEntry],
    corpus: Corpus,
    work_dir: Path,
    settings: EvalSettings = EvalSettings(),
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (predictions, per-step scores); chunk files in ``work_dir`` make it resumable."""
    work_dir.mkdir(parents=True, exist_ok=True)
    manifest = corpus.manifest.reset_index(drop=True)
    n_chunks = -(-len(manifest) // settings.chunk_clips)
    todo = [i for i in range(n_chunks) if not _chunk_path(work_dir, i).is_file()]
    done = n_chunks - len(todo)

    def clips_of(index: int) -> list[dict[str, Any]]:  # built per chunk, so no whole-corpus list of rows exists
        return clip_records(manifest.iloc[index * settings.chunk_clips:(index + 1) * settings.chunk_clips])

    def finished(index: int, result: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        nonlocal done
        _save_chunk(work_dir, index, *result)
        done += 1
        if progress:
            progress("clips", done, n_chunks)

    if progress:
        progress("clips", done, n_chunks)
    if todo and settings.scheduler:
        from harness.evaluation.sharded import score_on_cluster

        score_on_cluster(settings.scheduler, entries, settings, corpus.path, {i: clips_of(i) for i in todo},
                         lambda i, rows, steps: _save_chunk(work_dir, i, rows, steps),
                         work_dir / Path(contract.EVAL_SHARDS).name, n_chunks, progress)
    elif todo and settings.workers <= 1:
        _init_worker(entries, settings)
        for i in todo:
            finished(i, _score_chunk(str(corpus.path), clips_of(i)))
    elif todo:
        with ProcessPoolExecutor(settings.workers, mp_context=get_context("spawn"),
                                 initializer=_init_worker, initargs=(entries, settings)) as pool:
            queue = iter(sorted(todo, key=lambda i: -_chunk_seconds(manifest, i, settings.chunk_clips)))
            running: dict[Future, int] = {}

            def submit_next() -> None:
                index = next(queue, None)
                if index is not None:
                    running[pool.submit(_score_chunk, str(corpus.path), clips_of(index))] = index

            for _ in range(IN_FLIGHT_PER_WORKER * settings.workers):  # a bounded queue, not every chunk at once
                submit_next()
            while running:
                for future in wait(running, return_when=FIRST_COMPLETED).done:
                    finished(running.pop(future), future.result())
                    submit_next()
    return _assemble(work_dir, n_chunks, manifest, corpus.group_columns)


def clip_records(part: pd.DataFrame) -> list[dict[str, Any]]:
    """Manifest rows as plain dicts, a missing value (NaN, NA) as None."""
    return [{k: None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for k, v in row.items()}
            for row in part.to_dict("records")]


def _chunk_seconds(manifest: pd.DataFrame, index: int, chunk_clips: int) -> float:
    """A chunk's audio seconds (its clip count without durations): the pool starts the longest chunks first,
    so a chunk of long streams at the end of the manifest does not run alone after every other chunk."""
    part = manifest.iloc[index * chunk_clips:(index + 1) * chunk_clips]
    if "duration_s" not in part.columns:
        return float(len(part))
    return float(pd.to_numeric(part["duration_s"], errors="coerce").fillna(1.0).sum())


def _chunk_path(work_dir: Path, index: int) -> Path:
    return work_dir / Path(contract.eval_chunk(index)).name


def _save_chunk(work_dir: Path, index: int, rows: list[dict[str, Any]], steps: list[dict[str, Any]]) -> None:
    scores = {(s["model"], s["clip_id"]): s["scores"] for s in steps}
    table = pd.DataFrame([{**row, "scores": scores[row["model"], row["clip_id"]]} for row in rows])
    tmp = work_dir / f".{_chunk_path(work_dir, index).name}.tmp"
    table.to_parquet(tmp, index=False)
    os.replace(tmp, _chunk_path(work_dir, index))


def _assemble(work_dir: Path, n_chunks: int, manifest: pd.DataFrame,
              groups: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    scored = pd.concat([pd.read_parquet(_chunk_path(work_dir, i)) for i in range(n_chunks)], ignore_index=True)
    steps = scored[["model", "clip_id", "scores"]]
    return with_clip_columns(scored.drop(columns=["scores"]), manifest, groups), steps


def with_clip_columns(scored: pd.DataFrame, manifest: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Scored rows joined with their clip's manifest columns, in the column order of raw/predictions.parquet."""
    clip_cols = [c for c in ("clip_id", "path", "label", "speaker", "kind", *groups, "duration_s",
                             "phrase_start_s", "phrase_end_s") if c in manifest.columns]
    predictions = scored.merge(manifest[list(dict.fromkeys(clip_cols))], on="clip_id")
    if "duration_s" not in predictions.columns:
        predictions["duration_s"] = np.nan
    front = [c for c in PREDICTION_BASE if c in predictions.columns]
    rest = [c for c in predictions.columns if c not in front]
    return predictions[front + rest]
