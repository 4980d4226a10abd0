"""Static analysis of TFLite flatbuffers, parsed with the schema shipped in tflite-micro.

Conventions (see also :mod:`harness.analysis`):

* ``ops`` lists the operators that can run on every invoke: those of subgraph 0, then those of
  the subgraphs it reaches through control flow (both IF branches, WHILE bodies once, CALL, ...),
  each in file order. Subgraphs reached only through CALL_ONCE (the initialiser of
  resource-variable models such as microWakeWord) run once per session: they count in
  ``subgraphs`` and are described in ``notes`` but are not in ``ops``. Without IF/WHILE this is
  exactly the op list LiteRT reports (``Interpreter._get_ops_details()``).
* ``op_type`` is the builtin operator name (the larger of ``deprecated_builtin_code`` and
  ``builtin_code``), or the custom code of a custom op.
* MACs (batch included, i.e. per output element times the reduction length):
  CONV_2D = out_elements * k_h * k_w * in_c_per_group (filter [out_c, k_h, k_w, in_c/group]);
  DEPTHWISE_CONV_2D = out_elements * k_h * k_w (filter [1, k_h, k_w, out_c]);
  FULLY_CONNECTED = out_elements * in_features (= batch * out_features * in_features);
  BATCH_MATMUL = out_elements * K; TRANSPOSE_CONV = in_elements * k_h * k_w * out_c;
  CONV_3D = out_elements * k_d * k_h * k_w * in_c. Every other op: 0.
* ``dtype`` of a MAC op is the type of its activation input (int8/uint8 -> int8, int16, float32/float16 ->
  float32): the kernel a runtime picks follows it.
* A tensor is constant when its buffer holds data; ``params`` sums their element counts.
* ``peak_activation_bytes`` is the largest :func:`~harness.analysis.peak_live_bytes` of any
  subgraph over its non-constant tensors in file order; graph inputs are live from the start,
  graph outputs and variable tensors throughout. Subgraph inputs that the caller feeds from its
  constants count as constants. Resource handles count 0 bytes; resource-variable storage is
  reported in ``notes`` instead.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from pathlib import Path

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

from harness.analysis import peak_live_bytes
from harness.analysis.profile import ModelProfile, OpCost
from harness.core.errors import ModelError

OP_NAMES: dict[int, str] = {
    v: k for k, v in vars(schema_fb.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)
}
_TT = schema_fb.TensorType
_BITS = {
    _TT.FLOAT32: 32, _TT.FLOAT16: 16, _TT.INT32: 32, _TT.UINT8: 8, _TT.INT64: 64, _TT.BOOL: 8,
    _TT.INT16: 16, _TT.COMPLEX64: 64, _TT.INT8: 8, _TT.FLOAT64: 64, _TT.COMPLEX128: 128, _TT.UINT64: 64,
    _TT.UINT32: 32, _TT.UINT16: 16, _TT.INT4: 4, _TT.BFLOAT16: 16,
}  # fmt: skip
_BITS.update({getattr(_TT, n): b for n, b in [("INT2", 2), ("UINT4", 4), ("FLOAT8_E4M3FN", 8),
                                               ("FLOAT8_E5M2", 8)] if hasattr(_TT, n)})
# Compute type of a MAC op from its activation input: quantized kernels, or float (hybrid float/int8 models too).
_COMPUTE = {_TT.INT8: "int8", _TT.UINT8: "int8", _TT.INT16: "int16", _TT.FLOAT32: "float32", _TT.FLOAT16: "float32"}
_PARSE_ERRORS = (struct.error, IndexError, KeyError, TypeError, ValueError, AttributeError,
                 UnicodeDecodeError, OverflowError, RecursionError, MemoryError)


def analyze_tflite(path: Path) -> ModelProfile:
    """The static profile of a .tflite file (conventions in the module docstring)."""
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(
            f"{path}: not a TFLite model (expected a flatbuffer with file identifier 'TFL3' at bytes 4-8)",
            hint="export the model with the TFLite converter, or check the file is not truncated",
        )
    try:
        model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(data, 0))
        if not model.subgraphs:
            raise ValueError("the model has no subgraphs")
        return _profile(model, len(data))
    except _PARSE_ERRORS as e:
        raise ModelError(
            f"{path}: malformed TFLite flatbuffer ({type(e).__name__}: {e})",
            hint="expected a model written by the TFLite converter or flatbuffers with the TFLite schema",
        ) from None


def _op_name(model: schema_fb.ModelT, op: schema_fb.OperatorT) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema_fb.BuiltinOperator.CUSTOM and code.customCode:
        return _text(code.customCode)
    return OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


def _text(value: str | bytes | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def _ints(vector: object) -> list[int]:
    """A flatbuffer int vector (None, a list or a numpy array) as a list."""
    return [] if vector is None else [int(v) for v in vector]  # type: ignore[attr-defined]


def _elements(shape: object) -> int:
    """Element count; unknown (-1) dimensions count as 1, a missing shape as a scalar."""
    return math.prod(max(d, 1) for d in _ints(shape))


def _has_data(model: schema_fb.ModelT, tensor: schema_fb.TensorT) -> bool:
    if not 0 < tensor.buffer < len(model.buffers or ()):
        return False
    buf = model.buffers[tensor.buffer]
    return (buf.data is not None and len(buf.data) > 0) or (buf.offset > 1 and buf.size > 0)


def _nbytes(tensor: schema_fb.TensorT) -> int:
    return (_elements(tensor.shape) * _BITS.get(tensor.type, 0) + 7) // 8


def _subgraph_refs(op: schema_fb.OperatorT) -> list[int]:
    """Subgraph indices an op's options name (IF branches, WHILE cond/body, CALL_ONCE init, ...)."""
    refs: list[int] = []
    for options in (op.builtinOptions, getattr(op, "builtinOptions2", None)):
        for key, value in (vars(options) if options is not None else {}).items():
            if "subgraph" in key.lower() and value is not None:
                refs += _ints(value) if hasattr(value, "__len__") else [int(value)]
    return refs


def _per_invoke_subgraphs(model: schema_fb.ModelT) -> list[int]:
    seen = [0]
    for sg in seen:
        for op in model.subgraphs[sg].operators or []:
            if _op_name(model, op) == "CALL_ONCE":
                continue
            seen += [r for r in _subgraph_refs(op) if r not in seen and 0 <= r < len(model.subgraphs)]
    return seen


def _passed_constants(model: schema_fb.ModelT) -> dict[int, set[int]]:
    """Subgraph inputs that a caller's IF, WHILE or CALL op feeds from its constants (e.g. weights)."""
    passed: dict[int, set[int]] = {}
    for sg in model.subgraphs:
        tensors = sg.tensors or []
        for op in sg.operators or []:
            name = _op_name(model, op)
            if name not in ("IF", "WHILE", "CALL"):
                continue
            args = _ints(op.inputs)[1 if name == "IF" else 0 :]  # IF's first input is the condition
            for callee in _subgraph_refs(op):
                params = _ints(model.subgraphs[callee].inputs)
                passed.setdefault(callee, set()).update(
                    p for p, a in zip(params, args, strict=False) if a >= 0 and _has_data(model, tensors[a])
                )
    return passed


def _op_macs(name: str, op: schema_fb.OperatorT, tensors: list[schema_fb.TensorT], out_elements: int) -> int:
    inputs = _ints(op.inputs)

    def shape(i: int) -> list[int]:
        idx = inputs[i] if i < len(inputs) else -1
        return [max(d, 1) for d in _ints(tensors[idx].shape)] if idx >= 0 else []

    if name == "CONV_2D" and len(w := shape(1)) == 4:
        return out_elements * w[1] * w[2] * w[3]
    if name == "DEPTHWISE_CONV_2D" and len(w := shape(1)) == 4:
        return out_elements * w[1] * w[2]
    if name == "FULLY_CONNECTED" and (w := shape(1)):
        return out_elements * w[-1]
    if name == "BATCH_MATMUL" and len(x := shape(0)) >= 2:
        adj_x = bool(getattr(op.builtinOptions, "adjX", False))
        return out_elements * (x[-2] if adj_x else x[-1])
    if name == "TRANSPOSE_CONV" and len(w := shape(1)) == 4:
        return _elements(shape(2)) * w[0] * w[1] * w[2]
    if name == "CONV_3D" and len(w := shape(1)) == 5:
        return out_elements * w[0] * w[1] * w[2] * w[3]
    return 0


def _compute_type(op: schema_fb.OperatorT, tensors: list[schema_fb.TensorT]) -> str:
    first = next(iter(_ints(op.inputs)), -1)
    return _COMPUTE.get(tensors[first].type, "") if first >= 0 else ""


def _profile(model: schema_fb.ModelT, model_bytes: int) -> ModelProfile:
    params = 0
    peak = 0
    passed_constants = _passed_constants(model)
    for sg_index, sg in enumerate(model.subgraphs):
        tensors = sg.tensors or []
        const = [_has_data(model, t) for t in tensors]
        params += sum(_elements(t.shape) for t, c in zip(tensors, const, strict=True) if c)
        sizes = {i: _nbytes(t) for i, t in enumerate(tensors)
                 if not const[i] and i not in passed_constants.get(sg_index, ())}
        variables = [i for i, t in enumerate(tensors) if t.isVariable]
        steps = [([i for i in _ints(op.inputs) if i >= 0], [i for i in _ints(op.outputs) if i >= 0])
                 for op in sg.operators or []]
        peak = max(peak, peak_live_bytes(steps, sizes, _ints(sg.inputs) + variables,
                                         _ints(sg.outputs) + variables))

    ops: list[OpCost] = []
    run = _per_invoke_subgraphs(model)
    for sg_index in run:
        sg = model.subgraphs[sg_index]
        tensors = sg.tensors or []
        for op in sg.operators or []:
            name = _op_name(model, op)
            first = next(iter(_ints(op.outputs)), -1)
            out_elements = _elements(tensors[first].shape) if first >= 0 else 0
            macs = _op_macs(name, op, tensors, out_elements)
            ops.append(OpCost(len(ops), name, macs, out_elements, _compute_type(op, tensors) if macs else ""))

    notes = [_describe(model, i) for i in range(len(model.subgraphs)) if i not in run]
    notes += _variable_note(model)
    return ModelProfile(
        format="tflite",
        model_bytes=model_bytes,
        params=params,
        ops=tuple(ops),
        peak_activation_bytes=peak,
        subgraphs=len(model.subgraphs),
        notes=tuple(notes),
    )


def _describe(model: schema_fb.ModelT, index: int) -> str:
    sg = model.subgraphs[index]
    hist = Counter(_op_name(model, op) for op in sg.operators or [])
    by_once = any(
        index in _subgraph_refs(op)
        for s in model.subgraphs for op in s.operators or [] if _op_name(model, op) == "CALL_ONCE"
    )
    how = "runs once at the first invoke (CALL_ONCE)" if by_once else "is not reached from subgraph 0"
    ops = ", ".join(f"{k} {v}" for k, v in sorted(hist.items())) or "no ops"
    return f"subgraph {index} '{_text(sg.name)}' ({ops}) {how}; not counted in ops"


def _variable_note(model: schema_fb.ModelT) -> list[str]:
    """Resource variables and the bytes of state assigned to them, keyed by shared name."""
    state: dict[str, int] = {}
    for sg in model.subgraphs:
        tensors = sg.tensors or []
        handles: dict[int, str] = {}
        for op in sg.operators or []:
            name = _op_name(model, op)
            ins, outs = _ints(op.inputs), _ints(op.outputs)
            if name == "VAR_HANDLE" and outs:
                opts = op.builtinOptions
                key = f"{_text(getattr(opts, 'container', None))}/{_text(getattr(opts, 'sharedName', None))}"
                handles[outs[0]] = key
                state.setdefault(key, 0)
            elif name == "ASSIGN_VARIABLE" and len(ins) >= 2 and ins[0] in handles:
                key = handles[ins[0]]
                state[key] = max(state[key], _nbytes(tensors[ins[1]]))
    if not state:
        return []
    return [f"{len(state)} resource variables hold {sum(state.values())} bytes of state "
            "(not in peak_activation_bytes)"]
