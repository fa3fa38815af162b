"""Pseudo-labels: a trained teacher's masks for the unlabelled photos of the 34 other breeds.

Self-training in its plainest form (Lee 2013; Xie et al. 2020, "noisy student"): the teacher
segments each unlabelled photo (averaging its softmax over the photo and its mirror image), and a
pixel keeps the teacher's class only where that averaged probability reaches ``threshold``; the
rest is ``IGNORE`` and gives no loss. The students then learn from these masks beside the labelled
ones, under stronger augmentation than the teacher saw (``data.train_transform``), which is what
lets a student end up better than its teacher on new breeds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .checkpoint import build_from_folder
from .data import IGNORE, load_image
from .runtime import autocast


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
def pseudo_label(
    teacher: torch.nn.Module,
    photos: torch.Tensor,
    device: torch.device,
    dtype: torch.dtype | None,
    threshold: float,
    batch_size: int = 16,
) -> torch.Tensor:
    """uint8 (N, H, W) masks of ``photos`` (uint8 (N, 3, H, W)): the teacher's class where its
    flip-averaged probability is at least ``threshold``, else IGNORE."""
    teacher.eval()
    masks = torch.empty(photos.shape[0], *photos.shape[-2:], dtype=torch.uint8)
    for i in tqdm(range(0, len(photos), batch_size), desc="pseudo-labelling", leave=False):
        x = (photos[i : i + batch_size].float() / 255).to(device).contiguous(memory_format=torch.channels_last)
        with autocast(device, dtype):
            prob = teacher(x)["out"].float().softmax(1) + teacher(x.flip(-1))["out"].float().softmax(1).flip(-1)
        conf, label = (prob / 2).max(1)
        label[conf < threshold] = IGNORE
        masks[i : i + batch_size] = label.to(torch.uint8).cpu()
    return masks


def teacher_from(folder: Path, device: torch.device) -> tuple[torch.nn.Module, str]:
    """The teacher in ``folder`` (its variant is the folder's name) and a label naming its weights."""
    folder = Path(folder)
    model = build_from_folder(folder, folder.name, device).to(memory_format=torch.channels_last)
    return model, f"{folder.name} sha256:{file_sha256(folder / 'model.safetensors')[:16]}"
