"""LiteRT ``benchmark_model`` output as numbers: timing statistics, the summary line and the memory footprint.

The tool prints a ``Stat`` per phase (warm-up, then the timed runs) as ``count=N first=.. curr=.. min=..
max=.. avg=.. std=..`` in microseconds, newer builds adding ``p5= median= p95=``; a phase whose samples
were all equal prints ``count=N curr=X`` (then ``(all same)`` when N > 1), and one that ran none
``count=0``. Values go through a C++
ostream, so large averages come in scientific notation (``avg=2.95034e+06``). Then
``Inference timings in us: Init: .., First inference: .., Warmup (avg): .., Inference (avg): ..`` and a
memory line: ``Peak memory footprint (MB): init=.. overall=..`` (newer) or ``Memory footprint delta
from the start of the tool (MB): init=.. overall=..`` (older), and with periodic monitoring
``Overall peak memory footprint (MB) via periodic monitoring: ..``. Lines may carry a logcat or log
prefix (``I tflite  : ``, ``INFO: ``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from harness.core.errors import DataError

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"
STAT_KEYS = ("count", "first", "curr", "min", "max", "avg", "std", "p5", "median", "p95")
STAT_LINE = re.compile(r"\bcount=(\d+)(?P<rest>.*)$")
PAIR = re.compile(rf"\b(\w+)=({NUMBER})")
SUMMARY = re.compile(rf"Inference timings in us: Init: ({NUMBER}), First inference: ({NUMBER}), "
                     rf"Warmup \(avg\): ({NUMBER}), Inference \(avg\): ({NUMBER})")
PEAK = re.compile(rf"Peak memory footprint \(MB\): init=({NUMBER}) overall=({NUMBER})")
DELTA = re.compile(rf"Memory footprint delta from the start of the tool \(MB\): init=({NUMBER}) overall=({NUMBER})")
PERIODIC = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({NUMBER})")
MODEL_SIZE = re.compile(rf"The input model file size \(MB\): ({NUMBER})")
AVG_TOLERANCE = 1e-5  # the summary and the Stat line both print 6 significant digits


@dataclass(frozen=True)
class TimingStats:
    """One phase's statistics in microseconds (percentiles only from builds that print them)."""

    count: int
    curr_us: float
    min_us: float
    max_us: float
    avg_us: float
    std_us: float
    first_us: float | None = None
    p5_us: float | None = None
    median_us: float | None = None
    p95_us: float | None = None
    all_same: bool = False


@dataclass(frozen=True)
class Memory:
    """Footprint in MB: ``kind`` says whether ``init``/``overall`` are peaks or deltas from the tool's start."""

    kind: str  # "peak" or "delta"
    init_mb: float
    overall_mb: float


@dataclass(frozen=True)
class BenchmarkOutput:
    inference: TimingStats
    warmup: TimingStats | None = None
    init_us: float | None = None
    first_inference_us: float | None = None
    warmup_avg_us: float | None = None
    inference_avg_us: float | None = None
    memory: Memory | None = None
    periodic_peak_mb: float | None = None
    model_size_mb: float | None = None


def _stat(match: re.Match[str], line: str, source: str) -> TimingStats:
    values: dict[str, float] = {"count": float(match.group(1))}
    for key, value in PAIR.findall(match.group("rest")):
        if key not in STAT_KEYS:
            raise DataError(f"{source}: unknown statistic '{key}' in {line.strip()!r}",
                            hint=f"benchmark_model prints {', '.join(STAT_KEYS)}")
        values[key] = float(value)
    count = int(values["count"])
    if count == 0 and len(values) == 1:  # a phase that ran no inference (--warmup_runs=0) prints count=0 alone
        nan = float("nan")
        return TimingStats(0, nan, nan, nan, nan, nan)
    if "curr" not in values:
        raise DataError(f"{source}: statistics line without curr=: {line.strip()!r}")
    curr = values["curr"]
    if "avg" not in values:  # all samples equal: the tool prints only count and curr
        return TimingStats(count, curr, curr, curr, curr, 0.0, all_same=True)
    missing = [k for k in ("min", "max", "std") if k not in values]
    if missing:
        raise DataError(f"{source}: statistics line without {', '.join(missing)}: {line.strip()!r}")
    return TimingStats(count, curr, values["min"], values["max"], values["avg"], values["std"], values.get("first"),
                       values.get("p5"), values.get("median"), values.get("p95"))


def parse_benchmark_output(text: str, source: str = "benchmark_model output") -> BenchmarkOutput:
    """The last two statistics lines are the warm-up and the timed runs; the summary must agree with the latter."""
    stats: list[TimingStats] = []
    found: dict[str, object] = {}
    errors = []
    for line in text.splitlines():
        if (m := STAT_LINE.search(line)) is not None:
            stats.append(_stat(m, line, source))
        elif (m := SUMMARY.search(line)) is not None:
            found.update(init_us=float(m[1]), first_inference_us=float(m[2]), warmup_avg_us=float(m[3]),
                         inference_avg_us=float(m[4]))
        elif (m := PEAK.search(line)) is not None:
            found["memory"] = Memory("peak", float(m[1]), float(m[2]))
        elif (m := DELTA.search(line)) is not None:
            found["memory"] = Memory("delta", float(m[1]), float(m[2]))
        elif (m := PERIODIC.search(line)) is not None:
            found["periodic_peak_mb"] = float(m[1])
        elif (m := MODEL_SIZE.search(line)) is not None:
            found["model_size_mb"] = float(m[1])
        elif "ERROR" in line or "Failed" in line or "failed" in line:
            errors.append(line.strip())
    if not stats:
        detail = f"; it reported: {' | '.join(errors[-3:])}" if errors else ""
        raise DataError(f"{source}: no timing statistics (count=...) found{detail}",
                        hint="run benchmark_model with --graph=MODEL and keep its full output (stdout and stderr)")
    if stats[-1].count == 0:
        raise DataError(f"{source}: the timed phase ran no inference (count=0)",
                        hint="run benchmark_model with --num_runs of 1 or more")
    result = BenchmarkOutput(inference=stats[-1], warmup=stats[-2] if len(stats) > 1 else None, **found)  # type: ignore[arg-type]
    _check_summary(result, source)
    return result


def _check_summary(result: BenchmarkOutput, source: str) -> None:
    summary = result.inference_avg_us
    if summary is None:
        return
    avg = result.inference.avg_us
    if not math.isclose(avg, summary, rel_tol=AVG_TOLERANCE, abs_tol=1.0):
        raise DataError(f"{source}: the timed runs' avg={avg:g} us disagrees with 'Inference (avg): {summary:g}'",
                        hint="the output mixes two runs; capture one benchmark_model run per file")
