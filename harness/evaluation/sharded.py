"""Score a corpus on a Dask distributed cluster: each chunk of clips is one task (a shard).

Dask is the scheduler: it places shards on workers, balances them and reschedules those of a worker
that dies. Each worker thread loads the models once and keeps them for every shard it scores; it reads
clips from the corpus folder at the same path as the controller (shared storage). Rows come back to the
controller, which saves each shard as it arrives, so an interrupted run resumes with the missing shards.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import __version__
from harness.cluster.client import connected
from harness.core.errors import ConfigError, DataError
from harness.core.progress import Progress
from harness.evaluation.engine import EvalSettings, load_scorers, score_chunk
from harness.evaluation.scoring import Scorer
from harness.registry.models import ModelEntry

Rows = list[dict[str, Any]]
SaveShard = Callable[[int, Rows, Rows], None]
SHARED_STORAGE_HINT = ("every worker reads the corpus and the model files at the paths the controller uses: put "
                       "them on storage mounted at the same path on every host (NFS, a shared volume), and "
                       "install the same edge-harness version there")

# On a worker: per thread, the evaluation its scorers were loaded for, the scorers, and how often it loaded them.
_LOADED: dict[int, tuple[str, list[Scorer]]] = {}
_LOADS: dict[int, int] = {}


def _scorers(token: str, entries: list[ModelEntry], settings: EvalSettings) -> list[Scorer]:
    """This thread's scorers for evaluation ``token``: loaded on its first shard, reused for the rest."""
    thread = threading.get_ident()
    held = _LOADED.get(thread)
    if held is None or held[0] != token:
        if held is not None:
            for scorer in held[1]:
                scorer.close()
        _LOADED[thread] = (token, load_scorers(entries, settings))
        _LOADS[thread] = _LOADS.get(thread, 0) + 1
    return _LOADED[thread][1]


def model_loads() -> int:
    """How many times this worker process loaded a set of models (a test checks it is once per thread)."""
    return sum(_LOADS.values())


def score_shard(token: str, entries: list[ModelEntry], settings: EvalSettings, corpus_dir: str,
                index: int, clips: Rows) -> tuple[int, Rows, Rows, dict[str, Any]]:
    """A Dask task: rows and per-step scores of one shard, and where it was scored."""
    from distributed import get_worker

    started = time.perf_counter()
    rows, steps = score_chunk(_scorers(token, entries, settings), corpus_dir, clips)
    where = {"shard": index, "clips": len(clips), "worker": get_worker().address, "host": socket.gethostname(),
             "seconds": round(time.perf_counter() - started, 3)}
    return index, rows, steps, where


def worker_problems(corpus_dir: str, files: list[str], version: str) -> list[str]:
    """Run on each worker before any shard: what it cannot reach, or a harness version other than ``version``."""
    problems = [] if os.path.isdir(corpus_dir) else [f"no corpus folder {corpus_dir}"]
    problems += [f"no model file {f}" for f in files if not os.path.isfile(f)]
    return problems + ([] if __version__ == version else [f"edge-harness {__version__}, the controller {version}"])


def _check_workers(client: Any, corpus_dir: str, entries: list[ModelEntry]) -> None:
    files = [str(p) for e in entries for p in (e.artifact_path(), *e.stage_paths())]
    try:
        found = client.run(worker_problems, corpus_dir, files, __version__)
    except (ModuleNotFoundError, ImportError) as exc:
        raise ConfigError(f"a Dask worker cannot import the harness: {exc}", hint=SHARED_STORAGE_HINT) from None
    bad = {worker: problems for worker, problems in found.items() if problems}
    if bad:
        listed = "; ".join(f"{w}: {', '.join(p)}" for w, p in sorted(bad.items()))
        raise DataError(f"Dask workers cannot evaluate this corpus: {listed}", hint=SHARED_STORAGE_HINT)


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def score_on_cluster(address: str, entries: list[ModelEntry], settings: EvalSettings, corpus_dir: Path,
                     shards: dict[int, Rows], save: SaveShard, log: Path, total: int,
                     progress: Progress | None = None) -> None:
    """Score ``shards`` (index -> clips) on the cluster at ``address``; ``save`` each as it arrives, log where it
    ran in ``log`` (JSONL) and report ``progress`` as shards done of ``total``."""
    from dask.base import tokenize
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    done = total - len(shards)
    label = f"shards on {address}"
    with connected(address) as client:
        _check_workers(client, str(corpus_dir), entries)
        token = tokenize(entries, settings, str(corpus_dir))
        futures = [client.submit(score_shard, token, entries, settings, str(corpus_dir), index, clips,
                                 key=f"harness-shard-{token[:12]}-{index:05d}", pure=False)
                   for index, clips in shards.items()]
        if progress:
            progress(label, done, total)
        try:
            for future in as_completed(futures, loop=client.loop):
                index, rows, steps, where = future.result()
                save(index, rows, steps)
                _append(log, where)
                done += 1
                if progress:
                    progress(label, done, total)
        except (KilledWorker, FutureCancelledError) as exc:
            raise ConfigError(f"the Dask cluster at {address} lost a shard: {exc}",
                              hint="the finished shards are kept: check the workers' logs, then resume the run "
                                   "with --resume") from None
        finally:
            client.cancel(futures)
