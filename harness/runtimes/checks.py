"""Helpers shared by the runtimes: model file checks, tensor metadata, input checks, native output capture."""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import ModelError
from harness.runtimes.base import Session, TensorInfo

TFLITE_IDENTIFIER = b"TFL3"


def read_model(path: Path) -> bytes:
    """The bytes of a model file; a missing, unreadable or empty file raises ModelError."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read model file: {exc.strerror or exc}") from exc
    if not data:
        raise ModelError(f"{path}: model file is empty")
    return data


def require_tflite(path: Path, data: bytes) -> None:
    """Raise ModelError unless ``data`` carries the TFLite flatbuffer identifier."""
    found = data[4:8]
    if len(data) < 8 or found != TFLITE_IDENTIFIER:
        raise ModelError(
            f"{path}: not a TFLite model "
            f"(file identifier {found!r} at byte 4, expected {TFLITE_IDENTIFIER!r})",
            hint="is this the right file? .tflite models are FlatBuffers produced by a TFLite converter",
        )


def tensor_info(
    model: Path, name: str, shape: Sequence[int], dtype: Any, quantization: Mapping[str, Any] | None
) -> TensorInfo:
    """A TensorInfo from runtime details; per-tensor scale/zero point come from ``quantization``.

    ``quantization`` is a TFLite-style ``quantization_parameters`` dict (``scales``, ``zero_points``).
    Per-channel quantised model inputs/outputs cannot be described by one scale and raise ModelError.
    """
    scales = np.asarray((quantization or {}).get("scales", ()), dtype=np.float64).ravel()
    zero_points = np.asarray((quantization or {}).get("zero_points", ()), dtype=np.int64).ravel()
    if scales.size > 1:
        raise ModelError(f"{model}: tensor '{name}' is quantised per channel ({scales.size} scales)",
                         hint="only per-tensor quantised model inputs and outputs are supported")
    scale = float(scales[0]) if scales.size else 0.0
    zero_point = int(zero_points[0]) if zero_points.size else 0
    return TensorInfo(
        name=name,
        shape=tuple(int(d) for d in shape),
        dtype=np.dtype(dtype),
        scale=scale,
        zero_point=zero_point,
    )


def format_shape(shape: Sequence[int]) -> str:
    """``[1, 3, 40]``; unknown dimensions (negative) print as ``?``."""
    return "[" + ", ".join("?" if d < 0 else str(d) for d in shape) + "]"


def check_inputs(session: Session, inputs: Sequence[np.ndarray]) -> None:
    """Validate count, type, shape and dtype of ``inputs`` against ``session.inputs`` (once, not per run).

    Negative dimensions in the expected shape accept any size. Raises ModelError naming the model
    file, the input index and name, what was expected and what was given.
    """
    model = getattr(session, "model_path", None) or session.runtime_name
    expected = session.inputs
    if isinstance(inputs, np.ndarray) or len(inputs) != len(expected):
        given = "a bare array" if isinstance(inputs, np.ndarray) else f"{len(inputs)}"
        names = ", ".join(f"'{info.name}'" for info in expected)
        raise ModelError(
            f"{model}: expects a sequence of {len(expected)} input array(s) ({names}), got {given}"
        )
    for index, (info, value) in enumerate(zip(expected, inputs, strict=True)):
        want = f"shape {format_shape(info.shape)} dtype {info.dtype}"
        if not isinstance(value, np.ndarray):
            raise ModelError(f"{model}: input {index} '{info.name}' expects a numpy array with {want}, "
                             f"got {type(value).__name__}")
        shape_ok = value.ndim == len(info.shape) and all(
            e < 0 or e == g for e, g in zip(info.shape, value.shape, strict=True)
        )
        if not shape_ok or value.dtype != info.dtype:
            raise ModelError(f"{model}: input {index} '{info.name}' expects {want}, "
                             f"got shape {format_shape(value.shape)} dtype {value.dtype}")


class CheckedSession(Session):
    """A Session whose ``_runner`` (built at load) does the work; a failed run becomes a ModelError
    naming the input mismatch, if any."""

    _runner: Callable[[Sequence[np.ndarray]], list[np.ndarray]]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Set every input, invoke once, return copies of every output. No validation: see check_inputs."""
        try:
            return self._runner(inputs)
        except (ValueError, RuntimeError, TypeError, IndexError) as exc:
            raise self._run_error(inputs, exc) from exc

    def _run_error(self, inputs: Sequence[np.ndarray], exc: BaseException) -> ModelError:
        """The ModelError for a failed run: the precise input mismatch if there is one, else the runtime's."""
        check_inputs(self, inputs)
        return ModelError(f"{self.model_path}: {self.runtime_name} failed to run the model: {exc}")


class NativeOutput:
    """Text written to the process's stdout/stderr file descriptors while captured."""

    text: str = ""


@cache
def _libc_fflush() -> Any:
    try:
        return ctypes.CDLL(None).fflush
    except (OSError, AttributeError):  # no C library handle on this platform
        return None


def _flush_all() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    fflush = _libc_fflush()
    if fflush is not None:
        fflush(None)


_CAPTURING = threading.RLock()  # the descriptors are the process's: one capture at a time (devices measured in threads)


@contextmanager
def captured_native_output() -> Iterator[NativeOutput]:
    """Redirect file descriptors 1 and 2 into a temporary file for the block.

    Native libraries (TFLite Micro, LiteRT) print diagnostics with C stdio, which Python's
    ``sys.stdout`` redirection cannot see. Anything other threads print meanwhile is captured too.
    """
    captured = NativeOutput()
    with _CAPTURING, tempfile.TemporaryFile() as sink:
        _flush_all()
        saved = (os.dup(1), os.dup(2))
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield captured
        finally:
            _flush_all()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")


def log_excerpt(text: str, limit: int = 6) -> str:
    """The last ``limit`` non-empty lines of a native log, joined for an error message."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-limit:])
