"""Four variants of one fitted keyword spotter (tests/kws_fixture.py): float32 and int8 TFLite, float32 and int8
(QDQ) ONNX, each with a user entry YAML, so paired comparison and cross-runtime parity run on real variants.

The int8 TFLite model quantizes the fitted weights per tensor (symmetric) and calibrates its input and logits on the
tiny corpus's features; the int8 ONNX model is ONNX Runtime's static QDQ quantization of the float32 file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import yaml
from kws_fixture import CORPUS, LABELS, fit_linear_kws
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

from harness.core.hashing import sha256_file
from harness.corpus.audio import load_conformed
from harness.frontends import get_frontend
from harness.modelgen.tflite_builder import TFLiteGraph
from harness.runs.evaluation import resolve_corpus

OP = schema_fb.BuiltinOperator
SHAPE = [1, 49, 10, 1]


@dataclass(frozen=True)
class Variants:
    """Entry files by model name (float32 TFLite first, the baseline) and the calibration features."""

    entries: dict[str, Path]
    features: np.ndarray  # [clips, 490] float32, manifest order


def corpus_features() -> np.ndarray:
    corpus = resolve_corpus(CORPUS)
    frontend = get_frontend("mlperf_mfcc")
    return np.stack([frontend.features(load_conformed(corpus.path / p).samples).reshape(-1)[:490]
                     for p in corpus.manifest["path"]]).astype(np.float32)


def _range_quant(values: np.ndarray) -> tuple[float, int]:
    lo, hi = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


def _tflite(weights: np.ndarray, bias: np.ndarray, features: np.ndarray, int8: bool) -> bytes:
    """RESHAPE [1,49,10,1] -> [1,490], FULLY_CONNECTED 4, SOFTMAX; float32, or int8 with calibrated ranges."""
    g = TFLiteGraph(f"linear-kws {'int8' if int8 else 'float32'} (tests/kws_variants.py)")
    units = weights.shape[1]
    fc_opts = schema_fb.FullyConnectedOptionsT()
    reshape_opts = schema_fb.ReshapeOptionsT()
    reshape_opts.newShape = [1, 490]
    softmax_opts = schema_fb.SoftmaxOptionsT()
    softmax_opts.beta = 1.0
    shape = g.tensor("shape", [2], np.int32, np.array([1, 490], np.int32))
    if not int8:
        x = g.tensor("mfcc", SHAPE, np.float32)
        flat = g.tensor("flat", [1, 490], np.float32)
        w = g.tensor("w", [units, 490], np.float32, np.ascontiguousarray(weights.T))
        b = g.tensor("b", [units], np.float32, bias)
        logits, probs = g.tensor("logits", [1, units], np.float32), g.tensor("probs", [1, units], np.float32)
        versions = (1, 1, 1)
    else:
        s_in, z_in = _range_quant(features)
        s_w = float(np.abs(weights).max()) / 127.0
        w_q = np.clip(np.round(weights.T / s_w), -127, 127).astype(np.int8)
        s_b = np.float32(s_in) * np.float32(s_w)
        b_q = np.round(bias / s_b).astype(np.int32)
        s_out, z_out = _range_quant(features @ weights + bias)
        x = g.tensor("mfcc", SHAPE, np.int8, scale=[s_in], zero_point=[z_in])
        flat = g.tensor("flat", [1, 490], np.int8, scale=[s_in], zero_point=[z_in])
        w = g.tensor("w", [units, 490], np.int8, w_q, [s_w], [0])
        b = g.tensor("b", [units], np.int32, b_q, [float(s_b)], [0])
        logits = g.tensor("logits", [1, units], np.int8, scale=[s_out], zero_point=[z_out])
        probs = g.tensor("probs", [1, units], np.int8, scale=[1 / 256], zero_point=[-128])
        versions = (1, 4, 2)
    g.op(OP.RESHAPE, versions[0], [x, shape], [flat], reshape_opts)
    g.op(OP.FULLY_CONNECTED, versions[1], [flat, w, b], [logits], fc_opts)
    g.op(OP.SOFTMAX, versions[2], [logits], [probs], softmax_opts)
    return g.serialize([x], [probs])


class _Reader(CalibrationDataReader):
    def __init__(self, features: np.ndarray) -> None:
        self.batches = iter([{"mfcc": f.reshape(SHAPE)} for f in features])

    def get_next(self) -> dict | None:
        return next(self.batches, None)


def _entry(directory: Path, name: str, model: Path, dtype: str) -> Path:
    fmt = model.suffix.lstrip(".")
    entry = {"name": name, "task": "kws", "format": fmt, "frontend": "mlperf_mfcc",
             "artifact": {"file": model.name, "sha256": sha256_file(model)},
             "input": {"shape": SHAPE, "dtype": dtype}, "output": {"shape": [1, len(LABELS)], "dtype": dtype},
             "labels": LABELS, "source": "tests/kws_variants.py", "license": "Apache-2.0"}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(entry, sort_keys=False))
    return path


def build_variants(directory: Path) -> Variants:
    """Fit the linear keyword spotter once and write its four variants with their entries into ``directory``."""
    fit = fit_linear_kws(directory)
    graph = onnx.load(directory / "linear-kws.onnx").graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    weights, bias = init["w"], init["b"]
    features = corpus_features()
    entries: dict[str, Path] = {}
    for name, int8 in (("kws-f32", False), ("kws-i8", True)):
        path = directory / f"{name}.tflite"
        path.write_bytes(_tflite(weights, bias, features, int8))
        entries[name] = _entry(directory, name, path, "int8" if int8 else "float32")
    f32_onnx = directory / "kws-f32-onnx.onnx"
    f32_onnx.write_bytes((directory / "linear-kws.onnx").read_bytes())
    entries["kws-f32-onnx"] = _entry(directory, "kws-f32-onnx", f32_onnx, "float32")
    i8_onnx = directory / "kws-i8-onnx.onnx"
    quantize_static(str(f32_onnx), str(i8_onnx), _Reader(features), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    entries["kws-i8-onnx"] = _entry(directory, "kws-i8-onnx", i8_onnx, "float32")
    del fit
    return Variants(entries, features)
