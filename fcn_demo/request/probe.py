"""The pixel probe: what each model answers at one pixel, and which input pixels that answer depends on.

For every model, at one pixel of the photo: its class probabilities, and two receptive fields.

- The *theoretical* field: the box of input pixels that can influence the pixel at all, from the
  layer arithmetic of every path to it (:meth:`FCN.receptive_field`, :meth:`UNet.receptive_field`).
  For a fused output it is the union of its paths, so the skips cannot shrink it.
- The *effective* field: how much each input pixel does influence it, the magnitude of the gradient
  of the pixel's winning logit with respect to the input (real autograd through the real model),
  and the radius around the pixel that holds 90% of that gradient mass.

:func:`probe` is model work only (on a ZeroGPU Space it runs inside the one ``@spaces.GPU`` call
of a click, via :meth:`fcn_demo.request.analysis.Analyzer.probe`; the ``probe`` API reaches it
through :meth:`~fcn_demo.request.analysis.Requests.probe`): it returns plain CPU data (numpy
arrays, floats, strings) that pickles, and keeps nothing. This module imports nothing of the rest
of the request layer, which imports it. Pixels are (x, y) of the display-size image the page shows; the
models run at their working size, where the probed pixel is the one whose area holds the click.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fcn_demo.core.i18n import class_name, join_and, listing, text
from fcn_demo.core.preprocess import Preprocess
from fcn_demo.core.runtime import autocast
from fcn_demo.models import VARIANTS, get_variant

MASS = 0.9  # the effective field's radius holds this share of the gradient mass
HEAT_SIGMA = 2.0  # Gaussian blur of the heat map, in working pixels
HEAT_PERCENTILE = 99.5  # the heat map's top colour: this percentile of the blurred field (the peak is a spike)


@dataclass
class ModelProbe:
    """One model's answer at the probed pixel and its receptive fields (plain CPU data)."""

    name: str
    title: str
    probs: np.ndarray  # (C,) float32 softmax at the probed working pixel
    winner: int  # the class with the highest probability
    field_px: int  # theoretical field width in working pixels (the widest box any output pixel has)
    box_work: tuple[int, int, int, int]  # (top, left, bottom, right), inclusive, working pixels, clipped
    box: tuple[int, int, int, int]  # the same box in display pixels
    # (H, W) float32 |d winning logit / d input| summed over RGB, working size (raw); None when the
    # answer comes from the samples' precomputed grid (fcn_demo.request.probe_grid), which keeps only the heat
    grad: np.ndarray | None
    heat: np.ndarray  # (h, w) uint8 the same, blurred and normalised, display size
    radius_px: float  # working pixels around the probed pixel holding MASS of the gradient
    radius_frac: float  # radius_px / the working image's shorter side
    ms: float  # forward + backward pass
    precision: str  # "bf16" or "fp32": what the gradient was computed in

    @property
    def confidence(self) -> float:
        return float(self.probs[self.winner])


@dataclass
class Probe:
    """Every model's :class:`ModelProbe` at one pixel, and the sentence that compares them."""

    x: int  # the probed pixel, display pixels
    y: int
    size: tuple[int, int]  # (h, w) display size
    work_size: tuple[int, int]  # (H, W) the models ran at
    work_xy: tuple[int, int]  # the probed pixel at the working size, (x, y)
    models: dict[str, ModelProbe]
    sentence: str
    ms: float  # the whole probe (the GPU call)
    precomputed: bool = False  # answered from the samples' grid (fcn_demo.request.probe_grid): snapped to its cell


def to_work(x: int, y: int, size: tuple[int, int], work_size: tuple[int, int]) -> tuple[int, int]:
    """The working pixel (x, y) whose area holds the centre of display pixel (x, y)."""
    (h, w), (hw, ww) = size, work_size
    return min(ww - 1, (2 * x + 1) * ww // (2 * w)), min(hw - 1, (2 * y + 1) * hw // (2 * h))


def box_to_display(
    box: tuple[int, int, int, int], work_size: tuple[int, int], size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """A working-pixel box (inclusive) as the display pixels its pixels cover (inclusive)."""
    (hw, ww), (h, w) = work_size, size
    top, left, bottom, right = box
    return (top * h // hw, left * w // ww, min(h - 1, -(-(bottom + 1) * h // hw) - 1),
            min(w - 1, -(-(right + 1) * w // ww) - 1))  # fmt: skip


def mass_radius(grad: np.ndarray, x: int, y: int, mass: float = MASS) -> float:
    """The smallest distance from pixel (x, y) within which ``mass`` of ``grad``'s total lies
    (0 for an all-zero gradient)."""
    total = float(grad.sum())
    if total <= 0:
        return 0.0
    yy, xx = np.indices(grad.shape)
    dist = np.hypot(yy - y, xx - x).ravel()
    order = np.argsort(dist, kind="stable")
    cum = np.cumsum(grad.ravel()[order], dtype=np.float64)
    return float(dist[order[np.searchsorted(cum, mass * total)]])


def heat_map(grad: np.ndarray, size: tuple[int, int], sigma: float = HEAT_SIGMA) -> np.ndarray:
    """``grad`` blurred (Gaussian, ``sigma`` working pixels), resized to ``size`` and scaled to
    uint8 with HEAT_PERCENTILE of its non-zero values at 255."""
    radius = max(1, math.ceil(3 * sigma))
    k = torch.exp(-((torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2) / 2)
    k = k / k.sum()
    g = torch.from_numpy(grad)[None, None]
    g = F.conv2d(g, k.view(1, 1, 1, -1), padding=(0, radius))
    g = F.conv2d(g, k.view(1, 1, -1, 1), padding=(radius, 0))
    g = F.interpolate(g, size=size, mode="bilinear", align_corners=False)[0, 0].clamp_(min=0).numpy()
    nonzero = g[g > 0]
    top = float(np.percentile(nonzero, HEAT_PERCENTILE)) if nonzero.size else 1.0
    return (np.clip(g / top, 0, 1) * 255).round().astype(np.uint8)


def _grad_dtype(dtype: torch.dtype | None) -> torch.dtype | None:
    # bf16 keeps fp32's exponent range, so small gradients do not underflow; fp16 would need a
    # gradient scaler, which one backward pass is not worth.
    return dtype if dtype == torch.bfloat16 else None


def forward(model, x: torch.Tensor, dtype: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's output logits on a copy of ``x`` that autograd can differentiate: (that copy, logits)."""
    # The caller may run under inference_mode/no_grad (the app's other model calls do); the clone
    # outside inference mode is a tensor autograd may use, whatever mode ``x`` was made in.
    with torch.inference_mode(False), torch.enable_grad():
        inp = x.detach().clone().requires_grad_(True)
        with autocast(x.device, dtype):
            return inp, model(inp)["out"]


def _logits_and_grad(model, x: torch.Tensor, wx: int, wy: int, dtype: torch.dtype | None, done=None):
    """The logits at working pixel (wx, wy) and the input gradient of the winning one (``done``: a
    :func:`forward` of ``x`` already made, whose graph is kept for the next pixel's gradient)."""
    inp, out = done if done is not None else forward(model, x, dtype)
    with torch.inference_mode(False), torch.enable_grad():
        logits = out[0, :, wy, wx].float()
        winner = int(logits.argmax())
        # autograd.grad, not backward(): no parameter's .grad is touched (nothing is left behind,
        # concurrent probes do not race) and no weight gradient is computed.
        (grad,) = torch.autograd.grad(logits[winner], inp, retain_graph=done is not None)
    return logits.detach(), winner, grad


def probe_model(
    name: str,
    model: nn.Module,
    x: torch.Tensor,
    wx: int,
    wy: int,
    size: tuple[int, int],
    dtype: torch.dtype | None,
    done: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> ModelProbe:
    """Model ``name``'s probe at working pixel (wx, wy) of ``x`` (the working-size image); ``size``:
    display (h, w); ``dtype``: the autocast dtype the models run in; ``done``: its :func:`forward`
    of ``x`` in the gradient's dtype (``_grad_dtype``), when many pixels are probed on one image."""
    variant = get_variant(name)
    work_size = tuple(x.shape[-2:])
    t0 = time.perf_counter()
    dtype = _grad_dtype(dtype)
    try:
        logits, winner, grad = _logits_and_grad(model, x, wx, wy, dtype, *([done] if done is not None else []))
    except RuntimeError:
        if dtype is None or done is not None:
            raise
        dtype = None  # a backend without a bf16 backward for some layer: fp32 works everywhere
        logits, winner, grad = _logits_and_grad(model, x, wx, wy, dtype)
    raw = grad[0].float().abs().sum(0).cpu().numpy()
    ms = (time.perf_counter() - t0) * 1000
    field = model.receptive_field()
    box_work = field.box(wy, wx, work_size)
    radius = mass_radius(raw, wx, wy)
    return ModelProbe(
        name=name,
        title=variant.title,
        probs=logits.softmax(0).cpu().numpy().astype(np.float32),
        winner=winner,
        field_px=field.size(),
        box_work=box_work,
        box=box_to_display(box_work, work_size, size),
        grad=raw,
        heat=heat_map(raw, size),
        radius_px=radius,
        radius_frac=radius / min(work_size),
        ms=ms,
        precision="bf16" if dtype == torch.bfloat16 else "fp32",
    )


def probe(
    models: Mapping[str, nn.Module],
    rgb: np.ndarray,
    x: int,
    y: int,
    preprocess: Preprocess,
    device: torch.device,
    dtype: torch.dtype | None = None,
) -> Probe:
    """Probe every model of ``models`` (name -> model on ``device``, sharing the working-size rule
    ``preprocess``) at pixel (x, y) of ``rgb`` ((h, w, 3) uint8, display size)."""
    if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
        raise ValueError(f"rgb must be an (h, w, 3) uint8 array, got {getattr(rgb, 'shape', type(rgb))}")
    h, w = rgb.shape[:2]
    x, y = round(x), round(y)
    if not (0 <= x < w and 0 <= y < h):
        raise ValueError(f"pixel ({x}, {y}) is outside the {w}x{h} image: pick x in 0..{w - 1}, y in 0..{h - 1}")
    t0 = time.perf_counter()
    xw = preprocess.input_tensor(rgb, device)
    work_size = tuple(xw.shape[-2:])
    wx, wy = to_work(x, y, (h, w), work_size)
    answers = {name: probe_model(name, model, xw, wx, wy, (h, w), dtype) for name, model in models.items()}
    return Probe(
        x=x,
        y=y,
        size=(h, w),
        work_size=work_size,
        work_xy=(wx, wy),
        models=answers,
        sentence=sentence(x, y, work_size, answers),
        ms=(time.perf_counter() - t0) * 1000,
    )


def sentence(x: int, y: int, work_size: tuple[int, int], models: dict[str, ModelProbe], lang: str = "en") -> str:
    """One sentence from the numbers: what the models say and how sure, how wide their theoretical
    and effective fields are (in ``lang``, one of fcn_demo.core.i18n.LOCALES)."""
    if not models:
        return text(lang, "gen.probe.none", x=x, y=y)
    ms = list(models.values())
    surest = max(ms, key=lambda m: m.confidence)
    says = {}
    for m in ms:
        says.setdefault(m.winner, []).append(m.title)
    sure = {"x": x, "y": y, "surest": surest.title, "cls": class_name(lang, surest.winner), "conf": surest.confidence}
    if len(says) == 1:
        every = set(models) == set(VARIANTS)  # every registered model answered (the text says "all four")
        who = text(lang, "gen.probe.all_four") if every else join_and(lang, [m.title for m in ms])
        verdict = text(lang, "gen.probe.agree", who=who, **sure)
    else:
        split = listing(lang, (text(lang, "gen.probe.says", models=join_and(lang, t), cls=class_name(lang, c))
                        for c, t in says.items()), strong=True)  # fmt: skip
        verdict = text(lang, "gen.probe.disagree", split=split, **sure)
    hw, ww = work_size
    cover = [(m.box_work[2] - m.box_work[0] + 1) * (m.box_work[3] - m.box_work[1] + 1) / (hw * ww) for m in ms]
    lo, hi = min(cover), max(cover)
    share = f"{lo:.0%}" if round(lo * 100) == round(hi * 100) else f"{lo:.0%}-{hi:.0%}"
    fields = listing(lang, (f"{m.title} {m.field_px}" for m in ms))
    radii = listing(lang, (text(lang, "gen.probe.radius_of", d=2 * m.radius_px, model=m.title) for m in ms))
    return text(lang, "gen.probe.sentence", verdict=verdict, fields=fields, w=ww, h=hw, share=share, mass=MASS,
                radii=radii)  # fmt: skip
