"""The MLPerf Tiny streaming wake-word (sww01) reference architecture as an int8 TFLite model, seeded and untrained.

The architecture follows mlcommons/tiny benchmark/training/streaming_wakeword/keras_model.py (``ds_tcn``) with
the reference model's configuration: four blocks of a (k x 1) depthwise convolution with VALID padding, a 1x1
convolution and batch norm + ReLU (folded, as the TFLite converter does); filters 128, 128, 128, 32 and kernels
3, 5, 10, 15 shrink 30 LFBE frames to one; then flatten, a 3-way dense layer (marvin, silent, other) and
softmax. Input [1, 30, 1, 40] int8. Use it for efficiency, never for accuracy: its weights are random.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

from harness.modelgen import BUILDERS, Builder
from harness.modelgen.int8_layers import OP, Act, Int8Net

SEED = 20240602
FRAMES, FEATURES = 30, 40
FILTERS = (128, 128, 128, 32)
KERNELS = (3, 5, 10, 15)
CLASSES = 3


class _ValidInt8Net(Int8Net):
    """Int8Net with the VALID-padded time-only depthwise convolution the DS-TCN needs."""

    def depthwise_valid(self, x: Act, kernel_t: int) -> Act:
        """DEPTHWISE_CONV_2D (kernel_t x 1, multiplier 1, VALID, no activation): time shrinks by kernel_t - 1."""
        c = x.q.shape[3]
        w, w_scales = self._weights((1, kernel_t, 1, c), kernel_t, c)
        bias = self._bias(x, w_scales)
        windows = sliding_window_view(x.centred(), (kernel_t, 1), axis=(1, 2))  # [b, t', 1, c, k, 1]
        acc = np.einsum("bhwcij,ijc->bhwc", windows, w[0].astype(np.float64))
        opts = schema_fb.DepthwiseConv2DOptionsT()
        opts.padding, opts.strideH, opts.strideW = schema_fb.Padding.VALID, 1, 1
        opts.depthMultiplier = opts.dilationHFactor = opts.dilationWFactor = 1
        opts.fusedActivationFunction = schema_fb.ActivationFunctionType.NONE
        return self._emit_conv(x, OP.DEPTHWISE_CONV_2D, acc, w, w_scales, bias, 3, opts, False)


def ds_tcn_sww() -> bytes:
    """DS-TCN of the MLPerf Tiny streaming wake-word benchmark (seeded untrained weights); 826,368 MACs."""
    net = _ValidInt8Net("edge-harness modelgen mlperf-sww01 (seeded untrained weights)", SEED)
    x = net.input([1, FRAMES, 1, FEATURES], scale=1 / 256, zero_point=-128)  # LFBE in [0, 1]
    for filters, kernel in zip(FILTERS, KERNELS, strict=True):
        x = net.conv2d(net.depthwise_valid(x, kernel), filters, (1, 1), relu=True)
    x = net.fully_connected(net.flatten(x), CLASSES, relu=False)
    return net.serialize([net.softmax(x)])


BUILDERS.add("mlperf-sww01", Builder(ds_tcn_sww, ".tflite"))
