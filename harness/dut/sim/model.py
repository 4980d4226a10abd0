"""The model inside the simulated firmware: the real runtime, its tensors as bytes, and its device time.

MCU-class targets run TensorFlow Lite Micro as the firmware would; other targets run LiteRT, and
.onnx models ONNX Runtime. Device time per inference comes from the calibrated cost model, as for
the simulated device (harness/devices/sim.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.analysis import analyze
from harness.core.errors import ConfigError
from harness.costmodel.model import CostModel, Prediction, default_cost_model
from harness.registry.models import ModelEntry, Task
from harness.registry.targets import TargetClass, TargetProfile
from harness.runtimes import RuntimeOptions, Session, TensorInfo, get_runtime
from harness.runtimes.base import HOST_RUNTIME

MODEL_IDS = ("kws01", "vww01", "ic01", "ad01", "sww01")
MCU_CLASSES = (TargetClass.mcu, TargetClass.wearable)

# How the firmware's TH_MODEL_VERSION follows from a registry entry: first matching rule wins.
# Input shapes are those of the MLPerf Tiny reference models (see harness/modelgen/mlperf.py).
_ID_RULES: tuple[tuple[str, Callable[[ModelEntry, tuple[int, ...]], bool]], ...] = (
    ("sww01", lambda m, shape: m.task == Task.wake_word),
    ("kws01", lambda m, shape: m.task == Task.kws),
    ("vww01", lambda m, shape: shape[-3:] == (96, 96, 3)),
    ("ic01", lambda m, shape: shape[-3:] == (32, 32, 3)),
    ("ad01", lambda m, shape: shape == (1, 640)),
)


def runtime_name(target: TargetProfile, model: ModelEntry) -> str:
    """The runtime the simulated firmware runs ``model`` with on ``target``."""
    if model.format == "tflite" and target.target_class in MCU_CLASSES:
        return "tflm"
    return HOST_RUNTIME[model.format]


def model_id_for(model: ModelEntry, input_shape: tuple[int, ...]) -> str:
    """The MLPerf Tiny model id (``m-model-[...]``) of ``model``; ConfigError if no rule matches."""
    for model_id, rule in _ID_RULES:
        if rule(model, input_shape):
            return model_id
    raise ConfigError(
        f"model '{model.name}' (task {model.task.value}, input {list(input_shape)}) matches no MLPerf Tiny model id",
        hint=f"name one explicitly (--model-id); valid: {', '.join(MODEL_IDS)}",
    )


@dataclass(frozen=True)
class DutModel:
    """A loaded model: one input tensor filled from raw bytes, outputs printed as dequantized scores."""

    entry: ModelEntry
    session: Session
    runtime: str
    runtime_version: str
    prediction: Prediction

    @classmethod
    def load(cls, target: TargetProfile, entry: ModelEntry, stack: str | None = None,
             cost_model: CostModel | None = None) -> DutModel:
        if entry.stages:
            raise ConfigError(
                f"model '{entry.name}' runs {len(entry.stages)} stage model(s) before its main model; "
                "MLPerf Tiny firmware holds one model",
                hint="simulate a single-file model (e.g. mlperf-dscnn-kws or a microWakeWord model)",
            )
        path = entry.artifact_path()
        name = runtime_name(target, entry)
        runtime = get_runtime(name)
        session = runtime.load(path, RuntimeOptions())
        if len(session.inputs) != 1:
            raise ConfigError(f"model '{entry.name}' has {len(session.inputs)} inputs; the db buffer fills one",
                              hint="simulate a model with a single input tensor")
        prediction = (cost_model or default_cost_model()).predict(analyze(path), target, stack)
        return cls(entry, session, name, runtime.version() or name, prediction)

    @property
    def input(self) -> TensorInfo:
        return self.session.inputs[0]

    @property
    def input_bytes(self) -> int:
        return int(np.prod(self.input.shape)) * self.input.dtype.itemsize

    def tensor(self, data: bytes) -> np.ndarray:
        """The input tensor whose little-endian bytes are ``data`` (exactly ``input_bytes`` long)."""
        dtype = self.input.dtype.newbyteorder("<")
        return np.frombuffer(data, dtype=dtype).astype(self.input.dtype).reshape(self.input.shape)

    def run(self, x: np.ndarray) -> np.ndarray:
        """One inference; the first output, copied."""
        return np.array(self.session.run([x])[0], copy=True)

    def scores(self, output: np.ndarray) -> list[float]:
        """The first output dequantized (``(q - zero_point) * scale``) and flattened."""
        info = self.session.outputs[0]
        values = output.astype(np.float64).ravel()
        if info.quantized:
            values = (values - info.zero_point) * info.scale
        return values.tolist()

    def close(self) -> None:
        self.session.close()
