"""LiteRT's ``benchmark_model`` on a Linux board: the user's binary for the board's architecture, run over SSH.

An alternative to the Python board runner (``?benchmark_model=PATH``): the binary and the model go over
SFTP, the model runs once at deploy (so a binary of the wrong architecture fails there), and latency
samples are single timed runs as on a phone (harness.devices.benchmark_model.tool). The board's facts
still come from the runner's ``facts`` command, which needs only the board's Python standard library.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.core.errors import ConfigError, DeviceError, HarnessError, MeasurementError
from harness.core.progress import Progress
from harness.devices.benchmark_model.output import BenchmarkOutput, parse_benchmark_output
from harness.devices.benchmark_model.tool import (
    BINARY,
    NO_SPACE,
    ShellResult,
    flags,
    single_run_latencies,
    wrong_architecture,
)
from harness.devices.ssh.address import SshAddress
from harness.devices.ssh.session import MISSING_COMMAND, SshSession

BUILD_HINT = ("benchmark_model was built for another architecture: build it for the board's (`uname -m` on the "
              "board) with bazel build -c opt --config=elinux_aarch64 (64-bit Arm) or --config=elinux_armhf (32-bit "
              "Arm) //tflite/tools/benchmark:benchmark_model, and point ?benchmark_model= at it")


def binary_path(address: SshAddress, where: str) -> Path | None:
    """The user's binary named by the link (checked to exist), or None for the Python runner."""
    binary = address.benchmark_model
    if binary is not None and not binary.is_file():
        raise ConfigError(f"{where}: benchmark_model binary {binary} does not exist",
                          hint="fix ?benchmark_model= in the ssh:// link, or remove it to time with the Python runner")
    return binary


class BoardBenchmark:
    """Runs the pushed binary with the plan's settings and reads its output; failures name their cause."""

    def __init__(self, session: SshSession, model_file: str, threads: int, xnnpack: bool, log_path: Path) -> None:
        self.session = session
        self.model_file = model_file
        self.threads = threads
        self.delegate = "xnnpack" if xnnpack else "cpu"
        self.log_path = log_path

    @property
    def remote(self) -> str:
        return f"{self.session.address.workdir}/{BINARY}"

    def push(self, binary: Path) -> None:
        self.session.put(binary, self.remote, mode=0o755)

    def run(self, step: str, runs: int, warmup: int, *extra: str) -> BenchmarkOutput:
        address = self.session.address
        args = flags(f"{address.workdir}/{self.model_file}", self.threads, runs, warmup, self.delegate)
        command = address.pinned(" ".join([address.remote(BINARY), *args, *extra]))
        result = self.session.execute(command, step)
        if result.status != 0:
            raise self.failed(step, result)
        try:
            return parse_benchmark_output(f"{result.stdout}\n{result.stderr}", source=f"{self.session.where}: {step}")
        except HarnessError as e:
            raise MeasurementError(e.message, hint=e.hint, log_path=self.log_path) from None

    def failed(self, step: str, result: ShellResult) -> DeviceError:
        """The error for a failed run, with the cause when the output names a known one."""
        text = f"{result.stderr}\n{result.stdout}".strip()
        last = " | ".join(text.splitlines()[-3:])[-400:]
        if wrong_architecture(result):
            return self.session.error(f"{step}: the board cannot execute benchmark_model ({last})", hint=BUILD_HINT)
        if result.status == MISSING_COMMAND:
            return self.session.error(f"{step}: the board cannot find benchmark_model at {self.remote} ({last})",
                                      hint="the copy may have been removed; deploy again, or check ?dir=")
        if NO_SPACE in text.lower():
            return self.session.error(f"{step}: the board's disk is full ({last})",
                                      hint="free space on the board (df -h) or point ?dir= at another filesystem")
        return self.session.error(f"{step}: benchmark_model failed with exit status {result.status}: {last}")

    def latencies(self, runs: int, warmup: int, progress: Progress | None) -> np.ndarray:
        """``runs`` single timed runs, each after the plan's warm-ups, in seconds."""
        return single_run_latencies(lambda step: self.run(step, 1, warmup), runs, self.session.where, self.log_path,
                                    progress)

    def loop(self, runs: int, warmup: int) -> BenchmarkOutput:
        """The whole loop in one process: the tool's own statistics and memory footprint."""
        return self.run("the timed loop in one process", runs, warmup, "--report_peak_memory_footprint=true")
