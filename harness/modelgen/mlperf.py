"""MLPerf Tiny reference architectures as int8 TFLite models with seeded, untrained weights.

They reproduce the layer structure (and so the MACs, parameters, op mix and tensor sizes) of
the MLPerf Tiny v1 reference models, with batch norm folded into the convolutions as the TFLite
converter does. The weights are random: use them for efficiency measurement and cost-model
calibration, never for accuracy.
"""

from __future__ import annotations

from harness.modelgen import BUILDERS, Builder
from harness.modelgen.int8_layers import Act, Int8Net

SEED = 20240601
DSCNN_BLOCKS = 4
MOBILENET_BLOCKS = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2),
                    (128, 1), (128, 1), (128, 1), (128, 1), (128, 1), (256, 2), (256, 1)]  # fmt: skip


def dscnn_kws() -> bytes:
    """DS-CNN of the MLPerf Tiny keyword-spotting benchmark (seeded untrained weights).

    Input [1, 49, 10, 1] int8 (MFCC frames, scale 0.25); CONV_2D 64x10x4 stride 2 SAME + ReLU
    -> 25x5x64; 4 x (DEPTHWISE_CONV_2D 3x3 + ReLU, CONV_2D 1x1x64 + ReLU); AVERAGE_POOL_2D 25x5;
    RESHAPE; FULLY_CONNECTED 12; SOFTMAX. 2,656,768 MACs.
    """
    net = Int8Net("edge-harness modelgen mlperf-dscnn-kws (seeded untrained weights)", SEED)
    x = net.conv2d(net.input([1, 49, 10, 1], scale=0.25), 64, (10, 4), (2, 2))
    for _ in range(DSCNN_BLOCKS):
        x = net.conv2d(net.depthwise_conv2d(x, (3, 3)), 64, (1, 1))
    x = net.fully_connected(net.flatten(net.global_average_pool(x)), 12, relu=False)
    return net.serialize([net.softmax(x)])


def mobilenet_vww() -> bytes:
    """MobileNetV1 alpha 0.25 of the MLPerf Tiny visual-wake-words benchmark (seeded untrained weights).

    Input [1, 96, 96, 3] int8 (pixels scaled to [-1, 1)); CONV_2D 3x3 stride 2, 8 channels; 13
    depthwise-separable blocks (DEPTHWISE_CONV_2D 3x3 + ReLU, CONV_2D 1x1 + ReLU) with channels
    16, 32, 32, 64, 64, 128 x 6, 256, 256; AVERAGE_POOL_2D 3x3; RESHAPE; FULLY_CONNECTED 2; SOFTMAX.
    """
    net = Int8Net("edge-harness modelgen mlperf-mobilenet-vww (seeded untrained weights)", SEED + 1)
    x = net.conv2d(net.input([1, 96, 96, 3], scale=1 / 128), 8, (3, 3), (2, 2))
    for channels, stride in MOBILENET_BLOCKS:
        x = net.conv2d(net.depthwise_conv2d(x, (3, 3), (stride, stride)), channels, (1, 1))
    x = net.fully_connected(net.flatten(net.global_average_pool(x)), 2, relu=False)
    return net.serialize([net.softmax(x)])


def _residual_stack(net: Int8Net, x: Act, channels: int, stride: int) -> Act:
    y = net.conv2d(x, channels, (3, 3), (stride, stride))
    y = net.conv2d(y, channels, (3, 3), relu=False)
    if stride != 1 or x.shape[3] != channels:
        x = net.conv2d(x, channels, (1, 1), (stride, stride), relu=False)
    return net.add(x, y, relu=True)


def resnet8_ic() -> bytes:
    """ResNet-8 of the MLPerf Tiny CIFAR-10 image-classification benchmark (seeded untrained weights).

    Input [1, 32, 32, 3] int8 (pixels scaled to [-1, 1)); CONV_2D 3x3x16 + ReLU; three residual
    stacks of two 3x3 convolutions (16; 32 stride 2; 64 stride 2), the last two with a 1x1 strided
    projection shortcut, joined by ADD + ReLU; AVERAGE_POOL_2D 8x8; RESHAPE; FULLY_CONNECTED 10;
    SOFTMAX.
    """
    net = Int8Net("edge-harness modelgen mlperf-resnet8-ic (seeded untrained weights)", SEED + 2)
    x = net.conv2d(net.input([1, 32, 32, 3], scale=1 / 128), 16, (3, 3))
    for channels, stride in [(16, 1), (32, 2), (64, 2)]:
        x = _residual_stack(net, x, channels, stride)
    x = net.fully_connected(net.flatten(net.global_average_pool(x)), 10, relu=False)
    return net.serialize([net.softmax(x)])


def fc_autoencoder_ad() -> bytes:
    """Fully connected autoencoder of the MLPerf Tiny anomaly-detection benchmark (seeded untrained weights).

    Input [1, 640] int8 (5 frames x 128 log-mel bins, scale 0.25); FULLY_CONNECTED 128 x 4 + ReLU,
    8 + ReLU (bottleneck), 128 x 4 + ReLU, then 640 (the reconstruction, no activation).
    """
    # FC layers are cheap to calibrate, and the 8-unit bottleneck needs many samples for its range.
    net = Int8Net("edge-harness modelgen mlperf-fc-autoencoder-ad (seeded untrained weights)", SEED + 3, 256)
    x = net.input([1, 640], scale=0.25)
    for units in [128] * 4 + [8] + [128] * 4:
        x = net.fully_connected(x, units)
    return net.serialize([net.fully_connected(x, 640, relu=False)])


BUILDERS.add("mlperf-dscnn-kws", Builder(dscnn_kws, ".tflite"))
BUILDERS.add("mlperf-mobilenet-vww", Builder(mobilenet_vww, ".tflite"))
BUILDERS.add("mlperf-resnet8-ic", Builder(resnet8_ic, ".tflite"))
BUILDERS.add("mlperf-fc-autoencoder-ad", Builder(fc_autoencoder_ad, ".tflite"))
