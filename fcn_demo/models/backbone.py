"""VGG16 feature extractor that returns named taps.

The layer indices match ``torchvision.models.vgg16().features`` exactly, so a torchvision
state dict (``features.N.weight``) loads into :class:`VGG16Backbone` unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from .receptive import Op, layers_of

# Layer layout as data: numbers are 3x3 conv widths, "M" a 2x2 max pool.
VGG16_LAYOUT: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                 512, 512, 512, "M", 512, 512, 512, "M"]  # fmt: skip

# Channel count of every tap, so heads can be sized without running the network.
TAP_CHANNELS = {
    "conv1": 64, "conv2": 128, "conv3": 256, "conv4": 512, "conv5": 512,
    "pool1": 64, "pool2": 128, "pool3": 256, "pool4": 512, "pool5": 512,
}  # fmt: skip

# Stride of every tap relative to the input.
TAP_STRIDES = {
    "conv1": 1, "conv2": 2, "conv3": 4, "conv4": 8, "conv5": 16,
    "pool1": 2, "pool2": 4, "pool3": 8, "pool4": 16, "pool5": 32,
}  # fmt: skip

# Mean/std (RGB, for inputs in [0, 1]) of the two pretrained weight sources.
IMAGENET_MEAN_STD = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
# Caffe VGG/HED: BGR pixels in 0..255 minus the BGR mean; here re-ordered to RGB
# (the importer flips conv1_1's input channels) and expressed for [0, 1] inputs.
CAFFE_MEAN_STD = ([122.67892 / 255, 116.66877 / 255, 104.00699 / 255], [1 / 255] * 3)


def _tap_names(layout: list[int | str]) -> dict[int, str]:
    """Map Sequential indices to tap names: last ReLU of block k -> convk, its pool -> poolk."""
    names, idx, block = {}, 0, 1
    for v in layout:
        if v == "M":
            names[idx - 1] = f"conv{block}"  # the ReLU just before the pool
            names[idx] = f"pool{block}"
            block += 1
            idx += 1
        else:
            idx += 2  # conv + ReLU
    return names


class VGG16Backbone(nn.Module):
    """The 13 conv layers of VGG16 with ceil-mode pools, returning a dict of named taps.

    Args:
        last_tap: stop after this tap (e.g. ``"conv5"`` skips pool5); layers after it are not built.
        mean, std: input normalisation for RGB images in [0, 1], kept as buffers so the model
            takes plain images and the preprocessing travels with the weights.
    """

    def __init__(
        self,
        last_tap: str = "pool5",
        mean: list[float] = IMAGENET_MEAN_STD[0],
        std: list[float] = IMAGENET_MEAN_STD[1],
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for v in VGG16_LAYOUT:
            if v == "M":
                # ceil_mode keeps the last row/column of odd sizes, so any input size works.
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=True)]
                in_ch = v
        taps = _tap_names(VGG16_LAYOUT)
        if last_tap not in taps.values():
            raise ValueError(f"unknown tap {last_tap!r}; valid: {sorted(taps.values())}")
        last_idx = next(i for i, n in taps.items() if n == last_tap)
        self.features = nn.Sequential(*layers[: last_idx + 1])
        self.taps = {i: n for i, n in taps.items() if i <= last_idx}
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def receptive_layers(self, tap: str) -> list[Op]:
        """The convolutions and pools from the input to ``tap``, for receptive-field arithmetic."""
        idx = {n: i for i, n in self.taps.items()}
        if tap not in idx:
            raise ValueError(f"unknown tap {tap!r}; valid: {sorted(idx)}")
        return layers_of(self.features[: idx[tap] + 1])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out[self.taps[i]] = x
        return out
