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

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from fcn_demo.core.checkpoint import build_from_folder, weights_label
from fcn_demo.core.data import IGNORE, load_image
from fcn_demo.core.runtime import autocast


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
    to a multiple of 32, the result resized back)."""
    x = x.to(device)
    h, w = x.shape[-2:]
    total, n = 0, 0
    for scale in scales:
        size = (max(32, round(h * scale / 32) * 32), max(32, round(w * scale / 32) * 32))
        xs = x if size == (h, w) else F.interpolate(x, size=size, mode="bilinear", antialias=True)
        xs = xs.contiguous(memory_format=torch.channels_last)
        for teacher in teachers:
            teacher.eval()
            with autocast(device, dtype):
                prob = teacher(xs)["out"].float().softmax(1) + teacher(xs.flip(-1))["out"].float().softmax(1).flip(-1)
            if prob.shape[-2:] != (h, w):
                prob = F.interpolate(prob, size=(h, w), mode="bilinear")
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
