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
    1 LSB differently). ``arena_bytes`` sizes the TFLite Micro tensor arena.
    """

    xnnpack: bool = False
    reference_kernels: bool = False
    threads: int = 1
    arena_bytes: int | None = None


class Session(ABC):
    """A model loaded into a runtime, ready to invoke."""

    runtime_name: str
    model_path: Path
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

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

    def arena_bytes(self) -> int | None:
        """Tensor arena actually used, where the runtime can tell (TFLite Micro)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release native resources."""


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

