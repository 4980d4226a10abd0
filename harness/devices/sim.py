"""The simulated device: the real model runs on the host; a calibrated cost model gives device time.

Every simulated inference invokes the real runtime, so outputs are real and host latency is
measured beside the predicted device latency (with the cost model's interval in the deployment
details). Given a run's ``HostTimings``, the host loop of a model runs once in that run and every
simulated target reports the same host samples (the loop does not depend on the target simulated).
A model the target's stack cannot run gets no device latency or energy at all. Device
latency samples carry seeded jitter and the simulated power monitor renders the trace that energy is
integrated from, so a run is reproducible from its seed.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis import analyze
from harness.analysis.profile import ModelProfile
from harness.analysis.signature import signature
from harness.core.errors import ModelError
from harness.core.seeding import seeded_rng
from harness.core.units import Duration, Power
from harness.costmodel.model import CostModel, Prediction, default_cost_model
from harness.devices.base import Deployment, Device, Measurement, check_counts, measuring
from harness.devices.capabilities import EnergyMeter, LatencyMeter
from harness.devices.host_timing import HostTimings
from harness.power.integrate import measure as integrate_energy
from harness.power.sim import SimulatedPowerMonitor
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile
from harness.runtimes import RuntimeOptions, Session, get_runtime
from harness.runtimes.base import HOST_RUNTIME
from harness.runtimes.inputs import random_input
from harness.runtimes.latency import time_invokes


class SimulatedDevice(Device, LatencyMeter, EnergyMeter):
    """Latency and energy come from one simulated window: the timed loop on the host, the cost model's device
    time with seeded jitter, and the simulated monitor's trace of it.

    With ``host_timings`` (a run's), a model already timed in the run is not timed again: the target reports
    those samples, and its outputs are one inference from the freshly deployed state."""

    backend = "sim"

    def __init__(
        self,
        target: TargetProfile,
        seed: int = 0,
        options: RuntimeOptions | None = None,
        cost_model: CostModel | None = None,
        host_timings: HostTimings | None = None,
    ) -> None:
        super().__init__(target)
        self.seed = seed
        self.options = options or RuntimeOptions()
        self.cost_model = cost_model or default_cost_model()
        self.host_timings = host_timings  # the run's shared host timings (None: time every measurement)
        self._sessions: list[Session] = []
        self._inputs: list[list[np.ndarray]] = []
        self._timed: tuple[Any, ...] = ()  # what the host loop times: runtime, files with their shapes, options
        self.prediction: Prediction | None = None

    def _do_deploy(self, model: ModelEntry, stack: str) -> Deployment:
        self._do_close()
        paths = [*model.stage_paths(), model.artifact_path()]
        shapes = [s.input.shape if s.input else None for s in model.stages] + [_dynamic_input_shape(model)]
        profile = ModelProfile.combine([analyze(p) for p in paths])
        self.prediction = self.cost_model.predict(profile, self.target, stack)
        runtime = get_runtime(HOST_RUNTIME[model.format])
        rng = seeded_rng(self.seed, model.name, self.target.name, "inputs")
        for path, shape in zip(paths, shapes, strict=True):
            session = runtime.load(path, self.options, input_shapes=[shape] if shape else None)
            self._sessions.append(session)
            inputs = [random_input(i, rng) for i in session.inputs]
            session.check_inputs(inputs)
            self._inputs.append(inputs)
        _check_declared(model, self._sessions[-1])
        self._timed = (runtime.name, self.options, *(_file_version(p, shape) for p, shape in zip(paths, shapes,
                                                                                                  strict=True)))
        arena, arena_source = _arena(paths, profile, model.format)
        return Deployment(
            model=model,
            profile=profile,
            stack=self.prediction.stack,
            arena_bytes=arena,
            runtime=runtime.version() or runtime.name,
            details={
                "arena_source": arena_source,
                "predicted_latency_ms": self.prediction.latency.ms,
                "predicted_cycles": self.prediction.cycles,
                "predicted_latency_low_ms": self.prediction.latency_low.ms,
                "predicted_latency_high_ms": self.prediction.latency_high.ms,
                "estimated_parameters": self.prediction.estimated_parameters,
                "calibrated_parameters": self.prediction.calibrated_parameters,
                "not_deployable": self.prediction.not_deployable,
                "xnnpack": self.options.xnnpack,
            },
        )

    @measuring
    def measure_latency(self, runs: int, warmup: int) -> Measurement:
        return self._measure(runs, warmup)

    @measuring
    def measure_energy(self, runs: int, warmup: int) -> Measurement:
        return self._measure(runs, warmup)

    def _measure(self, runs: int, warmup: int) -> Measurement:
        check_counts(runs, warmup)
        assert self.prediction is not None
        if self.host_timings is None:
            host = _timed_loop(self._sessions, self._inputs, runs, warmup)
        else:  # once per model in this run; a target after the first reports the same samples
            host = self.host_timings.timed((*self._timed, runs, warmup),
                                           lambda: _timed_loop(self._sessions, self._inputs, runs, warmup))
        outputs = [o.copy() for o in self._sessions[-1].run(self._inputs[-1])]
        if not self.prediction.deployable:  # the host ran it, but the target's stack cannot: no device figures
            return Measurement(np.full(runs, np.nan), host, None, None, outputs, f"sim:{self.target.name}")
        rng = seeded_rng(self.seed, self.deployment.model.name if self.deployment else "", self.target.name)
        sigma = self.prediction.jitter_sigma
        device = self.prediction.latency.seconds * np.exp(sigma * rng.standard_normal(runs) - sigma**2 / 2)
        monitor = SimulatedPowerMonitor(self.target.power.supply_v, rng)
        window = Duration(float(device.sum()))
        idle = Power.from_mw(self.target.power.idle_mw)
        active = Power.from_mw(self.target.power.active_for(self.prediction.stack))
        lead = Duration(max(window.seconds * 0.1, 1e-3))
        monitor.hold(lead, idle)
        monitor.event()
        monitor.hold(window, active)
        monitor.event()
        monitor.hold(lead, idle)
        trace = monitor.trace()
        return Measurement(
            device_latency_s=device,
            host_latency_s=host,
            energy=integrate_energy(trace, runs),
            trace=trace,
            outputs=outputs,
            backend=f"sim:{self.target.name}",
        )

    def _do_close(self) -> None:
        for s in self._sessions:
            s.close()
        self._sessions, self._inputs, self._timed = [], [], ()


def _file_version(path: Path, shape: list[int] | None) -> tuple[Any, ...]:
    """A model file as the host loop runs it: where, which version of its bytes, and the input shape given."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns, tuple(shape or ())


def _dynamic_input_shape(model: ModelEntry) -> list[int] | None:
    """The entry's declared input shape when the file leaves dimensions open (else the file's own shape holds, and
    a differing declaration is reported by ``_check_declared``)."""
    if model.input is None:
        return None
    inputs, _ = signature(model.artifact_path())
    return list(model.input.shape) if inputs and inputs[0].dynamic else None


def _check_declared(model: ModelEntry, session: Session) -> None:
    """The registry entry's declared tensors must be the file's: a mismatch means a wrong entry or file."""
    pairs = ((model.input, session.inputs[0], "input"), (model.output, session.outputs[0], "output"))
    for declared, actual, kind in pairs:
        if declared is None:
            continue
        if tuple(declared.shape) != actual.shape or declared.dtype != actual.dtype.name:
            raise ModelError(
                f"model '{model.name}': its entry declares {kind} shape {declared.shape} {declared.dtype}, "
                f"but {session.model_path} has {list(actual.shape)} {actual.dtype.name}",
                hint=f"fix '{kind}' in {model.source_file or 'the entry'} or point it at the right file",
            )


def _timed_loop(sessions: list[Session], inputs: list[list[np.ndarray]], runs: int, warmup: int) -> np.ndarray:
    """Host seconds per inference step (all stages), after ``warmup`` untimed steps."""
    if len(sessions) == 1:
        return time_invokes(sessions[0], inputs[0], warmup, runs) / 1e9
    clock = time.perf_counter_ns
    out = np.empty(runs, dtype=np.int64)
    pairs = list(zip((s.run for s in sessions), inputs, strict=True))
    for _ in range(warmup):
        for run, x in pairs:
            run(x)
    for i in range(runs):
        t0 = clock()
        for run, x in pairs:
            run(x)
        out[i] = clock() - t0
    return out / 1e9


@lru_cache(maxsize=64)
def _tflm_arena(path: Path, size: int, mtime_ns: int) -> int | None:
    """TFLite Micro's arena for one file version, once per process (a run deploys a model on every target)."""
    session = get_runtime("tflm").load(path, RuntimeOptions())
    try:
        return session.arena_bytes()
    finally:
        session.close()


def _arena(paths: list[Path], profile: ModelProfile, fmt: str) -> tuple[int | None, str]:
    """Tensor arena from TFLite Micro (summed over stages, each its own interpreter), else the static estimate."""
    if fmt != "tflite":
        return profile.peak_activation_bytes, "static-estimate"
    try:
        sizes = [_tflm_arena(p, p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
        if all(s is not None for s in sizes):
            return sum(s for s in sizes if s is not None), "tflm"
    except ModelError:
        pass
    return profile.peak_activation_bytes, "static-estimate"
