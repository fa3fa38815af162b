"""The pieces of a training step: the model to train, its losses, one optimisation step, the
weight average, the learning-rate schedule and the sampler that mixes labelled and pseudo-labelled photos."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Sampler

from fcn_demo.core.checkpoint import build_from_folder
from fcn_demo.core.data import IGNORE
from fcn_demo.core.preprocess import Preprocess
from fcn_demo.core.runtime import autocast
from fcn_demo.models import build_model, get_variant
from fcn_demo.training.config import TrainConfig
from fcn_demo.training.pretrained import MEAN_STD, backbone_state, load_backbone


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_model(cfg: TrainConfig, out_dir: Path) -> tuple[torch.nn.Module, set[str]]:
    """The model to train and the names of its parameters that start from scratch."""
    variant = get_variant(cfg.variant)
    mean, std = MEAN_STD[cfg.init]
    # The preprocessing record the model's config.json keeps: the training scale and the weights' normalisation.
    preprocess = Preprocess(short_side=cfg.short, mean=tuple(mean), std=tuple(std))
    model = build_model(cfg.variant, **preprocess.config())
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
    if cfg.aux_weight:
        for k in get_variant(cfg.variant).deep_supervision:
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
