"""How an image becomes a model's input: one record per checkpoint, and the one resize rule.

Every checkpoint's ``config.json`` records how its model was trained to see images: the working
size (``working_short_side``, ``size_multiple``) and the input normalisation (``mean``, ``std``).
:class:`Preprocess` is that record, read from the config (:meth:`Preprocess.from_config`) or from
a built model (:meth:`Preprocess.of`); training writes it into the config
(:meth:`Preprocess.config`). The normalisation itself is applied inside the model (its backbone
holds mean and std), so a caller only resizes: :meth:`Preprocess.to_working` on the way in,
:func:`restore` on the way out. The request layer, evaluation, training, pseudo-labelling and the
benches all go through these, so there is one rule for the working size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from fcn_demo.models import CAFFE_MEAN_STD

# Inference resizes the image so its shorter side is this many pixels (the scale the models were
# trained at: crops of images whose shorter side was 256) and maps the logits back to full size.
WORKING_SHORT_SIDE = 256
# Working sizes are rounded to multiples of the FCNs' output stride. The score maps then tile the
# input exactly, and photos of similar shape share one working size. That matters on the CPU:
# oneDNN builds and caches compiled kernels per layer and input shape (up to 1024 kernels), so
# every new size cost build time and held about 0.25 MiB per model until the cache was full.
SIZE_MULTIPLE = 32

# The record's fields and the config.json keys (the models' constructor arguments) they come from.
CONFIG_KEYS = {"short_side": "working_short_side", "multiple": "size_multiple", "mean": "mean", "std": "std"}


def scaled_size(h: int, w: int, scale: float, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """(h, w) times ``scale``, each side rounded to a multiple of ``multiple`` (at least one)."""
    return tuple(multiple * max(1, round(v * scale / multiple)) for v in (h, w))


def working_size(h: int, w: int, short: int = WORKING_SHORT_SIDE, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """(h, w) scaled so the shorter side is about ``short``, each side a multiple of ``multiple``."""
    return scaled_size(h, w, short / min(h, w), multiple)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Images (N, 3, H, W) float resized to ``size`` (bilinear, antialiased when shrinking): the
    one way an input reaches a model's working size. At its own size ``x`` comes back as it is."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def restore(scores: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Class scores or probabilities (N, C, h, w) computed at a working size, mapped back to the
    image's ``size`` (bilinear, as the models' own final upsampling)."""
    return F.interpolate(scores, size=size, mode="bilinear", align_corners=False)


@dataclass(frozen=True)
class Preprocess:
    """What a checkpoint's config.json says about its input (defaults: the models' constructors')."""

    short_side: int = WORKING_SHORT_SIDE  # the working size's shorter side, in pixels
    multiple: int = SIZE_MULTIPLE  # each side of the working size is a multiple of this
    mean: tuple[float, ...] = tuple(CAFFE_MEAN_STD[0])  # RGB, for inputs in [0, 1]; applied by the model
    std: tuple[float, ...] = tuple(CAFFE_MEAN_STD[1])

    @classmethod
    def from_config(cls, config: Mapping) -> Preprocess:
        """The record of a config.json dict (keys it lacks keep the defaults)."""
        known = {f: config[k] for f, k in CONFIG_KEYS.items() if k in config}
        for f in ("mean", "std"):
            if f in known:
                known[f] = tuple(float(v) for v in known[f])
        return cls(**known)

    @classmethod
    def of(cls, model: torch.nn.Module) -> Preprocess:
        """The record of a built model: the constructor config its config.json holds (the Hub mixin
        keeps it on the model); a model without one (a test stub) is read from its attributes."""
        config = getattr(model, "_hub_mixin_config", None)
        if not isinstance(config, Mapping):
            config = {k: getattr(model, k) for k in CONFIG_KEYS.values() if hasattr(model, k)}
        return cls.from_config(config)

    def config(self) -> dict:
        """The record as the models' constructor arguments (what config.json stores)."""
        return {"working_short_side": self.short_side, "size_multiple": self.multiple,
                "mean": list(self.mean), "std": list(self.std)}  # fmt: skip

    def working_size(self, h: int, w: int) -> tuple[int, int]:
        """The size an (h, w) image runs at."""
        return working_size(h, w, self.short_side, self.multiple)

    def scaled_size(self, h: int, w: int, scale: float) -> tuple[int, int]:
        """(h, w) times ``scale``, rounded as working sizes are (test-time scales of the teacher)."""
        return scaled_size(h, w, scale, self.multiple)

    def to_working(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) float [0, 1] at their working size."""
        return resize(x, self.working_size(*x.shape[-2:]))

    def input_tensor(self, rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """An (h, w, 3) uint8 image as the models' input: (1, 3, H, W) float [0, 1] at its working
        size (resized on the CPU), on ``device``, channels_last."""
        x = torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255)[None]
        return self.to_working(x).to(device).contiguous(memory_format=torch.channels_last)


def shared(records: Iterable[Preprocess]) -> Preprocess:
    """The working-size rule several models share (the first one's record; the defaults for none).
    Raises if they were trained at different working sizes: one resized image serves them all.
    (Each model normalises its input itself, so their mean and std may differ.)"""
    records = list(records)
    sizes = {(r.short_side, r.multiple) for r in records}
    if len(sizes) > 1:
        raise ValueError(f"the models were trained at different working sizes: {sorted(sizes)}")
    return records[0] if records else Preprocess()
