"""TFLite DS-CNN models from trained weights: float32 from a float ONNX graph, full int8 from a QDQ ONNX graph.

The training recipe (models/training/) exports its network as ONNX; these writers turn the same graph
into TFLite with the project's own flatbuffer writer, so no TensorFlow converter is needed. The int8
model takes every number from the QDQ model (ONNX Runtime's static quantization): the int8 weights and
their per-channel scales, the int32 biases, and each activation's scale and zero point, so the two int8
artifacts share one quantization. TFLite's own rules decide where the QDQ model has none: reshape and
average pool keep their input's parameters, softmax outputs use 1/256 and -128.

Supported graphs: a chain of Conv (+ Relu) with TensorFlow SAME padding, AveragePool over the whole
map, Flatten, Gemm (transB = 1) and Softmax, NCHW, batch 1: the MLPerf Tiny KWS DS-CNN.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import onnx
from onnx import numpy_helper
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

from harness.core.errors import ConfigError
from harness.modelgen.int8_layers import same_padding
from harness.modelgen.tflite_builder import TFLiteGraph

OP = schema_fb.BuiltinOperator
_ACT = schema_fb.ActivationFunctionType
FLOAT_VERSIONS = {OP.CONV_2D: 1, OP.DEPTHWISE_CONV_2D: 1, OP.FULLY_CONNECTED: 1, OP.AVERAGE_POOL_2D: 1,
                  OP.RESHAPE: 1, OP.SOFTMAX: 1}  # fmt: skip
INT8_VERSIONS = {OP.CONV_2D: 3, OP.DEPTHWISE_CONV_2D: 3, OP.FULLY_CONNECTED: 4, OP.AVERAGE_POOL_2D: 2,
                 OP.RESHAPE: 1, OP.SOFTMAX: 2}  # fmt: skip
SOFTMAX_SCALE, SOFTMAX_ZERO_POINT = 1.0 / 256, -128


@dataclass(frozen=True)
class Quant:
    """Quantization of one tensor: per-tensor (one scale) or per-channel."""

    scale: np.ndarray
    zero_point: np.ndarray


@dataclass(frozen=True)
class Layer:
    """One Conv or Gemm of the graph (ONNX layouts), with its int8 form when read from a QDQ graph."""

    kind: str                       # "conv", "depthwise" or "dense"
    weight: np.ndarray              # float32 (float graph) or int8 (QDQ graph), ONNX layout
    bias: np.ndarray                # float32 or int32
    stride: tuple[int, int] = (1, 1)
    relu: bool = False
    weight_quant: Quant | None = None
    output_quant: Quant | None = None  # the activation after the layer (and its ReLU)


@dataclass(frozen=True)
class Network:
    input_shape: tuple[int, int, int]   # NHWC without batch: (H, W, C)
    layers: tuple[Layer, ...]
    n_classes: int
    input_quant: Quant | None = None


def _q(scale: np.ndarray, zero_point: np.ndarray) -> Quant:
    return Quant(np.atleast_1d(np.asarray(scale, np.float32)), np.atleast_1d(np.asarray(zero_point, np.int64)))


def read_onnx(model: onnx.ModelProto) -> Network:
    """The DS-CNN chain of a float or QDQ ONNX model (QuantizeLinear/DequantizeLinear pairs are read, not kept)."""
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def const(name: str) -> tuple[np.ndarray, Quant | None]:
        if name in inits:
            return inits[name], None
        dq = producer.get(name)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in inits:
            raise ConfigError(f"ONNX input '{name}' is neither an initializer nor a dequantized one")
        return inits[dq.input[0]], _q(inits[dq.input[1]], inits[dq.input[2]] if len(dq.input) > 2 else 0)

    def quant_after(name: str) -> Quant | None:
        for n in consumers.get(name, []):
            if n.op_type == "QuantizeLinear":
                return _q(inits[n.input[1]], inits[n.input[2]])
        return None

    def attr(node: onnx.NodeProto, key: str, default: object) -> object:
        for a in node.attribute:
            if a.name == key:
                return onnx.helper.get_attribute_value(a)
        return default

    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    layers: list[Layer] = []
    for node in graph.node:
        if node.op_type not in ("Conv", "Gemm"):
            continue
        weight, w_quant = const(node.input[1])
        bias, _ = const(node.input[2])
        out = node.output[0]
        follower = consumers.get(out, [])
        relu = any(n.op_type == "Relu" for n in follower)
        if relu:
            out = next(n for n in follower if n.op_type == "Relu").output[0]
        out_quant = quant_after(out)
        if node.op_type == "Gemm":
            if attr(node, "transB", 0) != 1:
                raise ConfigError(f"Gemm '{node.name}' must have transB = 1")
            layers.append(Layer("dense", weight, bias, relu=relu, weight_quant=w_quant, output_quant=out_quant))
            continue
        group = int(attr(node, "group", 1))  # type: ignore[arg-type]
        stride = tuple(int(s) for s in attr(node, "strides", [1, 1]))  # type: ignore[union-attr]
        kind = "depthwise" if group > 1 and group == weight.shape[0] and weight.shape[1] == 1 else "conv"
        if group > 1 and kind != "depthwise":
            raise ConfigError(f"Conv '{node.name}': only depthwise (group = channels) grouped convolutions")
        layers.append(Layer(kind, weight, bias, (stride[0], stride[1]), relu, w_quant, out_quant))
    input_quant = quant_after(graph.input[0].name)
    n_classes = int(layers[-1].weight.shape[0])
    return Network((dims[2], dims[3], dims[1]), tuple(layers), n_classes, input_quant)


def _tflite_weight(layer: Layer) -> np.ndarray:
    if layer.kind == "conv":
        return np.ascontiguousarray(layer.weight.transpose(0, 2, 3, 1))  # [out, kh, kw, in]
    if layer.kind == "depthwise":
        return np.ascontiguousarray(layer.weight.transpose(1, 2, 3, 0))  # [1, kh, kw, channels]
    return np.ascontiguousarray(layer.weight)                            # [units, in]


def _options(layer: Layer, kind: int) -> object:
    act = _ACT.RELU if layer.relu else _ACT.NONE
    if kind == OP.FULLY_CONNECTED:
        opts = schema_fb.FullyConnectedOptionsT()
    else:
        opts = schema_fb.Conv2DOptionsT() if kind == OP.CONV_2D else schema_fb.DepthwiseConv2DOptionsT()
        opts.padding, (opts.strideH, opts.strideW) = schema_fb.Padding.SAME, layer.stride
        opts.dilationHFactor = opts.dilationWFactor = 1
        if kind == OP.DEPTHWISE_CONV_2D:
            opts.depthMultiplier = 1
    opts.fusedActivationFunction = act
    return opts


def _kind(layer: Layer) -> int:
    return {"conv": OP.CONV_2D, "depthwise": OP.DEPTHWISE_CONV_2D, "dense": OP.FULLY_CONNECTED}[layer.kind]


def _out_hw(hw: tuple[int, int], layer: Layer) -> tuple[int, int]:
    if layer.kind == "dense":
        return hw
    kh, kw = layer.weight.shape[2:]
    return same_padding(hw[0], kh, layer.stride[0])[0], same_padding(hw[1], kw, layer.stride[1])[0]


def write_tflite(net: Network, description: str, *, int8: bool) -> bytes:
    """The network as a TFLite flatbuffer: float32 throughout, or full int8 (int8 in, int8 out)."""
    if int8 and (net.input_quant is None or any(la.weight_quant is None or la.output_quant is None
                                                for la in net.layers)):
        raise ConfigError("an int8 TFLite model needs a QDQ graph: every layer's weights and output quantized")
    g = TFLiteGraph(description)
    versions = INT8_VERSIONS if int8 else FLOAT_VERSIONS
    h, w, c = net.input_shape

    def act(name: str, shape: list[int], quant: Quant | None) -> int:
        if not int8:
            return g.tensor(name, shape, np.float32)
        assert quant is not None
        return g.tensor(name, shape, np.int8, scale=quant.scale.tolist(), zero_point=quant.zero_point.tolist())

    x_quant = net.input_quant
    x = act("input", [1, h, w, c], x_quant)
    inputs = [x]
    hw = (h, w)
    conv_layers = [la for la in net.layers if la.kind != "dense"]
    for i, layer in enumerate(conv_layers):
        kind = _kind(layer)
        weight = _tflite_weight(layer)
        hw = _out_hw(hw, layer)
        channels = int(layer.weight.shape[0])
        y = act(f"conv_{i}_out", [1, *hw, channels], layer.output_quant)
        w_idx, b_idx = _weights(g, f"conv_{i}", layer, weight, x_quant, 3 if kind == OP.DEPTHWISE_CONV_2D else 0,
                                int8)
        g.op(kind, versions[kind], [x, w_idx, b_idx], [y], _options(layer, kind))
        x, x_quant = y, layer.output_quant
    pooled = act("average_pool_out", [1, 1, 1, channels], x_quant)
    pool = schema_fb.Pool2DOptionsT()
    pool.padding, pool.strideH, pool.strideW = schema_fb.Padding.VALID, 1, 1
    pool.filterHeight, pool.filterWidth = hw
    pool.fusedActivationFunction = _ACT.NONE
    g.op(OP.AVERAGE_POOL_2D, versions[OP.AVERAGE_POOL_2D], [x], [pooled], pool)
    flat = act("reshape_out", [1, channels], x_quant)
    shape = g.tensor("reshape_shape", [2], np.int32, np.array([1, channels], np.int32))
    reshape = schema_fb.ReshapeOptionsT()
    reshape.newShape = [1, channels]
    g.op(OP.RESHAPE, versions[OP.RESHAPE], [pooled, shape], [flat], reshape)
    x = flat
    for i, layer in enumerate(la for la in net.layers if la.kind == "dense"):
        units = int(layer.weight.shape[0])
        y = act(f"dense_{i}_out", [1, units], layer.output_quant)
        w_idx, b_idx = _weights(g, f"dense_{i}", layer, _tflite_weight(layer), x_quant, 0, int8)
        g.op(OP.FULLY_CONNECTED, versions[OP.FULLY_CONNECTED], [x, w_idx, b_idx], [y],
             _options(layer, OP.FULLY_CONNECTED))
        x, x_quant = y, layer.output_quant
    probs = act("softmax_out", [1, net.n_classes],
                _q(np.float32(SOFTMAX_SCALE), np.int64(SOFTMAX_ZERO_POINT)) if int8 else None)
    softmax = schema_fb.SoftmaxOptionsT()
    softmax.beta = 1.0
    g.op(OP.SOFTMAX, versions[OP.SOFTMAX], [x], [probs], softmax)
    return g.serialize(inputs, [probs])


def _weights(g: TFLiteGraph, name: str, layer: Layer, weight: np.ndarray, x_quant: Quant | None, qdim: int,
             int8: bool) -> tuple[int, int]:
    """Weight and bias tensors; int8 weights keep the QDQ model's scales, int32 biases get input x weight scale."""
    if not int8:
        w_idx = g.tensor(f"{name}_weights", weight.shape, np.float32, weight.astype(np.float32))
        b_idx = g.tensor(f"{name}_bias", layer.bias.shape, np.float32, layer.bias.astype(np.float32))
        return w_idx, b_idx
    assert layer.weight_quant is not None and x_quant is not None
    if weight.dtype != np.int8 or layer.bias.dtype != np.int32:
        raise ConfigError(f"layer {name}: the QDQ graph must hold int8 weights and int32 biases",
                          hint="quantize with weight_type=QInt8 (onnxruntime.quantization.quantize_static)")
    w_scales = layer.weight_quant.scale
    if np.any(layer.weight_quant.zero_point != 0):
        raise ConfigError(f"layer {name}: TFLite int8 weights are symmetric (zero point 0)")
    n = len(layer.bias)
    per_channel = w_scales.size > 1
    w_idx = g.tensor(f"{name}_weights", weight.shape, np.int8, weight, w_scales.tolist(), [0] * w_scales.size,
                     qdim if per_channel else 0)
    bias_scales = (np.float64(x_quant.scale[0]) * w_scales.astype(np.float64)).astype(np.float32)
    bias_scales = bias_scales if per_channel else np.repeat(bias_scales, 1)
    b_idx = g.tensor(f"{name}_bias", [n], np.int32, layer.bias, bias_scales.tolist(), [0] * bias_scales.size)
    return w_idx, b_idx


def tflite_from_onnx(float_model: onnx.ModelProto, qdq_model: onnx.ModelProto, description: str) -> tuple[bytes, bytes]:
    """(float32, int8) TFLite flatbuffers of a float ONNX graph and its QDQ quantization.

    The QDQ graph has no Relu nodes (each is folded into its convolution's output range); the float graph
    says where they were, so the int8 model fuses them as TFLite does.
    """
    net_float, net_int8 = read_onnx(float_model), read_onnx(qdq_model)
    if len(net_float.layers) != len(net_int8.layers):
        raise ConfigError("the QDQ ONNX graph is not a quantization of the float one: their layers differ")
    layers = tuple(replace(q, relu=f.relu) for q, f in zip(net_int8.layers, net_float.layers, strict=True))
    return (write_tflite(net_float, f"{description} (float32)", int8=False),
            write_tflite(replace(net_int8, layers=layers), f"{description} (int8, the QDQ model's quantization)",
                         int8=True))
