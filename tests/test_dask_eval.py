"""Evaluation sharded over a real Dask cluster on 127.0.0.1: the same rows as a local run, byte for byte,
resumable per shard, surviving a killed worker; a scheduler that does not answer is a clear error."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
from pathlib import Path

import dask
import pandas as pd
import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster

from harness.cli import cli
from harness.core.paths import models_dir
from harness.evaluation import sharded
from harness.evaluation.engine import EvalSettings, evaluate
from harness.registry.models import ModelRegistry
from harness.runs.evaluation import resolve_corpus

MODELS = ["mww-alexa", "oww-hey-jarvis"]  # two front ends: micro features and openWakeWord's embedding
SHARD = 3


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.sort_values(["model", "clip_id"]).reset_index(drop=True).to_parquet(out, index=False)
    return out.getvalue()


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      processes=True) as local, Client(local) as client:
        yield local.scheduler_address, client


@pytest.fixture(scope="module")
def entries():
    registry = ModelRegistry(models_dir())
    return [registry.get(name) for name in MODELS]


@pytest.fixture(scope="module")
def local_run(entries, tmp_path_factory):
    corpus = resolve_corpus("builtin:tiny")
    return corpus, evaluate(entries, corpus, tmp_path_factory.mktemp("local"), EvalSettings(chunk_clips=SHARD))


def test_sharded_rows_equal_the_local_run_and_models_load_once_per_worker(cluster, entries, local_run,
                                                                          tmp_path: Path) -> None:
    address, client = cluster
    corpus, (predictions, steps) = local_run
    before = client.run(sharded.model_loads)
    seen: list[tuple[str, int, int]] = []
    got = evaluate(entries, corpus, tmp_path, EvalSettings(chunk_clips=SHARD, scheduler=address),
                   lambda label, done, total: seen.append((label, done, total)))
    assert parquet_bytes(got[0]) == parquet_bytes(predictions)
    assert parquet_bytes(got[1]) == parquet_bytes(steps)
    shards = -(-len(corpus.manifest) // SHARD)
    label = f"shards on {address}"
    assert [done for name, done, total in seen if name == label and total == shards] == list(range(shards + 1))
    log = [json.loads(line) for line in (tmp_path / "shards.jsonl").read_text().splitlines()]
    assert sorted(r["shard"] for r in log) == list(range(shards))
    assert {r["worker"] for r in log} <= set(client.scheduler_info()["workers"])
    scored_on = {r["worker"] for r in log}
    loads = {w: n - before[w] for w, n in client.run(sharded.model_loads).items()}
    assert {w: loads[w] for w in scored_on} == dict.fromkeys(scored_on, 1)  # once per worker, however many shards


def test_an_interrupted_sharded_evaluation_resumes_with_the_missing_shards(cluster, entries, local_run,
                                                                          tmp_path: Path) -> None:
    address, _ = cluster
    corpus, (predictions, _) = local_run
    settings = EvalSettings(chunk_clips=SHARD, scheduler=address)

    def interrupt(label: str, done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(entries, corpus, tmp_path, settings, interrupt)
    kept = sorted(p.name for p in tmp_path.glob("chunk-*.parquet"))
    assert len(kept) == 2
    resumed = evaluate(entries, corpus, tmp_path, settings)
    assert parquet_bytes(resumed[0]) == parquet_bytes(predictions)
    log = [json.loads(line)["shard"] for line in (tmp_path / "shards.jsonl").read_text().splitlines()]
    assert sorted(log) == list(range(-(-len(corpus.manifest) // SHARD)))  # each shard scored once


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_rescheduled_and_the_run_completes(entries, local_run, tmp_path: Path) -> None:
    corpus, (predictions, _) = local_run
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      processes=True) as local, Client(local) as client:
        pids = client.run(os.getpid)
        killed: list[int] = []

        def kill_one(label: str, done: int, total: int) -> None:
            if done == 1 and not killed:
                log = [json.loads(line) for line in (tmp_path / "shards.jsonl").read_text().splitlines()]
                survivor = log[0]["worker"]
                victim = next(pid for worker, pid in pids.items() if worker != survivor)
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        got = evaluate(entries, corpus, tmp_path, EvalSettings(chunk_clips=1, scheduler=local.scheduler_address),
                       kill_one)
    assert killed
    assert parquet_bytes(got[0]) == parquet_bytes(predictions)


@pytest.mark.slow
def test_eval_command_on_the_cluster_writes_the_local_predictions(cluster) -> None:
    address, _ = cluster
    runs = []
    for extra in ([], ["--scheduler", address]):
        result = CliRunner().invoke(cli, ["eval", "--model", MODELS[0], "--corpus", "builtin:tiny", "--workers", "1",
                                          *extra])
        assert result.exit_code == 0, result.output
        runs.append(Path(result.stdout.strip().splitlines()[-1]))
    local, remote = runs
    for name in ("raw/predictions.parquet", "raw/scores.parquet", "fairness.csv", "disparity.json"):
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    assert (remote / "raw/eval/shards.jsonl").is_file() and not (local / "raw/eval/shards.jsonl").exists()
    manifest = json.loads((remote / "manifest.json").read_text())
    assert manifest["plan"]["scheduler"] == address
    assert "scheduler" not in json.loads((local / "manifest.json").read_text())["plan"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("address", "message"), [
    (lambda: f"tcp://127.0.0.1:{closed_port()}", "no Dask scheduler answers at tcp://127.0.0.1:"),
    (lambda: "127.0.0.1", "scheduler address '127.0.0.1'"),
    (lambda: "http://127.0.0.1:8786", "unknown address scheme"),
])
def test_a_bad_scheduler_address_is_a_clear_error(address, message) -> None:
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = CliRunner().invoke(cli, ["eval", "--model", MODELS[0], "--corpus", "builtin:tiny",
                                          "--scheduler", address()])
    assert result.exit_code == 2
    assert message in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert not any(Path(os.environ["HARNESS_RESULTS"]).glob("*/manifest.json"))  # refused before a run began
