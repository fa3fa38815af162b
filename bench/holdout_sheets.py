"""Contact sheets for grading masks by eye on unlabelled photos no model trained on.

    python bench/holdout_sheets.py --checkpoints checkpoints --out bench/out/holdout-after

The unlabelled folder's first photos of each breed are held out of training
(``TrainConfig.holdout_per_breed``; ``data.split_unlabelled``). This draws the first ``--per-breed``
of them (default 2 a breed: 68 photos of the 34 breeds the labelled subset lacks), each as one row:
the photo, then every model's mask over it, in registry order. Pages of 12 rows are written as
PNGs with a numbered index (``index.json``) so a grader can record good / partial / failed per
photo and model; ``--grades FILE`` then prints the counts per model from such a record.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from common import REPO  # noqa: F401 (puts the repo on sys.path)
from PIL import Image, ImageDraw

from fcn_demo.core.checkpoint import TrainingHistory, build_from_folder
from fcn_demo.core.data import breed_of, list_images, load_image, split_unlabelled, unlabelled_root
from fcn_demo.core.inputs import load_input
from fcn_demo.core.runtime import pick_device
from fcn_demo.models import VARIANTS
from fcn_demo.page.viz import overlay
from fcn_demo.request.analysis import Analyzer

TILE, ROWS = 192, 12
GRADES = ("good", "partial", "failed")


def held_out(per_breed: int, holdout: int) -> list[str]:
    """The first ``per_breed`` held-out photos of each breed."""
    _, held = split_unlabelled(list_images(unlabelled_root()), holdout)
    count: Counter[str] = Counter()
    out = []
    for n in held:
        if count[breed_of(n)] < per_breed:
            out.append(n)
            count[breed_of(n)] += 1
    return out


def sheets(folder: Path, names: list[str], out: Path) -> None:
    device = pick_device()
    models = {n: build_from_folder(folder / n, n, device) for n in VARIANTS}
    analyzer = Analyzer(models, device)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, name in enumerate(names):
        image = load_input(load_image(unlabelled_root() / "images" / f"{name}.jpg"))
        a = analyzer.analyze(image, None, None)
        tiles = [image.rgb] + [overlay(image.rgb, a.models[n].mask, 0.6) for n in VARIANTS]
        row = Image.new("RGB", (TILE * len(tiles), TILE + 18), "white")
        for j, t in enumerate(tiles):
            row.paste(Image.fromarray(t).resize((TILE, TILE)), (j * TILE, 18))
        ImageDraw.Draw(row).text(
            (4, 2), f"#{i}  {name}   |  photo  " + "  |  ".join(VARIANTS[n].title for n in VARIANTS), fill="black"
        )
        rows.append(row)
    for p in range(0, len(rows), ROWS):
        page = rows[p : p + ROWS]
        sheet = Image.new("RGB", (page[0].width, sum(r.height for r in page)), "white")
        y = 0
        for r in page:
            sheet.paste(r, (0, y))
            y += r.height
        sheet.save(out / f"page{p // ROWS + 1:02d}.png")
    h = TrainingHistory.read(folder / "unet")
    (out / "index.json").write_text(
        json.dumps({"checkpoints": str(folder), "unet_trained_on": str(h.trained_on), "photos": names}, indent=1)
    )


def counts(grades_file: Path) -> dict[str, dict[str, int]]:
    """{model: {grade: count}} from ``{"photos": {name: {model: grade}}}``."""
    grades = json.loads(grades_file.read_text())["photos"]
    out = {n: dict.fromkeys(GRADES, 0) for n in VARIANTS}
    for per_model in grades.values():
        for model, g in per_model.items():
            out[model][g] += 1
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    p.add_argument("--out", type=Path, default=Path("bench/out/holdout"))
    p.add_argument("--per-breed", type=int, default=2)
    p.add_argument("--holdout", type=int, default=4, help="photos per breed held out of training (the recipe's)")
    p.add_argument("--grades", type=Path, default=None, help="print the counts of a grades file instead")
    args = p.parse_args()
    if args.grades:
        for model, c in counts(args.grades).items():
            n = sum(c.values()) or 1
            print(f"{VARIANTS[model].title}: " + ", ".join(f"{g} {c[g]} ({c[g] / n:.0%})" for g in GRADES))
        return
    sheets(args.checkpoints, held_out(args.per_breed, args.holdout), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
