"""An Android phone over adb: the user's LiteRT ``benchmark_model`` times the model on the phone.

Deploying finds the phone, records its facts, copies the binary and the model to its working folder
and runs the model once (so a binary of the wrong architecture, a full disk or an unloadable model
fails at deploy). ``benchmark_model`` prints statistics, not each inference, so each timed inference
is one process's single timed run after the plan's warm-ups: the latency samples are single
inferences timed by the tool on the phone's clock. One more process runs the whole loop (all runs
in one process): its own statistics and memory footprint go in the row, and its power when the
target names the battery as its monitor. Inference feeds an input file and reads the output file
back (``--input_layer_value_files``, ``--output_filepath``: LiteRT builds that have the latter).
Backend ``device``; commands and output go to ``raw/adb__<target>.log``.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis import analyze
from harness.core.errors import ConfigError, DeviceError, HarnessError, MeasurementError
from harness.core.hashing import sha256_file
from harness.core.progress import Progress
from harness.core.transcript import Transcript
from harness.devices.adb import power
from harness.devices.adb.address import AdbAddress
from harness.devices.adb.facts import SEVERE, battery_state, device_facts, parse_getprop, thermal_name, thermal_status
from harness.devices.adb.session import AdbSession
from harness.devices.base import Deployment, Device, Measurement, check_counts, measuring
from harness.devices.benchmark_model.output import BenchmarkOutput, parse_benchmark_output
from harness.devices.benchmark_model.tool import (
    BINARY,
    ShellResult,
    flags,
    loop_record,
    loop_row_fields,
    single_run_latencies,
)
from harness.devices.capabilities import Capability, EnergyMeter, Inference, LatencyMeter
from harness.power.rails.android import BatterySample
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runtimes import RuntimeOptions, TensorInfo, get_runtime
from harness.runtimes.inputs import ModelInput

INPUT_FILE = "input.bin"
OUTPUT_FILE = "output.bin"
TEMPERATURE_RISE_C = 2.0


class AdbDevice(Device, LatencyMeter, EnergyMeter, Inference):
    """A phone at ``adb://[SERIAL | HOST:PORT]?benchmark_model=PATH`` running the user's LiteRT benchmark_model."""

    backend = "device"

    def __init__(self, target: TargetProfile, run: RunDirectory, *, options: RuntimeOptions | None = None,
                 progress: Progress | None = None) -> None:
        super().__init__(target)
        self.address = AdbAddress.parse(target.link.url, target.name)
        self.run = run
        self.options = options or RuntimeOptions()
        self.progress = progress
        self.battery = _battery(target)
        self.session: AdbSession | None = None
        self._model_file = ""
        self._io: tuple[TensorInfo, TensorInfo] | None = None

    @property
    def log_path(self) -> Path:
        return self.run.path / contract.adb_log(self.target.name)

    # ---- deploy ---------------------------------------------------------------------------------------------

    def _binary(self) -> Path:
        binary = self.address.benchmark_model
        if binary is None:
            raise ConfigError(f"{self.where}: the link names no benchmark_model binary",
                              hint="build LiteRT's benchmark_model for the phone (bazel build -c opt "
                                   "--config=android_arm64 //tflite/tools/benchmark:benchmark_model) and add "
                                   "?benchmark_model=PATH to the adb:// link; the harness never downloads it")
        if not binary.is_file():
            raise ConfigError(f"{self.where}: benchmark_model binary {binary} does not exist",
                              hint="fix ?benchmark_model= in the adb:// link")
        return binary

    def _do_deploy(self, model: ModelEntry, stack: str) -> Deployment:
        if model.stages:
            raise ConfigError(f"model '{model.name}' has {len(model.stages)} front-end stages; "
                              f"{self.where} runs one model file", hint="use a single-stage model for phone runs")
        if model.format != "tflite":
            raise ConfigError(f"{self.where}: benchmark_model runs .tflite models, not '{model.format}'",
                              hint="convert the model to .tflite, or measure it on another target")
        binary = self._binary()
        self._do_close()
        artifact = model.artifact_path()
        self._model_file = artifact.name
        self._io = None
        self.session = AdbSession(self.address, Transcript(self.log_path), self.where, self.target.link.timeout_s)
        try:
            s = self.session
            s.open()
            facts = self._facts()
            s.shell(f"mkdir -p {self.address.workdir}", "creating the working folder")
            s.push(binary, self.address.remote(BINARY), mode=0o755)
            s.push(artifact, self.address.remote(artifact.name))
            self._check_thermal(facts, "before deploying")
            loaded = self._benchmark("loading and running the model once", runs=1, warmup=0)
        except BaseException:
            self._do_close()
            raise
        profile = analyze(artifact)
        return Deployment(
            model=model, profile=profile, stack=stack, arena_bytes=profile.peak_activation_bytes,
            runtime=f"LiteRT benchmark_model ({self.delegate})",
            details={"arena_source": "static-estimate", "dut_name": facts["model"] or s.serial, "serial": s.serial,
                     "link": self.target.link.url, "phone": facts, "threads": self.options.threads,
                     "benchmark_model": str(binary), "benchmark_model_sha256": sha256_file(binary),
                     "delegate": self.delegate, "init_ms": (loaded.init_us or float("nan")) / 1e3,
                     "log": str(self.log_path), "warnings": []},
        )

    @property
    def delegate(self) -> str:
        return self.address.delegate or ("xnnpack" if self.options.xnnpack else "cpu")

    def _facts(self) -> dict[str, Any]:
        assert self.session is not None
        props = parse_getprop(self.session.shell("getprop", "reading the phone's properties").stdout)
        return {**device_facts(props), **self._thermal()}

    def _thermal(self) -> dict[str, Any]:
        assert self.session is not None
        thermal = self.session.shell("dumpsys thermalservice", "reading the thermal status", check=False).stdout
        battery = self.session.shell("dumpsys battery", "reading the battery state", check=False).stdout
        status = thermal_status(thermal)
        return {"thermal_status": status, "thermal": thermal_name(status), **battery_state(battery)}

    def _check_thermal(self, facts: dict[str, Any], when: str) -> None:
        status = facts.get("thermal_status")
        if status is not None and status >= SEVERE:
            raise self.session.error(  # type: ignore[union-attr]
                f"thermal status is {facts['thermal']} ({status}) {when}: the phone throttles hard and is close to "
                f"shutting down (battery {facts.get('battery_temperature_c')} C)",
                hint="let the phone cool (screen off, out of its case, not charging), then continue with --resume")

    # ---- benchmark_model ------------------------------------------------------------------------------------

    def _flags(self, runs: int, warmup: int, min_secs: float = 0.0) -> list[str]:
        return flags(self.address.remote(self._model_file), self.options.threads, runs, warmup, self.delegate,
                     min_secs)

    def _command(self, flags: list[str]) -> str:
        return " ".join([self.address.remote(BINARY), *flags])

    def _benchmark(self, step: str, runs: int, warmup: int, *extra: str, min_secs: float = 0.0) -> BenchmarkOutput:
        assert self.session is not None
        result = self.session.shell(self._command([*self._flags(runs, warmup, min_secs), *extra]), step,
                                    check=False)
        return self._parsed(result, step)

    def _parsed(self, result: ShellResult, step: str) -> BenchmarkOutput:
        assert self.session is not None
        if result.status != 0:
            raise self.session.failed(step, result)
        try:
            return parse_benchmark_output(f"{result.stdout}\n{result.stderr}", source=f"{self.where}: {step}")
        except HarnessError as e:
            raise MeasurementError(e.message, hint=e.hint, log_path=self.log_path) from None

    # ---- capabilities ---------------------------------------------------------------------------------------

    def capabilities(self) -> list[type[Capability]]:
        """Energy too when the target names the phone's battery gauge as its power monitor."""
        return [LatencyMeter, EnergyMeter, Inference] if self.battery is not None else [LatencyMeter, Inference]

    def lacking(self, capability: type[Capability]) -> str | None:
        if capability is EnergyMeter:
            return (f"name the battery as the target's monitor: power_monitor: {{model: {power.BATTERY_MONITOR}}} "
                    "(the phone must run on battery: adb over Wi-Fi, or a USB link that does not charge)")
        return None

    @measuring
    def measure_latency(self, runs: int, warmup: int) -> Measurement:
        """``runs`` single timed inferences (one process each, after ``warmup``), then the loop in one process."""
        return self._measure(runs, warmup, energy=False)

    @measuring
    def measure_energy(self, runs: int, warmup: int) -> Measurement:
        """As latency, with the battery read idle before the loop and during it: (active - idle) x time."""
        return self._measure(runs, warmup, energy=True)

    def _measure(self, runs: int, warmup: int, energy: bool) -> Measurement:
        check_counts(runs, warmup)
        assert self.session is not None and self.deployment is not None
        before = self._thermal()
        self._check_thermal(before, "before the measurement")
        latencies = single_run_latencies(lambda step: self._benchmark(step, 1, warmup), runs, self.where,
                                         self.log_path, self.progress)
        phone_energy = None
        if energy:
            loop, phone_energy = self._energy_loop(runs, warmup)
        else:
            loop = self._benchmark("the timed loop in one process", runs, warmup, "--report_peak_memory_footprint=true")
        after = self._thermal()
        self._check_thermal(after, "after the measurement")
        warnings = phone_warnings(before, after)
        for warning in warnings:
            print(f"warning: {self.where}: {warning}", file=sys.stderr)
            self.session.transcript.note(f"warning: {warning}")
        details = self.deployment.details
        details.update(phone_before=before, phone_after=after, warnings=warnings, loop=loop_record(loop))
        phone = details["phone"]
        row = {"link": self.target.link.url, "dut_name": details["dut_name"], "delegate": self.delegate,
               "phone_serial": details["serial"], "phone_soc": phone["soc"] or phone["board_platform"],
               "android_version": phone["android_version"], "phone_abi": phone["abi"],
               "benchmark_model_sha256": details["benchmark_model_sha256"],
               "thermal_before": before["thermal"], "thermal_after": after["thermal"],
               "battery_temperature_c_before": before["battery_temperature_c"],
               "battery_temperature_c_after": after["battery_temperature_c"], "phone_warnings": "; ".join(warnings),
               **loop_row_fields(loop)}
        if phone_energy is not None:
            row.update(phone_energy.row_fields(), energy_basis="net of idle: (active - idle) x loop time per inference")
        return Measurement(device_latency_s=latencies, host_latency_s=None,
                           energy=phone_energy.measurement if phone_energy else None, trace=None, outputs=[],
                           backend=self.backend, summary={"phone_before": before, "phone_after": after,
                                                          "loop": loop_record(loop), "warnings": warnings},
                           row_fields=row)

    def _energy_loop(self, runs: int, warmup: int) -> tuple[BenchmarkOutput, power.PhoneEnergy]:
        """The loop in a thread (its own adb connection) while this one reads the battery."""
        assert self.session is not None and self.battery is not None
        s = self.session
        read = power.read_command(self.battery)
        where = f"{self.where}: /sys/class/power_supply/{self.battery}"
        idle = [power.parse_read(t, r.stdout, where)
                for t, r in s.poll(read, "reading the battery (idle)", lambda: True, power.PERIOD_S, power.IDLE_S)]
        outcome: dict[str, Any] = {}
        command = self._command([*self._flags(runs, warmup, power.LOOP_MIN_S), "--report_peak_memory_footprint=true"])

        def loop() -> None:
            try:
                outcome["result"] = s.shell(command, "the timed loop with the battery read", check=False)
            except DeviceError as e:
                outcome["error"] = e
            finally:
                outcome["end"] = time.monotonic()

        thread = threading.Thread(target=loop, daemon=True)
        outcome["start"] = time.monotonic()
        thread.start()
        polled = s.poll(read, "reading the battery (loop)", lambda: not thread.is_alive(), power.PERIOD_S)
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        result = self._parsed(outcome["result"], "the timed loop with the battery read")
        active: list[BatterySample] = []
        for t, r in polled:
            if outcome["start"] + power.SETTLE_S < t < outcome["end"] - power.SETTLE_S:  # well inside the loop
                active.append(power.parse_read(t, r.stdout, where))
        energy = power.loop_energy(idle, active, result.inference.avg_us / 1e6, result.inference.count)
        return result, energy

    @measuring
    def infer(self, x: ModelInput) -> np.ndarray:
        """The input's bytes through the model on the phone: its first output, dequantized."""
        assert self.session is not None and self.deployment is not None
        source, output = self._tensors()
        local = self.run.path / "raw" / f"adb_input__{self.target.name}.bin"
        local.write_bytes(x.data)
        s = self.session
        s.push(local, self.address.remote(INPUT_FILE))
        shape = ",".join(str(d) for d in source.shape)
        name = source.name.replace(":", "::")
        self._benchmark(f"inference on input '{x.id}'", 1, 0, f"--input_layer={name}",
                                 f"--input_layer_shape={shape}",
                                 f"--input_layer_value_files={name}:{self.address.remote(INPUT_FILE)}",
                                 f"--output_filepath={self.address.remote(OUTPUT_FILE)}")
        raw = s.read(self.address.remote(OUTPUT_FILE), f"reading the output of input '{x.id}'")
        count = int(np.prod(output.shape))
        need = count * output.dtype.itemsize
        if len(raw) < need:
            raise MeasurementError(f"{self.where}: the output file of input '{x.id}' holds {len(raw)} bytes, the "
                                   f"output '{output.name}' needs {need}",
                                   hint="this benchmark_model build may not support --output_filepath: use a "
                                        "LiteRT build from 2024 or later", log_path=self.log_path)
        values = np.frombuffer(raw[:need], dtype=output.dtype).astype(np.float64)
        if output.quantized:
            values = (values - output.zero_point) * output.scale
        return values

    def _tensors(self) -> tuple[TensorInfo, TensorInfo]:
        """The model's first input and output as LiteRT on the host reads them (names, shapes, quantization)."""
        if self._io is None:
            assert self.deployment is not None
            session = get_runtime("litert").load(self.deployment.model.artifact_path(), RuntimeOptions())
            inputs, outputs = session.inputs, session.outputs
            session.close()
            if len(inputs) != 1:
                raise ConfigError(f"{self.where}: inference on the phone feeds one input tensor; model "
                                  f"'{self.deployment.model.name}' has {len(inputs)}",
                                  hint="measure its latency on the phone and its accuracy on the host")
            self._io = (inputs[0], outputs[0])
        return self._io

    def _do_close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session.transcript.close()
            self.session = None


def _battery(target: TargetProfile) -> str | None:
    spec = target.power_monitor
    if spec is None:
        return None
    if spec.kind != power.BATTERY_MONITOR:
        raise ConfigError(f"target '{target.name}': a phone over adb measures energy with its battery gauge, not a "
                          f"'{spec.kind}' monitor", hint=f"power_monitor: {{model: {power.BATTERY_MONITOR}}} (url: "
                                                         "the power_supply name, default battery); or remove it")
    return spec.url or AdbAddress.supply


def phone_warnings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What makes a phone's latency less trustworthy: heating, rising thermal status, charging during energy."""
    warnings = []
    t0, t1 = before.get("battery_temperature_c"), after.get("battery_temperature_c")
    if t0 is not None and t1 is not None and t1 - t0 > TEMPERATURE_RISE_C:
        warnings.append(f"battery temperature rose from {t0:.1f} to {t1:.1f} C during the measurement")
    s0, s1 = before.get("thermal_status"), after.get("thermal_status")
    if s0 is not None and s1 is not None and s1 > s0:
        warnings.append(f"thermal status rose from {before['thermal']} to {after['thermal']} during the measurement")
    return warnings
