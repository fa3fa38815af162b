"""How far each model actually looks: the effective receptive field over the 12 gallery samples.

    python bench/fields.py                    # ~1 minute on 2 CPU cores; prints a Markdown table
    python bench/fields.py --pixel centroid   # probe the pet's centre instead of its outline

The theoretical field of a fused output is the union of its paths, so the skips cannot shrink it
(FCN-8s's is as wide as FCN-16s's, and both wider than FCN-32s's): only the effective field, the
gradient of the pixel's winning logit with respect to the input, can show what the skips change.
For each sample and each model this runs the app's own probe (Analyzer.probe, the embedded weights)
at one well-defined pixel and reports the radius around it that holds 90% of the gradient mass.

The pixel (``--pixel border``, the default): the ground-truth *border* pixel nearest to the centroid
of the ground-truth *pet* pixels (Euclidean distance at the display size; ties go to the first in
row-major order). It lies on the pet's outline, where the border class is decided and where the
skips were added to help, and it is the same pixel for every model. ``--pixel centroid``: the pet
pixel nearest to that centroid (inside the pet, far from the outline).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from common import REPO  # noqa: F401 (puts the repo on sys.path)

from fcn_demo.core.data import CLASSES, resize_mask
from fcn_demo.core.hub import HubConfig, load_models
from fcn_demo.core.inputs import load_input
from fcn_demo.core.runtime import pick_device
from fcn_demo.core.samples import ground_truth, list_samples
from fcn_demo.request.analysis import Analyzer
from fcn_demo.request.probe import MASS, mass_radius

PET, BORDER = CLASSES.index("pet"), CLASSES.index("border")
NEAR_PX = 22  # "near the pixel": half of pool3's 44 px field, the finest skip's reach


def near_share(grad: np.ndarray, x: int, y: int, radius: float = NEAR_PX) -> float:
    """The share of the gradient mass within ``radius`` working pixels of (x, y)."""
    yy, xx = np.indices(grad.shape)
    return float(grad[np.hypot(yy - y, xx - x) <= radius].sum() / max(float(grad.sum()), 1e-30))


def probe_pixel(gt: np.ndarray, where: str = "border") -> tuple[int, int]:
    """(x, y) of the ``where`` pixel (see the module docstring) of ground truth ``gt`` (h, w)."""
    ys, xs = np.nonzero(gt == PET)
    cy, cx = ys.mean(), xs.mean()
    ys, xs = np.nonzero(gt == (BORDER if where == "border" else PET))  # row-major order
    i = int(np.argmin(np.hypot(ys - cy, xs - cx)))  # argmin: the first of ties
    return int(xs[i]), int(ys[i])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Median effective receptive field per model over the gallery samples.")
    p.add_argument("--pixel", choices=("border", "centroid"), default="border", help="which pixel to probe")
    args = p.parse_args(argv)

    loaded = load_models(device=pick_device(), config=HubConfig(enabled=False))
    analyzer = Analyzer({n: m.model for n, m in loaded.items() if m.model is not None}, pick_device())
    rows = []
    for s in list_samples():
        rgb = load_input(s.image).rgb
        gt = resize_mask(ground_truth(s), rgb.shape[:2])
        x, y = probe_pixel(gt, args.pixel)
        rows.append((s.name, x, y, CLASSES[gt[y, x]], analyzer.probe(rgb, x, y)))
        print(f"{s.name}: ({x}, {y}) {rows[-1][4].sentence}", flush=True)

    names = list(analyzer.models)
    titles = {n: m.title for n, m in rows[0][4].models.items()}
    print(f"\n## Effective field at the {args.pixel} pixel, {len(rows)} samples\n")
    print("| Sample | Pixel (x, y) | " + " | ".join(f"{titles[n]} r{MASS:.0%}" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for name, x, y, _, pr in rows:
        cells = [f"{pr.models[n].radius_px:.0f} px, {CLASSES[pr.models[n].winner]}" for n in names]
        print(f"| {name} | ({x}, {y}) | " + " | ".join(cells) + " |")

    print(f"\n| Model | Median {MASS:.0%}-mass radius (working px) | as a share of the shorter side | "
          f"Median 50%-mass radius | Median mass within {NEAR_PX} px | Theoretical field (px) | "
          "Median box here (share of the image) | Says border | Median P(border) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for n in names:
        ms = [(pr.models[n], pr) for *_, pr in rows]
        boxes = [(m.box_work[2] - m.box_work[0] + 1) * (m.box_work[3] - m.box_work[1] + 1) / np.prod(pr.work_size)
                 for m, pr in ms]  # fmt: skip
        half = [mass_radius(m.grad, *pr.work_xy, mass=0.5) for m, pr in ms]
        near = [near_share(m.grad, *pr.work_xy) for m, pr in ms]
        print(f"| {titles[n]} | {statistics.median(m.radius_px for m, _ in ms):.1f} | "
              f"{statistics.median(m.radius_frac for m, _ in ms):.1%} | {statistics.median(half):.1f} | "
              f"{statistics.median(near):.1%} | {ms[0][0].field_px} | {statistics.median(boxes):.0%} | "
              f"{sum(m.winner == BORDER for m, _ in ms)}/{len(ms)} | "
              f"{statistics.median(float(m.probs[BORDER]) for m, _ in ms):.2f} |")  # fmt: skip
    print(f"\nWorking size: shorter side {analyzer.preprocess.short_side} px. Ground truth at the probed pixels: "
          + ", ".join(sorted({c for *_, c, _ in rows})) + ".")  # fmt: skip


if __name__ == "__main__":
    main()
