"""Float32 ONNX models built with onnx.helper (NCHW, opset 17, IR version 8)."""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.modelgen import BUILDERS, Builder
from harness.modelgen.int8_layers import same_padding, uniform
from harness.modelgen.mlperf import DSCNN_BLOCKS, SEED

OPSET = 17
IR_VERSION = 8  # the IR of opset 17; pinned so the bytes do not depend on the onnx version


class OnnxGraph:
    """Nodes and seeded float32 initializers of one graph (He-uniform weights, small uniform biases)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def _const(self, name: str, values: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(values, name))
        return name

    def _uniform(self, shape: tuple[int, ...], limit: float) -> np.ndarray:
        return ((uniform(self.rng, shape) * 2 - 1) * limit).astype(np.float32)

    def node(self, op: str, inputs: list[str], **attrs: object) -> str:
        out = f"{op.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, in_c: int, out_c: int, kernel: tuple[int, int], stride: tuple[int, int],
             in_hw: tuple[int, int], group: int = 1, relu: bool = True) -> str:
        """Conv with TensorFlow SAME padding (extra row/column at the end), then Relu."""
        fan_in = in_c // group * kernel[0] * kernel[1]
        n = len(self.nodes)
        w = self._const(f"w_{n}", self._uniform((out_c, in_c // group, *kernel), math.sqrt(6 / fan_in)))
        b = self._const(f"b_{n}", self._uniform((out_c,), 0.1))
        (_, top, bottom), (_, left, right) = (same_padding(in_hw[i], kernel[i], stride[i]) for i in (0, 1))
        y = self.node("Conv", [x, w, b], kernel_shape=list(kernel), strides=list(stride),
                      pads=[top, left, bottom, right], group=group)
        return self.node("Relu", [y]) if relu else y

    def gemm(self, x: str, in_f: int, out_f: int) -> str:
        n = len(self.nodes)
        w = self._const(f"w_{n}", self._uniform((out_f, in_f), math.sqrt(6 / in_f)))
        b = self._const(f"b_{n}", self._uniform((out_f,), 0.1))
        return self.node("Gemm", [x, w, b], transB=1)

    def serialize(self, name: str, x: tuple[str, list[int]], y: tuple[str, list[int]], doc: str) -> bytes:
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info(x[0], TensorProto.FLOAT, x[1])],
            [helper.make_tensor_value_info(y[0], TensorProto.FLOAT, y[1])],
            initializer=self.initializers,
        )  # fmt: skip
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="edge-harness modelgen", doc_string=doc)
        model.ir_version = IR_VERSION
        return model.SerializeToString(deterministic=True)


def dscnn_kws_onnx() -> bytes:
    """The MLPerf Tiny KWS DS-CNN as float32 ONNX (seeded untrained weights; efficiency work only).

    Same architecture and MACs (2,656,768) as ``mlperf-dscnn-kws`` in NCHW: input [1, 1, 49, 10];
    Conv 64x10x4 stride 2; 4 x (depthwise Conv 3x3 group 64, Conv 1x1 64), each + Relu;
    AveragePool 25x5; Flatten; Gemm 12; Softmax.
    """
    g = OnnxGraph(SEED + 100)
    x = g.conv("input", 1, 64, (10, 4), (2, 2), (49, 10))
    for _ in range(DSCNN_BLOCKS):
        x = g.conv(g.conv(x, 64, 64, (3, 3), (1, 1), (25, 5), group=64), 64, 64, (1, 1), (1, 1), (25, 5))
    x = g.node("Flatten", [g.node("AveragePool", [x], kernel_shape=[25, 5])], axis=1)
    y = g.node("Softmax", [g.gemm(x, 64, 12)], axis=-1)
    doc = "MLPerf Tiny KWS DS-CNN architecture with seeded untrained weights (edge-harness modelgen)"
    return g.serialize("mlperf_dscnn_kws", ("input", [1, 1, 49, 10]), (y, [1, 12]), doc)


BUILDERS.add("mlperf-dscnn-kws-onnx", Builder(dscnn_kws_onnx, ".onnx"))
