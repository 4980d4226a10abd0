"""The commands that start a cluster, as a user runs them: ``harness cluster up`` here, and a lab's
``dask scheduler`` + ``dask worker`` processes (README), all on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distributed import Client

from harness.core.paths import models_dir
from harness.evaluation.engine import EvalSettings, evaluate
from harness.registry.models import ModelRegistry
from harness.runs.evaluation import resolve_corpus

BIN = Path(sys.executable).parent


def test_cluster_up_prints_the_address_of_a_scheduler_with_its_workers_and_devices() -> None:
    proc = subprocess.Popen([str(BIN / "harness"), "cluster", "up", "--workers", "2", "--port", "0",
                             "--device", "board-a"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        address = proc.stdout.readline().strip()
        assert address.startswith("tcp://127.0.0.1:")
        with Client(address, timeout=30) as client:
            client.wait_for_workers(3, timeout=30)
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            assert sorted(w["nthreads"] for w in workers) == [1, 1, 1]
            assert sorted(json.dumps(w["resources"]) for w in workers) == ['{"device:board-a": 1}', "{}", "{}"]
            assert all(w["host"] == "127.0.0.1" for w in workers)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0


def test_cluster_up_on_a_port_in_use_is_a_clear_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([str(BIN / "harness"), "cluster", "up", "--workers", "1", "--port", str(port)],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f"could not start a Dask scheduler on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_lab_cluster_of_dask_scheduler_and_two_dask_workers_evaluates_like_this_machine(tmp_path: Path) -> None:
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard"]
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--scheduler-file", str(scheduler_file), *common],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        procs += [subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                                    *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                  for _ in range(2)]
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        registry = ModelRegistry(models_dir())
        entries = [registry.get("mww-alexa")]
        corpus = resolve_corpus("builtin:tiny")
        local = evaluate(entries, corpus, tmp_path / "local", EvalSettings(chunk_clips=4))
        remote = evaluate(entries, corpus, tmp_path / "remote", EvalSettings(chunk_clips=4, scheduler=address))
        assert local[0].equals(remote[0]) and local[1].equals(remote[1])
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
