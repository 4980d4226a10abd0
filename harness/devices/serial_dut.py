"""The serial DUT device: a board (or simulated DUT server) running MLPerf Tiny firmware.

Deploying connects and identifies the firmware (a DUT cannot be flashed from here, so the model the
host analyses is checked against the DUT by parity, not assumed). It measures latency in MLPerf Tiny
performance mode, or latency and energy in energy mode when a power monitor is attached, and runs
single inferences on given inputs for accuracy. Backend ``device``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.analysis import analyze
from harness.core.errors import MeasurementError
from harness.core.progress import Progress
from harness.core.transcript import Transcript
from harness.core.units import Duration, Energy, Power
from harness.devices.base import Deployment, Device, Measurement, check_counts, measuring
from harness.devices.capabilities import Capability, EnergyMeter, Inference, LatencyMeter
from harness.devices.parity import PRINT_ROUNDING, HostReference
from harness.dut.client import DutClient
from harness.dut.modes import (
    MLPERF,
    Rules,
    WindowedResult,
    infer_timeout_s,
    measure_energy,
    measure_performance,
    median_window,
)
from harness.dut.records import RetryPolicy
from harness.dut.validation import ScoreSpec
from harness.power.integrate import EnergyMeasurement
from harness.power.monitor import open_monitor
from harness.power.trace import Trace
from harness.registry.models import ModelEntry
from harness.registry.resources import MonitorSpec
from harness.registry.targets import TargetProfile
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runtimes.inputs import ModelInput, seeded_inputs


class SerialDutDevice(Device, LatencyMeter, EnergyMeter, Inference):
    """A DUT on ``target.link``; ``monitor`` (energy mode) integrates its power between the timestamp edges.

    Windows are appended to the run's ``raw/`` as they finish, so a resumed run measures only what is missing.
    """

    backend = "device"

    def __init__(self, target: TargetProfile, run: RunDirectory, *, seed: int = 0, rules: Rules = MLPERF,
                 monitor: MonitorSpec | None = None, inputs: Sequence[ModelInput] | None = None,
                 retry: RetryPolicy | None = None, progress: Progress | None = None,
                 verify_loads: bool = False, own_logs: bool = False) -> None:
        super().__init__(target)
        self.run = run
        self.seed = seed
        self.rules = rules
        self.monitor = monitor
        self.link = target.link
        # several devices measured at once each keep their own logs, so their lines never interleave
        self.transcript_path = run.path / (contract.device_transcript(target.name) if own_logs else contract.TRANSCRIPT)
        self.monitor_log_path = run.path / (contract.device_monitor_log(target.name) if own_logs
                                            else contract.MONITOR_LOG)
        self.inputs = list(inputs) if inputs is not None else None
        self.retry = retry
        self.progress = progress
        self.verify_loads = verify_loads
        self.client: DutClient | None = None
        self.host: HostReference | None = None

    @property
    def resets(self) -> int:
        return self.client.resets if self.client is not None else 0

    @property
    def log_path(self) -> Path:
        return self.transcript_path

    def capabilities(self) -> list[type[Capability]]:
        """Energy-mode firmware (behind a monitor) prints no lap timestamps; performance firmware has no monitor."""
        timing = EnergyMeter if self.monitor is not None else LatencyMeter
        return [timing, Inference]

    def lacking(self, capability: type[Capability]) -> str | None:
        if capability is EnergyMeter:
            return "name a power monitor (power_monitor: in the target profile, or --monitor) and run energy mode"
        if capability is LatencyMeter:
            return "with a power monitor the DUT runs energy-mode firmware, which measures latency with energy"
        return None

    def _do_deploy(self, model: ModelEntry, stack: str) -> Deployment:
        self._do_close()
        self.host = HostReference.load(model)
        if self.inputs is None:
            self.inputs = seeded_inputs(self.host.input, self.rules.windows, self.seed, model.name)
        self.client = DutClient(self.link, Transcript(self.transcript_path), retry=self.retry,
                                scores=score_spec(self.host), verify_loads=self.verify_loads)
        try:
            info = self.client.open()
        except BaseException:
            self._do_close()  # deploy failed: the lifecycle stays idle, so close() would not release the port
            raise
        arena = self.host.session.arena_bytes()
        return Deployment(
            model=model,
            profile=analyze(model.artifact_path()),
            stack=stack,
            arena_bytes=arena,
            runtime=info.firmware or info.name,
            details={"arena_source": f"{self.host.runtime}-host" if arena is not None else "unknown",
                     "dut_name": info.name, "dut_firmware": info.firmware, "dut_model_id": info.model,
                     "timestamp_mode": info.timestamp_mode, "link": self.link.url, "baud": self.link.baud,
                     "io_manager": self.link.io_manager, "transcript": str(self.transcript_path)},
        )

    def _rules(self, warmup: int) -> Rules:
        return Rules(self.rules.windows, self.rules.min_window_s, warmup, self.rules.label, self.rules.stretches)

    def _windows_file(self, kind: str) -> str:
        assert self.deployment is not None
        return f"raw/{kind}_windows__{self.deployment.model.name}__{self.target.name}.jsonl"

    @measuring
    def measure_latency(self, runs: int, warmup: int) -> Measurement:
        """MLPerf Tiny performance mode: windows of at least ``runs`` inferences, timed by the DUT's lap timer."""
        check_counts(runs, warmup)
        assert self.client is not None and self.inputs is not None
        result = measure_performance(self.client, self.inputs, self._rules(warmup), self.run, self.progress,
                                     min_n=runs, name=self._windows_file("latency"))
        return self._measurement(result, None, None)

    @measuring
    def measure_energy(self, runs: int, warmup: int) -> Measurement:
        """MLPerf Tiny energy mode: the monitor integrates between the DUT's timestamp edges; median window."""
        check_counts(runs, warmup)
        assert self.client is not None and self.inputs is not None and self.monitor is not None
        voltage = self.monitor.voltage or self.target.power.supply_v
        with open_monitor(self.monitor, voltage_v=voltage, log_path=self.monitor_log_path) as monitor:
            result = measure_energy(self.client, monitor, self.inputs, self._rules(warmup), self.run, self.progress,
                                    min_n=runs, name=self._windows_file("energy"))
        window = median_window(result.windows)
        trace = Trace.from_parquet(self.run.path / window["trace"])
        energy = EnergyMeasurement(Duration(window["window_s"]), Energy.from_uj(window["energy_uj"]), window["n"],
                                   Power.from_mw(window["idle_power_mw"]))
        return self._measurement(result, energy, trace)

    def _measurement(self, result: WindowedResult, energy: EnergyMeasurement | None,
                     trace: Trace | None) -> Measurement:
        assert self.deployment is not None
        summary = result.record()
        details = self.deployment.details
        scores = np.array(result.windows[-1].get("scores", []), dtype=np.float64)
        return Measurement(result.latencies_s, None, energy, trace, [scores], self.backend, summary=summary,
                           row_fields={"mlperf_rules": summary["rules"], "mlperf_status": summary["status"],
                                       "mlperf_flags": ";".join(summary["flags"]),
                                       "throughput_ips_median": summary["throughput_ips_median"],
                                       "windows": summary["windows"], "dut_name": details["dut_name"],
                                       "dut_firmware": details["dut_firmware"], "link": self.link.url})

    @measuring
    def infer(self, x: ModelInput) -> np.ndarray:
        """``infer 1 0`` on the input's bytes: the scores as the DUT printed them."""
        assert self.client is not None
        self.client.load(x.data)
        scores = self.client.infer(1, 0, infer_timeout_s(self.client, 1, 0, self.link.timeout_s / 2)).scores
        if not scores:
            raise MeasurementError(f"the DUT printed no m-results for input '{x.id}'",
                                   log_path=self.client.transcript.path)
        return np.array(scores, dtype=np.float64)

    def _do_close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client.transcript.close()
            self.client = None
        if self.host is not None:
            self.host.close()
            self.host = None


def score_spec(host: HostReference) -> ScoreSpec:
    """What the DUT's result lines may hold for this model: its output size and the range its output can represent."""
    out = host.output
    count = int(np.prod(out.shape))
    if out.quantized and np.issubdtype(out.dtype, np.integer):
        return ScoreSpec.quantized(count, out.scale, out.zero_point, out.dtype, PRINT_ROUNDING)
    return ScoreSpec.floating(count)
