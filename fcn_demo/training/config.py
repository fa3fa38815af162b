"""A training run's settings: one :class:`TrainConfig`, built from a variant's recipe in the registry
(``Variant.recipe`` for a round from the backbone, ``Variant.round_recipe`` for a further round) and
the command's flags. The whole config is recorded in every ``history.json``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fcn_demo.core.data import default_root, extra_root, ood_root, unlabelled_root
from fcn_demo.models import get_variant

# A further round of self-training (``--start``, the default: the previous round's folder) starts
# each model from its own weights there and fine-tunes it, all weights at the base lr, on the true
# masks of every labelled breed (trainval and the extra set, ``data.make_splits``) and the new
# teacher's pseudo-labels where no true mask exists (``Variant.round_recipe``). The chain's weights
# still come from the staged recipe (round 1, ``--start none``, ``Variant.recipe``).
DEFAULT_START = "checkpoints"


@dataclass
class TrainConfig:
    variant: str
    epochs: int
    init: str = "hed"  # backbone weights: hed | imagenet | random (see fcn_demo.training.pretrained)
    batch_size: int = 8
    crop: int = 224  # training crop; images are first stored with their shorter side at `short`
    # Progressive resizing: the first `small_crop_epochs` epochs train on `small_crop` px crops
    # (half the compute per image at 160 px), the rest at `crop`.
    small_crop: int = 160
    small_crop_epochs: int = 0
    short: int = 256  # also the inference working size (the model's preprocessing record, core.preprocess)
    lr: float = 1e-4  # pretrained / inherited weights
    head_lr: float = 1e-3  # weights that start from scratch: 10x, they start far from a solution
    weight_decay: float = 1e-4
    warmup_steps: int = 30
    # The first `freeze_blocks` conv blocks keep their starting weights: conv1-2 are generic
    # edges/colours, and every frozen block saves its share of the backward pass.
    freeze_blocks: int = 2
    # Plain cross-entropy under-predicts the thin border class, which then drags mIoU down.
    class_weights: tuple[float, ...] = (1.0, 1.0, 1.5)
    aux_weight: float = 0.2  # U-Net deep supervision: loss weight of each intermediate stage
    dice_weight: float = 0.0  # weight of the soft Dice loss added to the cross-entropy
    # Exponential moving average of the weights (Polyak averaging, as in Mean Teacher and noisy
    # student): after every step ema = decay * ema + (1 - decay) * weights; the average is what
    # validation judges and what is saved. 0: the trained weights themselves.
    ema_decay: float = 0.0
    seed: int = 0
    data: str = field(default_factory=lambda: str(default_root()))
    # Semi-supervised part (see fcn_demo.training.pseudo): pseudo-labelled photos drawn afresh every epoch
    # beside the labelled ones (0: labelled only), and the teacher's confidence a pixel needs to
    # keep its label. 0.7 keeps 91% of the carve-out's pixels at 94% accuracy, and 87% of the
    # out-of-distribution photos' at 95% (the round-1 U-Net as teacher, bench/teacher.py).
    # The teacher averages its softmax over the photo, its mirror image and each of
    # `teacher_scales`: with the round-1 U-Net, scales 0.75 and 1 score 0.761 carve-out / 0.744
    # out-of-distribution mIoU, against 0.767 / 0.704 at scale 1 alone (bench/teacher.py).
    unlabelled: int = 270
    pseudo_threshold: float = 0.7
    teacher_scales: tuple[float, ...] = (0.75, 1.0)
    teacher: str | None = "checkpoints/unet"
    # A previous round's folder: each model starts from its own weights there (ROUND_RECIPES);
    # None starts from the backbone (FCN-32s) or the parent (RECIPES).
    start: str | None = None
    # Photos of each unlabelled breed kept out of training, to judge the masks on by eye.
    holdout_per_breed: int = 4
    # Photos of each unlabelled breed the teacher labels: 60 x 34 breeds = 2,040, more than the
    # U-Net draws distinct ones in its run; the teacher pass (four U-Net forwards a photo) then
    # takes minutes instead of three times as long for all 6,428.
    unlabelled_per_breed: int | None = 60
    unlabelled_data: str = field(default_factory=lambda: str(unlabelled_root()))
    ood_data: str = field(default_factory=lambda: str(ood_root()))
    # The labelled photos of 26 more breeds (data.make_splits: most train, a carve-out of the three
    # large breeds judges seen breeds, 16 small breeds held out whole judge unseen ones); None: none.
    extra_data: str | None = field(default_factory=lambda: str(extra_root()))
    # Labelled photos drawn afresh each epoch (None: all of them, 788 with the extra set).
    labelled_per_epoch: int | None = None
    # False (``--all-breeds``): the breeds held out for validation train too (833 labelled photos
    # of all 29 breeds); the unseen pool is then the out-of-distribution photos alone.
    hold_out_breeds: bool = True


def recipe_config(variant: str, **overrides) -> TrainConfig:
    """The TrainConfig of ``variant``'s recipe (its ``round_recipe`` when ``start`` names a previous
    round, else its ``recipe``: fcn_demo.models.VARIANTS); ``overrides`` (e.g. from CLI flags) win."""
    v = get_variant(variant)
    recipe = v.round_recipe if overrides.get("start") else v.recipe
    return TrainConfig(variant=variant, **{**recipe, **overrides})


def epoch_crop(cfg: TrainConfig, epoch: int) -> int:
    """The training crop of ``epoch`` (1-based): ``small_crop`` for the first ``small_crop_epochs``."""
    return cfg.small_crop if epoch <= cfg.small_crop_epochs else cfg.crop
