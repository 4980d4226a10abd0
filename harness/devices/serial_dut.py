"""The serial DUT device: a board (or simulated DUT server) running MLPerf Tiny firmware, behind the Device interface.

Deploying connects and identifies the firmware (a DUT cannot be flashed from here, so the model the
host analyses is checked against the DUT by parity, not assumed); measuring runs the MLPerf Tiny
performance mode, or energy mode when a power monitor is attached. Backend ``device``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.analysis import analyze
from harness.devices.base import Deployment, Device, Measurement
from harness.dut.client import DutClient
from harness.dut.inputs import DutInput, seeded_inputs
from harness.dut.modes import MLPERF, Progress, Rules, WindowedResult, measure_energy, measure_performance
from harness.dut.parity import HostReference
from harness.dut.records import DutLink, RetryPolicy
from harness.dut.transcript import Transcript
from harness.power.integrate import EnergyMeasurement
from harness.power.trace import Trace
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile
from harness.runs.rundir import RunDirectory
from harness.units import Duration, Energy, Power


class SerialDutDevice(Device):
    backend = "device"

    def __init__(self, target: TargetProfile, raw: Path, *, seed: int = 0, rules: Rules = MLPERF,
                 monitor: str | None = None, io_manager: bool = False, inputs: list[DutInput] | None = None,
                 retry: RetryPolicy | None = None, progress: Progress | None = None) -> None:
        super().__init__()
        self.target = target
        self.run = RunDirectory(raw.parent)
        self.seed = seed
        self.rules = rules
        self.monitor_spec = monitor
        self.link = DutLink(target.link.url, target.link.baud, target.link.timeout_s, io_manager)
        self.transcript_path = raw / "transcript.log"
        self.inputs = inputs
        self.retry = retry
        self.progress = progress
        self.client: DutClient | None = None
        self.host: HostReference | None = None
        self.result: WindowedResult | None = None

    def _do_deploy(self, model: ModelEntry, stack: str) -> Deployment:
        self._do_close()
        self.host = HostReference.load(model)
        if self.inputs is None:
            self.inputs = seeded_inputs(self.host.input, self.rules.windows, self.seed, model.name)
        self.client = DutClient(self.link, Transcript(self.transcript_path), retry=self.retry)
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

    def _do_measure(self, runs: int, warmup: int) -> Measurement:
        assert self.client is not None and self.deployment is not None and self.inputs is not None
        rules = Rules(self.rules.windows, self.rules.min_window_s, warmup, self.rules.label, self.rules.stretches)
        stem = f"raw/{'energy' if self.monitor_spec else 'latency'}_windows__{self.deployment.model.name}__" \
               f"{self.target.name}.jsonl"
        if self.monitor_spec is None:
            self.result = measure_performance(self.client, self.inputs, rules, self.run, self.progress, min_n=runs,
                                              name=stem)
            return Measurement(self.result.latencies_s, None, None, None, [self._scores()], self.backend)
        from harness.power.monitor import open_monitor

        voltage = (self.target.power_monitor.voltage if self.target.power_monitor else None) \
            or self.target.power.supply_v
        monitor_log = self.transcript_path.with_name("monitor.log")
        with open_monitor(self.monitor_spec, voltage_v=voltage, log_path=monitor_log) as monitor:
            self.result = measure_energy(self.client, monitor, self.inputs, rules, self.run, self.progress,
                                         min_n=runs, name=stem)
        w = median_energy_window(self.result)
        trace = Trace.from_parquet(self.run.path / w["trace"])
        return Measurement(self.result.latencies_s, None, _energy(w), trace, [self._scores()], self.backend)

    def _scores(self) -> np.ndarray:
        assert self.result is not None
        return np.array(self.result.windows[-1].get("scores", []), dtype=np.float64)

    def _do_close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client.transcript.close()
            self.client = None
        if self.host is not None:
            self.host.close()
            self.host = None


def median_energy_window(result: WindowedResult) -> dict:
    name = result.extra["median_window"]
    return next(w for w in result.windows if w["window"] == name)


def _energy(window: dict) -> EnergyMeasurement:
    """The median window as an EnergyMeasurement (its energy, duration, N and idle floor)."""
    return EnergyMeasurement(Duration(window["window_s"]), Energy.from_uj(window["energy_uj"]), window["n"],
                             Power.from_mw(window["idle_power_mw"]))
