"""Oxford-IIIT Pet: reading images and trimaps, the train/val carve-out, and joint transforms.

Classes are the trimap's, renumbered so that 0 is background:
    trimap 1 (pet) -> 1, trimap 2 (background) -> 0, trimap 3 (border, "not classified") -> 2.
Masks are only ever resized with nearest-neighbour interpolation.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import ConcatDataset, Dataset

# torchvision is imported where the transforms are built: it costs ~2 s at import, and the app
# (which needs only the readers here) must start fast.

CLASSES = ("background", "pet", "border")
# RGB colours of the classes in overlays and legends.
CLASS_COLORS = ((30, 30, 30), (255, 140, 0), (0, 200, 255))
# trimap value -> class index (index 0 of the LUT is unused by the release).
_TRIMAP_LUT = np.array([0, 1, 0, 2], dtype=np.uint8)
# Mask value of pixels that carry no label (a pseudo-label the teacher was unsure of): no loss.
IGNORE = 255

# The breeds of the labelled subset (../shared/oxford-iiit-pet); the extra set adds 26 more.
SUBSET_BREEDS = ("Abyssinian", "Bengal", "american_bulldog")

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every VAL_EVERY-th trainval image (sorted by name) is held out for validation curves and
# model selection: 30 of 300, spread over the three breeds. The test split is never touched here.
VAL_EVERY = 10


def default_root() -> Path:
    """The dataset folder: $FCN_DEMO_DATA, else ../shared/oxford-iiit-pet beside the repo."""
    return Path(os.environ.get("FCN_DEMO_DATA", REPO_ROOT.parent / "shared" / "oxford-iiit-pet"))


def ood_root() -> Path:
    """The 8 labelled photos of breeds the subset lacks (model selection only, never training)."""
    return Path(os.environ.get("FCN_DEMO_OOD_DATA", REPO_ROOT.parent / "shared" / "oxford-iiit-pet-ood-val"))


def unlabelled_root() -> Path:
    """The unlabelled photos of the 34 other breeds (256x256, squashed), for semi-supervised training."""
    return Path(os.environ.get("FCN_DEMO_UNLABELLED_DATA", REPO_ROOT.parent / "shared" / "oxford-iiit-pet-unlabelled"))


def extra_root() -> Path:
    """The labelled photos of 26 more breeds (trimaps at the photo's size; also in the unlabelled set)."""
    return Path(os.environ.get("FCN_DEMO_EXTRA_DATA", REPO_ROOT.parent / "shared" / "oxford-iiit-pet-extra"))


# An extra breed with fewer photos than this is "small" (23 breeds of 1-7 photos); the others are
# the three large ones (172-194 photos each).
SMALL_BREED = 10


def held_out_breeds(names: list[str]) -> list[str]:
    """The breeds of the extra set kept out of training whole, to measure the models on breeds they
    never saw in any form. The rule, fixed before any training and blind to scores: the small breeds
    sorted by name (case-insensitive), and of every three in that order the first two are held out
    (16 breeds, 47 photos, four of them cat breeds; the third of each three trains)."""
    counts = breed_counts(names)
    small = sorted((b for b, n in counts.items() if n < SMALL_BREED), key=str.lower)
    return [b for i, b in enumerate(small) if i % 3 != 2]


@dataclass
class Splits:
    """Which labelled photo serves what, from the fixed rules above (``VAL_EVERY``,
    :func:`held_out_breeds`); names are unique across the two labelled folders.

    - ``train``/``train_extra``: true masks to learn from (trainval and the extra set);
    - ``val``/``val_extra``: seen breeds, judged and never trained on (the trainval carve-out and
      every ``VAL_EVERY``-th photo, by name, of the three large extra breeds);
    - ``unseen``: photos of the held-out extra breeds (with ``ood_root()``, the breeds never seen);
    - ``no_pseudo``: every photo with a true mask, and every photo of a held-out breed, which the
      teacher must never pseudo-label (the extra photos are in the unlabelled set too).
    """

    train: list[str]
    train_extra: list[str]
    val: list[str]
    val_extra: list[str]
    unseen: list[str]
    held_out_breeds: list[str]

    def excludes(self, name: str) -> bool:
        """Whether an unlabelled photo may not be pseudo-labelled (a true mask, or a held-out breed)."""
        return name in self._labelled or breed_of(name) in self.held_out_breeds

    @functools.cached_property
    def _labelled(self) -> set[str]:  # built once: excludes() is asked for every unlabelled photo
        return {*self.train_extra, *self.val_extra, *self.unseen}


def make_splits(root: Path, extra: Path | None, keep_out: set[str] = frozenset(), hold_out: bool = True) -> Splits:
    """The :class:`Splits` of the labelled folders; ``keep_out``, photos that must not train (the
    unlabelled photos held out for grading by eye, some of which the extra set labels).
    ``hold_out=False`` (the final run, after validation chose the recipe): the held-out breeds
    train too, so every labelled breed does, and only ``ood_root()`` is left unseen."""
    train, val = carve_val(read_split(root, "trainval"))
    names = list_images(extra) if extra is not None and Path(extra).is_dir() else []
    held = held_out_breeds(names) if names and hold_out else []
    unseen = [n for n in names if breed_of(n) in held]
    seen = [n for n in names if breed_of(n) not in held]
    counts = breed_counts(seen)
    large = [n for n in seen if counts[breed_of(n)] >= SMALL_BREED]
    val_extra = large[::VAL_EVERY]
    skip = set(val_extra) | set(keep_out)
    return Splits(train, [n for n in seen if n not in skip], val, val_extra, unseen, held)


def mask_png(mask: np.ndarray) -> Image.Image:
    """A palette PNG-ready image: pixel values are class indices, the palette shows the class colours."""
    im = Image.fromarray(mask.astype(np.uint8), mode="P")
    im.putpalette([c for rgb in CLASS_COLORS for c in rgb])
    return im


def breed_of(name: str) -> str:
    """``"British_Shorthair_102"`` -> ``"British_Shorthair"`` (the release's file naming)."""
    return name.rsplit("_", 1)[0]


def breed_counts(names: list[str]) -> dict[str, int]:
    """Images per breed, breeds in name order."""
    return dict(sorted(Counter(map(breed_of, names)).items()))


def list_images(root: Path) -> list[str]:
    """Image names of a folder laid out as the release (``images/*.jpg``), sorted."""
    return sorted(p.stem for p in (Path(root) / "images").glob("*.jpg"))


def split_unlabelled(
    names: list[str], holdout_per_breed: int, per_breed: int | None = None, exclude=None
) -> tuple[list[str], list[str]]:
    """(train, held out): the first ``holdout_per_breed`` photos of each breed, by name, are kept
    out of training, so masks on breeds the labelled subset lacks can be judged on photos no model
    has seen in any form; of the rest, leaving out those ``exclude(name)`` is true for
    (:meth:`Splits.excludes`), the next ``per_breed`` of each breed (None: all) train."""
    held, train, count, used = [], [], {}, {}
    for n in sorted(names):
        b = breed_of(n)
        k = count[b] = count.get(b, 0) + 1
        if k <= holdout_per_breed:
            held.append(n)
        elif exclude is None or not exclude(n):
            u = used[b] = used.get(b, 0) + 1
            if per_breed is None or u <= per_breed:
                train.append(n)
    return train, held


def read_split(root: Path, split: str) -> list[str]:
    """Image names of the official ``trainval`` or ``test`` split, sorted."""
    if split not in ("trainval", "test"):
        raise ValueError(f"split must be 'trainval' or 'test', got {split!r}")
    lines = (Path(root) / "annotations" / f"{split}.txt").read_text().splitlines()
    return sorted(line.split()[0] for line in lines if line.strip() and not line.startswith("#"))


def carve_val(names: list[str]) -> tuple[list[str], list[str]]:
    """Split trainval names into (train, val) by the fixed rule above."""
    names = sorted(names)
    val = names[::VAL_EVERY]
    held = set(val)
    return [n for n in names if n not in held], val


def load_image(path: str | Path) -> Image.Image:
    """Open any image PIL reads (by content, not extension: the release has a GIF and an RGBA PNG
    named .jpg) as RGB, first frame, EXIF orientation applied."""
    with Image.open(path) as im:
        im.seek(0)
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P", "PA"):
            # Composite transparency over white rather than letting it turn black.
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        return im.convert("RGB")


def load_trimap(path: str | Path) -> np.ndarray:
    """A trimap PNG as an (H, W) uint8 array of class indices."""
    with Image.open(path) as im:
        arr = np.asarray(im)
    if arr.ndim != 2 or arr.max() > 3:
        raise ValueError(f"{path}: not a trimap (values 1..3 expected)")
    return _TRIMAP_LUT[arr]


def resize_short(img: Image.Image, short: int, resample=Image.BILINEAR) -> Image.Image:
    """Resize so the shorter side is ``short`` px, keeping the aspect ratio."""
    w, h = img.size
    s = short / min(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), resample)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (h, w) class mask to ``size`` = (H, W)."""
    if mask.shape == tuple(size):
        return mask
    return np.asarray(Image.fromarray(mask).resize((size[1], size[0]), Image.NEAREST))


def train_transform(crop: int, color: bool = True):
    """Joint augmentation: geometric ops move image and mask together (v2 resizes a Mask with
    nearest), photometric ones touch only the image.

    The photometric part is strong on purpose: with three breeds to learn from, a model can take
    "orange/brown fur texture" for "pet". Hue shifts and grey-scale copies take colour away as a
    cue (spotted coats, black cats, grey cats), blur takes away fine texture (fur-like rugs)."""
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    ops = [
        v2.RandomResizedCrop(crop, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
        v2.RandomHorizontalFlip(),
    ]
    if color:
        ops += [
            v2.ColorJitter(0.4, 0.4, 0.4, 0.1),
            v2.RandomGrayscale(0.2),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=0.2),
        ]
    ops.append(v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True))
    return v2.Compose(ops)


class PseudoLabelled(Dataset):
    """Unlabelled photos with a teacher's masks (:mod:`fcn_demo.training.pseudo`; IGNORE where it was unsure),
    served like :class:`PetSegmentation` items."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, transform=None) -> None:
        from torchvision import tv_tensors

        self.images = [tv_tensors.Image(im) for im in images]  # uint8 (3, H, W)
        self.masks = [tv_tensors.Mask(m.long()) for m in masks]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.transform is not None:
            return self.transform(self.images[i], self.masks[i])
        return self.images[i].float() / 255, self.masks[i]


class Joined(ConcatDataset):
    """Several datasets read as one, in order (e.g. trainval photos, then extra ones): iterable, and
    setting ``transform`` sets it on every part."""

    def __iter__(self):
        for d in self.datasets:
            yield from (d[i] for i in range(len(d)))

    @property
    def transform(self):
        return self.datasets[0].transform

    @transform.setter
    def transform(self, value) -> None:
        for d in self.datasets:
            d.transform = value


class PetSegmentation(Dataset):
    """Images and class masks of a list of names, decoded once and kept in memory.

    Args:
        names: image names (``Abyssinian_100``, ...).
        short: images and masks are stored resized to this shorter side (``None``: original size).
        transform: a joint v2 transform; without one, items are the stored image as float [0, 1].
    """

    def __init__(self, root: Path, names: list[str], short: int | None = None, transform=None) -> None:
        self.root, self.names, self.transform = Path(root), list(names), transform
        self.items = [self._load(n, short) for n in self.names]

    def _load(self, name: str, short: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision import tv_tensors

        img = load_image(self.root / "images" / f"{name}.jpg")
        mask = Image.fromarray(load_trimap(self.root / "annotations" / "trimaps" / f"{name}.png"))
        if short:
            img, mask = resize_short(img, short), resize_short(mask, short, Image.NEAREST)
        return (
            tv_tensors.Image(torch.from_numpy(np.array(img)).permute(2, 0, 1)),
            tv_tensors.Mask(torch.from_numpy(np.array(mask)).long()),
        )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img, mask = self.items[i]
        if self.transform is not None:
            return self.transform(img, mask)
        return img.float() / 255, mask
