"""The mlperf-sww01 builder: the MLPerf Tiny streaming wake-word DS-TCN layer table, run by LiteRT and TFLite Micro."""

from __future__ import annotations

import numpy as np

from harness.analysis import analyze
from harness.modelgen import build_artifact, builder_names
from harness.runtimes import RuntimeOptions, get_runtime


def test_the_sww01_model_has_the_reference_layer_table() -> None:
    assert "mlperf-sww01" in builder_names()
    profile = analyze(build_artifact("mlperf-sww01"))
    # four blocks: depthwise (k x 1, VALID) then 1x1 conv; time 30 -> 28 -> 24 -> 15 -> 1; then dense 32 -> 3
    macs, params, frames, channels = 0, 0, 30, 40
    for filters, kernel in [(128, 3), (128, 5), (128, 10), (32, 15)]:
        frames -= kernel - 1
        macs += frames * channels * kernel + frames * channels * filters
        params += kernel * channels + channels + channels * filters + filters  # weights and biases
        channels = filters
    macs += 32 * 3
    params += 32 * 3 + 3
    assert frames == 1
    assert profile.macs == macs == 826_368
    assert params == 46_883  # the reference model's parameter count (ST Edge AI Core report)
    assert profile.params == params + 2  # and the RESHAPE's shape tensor
    assert profile.op_histogram == {"CONV_2D": 4, "DEPTHWISE_CONV_2D": 4, "FULLY_CONNECTED": 1, "RESHAPE": 1,
                                    "SOFTMAX": 1}


def test_litert_and_tflite_micro_run_it_alike() -> None:
    path = build_artifact("mlperf-sww01")
    x = np.random.default_rng(5).integers(-128, 128, size=(1, 30, 1, 40)).astype(np.int8)
    outputs = []
    for name, options in [("litert", RuntimeOptions(reference_kernels=True)), ("tflm", RuntimeOptions())]:
        session = get_runtime(name).load(path, options)
        assert session.inputs[0].shape == (1, 30, 1, 40) and session.outputs[0].shape == (1, 3)
        assert (session.outputs[0].scale, session.outputs[0].zero_point) == (1 / 256, -128)
        outputs.append(session.run([x])[0])
        session.close()
    assert np.array_equal(outputs[0], outputs[1])
    assert int(outputs[0].astype(np.int32).sum()) + 3 * 128 in range(254, 259)  # softmax sums to ~1
