"""Measure several attached devices at once, one job per device (its pairs one after another).

Without a cluster the jobs run in threads here. With a Dask scheduler each job is a task pinned by a worker
resource to the host its device is attached to (``dask worker ... --resources device:TARGET=1``); the count
of 1 also makes the resource the device's lock. A task measures into a scratch run directory on its worker
and returns the files, which are merged into the run directory here. A device whose worker dies before its job
finishes (and whose resource no worker offers again within Dask's no-workers timeout, else 30 s) fails with a
DeviceError naming the worker, while the other devices finish and keep their rows for ``--resume``. Rows are
the same as a sequential run's; only the order they finish in differs, and the efficiency tables are written in
the plan's order.
Simulated targets are measured here afterwards, one after another: their latency is timed on this host.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.cluster.client import connected
from harness.cluster.resources import ResourceWatch, device_resource, unheld_timeout_s
from harness.core.errors import ConfigError, DeviceError, HarnessError
from harness.core.progress import Progress
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runs.job import Job, PairResult
from harness.runs.settings import device_settings, several_attached
from harness.runs.status import resume_hint

Pair = tuple[ModelEntry, TargetProfile]
POLL_S = 0.5  # how often a cluster run asks the scheduler whether each device still has its worker


def concurrent(job: Job, pairs: Sequence[Pair]) -> bool:
    """Whether the run measures its attached devices at once (two or more; a bench session has one) and ``pairs``
    include one: a resumed run left with one device measures it as it began, on that device's worker."""
    return several_attached(job) and any(not t.is_simulated for _, t in pairs)


def measure_devices(run: RunDirectory, job: Job, pairs: Sequence[Pair],
                    progress: Progress | None = None) -> list[PairResult]:
    """Measure ``pairs``: the attached devices' all at once, one job per device, then the simulated targets' here,
    one after another (their host-timed figures stay undisturbed); results in the order of ``pairs``."""
    jobs: dict[str, list[ModelEntry]] = {}
    targets: dict[str, TargetProfile] = {}
    for model, target in pairs:
        if not target.is_simulated:
            jobs.setdefault(target.name, []).append(model)
            targets[target.name] = target
    tally = _Tally(f"{len(jobs)} devices at once" if len(jobs) > 1 else f"device {next(iter(jobs), '')}",
                   len(pairs), progress)
    if job.plan.scheduler:
        results = _on_cluster(job.plan.scheduler, run, job, targets, jobs, tally)
    else:
        results = _in_threads(run, job, targets, jobs, tally)
    for model, target in pairs:
        if target.is_simulated:
            results.update(measure_device(run, job, target, [model], tally))
    return [results[(model.name, target.name)] for model, target in pairs]


class _Tally:
    """Pairs measured so far, reported from any thread."""

    def __init__(self, label: str, total: int, progress: Progress | None) -> None:
        self.label, self.total, self.progress = label, total, progress
        self.done = 0
        self.lock = threading.Lock()
        self.add(0)

    def add(self, pairs: int) -> None:
        with self.lock:
            self.done += pairs
            if self.progress:
                self.progress(self.label, self.done, self.total)


def measure_device(run: RunDirectory, job: Job, target: TargetProfile, models: Sequence[ModelEntry],
                   tally: _Tally | None = None) -> dict[tuple[str, str], PairResult]:
    """One device's job: its pairs one after another, each row appended as it is measured."""
    from harness.runs.efficiency import measure_pair

    results = {}
    for model in models:
        results[(model.name, target.name)] = measure_pair(run, job, model, target, device_settings(job, target))
        if tally:
            tally.add(1)
    return results


def _in_threads(run: RunDirectory, job: Job, targets: dict[str, TargetProfile], jobs: dict[str, list[ModelEntry]],
                tally: _Tally) -> dict[tuple[str, str], PairResult]:
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="device") as pool:
        futures = [pool.submit(measure_device, run, job, targets[name], models, tally)
                   for name, models in jobs.items()]
    # every device finished (or failed) and kept its rows; the first failure, in the plan's order, is reported
    results: dict[tuple[str, str], PairResult] = {}
    for future in futures:
        results.update(future.result())
    return results


def device_job(job: Job, target: TargetProfile, models: list[ModelEntry], scratch_prefix: str = "harness-device-"
               ) -> dict[str, Any]:
    """A Dask task: one device's pairs measured into a scratch run directory on the worker; returns its files, and
    the device's error (its log named relative to the run directory) if it failed, so what it measured is kept."""
    from distributed import get_worker

    started = time.perf_counter()
    results: dict[tuple[str, str], PairResult] = {}
    error, log = None, None
    with tempfile.TemporaryDirectory(prefix=scratch_prefix) as scratch:
        run = RunDirectory.create(Path(scratch), "job")
        try:
            results = measure_device(run, job, target, models)
        except HarnessError as exc:
            error = exc
            if exc.log_path is not None and Path(exc.log_path).is_relative_to(run.path):
                log = Path(exc.log_path).relative_to(run.path).as_posix()
        written = {p.relative_to(run.path).as_posix(): p for p in sorted(run.path.rglob("*")) if p.is_file()}
        files = {name: path.read_bytes() for name, path in written.items() if contract.hashed(name)}
    where = {"target": target.name, "pairs": len(results), "worker": get_worker().address,
             "host": socket.gethostname(), "seconds": round(time.perf_counter() - started, 3)}
    return {"results": results, "files": files, "where": where, "error": error, "log": log}


def merge_files(run: RunDirectory, files: dict[str, bytes]) -> None:
    """A device job's files into the run directory: rows and logs appended, the rest written whole."""
    for name, data in files.items():
        if name == contract.EFFICIENCY_ROWS:
            for line in data.decode("utf-8").splitlines():
                run.append_jsonl(name, json.loads(line))
        elif name.endswith((".jsonl", ".log")):
            path = run.path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as f:
                f.write(data)
        else:
            run.write_bytes(name, data)


def _on_cluster(address: str, run: RunDirectory, job: Job, targets: dict[str, TargetProfile],
                jobs: dict[str, list[ModelEntry]], tally: _Tally) -> dict[tuple[str, str], PairResult]:
    from distributed import wait
    from distributed.scheduler import KilledWorker, NoValidWorkerError

    with connected(address) as client:
        watch = ResourceWatch(client, unheld_timeout_s())
        watch.poll(device_resource(n) for n in jobs)
        missing = [n for n in jobs if device_resource(n) not in watch.offered]
        if missing:
            raise ConfigError(f"no worker of the Dask cluster at {address} holds the device(s) "
                              f"{', '.join(missing)}",
                              hint="on the host each device is attached to, start: dask worker "
                                   f"{address} --nthreads 1 --resources {device_resource(missing[0])}=1")
        pending = {client.submit(device_job, job, targets[name], models, f"harness-{run.run_id}-{name}-", pure=False,
                                 resources={device_resource(name): 1}): name
                   for name, models in jobs.items()}
        results: dict[tuple[str, str], PairResult] = {}
        failures: list[Exception] = []
        while pending:
            try:
                with client.as_current():  # wait() asks for the current client; ours is not the process's default
                    finished = wait(list(pending), timeout=POLL_S, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                finished = set()
            for future in finished:  # the other devices finish and keep their rows before a failure is raised
                name = pending.pop(future)
                try:
                    done = future.result()
                except (KilledWorker, NoValidWorkerError) as exc:  # Dask gave up: its workers died, or none is left
                    failures.append(_worker_lost(address, run, job, name, watch, f"{type(exc).__name__}: {exc}"))
                    continue
                except Exception as exc:  # noqa: BLE001 - the other devices finish and keep their rows first
                    failures.append(exc)
                    continue
                _keep(run, done, results, tally, failures)
            gone = watch.poll(device_resource(n) for n in pending.values())
            for future, name in list(pending.items()):
                if device_resource(name) in gone:
                    del pending[future]
                    future.cancel()
                    failures.append(_worker_lost(address, run, job, name, watch, "no worker has offered "
                                                 f"{device_resource(name)}=1 for {gone[device_resource(name)]:.0f} s"))
        if failures:
            raise failures[0]
    return results


def _keep(run: RunDirectory, done: dict[str, Any], results: dict[tuple[str, str], PairResult], tally: _Tally,
          failures: list[Exception]) -> None:
    """A finished device job's files, rows and error into the run."""
    merge_files(run, done["files"])
    run.append_jsonl(contract.DEVICE_JOBS, done["where"])
    results.update(done["results"])
    tally.add(done["where"]["pairs"])
    if done["error"] is not None:
        if done["log"] is not None:  # the worker's scratch copy is gone; this run directory has the log
            done["error"].log_path = run.path / done["log"]
        failures.append(done["error"])


def _worker_lost(address: str, run: RunDirectory, job: Job, name: str, watch: ResourceWatch,
                 why: str) -> DeviceError:
    """The error of a device whose worker died before its job finished: its pairs are left for ``--resume``."""
    resource = device_resource(name)
    holder = watch.last.get(resource)
    worker, host = (f"the Dask worker {holder.worker} on host {holder.host}", holder.host) if holder else \
        ("its Dask worker", "the device's host")
    return DeviceError(
        f"device {name}: {worker} that holds it was lost before the device's job finished ({why}); its pairs were "
        "not measured, the other devices' rows are kept",
        hint=f"start the device's worker again on {host} (dask worker {address} --nthreads 1 --resources "
             f"{resource}=1), then measure only the missing pairs: {resume_hint(run, job)}. The worker's own log on "
             f"{host} says why it stopped; what the job had measured may remain there in a temporary folder "
             f"harness-{run.run_id}-{name}-*",
        log_path=run.path / contract.RAW)
