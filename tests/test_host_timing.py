"""Simulated targets of one run share one host timing per model; separate runs, and a resumed run, time afresh.

Invocations are counted where the simulated device meets the runtime (every ``Session.run``), so the tests
check how often each model file ran, never how long it took.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import harness.devices.sim as sim
from harness.core.paths import models_dir, targets_dir
from harness.devices.host_timing import HostTimings
from harness.registry.models import ModelRegistry
from harness.registry.plans import Measure, Plan
from harness.registry.targets import TargetRegistry
from harness.runs.runner import Context, execute, plan_job, run_plan

MODELS = ModelRegistry(models_dir())
TARGETS = ["mcu", "wearable", "phone"]
WARMUP, RUNS = 2, 5
PLAN = Plan(name="shared-host", models=["mww-alexa", "oww-alexa"], targets=TARGETS,
            measure=Measure(warmup=WARMUP, runs=RUNS))


class _CountingSession:
    def __init__(self, session: Any, calls: Counter) -> None:
        self._session, self._calls = session, calls

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        self._calls[self._session.model_path.name] += 1
        return self._session.run(inputs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class _CountingRuntime:
    def __init__(self, runtime: Any, calls: Counter) -> None:
        self._runtime, self._calls = runtime, calls

    def load(self, *args: Any, **kwargs: Any) -> _CountingSession:
        return _CountingSession(self._runtime.load(*args, **kwargs), self._calls)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)


@pytest.fixture()
def invokes(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """``Session.run`` calls of the simulated device, by model file name."""
    calls: Counter = Counter()
    real = sim.get_runtime
    monkeypatch.setattr(sim, "get_runtime", lambda name: _CountingRuntime(real(name), calls))
    return calls


def one_run(loops: int, outputs: int) -> Counter:
    """Invokes per file: ``loops`` timing loops (warm-up and timed runs, every stage) and ``outputs`` single
    inferences of each model's last stage (one per target measured: the outputs it reports)."""
    expected: Counter = Counter()
    for name in PLAN.models:
        entry = MODELS.get(name)
        for path in entry.stage_paths():
            expected[path.name] += loops * (WARMUP + RUNS)
        expected[entry.artifact_path().name] += loops * (WARMUP + RUNS) + outputs
    return expected


def context(tmp_path: Path) -> Context:
    return Context(MODELS, TargetRegistry(targets_dir()), tmp_path / "results")


@pytest.mark.slow
def test_one_run_times_each_model_once_for_all_its_simulated_targets(tmp_path: Path, invokes: Counter) -> None:
    run = run_plan(PLAN, context(tmp_path))
    assert invokes == one_run(loops=1, outputs=len(TARGETS))
    eff = pd.read_csv(run / "efficiency.csv")
    for name in PLAN.models:
        rows = eff[eff["model"] == name]
        assert list(rows["target"]) == TARGETS and rows["host_latency_ms_p50"].nunique() == 1
        samples = [pd.read_parquet(run / "raw" / f"latency__{name}__{t}.parquet")["host_latency_ms"] for t in TARGETS]
        assert all(s.equals(samples[0]) for s in samples[1:])
        assert rows["latency_ms_p50"].nunique() == len(TARGETS)  # the device figures stay each target's own


@pytest.mark.slow
def test_separate_runs_and_a_resumed_run_time_afresh(tmp_path: Path, invokes: Counter) -> None:
    job = plan_job(PLAN, context(tmp_path))
    first = execute(job, tmp_path / "results")
    execute(job, tmp_path / "results")  # the same job object again: a new run, its own timings
    assert invokes == one_run(loops=2, outputs=2 * len(TARGETS))
    rows = (first / "raw" / "efficiency_rows.jsonl").read_text().splitlines()
    (first / "raw" / "efficiency_rows.jsonl").write_text("\n".join(rows[:-2]) + "\n")  # oww-alexa lost two targets
    invokes.clear()
    execute(plan_job(PLAN, context(tmp_path)), tmp_path / "results", resume=first)
    oww = MODELS.get("oww-alexa")
    expected = Counter({p.name: WARMUP + RUNS for p in oww.stage_paths()})
    expected[oww.artifact_path().name] += WARMUP + RUNS + 2
    assert invokes == expected


def test_a_measurement_is_kept_per_key_and_a_pickled_memo_arrives_empty() -> None:
    memo = HostTimings()
    measured = []

    def measure() -> np.ndarray:
        measured.append(1)
        return np.arange(3.0)

    first = memo.timed(("m", 5, 2), measure)
    assert memo.timed(("m", 5, 2), measure) is first and len(measured) == 1
    memo.timed(("m", 6, 2), measure)  # other runs or warm-up: another measurement
    assert len(measured) == 2 and len(memo) == 2
    assert not first.flags.writeable
    assert len(pickle.loads(pickle.dumps(memo))) == 0
