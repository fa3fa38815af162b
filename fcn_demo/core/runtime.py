"""Device, precision and the one way a model is run on an image of any size."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F

# The working size's constants and rule live in fcn_demo.core.preprocess; these names stay importable here.
from fcn_demo.core.preprocess import SIZE_MULTIPLE, WORKING_SHORT_SIDE, Preprocess, restore, working_size  # noqa: F401


def pick_device() -> torch.device:
    """CUDA when there is one, else CPU. Called once; the device is passed on explicitly."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# Precision: "auto" (default) | "bf16" | "fp16" | "fp32", from this environment variable.
PRECISION_ENV = "FCN_DEMO_PRECISION"
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}
# bf16 must beat fp32 by this factor in the probe to be chosen (a tie would flip from run to run).
BF16_MIN_GAIN = 1.2


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``device``, or None (plain fp32).

    ``$FCN_DEMO_PRECISION`` forces one. "auto": bf16 on CUDA where supported (else fp16); on a CPU,
    bf16 only where it is measurably faster. CPUs that list AVX512-BF16 differ a lot: on an AMD
    EPYC (Zen 4) bf16 + channels_last trains ~3.5x faster than fp32, on an Intel Xeon without AMX
    it is *slower* (both measured by bench/speed.py on this project's machines), so the flag alone
    cannot decide and :func:`_bf16_pays_off` times it once per process.
    """
    choice = os.environ.get(PRECISION_ENV, "auto").strip().lower()
    if choice in _DTYPES:
        return _DTYPES[choice]
    if choice != "auto":
        raise ValueError(f"{PRECISION_ENV}={choice!r}: use auto, {', '.join(_DTYPES)}")
    if device.type == "cuda":
        return reduced_dtype(device)
    if device.type == "cpu" and torch.backends.mkldnn.is_available() and _cpu_has_bf16() and _bf16_pays_off():
        return reduced_dtype(device)
    return None


def reduced_dtype(device: torch.device) -> torch.dtype:
    """The half-precision dtype ``device`` would autocast to: bf16, or fp16 on GPUs without bf16."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


@functools.cache
def _cpuinfo() -> str:
    """/proc/cpuinfo, read once ("" where there is none)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_name() -> str:
    """The CPU's model name (e.g. "AMD EPYC 9R14"), for the record of where something was measured."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cpu_has_bf16() -> bool:
    flags = _cpuinfo()
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def _bf16_pays_off() -> bool:
    """Time a VGG-like 3x3 convolution (forward and backward, channels_last) in fp32 and under
    bf16 autocast, in seven interleaved pairs (~0.3 s); True if bf16 wins by BF16_MIN_GAIN in the
    median pair. Pairs, not two blocks of runs: a process that starts (or stops) while the probe
    runs slows both sides of a pair alike, where it once made every bf16 run of a block slow and
    the app fell back to fp32 on a CPU where bf16 is 2.65x faster."""
    gen = torch.Generator().manual_seed(0)
    # A bare convolution, not an nn.Module: this is a probe of the CPU, not a model run.
    weight = torch.randn(128, 128, 3, 3, generator=gen).contiguous(memory_format=torch.channels_last)
    x = torch.randn(1, 128, 48, 48, generator=gen).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)

    def run(dtype: torch.dtype | None) -> float:
        t0 = time.perf_counter()
        with autocast(torch.device("cpu"), dtype):
            y = F.conv2d(x, weight, padding=1)
        y.float().sum().backward()
        return time.perf_counter() - t0

    run(None), run(torch.bfloat16)  # warm-up: oneDNN picks its kernels on the first run of each
    ratios = sorted(run(None) / run(torch.bfloat16) for _ in range(7))
    return ratios[len(ratios) // 2] >= BF16_MIN_GAIN


def autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context for ``device`` (a no-op when ``dtype`` is None)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@torch.inference_mode()
def run_model(
    model: torch.nn.Module,
    image: torch.Tensor,
    device: torch.device,
    dtype: torch.dtype | None = None,
    preprocess: Preprocess | None = None,
    **forward_kwargs,
) -> dict[str, torch.Tensor]:
    """Run ``model`` on one image (3, H, W) float [0, 1]: resized to its working size, all outputs
    returned in fp32 on the CPU, ``out`` mapped back to (H, W).

    ``preprocess``: the working-size rule; default the model's own record (its config.json)."""
    h, w = image.shape[-2:]
    prep = Preprocess.of(model) if preprocess is None else preprocess
    x = prep.to_working(image.unsqueeze(0).to(device)).contiguous(memory_format=torch.channels_last)
    with autocast(device, dtype):
        out = model(x, **forward_kwargs)
    out = {k: v.float().cpu() for k, v in out.items()}
    if out["out"].shape[-2:] != (h, w):  # the model ran at a working size: map back
        out["out"] = restore(out["out"], (h, w))
    return out


# mallopt() parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -3, -4, -8


def _libc() -> ctypes.CDLL | None:
    """glibc, for mallopt / malloc_trim (None elsewhere: musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 (both must exist)
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """For training (one process, same-sized steps): let freed blocks stay in the heap, ready for
    the next step. Returns False where this is not glibc.

    By default glibc gives each block over 32 MiB (a training step's activations and gradients:
    a U-Net batch of 8 at 224 px has dozens) its own pages and returns them to the OS when freed, so
    every step pays page faults to get them back, zero-filled. ``M_MMAP_MAX = 0`` serves them from
    the heap, and a huge ``M_TRIM_THRESHOLD`` keeps the heap's free top. bench/speed.py times the
    U-Net's step both ways (the README's speed table); the FCNs gain less, their large activations
    being fewer. The price is that RSS stays at the peak of a step, which a training run reaches
    anyway. The server does the opposite (:func:`release_memory_periodically`): its many threads
    and input sizes would fragment a heap kept this way.
    """
    libc = _libc()
    if libc is None:
        return False
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(2**31 - 1))
    return True


def release_memory_periodically(
    every_s: float = 30.0, arenas: int = 2, mmap_threshold: int = 4 << 20
) -> threading.Thread | None:
    """Keep a long-running server's heap from creeping up (glibc only; returns None elsewhere).
    Call it first thing, before threads start allocating.

    The models' activations are blocks of tens of MiB, allocated and freed on every request from
    many threads, and glibc's malloc keeps freed memory in fragmented arenas instead of returning it:
    a server's RSS once grew by 1.3 GB over the 200 requests of bench/load.py. (The other source of
    growth, oneDNN's per-shape kernel cache, is bounded by ``working_size``'s rounding instead.)
    Three settings bound it:

    - ``mallopt(M_MMAP_THRESHOLD, 4 MiB)``: blocks this big (the activations) get their own pages
      and go back to the OS when freed. By default glibc raises the threshold to 32 MiB after the
      first such free, so activations land in the heap and fragment it.
    - ``mallopt(M_ARENA_MAX, 2)``: the server's worker threads (up to 40) share two arenas
      instead of up to 8 per core, each keeping its own free pages.
    - ``malloc_trim(0)`` every ``every_s`` seconds returns the free pages left in the heap. After
      every request it would cost about 12% latency (the pages are faulted in again); every 30 s
      it costs nothing measurable.
    """
    libc = _libc()
    if libc is None:
        return None
    trim = libc.malloc_trim
    libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
    libc.mallopt(_M_ARENA_MAX, arenas)

    def loop() -> None:
        while True:
            time.sleep(every_s)
            trim(0)  # ctypes releases the GIL for the call: requests keep running

    thread = threading.Thread(target=loop, name="malloc-trim", daemon=True)
    thread.start()
    return thread
