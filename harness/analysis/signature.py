"""A model file's inputs and outputs as declared in the file: name, shape (-1 for a dynamic dimension), dtype."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.errors import ModelError


@dataclass(frozen=True)
class TensorSignature:
    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def dynamic(self) -> bool:
        return any(d < 0 for d in self.shape)


def signature(path: Path) -> tuple[list[TensorSignature], list[TensorSignature]]:
    """(inputs, outputs) of a .tflite or .onnx file, read from the file without running it."""
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return _tflite(path)
    if suffix == ".onnx":
        return _onnx(path)
    raise ModelError(f"{path}: unsupported model format '{path.suffix}'", hint="valid: .tflite, .onnx")


def _tflite(path: Path) -> tuple[list[TensorSignature], list[TensorSignature]]:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

    names = {v: k.lower() for k, v in vars(schema_fb.TensorType).items() if not k.startswith("_")}

    def one(graph: schema_fb.SubGraph, index: int) -> TensorSignature:
        t = graph.Tensors(int(index))  # read lazily: unpacking the whole model costs tens of ms
        dims = t.ShapeSignatureAsNumpy() if t.ShapeSignatureLength() else t.ShapeAsNumpy()
        shape = tuple(int(d) for d in dims) if isinstance(dims, np.ndarray) else ()
        return TensorSignature((t.Name() or b"").decode(), shape, names.get(t.Type(), str(t.Type())))

    try:
        graph = schema_fb.Model.GetRootAsModel(path.read_bytes(), 0).Subgraphs(0)
        inputs = [one(graph, i) for i in graph.InputsAsNumpy()] if graph.InputsLength() else []
        outputs = [one(graph, i) for i in graph.OutputsAsNumpy()] if graph.OutputsLength() else []
    except Exception as exc:  # noqa: BLE001 - a corrupt flatbuffer raises anything
        raise ModelError(f"{path}: not a readable .tflite model ({exc})") from None
    return inputs, outputs


def _onnx(path: Path) -> tuple[list[TensorSignature], list[TensorSignature]]:
    import onnx
    from onnx import helper

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # noqa: BLE001 - a corrupt protobuf raises anything
        raise ModelError(f"{path}: not a readable .onnx model ({exc})") from None
    constants = {i.name for i in graph.initializer}

    def one(value: onnx.ValueInfoProto) -> TensorSignature:
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
        return TensorSignature(value.name, dims, np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name)

    return [one(v) for v in graph.input if v.name not in constants], [one(v) for v in graph.output]
