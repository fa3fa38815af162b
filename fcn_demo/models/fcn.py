"""FCN-32s / FCN-16s / FCN-8s (Long, Shelhamer, Darrell, CVPR 2015) on a VGG16 backbone.

The topology follows the paper: fc6/fc7 as convolutions on pool5, ``score_fr`` (1x1 class scores),
then for the skip nets a 1x1 ``score_pool4`` / ``score_pool3`` (zero-initialised, so a net
initialised from its coarser parent starts out predicting exactly what the parent did), learned 2x
upsampling initialised to bilinear, fusion by addition, and a fixed bilinear upsampling to the
input size.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .backbone import CAFFE_MEAN_STD, TAP_CHANNELS, TAP_STRIDES, VGG16Backbone
from .receptive import Bilinear, ReceptiveField, layers_of, pick_field

# Which pool layers each output stride fuses, coarse to fine.
SKIPS_FOR_STRIDE = {32: (), 16: ("pool4",), 8: ("pool4", "pool3")}


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Per-channel (diagonal) bilinear upsampling weights for a ConvTranspose2d, as in the paper."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    filt1d = 1 - (og - center).abs() / factor
    filt = filt1d[:, None] * filt1d[None, :]
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = filt
    return weight


class Upsample2x(nn.ConvTranspose2d):
    """Learned 2x upsampling of class scores, initialised to bilinear interpolation."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, channels, kernel_size=4, stride=2, padding=1, bias=False)
        with torch.no_grad():
            self.weight.copy_(bilinear_kernel(channels, 4))


class FCNHead(nn.Sequential):
    """fc6 and fc7 of VGG16 recast as convolutions, then ``score_fr``.

    The paper's fc6 is a 7x7x4096 conv (the reshaped ImageNet fc layer). We have no ImageNet
    classifier to reshape, so fc6/fc7 start from scratch and are kept narrow (``channels``) to keep
    the checkpoints small; a 3x3 fc6 still sees a 3x3 window of pool5 (a 276 px receptive field: pool5's
    212 px plus one 32 px step on each side).
    """

    def __init__(self, in_channels: int, channels: int, num_classes: int, kernel_size: int, dropout: float) -> None:
        super().__init__(
            OrderedDict(
                fc6=nn.Conv2d(in_channels, channels, kernel_size, padding=kernel_size // 2),
                relu6=nn.ReLU(inplace=True),
                drop6=nn.Dropout2d(dropout),
                fc7=nn.Conv2d(channels, channels, 1),
                relu7=nn.ReLU(inplace=True),
                drop7=nn.Dropout2d(dropout),
                score_fr=nn.Conv2d(channels, num_classes, 1),
            )
        )


def _zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class FCN(nn.Module, PyTorchModelHubMixin, library_name="fcn-demo", tags=["semantic-segmentation", "fcn"]):
    """Fully Convolutional Network with output stride 32, 16 or 8.

    ``forward`` returns a dict with ``out`` (logits at input size) and the teaching maps, each at
    its own stride: ``score_pool5`` (what pool5 alone predicts, stride 32), and for the skip nets
    ``score_pool4`` / ``score_pool3`` (what each pool layer adds) and ``fuse_pool4`` /
    ``fuse_pool3`` (the running sum after each fusion).

    Args:
        stride: 32, 16 or 8 (FCN-32s, -16s, -8s).
        num_classes: number of output classes.
        fc_channels, fc6_kernel, dropout: size of the fc6/fc7 head (see :class:`FCNHead`).
        mean, std: input normalisation of the backbone's pretrained weights (RGB, [0, 1] inputs).
        working_short_side, size_multiple: the inference working size (shorter side, and what each
            side is rounded to a multiple of), as trained.
    """

    def __init__(
        self,
        stride: int = 32,
        num_classes: int = 3,
        fc_channels: int = 256,
        fc6_kernel: int = 3,
        dropout: float = 0.5,
        mean: list[float] = CAFFE_MEAN_STD[0],
        std: list[float] = CAFFE_MEAN_STD[1],
        working_short_side: int = 256,
        size_multiple: int = 32,
    ) -> None:
        super().__init__()
        # Not used by forward(): the scale the model was trained for, kept in config.json so that
        # fcn_demo.core.preprocess reads them to resize inputs the way training saw them.
        self.working_short_side, self.size_multiple = working_short_side, size_multiple
        if stride not in SKIPS_FOR_STRIDE:
            raise ValueError(f"stride must be one of {sorted(SKIPS_FOR_STRIDE)}, got {stride}")
        self.stride = stride
        self.skips = SKIPS_FOR_STRIDE[stride]
        self.backbone = VGG16Backbone("pool5", mean=mean, std=std)
        self.head = FCNHead(TAP_CHANNELS["pool5"], fc_channels, num_classes, fc6_kernel, dropout)
        self.score = nn.ModuleDict({p: _zero_conv(TAP_CHANNELS[p], num_classes) for p in self.skips})
        self.upscore = nn.ModuleDict({p: Upsample2x(num_classes) for p in self.skips})

    def forward(self, x: torch.Tensor, drop_skips: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
        """Segment ``x`` (N, 3, H, W), RGB in [0, 1].

        ``drop_skips`` names pool layers (``"pool4"``, ``"pool3"``) whose contribution is left out
        of the fusion: the live ablation of the demo.
        """
        taps = self.backbone(x)
        score = self.head(taps["pool5"])
        sides = {pool: self.score[pool](taps[pool]) for pool in self.skips}
        out = self.fuse(score, sides, drop_skips)
        out["out"] = F.interpolate(out["out"], size=x.shape[-2:], mode="bilinear", align_corners=False)
        return out

    def fuse(
        self, score_pool5: torch.Tensor, sides: dict[str, torch.Tensor], drop_skips: tuple[str, ...] = ()
    ) -> dict[str, torch.Tensor]:
        """The skip fusion alone: pool5's scores, upsampled 2x and added to each pool layer's
        scores in turn. ``out`` is the fused map at the finest stride (not yet upsampled to the
        input). Ablations need only this: switching a skip off changes the sum, not the backbone,
        so the maps one forward pass returned answer every combination of switches."""
        score = score_pool5
        out = {"score_pool5": score}
        for pool in self.skips:
            side = sides[pool]
            up = self.upscore[pool](score)[:, :, : side.shape[2], : side.shape[3]]
            if pool in drop_skips:
                side = torch.zeros_like(side)
            score = up + side
            out[f"score_{pool}"] = side
            out[f"fuse_{pool}"] = score
        out["out"] = score
        return out

    def refuse(self, out: dict[str, torch.Tensor], drop_skips: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
        """:meth:`fuse` again from the score maps in ``out`` (forward()'s dict), without ``drop_skips``."""
        return self.fuse(out["score_pool5"], {pool: out[f"score_{pool}"] for pool in self.skips}, drop_skips)

    def receptive_field(self, key: str = "out") -> ReceptiveField:
        """The theoretical receptive field of the map ``key`` of forward()'s dict (default the
        output), from layer arithmetic alone: the union of its paths. pool5 -> fc6 -> score_fr,
        through each learned 2x upsampling, and each skip's pool -> 1x1 score, then (``out``) the
        final bilinear upsampling to the input."""
        tap = self.backbone.receptive_layers
        paths = [tap("pool5") + layers_of(self.head)]
        fields = {"score_pool5": paths}
        for pool in self.skips:
            side = tap(pool) + layers_of(self.score[pool])
            paths = [p + layers_of(self.upscore[pool], TAP_STRIDES[pool]) for p in paths] + [side]
            fields[f"score_{pool}"], fields[f"fuse_{pool}"] = [side], paths
        fields["out"] = [p + [Bilinear(1)] for p in paths]
        return pick_field(fields, key)

    def init_from_parent(self, parent: FCN) -> None:
        """Copy every weight the coarser ``parent`` has (backbone, head, its skips): the paper's staged training."""
        missing, unexpected = self.load_state_dict(parent.state_dict(), strict=False)
        if unexpected or any(not k.startswith(("score.", "upscore.")) for k in missing):
            raise ValueError(f"parent does not fit: missing={missing}, unexpected={unexpected}")
