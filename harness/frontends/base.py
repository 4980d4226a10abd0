"""The FrontEnd interface, the registry that selects front ends by name, and shared helpers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from harness.core.errors import DataError, ModelError
from harness.core.registry import Registry
from harness.runtimes.base import TensorInfo

SAMPLE_RATE = 16000


class FrontEnd(ABC):
    """Turns a whole clip (16 kHz mono int16) into the sequence of inputs a model is invoked with."""

    name: ClassVar[str]

    @abstractmethod
    def features(self, audio: np.ndarray) -> np.ndarray:
        """The clip's feature sequence, one row per feature frame, starting from a fresh state."""

    @abstractmethod
    def model_inputs(self, features: np.ndarray, model_input: TensorInfo) -> np.ndarray:
        """``[n_steps, *model_input.shape]``: one model input per invoke, typed (and quantized) for it."""

    @abstractmethod
    def step_end_samples(self, n_steps: int, model_input: TensorInfo) -> np.ndarray:
        """For each step, the clip sample index where the audio it needs ends (exclusive)."""

    def inputs(self, audio: np.ndarray, model_input: TensorInfo) -> np.ndarray:
        """``model_inputs(features(audio))``."""
        return self.model_inputs(self.features(audio), model_input)


FRONTENDS: Registry[type[FrontEnd]] = Registry(
    "front end",
    ("harness.frontends.lfbe", "harness.frontends.mfcc", "harness.frontends.micro", "harness.frontends.oww"))
register_frontend = FRONTENDS.register(lambda cls: cls.name)  # class decorator


def frontend_names() -> list[str]:
    return FRONTENDS.names()


def frontend_class(name: str) -> type[FrontEnd]:
    return FRONTENDS.get(name)


def get_frontend(name: str, **options: Any) -> FrontEnd:
    """Build the front end registered as ``name`` (options go to its constructor)."""
    return frontend_class(name)(**options)


def as_clip(audio: np.ndarray) -> np.ndarray:
    """Check that ``audio`` is 16 kHz mono int16 samples and return it as a contiguous 1-D array."""
    audio = np.asarray(audio)
    if audio.dtype != np.int16:
        raise DataError(
            f"audio must be int16 samples, got {audio.dtype}", hint="convert: (x * 32767).astype(np.int16)"
        )
    if audio.ndim != 1:
        raise DataError(f"audio must be mono (1-D), got shape {audio.shape}")
    return np.ascontiguousarray(audio)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype | type) -> np.ndarray:
    """``round(x / scale + zero_point)`` saturated to ``dtype``; float dtypes (or scale 0) are a plain cast.

    Computed in float64 with round-half-to-even, as microWakeWord's Python code does.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f" or scale == 0.0:
        return np.asarray(x).astype(dtype)
    q = np.round(np.asarray(x, dtype=np.float64) / float(scale) + int(zero_point))
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)


def check_shape(model_input: TensorInfo, expected: tuple[int | None, ...], frontend: str) -> None:
    """Raise ModelError unless the model input matches ``expected`` (None matches any size)."""
    shape = tuple(model_input.shape)
    same_rank = len(shape) == len(expected)
    ok = same_rank and all(e is None or e == s for e, s in zip(expected, shape, strict=True))
    if not ok:
        want = "[" + ", ".join("N" if e is None else str(e) for e in expected) + "]"
        raise ModelError(
            f"model input '{model_input.name}' has shape {list(shape)}; front end '{frontend}' feeds {want}",
            hint="check the model entry's 'frontend'",
        )
