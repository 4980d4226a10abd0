"""The MLPerf Tiny KWS DS-CNN in PyTorch, and its batch-norm-folded deployment form.

Input [N, 1, 49, 10] MFCCs (time x coefficient). CONV 64 x 10x4 stride 2 with TensorFlow SAME
padding (4 rows above, 5 below, 1 column each side) -> BN -> ReLU; 4 x (depthwise 3x3 -> BN ->
ReLU -> pointwise 1x1 64 -> BN -> ReLU); average pool 25x5; dropout; fully connected 12. The
deployment form has no batch norm (folded into the convolutions) and ends in a softmax.
"""

from __future__ import annotations

import torch
from torch import nn

CHANNELS = 64
BLOCKS = 4
N_CLASSES = 12
FIRST_KERNEL = (10, 4)
FIRST_PADDING = (1, 1, 4, 5)  # (left, right, top, bottom): TensorFlow SAME for 49x10 -> 25x5 at stride 2
POOL = (25, 5)


def _conv(in_c: int, out_c: int, kernel: tuple[int, int], stride: int, padding: int, groups: int,
          folded: bool) -> list[nn.Module]:
    conv = nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=folded)
    return [conv] if folded else [conv, nn.BatchNorm2d(out_c)]


class DSCNN(nn.Module):
    """``folded=False``: the training form (convolutions without bias, each followed by batch norm)."""

    def __init__(self, folded: bool = False, dropout: float = 0.2) -> None:
        super().__init__()
        self.folded = folded
        self.pad = nn.ZeroPad2d(FIRST_PADDING)
        self.pad_input = True  # export turns this off and writes the padding into the first Conv instead
        layers: list[nn.Module] = [*_conv(1, CHANNELS, FIRST_KERNEL, 2, 0, 1, folded), nn.ReLU()]
        for _ in range(BLOCKS):
            layers += [*_conv(CHANNELS, CHANNELS, (3, 3), 1, 1, CHANNELS, folded), nn.ReLU(),
                       *_conv(CHANNELS, CHANNELS, (1, 1), 1, 0, 1, folded), nn.ReLU()]
        layers += [nn.AvgPool2d(POOL), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(CHANNELS, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.dropout(self.features(self.pad(x) if self.pad_input else x)))
        return torch.softmax(logits, dim=-1) if self.folded else logits


def fold(model: DSCNN) -> DSCNN:
    """The deployment form of a trained model: each batch norm (running statistics) folded into its conv."""
    deploy = DSCNN(folded=True)
    trained = [m for m in model.features if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    targets = [m for m in deploy.features if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for target, (conv, bn) in zip(targets, zip(trained[::2], trained[1::2], strict=True), strict=True):
            assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
            gain = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            target.weight.copy_(conv.weight * gain.reshape(-1, 1, 1, 1))
            target.bias.copy_(bn.bias - bn.running_mean * gain)
        deploy.classifier.load_state_dict(model.classifier.state_dict())
    return deploy.eval()
