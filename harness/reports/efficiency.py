"""The efficiency table as people read it: Markdown columns and the notes that explain them."""

from __future__ import annotations

MD_COLUMNS = {
    "model": "model",
    "target": "target",
    "stack": "stack",
    "provenance": "provenance",
    "macs": "MACs",
    "arena_bytes": "arena",
    "arena_source": "arena from",
    "latency_ms_p50": "latency p50 ms",
    "latency_ms_p99": "p99 ms",
    "host_latency_ms_p50": "host p50 ms",
    "energy_mj_per_inference": "mJ/inf",
    "duty_cycle": "duty",
    "deployed_power_mw": "deployed mW",
    "co2e_g_per_million": "g CO2e/1M inf",
    "battery_life_h": "battery h",
    "fits_latency": "fits latency",
    "fits_power": "fits power",
    "fits_memory": "fits memory",
}


NOTES = [
    "latency: device latency per inference (p50/p90/p99 of the timed window); host: wall time of the real "
    "runtime on this machine for the same inferences.",
    "energy: integrated from the power trace between the two timestamp events, divided by the inferences in "
    "the window.",
    "deployed power: energy per inference x inference rate + idle power for the remaining time; streaming "
    "models run once per audio step (duty = latency x rate); a device with duty > 1 cannot keep up and runs "
    "back to back, so its rate is capped at 1 / latency.",
    "fits latency: p99 within the target's budget and duty <= 1; fits power: deployed power within budget; "
    "fits memory: tensor arena <= SRAM and model bytes <= flash.",
    "arena: the tensor arena in bytes (KiB = 1,024 B); arena from: tflm = TensorFlow Lite Micro's own allocation "
    "on the host, static-estimate = the peak-activation estimate `harness predict` prints.",
    "numbers: 4 significant digits; a predicted figure with an interval is written \"value [low, high]\" with as many "
    "digits as the interval's width supports.",
    "battery: the profile's battery energy / deployed power (wearables).",
    "backend sim:<target>: simulated device (real model on the host, calibrated cost model for device time); "
    "estimated_params in the CSV lists cost-model parameters that are estimates, not fits.",
    "provenance: measured:device, measured:host, or predicted:* (the cost model; the CSV's *_low/*_high columns "
    "hold its interval, leave-one-out band x the estimates' prior ranges, docs/calibration.md); a model the "
    "target's stack cannot run is not deployable (deployable false, not_deployable_reason) and has no device "
    "figures.",
]


DEVICE_NOTES = [
    "backend device: measured on the DUT behind the link over the MLPerf Tiny serial protocol (dut_name says "
    "which board or simulator answered); latency percentiles are over the windows' mean latencies, and the "
    "MLPerf score is their median (mlperf_status, mlperf_flags name any broken rule).",
]
DEVICE_MD_COLUMNS = {**MD_COLUMNS, "mlperf_status": "MLPerf"}
