"""Build the synthetic keyword-spotting corpus directory: clips, manifest, datasheet, corpus.json."""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from harness import __version__
from harness.core.errors import DataError
from harness.core.progress import Progress
from harness.corpus.datasheet import render_datasheet
from harness.corpus.directory import content_sha256
from harness.corpus.espeak import SAMPLE_RATE, espeak_version
from harness.corpus.plan import ClipSpec, plan_clips, size_spec, vocabulary_spec
from harness.corpus.render import render_job
from harness.corpus.vocabulary import Vocabulary

GENERATOR = "harness.corpus.synth"
GENERATOR_VERSION = 2  # 2: KWS corpora other than studio never reuse a studio speaker
MANIFEST = "manifest.parquet"
CORPUS_JSON = "corpus.json"
DATASHEET = "datasheet.md"
_INLINE_BELOW_CLIPS = 64  # by default smaller corpora render in-process: spawning workers costs more


_INT_COLUMNS = ("rate", "pitch", "seed")


def _jobs(specs: list[ClipSpec]) -> list[list[ClipSpec]]:
    """One job per speaker (its utterances are synthesised once) and one per stream, in plan order."""
    jobs: dict[str, list[ClipSpec]] = {}
    for spec in specs:
        jobs.setdefault(spec.speaker.id if spec.speaker else spec.clip_id, []).append(spec)
    return list(jobs.values())


def _render(specs: list[ClipSpec], seed: int, out_dir: Path, workers: int | None,
            progress: Progress | None) -> list[dict]:
    jobs = _jobs(specs)
    if workers is None:
        workers = 1 if len(specs) < _INLINE_BELOW_CLIPS else os.cpu_count() or 1
    workers = min(workers, len(jobs))
    total, done = len(specs), 0
    results: list[list[dict] | None] = [None] * len(jobs)
    if progress:
        progress("clips", 0, total)
    if workers <= 1:
        for i, job in enumerate(jobs):
            results[i] = render_job(job, seed, str(out_dir))
            done += len(job)
            if progress:
                progress("clips", done, total)
    else:
        # spawn: workers start clean (no inherited threads); results are reassembled in plan order
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(render_job, job, seed, str(out_dir)): i for i, job in enumerate(jobs)}
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                done += len(jobs[i])
                if progress:
                    progress("clips", done, total)
    return [row for rows in results for row in rows or []]


def manifest_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as the manifest DataFrame with stable dtypes."""
    frame = pd.DataFrame(rows)
    for column in _INT_COLUMNS:
        frame[column] = frame[column].astype("Int64")
    return frame


def _cached(out_dir: Path, size: str, seed: int, vocabulary: Vocabulary | None) -> bool:
    """True when ``out_dir`` already holds this corpus and its files verify against corpus.json."""
    try:
        info = json.loads((out_dir / CORPUS_JSON).read_text())
        key = ("generator", "generator_version", "size", "seed", "espeak_ng_version")
        if tuple(info.get(k) for k in key) != (GENERATOR, GENERATOR_VERSION, size, seed, espeak_version()):
            return False
        if info.get("vocabulary") != (vocabulary.as_json() if vocabulary else None):
            return False
        return content_sha256(out_dir, pd.read_parquet(out_dir / MANIFEST)) == info.get("content_sha256")
    except (OSError, ValueError, KeyError, DataError):
        return False


def _is_our_corpus(path: Path) -> bool:
    try:
        return json.loads((path / CORPUS_JSON).read_text()).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"corpus output {out_dir} exists and is a file, not a directory",
                        hint="pass --out a new or empty directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not _is_our_corpus(out_dir):
        raise DataError(f"corpus output {out_dir} is not empty and is no synthetic corpus: not overwriting",
                        hint="pass --out a new or empty directory, or one written by `harness corpus synth`")


def synthesize_corpus(out_dir: Path, size: str = "demo", seed: int = 0, progress: Progress | None = None, *,
                      workers: int | None = None, vocabulary: Vocabulary | None = None) -> Path:
    """Synthesize (or reuse, if built and verified) the corpus of ``size`` and ``seed`` in ``out_dir``.

    ``vocabulary`` replaces the built-in wake phrases by a user's words (a KWS vocabulary or a wake word).

    The same size and seed give the same bytes, whatever ``workers`` is. ``progress("clips", done, total)`` is called
    as clips finish. The corpus is built in a sibling directory and moved into place, so an interrupted
    build never leaves a half corpus behind. Returns ``out_dir``.

    ``workers`` > 1 starts processes with the ``spawn`` method: a script calling this must do so under
    ``if __name__ == "__main__":``. By default corpora under 64 clips render in-process.
    """
    out_dir = Path(out_dir)
    spec = size_spec(size) if vocabulary is None else vocabulary_spec(size_spec(size), vocabulary)
    _check_out_dir(out_dir)
    if _cached(out_dir, size, seed, vocabulary):
        return out_dir
    specs = plan_clips(size, seed, vocabulary)
    if len({s.clip_id for s in specs}) != len(specs):
        raise DataError(f"corpus plan for size '{size}' has duplicate clip ids")  # a bug, never a user error
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        rows = _render(specs, seed, staging, workers, progress)
        manifest = manifest_frame(rows)
        manifest.to_parquet(staging / MANIFEST, index=False)
        info = {
            "name": f"synthetic-{vocabulary.name}-{size}" if vocabulary else f"synthetic-kws-{size}",
            "generator": GENERATOR,
            "generator_version": GENERATOR_VERSION,
            "size": size,
            "seed": seed,
            "n_clips": len(manifest),
            "total_duration_s": round(float(manifest["duration_s"].sum()), 3),
            "sample_rate": SAMPLE_RATE,
            "harness_version": __version__,
            "espeak_ng_version": espeak_version(),
            "content_sha256": content_sha256(staging, manifest),
        }
        if vocabulary is not None:
            info["vocabulary"] = vocabulary.as_json()
        (staging / CORPUS_JSON).write_text(json.dumps(info, indent=2) + "\n")
        (staging / DATASHEET).write_text(render_datasheet(manifest, info, spec, vocabulary))
        if out_dir.exists():
            shutil.rmtree(out_dir)  # checked above: empty, or a corpus this generator wrote
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir
