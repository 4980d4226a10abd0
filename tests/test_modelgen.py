"""Model builders: registry, caching, determinism, MACs by formula, and both TFLite runtimes."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from tflite_micro.python.tflite_micro import runtime as tflm
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

from harness.analysis import analyze
from harness.core.errors import ConfigError
from harness.core.registry import Registry
from harness.modelgen import BUILDERS, Builder, build_artifact, builder_names

TFLITE_BUILDERS = ["mlperf-dscnn-kws", "mlperf-mobilenet-vww", "mlperf-resnet8-ic",
                   "mlperf-fc-autoencoder-ad"]
# Pinned so a change in any builder, or a machine/library that builds different bytes, is caught.
SHA256 = {
    "mlperf-dscnn-kws": "b0958b12a997bc9eb7047e505beaa1e3d2e681a1da79426a7427bedae3f213c3",
    "mlperf-dscnn-kws-onnx": "2ac399ef1398e8ad59eeccc48eadee4e6570273f05efbfd147759b978820d7a3",
    "mlperf-mobilenet-vww": "36446c47eec940fab63118951fc7428ce73f0af5947314c24cdf4eae2c10ada1",
    "mlperf-resnet8-ic": "da1ce52bc2236e705f45f33a0314f4c68c5d2823b3f7bb897fd3f3518cf83cbf",
    "mlperf-fc-autoencoder-ad": "10236b3d60c2892542315c82cfb7bcf507082f438fd16b621ca1f4641e32efa5",
}
INPUT_SHAPES = {
    "mlperf-dscnn-kws": (1, 49, 10, 1),
    "mlperf-mobilenet-vww": (1, 96, 96, 3),
    "mlperf-resnet8-ic": (1, 32, 32, 3),
    "mlperf-fc-autoencoder-ad": (1, 640),
}
OUTPUT_SHAPES = {"mlperf-dscnn-kws": (1, 12), "mlperf-mobilenet-vww": (1, 2), "mlperf-resnet8-ic": (1, 10),
                 "mlperf-fc-autoencoder-ad": (1, 640)}  # fmt: skip


def conv_macs(out_hw: int | tuple[int, int], out_c: int, k: int | tuple[int, int], in_c: int) -> int:
    oh, ow = (out_hw, out_hw) if isinstance(out_hw, int) else out_hw
    kh, kw = (k, k) if isinstance(k, int) else k
    return oh * ow * out_c * kh * kw * in_c


def expected_macs() -> dict[str, int]:
    """Each architecture's MACs from its layer table, independent of the builders."""
    dscnn = conv_macs((25, 5), 64, (10, 4), 1) + 4 * (
        conv_macs((25, 5), 64, 3, 1) + conv_macs((25, 5), 64, 1, 64)
    ) + 64 * 12  # fmt: skip
    size, in_c = 48, 8
    vww = conv_macs(48, 8, 3, 3)
    for out_c, stride in [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), *[(128, 1)] * 5, (256, 2),
                          (256, 1)]:  # fmt: skip
        size //= stride
        vww += conv_macs(size, in_c, 3, 1) + conv_macs(size, out_c, 1, in_c)
        in_c = out_c
    vww += 256 * 2
    resnet = conv_macs(32, 16, 3, 3) + 2 * conv_macs(32, 16, 3, 16)
    resnet += conv_macs(16, 32, 3, 16) + conv_macs(16, 32, 3, 32) + conv_macs(16, 32, 1, 16)
    resnet += conv_macs(8, 64, 3, 32) + conv_macs(8, 64, 3, 64) + conv_macs(8, 64, 1, 32) + 64 * 10
    dims = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    ad = sum(a * b for a, b in zip(dims, dims[1:], strict=False))
    return {"mlperf-dscnn-kws": dscnn, "mlperf-dscnn-kws-onnx": dscnn, "mlperf-mobilenet-vww": vww,
            "mlperf-resnet8-ic": resnet, "mlperf-fc-autoencoder-ad": ad}  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield {name: build_artifact(name) for name in BUILDERS}


def test_dscnn_macs_match_the_published_figure() -> None:
    assert expected_macs()["mlperf-dscnn-kws"] == 2_656_768 == 320_000 + 4 * (72_000 + 512_000) + 768


@pytest.mark.parametrize("name", sorted(SHA256))
def test_macs_and_bytes(built: dict[str, Path], name: str) -> None:
    assert analyze(built[name]).macs == expected_macs()[name]
    assert hashlib.sha256(built[name].read_bytes()).hexdigest() == SHA256[name]


def test_build_is_cached_atomic_and_repeatable(built: dict[str, Path], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cache = built["mlperf-dscnn-kws"].parent
    assert sorted(p.name for p in cache.iterdir()) == sorted(BUILDERS.get(n).filename(n) for n in BUILDERS)
    stat = built["mlperf-dscnn-kws"].stat()
    monkeypatch.setenv("HARNESS_CACHE", str(cache.parent))
    assert build_artifact("mlperf-dscnn-kws").stat().st_mtime_ns == stat.st_mtime_ns  # not rebuilt
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    again = build_artifact("mlperf-resnet8-ic")
    assert again.parent == tmp_path / "models"
    assert again.read_bytes() == built["mlperf-resnet8-ic"].read_bytes()


def test_unknown_builder_lists_valid_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match="unknown model builder 'nope'") as info:
        build_artifact("nope")
    assert all(name in str(info.value) for name in builder_names())


def test_registry_rejects_duplicates() -> None:
    registry: Registry[Builder] = Registry("model builder")
    registry.add("a", Builder(lambda: b"", ".tflite"))
    with pytest.raises(ConfigError, match="model builder 'a' is registered twice"):
        registry.add("a", Builder(lambda: b"x", ".tflite"))
    with pytest.raises(ConfigError, match="model builder 'mlperf-dscnn-kws' is registered twice"):
        BUILDERS.add("mlperf-dscnn-kws", Builder(lambda: b"y", ".onnx"))


def _litert(path: Path, resolver: OpResolverType) -> Interpreter:
    interpreter = Interpreter(model_path=str(path), experimental_op_resolver_type=resolver,
                              experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    return interpreter


def _run(interpreter: Interpreter, x: np.ndarray) -> np.ndarray:
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.parametrize("name", TFLITE_BUILDERS)
def test_tflite_models_run_on_litert_and_tflm(built: dict[str, Path], name: str) -> None:
    path = built[name]
    x = np.random.default_rng(7).integers(-128, 128, size=INPUT_SHAPES[name]).astype(np.int8)
    litert = _litert(path, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    assert litert.get_input_details()[0]["dtype"] == np.int8
    y_litert = _run(litert, x)
    micro = tflm.Interpreter.from_file(str(path))
    micro.set_input(x, 0)
    micro.invoke()
    y_tflm = micro.get_output(0)

    for y in (y_litert, y_tflm):
        assert y.shape == OUTPUT_SHAPES[name] and y.dtype == np.int8
    if name in ("mlperf-dscnn-kws", "mlperf-mobilenet-vww"):
        np.testing.assert_array_equal(y_litert, y_tflm)
    else:
        # LiteRT's optimised int8 convolution rounds requantisation ties differently from TFLM's
        # reference kernels; only negative values are affected, so only layers without ReLU (ResNet's
        # residual branches, the autoencoder's output) can differ, by an LSB that may propagate.
        assert np.abs(y_litert.astype(int) - y_tflm.astype(int)).max() <= 3

    # Activations use their int8 range without saturating (softmax outputs saturate by design).
    for t in litert.get_tensor_details():
        if "_out_" in t["name"] and "softmax" not in t["name"]:  # the builders' activation tensors
            v = litert.get_tensor(t["index"])
            assert np.mean(v == 127) < 0.01, t["name"]
            assert np.ptp(v.astype(int)) > 8 or v.size < 16, t["name"]


@pytest.mark.parametrize("name", TFLITE_BUILDERS)
def test_int8_quantisation_follows_the_tflite_spec(built: dict[str, Path], name: str) -> None:
    data = built[name].read_bytes()
    model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(data, 0))
    sg = model.subgraphs[0]
    names = {v: k for k, v in vars(schema_fb.BuiltinOperator).items() if not k.startswith("_")}
    for op in sg.operators:
        kind = names[model.operatorCodes[op.opcodeIndex].builtinCode]
        ins = [sg.tensors[i] for i in op.inputs]
        for t in [*ins, *(sg.tensors[i] for i in op.outputs)]:
            if t.type == schema_fb.TensorType.INT8:
                assert len(t.quantization.scale) == len(t.quantization.zeroPoint) >= 1
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            x, w, b = ins
            axis = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}[kind]
            channels = w.shape[axis] if kind != "FULLY_CONNECTED" else 1
            assert w.type == schema_fb.TensorType.INT8 and b.type == schema_fb.TensorType.INT32
            assert w.quantization.quantizedDimension == axis and len(w.quantization.scale) == channels
            assert not np.any(w.quantization.zeroPoint) and not np.any(b.quantization.zeroPoint)
            np.testing.assert_allclose(b.quantization.scale, x.quantization.scale[0] * w.quantization.scale,
                                       rtol=1e-6)
    root = schema_fb.Model.GetRootAs(data, 0)
    for i in range(1, root.BuffersLength()):
        buf = root.Buffers(i)
        if buf.DataLength():
            assert buf._tab.Vector(buf._tab.Offset(4)) % 16 == 0  # data is 16-byte aligned in the file


def test_onnx_dscnn_runs_on_onnxruntime(built: dict[str, Path]) -> None:
    path = built["mlperf-dscnn-kws-onnx"]
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert (model.ir_version, model.opset_import[0].version) == (8, 17)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 1, 49, 10)).astype(np.float32)
    (y,) = session.run(None, {"input": x})
    assert y.shape == (1, 12) and y.dtype == np.float32
    assert math.isclose(float(y.sum()), 1.0, rel_tol=1e-5)
    profile = analyze(path)
    assert profile.op_histogram["DEPTHWISE_CONV_2D"] == 4 and profile.op_histogram["CONV_2D"] == 5
