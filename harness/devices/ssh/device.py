"""A Linux board over SSH: the model and the board runner go over SFTP, the board's own runtime times it.

Deploying connects, copies both files into the board's working folder and loads the model there once
(so a missing runtime or an unloadable model fails at deploy), recording the board's facts. Latency is
timed on the board, one JSON line per invoke; inference keeps one runner process serving inputs. With
``?benchmark_model=PATH`` the user's LiteRT binary times the model instead (harness.devices.ssh.benchmark).
Backend ``device``; the session's commands and output go to ``raw/ssh__<target>.log``.
"""

from __future__ import annotations

import base64
import shlex
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis import analyze
from harness.core.errors import ConfigError, MeasurementError
from harness.core.hashing import sha256_file
from harness.core.progress import Progress
from harness.core.transcript import Transcript
from harness.devices.base import Deployment, Device, Measurement, check_counts, measuring
from harness.devices.benchmark_model.tool import loop_record, loop_row_fields
from harness.devices.capabilities import Capability, EnergyMeter, Inference, LatencyMeter
from harness.devices.ssh.address import SshAddress
from harness.devices.ssh.benchmark import BoardBenchmark, binary_path
from harness.devices.ssh.rails import BOARD_RAILS, IDLE_MS, PERIOD_MS, RailChoice, rail_snapshots, window_energy
from harness.devices.ssh.session import SshSession
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runtimes import RuntimeOptions
from harness.runtimes.inputs import ModelInput

RUNNER = "board_runner.py"
TEMPERATURE_RISE_C = 2.0  # a rise above this between before and after a measurement is reported


def log_name(target: str) -> str:
    """The session log in the run directory."""
    return contract.ssh_log(target)


class SshDevice(Device, LatencyMeter, EnergyMeter, Inference):
    """A Linux board at ``ssh://user@host[:port]`` running LiteRT (or ONNX Runtime) in its own Python."""

    backend = "device"

    def __init__(self, target: TargetProfile, run: RunDirectory, *, seed: int = 0,
                 options: RuntimeOptions | None = None, progress: Progress | None = None) -> None:
        super().__init__(target)
        self.address = SshAddress.parse(target.link.url, target.name)
        self.run = run
        self.seed = seed
        self.options = options or RuntimeOptions()
        self.progress = progress
        self.rails = _rails(target)
        self.binary = binary_path(self.address, self.where)
        self.session: SshSession | None = None
        self.benchmark: BoardBenchmark | None = None
        self._model_file = ""

    @property
    def log_path(self) -> Path:
        return self.run.path / log_name(self.target.name)

    def _runner(self, *args: str) -> str:
        python = " ".join(shlex.quote(p) for p in shlex.split(self.address.python))
        return self.address.pinned(f"{python} {self.address.remote(RUNNER)} {' '.join(shlex.quote(a) for a in args)}")

    def _model_args(self) -> list[str]:
        args = ["--model", f"{self.address.workdir}/{self._model_file}", "--threads", str(self.options.threads)]
        return [*args, "--xnnpack"] if self.options.xnnpack else args

    def _do_deploy(self, model: ModelEntry, stack: str) -> Deployment:
        if model.stages:
            raise ConfigError(f"model '{model.name}' has {len(model.stages)} front-end stages; "
                              f"{self.where} runs one model file", hint="use a single-stage model for board runs")
        if self.binary is not None and model.format != "tflite":
            raise ConfigError(f"{self.where}: benchmark_model runs .tflite models, not '{model.format}'",
                              hint="remove ?benchmark_model= to time it with the board's Python runner")
        self._do_close()
        artifact = model.artifact_path()
        self._model_file = artifact.name
        self.session = SshSession(self.address, Transcript(self.log_path), self.where, self.target.link.timeout_s)
        details: dict[str, Any] = {}
        try:
            self.session.open()
            self.session.run(f"mkdir -p {shlex.quote(self.address.workdir)}", "creating the working folder")
            with resources.as_file(resources.files(__package__) / RUNNER) as runner:
                self.session.put(runner, f"{self.address.workdir}/{RUNNER}")
            self.session.put(artifact, f"{self.address.workdir}/{artifact.name}")
            if self.binary is None:
                events = self.session.stream(self._runner("load", *self._model_args()),
                                             "loading the model on the board", timeout_s=self.target.link.timeout_s * 6)
                board, loaded = _first(events, "facts"), _first(events, "loaded")
                runtime = loaded["runtime"]
                details["model_inputs"] = loaded["inputs"]
            else:
                self.benchmark = BoardBenchmark(self.session, self._model_file, self.options.threads,
                                                self.options.xnnpack, self.log_path)
                self.benchmark.push(self.binary)
                board = self._facts("reading the board's facts")
                once = self.benchmark.run("loading and running the model once", 1, 0)
                runtime = f"LiteRT benchmark_model ({self.benchmark.delegate})"
                details.update(benchmark_model=str(self.binary), benchmark_model_sha256=sha256_file(self.binary),
                               delegate=self.benchmark.delegate, init_ms=(once.init_us or float("nan")) / 1e3)
        except BaseException:
            self._do_close()
            raise
        profile = analyze(artifact)
        return Deployment(
            model=model, profile=profile, stack=stack, arena_bytes=profile.peak_activation_bytes, runtime=runtime,
            details={"arena_source": "static-estimate", "dut_name": board["hostname"], "link": self.target.link.url,
                     "board": _board_facts(board), "threads": self.options.threads, "xnnpack": self.options.xnnpack,
                     **details, "log": str(self.log_path), "warnings": []},
        )

    def _facts(self, step: str) -> dict[str, Any]:
        """The board runner's facts (kernel, cores, governors, temperatures, trip points)."""
        assert self.session is not None
        return _first(self.session.stream(self._runner("facts"), step), "facts")

    def capabilities(self) -> list[type[Capability]]:
        """Energy too when the target names the board's own rails and the Python runner samples them."""
        if self.rails is not None and self.binary is None:
            return [LatencyMeter, EnergyMeter, Inference]
        return [LatencyMeter, Inference]

    def lacking(self, capability: type[Capability]) -> str | None:
        if capability is EnergyMeter and self.binary is not None:
            return ("the board's rails are sampled by the Python runner, around its own timed loop: remove "
                    "?benchmark_model= from the link to measure energy")
        if capability is EnergyMeter:
            return (f"name the board's rails in the target profile: power_monitor: {{model: {BOARD_RAILS}, "
                    "url: jetson}} or url: 'hwmon:<label>'")
        return None

    @measuring
    def measure_latency(self, runs: int, warmup: int) -> Measurement:
        """``warmup`` untimed then ``runs`` timed invokes on the board; latency as the board's clock saw it."""
        return self._bench(runs, warmup)

    @measuring
    def measure_energy(self, runs: int, warmup: int) -> Measurement:
        """The timed loop with the board's rails sampled around it: energy between the loop's clock edges / N."""
        assert self.rails is not None
        return self._bench(runs, warmup, "--rails-ms", f"{PERIOD_MS:g}", "--idle-ms", f"{IDLE_MS:g}")

    def _bench(self, runs: int, warmup: int, *extra: str) -> Measurement:
        check_counts(runs, warmup)
        assert self.session is not None and self.deployment is not None
        if self.benchmark is not None:
            return self._bench_binary(runs, warmup)
        command = self._runner("bench", *self._model_args(), "--runs", str(runs), "--warmup", str(warmup),
                               "--seed", str(self.seed), *extra)
        events = self.session.stream(command, "timing inferences", self._progress(runs))
        latencies = np.array([e["ns"] for e in events if e.get("event") == "latency"], dtype=np.float64) / 1e9
        if len(latencies) != runs:
            raise MeasurementError(f"{self.where}: the board timed {len(latencies)} inferences, {runs} were asked",
                                   log_path=self.log_path)
        before = _board_facts(_first(events, "facts", "before"))
        after = _board_facts(_first(events, "facts", "after"))
        done = _first(events, "done")
        energy = None
        if self.rails is not None and extra:
            window = _first(events, "window")
            energy = window_energy(rail_snapshots(events, self.rails), window["start_ns"] / 1e9,
                                   window["end_ns"] / 1e9, runs)
        return self._measurement(latencies, before, after, energy, [np.array(done["scores"], dtype=np.float64)])

    def _bench_binary(self, runs: int, warmup: int) -> Measurement:
        """Single timed runs of benchmark_model, then its whole loop, between two readings of the board's facts."""
        assert self.benchmark is not None
        before = _board_facts(self._facts("reading the board's facts before the measurement"))
        latencies = self.benchmark.latencies(runs, warmup, self.progress)
        loop = self.benchmark.loop(runs, warmup)
        after = _board_facts(self._facts("reading the board's facts after the measurement"))
        details = self.deployment.details  # type: ignore[union-attr]
        details["loop"] = loop_record(loop)
        return self._measurement(latencies, before, after, None, [], {
            "delegate": details["delegate"], "benchmark_model_sha256": details["benchmark_model_sha256"],
            **loop_row_fields(loop)})

    def _measurement(self, latencies: np.ndarray, before: dict[str, Any], after: dict[str, Any], energy: Any,
                     outputs: list[np.ndarray], extra_row: dict[str, Any] | None = None) -> Measurement:
        assert self.session is not None and self.deployment is not None
        warnings = board_warnings(before, after)
        for warning in warnings:
            print(f"warning: {self.where}: {warning}", file=sys.stderr)
            self.session.transcript.note(f"warning: {warning}")
        details = self.deployment.details
        details.update(board_before=before, board_after=after, warnings=warnings)
        return Measurement(
            device_latency_s=latencies, host_latency_s=None, energy=energy, trace=None, outputs=outputs,
            backend=self.backend, summary={"board_before": before, "board_after": after, "warnings": warnings},
            row_fields={"link": self.target.link.url, "dut_name": details["dut_name"],
                        "board_kernel": before["kernel"], "cpu_governor": ",".join(before["governors"]),
                        "cpu_affinity": ",".join(str(c) for c in before.get("affinity") or []),
                        "temperature_c_before": before["max_temperature_c"],
                        "temperature_c_after": after["max_temperature_c"], "board_warnings": "; ".join(warnings),
                        **(extra_row or {})},
        )

    def _progress(self, runs: int) -> Any:
        if self.progress is None:
            return None
        progress = self.progress

        def on_line(event: dict[str, Any]) -> None:
            if event.get("event") == "latency" and (event["i"] + 1) % max(1, runs // 20) == 0:
                progress("timed inferences", event["i"] + 1, runs)

        return on_line

    @measuring
    def infer(self, x: ModelInput) -> np.ndarray:
        """The input's bytes through the model on the board: its dequantized output scores."""
        assert self.session is not None and self.deployment is not None
        if not self.session.serving:
            args = self._model_args() + (["--streaming"] if self.deployment.model.streaming else [])
            self.session.start(self._runner("serve", *args), "starting the inference server on the board")
        data = base64.b64encode(x.data).decode("ascii")
        event = self.session.request({"id": x.id, "data": data}, f"inference on input '{x.id}'")
        if event.get("event") != "scores" or event.get("id") != x.id:
            raise MeasurementError(f"{self.where}: expected scores for input '{x.id}', the board sent {event}",
                                   log_path=self.log_path)
        return np.array(event["scores"], dtype=np.float64)

    def _do_close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session.transcript.close()
            self.session = None
            self.benchmark = None


def _rails(target: TargetProfile) -> RailChoice | None:
    spec = target.power_monitor
    if spec is None:
        return None
    if spec.kind != BOARD_RAILS:
        raise ConfigError(f"target '{target.name}': an SSH board measures energy with its own rails, not a "
                          f"'{spec.kind}' monitor", hint=f"power_monitor: {{model: {BOARD_RAILS}, url: jetson}} or "
                                                         "url: 'hwmon:<label>'; or remove power_monitor")
    return RailChoice.parse(spec, target.name)


def _first(events: list[dict[str, Any]], kind: str, when: str | None = None) -> dict[str, Any]:
    for e in events:
        if e.get("event") == kind and (when is None or e.get("when") == when):
            return e
    raise MeasurementError(f"the board runner sent no '{kind}' event" + (f" ({when})" if when else ""))


def _board_facts(event: dict[str, Any]) -> dict[str, Any]:
    """The facts the runner reported, plus the hottest zone (None when /sys exposes no thermal zone)."""
    facts = {k: v for k, v in event.items() if k not in ("event", "when")}
    temps = facts.get("temperatures_c") or {}
    facts["max_temperature_c"] = max(temps.values()) if temps else None
    return facts


def board_warnings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What makes a board's latency less trustworthy: a scaling governor, heating, throttling."""
    warnings = []
    slow = [g for g in before.get("governors", []) if g != "performance"]
    if slow:
        warnings.append(f"CPU frequency governor is {', '.join(slow)}, not performance: latency includes clock "
                        "ramp-up (echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)")
    t0, t1 = before.get("max_temperature_c"), after.get("max_temperature_c")
    if t0 is not None and t1 is not None and t1 - t0 > TEMPERATURE_RISE_C:
        warnings.append(f"temperature rose from {t0:.1f} to {t1:.1f} C during the measurement")
    flags = after.get("throttling", {}).get("rpi_get_throttled")
    if flags is not None and int(str(flags), 16) != 0:
        warnings.append(f"the firmware reports throttling (get_throttled={flags})")
    c0 = before.get("throttling", {}).get("core_throttle_count")
    c1 = after.get("throttling", {}).get("core_throttle_count")
    if c0 is not None and c1 is not None and c1 > c0:
        warnings.append(f"the CPU throttled {c1 - c0} times during the measurement (core_throttle_count)")
    return warnings
