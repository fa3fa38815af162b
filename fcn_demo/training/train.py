"""Train the registered models on Oxford-IIIT Pet trainval.

    python -m fcn_demo.training.train --model all               # one more round of self-training on checkpoints/
    python -m fcn_demo.training.train --model all --start none  # FCN-32s -> 16s -> 8s (staged, as in the paper), U-Net

Semi-supervised by default: before the first model, a teacher (``--teacher``, a trained U-Net
folder) masks the unlabelled photos of the 34 breeds the labelled subset lacks (``fcn_demo.training.pseudo``);
every epoch then trains on the labelled photos plus as many pseudo-labelled ones
(``--unlabelled 0``: labelled only). Each model fine-tunes its own weights of the previous round
(``--start``, ROUND_RECIPES), or with ``--start none`` trains from the backbone and its parent
(RECIPES). Epochs are chosen on the trainval carve-out and the out-of-distribution photos
together; the test split is never read here.

Per variant it writes ``<out>/<variant>/``: ``config.json`` + ``model.safetensors`` (fp16, the
epoch with the best validation mIoU), ``history.json`` (per-epoch curves, the training config,
timings) and ``replay_images.jpg`` + ``replay_masks.png`` (per-epoch predictions on fixed validation images), so the
app can rebuild the model and replay its training from the files alone.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import ConcatDataset, DataLoader, Sampler
from tqdm import tqdm

from fcn_demo.core import lineage
from fcn_demo.core.checkpoint import EpochRecord, TrainedOn, TrainingHistory, build_from_folder, weights_label
from fcn_demo.core.data import (
    CLASSES,
    IGNORE,
    Joined,
    PetSegmentation,
    PseudoLabelled,
    Splits,
    breed_counts,
    breed_of,
    default_root,
    extra_root,
    list_images,
    make_splits,
    mask_png,
    ood_root,
    split_unlabelled,
    train_transform,
    unlabelled_root,
)
from fcn_demo.core.metrics import ConfusionMatrix
from fcn_demo.core.runtime import autocast, autocast_dtype, cpu_name, keep_freed_memory, pick_device, run_model
from fcn_demo.models import VARIANTS, build_model, get_variant
from fcn_demo.training.pretrained import INIT_SOURCES, MEAN_STD, backbone_state, load_backbone
from fcn_demo.training.pseudo import pseudo_label, read_photos, teacher_from

# Per-variant recipe of a round from the backbone (round 1, `--start none`): what differs from
# TrainConfig's defaults. It took 94 min for all four on a 2-core AMD EPYC that trains fast in bf16
# (the README gives the measured times and machines).
# Frozen blocks need no backward pass (conv1-3 in the FCNs, conv1-2 in the U-Net), and the first
# epochs train on small crops (progressive resizing). FCN-16s/8s start from their parent
# (Variant.parent) and learn their skip layers; the U-Net starts from FCN-8s's encoder, but its
# decoder starts from scratch, so it trains longest, with a Dice term on top of the cross-entropy
# (Dice weighs the thin border class by its overlap, not its pixel count).
# An epoch is the 270 labelled photos plus as many pseudo-labelled ones, so it costs twice a
# labelled-only epoch.
RECIPES = {
    "fcn32s": {"epochs": 10, "freeze_blocks": 3, "small_crop_epochs": 4},
    "fcn16s": {"epochs": 8, "freeze_blocks": 3, "small_crop_epochs": 2},
    "fcn8s": {"epochs": 10, "freeze_blocks": 3, "small_crop_epochs": 2},
    "unet": {"epochs": 32, "freeze_blocks": 2, "small_crop_epochs": 4, "dice_weight": 0.5},
}
# A further round of self-training (``--start``, the default: the previous round's folder) starts
# each model from its own weights there and fine-tunes it, all weights at the base lr, on the true
# masks of every labelled breed (trainval and the extra set, ``data.make_splits``) and the new
# teacher's pseudo-labels where no true mask exists: far fewer epochs than from the backbone, so a
# round fits in a session on 2 cores. The chain's weights still come from the staged recipe above
# (round 1, ``--start none``).
DEFAULT_START = "checkpoints"
# The weights judged and saved each epoch are an exponential moving average of the trained ones
# (``ema_decay`` per step, a time constant of about 100 steps for the FCNs and 200 for the U-Net):
# a round's fine-tuning is noisy (round 2's U-Net scored between 0.673 and 0.719 out of
# distribution from one epoch to the next), and the average smooths it. An epoch is the 788
# labelled photos plus 270 pseudo-labelled ones (132 steps of 8).
ROUND_RECIPES = {
    "fcn32s": {"epochs": 5, "freeze_blocks": 3, "ema_decay": 0.99},
    "fcn16s": {"epochs": 5, "freeze_blocks": 3, "ema_decay": 0.99},
    "fcn8s": {"epochs": 5, "freeze_blocks": 3, "ema_decay": 0.99},
    "unet": {"epochs": 10, "freeze_blocks": 2, "dice_weight": 0.5, "ema_decay": 0.995},
}
# Validation images whose predictions are stored every epoch for the training replay.
REPLAY_INDICES = (2, 12, 22, 27)
REPLAY_SIZE = 128


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
    short: int = 256  # also the inference working size (runtime.WORKING_SHORT_SIDE)
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
    # False (``--all-breeds``): the breeds held out for validation train too (835 labelled photos
    # of all 29 breeds); the unseen pool is then the out-of-distribution photos alone.
    hold_out_breeds: bool = True


def recipe_config(variant: str, **overrides) -> TrainConfig:
    """The TrainConfig of ``variant``'s recipe (ROUND_RECIPES when ``start`` names a previous
    round, else RECIPES); ``overrides`` (e.g. from CLI flags) win."""
    recipe = ROUND_RECIPES if overrides.get("start") else RECIPES
    return TrainConfig(variant=variant, **{**recipe[variant], **overrides})


def epoch_crop(cfg: TrainConfig, epoch: int) -> int:
    """The training crop of ``epoch`` (1-based): ``small_crop`` for the first ``small_crop_epochs``."""
    return cfg.small_crop if epoch <= cfg.small_crop_epochs else cfg.crop


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_model(cfg: TrainConfig, out_dir: Path) -> tuple[torch.nn.Module, set[str]]:
    """The model to train and the names of its parameters that start from scratch."""
    variant = get_variant(cfg.variant)
    mean, std = MEAN_STD[cfg.init]
    model = build_model(cfg.variant, mean=list(mean), std=list(std), working_short_side=cfg.short)
    fresh = {n for n, _ in model.named_parameters()}
    if cfg.start:
        model, fresh = build_from_folder(Path(cfg.start) / cfg.variant, cfg.variant), set()
    elif variant.parent is not None:
        parent_dir = out_dir / variant.parent
        if not (parent_dir / "model.safetensors").exists():
            raise FileNotFoundError(f"{cfg.variant} starts from {variant.parent}: train it first ({parent_dir})")
        parent = build_from_folder(parent_dir, variant.parent)
        model.init_from_parent(parent)
        fresh -= set(dict(parent.named_parameters()))
    else:
        state = backbone_state(cfg.init)
        if state is not None:
            load_backbone(model.backbone, state)
            fresh -= {f"backbone.{n}" for n, _ in model.backbone.named_parameters()}
    frozen = 0
    for i, layer in enumerate(model.backbone.features):
        if isinstance(layer, torch.nn.MaxPool2d):
            frozen += 1
            if cfg.freeze_blocks and frozen >= cfg.freeze_blocks:
                model.backbone.features[: i + 1].requires_grad_(False)
                break
    return model, fresh


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Dice, averaged over classes, over the whole batch (IGNORE pixels left out)."""
    valid = (target != IGNORE).unsqueeze(1)
    prob = logits.softmax(1) * valid
    onehot = F.one_hot(target.masked_fill(~valid[:, 0], 0), logits.shape[1]).permute(0, 3, 1, 2).to(prob.dtype)
    onehot = onehot * valid
    inter = (prob * onehot).sum((0, 2, 3))
    total = prob.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    return 1 - ((2 * inter + eps) / (total + eps)).mean()


def loss_fn(out: dict[str, torch.Tensor], target: torch.Tensor, cfg: TrainConfig, weight: torch.Tensor) -> torch.Tensor:
    loss = F.cross_entropy(out["out"].float(), target, weight=weight, ignore_index=IGNORE)
    if cfg.dice_weight:
        loss = loss + cfg.dice_weight * dice_loss(out["out"].float(), target)
    if cfg.aux_weight and cfg.variant == "unet":
        for k in ("stage16", "stage8", "stage4", "stage2"):
            up = F.interpolate(out[k].float(), size=target.shape[-2:], mode="bilinear", align_corners=False)
            loss = loss + cfg.aux_weight * F.cross_entropy(up, target, weight=weight, ignore_index=IGNORE)
    return loss


def train_step(model, img, mask, opt, scaler, cfg: TrainConfig, weight, device, dtype, channels_last=True) -> float:
    """One optimisation step on a batch; returns the loss. ``channels_last``: NHWC activations (the
    model's weights must match; train() converts them), faster on CPU under oneDNN either way."""
    img = img.to(device)
    if channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
    mask = mask.to(device)
    with autocast(device, dtype):
        out = model(img)
    loss = loss_fn(out, mask, cfg, weight.to(device))
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    return loss.item()


def square_thumb(arr: torch.Tensor, size: int, nearest: bool) -> torch.Tensor:
    """Centre square crop of (C, H, W) resized to size x size."""
    h, w = arr.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = arr[..., top : top + s, left : left + s].unsqueeze(0).float()
    mode = "nearest-exact" if nearest else "bilinear"
    return F.interpolate(crop, size=(size, size), mode=mode)[0]


@torch.no_grad()
def validate(model, val_set, cfg, device, dtype, weight) -> tuple[dict, torch.Tensor]:
    """Val loss and metrics at full resolution, and the replay predictions (uint8 masks)."""
    model.eval()
    cm, losses, preds = ConfusionMatrix(len(CLASSES)), [], []
    for i, (img, mask) in enumerate(val_set):
        logits = run_model(model, img, device, dtype, short=cfg.short)["out"]
        losses.append(F.cross_entropy(logits, mask[None], weight=weight).item())
        pred = logits.argmax(1)[0]
        cm.update(pred.numpy(), mask.numpy())
        if i in REPLAY_INDICES:
            preds.append(square_thumb(pred[None], REPLAY_SIZE, nearest=True)[0].to(torch.uint8))
    m = cm.compute()
    return {"val_loss": float(np.mean(losses)), "val_pixel_acc": m["pixel_acc"], "val_miou": m["miou"],
            "val_iou": m["iou"]}, torch.stack(preds)  # fmt: skip


@torch.no_grad()
def validate_ood(model, ood_set, cfg, device, dtype) -> dict:
    """Pooled metrics on the out-of-distribution photos (breeds the labelled subset lacks)."""
    model.eval()
    cm = ConfusionMatrix(len(CLASSES))
    for img, mask in ood_set:
        cm.update(run_model(model, img, device, dtype, short=cfg.short)["out"].argmax(1)[0].numpy(), mask.numpy())
    m = cm.compute()
    return {"ood_miou": m["miou"], "ood_iou": m["iou"]}


def selection_score(row: dict) -> float:
    """What picks the epoch to keep: the trainval carve-out and the unseen breeds count equally."""
    return row["val_miou"] if row.get("ood_miou") is None else (row["val_miou"] + row["ood_miou"]) / 2


def beats_its_start(epochs: list[dict]) -> bool:
    """Whether an epoch of a later round scores above epoch 0, the weights it started from, by
    :func:`selection_score`: if none does, the round made the model no better on validation."""
    return max(selection_score(r) for r in epochs[1:]) > selection_score(epochs[0])


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}


def keep_previous_round(vdir: Path, previous: dict[str, bytes]) -> None:
    """Put a previous round's files (:func:`folder_files`) back in ``vdir``, dropping this round's."""
    for p in vdir.iterdir():
        if p.is_file() and p.name not in previous:
            p.unlink()
    for name, data in previous.items():
        (vdir / name).write_bytes(data)


SELECTION = "mean of val_miou (seen breeds: the carve-outs) and ood_miou (unseen breeds: the out-of-distribution photos and the extra breeds held out whole)"
SELECTION_ALL_BREEDS = "mean of val_miou (seen breeds: the carve-outs) and ood_miou (unseen breeds: the out-of-distribution photos; every extra breed trained, --all-breeds)"


class MixSampler(Sampler[int]):
    """Every epoch: ``labelled_per_epoch`` of the ``n_labelled`` items of a ConcatDataset (labelled
    first; None: all of them), plus ``per_epoch`` of the ``n_pseudo`` pseudo-labelled ones, each
    drawn afresh and shuffled together."""

    def __init__(
        self, n_labelled: int, n_pseudo: int, per_epoch: int, generator: torch.Generator,
        labelled_per_epoch: int | None = None,
    ) -> None:  # fmt: skip
        self.n_labelled, self.n_pseudo, self.gen = n_labelled, n_pseudo, generator
        self.per_epoch = min(per_epoch, n_pseudo)
        self.labelled = n_labelled if labelled_per_epoch is None else min(labelled_per_epoch, n_labelled)

    def __len__(self) -> int:
        return self.labelled + self.per_epoch

    def __iter__(self):
        labelled = torch.randperm(self.n_labelled, generator=self.gen)[: self.labelled]
        pseudo = self.n_labelled + torch.randperm(self.n_pseudo, generator=self.gen)[: self.per_epoch]
        idx = torch.cat([labelled, pseudo])
        return iter(idx[torch.randperm(len(idx), generator=self.gen)].tolist())


def save_replay(vdir: Path, inputs: list, preds: list[torch.Tensor]) -> None:
    """The training replay as two images the browser can show directly: ``replay_images.jpg`` (the
    validation images side by side) and ``replay_masks.png`` (palette PNG: row 0 the ground truth,
    row 1 + e the prediction after epoch e, each REPLAY_SIZE px square)."""
    imgs = [square_thumb(img, REPLAY_SIZE, False).mul(255).round().byte() for img, _ in inputs]
    Image.fromarray(torch.cat(imgs, 2).permute(1, 2, 0).numpy()).save(vdir / "replay_images.jpg", quality=90)
    targets = torch.cat([square_thumb(m[None], REPLAY_SIZE, True)[0].byte() for _, m in inputs], 1)
    rows = [targets] + [torch.cat(list(p), 1) for p in preds]
    mask_png(torch.cat(rows, 0).numpy()).save(vdir / "replay_masks.png", optimize=True)


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """Move ``ema``'s floating-point weights and buffers a step ``1 - decay`` towards ``model``'s."""
    for avg, now in zip(ema.state_dict().values(), model.state_dict().values()):
        if avg.dtype.is_floating_point:
            avg.lerp_(now, 1 - decay)


def lr_lambda(cfg: TrainConfig, total_steps: int):
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


@dataclass
class Pseudo:
    """The pseudo-labelled photos one command shares among its models."""

    names: list[str]
    photos: torch.Tensor  # uint8 (N, 3, H, W)
    masks: torch.Tensor  # uint8 (N, H, W), IGNORE where the teacher was unsure
    teacher: str
    held_out: list[str]


def splits_of(cfg: TrainConfig) -> Splits:
    """The labelled photos' roles (:func:`data.make_splits`); the unlabelled photos held out for
    grading by eye never train, even where the extra set labels them."""
    keep_out = set()
    if Path(cfg.unlabelled_data).is_dir():
        keep_out = set(split_unlabelled(list_images(Path(cfg.unlabelled_data)), cfg.holdout_per_breed, 0)[1])
    return make_splits(Path(cfg.data), Path(cfg.extra_data) if cfg.extra_data else None, keep_out,
                       cfg.hold_out_breeds)  # fmt: skip


def make_pseudo(cfg: TrainConfig, device: torch.device, dtype, cache: Path | None = None) -> Pseudo | None:
    """Pseudo-label the unlabelled photos with ``cfg.teacher`` (None when ``cfg.unlabelled`` is 0),
    never a photo with a true mask nor one of a held-out breed (:meth:`Splits.excludes`).
    ``cache``: a file that keeps the result, reused while teacher, photos and settings are the same
    (a resumed command skips the teacher pass)."""
    if not cfg.unlabelled:
        return None
    if not cfg.teacher:
        raise ValueError("--unlabelled needs a --teacher (a trained model folder)")
    names, held = split_unlabelled(
        list_images(Path(cfg.unlabelled_data)), cfg.holdout_per_breed, cfg.unlabelled_per_breed,
        splits_of(cfg).excludes,
    )  # fmt: skip
    key = {"teacher": weights_label(Path(cfg.teacher)), "names": names, "threshold": cfg.pseudo_threshold,
           "scales": list(cfg.teacher_scales), "short": cfg.short}  # fmt: skip
    if cache is not None and cache.is_file():
        saved = torch.load(cache, weights_only=True)
        if saved["key"] == json.dumps(key):
            print(f"pseudo-labels of {len(names)} photos by {key['teacher']} read from {cache}")
            return Pseudo(names, saved["photos"], saved["masks"], key["teacher"], held)
    t0 = time.perf_counter()
    photos = read_photos(Path(cfg.unlabelled_data), names, cfg.short)
    teacher, label = teacher_from(Path(cfg.teacher), device)
    masks = pseudo_label([teacher], photos, device, dtype, cfg.pseudo_threshold, tuple(cfg.teacher_scales))
    kept = (masks != IGNORE).float().mean().item()
    print(f"pseudo-labelled {len(names)} photos with {label} in {time.perf_counter() - t0:.0f} s "
          f"({kept:.1%} of pixels kept at threshold {cfg.pseudo_threshold})")  # fmt: skip
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"key": json.dumps(key), "photos": photos, "masks": masks}, cache)
    return Pseudo(names, photos, masks, label, held)


def progress_dir(out_dir: Path) -> Path:
    """Where a command keeps what ``--resume`` needs (beside the variants' folders, never in them)."""
    return Path(out_dir) / ".progress"


def rng_state(gen: torch.Generator) -> dict:
    return {"gen": gen.get_state(), "torch": torch.get_rng_state(), "numpy": np.random.get_state(),
            "random": random.getstate()}  # fmt: skip


def set_rng_state(gen: torch.Generator, state: dict) -> None:
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["random"])


def train(
    cfg: TrainConfig,
    out_dir: Path,
    run: dict | None = None,
    pseudo: Pseudo | None = None,
    resume: bool = False,
    stop_after: int | None = None,
) -> TrainingHistory:
    """Train one variant; returns its history (also written to disk). ``run`` identifies the
    command invocation this is part of (recorded, so timings of one run can be told apart);
    ``pseudo``, the pseudo-labelled photos to mix in (``cfg.unlabelled`` of them per epoch).
    After every epoch the whole training state is saved under :func:`progress_dir`; ``resume``
    continues from there (an interrupted run ends as the uninterrupted one would). ``stop_after``:
    end after that epoch although the schedule has more (the history records it), keeping the
    epoch validation chose among those run."""
    gen = seed_everything(cfg.seed)
    keep_freed_memory()
    device = pick_device()
    dtype = autocast_dtype(device)
    root, extra = Path(cfg.data), Path(cfg.extra_data) if cfg.extra_data else None
    sp = splits_of(cfg)
    labelled = [PetSegmentation(root, sp.train, short=cfg.short)]  # their transform is set per epoch
    val_parts = [PetSegmentation(root, sp.val)]  # full resolution: val metrics are measured as test ones
    ood_names = list_images(Path(cfg.ood_data)) if Path(cfg.ood_data).is_dir() else []
    ood_parts = [PetSegmentation(Path(cfg.ood_data), ood_names)] if ood_names else []
    if extra is not None and sp.train_extra:
        labelled.append(PetSegmentation(extra, sp.train_extra, short=cfg.short))
        val_parts.append(PetSegmentation(extra, sp.val_extra))
        if sp.unseen:
            ood_parts.append(PetSegmentation(extra, sp.unseen))
            ood_names = ood_names + sp.unseen
    train_set, val_set = Joined(labelled), Joined(val_parts)
    ood_set = Joined(ood_parts) if ood_parts else None
    val_names = sp.val + (sp.val_extra if len(val_parts) > 1 else [])
    train_names = sp.train + (sp.train_extra if len(labelled) > 1 else [])
    trained_on = TrainedOn(breed_counts(train_names), len(train_names))
    if pseudo is not None and cfg.unlabelled:
        pseudo_set = PseudoLabelled(pseudo.photos, pseudo.masks)
        sampler = MixSampler(len(train_set), len(pseudo_set), cfg.unlabelled, gen, cfg.labelled_per_epoch)
        data, sets = ConcatDataset([train_set, pseudo_set]), (train_set, pseudo_set)
        loader = DataLoader(data, batch_size=cfg.batch_size, sampler=sampler, drop_last=True)
        trained_on.unlabelled_photos = len(pseudo.names)
        trained_on.unlabelled_breeds = sorted({breed_of(n) for n in pseudo.names})
        trained_on.teacher = pseudo.teacher
    else:
        sets = (train_set,)
        sampler = MixSampler(len(train_set), 0, 0, gen, cfg.labelled_per_epoch)
        loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, drop_last=True)
    if cfg.start:
        trained_on.started_from = weights_label(Path(cfg.start) / cfg.variant)

    # A later round keeps the previous round's files unless an epoch beats them on validation
    # (read first: --out may be the --start folder itself).
    previous = folder_files(Path(cfg.start) / cfg.variant) if cfg.start else None
    model, fresh = make_model(cfg, out_dir)
    model.to(device).to(memory_format=torch.channels_last)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if n not in fresh], "lr": cfg.lr},
        {"params": [p for n, p in named if n in fresh], "lr": cfg.head_lr},
    ]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=cfg.weight_decay)
    total_steps = cfg.epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, total_steps))
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    weight = torch.tensor(cfg.class_weights, dtype=torch.float32)

    vdir = out_dir / cfg.variant
    vdir.mkdir(parents=True, exist_ok=True)
    replay_inputs = [val_set[i] for i in REPLAY_INDICES]

    # The weights validation judges and the best epoch saves: the trained ones, or their average.
    judged = copy.deepcopy(model).requires_grad_(False) if cfg.ema_decay else model

    def evaluate_epoch() -> tuple[dict, torch.Tensor]:
        val, preds = validate(judged, val_set, cfg, device, dtype, weight)
        if ood_set is not None:
            val.update(validate_ood(judged, ood_set, cfg, device, dtype))
        return val, preds

    state_file = progress_dir(out_dir) / f"{cfg.variant}.pt"
    if resume and state_file.is_file():
        st = torch.load(state_file, weights_only=False)
        if st["config"] != asdict(cfg):
            raise ValueError(f"{state_file} was saved by another recipe; run without --resume to start afresh")
        model.load_state_dict(st["model"])
        if judged is not model:
            judged.load_state_dict(st["judged"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        scaler.load_state_dict(st["scaler"])
        set_rng_state(gen, st["rng"])
        epochs, all_preds, best, best_epoch = st["epochs"], st["preds"], st["best"], st["best_epoch"]
        seen, train_time, elapsed0 = st["seen"], st["train_time"], st["elapsed"]
        tqdm.write(f"{cfg.variant}: resumed after epoch {len(epochs) - 1} of {cfg.epochs}")
    else:
        val0, preds0 = evaluate_epoch()
        epochs = [{"epoch": 0, "train_loss": None, "lr": 0.0, "elapsed_s": 0.0, **val0}]
        all_preds, best, best_epoch, seen, train_time, elapsed0 = [preds0], -1.0, 0, 0, 0.0, 0.0
    t0 = time.perf_counter() - elapsed0
    last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    for epoch in range(len(epochs), last + 1):
        model.train()
        for d in sets:
            d.transform = train_transform(epoch_crop(cfg, epoch))
        te = time.perf_counter()
        losses = []
        for img, mask in tqdm(loader, desc=f"{cfg.variant} epoch {epoch}/{cfg.epochs}", leave=False):
            losses.append(train_step(model, img, mask, opt, scaler, cfg, weight, device, dtype))
            sched.step()
            if judged is not model:
                ema_update(judged, model, cfg.ema_decay)
            seen += img.shape[0]
        train_time += time.perf_counter() - te
        val, preds = evaluate_epoch()
        all_preds.append(preds)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "lr": opt.param_groups[0]["lr"],
               "elapsed_s": round(time.perf_counter() - t0, 1), **val}  # fmt: skip
        epochs.append(row)
        ood = f" ood mIoU {val['ood_miou']:.3f}" if "ood_miou" in val else ""
        if judged is not model and ood_set is not None:  # the log compares the average with the weights
            raw = validate_ood(model, ood_set, cfg, device, dtype)["ood_miou"]
            ood += f" (trained weights, not averaged: {raw:.3f})"
        tqdm.write(f"{cfg.variant} epoch {epoch}: train {row['train_loss']:.3f} val {val['val_loss']:.3f} "
                   f"mIoU {val['val_miou']:.3f}{ood} iou {[round(v, 3) for v in val['val_iou']]}")  # fmt: skip
        if selection_score(row) > best:
            best, best_epoch = selection_score(row), epoch
            # Saved in fp16: half the size, and evaluation shows no loss (fp32 compute on load).
            copy.deepcopy(judged).half().save_pretrained(vdir)
        state_file.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"config": asdict(cfg), "model": model.state_dict(), "opt": opt.state_dict(),
                    "judged": judged.state_dict() if judged is not model else None,
                    "sched": sched.state_dict(), "scaler": scaler.state_dict(), "rng": rng_state(gen),
                    "epochs": epochs, "preds": all_preds, "best": best, "best_epoch": best_epoch, "seen": seen,
                    "train_time": train_time, "elapsed": time.perf_counter() - t0},
                   state_file.with_suffix(".tmp"))  # fmt: skip
        state_file.with_suffix(".tmp").replace(state_file)  # never half a state file
    history = TrainingHistory(
        variant=cfg.variant,
        classes=list(CLASSES),
        config=asdict(cfg),
        train_images=len(train_names),
        val_images=val_names,
        replay_images=[val_names[i] for i in REPLAY_INDICES],
        best_epoch=best_epoch,
        epochs=[EpochRecord(**r) for r in epochs],
        summary={
            "wall_time_s": round(time.perf_counter() - t0, 1),
            "train_images_per_s": round(seen / max(train_time, 1e-9), 2),
            "device": str(device),
            "autocast": str(dtype),
            "torch": torch.__version__,
            "cpu": cpu_name(),
            "threads": torch.get_num_threads(),
            "run": run,
            # Epochs of the schedule left unrun (--stop-after); 0 when it ran to its end.
            "epochs_not_run": cfg.epochs - (len(epochs) - 1),
        },
        trained_on=trained_on,
        ood_images=ood_names,
        selection=(SELECTION if cfg.hold_out_breeds else SELECTION_ALL_BREEDS) if ood_set is not None else "val_miou",
    )
    history.write(vdir)
    save_replay(vdir, replay_inputs, all_preds)
    if previous is not None:
        lineage.extend(vdir, previous)
    if previous is not None and not beats_its_start(epochs):
        keep_previous_round(vdir, previous)
        tqdm.write(f"{cfg.variant}: no epoch beat the previous round on validation; its files are kept")
        history = TrainingHistory.read(vdir)
    (progress_dir(out_dir) / f"{cfg.variant}.done").write_text(json.dumps(asdict(cfg)))
    state_file.unlink(missing_ok=True)
    return history


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="all", help=f"'all', or one or more (comma-separated) of: {', '.join(VARIANTS)}")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs per variant")
    p.add_argument("--init", default="hed", choices=INIT_SOURCES, help="pretrained backbone weights")
    p.add_argument("--data", default=str(default_root()), help="Oxford-IIIT Pet folder (env FCN_DEMO_DATA)")
    p.add_argument("--extra-data", default=str(extra_root()),
                   help="labelled photos of more breeds (env FCN_DEMO_EXTRA_DATA; 'none': trainval only)")  # fmt: skip
    p.add_argument("--out", default="checkpoints", type=Path, help="output folder")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unlabelled", type=int, default=TrainConfig.unlabelled,
                   help="pseudo-labelled photos per epoch beside the labelled ones (0: labelled only)")  # fmt: skip
    p.add_argument("--labelled-per-epoch", type=int, default=None,
                   help="labelled photos drawn each epoch (default: the recipe's, else all)")  # fmt: skip
    p.add_argument("--teacher", default=TrainConfig.teacher, help="trained model folder that makes the pseudo-labels")
    p.add_argument("--start", default=DEFAULT_START,
                   help="previous round's folder: each model fine-tunes its own weights there ('none': "
                        "from the backbone and the parent, the staged recipe)")  # fmt: skip
    p.add_argument("--stop-after", type=int, default=None,
                   help="end each model after this epoch even if its schedule has more (e.g. with --resume, "
                        "when time runs out); the epoch kept is the best of those run")  # fmt: skip
    p.add_argument("--all-breeds", action="store_true",
                   help="the final run: the extra breeds held out for validation train too (choose the recipe "
                        "without this flag first); only the out-of-distribution photos stay unseen")  # fmt: skip
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted command with the same flags: finished models are kept, "
                        "the others go on from their last finished epoch, the teacher pass is reused")  # fmt: skip
    args = p.parse_args(argv)
    names = list(VARIANTS) if args.model == "all" else [get_variant(m.strip()).name for m in args.model.split(",")]
    t0 = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    run = {"command": " ".join(["python -m fcn_demo.training.train", *(argv if argv is not None else sys.argv[1:])]),
           "started": started}  # fmt: skip
    flags = {"init": args.init, "batch_size": args.batch_size, "seed": args.seed, "data": args.data,
             "unlabelled": args.unlabelled, "teacher": args.teacher,
             "extra_data": None if args.extra_data.lower() == "none" else args.extra_data,
             "start": None if args.start.lower() == "none" else args.start}  # fmt: skip
    if args.epochs:
        flags["epochs"] = args.epochs
    if args.labelled_per_epoch:
        flags["labelled_per_epoch"] = args.labelled_per_epoch
    if args.all_breeds:
        flags["hold_out_breeds"] = False
    progress = progress_dir(args.out)
    if not args.resume and progress.is_dir():
        shutil.rmtree(progress)  # a fresh command forgets an earlier one's progress
    todo = [n for n in names if not (args.resume and (progress / f"{n}.done").is_file())]
    for name in sorted(set(names) - set(todo), key=names.index):
        print(f"{name}: finished before (--resume), kept")
    if not todo:
        return
    device = pick_device()
    dtype = autocast_dtype(device)
    # Said up front: the probe that picks it times the CPU, and a machine busy with other work can
    # make it pick fp32 (about 3x slower to train); FCN_DEMO_PRECISION=bf16 then forces bf16.
    print(f"precision: {'autocast ' + str(dtype).removeprefix('torch.') if dtype else 'fp32'} on {device} "
          f"(measured; set FCN_DEMO_PRECISION=bf16|fp16|fp32 to force one)")  # fmt: skip
    # One teacher pass serves all the models of this command (made before any of them is trained,
    # so a teacher inside --out is the previous round's).
    pseudo = make_pseudo(recipe_config(todo[0], **flags), device, dtype, progress / "pseudo.pt")
    for name in todo:
        cfg = recipe_config(name, **flags)
        h = train(cfg, args.out, run, pseudo, resume=args.resume, stop_after=args.stop_after)
        ood = f", ood mIoU {h.best.ood_miou:.3f}" if h.best.ood_miou is not None else ""
        print(f"{name}: best val mIoU {h.best.val_miou:.3f}{ood} at epoch {h.best_epoch}, "
              f"{h.summary['wall_time_s']:.0f} s, {h.summary['train_images_per_s']} img/s")  # fmt: skip
    print(f"total wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
