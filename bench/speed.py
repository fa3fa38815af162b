"""Speed, measured side by side in one run; everything is reported against a reference timed in the same run.

    python bench/speed.py                   # ~8 minutes on 2 CPU cores; prints the Markdown tables
    python bench/speed.py --update-readme   # also rewrite README.md's speed block
    python bench/speed.py --repeat 2        # quicker, noisier

Run it on an idle machine (check `top`): other processes skew the ratios. Everything in 1 and 2 is
timed in interleaved rounds (each round runs every measurement once), so a change in the machine's
speed during the run hits all of them alike; the report says how much CPU other processes took.

1. Per-variant latency of the network's forward pass at 256, 512 and 1024 px inputs (channels_last,
   and bf16 autocast where runtime.autocast_dtype picks it, as the app runs), and the backbone's share.
   The app itself always runs the models at shorter side 256 px (the training scale), whatever the
   upload's size: the 256 px column is what a visitor waits for.
2. The headline: one 512x512 upload through the app's own handler (fcn_demo.page.handlers.DemoState.segment: the
   request layer's checks and model step, with every skip ablation from the same forward pass; mask
   export; every view it answers at once: four panels, the skip-layer maps, the ablation tab, all
   pictures encoded for the browser) against ONE forward pass of torchvision's
   fcn_resnet50 / fcn_resnet101 on the same 512x512 image, fp32 as the pytorch/FCN Space runs it
   (random weights: speed does not depend on their values). Beside it, one click of the Ask-a-pixel
   tab on that image (``DemoState.run_probe``: the four models forward and backward).
3. Training throughput (images/s) of train.py's step on three paths: bf16 autocast + channels_last,
   fp32 + channels_last, plain fp32 (same model, batch and crop), and which one train.py takes here.
   Then the U-Net's step with glibc's default malloc against runtime.keep_freed_memory (what train.py
   runs with), each in its own process (the setting is process-wide), also in interleaved rounds.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import REPO, OtherLoad, warn_if_busy
from PIL import Image

from fcn_demo.core.hub import HubConfig, load_models
from fcn_demo.core.inputs import load_input
from fcn_demo.core.runtime import autocast, autocast_dtype, cpu_name, keep_freed_memory, pick_device, reduced_dtype
from fcn_demo.core.samples import list_samples
from fcn_demo.models import VARIANTS
from fcn_demo.request.export import MaskFiles
from fcn_demo.training.config import recipe_config
from fcn_demo.training.evaluate import update_readme
from fcn_demo.training.steps import make_model, train_step


def app_state(device):
    """The app's own server-side state around the embedded checkpoints (no Hub: a benchmark must not
    wait on the network), so the benchmark calls the very handler the page calls."""
    from fcn_demo.page.handlers import DemoState

    loaded = load_models(device=device, config=HubConfig(enabled=False))
    bad = {n: m.error for n, m in loaded.items() if m.model is None}
    if bad:
        raise SystemExit(f"checkpoints missing or invalid: {bad}")
    return DemoState(loaded, device)


# ---------------------------------------------------------------------------- 1. per variant


def rounds(contenders: dict, repeat: int) -> dict[object, list[float]]:
    """Seconds per call of each contender in each of ``repeat`` rounds (a round runs every contender
    once, after one warm-up round), so that drift in the machine's speed hits all of them alike.
    A contender is ``fn`` or ``(fn, calls)``: ``calls`` back-to-back calls per timing, for short ones."""
    contenders = {k: v if isinstance(v, tuple) else (v, 1) for k, v in contenders.items()}
    for fn, _ in contenders.values():
        fn()
    times: dict[object, list[float]] = {k: [] for k in contenders}
    for _ in range(repeat):
        for k, (fn, calls) in contenders.items():
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            times[k].append((time.perf_counter() - t) / calls)
    return times


def variant_contenders(models, device, dtype, sizes) -> dict:
    """("full" | "backbone", name, size) -> (one forward pass of that model, or of its backbone, at
    size x size; how many to time together: about half a second's worth)."""
    out = {}
    for size in sizes:
        calls = max(1, (512 // size) ** 2)
        x = torch.rand(1, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
        for name, m in models.items():
            for part, module in (("full", m), ("backbone", m.backbone)):

                @torch.inference_mode()
                def fwd(module=module, x=x) -> None:
                    with autocast(device, dtype):
                        module(x)

                out[part, name, size] = (fwd, calls)
    return out


# ---------------------------------------------------------------------------- 2. one upload vs torchvision


STAGES = {
    "models": "the model step (the one GPU call on ZeroGPU): four models, every skip ablation, metrics",
    "views": "the rest of the app's handler: checking the upload, mask export, drawing and encoding every view",
}


def app_request(st, data: bytes, out: Path, stages: dict[str, list[float]]) -> int:
    """Everything the app does for one upload: its own handler (``DemoState.segment``, which answers
    every view at once), with the result cache emptied so the models run. The time of each of
    :data:`STAGES` is appended to ``stages``."""
    st.requests.clear()
    st.files = MaskFiles(root=out)
    t0 = time.perf_counter()
    outputs = st.segment(data, 0.55, "overlay", 1, "probability", *[True] * len(st.skips))
    total = time.perf_counter() - t0
    analysis = outputs[0]
    stages["models"].append(analysis.ms / 1000)
    stages["views"].append(total - analysis.ms / 1000)
    return sum(len(o) for o in outputs[3:] if isinstance(o, str))


def upload_contenders(st, device, stages: dict[str, list[float]], out: Path) -> dict:
    """The app's whole request for a 512x512 upload (its stages go to ``stages``), and one fp32 forward
    of torchvision's fcn_resnet50 and fcn_resnet101 on the same image."""
    from torchvision.models.segmentation import fcn_resnet50, fcn_resnet101

    with Image.open(list_samples()[0].image) as im:  # a real photo, so the JPEG decode is realistic
        buf = io.BytesIO()
        im.convert("RGB").resize((512, 512), Image.BICUBIC).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    x = torch.from_numpy(load_input(data).rgb).permute(2, 0, 1).float().div(255)[None].to(device)
    n = iter(range(10**6))
    contenders = {"app": lambda: app_request(st, data, out / str(next(n)), stages)}
    rgb = st.requests.analyze(data).rgb
    # One click of the Ask-a-pixel tab: all four models, forward and backward to the photo.
    contenders["probe"] = lambda: st.run_probe(rgb, rgb.shape[1] // 2, rgb.shape[0] // 2)
    for label, ctor in (("fcn_resnet50", fcn_resnet50), ("fcn_resnet101", fcn_resnet101)):
        net = ctor(weights=None, weights_backbone=None).eval().to(device)

        @torch.inference_mode()
        def fwd(net=net) -> None:
            net(x)  # fp32, NCHW: as torchvision's reference (and the pytorch/FCN Space) runs it

        contenders[label] = fwd
    return contenders


# ---------------------------------------------------------------------------- 3. training


# Training paths compared: label -> (autocast in reduced precision?, channels_last).
TRAIN_PATHS = {
    "bf16 autocast + channels_last": (True, True),
    "fp32 + channels_last": (False, True),
    "fp32 plain": (False, False),
}
TRAIN = recipe_config("fcn32s", epochs=1, init="random")  # the step training_throughput() times
HEAP_TRAIN = recipe_config("unet", epochs=1, init="random")  # the step heap_effect() times


def training_step(cfg, device, dtype, channels_last: bool = True):
    """A function running one optimisation step of ``cfg``'s recipe (frozen blocks as trained) on a
    fixed random batch through training's own train_step; the U-Net's parent is the embedded FCN-8s."""
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(cfg.batch_size, 3, cfg.crop, cfg.crop, generator=gen)
    mask = torch.randint(0, 3, (cfg.batch_size, cfg.crop, cfg.crop), generator=gen)
    weight = torch.tensor(cfg.class_weights)
    torch.manual_seed(0)
    model, _ = make_model(cfg, REPO / "checkpoints")
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], cfg.lr)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    return lambda: train_step(model, img, mask, opt, scaler, cfg, weight, device, dtype, channels_last=channels_last)


def training_throughput(device, repeat: int) -> dict[str, float]:
    """Images/s of FCN-32s's training step for each of :data:`TRAIN_PATHS` (on CUDA, fp16 stands in
    for bf16 where bf16 is unsupported)."""
    steps = {
        label: training_step(TRAIN, device, reduced_dtype(device) if reduced else None, channels_last)
        for label, (reduced, channels_last) in TRAIN_PATHS.items()
    }
    times = {k: statistics.median(v) for k, v in rounds(steps, repeat).items()}
    return {label: TRAIN.batch_size / t for label, t in times.items()}


def _step_worker(conn, keep_heap: bool, device: str, dtype, threads: int) -> None:
    """A process of its own (mallopt is process-wide): one U-Net training step per message."""
    if keep_heap:
        keep_freed_memory()
    torch.set_num_threads(threads)
    step = training_step(HEAP_TRAIN, torch.device(device), dtype)
    while conn.recv():
        step()
        conn.send(None)


def heap_effect(device, dtype, repeat: int) -> dict[bool, float]:
    """Images/s of the U-Net's training step with glibc's default malloc (False) and with
    runtime.keep_freed_memory (True), two worker processes timed in interleaved rounds."""
    ctx = mp.get_context("spawn")
    workers = {}
    for keep in (False, True):
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_step_worker, args=(there, keep, str(device), dtype, torch.get_num_threads()))
        proc.start()
        workers[keep] = (proc, here)

    def call(conn) -> None:
        conn.send(True)
        conn.recv()

    try:
        raw = rounds({keep: lambda c=conn: call(c) for keep, (_, conn) in workers.items()}, repeat)
    finally:
        for proc, conn in workers.values():
            conn.send(False)
            proc.join()  # joined: their CPU time counts as ours in OtherLoad
    return {keep: HEAP_TRAIN.batch_size / statistics.median(v) for keep, v in raw.items()}


# ---------------------------------------------------------------------------- report


def markdown(rows, vs, tp, heap, device, dtype, threads, other: float | None) -> str:
    ref = vs["fcn_resnet101"]
    sizes = sorted({r["size"] for r in rows})
    title = {n: VARIANTS[n].title for n in VARIANTS}
    cpu = cpu_name()
    lines = [
        f"One run of `python bench/speed.py` on {device} ({cpu}, {threads} threads, torch {torch.__version__}, "
        f"autocast `{dtype}`; other processes used {'?' if other is None else f'{other:.0%}'} of the CPUs meanwhile). "
        "Every figure is a ratio to something timed in the same run, in interleaved rounds.",
        "",
        "| All of the app's work for one 512x512 upload vs ONE torchvision forward (fp32, 512x512) | Ratio |",
        "|---|---|",
        f"| vs fcn_resnet101 (the pytorch/FCN Space's model; target <= 0.35) | **{vs['app'] / ref:.2f}** |",
        f"| vs fcn_resnet50 | {vs['app'] / vs['fcn_resnet50']:.2f} |",
        *(f"| of which {what} | {vs[k] / ref:.2f} |" for k, what in STAGES.items()),
        f"| One pixel probe (Ask a pixel: four models, forward and backward to the photo) vs fcn_resnet101 "
        f"(target <= 0.5) | **{vs['probe'] / ref:.2f}** |",
        "",
        f"Latency per variant, forward pass at N x N px, as a multiple of one fcn_resnet101 forward at 512 px "
        f"({ref * 1000:.0f} ms here); the app always runs at 256 px on the shorter side:",
        "",
        "| Model | " + " | ".join(f"{s} px" for s in sizes) + " | Backbone share (256 px) |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    by = {(r["name"], r["size"]): r for r in rows}
    names = list(dict.fromkeys(r["name"] for r in rows))
    s0 = sizes[0]
    # Backbone share at the smallest size; timing noise can put it a hair over 100%.
    shares = {n: min(1.0, by[n, s0]["backbone_share"]) for n in names}
    for name in names:
        cells = [f"{by[name, s]['s'] / ref:.3f}" for s in sizes]
        lines.append(f"| {title[name]} | " + " | ".join(cells) + f" | {shares[name]:.0%} |")
    total = sum(by[n, s0]["s"] for n in names)
    shared = max(by[n, s0]["backbone_s"] for n in names) + sum(by[n, s0]["s"] - by[n, s0]["backbone_s"] for n in names)
    plain = tp["fp32 plain"]
    # train.py always runs channels_last; autocast_dtype decides the precision.
    chosen = next(label for label, (reduced, cl) in TRAIN_PATHS.items() if cl and reduced == (dtype is not None))
    lines += [
        "",
        f"Shared work: the backbone is {min(shares.values()):.0%}-{max(shares.values()):.0%} of every forward "
        "pass, but each model was fine-tuned with its own backbone weights, so nothing is shared at run time: one backbone "
        f"plus the four heads would take {shared / total:.2f} of the four separate passes ({s0} px).",
        "",
        f"| Training step (FCN-32s, batch {TRAIN.batch_size}, {TRAIN.crop} px crops), images/s relative to plain "
        "fp32 | Ratio |",
        "|---|---|",
        *(
            f"| {label}{' (the path train.py picks on this machine)' if label == chosen else ''} | "
            f"{'**' if label == chosen else ''}{v / plain:.2f}{'**' if label == chosen else ''} |"
            for label, v in tp.items()
        ),  # fmt: skip
        "",
        f"| Training step (U-Net, batch {HEAP_TRAIN.batch_size}, {HEAP_TRAIN.crop} px crops), images/s relative to "
        "glibc's default malloc | Ratio |",
        "|---|---|",
        f"| freed memory kept in the heap (`runtime.keep_freed_memory`, which train.py calls) | **{heap[True] / heap[False]:.2f}** |",
        "",
        "Generated by `python bench/speed.py --update-readme`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median reported)")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--update-readme", action="store_true", help="write the tables into README.md's speed block")
    p.add_argument("--readme", type=Path, default=REPO / "README.md")
    args = p.parse_args(argv)
    warn_if_busy()
    load = OtherLoad()
    torch.set_num_threads(os.cpu_count() or 1)
    device = pick_device()
    dtype = autocast_dtype(device)
    st = app_state(device)
    models = st.analyzer.models
    print(f"device {device}, autocast {dtype}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    print(f"1-2. every variant at {args.sizes} px and one 512x512 upload through the app vs torchvision "
          f"FCN-ResNet, {args.repeat} interleaved rounds", flush=True)  # fmt: skip
    out = Path(tempfile.mkdtemp(prefix="fcn-demo-speed-"))
    stages: dict[str, list[float]] = {k: [] for k in STAGES}
    contenders = {
        **upload_contenders(st, device, stages, out),
        **variant_contenders(models, device, dtype, args.sizes),
    }
    raw = rounds(contenders, args.repeat)
    times = {k: statistics.median(v) for k, v in raw.items()}
    shutil.rmtree(out, ignore_errors=True)
    vs = {k: times[k] for k in ("app", "probe", "fcn_resnet50", "fcn_resnet101")}
    vs.update({k: statistics.median(v[1:]) for k, v in stages.items()})  # v[0] is from the warm-up round
    rows = [{"size": size, "name": name, "s": times["full", name, size],
             # median of per-round ratios: a backbone and its full model are timed right after each other
             "backbone_share": statistics.median(b / f for b, f in zip(raw["backbone", name, size], raw["full", name, size])),
             "backbone_s": times["backbone", name, size]}
            for size in args.sizes for name in models]  # fmt: skip
    print("3. training throughput", flush=True)
    tp = training_throughput(device, max(2, args.repeat // 2))
    heap = heap_effect(device, dtype, max(2, args.repeat // 2))
    other = load.share()
    table = markdown(rows, vs, tp, heap, device, dtype, torch.get_num_threads(), other)
    print("\n" + table)
    if args.update_readme:
        update_readme(args.readme, table, "speed")
        print(f"\nupdated {args.readme}")


if __name__ == "__main__":
    main()
