"""GPU time per call: what each model step asks ZeroGPU for, against what it takes, measured in one run.

    python bench/gpu_time.py                   # ~3 minutes on 2 CPU cores; prints the table
    python bench/gpu_time.py --update-readme   # also rewrite README.md's gpu block

On a ZeroGPU Space each user action is one ``spaces.GPU`` call, and each call asks for a duration
(``Analyzer.analyze_seconds`` / ``probe_seconds``, fcn_demo.request.analysis): the visitor's quota must hold
1.5 times it, and the call is cut off when it runs longer. This times both model steps, the analysis
(four models, every ablation, metrics) and the pixel probe (four models forward and backward), on
the images the app accepts up to the largest one (a 10:1 strip: working size 256x2560):

- warm: the median of ``--repeat`` calls in this process, after one call;
- cold: the first call in a fresh process (spawned: the weights loaded, nothing run yet), as a
  fresh ZeroGPU worker makes it. A GPU's own start-up (CUDA context, weights to the GPU) cannot be
  measured on a CPU: the request's ``GPU_COLD_S`` stands for it.

Every figure is beside the duration the app requests for that very call, and the last column says
how much faster than this CPU a GPU must run the step for the request to hold even when the worker
is cold: the cold CPU time over what the request leaves for the step (requested minus GPU_COLD_S).
Run it on an idle machine: the report says how much CPU other processes took (they slow the CPU, so
a busy run overstates the speed-up needed).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

import numpy as np
from common import REPO, OtherLoad, warn_if_busy

from fcn_demo.core.hub import HubConfig, load_models
from fcn_demo.core.inputs import DISPLAY_MAX_SIDE, MAX_ASPECT, load_input
from fcn_demo.core.runtime import autocast_dtype, cpu_name, pick_device
from fcn_demo.core.samples import list_samples
from fcn_demo.request.analysis import GPU_COLD_S, GPU_S_PER_MPX, Analyzer
from fcn_demo.training.evaluate import update_readme

# Uploads as a visitor sends them, (width, height): a phone photo, a square one, the largest work.
SIZES = {
    "phone photo": (4032, 3024),
    "square photo": (2000, 2000),
    "largest accepted (10:1 strip)": (DISPLAY_MAX_SIDE * MAX_ASPECT, DISPLAY_MAX_SIDE),
}
QUOTA_FACTOR = 1.5  # the ZeroGPU client multiplies a request by this on the current GPUs (spaces/zero/configs.json)


def images() -> dict:
    """The prepared image of each of :data:`SIZES`, made from a sample photo (resized, so the pixels are a pet's)."""
    from PIL import Image

    out = {}
    with Image.open(list_samples()[0].image) as im:
        photo = np.asarray(im.convert("RGB"))
    for label, (w, h) in SIZES.items():
        out[label] = load_input(np.asarray(Image.fromarray(photo).resize((w, h), Image.BILINEAR)))
    return out


def analyzer() -> Analyzer:
    loaded = load_models(device=str(pick_device()), config=HubConfig(enabled=False))
    bad = {n: m.error for n, m in loaded.items() if m.model is None}
    if bad:
        raise SystemExit(f"checkpoints missing or invalid: {bad}")
    return Analyzer({n: m.model for n, m in loaded.items()}, pick_device())


def calls(an: Analyzer, image) -> dict:
    """The two model steps on ``image``, as the app makes them: (call, its requested seconds)."""
    h, w = image.size
    return {
        "analyze": (lambda: an.analyze(image, None, None), an.analyze_seconds(image, None, None)),
        "probe": (lambda: an.probe(image.rgb, w // 2, h // 2), an.probe_seconds(image.rgb, w // 2, h // 2)),
    }


def cold(label: str, kind: str, out) -> None:
    """In a fresh process: load the weights, then time the first call of ``kind`` on ``label``'s image."""
    an = analyzer()
    fn, _ = calls(an, images()[label])[kind]
    t = time.perf_counter()
    fn()
    out.put(time.perf_counter() - t)


def measure(repeat: int) -> list[dict]:
    an, imgs = analyzer(), images()
    rows = []
    ctx = mp.get_context("spawn")
    for label, image in imgs.items():
        for kind, (fn, requested) in calls(an, image).items():
            q = ctx.Queue()
            p = ctx.Process(target=cold, args=(label, kind, q))
            p.start()
            first = q.get(timeout=600)
            p.join()
            fn()
            warm = []
            for _ in range(repeat):
                t = time.perf_counter()
                fn()
                warm.append(time.perf_counter() - t)
            h, w = an.preprocess.working_size(*image.size)
            rows.append({"image": label, "upload": SIZES[label], "work": (w, h), "kind": kind, "cold": first,
                         "warm": statistics.median(warm), "requested": requested})  # fmt: skip
            print(f"{label:32s} {kind:8s} cold {first:6.2f} s  warm {rows[-1]['warm']:6.2f} s  requests {requested} s",
                  flush=True)  # fmt: skip
    return rows


def report(rows: list[dict], others: float | None, repeat: int) -> str:
    device = pick_device()
    where = f"{device.type}: {cpu_name()}" if device.type == "cpu" else device.type
    lines = [
        f"One run of `python bench/gpu_time.py` on {where} ({__import__('torch').get_num_threads()} threads, "
        f"autocast `{autocast_dtype(device)}`; other processes used "
        f"{'?' if others is None else format(others, '.0%')} of the CPUs meanwhile). Requested: the duration "
        f"the app asks `spaces.GPU` for, {GPU_COLD_S:g} s for a cold GPU worker plus "
        f"{GPU_S_PER_MPX['analyze']:g} s (analysis) or {GPU_S_PER_MPX['probe']:g} s (probe) per model and "
        "megapixel of working size.",
        "",
        f"| Call | Upload (working size) | CPU, warm (median of {repeat}) | CPU, cold (first call of a fresh process) "
        f"| Requested | Quota it needs (x{QUOTA_FACTOR:g}) | GPU speed-up over this CPU it needs |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        (uw, uh), (ww, wh) = r["upload"], r["work"]
        call = "analysis (4 models, every ablation)" if r["kind"] == "analyze" else "pixel probe (forward + backward)"
        lines.append(
            f"| {call} | {r['image']} {uw}x{uh} ({ww}x{wh}) | {r['warm']:.2f} s | {r['cold']:.2f} s | "
            f"**{r['requested']} s** | {r['requested'] * QUOTA_FACTOR:g} s | "
            f"{r['cold'] / (r['requested'] - GPU_COLD_S):.1f}x |"
        )
    biggest = max(r["requested"] for r in rows)
    needed = max(r["cold"] / (r["requested"] - GPU_COLD_S) for r in rows)
    lines += [
        "",
        f"The largest request is {biggest} s, so a visitor needs {biggest * QUOTA_FACTOR:g} s of quota left for "
        "any action (the default 60 s would need 90 s). Each request holds if the GPU runs the step at least "
        f"{needed:.1f} times as fast as this CPU, cold; two CPU cores against a GPU slice, it does many times "
        "that. Generated by `python bench/gpu_time.py --update-readme`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="warm calls timed per step and image")
    p.add_argument("--update-readme", action="store_true", help="write the table into README.md's gpu block")
    args = p.parse_args(argv)
    warn_if_busy()
    others = OtherLoad()
    rows = measure(args.repeat)
    table = report(rows, others.share(), args.repeat)
    print("\n" + table)
    if args.update_readme:
        update_readme(REPO / "README.md", table, "gpu")
        print("\nupdated README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
