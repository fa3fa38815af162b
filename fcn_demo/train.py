"""Train the registered models on Oxford-IIIT Pet trainval.

    python -m fcn_demo.train --model all          # FCN-32s -> 16s -> 8s (staged, as in the paper), U-Net

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
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader
from tqdm import tqdm

from .data import CLASS_COLORS, CLASSES, PetSegmentation, carve_val, default_root, read_split, train_transform
from .metrics import ConfusionMatrix
from .models import VARIANTS, build_model, get_variant
from .pretrained import INIT_SOURCES, MEAN_STD, backbone_state, load_backbone
from .runtime import autocast, autocast_dtype, cpu_name, keep_freed_memory, pick_device, run_model

# Per-variant recipe: what differs from TrainConfig's defaults, as the shipped checkpoints were
# trained; `python -m fcn_demo.train --model all` runs all four in under an hour on a 2-core CPU
# that trains fast in bf16 (the README's training table gives the measured time and machine).
# Frozen blocks need no backward pass (conv1-3 in the FCNs, conv1-2 in the U-Net), and the first
# epochs train on small crops (progressive resizing). FCN-16s/8s start from their parent
# (Variant.parent) and learn their skip layers; the U-Net starts from FCN-8s's encoder, but its
# decoder starts from scratch, so it trains longest, with a Dice term on top of the cross-entropy
# (Dice weighs the thin border class by its overlap, not its pixel count).
RECIPES = {
    "fcn32s": {"epochs": 12, "freeze_blocks": 3, "small_crop_epochs": 5},
    "fcn16s": {"epochs": 10, "freeze_blocks": 3, "small_crop_epochs": 3},
    "fcn8s": {"epochs": 12, "freeze_blocks": 3, "small_crop_epochs": 3},
    "unet": {"epochs": 40, "freeze_blocks": 2, "small_crop_epochs": 4, "dice_weight": 0.5},
}
# Validation images whose predictions are stored every epoch for the training replay.
REPLAY_INDICES = (2, 12, 22, 27)
REPLAY_SIZE = 128


@dataclass
class TrainConfig:
    variant: str
    epochs: int
    init: str = "hed"  # backbone weights: hed | imagenet | random (see fcn_demo.pretrained)
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
    seed: int = 0
    data: str = field(default_factory=lambda: str(default_root()))


def recipe_config(variant: str, **overrides) -> TrainConfig:
    """The TrainConfig of ``variant``'s recipe; ``overrides`` (e.g. from CLI flags) win."""
    return TrainConfig(variant=variant, **{**RECIPES[variant], **overrides})


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
    model = build_model(cfg.variant, mean=list(mean), std=list(std))
    fresh = {n for n, _ in model.named_parameters()}
    if variant.parent is not None:
        parent_dir = out_dir / variant.parent
        if not (parent_dir / "model.safetensors").exists():
            raise FileNotFoundError(f"{cfg.variant} starts from {variant.parent}: train it first ({parent_dir})")
        parent = get_variant(variant.parent).cls.from_pretrained(parent_dir)
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
    """1 - soft Dice, averaged over classes, over the whole batch."""
    prob = logits.softmax(1)
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(prob.dtype)
    inter = (prob * onehot).sum((0, 2, 3))
    total = prob.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    return 1 - ((2 * inter + eps) / (total + eps)).mean()


def loss_fn(out: dict[str, torch.Tensor], target: torch.Tensor, cfg: TrainConfig, weight: torch.Tensor) -> torch.Tensor:
    loss = F.cross_entropy(out["out"].float(), target, weight=weight)
    if cfg.dice_weight:
        loss = loss + cfg.dice_weight * dice_loss(out["out"].float(), target)
    if cfg.aux_weight and cfg.variant == "unet":
        for k in ("stage16", "stage8", "stage4", "stage2"):
            up = F.interpolate(out[k].float(), size=target.shape[-2:], mode="bilinear", align_corners=False)
            loss = loss + cfg.aux_weight * F.cross_entropy(up, target, weight=weight)
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


def save_replay(vdir: Path, inputs: list, preds: list[torch.Tensor]) -> None:
    """The training replay as two images the browser can show directly: ``replay_images.jpg`` (the
    validation images side by side) and ``replay_masks.png`` (palette PNG: row 0 the ground truth,
    row 1 + e the prediction after epoch e, each REPLAY_SIZE px square)."""
    imgs = [square_thumb(img, REPLAY_SIZE, False).mul(255).round().byte() for img, _ in inputs]
    Image.fromarray(torch.cat(imgs, 2).permute(1, 2, 0).numpy()).save(vdir / "replay_images.jpg", quality=90)
    targets = torch.cat([square_thumb(m[None], REPLAY_SIZE, True)[0].byte() for _, m in inputs], 1)
    rows = [targets] + [torch.cat(list(p), 1) for p in preds]
    sprite = Image.fromarray(torch.cat(rows, 0).numpy(), mode="P")
    sprite.putpalette([c for rgb in CLASS_COLORS for c in rgb])
    sprite.save(vdir / "replay_masks.png", optimize=True)


def lr_lambda(cfg: TrainConfig, total_steps: int):
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


def train(cfg: TrainConfig, out_dir: Path, run: dict | None = None) -> dict:
    """Train one variant; returns its history dict (also written to disk). ``run`` identifies the
    command invocation this is part of (recorded, so timings of one run can be told apart)."""
    gen = seed_everything(cfg.seed)
    keep_freed_memory()
    device = pick_device()
    dtype = autocast_dtype(device)
    root = Path(cfg.data)
    train_names, val_names = carve_val(read_split(root, "trainval"))
    train_set = PetSegmentation(root, train_names, short=cfg.short)  # its transform is set per epoch
    val_set = PetSegmentation(root, val_names)  # full resolution: val metrics are measured as test ones
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, drop_last=True, generator=gen)

    model, fresh = make_model(cfg, out_dir)
    model.to(device).to(memory_format=torch.channels_last)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [
            {"params": [p for n, p in named if n not in fresh], "lr": cfg.lr},
            {"params": [p for n, p in named if n in fresh], "lr": cfg.head_lr},
        ],
        weight_decay=cfg.weight_decay,
    )
    total_steps = cfg.epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, total_steps))
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    weight = torch.tensor(cfg.class_weights, dtype=torch.float32)

    vdir = out_dir / cfg.variant
    vdir.mkdir(parents=True, exist_ok=True)
    replay_inputs = [val_set[i] for i in REPLAY_INDICES]
    val0, preds0 = validate(model, val_set, cfg, device, dtype, weight)
    epochs = [{"epoch": 0, "train_loss": None, "lr": 0.0, "elapsed_s": 0.0, **val0}]
    all_preds = [preds0]
    best, t0, seen = -1.0, time.perf_counter(), 0
    train_time = 0.0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        train_set.transform = train_transform(epoch_crop(cfg, epoch))
        te = time.perf_counter()
        losses = []
        for img, mask in tqdm(loader, desc=f"{cfg.variant} epoch {epoch}/{cfg.epochs}", leave=False):
            losses.append(train_step(model, img, mask, opt, scaler, cfg, weight, device, dtype))
            sched.step()
            seen += img.shape[0]
        train_time += time.perf_counter() - te
        val, preds = validate(model, val_set, cfg, device, dtype, weight)
        all_preds.append(preds)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "lr": opt.param_groups[0]["lr"],
               "elapsed_s": round(time.perf_counter() - t0, 1), **val}  # fmt: skip
        epochs.append(row)
        tqdm.write(f"{cfg.variant} epoch {epoch}: train {row['train_loss']:.3f} val {val['val_loss']:.3f} "
                   f"mIoU {val['val_miou']:.3f} iou {[round(v, 3) for v in val['val_iou']]}")  # fmt: skip
        if val["val_miou"] > best:
            best, best_epoch = val["val_miou"], epoch
            # Saved in fp16: half the size, and evaluation shows no loss (fp32 compute on load).
            copy.deepcopy(model).half().save_pretrained(vdir)
    history = {
        "variant": cfg.variant,
        "classes": list(CLASSES),
        "config": asdict(cfg),
        "train_images": len(train_names),
        "val_images": val_names,
        "replay_images": [val_names[i] for i in REPLAY_INDICES],
        "best_epoch": best_epoch,
        "epochs": epochs,
        "summary": {
            "wall_time_s": round(time.perf_counter() - t0, 1),
            "train_images_per_s": round(seen / train_time, 2),
            "device": str(device),
            "autocast": str(dtype),
            "torch": torch.__version__,
            "cpu": cpu_name(),
            "threads": torch.get_num_threads(),
            "run": run,
        },
    }
    (vdir / "history.json").write_text(json.dumps(history, indent=1))
    save_replay(vdir, replay_inputs, all_preds)
    return history


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="all", help=f"'all' or one of: {', '.join(VARIANTS)}")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs per variant")
    p.add_argument("--init", default="hed", choices=INIT_SOURCES, help="pretrained backbone weights")
    p.add_argument("--data", default=str(default_root()), help="Oxford-IIIT Pet folder (env FCN_DEMO_DATA)")
    p.add_argument("--out", default="checkpoints", type=Path, help="output folder")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    names = list(VARIANTS) if args.model == "all" else [get_variant(args.model).name]
    t0 = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    run = {"command": " ".join(["python -m fcn_demo.train", *(argv if argv is not None else sys.argv[1:])]),
           "started": started}  # fmt: skip
    flags = {"init": args.init, "batch_size": args.batch_size, "seed": args.seed, "data": args.data}
    if args.epochs:
        flags["epochs"] = args.epochs
    for name in names:
        cfg = recipe_config(name, **flags)
        h = train(cfg, args.out, run)
        print(f"{name}: best val mIoU {h['epochs'][h['best_epoch']]['val_miou']:.3f} at epoch {h['best_epoch']}, "
              f"{h['summary']['wall_time_s']:.0f} s, {h['summary']['train_images_per_s']} img/s")  # fmt: skip
    print(f"total wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
