"""MLPerf Tiny measurement modes over a DutClient, each result persisted under raw/ as it arrives.

Performance: 5 inputs, N inferences per window with N chosen so a window lasts at least 10 s,
throughput = N / ((lap_b - lap_a) / 1e6), score = median throughput, latency = 1000 / score ms.
Fewer windows or a short window make the run invalid, flagged by name; ``quick`` rules are allowed
and labelled. Energy: the power monitor records the DUT's timestamp edges; energy per inference =
energy between them / N. (Accuracy, ``infer 1 0`` per input, is the device's Inference capability.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.core.errors import MeasurementError
from harness.core.progress import Progress
from harness.dut.client import DutClient
from harness.dut.records import InferResult
from harness.power.integrate import EnergyMeasurement
from harness.power.monitor import PowerMonitor
from harness.power.trace import Trace
from harness.rundir.directory import RunDirectory
from harness.runtimes.inputs import ModelInput

LATENCY_WINDOWS = "raw/latency_windows.jsonl"
ENERGY_WINDOWS = "raw/energy_windows.jsonl"

MLPERF_WINDOWS = 5
MLPERF_MIN_WINDOW_S = 10.0
FEWER_THAN_5_WINDOWS = "fewer_than_5_windows"
WINDOW_UNDER_10_S = "window_under_10_s"
WINDOW_MARGIN = 1.05  # aim N at 5 % over the minimum window so jitter does not land a window just short
MAX_N = 10_000_000



@dataclass(frozen=True)
class Rules:
    """How many windows, how long each must last, warm-up per window; ``label`` names the rule set in outputs."""

    windows: int = MLPERF_WINDOWS
    min_window_s: float = MLPERF_MIN_WINDOW_S
    warmup: int = 10
    label: str = "mlperf"
    stretches: int = 2  # times a window that came out short is run again with a larger N


MLPERF = Rules()
QUICK = Rules(windows=3, min_window_s=1.0, warmup=1, label="quick")


def validity(window_s: Sequence[float], rules: Rules) -> tuple[str, list[str]]:
    """``(status, flags)``: flags name each broken MLPerf rule; quick runs are labelled ``quick`` whatever they hold."""
    flags = []
    if len(window_s) < MLPERF_WINDOWS:
        flags.append(FEWER_THAN_5_WINDOWS)
    if any(s < MLPERF_MIN_WINDOW_S for s in window_s):
        flags.append(WINDOW_UNDER_10_S)
    if rules.label != MLPERF.label:
        return rules.label, flags
    return ("invalid" if flags else "valid"), flags


@dataclass(frozen=True)
class WindowedResult:
    """The counted windows of a performance or energy run and the verdict on them."""

    mode: str
    rules: Rules
    windows: list[dict[str, Any]]
    status: str
    flags: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latencies_s(self) -> np.ndarray:
        return np.array([w["window_s"] / w["n"] for w in self.windows])

    @property
    def score_ips(self) -> float:
        """Median throughput over the windows (inferences per second)."""
        return float(np.median([w["n"] / w["window_s"] for w in self.windows]))

    @property
    def latency_ms(self) -> float:
        return 1000.0 / self.score_ips

    def record(self) -> dict[str, Any]:
        return {"mode": self.mode, "rules": self.rules.label, "status": self.status, "flags": self.flags,
                "windows": len(self.windows), "n_per_window": sorted({w["n"] for w in self.windows}),
                "window_s": [w["window_s"] for w in self.windows], "throughput_ips_median": self.score_ips,
                "latency_ms": self.latency_ms, **self.extra}


def infer_timeout_s(client: DutClient, n: int, warmup: int, per_inference_s: float) -> float:
    """Reply timeout for ``infer N W``: the link's timeout plus twice the expected device time."""
    return client.link.timeout_s + 2.0 * (n + warmup) * per_inference_s


def timed_seconds(result: InferResult, client: DutClient) -> float:
    elapsed = result.elapsed_us
    if elapsed is None:
        raise MeasurementError(
            f"the DUT printed {len(result.laps_us)} m-lap-us line(s) for 'infer {result.n} {result.warmup}'; "
            "performance mode needs two (too few timestamps)",
            hint="the firmware may be built for energy mode; rebuild it for performance mode",
            log_path=client.transcript.path)
    return elapsed / 1e6


def choose_n(per_inference_s: float, min_window_s: float) -> int:
    return max(1, min(MAX_N, math.ceil(min_window_s * WINDOW_MARGIN / max(per_inference_s, 1e-9))))


def _grow(n: int, elapsed_s: float, target_s: float) -> int:
    return min(MAX_N, n * max(2, math.ceil(target_s / max(elapsed_s, 1e-9))))


# ---- performance --------------------------------------------------------------------------------------


def calibrate(timed: Callable[[int, float], float], per_inference_s: float, target_s: float) -> float:
    """Device seconds per inference from growing runs (``timed(n, per)`` -> seconds) until one lasts ``target_s``."""
    n = 1
    while True:
        elapsed = timed(n, per_inference_s)
        per_inference_s = elapsed / n
        if elapsed >= target_s or n >= MAX_N:
            return per_inference_s
        n = _grow(n, elapsed, target_s)


def _timed_infer(client: DutClient) -> Callable[[int, float], float]:
    """``(n, per) -> seconds`` of one ``infer n 0`` by the DUT's lap timestamps."""
    return lambda n, per: timed_seconds(client.infer(n, 0, infer_timeout_s(client, n, 0, per)), client)


def calibrate_performance(client: DutClient, target_s: float) -> float:
    """Device seconds per inference, from growing ``infer n 0`` runs until one lasts ``target_s``."""
    return calibrate(_timed_infer(client), client.link.timeout_s / 2, target_s)


Window = Callable[[int, int, int, float], tuple[float, dict[str, Any]]]


def measure_windows(client: DutClient, inputs: Sequence[ModelInput], rules: Rules, run: RunDirectory, name: str,
                    window: Window, timed: Callable[[int, float], float], *, label: str,
                    progress: Progress | None = None, min_n: int = 1) -> list[dict[str, Any]]:
    """The window loop both modes share: N from a calibration, one input per window, a short window run again
    with a larger N, every attempt appended to ``name`` as it ends; finished windows of a killed run are kept.

    ``window(i, stretch, n, per)`` runs one window and returns its seconds and the fields to record.
    """
    done = _counted(run, name)
    if done:
        per = done[-1]["window_s"] / done[-1]["n"]
    else:
        client.load(inputs[0].data)
        per = calibrate(timed, client.link.timeout_s / 2, min(1.0, rules.min_window_s / 10))
    n = max(min_n, choose_n(per, rules.min_window_s))
    for i in range(len(done), rules.windows):
        x = inputs[i % len(inputs)]
        if progress:
            progress(f"{label} {i + 1}/{rules.windows} ({n} inferences)", i, rules.windows)
        client.load(x.data)
        for stretch in range(rules.stretches + 1):
            elapsed, fields = window(i, stretch, n, per)
            counted = elapsed >= rules.min_window_s or stretch == rules.stretches
            run.append_jsonl(name, {"window": i, "input_id": x.id, "n": n, "warmup": rules.warmup,
                                    "window_s": elapsed, **fields, "counted": counted, "resets": client.resets})
            if counted:
                break
            per = elapsed / n
            n = max(min_n, choose_n(per, rules.min_window_s))  # input-dependent latency: stretch this and later windows
    if progress:
        progress(f"{label}s measured", rules.windows, rules.windows)
    return _counted(run, name)


def measure_performance(client: DutClient, inputs: Sequence[ModelInput], rules: Rules, run: RunDirectory,
                        progress: Progress | None = None, *, min_n: int = 1,
                        name: str = LATENCY_WINDOWS) -> WindowedResult:
    """MLPerf Tiny performance mode (at least ``min_n`` inferences a window), persisted to ``name``.

    Windows an interrupted run finished are kept and not measured again.
    """
    def window(_i: int, _stretch: int, n: int, per: float) -> tuple[float, dict[str, Any]]:
        r = client.infer(n, rules.warmup, infer_timeout_s(client, n, rules.warmup, per))
        elapsed = timed_seconds(r, client)
        return elapsed, {"lap_a_us": r.laps_us[0], "lap_b_us": r.laps_us[-1], "throughput_ips": n / elapsed,
                         "latency_ms": 1000.0 * elapsed / n, "scores": list(r.scores)}

    windows = measure_windows(client, inputs, rules, run, name, window, _timed_infer(client), label="window",
                              progress=progress, min_n=min_n)
    status, flags = validity([w["window_s"] for w in windows], rules)
    return WindowedResult("performance", rules, windows, status, flags)


def _counted(run: RunDirectory, name: str) -> list[dict[str, Any]]:
    rows = run.read_jsonl(name)
    run.rewrite_jsonl(name, rows)  # drop a torn last line left by a killed run before appending
    return [r for r in rows if r.get("counted")]


# ---- energy -------------------------------------------------------------------------------------------


def energy_window(client: DutClient, monitor: PowerMonitor, n: int, warmup: int,
                  per_inference_s: float) -> tuple[EnergyMeasurement, Trace, InferResult]:
    """One monitored ``infer N W``: the energy between the DUT's two timestamp edges, over N."""
    from harness.power.integrate import energy_windows

    monitor.start()
    try:
        result = client.infer(n, warmup, infer_timeout_s(client, n, warmup, per_inference_s))
    finally:
        trace = monitor.stop()
    measured = energy_windows(trace, [n])
    return measured[0], trace, result


def measure_energy(client: DutClient, monitor: PowerMonitor, inputs: Sequence[ModelInput], rules: Rules,
                   run: RunDirectory, progress: Progress | None = None, *, min_n: int = 1,
                   name: str = ENERGY_WINDOWS) -> WindowedResult:
    """MLPerf Tiny energy mode through an IO manager: median energy per inference of the windows, idle floor apart.

    Each window's trace is kept under raw/; finished windows of an interrupted run are not measured again.
    """
    def window(i: int, stretch: int, n: int, per: float) -> tuple[float, dict[str, Any]]:
        m, trace, r = energy_window(client, monitor, n, rules.warmup, per)
        trace_name = f"{name.removesuffix('.jsonl')}__trace{i}_{stretch}.parquet"
        trace.to_parquet(run.path / trace_name)
        return m.window.seconds, {
            "energy_uj": m.energy.uj, "energy_uj_per_inference": m.per_inference.uj, "avg_power_mw": m.avg_power.mw,
            "idle_power_mw": m.idle_power.mw, "trace": trace_name, "monitor": trace.monitor, "scores": list(r.scores)}

    def timed(n: int, per: float) -> float:
        return energy_window(client, monitor, n, 0, per)[0].window.seconds

    windows = measure_windows(client, inputs, rules, run, name, window, timed, label="energy window",
                              progress=progress, min_n=min_n)
    status, flags = validity([w["window_s"] for w in windows], rules)
    median = median_window(windows)
    return WindowedResult("energy", rules, windows, status, flags, extra={
        "energy_uj_per_inference_median": median["energy_uj_per_inference"],
        "idle_power_mw_median": float(np.median([w["idle_power_mw"] for w in windows])),
        "median_window": median["window"]})


def median_window(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """The window whose energy per inference is the median (the lower middle one for an even count)."""
    ordered = sorted(windows, key=lambda w: w["energy_uj_per_inference"])
    return ordered[(len(ordered) - 1) // 2]
