"""ONNX Runtime (CPU execution provider) for .onnx models."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import ConfigError, ModelError
from harness.runtimes.base import Runtime, RuntimeOptions, TensorInfo, register_runtime, same_outputs
from harness.runtimes.checks import CheckedSession, format_shape

ONNX_DTYPES: dict[str, np.dtype] = {
    f"tensor({name})": np.dtype(dtype)
    for name, dtype in {
        "float": np.float32, "float16": np.float16, "double": np.float64, "bool": np.bool_,
        "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
        "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
    }.items()
}
"""ONNX Runtime type strings (``NodeArg.type``) and the numpy dtype each one exchanges."""


def onnx_dtype(path: Path, name: str, type_string: str) -> np.dtype:
    """The numpy dtype for an ONNX Runtime type string such as ``tensor(float)``."""
    try:
        return ONNX_DTYPES[type_string]
    except KeyError:
        raise ModelError(f"{path}: tensor '{name}' has unsupported type {type_string}",
                         hint=f"supported: {', '.join(ONNX_DTYPES)}") from None


def _shape(dims: Sequence[Any]) -> tuple[int, ...]:
    """Static dimensions as ints; symbolic or unknown ones as -1."""
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in dims)


def _with_shapes(path: Path, infos: list[TensorInfo], shapes: Sequence[Sequence[int]]) -> list[TensorInfo]:
    if len(shapes) != len(infos):
        raise ModelError(f"{path}: input_shapes needs one shape per input ({len(infos)}), got {len(shapes)}")
    fixed = []
    for index, (info, shape) in enumerate(zip(infos, shapes, strict=True)):
        wanted = tuple(int(d) for d in shape)
        compatible = len(wanted) == len(info.shape) and all(
            m < 0 or m == w for m, w in zip(info.shape, wanted, strict=True)
        )
        if not compatible:
            raise ModelError(f"{path}: input {index} '{info.name}' has shape {format_shape(info.shape)}, "
                             f"cannot use {format_shape(wanted)}")
        fixed.append(TensorInfo(info.name, wanted, info.dtype, info.scale, info.zero_point))
    return fixed


def _info(path: Path, node: Any) -> TensorInfo:
    return TensorInfo(node.name, _shape(node.shape), onnx_dtype(path, node.name, node.type))


class ONNXSession(CheckedSession):
    """An ONNX model in an ONNX Runtime InferenceSession.

    Quantisation lives in QuantizeLinear/DequantizeLinear nodes inside ONNX graphs, so TensorInfo
    scale and zero point are 0 here. Dynamic dimensions are -1 unless ``input_shapes`` fixed them.
    """

    runtime_name = "onnxruntime"

    def __init__(self, path: Path, session: Any, input_shapes: Sequence[Sequence[int]] | None,
                 max_batch: int = 1) -> None:
        self.model_path = path
        self._session = session
        node_inputs = session.get_inputs()
        node_outputs = session.get_outputs()
        # None: not yet compared with the step-by-step path; False: runs row by row.
        self._batching: bool | None = (None if max_batch > 1 and len(node_inputs) == len(node_outputs) == 1
                                       and _shape(node_inputs[0].shape)[:1] == (-1,) else False)
        self.max_batch = max_batch
        self.inputs = [_info(path, node) for node in node_inputs]
        self.outputs = [_info(path, node) for node in node_outputs]
        if input_shapes is not None:
            self.inputs = _with_shapes(path, self.inputs, input_shapes)
        self._input_names = tuple(n.name for n in node_inputs)
        self._output_names = [n.name for n in node_outputs]
        self._run = session.run

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Feed every input, run once, return every output. No validation: see check_inputs."""
        try:
            return self._run(self._output_names, dict(zip(self._input_names, inputs, strict=False)))
        except Exception as exc:  # onnxruntime's own Exception subclasses (InvalidArgument, Fail, ...)
            raise self._run_error(inputs, exc) from exc

    def run_rows(self, rows: np.ndarray) -> np.ndarray:
        """Up to ``max_batch`` rows per run when the graph's batch dimension is dynamic; the first batch is
        compared with the step-by-step path, and a graph that batches differently runs row by row."""
        if self._batching is False or len(rows) <= 1:
            return self.run_each(rows)
        parts = []
        for start in range(0, len(rows), self.max_batch):
            part = rows[start:start + self.max_batch]
            if self._batching is None:
                expected = self.run_each(part)
                batched = self.run([part])[0]
                self._batching = batched.size == expected.size and same_outputs(batched.reshape(expected.shape),
                                                                                expected)
                parts.append(expected)
            elif self._batching:
                parts.append(self.run([part])[0])
            else:
                parts.append(self.run_each(part))
        return np.concatenate(parts)

    def reset(self) -> None:
        """No-op: ONNX Runtime keeps no state between runs (streaming ONNX graphs pass state as I/O)."""

    def close(self) -> None:
        self._run = None  # type: ignore[assignment]
        self._session = None


@register_runtime
class ONNXRuntime(Runtime):
    """ONNX Runtime on the CPU execution provider: ``options.threads`` intra-op threads, 1 inter-op thread."""

    name = "onnxruntime"
    formats = ("onnx",)

    @classmethod
    def version(cls) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except Exception:  # missing package or a native extension that fails to load
            return None
        try:
            return f"onnxruntime {metadata.version('onnxruntime')}"
        except metadata.PackageNotFoundError:
            return "onnxruntime unknown"

    def load(
        self, path: Path, options: RuntimeOptions, input_shapes: Sequence[Sequence[int]] | None = None
    ) -> ONNXSession:
        """Load an .onnx file; ``input_shapes`` pins dynamic dimensions in ``session.inputs``."""
        import onnxruntime as ort

        path = Path(path)
        if options.threads < 1:
            raise ConfigError(f"onnxruntime: threads must be >= 1, got {options.threads}")
        if not path.is_file():
            raise ModelError(f"{path}: model file not found")
        settings = ort.SessionOptions()
        settings.intra_op_num_threads = options.threads
        settings.inter_op_num_threads = 1
        settings.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        settings.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(path), sess_options=settings, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # InvalidProtobuf, Fail, NotImplemented, ...
            raise ModelError(f"{path}: ONNX Runtime cannot load the model: {exc}",
                             hint="is this an ONNX model file?") from exc
        return ONNXSession(path, session, input_shapes, options.max_batch)
