"""Running LiteRT's ``benchmark_model`` on a device: its flags, single-run latency samples, and why it failed.

The tool prints statistics, not each inference, so a per-inference sample is one process's single timed
run after the plan's warm-ups (``--num_runs=1``), timed by the tool on the device's clock; one more
process runs the whole loop for the tool's own statistics and memory footprint. Phones (adb) and Linux
boards (SSH) share this; each says how to run a command on its device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import MeasurementError
from harness.core.progress import Progress
from harness.devices.benchmark_model.output import BenchmarkOutput

BINARY = "benchmark_model"
# what a shell or the kernel says when asked to run an executable built for another architecture
WRONG_ARCH = ("not executable: 64-bit elf", "not executable: 32-bit elf", "exec format error",
              "cannot execute binary file")
NO_SPACE = "no space left on device"


@dataclass(frozen=True)
class ShellResult:
    """A finished command on the device."""

    status: int
    stdout: str
    stderr: str


def wrong_architecture(result: ShellResult) -> bool:
    """Whether the command failed because the binary is for another CPU architecture."""
    text = f"{result.stderr}\n{result.stdout}".lower()
    return result.status != 0 and any(w in text for w in WRONG_ARCH)


def flags(graph: str, threads: int, runs: int, warmup: int, delegate: str, min_secs: float = 0.0) -> list[str]:
    """The plan's settings as benchmark_model flags (``--min_secs=0`` so the tool runs exactly ``runs``)."""
    args = [f"--graph={graph}", f"--num_threads={threads}", f"--num_runs={runs}", f"--warmup_runs={warmup}",
            f"--min_secs={min_secs:g}", "--warmup_min_secs=0",
            f"--use_xnnpack={'true' if delegate == 'xnnpack' else 'false'}"]
    if delegate == "gpu":
        args.append("--use_gpu=true")
    if delegate == "nnapi":
        args.append("--use_nnapi=true")
    return args


def single_run_latencies(run_once: Callable[[str], BenchmarkOutput], runs: int, where: str, log_path: Path,
                         progress: Progress | None = None) -> np.ndarray:
    """``runs`` latency samples in seconds, each one process's single timed run (``run_once(step)``)."""
    latencies = np.empty(runs)
    every = max(1, runs // 20)
    for i in range(runs):
        single = run_once(f"timed inference {i + 1} of {runs}")
        if single.inference.count != 1:
            raise MeasurementError(f"{where}: benchmark_model timed {single.inference.count} runs, 1 was asked",
                                   log_path=log_path)
        latencies[i] = single.inference.avg_us / 1e6
        if progress and (i + 1) % every == 0:
            progress("timed inferences", i + 1, runs)
    return latencies


def loop_record(loop: BenchmarkOutput) -> dict[str, Any]:
    """The whole-loop statistics benchmark_model printed, in ms (None where its build prints none)."""
    i = loop.inference

    def ms(us: float | None) -> float | None:
        return us / 1e3 if us is not None else None

    memory = loop.memory
    return {"runs": i.count, "avg_ms": ms(i.avg_us), "std_ms": ms(i.std_us), "min_ms": ms(i.min_us),
            "max_ms": ms(i.max_us), "p5_ms": ms(i.p5_us), "median_ms": ms(i.median_us), "p95_ms": ms(i.p95_us),
            "init_ms": ms(loop.init_us), "memory_kind": memory.kind if memory else None,
            "memory_overall_mb": memory.overall_mb if memory else None, "peak_memory_mb": loop.periodic_peak_mb}


def loop_row_fields(loop: BenchmarkOutput) -> dict[str, Any]:
    """The loop's record as efficiency-row columns (``loop_*``)."""
    return {f"loop_{k}": v for k, v in loop_record(loop).items() if k != "memory_kind"}
