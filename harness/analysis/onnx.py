"""Static analysis of ONNX models with the onnx package and its shape inference.

Conventions (see also :mod:`harness.analysis`):

* ``ops`` are the nodes of the main graph in file order (ONNX requires topological order).
  Nodes inside control-flow bodies (If/Loop/Scan) count in ``subgraphs`` and ``notes`` only.
* ``op_type`` is the TFLite builtin name where the op means the same thing (``_SAME_AS_TFLITE``),
  else the ONNX op name in upper snake case (``LayerNormalization`` -> ``LAYER_NORMALIZATION``).
  Conv (and ConvInteger, QLinearConv) is DEPTHWISE_CONV_2D when ``group`` equals the input
  channels (and is above 1), CONV_3D for 3-D kernels, else CONV_2D (1-D convolutions too, as
  the TFLite converter lowers them). Gemm is FULLY_CONNECTED; MatMul (and MatMulInteger,
  QLinearMatMul) is FULLY_CONNECTED when its second input is a constant matrix, else BATCH_MATMUL.
* MACs: Conv = out_elements * (in_c / group) * prod(kernel) (depthwise: out_elements * prod(kernel));
  ConvTranspose = in_elements * (out_c / group) * prod(kernel); Gemm and MatMul = out_elements * K.
  Every other op: 0.
* ``params`` sums the elements of initializers and Constant nodes.
* Symbolic or unknown dimensions count as 1 (said in ``notes``); an op whose shapes shape inference
  could not give has 0 MACs and output elements (also said in ``notes``).
* ``peak_activation_bytes`` as for TFLite: live ranges of non-constant tensors over the node order, each
  at the width of its element type (int8 tensors count one byte).
* Quantized models in QDQ form (QuantizeLinear/DequantizeLinear around float ops, as ONNX Runtime's
  quantizer writes them): a DequantizeLinear of a constant (weights) or whose output is not a graph output,
  and a QuantizeLinear whose input is not a graph input, are ``fused``: quantized runtimes fold them into
  the integer kernel next to them. The float tensors between a fused pair are never materialised, so they
  do not count in ``peak_activation_bytes``.
* ``dtype`` of a MAC op: int8 for the integer ops (QLinearConv, ConvInteger, MatMulInteger, QLinearMatMul)
  and for float ops fed by a DequantizeLinear (QDQ; int16 when it dequantizes int16); else the type of the
  activation input (float32 for float and float16 models).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import onnx
from onnx import TensorProto

from harness.analysis import peak_live_bytes
from harness.analysis.profile import ModelProfile, OpCost
from harness.core.errors import ModelError

_SAME_AS_TFLITE = {
    "Gemm": "FULLY_CONNECTED", "ConvTranspose": "TRANSPOSE_CONV", "Relu": "RELU", "Sigmoid": "LOGISTIC",
    "Tanh": "TANH", "Softmax": "SOFTMAX", "LogSoftmax": "LOG_SOFTMAX", "Add": "ADD", "Sub": "SUB",
    "Mul": "MUL", "Div": "DIV", "AveragePool": "AVERAGE_POOL_2D", "MaxPool": "MAX_POOL_2D",
    "Reshape": "RESHAPE", "Flatten": "RESHAPE", "Transpose": "TRANSPOSE", "Concat": "CONCATENATION",
    "Pad": "PAD", "Squeeze": "SQUEEZE", "Unsqueeze": "EXPAND_DIMS", "ReduceMean": "MEAN",
    "ReduceMax": "REDUCE_MAX", "QuantizeLinear": "QUANTIZE", "DequantizeLinear": "DEQUANTIZE",
    "Slice": "STRIDED_SLICE", "Split": "SPLIT", "Gather": "GATHER", "Cast": "CAST", "Exp": "EXP",
    "Sqrt": "SQRT", "Pow": "POW", "LeakyRelu": "LEAKY_RELU", "HardSwish": "HARD_SWISH", "PRelu": "PRELU",
    "Max": "MAXIMUM", "Min": "MINIMUM", "Abs": "ABS", "Neg": "NEG", "Log": "LOG", "Resize": "RESIZE_BILINEAR",
}  # fmt: skip
_CONV = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}  # op -> index of the weight input
_MATMUL = {"Gemm": 1, "MatMul": 1, "MatMulInteger": 1, "QLinearMatMul": 3}
_BITS = {"FLOAT": 32, "UINT8": 8, "INT8": 8, "UINT16": 16, "INT16": 16, "INT32": 32, "INT64": 64, "BOOL": 8,
         "FLOAT16": 16, "DOUBLE": 64, "UINT32": 32, "UINT64": 64, "COMPLEX64": 64, "COMPLEX128": 128,
         "BFLOAT16": 16, "FLOAT8E4M3FN": 8, "FLOAT8E4M3FNUZ": 8, "FLOAT8E5M2": 8, "FLOAT8E5M2FNUZ": 8,
         "UINT4": 4, "INT4": 4, "FLOAT4E2M1": 4, "FLOAT8E8M0": 8, "UINT2": 2, "INT2": 2}  # fmt: skip
_BITS_BY_TYPE = {getattr(TensorProto, k): v for k, v in _BITS.items() if hasattr(TensorProto, k)}
_COMPUTE = {TensorProto.INT8: "int8", TensorProto.UINT8: "int8", TensorProto.INT16: "int16",
            TensorProto.UINT16: "int16", TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float32",
            TensorProto.BFLOAT16: "float32", TensorProto.DOUBLE: "float32"}
_INTEGER_OPS = {"QLinearConv", "ConvInteger", "MatMulInteger", "QLinearMatMul"}

Shape = list[int]


def analyze_onnx(path: Path) -> ModelProfile:
    """The static profile of a .onnx file (conventions in the module docstring)."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError and others for non-ONNX bytes
        raise _not_onnx(path, f"{type(e).__name__}: {e}") from None
    if model.ir_version <= 0 or not model.HasField("graph") or not model.opset_import:
        raise _not_onnx(path, "no ir_version, graph or opset_import")
    notes: list[str] = []
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception as e:  # inference errors on unusual models should not stop the analysis
        notes.append(f"shape inference failed ({type(e).__name__}); shapes from the file only")
        inferred = model
    return _profile(inferred.graph, path.stat().st_size, notes)


def _not_onnx(path: Path, why: str) -> ModelError:
    return ModelError(
        f"{path}: not a valid ONNX model ({why})",
        hint="expected a serialized onnx.ModelProto, e.g. from torch.onnx.export or onnx.save",
    )


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _profile(graph: onnx.GraphProto, model_bytes: int, notes: list[str]) -> ModelProfile:
    symbolic: set[str] = set()
    shapes: dict[str, Shape] = {}
    types: dict[str, int] = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        t = vi.type.tensor_type
        types[vi.name] = t.elem_type
        if t.HasField("shape"):
            dims = []
            for d in t.shape.dim:
                if not d.HasField("dim_value"):
                    symbolic.add(d.dim_param or "?")
                dims.append(max(d.dim_value, 1))
            shapes[vi.name] = dims

    consts: dict[str, Shape] = {i.name: list(i.dims) for i in graph.initializer}
    consts.update({s.values.name: list(s.dims) for s in graph.sparse_initializer})
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            consts[node.output[0]] = list(value.dims) if value is not None else [1]
    params = sum(math.prod(dims) for dims in consts.values())
    for name, dims in consts.items():
        shapes.setdefault(name, dims)

    fused = _fused_qdq(graph, consts)
    producer = {o: n for n in graph.node for o in n.output}
    ops: list[OpCost] = []
    unknown: list[str] = []
    for index, node in enumerate(graph.node):
        op_type, macs = _classify(node, shapes, consts)
        out = shapes.get(node.output[0]) if node.output and node.output[0] else None
        if out is None and node.output and node.output[0]:
            unknown.append(node.name or node.op_type)
        dtype = _compute_type(node, producer, types, consts) if macs else ""
        ops.append(OpCost(len(ops), op_type, macs, math.prod(out) if out is not None else 0, dtype,
                          index in fused))

    nodes = list(graph.node)
    unmaterialised = {nodes[i].output[0] for i in fused if nodes[i].op_type == "DequantizeLinear"}
    unmaterialised |= {nodes[i].input[0] for i in fused if nodes[i].op_type == "QuantizeLinear"}
    sizes = {n: (math.prod(s) * _BITS_BY_TYPE.get(types[n], 0) + 7) // 8
             for n, s in shapes.items() if n not in consts and n in types and n not in unmaterialised}
    steps = [(list(n.input), list(n.output)) for n in graph.node if n.op_type != "Constant"]
    peak = peak_live_bytes(steps, sizes, [i.name for i in graph.input], [o.name for o in graph.output])

    bodies = sum(_count_bodies(n) for n in graph.node)
    if bodies:
        notes.append(f"{bodies} control-flow bodies (If/Loop/Scan); their nodes are not in ops")
    if symbolic:
        notes.append(f"symbolic dimensions taken as 1: {', '.join(sorted(symbolic))}")
    if unknown:
        notes.append(f"no inferred output shape (0 MACs counted) for: {', '.join(unknown[:10])}"
                     + (" ..." if len(unknown) > 10 else ""))
    if any(i.data_location == TensorProto.EXTERNAL for i in graph.initializer):
        notes.append("weights stored in external data files are not in model_bytes")
    return ModelProfile(
        format="onnx",
        model_bytes=model_bytes,
        params=params,
        ops=tuple(ops),
        peak_activation_bytes=peak,
        subgraphs=1 + bodies,
        notes=tuple(notes),
    )


def _fused_qdq(graph: onnx.GraphProto, consts: dict[str, Shape]) -> set[int]:
    """Indices of the QDQ nodes a quantized runtime folds into its integer kernels (see the module docstring)."""
    inputs = {i.name for i in graph.input}
    outputs = {o.name for o in graph.output}
    fused = set()
    for index, node in enumerate(graph.node):
        if not node.input or not node.output:
            continue
        if node.op_type == "DequantizeLinear" and (node.input[0] in consts or node.output[0] not in outputs):
            fused.add(index)
        elif node.op_type == "QuantizeLinear" and node.input[0] not in inputs:
            fused.add(index)
    return fused


def _compute_type(node: onnx.NodeProto, producer: dict[str, onnx.NodeProto], types: dict[str, int],
                  consts: dict[str, Shape]) -> str:
    """The type a MAC op computes in (module docstring): what decides its kernel's cycles per MAC."""
    x = node.input[0] if node.input else ""
    source = producer.get(x)
    if node.op_type not in _INTEGER_OPS and source is not None and source.op_type == "DequantizeLinear":
        x = source.input[0]
    return _COMPUTE.get(types.get(x, 0), "int8" if node.op_type in _INTEGER_OPS else "")


def _count_bodies(node: onnx.NodeProto) -> int:
    count = 0
    for a in node.attribute:
        for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
            count += 1 + sum(_count_bodies(n) for n in g.node)
    return count


def _classify(node: onnx.NodeProto, shapes: dict[str, Shape], consts: dict[str, Shape]) -> tuple[str, int]:
    """The TFLite-style op type of a node and its MACs."""
    def shape(i: int) -> Shape | None:
        return shapes.get(node.input[i]) if i < len(node.input) and node.input[i] else None

    out = shapes.get(node.output[0]) if node.output else None
    out_elements = math.prod(out) if out is not None else 0
    op = node.op_type
    if op in _CONV:
        w = shape(_CONV[op])
        if w is None or len(w) < 3:
            return "CONV_2D", 0
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        kind = "CONV_3D" if len(w) == 5 else "CONV_2D"
        if group > 1 and w[1] == 1 and len(w) <= 4:
            kind = "DEPTHWISE_CONV_2D"  # each group sees one input channel: group == in_channels
        return kind, out_elements * math.prod(w[1:])
    if op == "ConvTranspose":
        w, x = shape(1), shape(0)
        return "TRANSPOSE_CONV", math.prod(x) * math.prod(w[1:]) if w and x else 0
    if op in _MATMUL:
        a, b = shape(0), shape(_MATMUL[op])
        if op == "Gemm":
            trans_a = next((a_.i for a_ in node.attribute if a_.name == "transA"), 0)
            k = (a[0] if trans_a else a[-1]) if a else 0
            return "FULLY_CONNECTED", out_elements * k
        const_weight = node.input[_MATMUL[op]] in consts and b is not None and len(b) == 2
        return ("FULLY_CONNECTED" if const_weight else "BATCH_MATMUL"), out_elements * (a[-1] if a else 0)
    return _SAME_AS_TFLITE.get(op, _upper_snake(op)), 0
