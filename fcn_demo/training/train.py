"""Train the registered models on Oxford-IIIT Pet trainval.

    python -m fcn_demo.training.train --model all               # one more round of self-training on checkpoints/
    python -m fcn_demo.training.train --model all --start none  # FCN-32s -> 16s -> 8s (staged, as in the paper), U-Net

Semi-supervised by default: before the first model, a teacher (``--teacher``, a trained U-Net
folder) masks the unlabelled photos of the 34 breeds the labelled subset lacks (``fcn_demo.training.pseudo``);
every epoch then trains on the labelled photos plus as many pseudo-labelled ones
(``--unlabelled 0``: labelled only). Each model fine-tunes its own weights of the previous round
(``--start``, ``Variant.round_recipe``), or with ``--start none`` trains from the backbone and its
parent (``Variant.recipe``; the recipes live in the registry, fcn_demo.models). Epochs are chosen
on the trainval carve-out and the out-of-distribution photos together; the test split is never
read here. The run of one variant is fcn_demo.training.loop.

Per variant it writes ``<out>/<variant>/``: ``config.json`` + ``model.safetensors`` (fp16, the
epoch with the best validation mIoU), ``history.json`` (per-epoch curves, the training config,
timings) and ``replay_images.jpg`` + ``replay_masks.png`` (per-epoch predictions on fixed validation images), so the
app can rebuild the model and replay its training from the files alone.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from fcn_demo.core.data import default_root, extra_root
from fcn_demo.core.runtime import autocast_dtype, pick_device
from fcn_demo.models import VARIANTS, get_variant
from fcn_demo.training.config import DEFAULT_START, TrainConfig, recipe_config
from fcn_demo.training.loop import train
from fcn_demo.training.pretrained import INIT_SOURCES
from fcn_demo.training.progress import progress_dir
from fcn_demo.training.pseudo import make_pseudo


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="all", help=f"'all', or one or more (comma-separated) of: {', '.join(VARIANTS)}")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs per variant")
    p.add_argument("--init", default="hed", choices=INIT_SOURCES, help="pretrained backbone weights")
    p.add_argument("--data", default=str(default_root()), help="Oxford-IIIT Pet folder (env FCN_DEMO_DATA)")
    p.add_argument("--extra-data", default=str(extra_root()),
                   help="labelled photos of more breeds (env FCN_DEMO_EXTRA_DATA; 'none': trainval only)")  # fmt: skip
    p.add_argument("--out", default="checkpoints", type=Path, help="output folder")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unlabelled", type=int, default=TrainConfig.unlabelled,
                   help="pseudo-labelled photos per epoch beside the labelled ones (0: labelled only)")  # fmt: skip
    p.add_argument("--labelled-per-epoch", type=int, default=None,
                   help="labelled photos drawn each epoch (default: the recipe's, else all)")  # fmt: skip
    p.add_argument("--teacher", default=TrainConfig.teacher, help="trained model folder that makes the pseudo-labels")
    p.add_argument("--start", default=DEFAULT_START,
                   help="previous round's folder: each model fine-tunes its own weights there ('none': "
                        "from the backbone and the parent, the staged recipe)")  # fmt: skip
    p.add_argument("--stop-after", type=int, default=None,
                   help="end each model after this epoch even if its schedule has more (e.g. with --resume, "
                        "when time runs out); the epoch kept is the best of those run")  # fmt: skip
    p.add_argument("--all-breeds", action="store_true",
                   help="the final run: the extra breeds held out for validation train too (choose the recipe "
                        "without this flag first); only the out-of-distribution photos stay unseen")  # fmt: skip
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted command with the same flags: finished models are kept, "
                        "the others go on from their last finished epoch, the teacher pass is reused")  # fmt: skip
    args = p.parse_args(argv)
    names = list(VARIANTS) if args.model == "all" else [get_variant(m.strip()).name for m in args.model.split(",")]
    t0 = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    run = {"command": " ".join(["python -m fcn_demo.training.train", *(argv if argv is not None else sys.argv[1:])]),
           "started": started}  # fmt: skip
    flags = {"init": args.init, "batch_size": args.batch_size, "seed": args.seed, "data": args.data,
             "unlabelled": args.unlabelled, "teacher": args.teacher,
             "extra_data": None if args.extra_data.lower() == "none" else args.extra_data,
             "start": None if args.start.lower() == "none" else args.start}  # fmt: skip
    if args.epochs:
        flags["epochs"] = args.epochs
    if args.labelled_per_epoch:
        flags["labelled_per_epoch"] = args.labelled_per_epoch
    if args.all_breeds:
        flags["hold_out_breeds"] = False
    progress = progress_dir(args.out)
    if not args.resume and progress.is_dir():
        shutil.rmtree(progress)  # a fresh command forgets an earlier one's progress
    todo = [n for n in names if not (args.resume and (progress / f"{n}.done").is_file())]
    for name in sorted(set(names) - set(todo), key=names.index):
        print(f"{name}: finished before (--resume), kept")
    if not todo:
        return
    device = pick_device()
    dtype = autocast_dtype(device)
    # Said up front: the probe that picks it times the CPU, and a machine busy with other work can
    # make it pick fp32 (about 3x slower to train); FCN_DEMO_PRECISION=bf16 then forces bf16.
    print(f"precision: {'autocast ' + str(dtype).removeprefix('torch.') if dtype else 'fp32'} on {device} "
          f"(measured; set FCN_DEMO_PRECISION=bf16|fp16|fp32 to force one)")  # fmt: skip
    # One teacher pass serves all the models of this command (made before any of them is trained,
    # so a teacher inside --out is the previous round's).
    pseudo = make_pseudo(recipe_config(todo[0], **flags), device, dtype, progress / "pseudo.pt")
    for name in todo:
        cfg = recipe_config(name, **flags)
        h = train(cfg, args.out, run, pseudo, resume=args.resume, stop_after=args.stop_after)
        ood = f", ood mIoU {h.best.ood_miou:.3f}" if h.best.ood_miou is not None else ""
        print(f"{name}: best val mIoU {h.best.val_miou:.3f}{ood} at epoch {h.best_epoch}, "
              f"{h.summary['wall_time_s']:.0f} s, {h.summary['train_images_per_s']} img/s")  # fmt: skip
    print(f"total wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
