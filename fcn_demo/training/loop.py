"""One variant's training run: the epochs, validation after each, the saved best epoch, the
training replay and the history (``python -m fcn_demo.training.train`` runs it per variant)."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import ConcatDataset, DataLoader
from tqdm import tqdm

from fcn_demo.core import lineage
from fcn_demo.core.checkpoint import EpochRecord, TrainedOn, TrainingHistory, weights_label
from fcn_demo.core.data import (
    CLASSES,
    Joined,
    PetSegmentation,
    PseudoLabelled,
    breed_counts,
    breed_of,
    list_images,
    mask_png,
    train_transform,
)
from fcn_demo.core.metrics import ConfusionMatrix
from fcn_demo.core.runtime import autocast_dtype, cpu_name, keep_freed_memory, pick_device, run_model
from fcn_demo.training.config import TrainConfig, epoch_crop
from fcn_demo.training.progress import (
    SELECTION,
    SELECTION_ALL_BREEDS,
    beats_its_start,
    folder_files,
    keep_previous_round,
    progress_dir,
    rng_state,
    selection_score,
    set_rng_state,
)
from fcn_demo.training.pseudo import Pseudo, splits_of
from fcn_demo.training.steps import MixSampler, ema_update, lr_lambda, make_model, seed_everything, train_step

# Validation images whose predictions are stored every epoch for the training replay.
REPLAY_INDICES = (2, 12, 22, 27)
REPLAY_SIZE = 128


def square_thumb(arr: torch.Tensor, size: int, nearest: bool) -> torch.Tensor:
    """Centre square crop of (C, H, W) resized to size x size."""
    h, w = arr.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = arr[..., top : top + s, left : left + s].unsqueeze(0).float()
    mode = "nearest-exact" if nearest else "bilinear"
    return F.interpolate(crop, size=(size, size), mode=mode)[0]


@torch.no_grad()
def validate(model, val_set, device, dtype, weight) -> tuple[dict, torch.Tensor]:
    """Val loss and metrics at full resolution (the model runs at its own working size, as the app
    runs it), and the replay predictions (uint8 masks)."""
    model.eval()
    cm, losses, preds = ConfusionMatrix(len(CLASSES)), [], []
    for i, (img, mask) in enumerate(val_set):
        logits = run_model(model, img, device, dtype)["out"]
        losses.append(F.cross_entropy(logits, mask[None], weight=weight).item())
        pred = logits.argmax(1)[0]
        cm.update(pred.numpy(), mask.numpy())
        if i in REPLAY_INDICES:
            preds.append(square_thumb(pred[None], REPLAY_SIZE, nearest=True)[0].to(torch.uint8))
    m = cm.compute()
    return {"val_loss": float(np.mean(losses)), "val_pixel_acc": m["pixel_acc"], "val_miou": m["miou"],
            "val_iou": m["iou"]}, torch.stack(preds)  # fmt: skip


@torch.no_grad()
def validate_ood(model, ood_set, device, dtype) -> dict:
    """Pooled metrics on the out-of-distribution photos (breeds the labelled subset lacks)."""
    model.eval()
    cm = ConfusionMatrix(len(CLASSES))
    for img, mask in ood_set:
        cm.update(run_model(model, img, device, dtype)["out"].argmax(1)[0].numpy(), mask.numpy())
    m = cm.compute()
    return {"ood_miou": m["miou"], "ood_iou": m["iou"]}


def save_replay(vdir: Path, inputs: list, preds: list[torch.Tensor]) -> None:
    """The training replay as two images the browser can show directly: ``replay_images.jpg`` (the
    validation images side by side) and ``replay_masks.png`` (palette PNG: row 0 the ground truth,
    row 1 + e the prediction after epoch e, each REPLAY_SIZE px square)."""
    imgs = [square_thumb(img, REPLAY_SIZE, False).mul(255).round().byte() for img, _ in inputs]
    Image.fromarray(torch.cat(imgs, 2).permute(1, 2, 0).numpy()).save(vdir / "replay_images.jpg", quality=90)
    targets = torch.cat([square_thumb(m[None], REPLAY_SIZE, True)[0].byte() for _, m in inputs], 1)
    rows = [targets] + [torch.cat(list(p), 1) for p in preds]
    mask_png(torch.cat(rows, 0).numpy()).save(vdir / "replay_masks.png", optimize=True)


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
        val, preds = validate(judged, val_set, device, dtype, weight)
        if ood_set is not None:
            val.update(validate_ood(judged, ood_set, device, dtype))
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
            raw = validate_ood(model, ood_set, device, dtype)["ood_miou"]
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
