"""Device/host parity: the DUT's scores against the host runtime's for the same model and input bytes.

A deployment that drifts (a different model, other kernels, a quantization bug in the port) shows up
as disagreeing top-1 classes or scores further apart than one output quantization step plus the
firmware's 3-decimal printing. Drift is a finding of the run, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core.errors import ConfigError
from harness.registry.models import ModelEntry
from harness.runtimes import RuntimeOptions, Session, TensorInfo, get_runtime

PRINT_ROUNDING = 0.0005  # m-results prints 3 decimals
HOST_RUNTIMES = {"tflite": ("tflm", "litert"), "onnx": ("onnxruntime",)}


@dataclass(frozen=True)
class HostReference:
    """The model on the host: TFLite Micro for .tflite (the kernels MCU firmware runs), else the format's runtime."""

    session: Session
    runtime: str
    streaming: bool = False  # streaming models keep state between invokes: reset before each input

    @classmethod
    def load(cls, model: ModelEntry) -> HostReference:
        if model.stages:
            raise ConfigError(f"model '{model.name}' has {len(model.stages)} front-end stages; a DUT runs one model",
                              hint="use a single-stage model for device runs")
        last: ConfigError | None = None
        for name in HOST_RUNTIMES[model.format]:
            try:
                runtime = get_runtime(name)
            except ConfigError as e:  # not installed here: try the next one
                last = e
                continue
            options = RuntimeOptions(reference_kernels=True)
            return cls(runtime.load(model.artifact_path(), options), name, model.streaming)
        assert last is not None
        raise last

    @property
    def input(self) -> TensorInfo:
        return self.session.inputs[0]

    @property
    def output(self) -> TensorInfo:
        return self.session.outputs[0]

    @property
    def tolerance(self) -> float:
        """Largest score difference that is not drift: one output quantization step plus print rounding."""
        return self.output.scale + PRINT_ROUNDING if self.output.quantized else PRINT_ROUNDING

    def scores(self, data: bytes) -> np.ndarray:
        """Dequantized output scores for one input given as the bytes the DUT received."""
        info = self.input
        if len(data) != int(np.prod(info.shape)) * info.dtype.itemsize:
            raise ConfigError(f"an input of {len(data)} bytes does not fit the model's input {list(info.shape)} "
                              f"{info.dtype.name}")
        x = np.frombuffer(data, dtype=info.dtype).reshape(info.shape)
        if self.streaming:
            self.session.reset()
        out = self.session.run([x])[0].reshape(-1)
        o = self.output
        return (out.astype(np.float64) - o.zero_point) * o.scale if o.quantized else out.astype(np.float64)

    def close(self) -> None:
        self.session.close()


def compare(index: int, input_id: str, device: np.ndarray, host: np.ndarray) -> dict[str, Any]:
    """One parity row: top-1 agreement and the largest absolute score difference."""
    if device.shape != host.shape:
        return {"index": index, "input_id": input_id, "device_top1": int(np.argmax(device)) if device.size else -1,
                "host_top1": int(np.argmax(host)), "agree": False, "max_abs_diff": float("inf"),
                "note": f"the DUT printed {device.size} scores, the host model has {host.size}"}
    return {"index": index, "input_id": input_id, "device_top1": int(np.argmax(device)),
            "host_top1": int(np.argmax(host)), "agree": bool(np.argmax(device) == np.argmax(host)),
            "max_abs_diff": float(np.max(np.abs(device - host))), "host_scores": host.round(6).tolist()}


def summarize(rows: list[dict[str, Any]], tolerance: float, runtime: str) -> dict[str, Any]:
    """Agreement rate, worst difference, and the drift finding in words."""
    n = len(rows)
    agreement = sum(r["agree"] for r in rows) / n if n else float("nan")
    worst = max((r["max_abs_diff"] for r in rows), default=float("nan"))
    drift = bool(n and (agreement < 1.0 or worst > tolerance))
    if not n:
        finding = "no inputs compared"
    elif drift:
        finding = (f"deployment drift: top-1 agrees on {agreement:.1%} of {n} inputs and scores differ by up to "
                   f"{worst:.4f} (tolerance {tolerance:.4f}); the DUT does not run what the host runs")
    else:
        finding = f"no drift: top-1 agrees on all {n} inputs, scores within {worst:.4f} (tolerance {tolerance:.4f})"
    return {"n": n, "top1_agreement": agreement, "max_abs_diff": worst, "tolerance": tolerance, "drift": drift,
            "host_runtime": runtime, "finding": finding}
