"""Static analysis: op histograms against LiteRT, MACs and memory against hand-computed numbers."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pymicro_wakeword
import pytest
from ai_edge_litert.interpreter import Interpreter
from onnx import TensorProto, helper, numpy_helper
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

from harness.analysis import analyze, peak_live_bytes
from harness.core.errors import ModelError
from harness.modelgen.tflite_builder import TFLiteGraph

MWW_MODELS = sorted((Path(pymicro_wakeword.__file__).parent / "models").glob("*.tflite"))
OP = schema_fb.BuiltinOperator


def test_mww_models_are_shipped() -> None:
    assert len(MWW_MODELS) >= 4


@pytest.mark.parametrize("path", MWW_MODELS, ids=lambda p: p.stem)
def test_microwakeword_ops_match_litert(path: Path) -> None:
    interpreter = Interpreter(model_path=str(path))
    litert_ops = interpreter._get_ops_details()
    shapes = {t["index"]: [int(d) for d in t["shape"]] for t in interpreter.get_tensor_details()}
    profile = analyze(path)

    assert profile.op_histogram == dict(sorted(Counter(o["op_name"] for o in litert_ops).items()))
    assert profile.subgraphs == interpreter.num_subgraphs() == 2
    assert any("CALL_ONCE" in n for n in profile.notes)
    assert profile.model_bytes == path.stat().st_size
    # Per op, in order: type, first-output elements and MACs recomputed from LiteRT's own tensor shapes.
    for op, ref in zip(profile.ops, litert_ops, strict=True):
        assert op.op_type == ref["op_name"]
        out = shapes[ref["outputs"][0]] if len(ref["outputs"]) else None
        assert op.output_elements == (math.prod(out) if out is not None else 0)
        if ref["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w = shapes[ref["inputs"][1]]
            # filters: CONV_2D [out, kh, kw, in], DEPTHWISE [1, kh, kw, out], FULLY_CONNECTED [out, in]
            reduced = w[1:3] if ref["op_name"] == "DEPTHWISE_CONV_2D" else w[1:]
            assert op.macs == math.prod(out) * math.prod(reduced) > 0
        else:
            assert op.macs == 0


def _tiny_float_model(path: Path) -> Path:
    """input [1,8,8,2] -> CONV_2D 4x3x3 SAME -> DEPTHWISE 3x3 stride 2 SAME -> RESHAPE [1,64] -> FC 10."""
    g = TFLiteGraph("tiny")
    f32 = np.float32
    x = g.tensor("x", [1, 8, 8, 2], f32)
    conv = g.tensor("conv", [1, 8, 8, 4], f32)
    dw = g.tensor("dw", [1, 4, 4, 4], f32)
    flat = g.tensor("flat", [1, 64], f32)
    y = g.tensor("y", [1, 10], f32)
    ones = lambda *s: np.full(s, 0.01, f32)  # noqa: E731

    opts = schema_fb.Conv2DOptionsT()
    opts.strideH = opts.strideW = opts.dilationHFactor = opts.dilationWFactor = 1
    w, b = g.tensor("w1", [4, 3, 3, 2], f32, ones(4, 3, 3, 2)), g.tensor("b1", [4], f32, ones(4))
    g.op(OP.CONV_2D, 1, [x, w, b], [conv], opts)
    opts = schema_fb.DepthwiseConv2DOptionsT()
    opts.strideH = opts.strideW = 2
    opts.depthMultiplier = opts.dilationHFactor = opts.dilationWFactor = 1
    w, b = g.tensor("w2", [1, 3, 3, 4], f32, ones(1, 3, 3, 4)), g.tensor("b2", [4], f32, ones(4))
    g.op(OP.DEPTHWISE_CONV_2D, 1, [conv, w, b], [dw], opts)
    shape = g.tensor("shape", [2], np.int32, np.array([1, 64], np.int32))
    g.op(OP.RESHAPE, 1, [dw, shape], [flat])
    w, b = g.tensor("w3", [10, 64], f32, ones(10, 64)), g.tensor("b3", [10], f32, ones(10))
    g.op(OP.FULLY_CONNECTED, 1, [flat, w, b], [y], schema_fb.FullyConnectedOptionsT())
    path.write_bytes(g.serialize([0], [y]))
    return path


def test_hand_built_tflite_macs_params_and_peak(tmp_path: Path) -> None:
    path = _tiny_float_model(tmp_path / "tiny.tflite")
    interpreter = Interpreter(model_path=str(path))  # the model is valid and runs
    interpreter.allocate_tensors()
    interpreter.invoke()
    assert interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).shape == (1, 10)

    p = analyze(path)
    assert [(o.op_type, o.macs, o.output_elements) for o in p.ops] == [
        ("CONV_2D", 8 * 8 * 4 * 3 * 3 * 2, 256),  # out_h*out_w*out_c*k_h*k_w*in_c = 4608
        ("DEPTHWISE_CONV_2D", 4 * 4 * 4 * 3 * 3, 64),  # 576
        ("RESHAPE", 0, 64),
        ("FULLY_CONNECTED", 64 * 10, 10),  # 640
    ]
    assert p.macs == 5824
    assert p.params == (72 + 4) + (36 + 4) + 2 + (640 + 10)
    # float32 bytes: x 512, conv 1024, dw 256, flat 256, y 40; the peak is x and conv during CONV_2D.
    assert p.peak_activation_bytes == 512 + 1024
    assert (p.format, p.subgraphs, p.model_bytes) == ("tflite", 1, path.stat().st_size)


def test_peak_live_bytes_keeps_skip_connections_and_outputs_alive() -> None:
    # a (input) -> b -> c; d = f(a, c) is the output; e is produced and never used.
    steps = [(["a"], ["b"]), (["b"], ["c", "e"]), (["a", "c"], ["d"])]
    sizes = {"a": 10, "b": 20, "c": 30, "d": 5, "e": 100}
    assert peak_live_bytes(steps, sizes, ["a"], ["d"]) == 10 + 20 + 30 + 100
    assert peak_live_bytes(steps[2:], {"a": 10, "c": 30, "d": 5}, ["a"], ["d"]) == 45
    assert peak_live_bytes([], {"a": 7}, ["a"], ["a"]) == 7


def _onnx_model(path: Path) -> Path:
    rng = np.random.default_rng(0)

    def init(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2], group=8),
        helper.make_node("Relu", ["c2"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["g"], transB=1),
        helper.make_node("MatMul", ["g", "w4"], ["y"]),
        helper.make_node("MatMul", ["q", "k"], ["s"]),
    ]
    inits = [init("w1", 8, 3, 3, 3), init("b1", 8), init("w2", 8, 1, 3, 3), init("b2", 8),
             init("w3", 10, 128), init("b3", 10), init("w4", 10, 5)]  # fmt: skip
    def value(name: str, *shape: int) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))

    inputs = [value("x", 1, 3, 8, 8), value("q", 2, 4, 6), value("k", 2, 6, 3)]
    graph = helper.make_graph(nodes, "g", inputs, [value("y", 1, 5), value("s", 2, 4, 3)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_hand_built_onnx_macs_and_names(tmp_path: Path) -> None:
    p = analyze(_onnx_model(tmp_path / "m.onnx"))
    assert [(o.op_type, o.macs, o.output_elements) for o in p.ops] == [
        ("CONV_2D", 8 * 8 * 8 * 3 * 3 * 3, 512),  # 13,824
        ("DEPTHWISE_CONV_2D", 4 * 4 * 8 * 3 * 3, 128),  # group == in_channels: 1,152
        ("RELU", 0, 128),
        ("RESHAPE", 0, 128),
        ("FULLY_CONNECTED", 10 * 128, 10),  # Gemm
        ("FULLY_CONNECTED", 5 * 10, 5),  # MatMul by a constant matrix
        ("BATCH_MATMUL", 2 * 4 * 3 * 6, 24),  # MatMul of two activations
    ]
    assert p.params == 8 * 27 + 8 + 8 * 9 + 8 + 1280 + 10 + 50
    # float32 bytes: inputs x 768, q 192, k 144 (live until used), c1 2048, c2 512, ...
    # The peak is during the first Conv: x, q, k and c1.
    assert p.peak_activation_bytes == 768 + 192 + 144 + 2048
    assert p.format == "onnx" and p.subgraphs == 1


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("garbage.tflite", b"\x00\x01 this is not a flatbuffer", "not a TFLite model"),
        ("truncated.tflite", b"\x1c\x00\x00\x00TFL3\x00\x00\x0e\x00", "malformed TFLite flatbuffer"),
        ("garbage.onnx", b"\xff\xff\xff\xff not protobuf", "not a valid ONNX model"),
        ("empty.onnx", b"", "not a valid ONNX model"),
    ],
)
def test_invalid_files_raise_model_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelError) as info:
        analyze(path)
    assert str(path) in str(info.value) and expected in str(info.value)
    assert info.value.hint


def test_corrupted_real_model_never_leaks_a_parser_error(tmp_path: Path) -> None:
    data = MWW_MODELS[0].read_bytes()
    rng = np.random.default_rng(1)
    path = tmp_path / "broken.tflite"
    for i in range(40):
        broken = bytearray(data[: int(rng.integers(8, len(data)))] if i % 2 else data)
        for pos in rng.integers(8, len(broken), size=8):
            broken[pos] = int(rng.integers(0, 256))
        path.write_bytes(bytes(broken))
        try:
            analyze(path)
        except ModelError:
            pass


def test_missing_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        analyze(tmp_path / "absent.tflite")
    (tmp_path / "model.pb").write_bytes(b"x")
    with pytest.raises(ModelError, match="unsupported model format") as info:
        analyze(tmp_path / "model.pb")
    assert ".tflite" in str(info.value)
