"""The sample gallery: a few Oxford-IIIT Pet TEST-split photos with their trimaps, kept in samples/.

    python -m fcn_demo.core.samples            # (re)create samples/ from the dataset folder

Only test images are shipped, so the per-image metrics the app shows for a sample are measured on
images no model was trained or selected on. Images at most ``MAX_SIDE`` px on the long side are
copied byte for byte; larger ones are downscaled (trimaps with nearest-neighbour, never bilinear).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fcn_demo.core.data import REPO_ROOT, default_root, load_image, load_trimap, read_split, resize_mask

SAMPLES_DIR = REPO_ROOT / "samples"
MAX_SIDE = 500
# Four per breed (two cat breeds, one dog breed in the shared subset), picked by eye for variety:
# close-ups and full bodies, plain and cluttered backgrounds, light and dark fur.
SAMPLE_NAMES = (
    "Abyssinian_202",
    "Abyssinian_224",
    "Abyssinian_43",
    "Abyssinian_63",
    "Bengal_193",
    "Bengal_27",
    "Bengal_45",
    "Bengal_63",
    "american_bulldog_205",
    "american_bulldog_25",
    "american_bulldog_44",
    "american_bulldog_62",
)

ATTRIBUTION = """# Sample images: attribution and licence

The photos (`*.jpg`) and trimaps (`*.png`) in this folder are {n} images of the **test split** of the
**Oxford-IIIT Pet Dataset**:

> O. M. Parkhi, A. Vedaldi, A. Zisserman, C. V. Jawahar. *Cats and Dogs.*
> IEEE Conference on Computer Vision and Pattern Recognition (CVPR), 2012.
> https://www.robots.ox.ac.uk/~vgg/data/pets/

The dataset is distributed under the Creative Commons Attribution-ShareAlike 4.0 International
licence (CC BY-SA 4.0); the copyright of the images remains with their owners. These copies are
shared under the same licence. Images larger than {max_side} px on the long side were downscaled
(trimaps with nearest-neighbour interpolation); the others are byte-for-byte copies.

Trimap values, as released: 1 = pet, 2 = background, 3 = border ("not classified").

Recreate this folder with `python -m fcn_demo.core.samples` (it reads the dataset from
`$FCN_DEMO_DATA`, default `../shared/oxford-iiit-pet`).

| sample | breed |
| --- | --- |
{rows}
"""


@dataclass(frozen=True)
class Sample:
    """One gallery image and its ground-truth trimap."""

    name: str
    image: Path
    trimap: Path

    @property
    def breed(self) -> str:
        return self.name.rsplit("_", 1)[0].replace("_", " ")


def list_samples(folder: Path = SAMPLES_DIR) -> list[Sample]:
    """The samples present in ``folder`` (images that have a trimap beside them), sorted by name."""
    return [
        Sample(p.stem, p, p.with_suffix(".png"))
        for p in sorted(Path(folder).glob("*.jpg"))
        if p.with_suffix(".png").exists()
    ]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=4)
def _index(folder: Path) -> dict[str, Sample]:
    return {_digest(s.image.read_bytes()): s for s in list_samples(folder)}


def find_sample(data: bytes, folder: Path = SAMPLES_DIR) -> Sample | None:
    """The sample whose image file has exactly these bytes (an upload of a gallery file counts)."""
    return _index(Path(folder)).get(_digest(data))


def ground_truth(sample: Sample) -> np.ndarray:
    """The sample's trimap as (H, W) uint8 class indices (0 background, 1 pet, 2 border)."""
    return load_trimap(sample.trimap)


def match_ground_truth(source_bytes: bytes | None, size: tuple[int, int], original_size: tuple[int, int]):
    """(ground truth resized to ``size``, sample name) when ``source_bytes`` is a gallery sample
    file whose trimap has ``original_size``, else (None, None)."""
    sample = find_sample(source_bytes) if source_bytes else None
    if sample is None:
        return None, None
    gt = ground_truth(sample)
    if gt.shape != tuple(original_size):  # should not happen for an unmodified sample file
        return None, None
    return resize_mask(gt, size), sample.name


def make_samples(
    root: Path | None = None, dest: Path = SAMPLES_DIR, names: tuple[str, ...] = SAMPLE_NAMES, max_side: int = MAX_SIDE
) -> list[Sample]:
    """Copy (or downscale) ``names`` from the dataset at ``root`` into ``dest`` with ATTRIBUTION.md."""
    root = Path(root or default_root())
    test = set(read_split(root, "test"))
    outside = [n for n in names if n not in test]
    if outside:
        raise ValueError(f"samples must come from the test split; not in it: {outside}")
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        src_img = root / "images" / f"{name}.jpg"
        src_tri = root / "annotations" / "trimaps" / f"{name}.png"
        with Image.open(src_img) as im:
            w, h = im.size
            plain = im.format == "JPEG" and im.mode == "RGB" and max(w, h) <= max_side
        if plain:
            shutil.copyfile(src_img, dest / f"{name}.jpg")
            shutil.copyfile(src_tri, dest / f"{name}.png")
            continue
        img = load_image(src_img)
        s = min(1.0, max_side / max(img.size))
        size = (max(1, round(img.width * s)), max(1, round(img.height * s)))
        img.resize(size, Image.LANCZOS).save(dest / f"{name}.jpg", quality=92)
        with Image.open(src_tri) as tri:
            tri.resize(size, Image.NEAREST).save(dest / f"{name}.png")
    rows = "\n".join(f"| {n} | {n.rsplit('_', 1)[0].replace('_', ' ')} |" for n in names)
    text = ATTRIBUTION.format(n=len(names), max_side=max_side, rows=rows)
    (dest / "ATTRIBUTION.md").write_text(text)
    _index.cache_clear()
    return list_samples(dest)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="(Re)create the sample gallery from the Oxford-IIIT Pet test split.")
    p.add_argument("--data", type=Path, default=None, help="dataset folder (env FCN_DEMO_DATA)")
    p.add_argument("--dest", type=Path, default=SAMPLES_DIR, help="output folder")
    p.add_argument("--max-side", type=int, default=MAX_SIDE, help="downscale images larger than this")
    args = p.parse_args(argv)
    for s in make_samples(args.data, args.dest, max_side=args.max_side):
        print(s.image)


if __name__ == "__main__":
    main()
