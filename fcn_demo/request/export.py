"""Masks as files a visitor downloads: one palette PNG per model at the image's original size, and a zip.

Nothing is written while an image is analysed: :meth:`MaskFiles.of` builds an analysis's files when a
download (or the ``segment`` API, which returns them) asks for them, and reuses them after."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from fcn_demo.core.data import CLASSES, mask_png, resize_mask
from fcn_demo.request.analysis import Analysis


def _atomic_save(path: Path, write) -> None:
    """Write through a temporary file and rename, so a concurrent reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def export_masks(masks: dict[str, np.ndarray], size: tuple[int, int], folder: Path, stem: str) -> list[Path]:
    """Write one palette PNG per model (``masks``: name -> (h, w) class indices) at ``size`` = (H, W),
    pixel value = class index, and a zip of them (last in the list) to ``folder``; existing files
    are reused."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, mask in masks.items():
        path = folder / f"{stem}_{name}.png"
        if not path.exists():
            _atomic_save(path, lambda f, m=mask: mask_png(resize_mask(m, size)).save(f, "PNG", optimize=True))
        paths.append(path)
    zpath = folder / f"{stem}_masks.zip"
    if not zpath.exists():

        def write_zip(f) -> None:
            with zipfile.ZipFile(f, "w") as zf:
                for p in paths:
                    zf.write(p, p.name)
                legend = ", ".join(f"{i} = {c}" for i, c in enumerate(CLASSES))
                zf.writestr(
                    "README.txt",
                    f"One palette PNG per model, at the size of your image.\nPixel values are class indices: {legend}.\n",
                )

        _atomic_save(zpath, write_zip)
    return [*paths, zpath]


class MaskFiles:
    """The download files of the most recent ``keep`` images, one folder each, oldest deleted first."""

    def __init__(self, keep: int = 32, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="fcn-demo-"))
        self.keep = keep
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, a: Analysis) -> list[Path]:
        """The download files of analysis ``a``, built now if they were not before: one mask PNG
        per model at the upload's size, then their zip."""
        return self.write(a.digest, {n: m.mask for n, m in a.models.items()}, a.original_size, a.sample or "image")

    def write(self, digest: str, masks: dict[str, np.ndarray], size: tuple[int, int], stem: str) -> list[Path]:
        """The mask PNGs of image ``digest``, then their zip (written once, reused after)."""
        return export_masks(masks, size, self.folder(digest), stem)

    def folder(self, digest: str) -> Path:
        """Image ``digest``'s folder of download files (masks, slides), kept among the ``keep`` most recent."""
        with self._lock:
            self._recent[digest] = None
            self._recent.move_to_end(digest)
            while len(self._recent) > self.keep:
                stale, _ = self._recent.popitem(last=False)
                shutil.rmtree(self.root / stale, ignore_errors=True)
        return self.root / digest
