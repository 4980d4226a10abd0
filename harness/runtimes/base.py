"""The Runtime/Session interface and the registry that selects runtimes by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.errors import ConfigError
from harness.core.registry import Registry


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0


@dataclass(frozen=True)
class RuntimeOptions:
    """How a runtime executes a model.

    ``xnnpack`` enables LiteRT's default delegate (fastest). ``reference_kernels`` runs LiteRT's
    reference kernels, bit-exact with TFLite Micro (the default optimised int8 kernels may round
    1 LSB differently). ``arena_bytes`` sizes the TFLite Micro tensor arena. ``max_batch`` is how
    many rows ``Session.run_rows`` may give a stateless model in one invoke (1: one row per invoke).
    """

    xnnpack: bool = False
    reference_kernels: bool = False
    threads: int = 1
    arena_bytes: int | None = None
    max_batch: int = 1


class Session(ABC):
    """A model loaded into a runtime, ready to invoke."""

    runtime_name: str
    model_path: Path
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    max_batch: int = 1  # RuntimeOptions.max_batch it was loaded with: 1 means one window per invoke

    @abstractmethod
    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Set every input, invoke once, return every output (state persists for streaming models)."""

    def check_inputs(self, inputs: Sequence[np.ndarray]) -> None:
        """Validate count, shape and dtype once before a measurement; ModelError names what differs."""
        from harness.runtimes.checks import check_inputs

        check_inputs(self, inputs)

    @abstractmethod
    def reset(self) -> None:
        """Clear streaming state so the next run starts as on a fresh device."""

    def run_rows(self, rows: np.ndarray) -> np.ndarray:
        """Outputs ``[N, ...]`` of a stateless one-input, one-output model for every row of ``rows``.

        ``rows`` is ``[N, *input_shape[1:]]``. Runtimes that can batch override this to invoke up to
        ``RuntimeOptions.max_batch`` rows at once; this default invokes once per row.
        """
        return self.run_each(rows)

    def run_sequence(self, steps: np.ndarray) -> np.ndarray:
        """The first output of a one-input model for each row of ``steps`` (``[N, *input_shape]``), invoked
        once per row in order, so a streaming model carries its state from row to row."""
        out = np.empty((len(steps), *self.outputs[0].shape), dtype=self.outputs[0].dtype)
        run = self.run
        for i in range(len(steps)):
            out[i] = run([steps[i]])[0]
        return out

    def run_reshaped(self, x: np.ndarray) -> np.ndarray | None:
        """The output of a one-input, one-output stateless model invoked once on ``x``, whose shape may differ
        from the model's input wherever the graph allows it (e.g. a longer time axis through valid
        convolutions), or None when this runtime cannot run that shape. Each distinct shape keeps an
        interpreter of its own, so callers use few; what the outputs mean is for the caller to check."""
        return None

    def run_each(self, rows: np.ndarray) -> np.ndarray:
        """``run_rows`` one invoke per row: the step-by-step path batching is checked against."""
        if not len(rows):
            return np.empty((0, *(max(0, d) for d in self.outputs[0].shape[1:])), dtype=self.outputs[0].dtype)
        run = self.run
        return np.concatenate([run([rows[i:i + 1]])[0] for i in range(len(rows))])  # runtimes return copies

    def arena_bytes(self) -> int | None:
        """Tensor arena actually used, where the runtime can tell (TFLite Micro)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release native resources."""


BATCH_FLOAT_TOLERANCE = 1e-5
"""A batched float output may differ from the step-by-step one by this much, relative to the largest
step-by-step magnitude (at least 1); integer outputs must be identical."""


def same_outputs(batched: np.ndarray, stepwise: np.ndarray) -> bool:
    """Whether a batched run gave the step-by-step outputs (bit-exact for integers, within tolerance for floats)."""
    if batched.shape != stepwise.shape or batched.dtype != stepwise.dtype:
        return False
    if stepwise.dtype.kind != "f":
        return bool(np.array_equal(batched, stepwise))
    scale = max(1.0, float(np.abs(stepwise).max(initial=0.0)))
    return bool(np.all(np.abs(batched.astype(np.float64) - stepwise) <= BATCH_FLOAT_TOLERANCE * scale))


class Runtime(ABC):
    name: str
    formats: tuple[str, ...]

    @classmethod
    @abstractmethod
    def version(cls) -> str | None:
        """Installed version, or None when the runtime cannot be imported here."""

    @abstractmethod
    def load(
        self, path: Path, options: RuntimeOptions, input_shapes: Sequence[Sequence[int]] | None = None
    ) -> Session:
        """Load a model file (``input_shapes`` fixes dynamic input dimensions); not a model -> ModelError."""


RUNTIMES: Registry[type[Runtime]] = Registry(
    "runtime", ("harness.runtimes.litert", "harness.runtimes.onnx", "harness.runtimes.tflm"))
register_runtime = RUNTIMES.register(lambda cls: cls.name)  # class decorator


HOST_RUNTIME = {"tflite": "litert", "onnx": "onnxruntime"}  # what runs a model format on this machine


def available_runtimes() -> dict[str, str | None]:
    """Every registered runtime and its installed version (None when unavailable)."""
    return {name: cls.version() for name, cls in RUNTIMES.items()}


def get_runtime(name: str) -> Runtime:
    cls = RUNTIMES.get(name)
    if cls.version() is None:
        raise ConfigError(f"runtime '{name}' is not installed here", hint="run 'make install'")
    return cls()

