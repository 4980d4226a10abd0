"""Power-trace ingestion speed: samples/s converted, aligned with timestamp events and integrated.

The figure (``power_ingest_realtime_factor``) streams a 1 MS/s trace in the JS220's own block format
(``samples_get`` dicts: float32 current and voltage, GPI0 in line as ``current_lsb``) through the path a
run takes: ``convert_samples`` per block, ``assemble`` into a Trace, ``energy_windows`` over 5 windows.
Above 1 keeps up with a JS220; the goal is 10. The PPK2 (raw 32-bit words) and LPM01A (``ascii_dec`` text)
parsers are timed too, in samples/s, against their own instruments' rates.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from harness.power.integrate import energy_windows
from harness.power.joulescope import convert_samples
from harness.power.lpm01a import AsciiDecParser, format_ascii_dec
from harness.power.monitor import assemble
from harness.power.ppk2 import DEFAULT_MODIFIERS, RATE_HZ, Ppk2Calibration, Ppk2Decoder
from harness.power.sim_stream import WiringRenderer
from harness.power.wiring import WireEvent

WINDOWS = 5
JS220_BLOCK = 1 << 16  # samples per stream notification, about 65 ms at 1 MS/s


def _timeline(seconds: float) -> list[WireEvent]:
    """Idle 1 mW, then WINDOWS active windows at 30 mW each bounded by two edges, idle between."""
    period = seconds / WINDOWS
    events = [WireEvent(0.0, "P", 1e-3)]
    for k in range(WINDOWS):
        t0, t1 = k * period + 0.1 * period, k * period + 0.9 * period
        events += [WireEvent(t0, "P", 30e-3), WireEvent(t0, "E"), WireEvent(t1, "E"), WireEvent(t1, "P", 1e-3)]
    return events


def _render(seconds: float, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    renderer = WiringRenderer(rate_hz, 1.8, noise=0.02, seed=0, lead_s=0.0, tail_s=0.0, block_samples=1 << 22)
    renderer.feed(_timeline(seconds))
    renderer.finish()
    blocks = []
    while (block := renderer.render()) is not None:
        blocks.append(block)
    trace = assemble(blocks, rate_hz, 1.8, "bench")
    return trace.current_a, np.round(trace.events_s * rate_hz).astype(np.int64)


def js220_blocks(seconds: float, rate_hz: float = 1e6) -> list[dict[str, Any]]:
    """The trace as the joulescope package hands it over: one samples_get dict per notification."""
    current, edges = _render(seconds, rate_hz)
    gpi = np.ones(len(current), dtype=np.uint8)
    for e in edges:
        gpi[e:e + 10] = 0  # a 10 us low pulse from the DUT's timestamp pin
    voltage = np.full(len(current), 1.8, dtype=np.float32)
    out = []
    for a in range(0, len(current), JS220_BLOCK):
        b = min(a + JS220_BLOCK, len(current))
        out.append({"time": {"sample_id_range": {"value": [a, b]}, "sampling_frequency": {"value": rate_hz}},
                    "signals": {"current": {"value": current[a:b]}, "voltage": {"value": voltage[a:b]},
                                "current_lsb": {"value": gpi[a:b]}}})
    return out


def js220_ingest(blocks: list[dict[str, Any]], rate_hz: float) -> float:
    """Seconds to convert, assemble and integrate the blocks."""
    t0 = time.perf_counter()
    gpi, converted = 1, []
    for data in blocks:
        block, gpi, _ = convert_samples(data, 0, gpi)
        converted.append(block)
    trace = assemble(converted, rate_hz, 1.8, "joulescope")
    windows = energy_windows(trace, [100] * WINDOWS)
    elapsed = time.perf_counter() - t0
    assert len(windows) == WINDOWS
    return elapsed


def ingest_rate(seconds: float = 20.0, rate_hz: float = 1e6, repeats: int = 3) -> dict[str, Any]:
    """Median real-time factor of the JS220 path, plus the PPK2 and LPM01A parsers' rates (informative)."""
    blocks = js220_blocks(seconds, rate_hz)
    n = sum(len(b["signals"]["current"]["value"]) for b in blocks)
    rates = [n / js220_ingest(blocks, rate_hz) for _ in range(repeats + 1)][1:]  # the first run warms up
    return {"value": round(float(np.median(rates)) / 1e6, 1), "samples": n, "rate_hz": rate_hz,
            "samples_per_s": round(float(np.median(rates))), "ppk2_decode_samples_per_s": _ppk2_rate(),
            "lpm01a_parse_samples_per_s": _lpm01a_rate(), "limit": 10.0,
            "method": f"median of {repeats}: JS220-format blocks of {JS220_BLOCK} samples -> convert_samples -> "
                      f"assemble -> energy_windows ({WINDOWS} windows), {seconds:g} s at {rate_hz:g} S/s"}


def _ppk2_rate(seconds: float = 10.0) -> int:
    n = int(seconds * RATE_HZ)
    adc = np.random.default_rng(0).integers(0, 1 << 14, n, dtype=np.uint32)
    words = adc | (np.uint32(1) << 14) | (np.uint32(1) << 24)
    raw = words.astype("<u4").tobytes()
    decoder = Ppk2Decoder(Ppk2Calibration.from_modifiers(DEFAULT_MODIFIERS, 1800))
    t0 = time.perf_counter()
    for a in range(0, len(raw), 40_000):  # 0.1 s reads, as a polling host gets them
        decoder.feed(raw[a:a + 40_000])
    return round(n / (time.perf_counter() - t0))


def _lpm01a_rate(n: int = 200_000) -> int:
    values = np.random.default_rng(0).uniform(1e-6, 1e-4, 1000)
    lines = "".join(f"{format_ascii_dec(v)}\r\n" for v in values) * (n // 1000)
    data = lines.encode("ascii")
    parser = AsciiDecParser()
    t0 = time.perf_counter()
    for a in range(0, len(data), 9_000):
        parser.feed(data[a:a + 9_000])
    return round(n / (time.perf_counter() - t0))


def power_figures() -> dict[str, dict[str, Any]]:
    return {"power_ingest_realtime_factor": {**ingest_rate(), "command": "python -m bench.run --only power"}}


if __name__ == "__main__":
    import json

    print(json.dumps(power_figures(), indent=2))
