"""Which working size should each model run at? Measured on validation only.

    python bench/working_size.py                       # the shipped checkpoints
    python bench/working_size.py --checkpoints /tmp/run --sizes 192,224,256,288

A model runs on a photo resized so its shorter side is its ``working_short_side`` (config.json).
This prints, for each model and each candidate size, the pooled mIoU on the seen breeds' carve-outs
and on the unseen breeds (``common.validation_sets``), and their mean (``train.selection_score``, the figure epochs are
chosen by). The test split is never read.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch
from common import validation_sets  # (also puts the repo on sys.path)

from fcn_demo.core.preprocess import Preprocess
from fcn_demo.core.runtime import autocast_dtype, pick_device
from fcn_demo.models import VARIANTS
from fcn_demo.training.evaluate import confusion_per_image, load_checkpoint, metrics_from
from fcn_demo.training.progress import selection_score


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    p.add_argument("--sizes", default="192,224,256,288")
    p.add_argument("--models", default=",".join(VARIANTS))
    args = p.parse_args()
    device = pick_device()
    dtype = autocast_dtype(device)
    sets = validation_sets()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'model':8s} {'size':>5s} {'seen':>10s} {'unseen':>7s} {'mean':>7s}")
    for name in args.models.split(","):
        model = load_checkpoint(args.checkpoints, name, device)
        shipped = Preprocess.of(model)
        for size in sizes:
            prep = replace(shipped, short_side=size)
            m = {k: metrics_from(confusion_per_image(model, d, device, dtype, prep))["miou"] for k, d in sets.items()}
            mark = "  (config.json)" if size == shipped.short_side else ""
            mean = selection_score({"val_miou": m["seen"], "ood_miou": m["unseen"]})
            print(f"{name:8s} {size:5d} {m['seen']:10.3f} {m['unseen']:7.3f} {mean:7.3f}{mark}", flush=True)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
