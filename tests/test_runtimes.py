"""LiteRT, TFLite Micro and ONNX Runtime sessions on real wake-word models and on tiny ONNX graphs."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import onnx
import pymicro_wakeword
import pyopen_wakeword
import pytest
from onnx import TensorProto, helper

from harness.core.errors import ConfigError, ModelError
from harness.runtimes import RuntimeOptions, available_runtimes, get_runtime
from harness.runtimes import litert as litert_module
from harness.runtimes.checks import TFLITE_IDENTIFIER, captured_native_output, check_inputs
from harness.runtimes.litert import LiteRTRuntime, backend_status
from harness.runtimes.tflm import TFLMRuntime, minimum_arena_bytes

MWW_DIR = Path(pymicro_wakeword.__file__).parent / "models"
OWW_DIR = Path(pyopen_wakeword.__file__).parent / "models"
MWW_MODELS = ["alexa", "hey_jarvis", "hey_mycroft", "okay_nabu"]
REFERENCE = RuntimeOptions(xnnpack=False)


def mww(name: str) -> Path:
    return MWW_DIR / f"{name}.tflite"


def feature_steps(seed: int = 1, steps: int = 100) -> np.ndarray:
    """A seeded sequence of microWakeWord input windows, shape [steps, 1, 3, 40] int8."""
    return np.random.default_rng(seed).integers(-128, 128, size=(steps, 1, 3, 40), dtype=np.int8)


def run_step_by_step(session, steps: np.ndarray) -> np.ndarray:
    return np.array([session.run([x])[0] for x in steps])


# --- registry -------------------------------------------------------------------------------------------


def test_all_three_runtimes_are_registered_with_versions():
    versions = available_runtimes()
    assert versions["litert"].startswith("ai-edge-litert ")
    assert versions["tflm"].startswith("tflite-micro ")
    assert versions["onnxruntime"].startswith("onnxruntime ")
    assert isinstance(get_runtime("litert"), LiteRTRuntime)


# --- microWakeWord: LiteRT vs TFLite Micro ------------------------------------------------------------


@pytest.mark.parametrize("name", MWW_MODELS)
def test_litert_reference_kernels_match_tflm_bit_for_bit(name):
    steps = feature_steps()
    lite = LiteRTRuntime().load(mww(name), RuntimeOptions(reference_kernels=True))
    micro = get_runtime("tflm").load(mww(name), RuntimeOptions())
    for session in (lite, micro):
        assert [(t.shape, t.dtype) for t in session.inputs] == [((1, 3, 40), np.dtype(np.int8))]
        assert [(t.shape, t.dtype) for t in session.outputs] == [((1, 1), np.dtype(np.uint8))]
    expected = run_step_by_step(micro, steps)
    got = run_step_by_step(lite, steps)
    assert got.dtype == np.uint8 and got.shape == (100, 1, 1)
    np.testing.assert_array_equal(got, expected)


def test_the_comparison_sees_varying_outputs():
    outputs = run_step_by_step(get_runtime("tflm").load(mww("hey_mycroft"), RuntimeOptions()), feature_steps())
    assert len(np.unique(outputs)) >= 4


def _fc_input_tensor(path: Path) -> int:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(path.read_bytes(), 0))
    graph = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    fc = [op for op in graph.operators if codes[op.opcodeIndex] == schema.BuiltinOperator.FULLY_CONNECTED]
    return int(fc[-1].inputs[0])


@pytest.mark.parametrize("name", ["okay_nabu", "hey_mycroft"])
def test_reference_kernels_match_tflm_inside_the_graph(name):
    """The output saturates at 0 for random input, so also compare the classifier's input activations."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tflite_micro.python.tflite_micro import runtime

    path = mww(name)
    tensor = _fc_input_tensor(path)
    lite = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                       experimental_preserve_all_tensors=True)
    lite.allocate_tensors()
    with captured_native_output():
        micro = runtime.Interpreter.from_file(
            str(path), arena_size=1 << 20, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
        )
    activations = []
    for x in feature_steps(steps=30):
        lite.set_tensor(lite.get_input_details()[0]["index"], x)
        lite.invoke()
        micro.set_input(x, 0)
        micro.invoke()
        a, b = lite.get_tensor(tensor), micro.GetTensor(tensor, 0)["tensor_data"]
        np.testing.assert_array_equal(a, b)
        activations.append(a)
    assert len(np.unique(np.array(activations))) > 20


def test_optimised_kernels_are_within_one_lsb_of_tflm():
    """xnnpack=False runs LiteRT's optimised builtin kernels; their int8 depthwise conv rounds differently."""
    steps = feature_steps()
    micro = run_step_by_step(get_runtime("tflm").load(mww("hey_mycroft"), RuntimeOptions()), steps).astype(int)
    for xnnpack in (False, True):
        session = get_runtime("litert").load(mww("hey_mycroft"), RuntimeOptions(xnnpack=xnnpack))
        diff = np.abs(run_step_by_step(session, steps).astype(int) - micro)
        print(f"hey_mycroft xnnpack={xnnpack}: {np.count_nonzero(diff)}/{diff.size} outputs differ from TFLM")
        assert diff.max() <= 1


def test_xnnpack_and_reference_cannot_be_combined():
    with pytest.raises(ConfigError, match="mutually exclusive"):
        LiteRTRuntime().load(mww("okay_nabu"), RuntimeOptions(xnnpack=True, reference_kernels=True))


# --- streaming state ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    pytest.param(lambda: get_runtime("tflm").load(mww("hey_mycroft"), RuntimeOptions()), id="tflm"),
    pytest.param(lambda: get_runtime("litert").load(mww("hey_mycroft"), REFERENCE), id="litert"),
    pytest.param(lambda: get_runtime("litert").load(mww("hey_mycroft"), RuntimeOptions(xnnpack=True)),
                 id="litert-xnnpack"),
])
def test_reset_restores_the_fresh_streaming_state(make):
    steps = feature_steps(steps=40)
    session = make()
    first = run_step_by_step(session, steps)
    carried_on = run_step_by_step(session, steps)
    session.reset()
    after_reset = run_step_by_step(session, steps)
    assert not np.array_equal(first, carried_on), "the model keeps state, so a second pass must differ"
    np.testing.assert_array_equal(after_reset, first)


@pytest.mark.parametrize("runtime,options", [("tflm", RuntimeOptions()), ("litert", RuntimeOptions())],
                         ids=["tflm", "litert"])
def test_session_run_sequence_is_one_run_per_step_in_order(runtime, options):
    """The tight loop streaming models are evaluated with gives what invoking step by step gives."""
    steps = feature_steps(steps=40)
    session = get_runtime(runtime).load(mww("hey_mycroft"), options)
    by_step = run_step_by_step(session, steps)
    session.reset()
    looped = session.run_sequence(np.stack(steps))
    assert looped.shape == (40, 1, 1) and looped.dtype == session.outputs[0].dtype
    np.testing.assert_array_equal(looped.reshape(-1), np.asarray(by_step).reshape(-1))


def test_outputs_are_copies_not_views():
    session = get_runtime("litert").load(mww("hey_mycroft"), REFERENCE)
    steps = feature_steps(steps=30)
    kept = [session.run([x])[0] for x in steps]
    values = [int(k[0, 0]) for k in kept]
    assert len(set(values)) > 1
    assert [int(k[0, 0]) for k in kept] == values


# --- TFLite Micro arena ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MWW_MODELS)
def test_tflm_reports_the_arena_it_uses(name):
    declared = json.loads((MWW_DIR / f"{name}.json").read_text())["micro"]["tensor_arena_size"]
    session = get_runtime("tflm").load(mww(name), RuntimeOptions())
    used = session.arena_bytes()
    print(f"{name}: TFLM arena used {used} bytes (given {session.arena_size}, JSON declares {declared})")
    assert isinstance(used, int)
    assert 10_000 < used <= session.arena_size
    # ESPHome's figure is for a 32-bit MCU plus headroom; the 64-bit host build stays within it + 10 %.
    assert used < declared * 1.1


def test_tflm_minimum_arena_works_and_less_does_not():
    used = get_runtime("tflm").load(mww("okay_nabu"), RuntimeOptions()).arena_bytes()
    minimum = minimum_arena_bytes(mww("okay_nabu"))
    print(f"okay_nabu: allocates {used} bytes, needs an arena of {minimum} bytes")
    assert used < minimum < 37_000  # the planner needs scratch on top of what stays allocated
    tight = get_runtime("tflm").load(mww("okay_nabu"), RuntimeOptions(arena_bytes=minimum))
    assert tight.arena_size == minimum
    assert abs(tight.arena_bytes() - used) <= 16  # arena start alignment may shift the total by a few bytes
    with pytest.raises(ModelError, match=rf"arena of {minimum - 32} bytes is too small") as info:
        get_runtime("tflm").load(mww("okay_nabu"), RuntimeOptions(arena_bytes=minimum - 32))
    reported = re.search(r"the model allocates (\d+) bytes", str(info.value))
    assert reported and abs(int(reported.group(1)) - used) <= 16
    with pytest.raises(ModelError, match="okay_nabu.tflite: a TFLite Micro arena of 1000 bytes is too small"):
        get_runtime("tflm").load(mww("okay_nabu"), RuntimeOptions(arena_bytes=1000))


def test_tflm_grows_a_too_small_default_arena(monkeypatch):
    from harness.runtimes import tflm

    monkeypatch.setattr(tflm, "default_arena_bytes", lambda model_bytes: 4096)
    session = TFLMRuntime().load(mww("okay_nabu"), RuntimeOptions())
    assert session.arena_size == 4096 * 8  # 4 KiB, 8 KiB, 16 KiB fail; 32 KiB holds ~26 KB
    assert session.arena_bytes() < session.arena_size


def test_other_runtimes_do_not_know_an_arena():
    assert get_runtime("litert").load(mww("okay_nabu"), REFERENCE).arena_bytes() is None


# --- tensor metadata ----------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["litert", "tflm"])
def test_quantisation_parameters_come_from_the_model(runtime):
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    graph = schema.Model.GetRootAs(mww("okay_nabu").read_bytes(), 0).Subgraphs(0)

    def stored(tensor_index: int) -> tuple[float, int]:
        q = graph.Tensors(tensor_index).Quantization()
        return float(np.float32(q.Scale(0))), int(q.ZeroPoint(0))

    session = get_runtime(runtime).load(mww("okay_nabu"), REFERENCE)
    (inp,), (out,) = session.inputs, session.outputs
    assert (inp.scale, inp.zero_point) == stored(graph.Inputs(0))
    assert (out.scale, out.zero_point) == stored(graph.Outputs(0))
    assert inp.quantized and out.quantized
    assert inp.name == graph.Tensors(graph.Inputs(0)).Name().decode()
    assert (out.scale, out.zero_point) == (1 / 256, 0)


# --- input checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["litert", "tflm"])
def test_wrong_input_shape_names_model_input_and_expected_shape(runtime):
    session = get_runtime(runtime).load(mww("okay_nabu"), REFERENCE)
    wrong = np.zeros((1, 3, 39), dtype=np.int8)
    for attempt in (lambda: session.check_inputs([wrong]), lambda: session.run([wrong])):
        with pytest.raises(ModelError) as info:
            attempt()
        message = str(info.value)
        assert "okay_nabu.tflite" in message
        assert "input 0 'serving_default_input_audio:0'" in message
        assert "expects shape [1, 3, 40] dtype int8" in message
        assert "got shape [1, 3, 39] dtype int8" in message


@pytest.mark.parametrize("runtime", ["litert", "tflm"])
def test_wrong_input_dtype_count_and_type_are_model_errors(runtime):
    session = get_runtime(runtime).load(mww("okay_nabu"), REFERENCE)
    with pytest.raises(ModelError, match=r"got shape \[1, 3, 40\] dtype float32"):
        session.run([np.zeros((1, 3, 40), dtype=np.float32)])
    with pytest.raises(ModelError, match="expects a sequence of 1 input array"):
        session.check_inputs([])
    with pytest.raises(ModelError, match="got a bare array"):
        session.check_inputs(np.zeros((1, 3, 40), dtype=np.int8))
    with pytest.raises(ModelError, match="got list"):
        session.check_inputs([[0] * 40])
    session.check_inputs([np.zeros((1, 3, 40), dtype=np.int8)])


# --- files that are not models --------------------------------------------------------------------------


def _not_models(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.tflite"
    text.write_text("these are meeting notes, not a model\n")
    header_only = tmp_path / "header_only.tflite"
    header_only.write_bytes(b"\x1c\x00\x00\x00" + TFLITE_IDENTIFIER + bytes(range(256)) * 4)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(mww("okay_nabu").read_bytes()[:20_000])
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    return {"text": text, "header_only": header_only, "truncated": truncated, "empty": empty,
            "missing": tmp_path / "missing.tflite"}


@pytest.mark.parametrize("runtime", ["litert", "tflm", "onnxruntime"])
def test_a_file_that_is_not_a_model_is_a_model_error(runtime, tmp_path):
    for kind, path in _not_models(tmp_path).items():
        if runtime == "onnxruntime":
            path = path.with_suffix(".onnx")
            if kind != "missing":
                path.write_bytes((tmp_path / f"{path.stem}.tflite").read_bytes())
        with pytest.raises(ModelError) as info:
            get_runtime(runtime).load(path, RuntimeOptions())
        assert path.name in str(info.value), kind


def test_text_file_error_says_it_is_not_tflite(tmp_path):
    path = _not_models(tmp_path)["text"]
    with pytest.raises(ModelError, match=r"not a TFLite model \(file identifier b'e ar' at byte 4"):
        get_runtime("tflm").load(path, RuntimeOptions())


# --- openWakeWord (float32) through LiteRT ------------------------------------------------------------


@pytest.fixture(scope="module")
def tflite_c():
    """The TensorFlow Lite C library pyopen-wakeword ships: an independent build to compare against."""
    from pyopen_wakeword.openwakeword import _find_tensorflowlite_c
    from pyopen_wakeword.wakeword import TfLiteWakeWord

    return TfLiteWakeWord(_find_tensorflowlite_c()).lib


def run_with_c_api(lib, path: Path, x: np.ndarray) -> np.ndarray:
    import ctypes

    model = lib.TfLiteModelCreateFromFile(str(path).encode())
    interpreter = lib.TfLiteInterpreterCreate(model, None)
    try:
        dims = (ctypes.c_int32 * x.ndim)(*x.shape)
        assert lib.TfLiteInterpreterResizeInputTensor(interpreter, 0, dims, x.ndim) == 0
        assert lib.TfLiteInterpreterAllocateTensors(interpreter) == 0
        tensor_in = lib.TfLiteInterpreterGetInputTensor(interpreter, 0)
        tensor_out = lib.TfLiteInterpreterGetOutputTensor(interpreter, 0)
        x = np.ascontiguousarray(x)
        lib.TfLiteTensorCopyFromBuffer(tensor_in, x.ctypes.data_as(ctypes.c_void_p), x.nbytes)
        assert lib.TfLiteInterpreterInvoke(interpreter) == 0
        out = np.empty(lib.TfLiteTensorByteSize(tensor_out) // 4, dtype=np.float32)
        lib.TfLiteTensorCopyToBuffer(tensor_out, out.ctypes.data_as(ctypes.c_void_p), out.nbytes)
        return out
    finally:
        lib.TfLiteInterpreterDelete(interpreter)
        lib.TfLiteModelDelete(model)


def test_openwakeword_head_float32(tflite_c):
    path = OWW_DIR / "hey_jarvis.tflite"
    embeddings = np.random.default_rng(3).normal(0.0, 1.0, size=(1, 16, 96)).astype(np.float32)
    expected = run_with_c_api(tflite_c, path, embeddings)
    for xnnpack in (False, True):
        session = get_runtime("litert").load(path, RuntimeOptions(xnnpack=xnnpack))
        (inp,), (out,) = session.inputs, session.outputs
        assert (inp.shape, inp.dtype, inp.quantized) == ((1, 16, 96), np.dtype(np.float32), False)
        assert (out.shape, out.dtype) == ((1, 1), np.dtype(np.float32))
        (got,) = session.run([embeddings])
        np.testing.assert_allclose(got.ravel(), expected, rtol=1e-5, atol=1e-6)
        assert 0.0 <= float(got[0, 0]) <= 1.0


def test_melspectrogram_needs_its_input_resized(tflite_c):
    path = OWW_DIR / "melspectrogram.tflite"
    with pytest.raises(ModelError) as info:  # the signature is [-1, -1]; [1, 1] is too short for its STFT
        get_runtime("litert").load(path, RuntimeOptions())
    assert info.value.hint == (
        "input 0 'serving_default_input:0' [?, ?] has dynamic dimensions: give the shape to run it with, "
        "--input-shape 1,16000 on the command line or 'input: {shape: [...], dtype: ...}' in the model's entry "
        "YAML (docs/models.md)"
    )
    session = get_runtime("litert").load(path, RuntimeOptions(), input_shapes=[[1, 1760]])
    assert session.inputs[0].shape == (1, 1760)
    assert session.outputs[0].shape == (1, 1, 8, 32)
    audio = np.random.default_rng(4).normal(0.0, 3000.0, size=(1, 1760)).astype(np.float32)
    session.check_inputs([audio])
    (mels,) = session.run([audio])
    expected = run_with_c_api(tflite_c, path, audio)
    np.testing.assert_allclose(mels.ravel(), expected, rtol=1e-5, atol=1e-4)
    session.reset()  # rebuilding the interpreter keeps the resized input
    assert session.inputs[0].shape == (1, 1760)
    np.testing.assert_array_equal(session.run([audio])[0], mels)


def test_fixed_dimensions_cannot_be_resized():
    with pytest.raises(ModelError, match=r"input 0 .* to \[1, 8, 96\]; its signature is \[1, 16, 96\]"):
        get_runtime("litert").load(OWW_DIR / "hey_jarvis.tflite", RuntimeOptions(), input_shapes=[[1, 8, 96]])
    with pytest.raises(ModelError, match="TFLite Micro cannot resize inputs"):
        get_runtime("tflm").load(mww("okay_nabu"), RuntimeOptions(), input_shapes=[[1, 6, 40]])
    get_runtime("tflm").load(mww("okay_nabu"), RuntimeOptions(), input_shapes=[[1, 3, 40]])


# --- legacy tflite-runtime ------------------------------------------------------------------------------


@pytest.fixture
def fresh_probe():
    litert_module._probe.cache_clear()
    yield
    litert_module._probe.cache_clear()


def _fake_tflite_runtime(root: Path, interpreter_source: str) -> None:
    package = root / "tflite_runtime"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "interpreter.py").write_text(interpreter_source)


NUMPY1_BUILD = '''
import os
from ai_edge_litert.interpreter import OpResolverType  # noqa: F401

class Interpreter:
    def __init__(self, *args, **kwargs):
        os.write(2, b"A module that was compiled using NumPy 1.x cannot be run in NumPy 2\\n")
        os.write(2, b"AttributeError: _ARRAY_API not found\\n")
        try:
            raise ImportError("numpy.core.multiarray failed to import")
        except ImportError:
            raise SystemError("<built-in method CreateWrapperFromBuffer> returned a result with an exception")
'''

WORKING_BUILD = "from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: F401\n"


def test_a_tflite_runtime_built_for_numpy1_is_reported_unusable(tmp_path, monkeypatch, fresh_probe, capfd):
    _fake_tflite_runtime(tmp_path, NUMPY1_BUILD)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tflite_runtime", raising=False)
    monkeypatch.delitem(sys.modules, "tflite_runtime.interpreter", raising=False)
    status = {s.distribution: s for s in backend_status()}
    legacy = status["tflite-runtime"]
    assert not legacy.usable
    assert legacy.error is not None
    assert "ImportError: numpy.core.multiarray failed to import" in legacy.error
    assert "built against NumPy 1.x" in legacy.error
    assert "_ARRAY_API" not in capfd.readouterr().err  # the native banner is captured, not printed
    assert LiteRTRuntime.version().startswith("ai-edge-litert ")

    monkeypatch.setattr(litert_module, "BACKENDS", (("tflite-runtime", "tflite_runtime"),))
    assert LiteRTRuntime.version() is None
    with pytest.raises(ConfigError, match="built against NumPy 1.x"):
        LiteRTRuntime().load(mww("okay_nabu"), REFERENCE)


def test_a_working_tflite_runtime_is_used_when_it_is_the_only_backend(tmp_path, monkeypatch, fresh_probe):
    _fake_tflite_runtime(tmp_path, WORKING_BUILD)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tflite_runtime", raising=False)
    monkeypatch.delitem(sys.modules, "tflite_runtime.interpreter", raising=False)
    monkeypatch.setattr(litert_module, "BACKENDS", (("tflite-runtime", "tflite_runtime"),))
    assert LiteRTRuntime.version() == "tflite-runtime unknown"  # the fake has no installed metadata
    session = LiteRTRuntime().load(mww("okay_nabu"), REFERENCE)
    assert session.run([feature_steps(steps=1)[0]])[0].shape == (1, 1)


# --- ONNX Runtime -------------------------------------------------------------------------------------

WEIGHTS = np.array([[1, -2, 0], [3, 1, -1], [0, 2, 2], [-1, 0, 1]], dtype=np.float32)
BIAS = np.array([0.5, -1.0, 2.0], dtype=np.float32)


def _affine_model(path: Path, batch: int | str = 2) -> Path:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, WEIGHTS.shape, WEIGHTS.ravel().tolist()),
            helper.make_tensor("b", TensorProto.FLOAT, BIAS.shape, BIAS.tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_onnx_matmul_add_equals_numpy(tmp_path):
    session = get_runtime("onnxruntime").load(_affine_model(tmp_path / "affine.onnx"), RuntimeOptions())
    assert session.inputs[0].name == "x" and session.inputs[0].shape == (2, 4)
    assert session.inputs[0].dtype == np.float32 and not session.inputs[0].quantized
    assert session.outputs[0].shape == (2, 3)
    x = np.array([[1, 2, 3, 4], [-1, 0, 2, -3]], dtype=np.float32)
    session.check_inputs([x])
    (y,) = session.run([x])
    # small integers and halves are exact in float32, so any summation order gives the same bits
    np.testing.assert_array_equal(y, x @ WEIGHTS + BIAS)
    np.testing.assert_array_equal(y, [[3.5, 5.0, 10.0], [2.5, 5.0, 3.0]])
    session.reset()
    np.testing.assert_array_equal(session.run([x])[0], y)


def test_onnx_dynamic_batch_and_input_shapes(tmp_path):
    path = _affine_model(tmp_path / "affine_dyn.onnx", batch="N")
    session = get_runtime("onnxruntime").load(path, RuntimeOptions())
    assert session.inputs[0].shape == (-1, 4)
    x = np.ones((5, 4), dtype=np.float32)
    session.check_inputs([x])
    np.testing.assert_array_equal(session.run([x])[0], np.tile(WEIGHTS.sum(axis=0) + BIAS, (5, 1)))
    pinned = get_runtime("onnxruntime").load(path, RuntimeOptions(), input_shapes=[[1, 4]])
    assert pinned.inputs[0].shape == (1, 4)
    with pytest.raises(ModelError, match=r"expects shape \[1, 4\]"):
        pinned.check_inputs([x])
    with pytest.raises(ModelError, match=r"input 0 'x' has shape \[\?, 4\], cannot use \[1, 5\]"):
        get_runtime("onnxruntime").load(path, RuntimeOptions(), input_shapes=[[1, 5]])


def test_onnx_wrong_input_is_a_model_error(tmp_path):
    path = _affine_model(tmp_path / "affine.onnx")
    session = get_runtime("onnxruntime").load(path, RuntimeOptions())
    with pytest.raises(ModelError, match=r"affine.onnx: input 0 'x' expects shape \[2, 4\] dtype float32, "
                                         r"got shape \[2, 5\] dtype float32"):
        session.run([np.zeros((2, 5), dtype=np.float32)])
    with pytest.raises(ModelError, match=r"got shape \[2, 4\] dtype float64"):
        session.run([np.zeros((2, 4), dtype=np.float64)])


def test_onnx_type_strings_and_threads(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["q"], ["r"])], "identity",
        [helper.make_tensor_value_info("q", TensorProto.INT8, [1, 3])],
        [helper.make_tensor_value_info("r", TensorProto.INT8, [1, 3])],
    )
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    session = get_runtime("onnxruntime").load(path, RuntimeOptions(threads=2))
    assert session.inputs[0].dtype == np.int8 and session.outputs[0].dtype == np.int8
    settings = session._session.get_session_options()
    assert (settings.intra_op_num_threads, settings.inter_op_num_threads) == (2, 1)
    q = np.array([[-128, 0, 127]], dtype=np.int8)
    np.testing.assert_array_equal(session.run([q])[0], q)


def test_check_inputs_accepts_any_session_with_inputs():
    session = get_runtime("litert").load(mww("okay_nabu"), REFERENCE)
    check_inputs(session, [np.zeros((1, 3, 40), dtype=np.int8)])


def test_threads_must_be_positive():
    with pytest.raises(ConfigError, match="threads must be >= 1"):
        get_runtime("litert").load(mww("okay_nabu"), RuntimeOptions(threads=0))
