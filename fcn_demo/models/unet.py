"""U-Net (Ronneberger et al., 2015) on the same VGG16 encoder as the FCNs.

The encoder is VGG16 up to pool4 (four resolutions, as in the original U-Net); a small
bottleneck at stride 16 replaces conv5, and the decoder upsamples 2x at a time, concatenating the
encoder features of the same resolution (conv4 .. conv1) at every scale. Each decoder stage also
has a 1x1 class-score layer (trained with deep supervision), so the demo can show what every
stage would predict on its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .backbone import CAFFE_MEAN_STD, TAP_CHANNELS, VGG16Backbone
from .receptive import Bilinear, ReceptiveField, layers_of, pick_field

# Encoder taps the decoder concatenates, deepest first, and the stride of each.
SKIP_TAPS = ("conv4", "conv3", "conv2", "conv1")


class ConvBNReLU(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class DoubleConv(nn.Sequential):
    """U-Net's unit: two 3x3 conv + BN + ReLU (optionally dilated: same weights, wider view)."""

    def __init__(self, in_channels: int, out_channels: int, dilation: tuple[int, int] = (1, 1)) -> None:
        super().__init__(
            ConvBNReLU(in_channels, out_channels, dilation[0]), ConvBNReLU(out_channels, out_channels, dilation[1])
        )


class UNet(nn.Module, PyTorchModelHubMixin, library_name="fcn-demo", tags=["semantic-segmentation", "unet"]):
    """U-Net with a VGG16 encoder.

    ``forward`` returns ``out`` (logits at input size) and ``stage16`` / ``stage8`` / ``stage4`` /
    ``stage2`` / ``stage1``: the class scores of the bottleneck and of each decoder stage, at their
    own stride.

    Args:
        num_classes: number of output classes.
        center_channels: width of the stride-16 bottleneck.
        center_dilation: dilation of the bottleneck's two convs. At stride 16 each 3x3 conv widens
            the receptive field (~100 px at pool4) by 32 px x its dilation, at no parameter cost:
            (2, 4) brings it to ~290 px, the context conv5 would give, which the checkpoint budget
            leaves out.
        decoder_channels: widths of the decoder stages at strides 8, 4, 2, 1.
        mean, std: input normalisation of the encoder's pretrained weights (RGB, [0, 1] inputs).
        working_short_side, size_multiple: the inference working size (shorter side, and what each
            side is rounded to a multiple of), as trained.
    """

    def __init__(
        self,
        num_classes: int = 3,
        center_channels: int = 256,
        center_dilation: list[int] = (1, 1),
        decoder_channels: list[int] = (128, 64, 32, 32),
        mean: list[float] = CAFFE_MEAN_STD[0],
        std: list[float] = CAFFE_MEAN_STD[1],
        working_short_side: int = 256,
        size_multiple: int = 32,
    ) -> None:
        super().__init__()
        # Not used by forward(): the scale the model was trained for, kept in config.json so that
        # fcn_demo.core.preprocess reads them to resize inputs the way training saw them.
        self.working_short_side, self.size_multiple = working_short_side, size_multiple
        decoder_channels = list(decoder_channels)
        if len(decoder_channels) != len(SKIP_TAPS):
            raise ValueError(f"decoder_channels needs {len(SKIP_TAPS)} widths, got {decoder_channels}")
        self.backbone = VGG16Backbone("pool4", mean=mean, std=std)
        self.center = DoubleConv(TAP_CHANNELS["pool4"], center_channels, tuple(center_dilation))
        blocks, scores = [], [nn.Conv2d(center_channels, num_classes, 1)]
        in_ch = center_channels
        for tap, out_ch in zip(SKIP_TAPS, decoder_channels):
            blocks.append(DoubleConv(in_ch + TAP_CHANNELS[tap], out_ch))
            scores.append(nn.Conv2d(out_ch, num_classes, 1))
            in_ch = out_ch
        self.decoder = nn.ModuleList(blocks)
        # scores[-1] is the final classifier; the others are the per-stage (deep supervision) heads.
        self.scores = nn.ModuleList(scores)

    def init_from_parent(self, parent: nn.Module) -> None:
        """Start the encoder from a trained FCN's backbone (conv1 .. conv4; the U-Net has no conv5):
        the blocks the parent trained are already tuned to pets, so the run can spend its time on
        the decoder."""
        missing, unexpected = self.backbone.load_state_dict(parent.backbone.state_dict(), strict=False)
        if missing or any(not k.startswith("features.") for k in unexpected):
            raise ValueError(f"parent does not fit: missing={missing}, unexpected={unexpected}")

    def receptive_field(self, key: str = "out") -> ReceptiveField:
        """The theoretical receptive field of the map ``key`` of forward()'s dict (default the
        output), from layer arithmetic alone: the encoder to pool4 and the dilated bottleneck, then
        at every decoder stage the union of the upsampled deeper path and the encoder skip."""
        tap = self.backbone.receptive_layers
        paths = [tap("pool4") + layers_of(self.center)]
        fields = {"stage16": [p + layers_of(self.scores[0]) for p in paths]}
        for skip, block, score, stride in zip(SKIP_TAPS, self.decoder, self.scores[1:], (8, 4, 2, 1)):
            paths = [p + [Bilinear(stride)] + layers_of(block) for p in paths] + [tap(skip) + layers_of(block)]
            fields[f"stage{stride}"] = [p + layers_of(score) for p in paths]
        fields["out"] = fields["stage1"]
        return pick_field(fields, key)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Segment ``x`` (N, 3, H, W), RGB in [0, 1]."""
        taps = self.backbone(x)
        y = self.center(taps["pool4"])
        out = {"stage16": self.scores[0](y)}
        for tap, block, score, stride in zip(SKIP_TAPS, self.decoder, self.scores[1:], (8, 4, 2, 1)):
            skip = taps[tap]
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
            out[f"stage{stride}"] = score(y)
        out["out"] = out["stage1"]
        return out
