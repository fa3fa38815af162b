"""Which teacher makes the best pseudo-labels? Measured on validation only.

    python bench/teacher.py                      # the shipped checkpoints as teachers
    python bench/teacher.py --checkpoints /tmp/run

For each teacher (one model or an ensemble, with the mirror image and optionally more scales) it
scores, on the seen and the unseen breeds' validation photos (``common.validation_sets``; never the
test split):
the mIoU of the teacher's argmax, and at each confidence threshold the share of pixels a
pseudo-label would keep and how many of those kept pixels are right. The pseudo-labels the
training command makes are the same averaged softmax (``fcn_demo.training.pseudo.teacher_probs``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import validation_sets  # (also puts the repo on sys.path)

from fcn_demo.core.metrics import ConfusionMatrix
from fcn_demo.core.preprocess import Preprocess, restore, shared
from fcn_demo.core.runtime import autocast_dtype, pick_device
from fcn_demo.training.evaluate import load_checkpoint
from fcn_demo.training.pseudo import teacher_probs

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def score(models, scales, dataset, device, dtype) -> dict:
    cm = ConfusionMatrix(3)
    kept = {t: [0, 0] for t in THRESHOLDS}  # threshold -> [kept pixels, right kept pixels]
    total = 0
    prep = shared(Preprocess.of(m) for m in models)
    for img, mask in dataset:
        h, w = img.shape[-2:]
        prob = restore(teacher_probs(models, prep.to_working(img[None]), device, dtype, scales), (h, w))[0]
        conf, label = prob.max(0)
        cm.update(label.numpy(), mask.numpy())
        right = label == mask
        total += mask.numel()
        for t in THRESHOLDS:
            k = conf >= t
            kept[t][0] += int(k.sum())
            kept[t][1] += int((k & right).sum())
    m = cm.compute()
    return {"miou": m["miou"], "iou": m["iou"], "kept": {t: (k / total, r / max(k, 1)) for t, (k, r) in kept.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    p.add_argument("--only", default="", help="comma-separated parts of teacher names to run (default: all)")
    args = p.parse_args()
    torch.manual_seed(0)
    device = pick_device()
    dtype = autocast_dtype(device)
    sets = validation_sets()
    load = {n: load_checkpoint(args.checkpoints, n, device) for n in ("unet", "fcn8s")}
    teachers = {
        "unet, mirror": ([load["unet"]], (1.0,)),
        "unet, mirror, scales 0.75/1/1.25": ([load["unet"]], (0.75, 1.0, 1.25)),
        "unet, mirror, scales 1/1.25": ([load["unet"]], (1.0, 1.25)),
        "unet, mirror, scales 0.75/1": ([load["unet"]], (0.75, 1.0)),
        "unet, mirror, scale 1.25": ([load["unet"]], (1.25,)),
        "unet + fcn8s, mirror": ([load["unet"], load["fcn8s"]], (1.0,)),
    }
    only = args.only.split(",") if args.only else None
    for name, (models, scales) in teachers.items():
        if only and not any(o in name for o in only):
            continue
        t0 = time.perf_counter()
        res = {k: score(models, scales, d, device, dtype) for k, d in sets.items()}
        print(f"\n{name}  ({time.perf_counter() - t0:.1f} s)")
        for k, r in res.items():
            kept = "  ".join(f"t{t}: kept {a:.1%} right {b:.1%}" for t, (a, b) in r["kept"].items())
            print(f"  {k:9s} mIoU {r['miou']:.3f} iou {np.round(r['iou'], 3).tolist()}  {kept}")


if __name__ == "__main__":
    main()
