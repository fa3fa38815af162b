"""The one registry of model variants: the CLIs, the app and the tests all iterate it."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from .backbone import CAFFE_MEAN_STD, IMAGENET_MEAN_STD, VGG16Backbone
from .fcn import FCN, SKIPS_FOR_STRIDE
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
    layer: str = ""  # the layer whose scores it shows, as the lessons name it ("pool5", "bottleneck")


@dataclass(frozen=True)
class Variant:
    """One model the demo compares: the single description the CLIs, the app and the tests read."""

    name: str  # registry key, also the checkpoint folder name
    title: str  # what the UI shows
    color: str  # the model's colour in every chart, panel and in the replay
    cls: type[nn.Module]
    kwargs: dict = field(default_factory=dict)
    # The trained variant it starts from: FCNs, the coarser one (the paper's staged training);
    # U-Net, FCN-8s's encoder (see ``recipe``).
    parent: str | None = None
    # Teaching maps in forward()'s dict, coarse to fine.
    maps: tuple[MapSpec, ...] = ()
    # Skip connections a learner can switch off (forward's ``drop_skips``), coarse to fine.
    skips: tuple[str, ...] = ()
    # Training recipes: what differs from fcn_demo.training's TrainConfig defaults in a round from
    # the backbone (``--start none``) and in a further round of self-training (the default).
    recipe: dict = field(default_factory=dict)
    round_recipe: dict = field(default_factory=dict)
    # Maps of forward()'s dict trained with deep supervision (each adds an auxiliary loss).
    deep_supervision: tuple[str, ...] = ()
    # The paper that describes the architecture (citation, URL), and what the variant takes from
    # its parent, as the model card says it.
    paper: tuple[str, str] = ("", "")
    from_parent: str = ""

    @property
    def output_stride(self) -> int:
        """The stride of the finest map before the final upsampling."""
        return min(m.stride for m in self.maps)


_FCN_MAPS = (
    MapSpec("score_pool5", "pool5's scores alone (stride 32), before any skip", 32, layer="pool5"),
    MapSpec("score_pool4", "pool4's contribution (stride 16): finer detail", 16, additive=True),
    MapSpec("fuse_pool4", "pool5 + pool4 fused (stride 16)", 16),
    MapSpec("score_pool3", "pool3's contribution (stride 8)", 8, additive=True),
    MapSpec("fuse_pool3", "pool5 + pool4 + pool3 fused (stride 8)", 8),
)
_UNET_MAPS = (
    MapSpec("stage16", "bottleneck (stride 16)", 16, layer="bottleneck"),
    MapSpec("stage8", "decoder + conv4 skip (stride 8)", 8),
    MapSpec("stage4", "decoder + conv3 skip (stride 4)", 4),
    MapSpec("stage2", "decoder + conv2 skip (stride 2)", 2),
    MapSpec("stage1", "decoder + conv1 skip (stride 1): the output", 1),
)

_FCN_PAPER = ("Long, Shelhamer, Darrell: Fully Convolutional Networks for Semantic Segmentation, CVPR 2015",
              "https://arxiv.org/abs/1411.4038")  # fmt: skip
_UNET_PAPER = ("Ronneberger, Fischer, Brox: U-Net: Convolutional Networks for Biomedical Image Segmentation, "
               "MICCAI 2015", "https://arxiv.org/abs/1505.04597")  # fmt: skip
_STAGED = "staged training, as in the paper"

# Recipes. A round from the backbone took 94 min for all four on a 2-core AMD EPYC that trains fast
# in bf16 (the README gives the measured times and machines). Frozen blocks need no backward pass
# (conv1-3 in the FCNs, conv1-2 in the U-Net), and the first epochs train on small crops
# (progressive resizing). FCN-16s/8s start from their parent and learn their skip layers; the U-Net
# starts from FCN-8s's encoder, but its decoder starts from scratch, so it trains longest, with a
# Dice term on top of the cross-entropy (Dice weighs the thin border class by its overlap, not its
# pixel count). An epoch is the 270 labelled photos plus as many pseudo-labelled ones.
# A further round starts each model from its own weights of the previous round and fine-tunes it,
# all weights at the base lr: far fewer epochs, so a round fits in a session on 2 cores. The weights
# judged and saved each epoch are an exponential moving average of the trained ones (``ema_decay``
# per step, a time constant of about 100 steps for the FCNs and 200 for the U-Net): a round's
# fine-tuning is noisy (round 2's U-Net scored between 0.673 and 0.719 out of distribution from one
# epoch to the next), and the average smooths it. An epoch is then the 788 labelled photos plus 270
# pseudo-labelled ones (132 steps of 8).
_FCN_ROUND = {"epochs": 5, "freeze_blocks": 3, "ema_decay": 0.99}

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("fcn32s", "FCN-32s", "#7c3aed", FCN, {"stride": 32}, None, _FCN_MAPS[:1], SKIPS_FOR_STRIDE[32],
                recipe={"epochs": 10, "freeze_blocks": 3, "small_crop_epochs": 4}, round_recipe=_FCN_ROUND,
                paper=_FCN_PAPER),
        Variant("fcn16s", "FCN-16s", "#2563eb", FCN, {"stride": 16}, "fcn32s", _FCN_MAPS[:3], SKIPS_FOR_STRIDE[16],
                recipe={"epochs": 8, "freeze_blocks": 3, "small_crop_epochs": 2}, round_recipe=_FCN_ROUND,
                paper=_FCN_PAPER, from_parent=_STAGED),
        Variant("fcn8s", "FCN-8s", "#047857", FCN, {"stride": 8}, "fcn16s", _FCN_MAPS, SKIPS_FOR_STRIDE[8],
                recipe={"epochs": 10, "freeze_blocks": 3, "small_crop_epochs": 2}, round_recipe=_FCN_ROUND,
                paper=_FCN_PAPER, from_parent=_STAGED),
        Variant("unet", "U-Net", "#dc2626", UNet, {"center_dilation": [2, 4]}, "fcn8s", _UNET_MAPS,
                recipe={"epochs": 32, "freeze_blocks": 2, "small_crop_epochs": 4, "dice_weight": 0.5},
                round_recipe={"epochs": 10, "freeze_blocks": 2, "dice_weight": 0.5, "ema_decay": 0.995},
                deep_supervision=("stage16", "stage8", "stage4", "stage2"), paper=_UNET_PAPER,
                from_parent="its encoder; the decoder from scratch"),
    ]
}  # fmt: skip


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
