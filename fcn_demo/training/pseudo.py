"""Pseudo-labels: a trained teacher's masks for the unlabelled photos of the 34 other breeds.

Self-training in its plainest form (Lee 2013; Xie et al. 2020, "noisy student"): the teacher
segments each unlabelled photo (averaging its softmax over the photo, its mirror image and a
smaller copy, where a close-up pet fits better in the network's field of view), and a
pixel keeps the teacher's class only where that averaged probability reaches ``threshold``; the
rest is ``IGNORE`` and gives no loss. The students then learn from these masks beside the labelled
ones, under stronger augmentation than the teacher saw (``data.train_transform``), which is what
lets a student end up better than its teacher on new breeds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from fcn_demo.core.checkpoint import build_from_folder, weights_label
from fcn_demo.core.data import IGNORE, Splits, list_images, load_image, make_splits, split_unlabelled
from fcn_demo.core.preprocess import Preprocess, resize, restore, shared
from fcn_demo.core.runtime import autocast
from fcn_demo.training.config import TrainConfig


def read_photos(root: Path, names: list[str], size: int) -> torch.Tensor:
    """The photos ``root/images/<name>.jpg`` as one uint8 (N, 3, size, size) tensor."""
    out = torch.empty(len(names), 3, size, size, dtype=torch.uint8)
    for i, n in enumerate(tqdm(names, desc="reading unlabelled photos", leave=False)):
        img = load_image(Path(root) / "images" / f"{n}.jpg")
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)
        out[i] = torch.from_numpy(np.asarray(img)).permute(2, 0, 1)
    return out


@torch.inference_mode()
def teacher_probs(
    teachers: list[torch.nn.Module],
    x: torch.Tensor,
    device: torch.device,
    dtype: torch.dtype | None,
    scales: tuple[float, ...] = (1.0,),
) -> torch.Tensor:
    """Class probabilities (N, C, H, W) on the CPU for the float batch ``x`` (N, 3, H, W): the softmax
    averaged over every teacher, the photo and its mirror image, and each scale (each side rounded
    as the teachers' working sizes are, :class:`~fcn_demo.core.preprocess.Preprocess`; the result
    mapped back to (H, W))."""
    x = x.to(device)
    h, w = x.shape[-2:]
    prep = shared(Preprocess.of(t) for t in teachers)
    total, n = 0, 0
    for scale in scales:
        xs = resize(x, prep.scaled_size(h, w, scale)).contiguous(memory_format=torch.channels_last)
        for teacher in teachers:
            teacher.eval()
            with autocast(device, dtype):
                prob = teacher(xs)["out"].float().softmax(1) + teacher(xs.flip(-1))["out"].float().softmax(1).flip(-1)
            if prob.shape[-2:] != (h, w):
                prob = restore(prob, (h, w))
            total, n = total + prob, n + 2
    return (total / n).cpu()


@torch.inference_mode()
def pseudo_label(
    teachers: list[torch.nn.Module],
    photos: torch.Tensor,
    device: torch.device,
    dtype: torch.dtype | None,
    threshold: float,
    scales: tuple[float, ...] = (1.0,),
    batch_size: int = 16,
) -> torch.Tensor:
    """uint8 (N, H, W) masks of ``photos`` (uint8 (N, 3, H, W)): the teachers' class where their
    averaged probability (:func:`teacher_probs`) is at least ``threshold``, else IGNORE."""
    masks = torch.empty(photos.shape[0], *photos.shape[-2:], dtype=torch.uint8)
    for i in tqdm(range(0, len(photos), batch_size), desc="pseudo-labelling", leave=False):
        prob = teacher_probs(teachers, photos[i : i + batch_size].float() / 255, device, dtype, scales)
        conf, label = prob.max(1)
        label[conf < threshold] = IGNORE
        masks[i : i + batch_size] = label.to(torch.uint8)
    return masks


def teacher_from(folder: Path, device: torch.device) -> tuple[torch.nn.Module, str]:
    """The teacher in ``folder`` (its variant is the folder's name) and a label naming its weights."""
    folder = Path(folder)
    model = build_from_folder(folder, folder.name, device).to(memory_format=torch.channels_last)
    return model, weights_label(folder)


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
