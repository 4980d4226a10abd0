"""One bench session on an attached DUT, written as a run directory like ``harness run`` writes.

Performance and energy modes produce an efficiency row (backend ``device``) with the MLPerf Tiny
verdict beside it; accuracy mode produces per-input rows and device/host parity, and over a corpus
the fairness tables ``harness eval`` writes, from the DUT's scores. ``status.json`` says at every
moment whether the run is running, complete, failed or interrupted, so a killed run leaves a usable
partial result that ``--resume`` continues.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from harness.corpus.directory import Corpus
from harness.devices.serial_dut import SerialDutDevice
from harness.dut.corpus_inputs import corpus_inputs, require_kws, write_corpus_accuracy
from harness.dut.inputs import DutInput, mlperf_dataset, seeded_inputs
from harness.dut.modes import ACCURACY_ROWS, MLPERF, QUICK, Progress, measure_accuracy
from harness.dut.parity import HostReference
from harness.errors import ConfigError, DataError, HarnessError
from harness.ledger import chain
from harness.registry.models import ModelEntry, sha256_file
from harness.registry.plans import Evaluation, Plan, Reporting
from harness.registry.targets import Link, TargetProfile
from harness.reports.documents import write_documents
from harness.reports.efficiency import MD_COLUMNS, NOTES, efficiency_row
from harness.reports.fairness import FairnessSettings
from harness.reports.tables import write_table
from harness.runs.evaluation import resolve_corpus
from harness.runs.manifest import build_manifest
from harness.runs.rundir import RunDirectory, new_run_id

MODES = ("performance", "accuracy", "energy")
ROWS = "raw/efficiency_rows.jsonl"
STATUS = "status.json"
DEVICE_NOTES = [
    "backend device: measured on the DUT behind the link over the MLPerf Tiny serial protocol (dut_name says "
    "which board or simulator answered); latency percentiles are over the windows' mean latencies, and the "
    "MLPerf score is their median (mlperf_status, mlperf_flags name any broken rule).",
]


@dataclass(frozen=True)
class BenchSettings:
    """What ``harness bench-device`` was asked to do."""

    port: str
    model: str
    target: str = "mcu"
    mode: str = "performance"
    monitor: str | None = None
    quick: bool = False
    baud: int = 115200
    timeout_s: float = 10.0
    inputs: Path | None = None
    count: int = 20
    seed: int = 0
    corpus: str | None = None
    min_clips: int = Evaluation().min_clips
    min_speakers: int = Evaluation().min_speakers

    def fairness(self) -> FairnessSettings:
        """The host evaluation's defaults (``harness eval``) with this run's group-size floors and seed."""
        e = Evaluation(min_clips=self.min_clips, min_speakers=self.min_speakers)
        return FairnessSettings(confidence=e.confidence, min_clips=e.min_clips, min_speakers=e.min_speakers,
                                n_boot=e.n_boot, seed=self.seed)

    def check(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode '{self.mode}'", hint=f"valid: {', '.join(MODES)}")
        if self.mode == "energy" and not self.monitor:
            raise ConfigError("energy mode needs a power monitor",
                              hint="add --monitor sim:URL, lpm01a:URL, joulescope or ppk2:URL")
        if self.monitor and self.mode != "energy":
            raise ConfigError(f"--monitor is for energy mode, not {self.mode}", hint="add --mode energy")
        if self.corpus and self.mode != "accuracy":
            raise ConfigError(f"--corpus is for accuracy mode, not {self.mode}", hint="add --mode accuracy")
        if self.corpus and self.inputs:
            raise ConfigError("--corpus and --inputs both name accuracy inputs", hint="give one of them")
        if self.port.startswith("sim://"):
            raise ConfigError(f"--port {self.port}: sim:// targets run with 'harness run'",
                              hint="start 'harness sim-dut' and pass the socket:// URL it prints")


def bench_device(settings: BenchSettings, model: ModelEntry, target: TargetProfile, results: Path,
                 resume: Path | None = None, progress: Progress | None = None) -> Path:
    """Run the session and return the run directory (also on failure: its status.json says what happened)."""
    settings.check()
    corpus = None
    if settings.corpus:
        require_kws(model)
        corpus = resolve_corpus(settings.corpus, settings.seed, progress)
    target = target.model_copy(update={"link": Link(url=settings.port, baud=settings.baud,
                                                    timeout_s=settings.timeout_s)})
    inputs = _inputs(settings, model, corpus, progress)
    run = _open_run(settings, model, target, results, resume, corpus)
    _status(run, "running", settings)
    device = SerialDutDevice(target, run.raw, seed=settings.seed, rules=QUICK if settings.quick else MLPERF,
                             monitor=settings.monitor, io_manager=settings.mode == "energy", inputs=inputs,
                             progress=progress)
    try:
        deployment = device.deploy(model, target.default_stack)
        if settings.mode == "accuracy":
            assert device.client is not None and device.inputs is not None
            summary = measure_accuracy(device.client, device.inputs, run, device.host, progress)
            run.write_json("accuracy.json", {**summary, "dut": deployment.details})
            if "parity" in summary:
                run.write_json("parity.json", summary["parity"])
            if corpus is not None:
                write_corpus_accuracy(run, model, corpus, run.read_jsonl(ACCURACY_ROWS), settings.fairness(),
                                      f"{model.name} on the DUT at {settings.port} "
                                      f"({deployment.details['dut_name']})", device.transcript_path)
        else:
            measurement = device.measure(runs=1, warmup=device.rules.warmup)
            assert device.result is not None
            summary = device.result.record()
            run.write_json(f"{settings.mode}.json", {**summary, "dut": deployment.details})
            reporting = Reporting()
            row = efficiency_row(model, target, deployment, measurement, grid_kg_per_kwh=reporting.grid_kg_per_kwh,
                                 default_rate_hz=reporting.default_rate_hz, seed=settings.seed)
            row.update(mlperf_rules=summary["rules"], mlperf_status=summary["status"],
                       mlperf_flags=";".join(summary["flags"]), throughput_ips_median=summary["throughput_ips_median"],
                       windows=summary["windows"], dut_name=deployment.details["dut_name"],
                       dut_firmware=deployment.details["dut_firmware"], link=settings.port)
            run.rewrite_jsonl(ROWS, [row])
            write_table(pd.DataFrame([row]), run.path, "efficiency",
                        title=f"Efficiency: {model.name} on the DUT at {settings.port}, run {run.run_id}",
                        notes=NOTES + DEVICE_NOTES, md_columns={**MD_COLUMNS, "mlperf_status": "MLPerf"},
                        meta={"run_id": run.run_id, "mode": settings.mode})
        write_documents(run.path)
        _status(run, "complete", settings, summary=summary, resets=device.client.resets if device.client else 0)
    except KeyboardInterrupt:
        _status(run, "interrupted", settings, hint=f"harness bench-device ... --resume {run.path}")
        raise
    except HarnessError as e:
        _status(run, "failed", settings, error=e.message, log=str(e.log_path) if e.log_path else None,
                hint=f"fix the cause, then: harness bench-device ... --resume {run.path}")
        raise
    finally:
        device.close()
    _record(run, results)
    return run.path


def _inputs(settings: BenchSettings, model: ModelEntry, corpus: Corpus | None,
            progress: Progress | None) -> list[DutInput]:
    if corpus is not None:
        return corpus_inputs(model, corpus, progress)
    if settings.inputs is not None:
        return mlperf_dataset(settings.inputs)
    host = HostReference.load(model)
    try:
        count = settings.count if settings.mode == "accuracy" else (QUICK if settings.quick else MLPERF).windows
        return seeded_inputs(host.input, count, settings.seed, model.name)
    finally:
        host.close()


def _open_run(settings: BenchSettings, model: ModelEntry, target: TargetProfile, results: Path,
              resume: Path | None, corpus: Corpus | None) -> RunDirectory:
    if resume is not None:
        run = RunDirectory.open(resume)
        manifest = run.read_json("manifest.json")
        before = manifest.get("bench_device", {})
        for key in ("mode", "model", "quick", "inputs", "seed", "count", "corpus"):
            now = str(getattr(settings, key))
            if str(before.get(key)) != now:
                raise DataError(f"{resume}: was run with {key}={before.get(key)}, not {now}",
                                hint="resume with the same options as the interrupted run")
        recorded = (manifest.get("corpus") or {}).get("manifest_sha256")
        if corpus is not None and recorded != corpus.record()["manifest_sha256"]:
            raise DataError(f"{resume}: corpus {settings.corpus} changed since the run began (manifest sha256)",
                            hint="resume with the corpus the run began with, or start a new run")
        return run
    results.mkdir(parents=True, exist_ok=True)
    run = RunDirectory.create(results, new_run_id(f"device-{settings.mode}"))
    plan = Plan(name="bench-device", description=f"harness bench-device --mode {settings.mode} --port {settings.port}",
                models=[model.name], targets=[target.name], seed=settings.seed)
    record = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()}
    run.write_json("manifest.json", build_manifest(run.run_id, plan, [model], [target], {
        "backend": ["device"], "bench_device": record, "corpus": corpus.record() if corpus else None}))
    return run


def _status(run: RunDirectory, status: str, settings: BenchSettings, **extra: Any) -> None:
    run.write_json(STATUS, {"status": status, "mode": settings.mode, "rules": "quick" if settings.quick else "mlperf",
                            "pid": os.getpid(), "updated_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            **extra})


def _record(run: RunDirectory, results: Path) -> None:
    record = {"run_id": run.run_id, "run_dir": str(run.path)}
    for name in ("manifest.json", "efficiency.csv", "accuracy.json", "parity.json", "fairness.csv"):
        if (run.path / name).is_file():
            record[f"{name.split('.')[0]}_sha256"] = sha256_file(run.path / name)
    chain.append(results / "ledger.jsonl", record)
