"""Precision choice (the environment override, the CPU probe deciding for itself) and working sizes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from PIL import Image

from fcn_demo.core import runtime
from fcn_demo.core.data import REPO_ROOT, read_split
from fcn_demo.core.runtime import PRECISION_ENV, SIZE_MULTIPLE, WORKING_SHORT_SIDE, autocast_dtype, working_size

CPU = torch.device("cpu")


@pytest.mark.parametrize(("value", "dtype"), [("fp32", None), ("bf16", torch.bfloat16), (" FP16 ", torch.float16)])
def test_precision_can_be_forced(monkeypatch, value, dtype):
    monkeypatch.setenv(PRECISION_ENV, value)
    assert autocast_dtype(CPU) is dtype


def test_unknown_precision_is_refused(monkeypatch):
    monkeypatch.setenv(PRECISION_ENV, "fp8")
    with pytest.raises(ValueError, match="auto, bf16, fp16, fp32"):
        autocast_dtype(CPU)


def test_auto_uses_bf16_on_cpu_only_where_the_probe_says_it_pays(monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    monkeypatch.setattr(runtime, "_cpu_has_bf16", lambda: True)
    for pays, expected in ((True, torch.bfloat16), (False, None)):
        monkeypatch.setattr(runtime, "_bf16_pays_off", lambda pays=pays: pays)
        assert autocast_dtype(CPU) is expected
    monkeypatch.setattr(runtime, "_cpu_has_bf16", lambda: False)
    assert autocast_dtype(CPU) is None  # no bf16 instructions: never probed, plain fp32


def test_the_probe_really_times_both_paths(monkeypatch):
    """The probe runs real convolutions, forward and backward, in fp32 and under bf16 autocast in
    turn (a warm-up pair, then seven timed pairs), and decides from what they cost."""
    runs = []  # [output dtype, whether its gradient arrived] per convolution
    clock = {"t": 0.0}
    real_conv2d = runtime.F.conv2d

    def conv2d(*args, **kw):
        y = real_conv2d(*args, **kw)
        clock["t"] += 1.0 if y.dtype == torch.bfloat16 else 3.0  # bf16 three times as fast
        runs.append([y.dtype, False])
        y.register_hook(lambda g, run=runs[-1]: run.__setitem__(1, True))
        return y

    monkeypatch.setattr(runtime.F, "conv2d", conv2d)
    monkeypatch.setattr(runtime.time, "perf_counter", lambda: clock["t"])
    runtime._bf16_pays_off.cache_clear()
    try:
        pays = runtime._bf16_pays_off()
    finally:
        runtime._bf16_pays_off.cache_clear()
    assert [dtype for dtype, _ in runs] == [torch.float32, torch.bfloat16] * 8
    assert all(backward for _, backward in runs), "a run did not go backward"
    assert pays is True


@pytest.mark.parametrize(
    ("h", "w"), [(375, 500), (500, 375), (333, 250), (1, 1), (100, 1000), (4000, 3000), (257, 256)]
)
def test_working_size_is_a_multiple_of_the_stride_and_keeps_the_shape(h, w):
    wh, ww = working_size(h, w)
    assert wh % SIZE_MULTIPLE == 0 and ww % SIZE_MULTIPLE == 0
    assert min(wh, ww) == WORKING_SHORT_SIDE
    # each side is within half a multiple of the exact scaling
    s = WORKING_SHORT_SIDE / min(h, w)
    assert abs(wh - h * s) <= SIZE_MULTIPLE / 2 and abs(ww - w * s) <= SIZE_MULTIPLE / 2


def test_real_photos_share_a_few_working_sizes(data_root):
    """The 598 photos of the release come in hundreds of sizes; the models see only a handful, so
    oneDNN's per-shape kernel cache (and the server's memory) stops growing after the first few."""
    sizes = set()
    for split in ("trainval", "test"):
        for name in read_split(data_root, split):
            with Image.open(data_root / "images" / f"{name}.jpg") as im:
                sizes.add(im.size[::-1])
    shapes = {working_size(h, w) for h, w in sizes}
    assert len(sizes) > 100
    assert len(shapes) <= 20 and len(shapes) * 10 < len(sizes), (len(sizes), sorted(shapes))


_FAULTS = """
import resource, sys, torch
from fcn_demo.core.runtime import keep_freed_memory
torch.set_num_threads(1)
if sys.argv[1] == "keep":
    assert keep_freed_memory()
net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3, padding=1))
x = torch.rand(4, 3, 256, 256)  # activations of 32 MiB: above glibc's largest mmap threshold
def step():
    net(x).square().mean().backward()
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step(); step()  # the same steps again: do their blocks fault their pages in again?
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(runtime._libc() is None, reason="glibc only")
def test_keep_freed_memory_reuses_large_blocks_without_page_faults():
    # Each in its own process (mallopt is process-wide), both at once (page faults are counted per process).
    procs = [subprocess.Popen([sys.executable, "-c", _FAULTS, mode], stdout=subprocess.PIPE, cwd=REPO_ROOT, text=True)
             for mode in ("default", "keep")]  # fmt: skip
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    default, kept = (int(out.split()[-1]) for out in outs)
    assert kept * 5 < default, (default, kept)


def test_bf16_probe_survives_a_load_change_during_the_probe(monkeypatch):
    """The precision probe once picked fp32 on a CPU where bf16 trains 2.65x faster, because another
    process started while it ran: all fp32 timings were taken before, all bf16 ones after. Here the
    machine gets 4x slower from the sixth convolution on; bf16 is twice as fast throughout."""
    from fcn_demo.core import runtime

    clock = {"t": 0.0, "calls": 0}

    def fake_conv2d(x, weight, padding=0):
        clock["calls"] += 1
        cost = 1.0 if torch.is_autocast_enabled("cpu") else 2.0
        clock["t"] += cost * (4.0 if clock["calls"] > 5 else 1.0)
        return x * 1.0

    monkeypatch.setattr(runtime.F, "conv2d", fake_conv2d)
    monkeypatch.setattr(runtime.time, "perf_counter", lambda: clock["t"])
    runtime._bf16_pays_off.cache_clear()
    try:
        assert runtime._bf16_pays_off(), "bf16 is 2x faster in every pair of runs"
    finally:
        runtime._bf16_pays_off.cache_clear()
