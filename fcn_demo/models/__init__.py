"""The one registry of model variants: the CLIs, the app and the tests all iterate it."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from .backbone import CAFFE_MEAN_STD, IMAGENET_MEAN_STD, VGG16Backbone
from .fcn import FCN
from .unet import UNet

__all__ = [
    "CAFFE_MEAN_STD",
    "FCN",
    "IMAGENET_MEAN_STD",
    "MapSpec",
    "VARIANTS",
    "UNet",
    "VGG16Backbone",
    "Variant",
    "build_model",
    "get_variant",
]


@dataclass(frozen=True)
class MapSpec:
    """A teaching map in forward()'s dict: its key, the caption the UI shows, its stride and
    whether it is *added* to a running sum (a skip's contribution: raw scores, no probability)."""

    key: str
    caption: str
    stride: int
    additive: bool = False


@dataclass(frozen=True)
class Variant:
    """One model the demo compares: the single description the CLIs, the app and the tests read."""

    name: str  # registry key, also the checkpoint folder name and train.RECIPES' key
    title: str  # what the UI shows
    color: str  # the model's colour in every chart, panel and in the replay
    cls: type[nn.Module]
    kwargs: dict = field(default_factory=dict)
    # The trained variant it starts from: FCNs, the coarser one (the paper's staged training);
    # U-Net, FCN-8s's encoder (see RECIPES in train.py).
    parent: str | None = None
    # Teaching maps in forward()'s dict, coarse to fine.
    maps: tuple[MapSpec, ...] = ()
    # Skip connections a learner can switch off (forward's ``drop_skips``), coarse to fine.
    skips: tuple[str, ...] = ()

    @property
    def recipe(self) -> str:
        """The key of this variant's training recipe (``train.RECIPES``)."""
        return self.name

    @property
    def output_stride(self) -> int:
        """The stride of the finest map before the final upsampling."""
        return min(m.stride for m in self.maps)


_FCN_MAPS = (
    MapSpec("score_pool5", "pool5 alone (stride 32): what FCN-32s sees", 32),
    MapSpec("score_pool4", "pool4's contribution (stride 16): finer detail", 16, additive=True),
    MapSpec("fuse_pool4", "pool5 + pool4 fused (stride 16)", 16),
    MapSpec("score_pool3", "pool3's contribution (stride 8): edges and borders", 8, additive=True),
    MapSpec("fuse_pool3", "pool5 + pool4 + pool3 fused (stride 8)", 8),
)
_UNET_MAPS = (
    MapSpec("stage16", "bottleneck (stride 16)", 16),
    MapSpec("stage8", "decoder + conv4 skip (stride 8)", 8),
    MapSpec("stage4", "decoder + conv3 skip (stride 4)", 4),
    MapSpec("stage2", "decoder + conv2 skip (stride 2)", 2),
    MapSpec("stage1", "decoder + conv1 skip (stride 1): the output", 1),
)

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("fcn32s", "FCN-32s", "#7c3aed", FCN, {"stride": 32}, None, _FCN_MAPS[:1]),
        Variant("fcn16s", "FCN-16s", "#2563eb", FCN, {"stride": 16}, "fcn32s", _FCN_MAPS[:3], ("pool4",)),
        Variant("fcn8s", "FCN-8s", "#047857", FCN, {"stride": 8}, "fcn16s", _FCN_MAPS, ("pool4", "pool3")),
        Variant("unet", "U-Net", "#dc2626", UNet, {"center_dilation": [2, 4]}, "fcn8s", _UNET_MAPS),
    ]
}


def get_variant(name: str) -> Variant:
    """Look up a variant; unknown names raise with the list of valid ones."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; valid: {', '.join(VARIANTS)}") from None


def build_model(name: str, **overrides) -> nn.Module:
    """A fresh (randomly initialised) model of variant ``name``; ``overrides`` change constructor args."""
    v = get_variant(name)
    return v.cls(**{**v.kwargs, **overrides})
