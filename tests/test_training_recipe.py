"""The training recipe (models/training/) end to end on the tiny corpus, so it cannot rot: corpus, speaker-disjoint
splits, PyTorch training, ONNX export, QDQ quantization, TFLite writing, registry entries and datasheet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("torch", reason="the training recipe needs the [train] extra: "
                                    "pip install torch==2.13.0 && pip install -e '.[train]'")

from harness.modelgen.trained_dscnn import read_onnx  # noqa: E402
from harness.registry.models import ModelRegistry  # noqa: E402
from harness.runtimes import RuntimeOptions, get_runtime  # noqa: E402

pytestmark = [pytest.mark.train, pytest.mark.slow]
RECIPE = Path(__file__).resolve().parents[1] / "models" / "training" / "train_dscnn.py"
NAMES = ("dscnn-kws12", "dscnn-kws12-int8", "dscnn-kws12-onnx", "dscnn-kws12-int8-onnx")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recipe")
    out = root / "out"
    result = subprocess.run([sys.executable, str(RECIPE), "--out", str(out), "--work", str(root / "work"), "--tiny"],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_recipe_writes_four_pinned_entries_that_run_in_their_runtimes(trained: Path) -> None:
    registry = ModelRegistry(trained)
    for name in NAMES:
        entry = registry.get(name)
        path = entry.artifact_path()  # verifies the sha256 the entry pins
        assert entry.evaluate and entry.labels and len(entry.labels) == 12
        runtimes = ["litert", "tflm"] if name == "dscnn-kws12-int8" else [
            "litert" if entry.format == "tflite" else "onnxruntime"]
        for runtime in runtimes:
            session = get_runtime(runtime).load(path, RuntimeOptions())
            info = session.inputs[0]
            assert list(info.shape) == entry.input.shape
            out = session.run([np.zeros(info.shape, dtype=info.dtype)])[0]
            assert out.shape == (1, 12)
            session.close()
    assert (trained / "dscnn-kws12.md").is_file()


def test_data_card_records_speaker_disjoint_splits_and_the_corpus(trained: Path) -> None:
    card = json.loads((trained / "dscnn-kws12.data.json").read_text())
    speakers = {split: set(info["speakers"]) for split, info in card["splits"].items()}
    assert speakers["train"] and speakers["test"]
    assert not speakers["train"] & speakers["test"] and not speakers["train"] & speakers["val"]
    assert card["corpus"]["vocabulary"]["words"][:3] == ["down", "go", "left"]
    assert set(card["accuracy"]) == {"pytorch", *NAMES}


def test_int8_tflite_carries_the_qdq_models_weights_and_scales(trained: Path) -> None:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

    qdq = read_onnx(onnx.load(str(trained / "dscnn-kws12-int8.onnx")))
    model = schema_fb.ModelT.InitFromPackedBuf(bytearray((trained / "dscnn-kws12-int8.tflite").read_bytes()), 0)
    graph = model.subgraphs[0]
    first_conv = graph.operators[0]
    weights = graph.tensors[first_conv.inputs[1]]
    data = np.frombuffer(bytes(model.buffers[weights.buffer].data), dtype=np.int8).reshape(weights.shape)
    assert np.array_equal(data, qdq.layers[0].weight.transpose(0, 2, 3, 1))
    assert np.array_equal(np.float32(weights.quantization.scale), qdq.layers[0].weight_quant.scale)
    x = graph.tensors[graph.inputs[0]].quantization
    assert (np.float32(x.scale[0]), x.zeroPoint[0]) == (qdq.input_quant.scale[0], qdq.input_quant.zero_point[0])
