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
    "VARIANTS",
    "UNet",
    "VGG16Backbone",
    "Variant",
    "build_model",
    "get_variant",
]


@dataclass(frozen=True)
class Variant:
    """One model the demo compares."""

    name: str  # registry key, also the checkpoint folder name
    title: str  # what the UI shows
    cls: type[nn.Module]
    kwargs: dict = field(default_factory=dict)
    # The trained variant it starts from: FCNs, the coarser one (the paper's staged training);
    # U-Net, FCN-8s's encoder (see RECIPES in train.py).
    parent: str | None = None
    # Teaching maps in forward()'s dict, coarse to fine, with the caption the UI shows.
    maps: tuple[tuple[str, str], ...] = ()


_FCN_MAPS = (
    ("score_pool5", "pool5 alone (stride 32): what FCN-32s sees"),
    ("score_pool4", "pool4's contribution (stride 16): finer detail"),
    ("fuse_pool4", "pool5 + pool4 fused (stride 16)"),
    ("score_pool3", "pool3's contribution (stride 8): edges and borders"),
    ("fuse_pool3", "pool5 + pool4 + pool3 fused (stride 8)"),
)

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("fcn32s", "FCN-32s", FCN, {"stride": 32}, None, _FCN_MAPS[:1]),
        Variant("fcn16s", "FCN-16s", FCN, {"stride": 16}, "fcn32s", _FCN_MAPS[:3]),
        Variant("fcn8s", "FCN-8s", FCN, {"stride": 8}, "fcn16s", _FCN_MAPS),
        Variant(
            "unet",
            "U-Net",
            UNet,
            {"center_dilation": [2, 4]},
            "fcn8s",
            (
                ("stage16", "bottleneck (stride 16)"),
                ("stage8", "decoder + conv4 skip (stride 8)"),
                ("stage4", "decoder + conv3 skip (stride 4)"),
                ("stage2", "decoder + conv2 skip (stride 2)"),
                ("stage1", "decoder + conv1 skip (stride 1): the output"),
            ),
        ),
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
