"""Speed, measured side by side in one run; prints ratios, never a bare time to compare across runs.

    python bench/speed.py                 # ~3 minutes on 2 CPU cores
    python bench/speed.py --markdown      # also print the README table

1. Per-variant latency at 256/512/1024 px inputs (the app path: working size, bf16 on this CPU),
   with the shared-work breakdown (backbone vs heads).
2. All four variants + skip-layer maps for one 512x512 upload vs ONE forward pass of torchvision's
   fcn_resnet50 / fcn_resnet101 (the model of the pytorch/FCN Space) on the same input, fp32 as that
   Space runs it (random weights: speed does not depend on their values).
3. Training throughput (images/s) of the chosen CPU path (bf16 autocast + channels_last) against
   plain fp32.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fcn_demo.models import VARIANTS, build_model  # noqa: E402
from fcn_demo.runtime import autocast, autocast_dtype, pick_device, run_model  # noqa: E402


def timeit(fn, repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def load_models(device) -> dict[str, torch.nn.Module]:
    from fcn_demo.hub import load_models as hub_load

    loaded = hub_load(device=device)
    return {n: lm.model for n, lm in loaded.items() if lm.model is not None}


def per_variant(models, device, dtype, sizes, repeat) -> list[dict]:
    rows = []
    for size in sizes:
        image = torch.rand(3, size, size)
        for name, model in models.items():
            total = timeit(lambda m=model: run_model(m, image, device, dtype), repeat)
            x = torch.rand(1, 3, 256, 256).to(device).contiguous(memory_format=torch.channels_last)

            def backbone(m=model, x=x):
                with torch.inference_mode(), autocast(device, dtype):
                    m.backbone(x)

            def full(m=model, x=x):
                with torch.inference_mode(), autocast(device, dtype):
                    m(x)

            b, f = timeit(backbone, repeat), timeit(full, repeat)
            rows.append({"size": size, "name": name, "ms": total * 1e3, "backbone_share": b / f})
    return rows


def versus_torchvision(models, device, dtype, repeat) -> dict:
    from torchvision.models.segmentation import fcn_resnet50, fcn_resnet101

    image = torch.rand(3, 512, 512)

    def ours():
        # What the app does for one upload: every variant, all teaching maps, plus the ablations.
        for name, m in models.items():
            run_model(m, image, device, dtype)

    result = {"ours_s": timeit(ours, repeat)}
    x = image[None].to(device)
    for label, ctor in (("fcn_resnet50", fcn_resnet50), ("fcn_resnet101", fcn_resnet101)):
        tv = ctor(weights=None, weights_backbone=None, aux_loss=False).eval().to(device)

        def fwd(tv=tv):
            with torch.inference_mode():
                tv(x)

        result[label] = timeit(fwd, max(2, repeat // 2))
        del tv
    return result


def training_throughput(device, repeat, batch: int = 8, crop: int = 224) -> dict:
    out = {}
    for label, fast in (("bf16 + channels_last", True), ("fp32 plain", False)):
        torch.manual_seed(0)
        model = build_model("fcn8s").to(device).train()
        x, y = torch.rand(batch, 3, crop, crop, device=device), torch.randint(0, 3, (batch, crop, crop), device=device)
        if fast:
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), 1e-4)
        dtype = autocast_dtype(device) if fast else None

        def step(model=model, x=x, opt=opt, dtype=dtype):
            with autocast(device, dtype):
                out = model(x)["out"]
            loss = F.cross_entropy(out.float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        out[label] = batch / timeit(step, repeat)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--markdown", action="store_true", help="print the README table")
    args = p.parse_args(argv)
    device = pick_device()
    dtype = autocast_dtype(device)
    models = load_models(device)
    print(f"device {device}, autocast {dtype}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    rows = per_variant(models, device, dtype, args.sizes, args.repeat)
    base = {r["size"]: r["ms"] for r in rows if r["name"] == "fcn32s"}
    print("\n1. Per-variant latency (app path), relative to FCN-32s at the same size")
    for r in rows:
        print(f"  {r['size']:>5} px  {VARIANTS[r['name']].title:<8} {r['ms']:7.1f} ms  "
              f"x{r['ms'] / base[r['size']]:.2f} of FCN-32s  backbone {r['backbone_share']:.0%} of the forward")  # fmt: skip

    vs = versus_torchvision(models, device, dtype, args.repeat)
    r50, r101 = vs["ours_s"] / vs["fcn_resnet50"], vs["ours_s"] / vs["fcn_resnet101"]
    print("\n2. All four variants + skip maps (512x512 upload) vs ONE torchvision forward (512x512, fp32)")
    print(f"  ratio vs fcn_resnet50:  {r50:.3f}")
    print(f"  ratio vs fcn_resnet101: {r101:.3f}   (target <= 1.0, stretch <= 0.5)")

    tp = training_throughput(device, max(2, args.repeat // 2))
    fast, plain = tp["bf16 + channels_last"], tp["fp32 plain"]
    print("\n3. Training throughput, FCN-8s batch 8 at 224 px")
    print(f"  bf16 + channels_last {fast:.2f} img/s vs fp32 plain {plain:.2f} img/s: x{fast / plain:.2f}")

    if args.markdown:
        print("\n| Measure (one run, same machine) | Ratio |\n|---|---|")
        print(f"| 4 variants + maps vs one fcn_resnet101 forward, 512x512 | {r101:.3f} |")
        print(f"| 4 variants + maps vs one fcn_resnet50 forward, 512x512 | {r50:.3f} |")
        for r in rows:
            if r["size"] == 512:
                print(f"| {VARIANTS[r['name']].title} latency / FCN-32s latency, 512 px | {r['ms'] / base[512]:.2f} |")
        print(f"| Training speed, bf16 + channels_last / fp32 | {fast / plain:.2f} |")


if __name__ == "__main__":
    main()
