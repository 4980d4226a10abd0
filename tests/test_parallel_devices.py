"""Several attached devices measured at once, one job per device: in threads here, or as Dask tasks pinned by
worker resources to the worker that holds each device; the rows are those of a sequential run.

The devices are simulated MLPerf Tiny DUTs on local sockets (127.0.0.1), reached as a board on USB would be.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import yaml

from harness.core.paths import models_dir, targets_dir
from harness.dut.sim.firmware import SimulatedFirmware
from harness.dut.sim.server import SimDutServer
from harness.registry.models import ModelRegistry
from harness.registry.plans import Measure, Plan
from harness.registry.targets import TargetRegistry
from harness.runs import efficiency
from harness.runs.runner import Context, run_plan

MODELS = ["mlperf-dscnn-kws"]  # the model the simulated firmware runs
BOARD = "nucleo-l4r5zi"
DEVICES = ["bench-a", "bench-b"]
TARGETS = [*DEVICES, "mcu"]  # and a simulated target, measured here after the devices
# where the device is (each run starts fresh boards on new ports), and the simulated target's latency timed on the
# host (it differs between any two runs): everything else must be identical
WHERE = {"link", "host_latency_ms_p50", "host_latency_ms_p99"}


@contextmanager
def attached_devices(tmp: Path) -> Iterator[Path]:
    """Fresh simulated boards (same seeds each time) and a targets folder whose DEVICES profiles reach them."""
    registry = ModelRegistry(models_dir())
    board = TargetRegistry(targets_dir()).get(BOARD)
    folder = tmp / "targets"
    shutil.copytree(targets_dir(), folder)
    with ExitStack() as stack:
        for name in DEVICES:
            # one firmware serves every model of the plan: the DUT runs whatever it is asked to load
            server = stack.enter_context(SimDutServer(SimulatedFirmware(board, registry.get(MODELS[0]))))
            profile = yaml.safe_load((targets_dir() / f"{BOARD}.yaml").read_text())
            profile.update(name=name, link={"url": server.url, "timeout_s": 5.0})
            profile.pop("power_monitor", None)
            (folder / f"{name}.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
        yield folder


def rows(run: Path) -> list[str]:
    """Each row as JSON text (NaN compares equal there), host-side fields left out, sorted."""
    lines = (run / "raw" / "efficiency_rows.jsonl").read_text().splitlines()
    return sorted(json.dumps({k: v for k, v in json.loads(line).items() if k not in WHERE}, sort_keys=True)
                  for line in lines)


def measure(tmp: Path, name: str, scheduler: str | None = None, labels: list[str] | None = None) -> Path:
    with attached_devices(tmp / name) as folder:
        plan = Plan(name=name, models=MODELS, targets=TARGETS, measure=Measure(warmup=1, runs=10),
                    scheduler=scheduler)
        return run_plan(plan, Context(ModelRegistry(models_dir()), TargetRegistry(folder), tmp / name / "results"),
                        progress=lambda label, done, total: labels.append(label) if labels is not None else None)


@pytest.mark.slow
def test_attached_devices_measured_in_threads_give_the_rows_of_a_sequential_run(tmp_path: Path,
                                                                                monkeypatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(efficiency, "concurrent", lambda job, pairs: False)
        sequential = measure(tmp_path, "sequential")
    labels: list[str] = []
    parallel = measure(tmp_path, "parallel", labels=labels)
    assert "2 devices at once" in labels
    assert rows(parallel) == rows(sequential)
    assert len(rows(parallel)) == len(TARGETS) * len(MODELS)
    for model in MODELS:
        for name in DEVICES:
            windows = f"raw/latency_windows__{model}__{name}.jsonl"
            assert (parallel / windows).read_text() == (sequential / windows).read_text()
    # the tables list the pairs in the plan's order, whichever device finished first
    assert table_pairs(parallel) == table_pairs(sequential) == [(m, t) for m in MODELS for t in TARGETS]
    # each device has its own transcript, holding its exchange alone, line for line as when measured one by one
    assert not (parallel / "raw" / "transcript.log").exists()
    for run in (parallel, sequential):
        for name, other in zip(DEVICES, reversed(DEVICES), strict=True):
            text = (run / "raw" / f"transcript__{name}.log").read_text()
            assert f"# open {links(run)[name]} at " in text and links(run)[other] not in text
    for name in DEVICES:
        assert exchange(parallel, name) == exchange(sequential, name)


def links(run: Path) -> dict[str, str]:
    """The URL each device was reached at (every run starts its boards on new ports)."""
    return {r["target"]: r["link"] for r in map(json.loads, (run / "raw" / "efficiency_rows.jsonl").read_text()
                                                .splitlines()) if r["target"] in DEVICES}


def exchange(run: Path, name: str) -> list[str]:
    """A device's transcript without its clock: each line's direction and bytes, its URL as LINK."""
    lines = (run / "raw" / f"transcript__{name}.log").read_text().replace(links(run)[name], "LINK").splitlines()
    return [line.split(" ", 1)[1] for line in lines if not line.startswith("# transcript opened")]


def table_pairs(run: Path) -> list[tuple[str, str]]:
    return [(r["model"], r["target"]) for r in json.loads((run / "efficiency.json").read_text())["rows"]]


@pytest.mark.slow
def test_on_a_dask_cluster_each_device_job_runs_on_the_worker_that_holds_the_device(tmp_path: Path) -> None:
    from distributed import Client

    from harness.cluster.local import start_local_cluster

    with start_local_cluster(0, port=0, devices=DEVICES) as cluster, Client(cluster) as client:
        resources = {w: i["resources"] for w, i in client.scheduler_info(n_workers=-1)["workers"].items()}
        parallel = measure(tmp_path, "cluster", scheduler=cluster.scheduler_address)
    threads = measure(tmp_path, "threads")
    assert rows(parallel) == rows(threads)
    jobs = [json.loads(line) for line in (parallel / "raw" / "device_jobs.jsonl").read_text().splitlines()]
    assert sorted(j["target"] for j in jobs) == DEVICES
    for j in jobs:
        assert resources[j["worker"]] == {f"device:{j['target']}": 1} and j["pairs"] == len(MODELS)


def test_a_cluster_without_a_worker_holding_the_device_is_a_clear_error(tmp_path: Path) -> None:
    from harness.cluster.local import start_local_cluster
    from harness.core.errors import ConfigError

    with start_local_cluster(1, port=0) as cluster, pytest.raises(ConfigError) as caught:
        measure(tmp_path, "unheld", scheduler=cluster.scheduler_address)
    assert "holds the device(s) bench-a, bench-b" in caught.value.message
    assert "--resources device:bench-a=1" in caught.value.hint


@pytest.mark.slow
@pytest.mark.parametrize("on_cluster", [False, True])
def test_a_device_that_fails_leaves_the_others_rows_and_names_its_log_in_the_run(tmp_path: Path,
                                                                                 on_cluster: bool) -> None:
    import socket
    from contextlib import nullcontext

    from harness.cluster.local import start_local_cluster
    from harness.core.errors import DeviceError

    with attached_devices(tmp_path) as folder, \
            (start_local_cluster(0, port=0, devices=DEVICES) if on_cluster else nullcontext()) as cluster:
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        profile = yaml.safe_load((folder / "bench-b.yaml").read_text())
        profile["link"]["url"] = f"socket://127.0.0.1:{port}"  # nothing listens there: the board is unplugged
        (folder / "bench-b.yaml").write_text(yaml.safe_dump(profile))
        plan = Plan(name="dead", models=MODELS, targets=DEVICES, measure=Measure(warmup=1, runs=10),
                    scheduler=cluster.scheduler_address if cluster else None)
        with pytest.raises(DeviceError) as caught:
            run_plan(plan, Context(ModelRegistry(models_dir()), TargetRegistry(folder), tmp_path / "results"))
    run = next((tmp_path / "results").glob("*-dead"))
    assert f"socket://127.0.0.1:{port}" in caught.value.message
    assert caught.value.log_path == run / "raw" / "transcript__bench-b.log" and caught.value.log_path.is_file()
    assert "127.0.0.1:" + str(port) not in (run / "raw" / "transcript__bench-a.log").read_text()
    kept = [json.loads(line) for line in (run / "raw" / "efficiency_rows.jsonl").read_text().splitlines()]
    assert [(r["model"], r["target"]) for r in kept] == [(MODELS[0], "bench-a")]  # what --resume keeps
    assert json.loads((run / "status.json").read_text())["status"] == "failed"


def test_a_device_worker_is_waited_for_as_long_as_dask_s_no_workers_timeout_else_30_s() -> None:
    import dask

    from harness.cluster.resources import unheld_timeout_s

    with dask.config.set({"distributed.scheduler.no-workers-timeout": "2 minutes"}):
        assert unheld_timeout_s() == 120.0
    with dask.config.set({"distributed.scheduler.no-workers-timeout": None}):
        assert unheld_timeout_s() == 30.0


@pytest.mark.slow
def test_a_device_whose_worker_dies_mid_job_fails_clearly_and_a_resumed_run_measures_only_it(tmp_path: Path) -> None:
    """bench-b's worker (a ``dask worker`` process, as on a lab host) is killed while its job talks to the board:
    no worker offers device:bench-b any more, so the run fails naming the worker and keeps bench-a's row; once a
    worker holds the device again, ``harness run --resume`` measures bench-b alone."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading

    from distributed import Client

    from harness.cluster.local import start_local_cluster

    harness_bin, dask_bin = (Path(sys.executable).parent / name for name in ("harness", "dask"))
    registry = ModelRegistry(models_dir())
    board = yaml.safe_load((targets_dir() / f"{BOARD}.yaml").read_text())
    board.pop("power_monitor", None)
    folder = tmp_path / "targets"
    folder.mkdir()
    # bench-b is a board that accepts the connection and then says nothing: its job cannot finish before the kill
    silent = socket.create_server(("127.0.0.1", 0))
    silent.settimeout(120)
    port = silent.getsockname()[1]
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__NO_WORKERS_TIMEOUT": "1s"}  # the bound on waiting for it

    def worker(address: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([str(dask_bin), "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                                 "--no-dashboard", "--resources", "device:bench-b=1"], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    def harness(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(harness_bin), "run", *args], capture_output=True, text=True, timeout=300, env=env)

    with SimDutServer(SimulatedFirmware(TargetRegistry(targets_dir()).get(BOARD), registry.get(MODELS[0]))) as a, \
            start_local_cluster(0, port=0, devices=["bench-a"]) as cluster, \
            Client(cluster.scheduler_address, set_as_default=False) as client:
        for name, url in (("bench-a", a.url), ("bench-b", f"socket://127.0.0.1:{port}")):
            (folder / f"{name}.yaml").write_text(yaml.safe_dump(
                {**board, "name": name, "link": {"url": url, "timeout_s": 60.0}}, sort_keys=False))
        plan = tmp_path / "lost.yaml"
        plan.write_text(yaml.safe_dump({"name": "lost", "models": MODELS, "targets": DEVICES,
                                        "measure": {"warmup": 1, "runs": 10},
                                        "scheduler": cluster.scheduler_address}))
        first = worker(cluster.scheduler_address)
        try:
            client.wait_for_workers(2, timeout=60)
            held = [w for w, i in client.scheduler_info(n_workers=-1)["workers"].items()
                    if "device:bench-b" in i["resources"]]

            def kill_when_the_job_reaches_the_board() -> None:
                try:
                    silent.accept()[0].close()
                finally:
                    os.killpg(first.pid, signal.SIGKILL)

            killer = threading.Thread(target=kill_when_the_job_reaches_the_board, daemon=True)
            killer.start()
            failed = harness("--plan", str(plan), "--targets-dir", str(folder), "--results", str(tmp_path / "r"))
            killer.join(timeout=120)
        finally:
            silent.close()
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=60)
        run = next((tmp_path / "r").glob("*-lost"))
        assert failed.returncode == 4, failed.stderr
        assert "Traceback" not in failed.stderr
        assert len(held) == 1 and (f"error: device bench-b: the Dask worker {held[0]} on host 127.0.0.1 that holds "
                                   "it was lost before the device's job finished (no worker has offered "
                                   "device:bench-b=1 for ") in failed.stderr
        assert (f"dask worker {cluster.scheduler_address} --nthreads 1 --resources device:bench-b=1), then measure "
                f"only the missing pairs: harness run --resume {run}.") in failed.stderr
        assert f"log: {run / 'raw'}" in failed.stderr
        kept = (run / "raw" / "efficiency_rows.jsonl").read_text().splitlines()
        assert [(json.loads(r)["model"], json.loads(r)["target"]) for r in kept] == [(MODELS[0], "bench-a")]
        assert json.loads((run / "status.json").read_text())["status"] == "failed"
        transcript_a = (run / "raw" / "transcript__bench-a.log").read_bytes()

        # the board answers again and a worker holds it: the resumed run measures bench-b alone
        with SimDutServer(SimulatedFirmware(TargetRegistry(targets_dir()).get(BOARD), registry.get(MODELS[0])),
                          listen=f"socket://127.0.0.1:{port}"):
            second = worker(cluster.scheduler_address)
            try:
                client.wait_for_workers(2, timeout=60)
                resumed = harness("--resume", str(run), "--targets-dir", str(folder))
            finally:
                os.killpg(second.pid, signal.SIGKILL)
                second.wait(timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    rows_now = (run / "raw" / "efficiency_rows.jsonl").read_text().splitlines()
    assert rows_now[0] == kept[0] and [json.loads(r)["target"] for r in rows_now] == DEVICES
    jobs = [json.loads(line) for line in (run / "raw" / "device_jobs.jsonl").read_text().splitlines()]
    assert [j["target"] for j in jobs] == DEVICES  # bench-a once, in the first run; bench-b once, resumed
    assert (run / "raw" / "transcript__bench-a.log").read_bytes() == transcript_a
    assert f"# open socket://127.0.0.1:{port} at " in (run / "raw" / "transcript__bench-b.log").read_text()
