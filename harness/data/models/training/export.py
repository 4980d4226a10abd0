"""Export a trained DS-CNN: float ONNX (torch.onnx.export), int8 QDQ ONNX (ONNX Runtime static quantization
calibrated on a representative set), and float32 / full-int8 TFLite written by harness.modelgen from those
two graphs, so the int8 TFLite and the QDQ model share one quantization."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import torch
from dscnn import DSCNN, FIRST_PADDING
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

from harness.modelgen.trained_dscnn import tflite_from_onnx

OPSET = 17
IR_VERSION = 8
INPUT, OUTPUT = "input", "scores"


def float_onnx(deploy: DSCNN, doc: str) -> onnx.ModelProto:
    """The folded model through the TorchScript exporter (``dynamo=False``: it needs no onnxscript).

    TensorFlow SAME padding of the first convolution is asymmetric (4 rows above, 5 below); the model is
    exported on an already padded input and the padding written into that Conv's ``pads``, so the graph is
    Conv/Relu/AveragePool/Flatten/Gemm/Softmax on the [1, 1, 49, 10] MFCCs.
    """
    buffer = io.BytesIO()
    deploy.eval().pad_input = False
    left, right, top, bottom = FIRST_PADDING
    padded = torch.zeros(1, 1, 49 + top + bottom, 10 + left + right)
    try:
        torch.onnx.export(deploy, (padded,), buffer, dynamo=False, opset_version=OPSET,
                          input_names=[INPUT], output_names=[OUTPUT], do_constant_folding=True)
    finally:
        deploy.pad_input = True
    model = onnx.load_from_string(buffer.getvalue())
    first = next(n for n in model.graph.node if n.op_type == "Conv")
    for a in first.attribute:
        if a.name == "pads":
            a.ints[:] = [top, left, bottom, right]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = 49, 10
    model.ir_version = IR_VERSION
    model.producer_name, model.producer_version = "edge-harness models/training", ""
    model.doc_string = doc
    onnx.checker.check_model(model, full_check=True)
    return model


class _Reader(CalibrationDataReader):
    def __init__(self, x: np.ndarray) -> None:
        self.items = iter([{INPUT: x[i:i + 1]} for i in range(len(x))])

    def get_next(self) -> dict | None:
        return next(self.items, None)


def qdq_onnx(float_path: Path, out_path: Path, calibration: np.ndarray) -> None:
    """Static int8 quantization in QDQ format: MinMax ranges over ``calibration``, per-channel symmetric weights,
    asymmetric activations (ReLU folded into its convolution's output range), int32 biases."""
    quantize_static(str(float_path), str(out_path), _Reader(calibration), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                    calibrate_method=CalibrationMethod.MinMax)
    model = onnx.load(str(out_path))
    model.ir_version = IR_VERSION
    onnx.save(model, str(out_path))


def tflite_pair(float_path: Path, qdq_path: Path, description: str) -> tuple[bytes, bytes]:
    """(float32, int8) TFLite flatbuffers of the float and QDQ ONNX graphs."""
    return tflite_from_onnx(onnx.load(str(float_path)), onnx.load(str(qdq_path)), description)
