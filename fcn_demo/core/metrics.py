"""Segmentation metrics from one confusion matrix.

The four metrics of the FCN paper (and of the MindSpore FCN tutorial) plus per-class IoU, with
n_ij the number of pixels of class i predicted as class j and t_i = sum_j n_ij:
    pixel accuracy            sum_i n_ii / sum_i t_i
    mean (class) accuracy     mean_i n_ii / t_i
    mean IoU                  mean_i n_ii / (t_i + sum_j n_ji - n_ii)
    frequency-weighted IoU    sum_i t_i * IoU_i / sum_i t_i
Classes absent from both ground truth and prediction are left out of the means (NaN per class).
"""

from __future__ import annotations

import numpy as np
import torch

from fcn_demo.core.data import CLASSES


class ConfusionMatrix:
    """Accumulates an (n, n) confusion matrix: rows are ground truth, columns predictions."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.mat = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> ConfusionMatrix:
        """Add the pixels of ``pred`` vs ``target`` (same shape, class indices); returns self."""
        pred, target = np.asarray(pred).ravel(), np.asarray(target).ravel()
        if pred.shape != target.shape:
            raise ValueError(f"pred and target differ in size: {pred.shape} vs {target.shape}")
        n = self.num_classes
        idx = target.astype(np.int64) * n + pred.astype(np.int64)
        self.mat += np.bincount(idx, minlength=n * n).reshape(n, n)
        return self

    def compute(self) -> dict[str, float | list[float]]:
        """pixel_acc, mean_acc, miou, fwiou and per-class iou (a list; NaN where undefined)."""
        m = self.mat.astype(np.float64)
        tp, gt, pr = np.diag(m), m.sum(1), m.sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = tp / gt
            iou = tp / (gt + pr - tp)
        total = m.sum()
        present = gt > 0
        return {
            "pixel_acc": float(tp.sum() / total) if total else float("nan"),
            "mean_acc": float(np.nanmean(acc)) if present.any() else float("nan"),
            "miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
            "fwiou": float((gt[present] * iou[present]).sum() / total) if total else float("nan"),
            "iou": [float(v) for v in iou],
        }


def image_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Pixel accuracy, mIoU (over classes present in either) and border IoU of one mask."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {target.shape} differ in size")
    m = ConfusionMatrix(len(CLASSES)).update(pred, target).compute()
    return {"pixel_acc": m["pixel_acc"], "miou": m["miou"], "border_iou": m["iou"][CLASSES.index("border")]}
