"""The request layer: one input image -> one :class:`Analysis`, everything every view shows for it.

The flow of one request (the UI, the ``segment`` API and ``bench/speed.py`` all go through it):

1. In the server process, :func:`fcn_demo.core.inputs.load_input` validates the upload and
   :func:`fcn_demo.core.samples.match_ground_truth` finds its trimap if it is a gallery sample.
2. :meth:`Analyzer.analyze` does all the model work of the request, and nothing else may run a
   model: it resizes the image to the models' working size once (their preprocessing record,
   :mod:`fcn_demo.core.preprocess`), runs every model once, and derives every skip ablation from
   the score maps that forward pass returned (switching a skip off changes only the sum of score
   maps, :meth:`FCN.refuse`, not the backbone). On a ZeroGPU Space this
   is the one ``@spaces.GPU`` call of a user action, in a forked worker, so it returns plain CPU
   data (numpy arrays, floats, strings) that pickles back and keeps no state behind.
3. :class:`Requests` ties the two together with a small result cache in the server process, so a
   class of thirty clicking the same sample runs the models once, and says when a result was cached.
   The ``probe`` API is a model step of its own: :meth:`Requests.probe` validates the image and runs
   only the probe (:mod:`fcn_demo.request.probe`), no analysis.

Maps derived from the masks (where the models disagree, :mod:`fcn_demo.request.derived`) are computed
once per request, on first use; download files are written only when asked (:mod:`fcn_demo.request.export`).

Views (:mod:`fcn_demo.page.views`) turn an Analysis plus view settings (opacity, class, switches) into
pictures and words without touching a model.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from fcn_demo.core.data import CLASSES
from fcn_demo.core.inputs import InputError, PreparedImage, load_input
from fcn_demo.core.metrics import image_metrics
from fcn_demo.core.preprocess import Preprocess, restore, shared
from fcn_demo.core.runtime import autocast, autocast_dtype
from fcn_demo.core.samples import match_ground_truth
from fcn_demo.models import get_variant
from fcn_demo.request.derived import Disagreement, disagreement
from fcn_demo.request.probe import Probe, probe
from fcn_demo.request.probe_grid import ProbeGrid

CACHE_SIZE = 24  # analyses kept in the server process (a few MB each), shared by all visitors
# What a model step may hold a ZeroGPU GPU for (the duration spaces.GPU requests; the visitor's quota
# must cover it 1.5 times, and a shorter request waits less in ZeroGPU's queue): a fresh worker's
# start-up, plus the step at so many seconds per model and megapixel of working size.
# bench/gpu_time.py times both steps on a 2-core CPU (README, "GPU time per call"): the step figures are
# that time divided by 6, and a GPU runs these convolutions far more than 6 times faster than two CPU
# cores. The largest accepted image (a 10:1 strip, working size 256x2560) asks for 11 s, under 13 s,
# so a visitor with 20 s of quota left still gets any answer.
GPU_COLD_S = 5.0  # CUDA context, ~120 MB of weights to the GPU, first kernels: a margin (no GPU here to time it)
GPU_S_PER_MPX = {"analyze": 1.0, "probe": 2.0}  # per model and megapixel of working size
# "Almost no pet": every model labels less than this share of the image as pet.
NO_PET_FRACTION = 0.01


def combos(skips: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every non-empty set of ``skips`` to switch off, as sorted tuples (the ablation's keys)."""
    return [tuple(sorted(c)) for k in range(1, len(skips) + 1) for c in itertools.combinations(skips, k)]


@dataclass
class ModelAnswer:
    """One model's answer for one image, plain CPU data."""

    name: str
    title: str
    mask: np.ndarray  # (h, w) uint8 class indices at the display size
    maps: dict[str, np.ndarray]  # forward-dict key -> (C, h', w') float16 class scores at the map's own stride
    ms: float  # the model's forward pass (and its ablations' fusions), excluding decoding and drawing
    # (h, w) uint8: the winning class's softmax probability x 255 at each pixel (its confidence).
    confidence: np.ndarray | None = None
    metrics: dict[str, float] | None = None  # against the ground truth, for samples
    # Dropped skips (sorted tuple) -> the mask without them, and its metrics (None without ground truth).
    ablations: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)
    ablation_metrics: dict[tuple[str, ...], dict | None] = field(default_factory=dict)

    def class_fractions(self) -> list[float]:
        """The share of the image each class covers in the mask."""
        return (np.bincount(self.mask.ravel(), minlength=len(CLASSES)) / self.mask.size).tolist()

    def ablated(self, drops: tuple[str, ...]) -> np.ndarray:
        """The mask with ``drops`` switched off (the full mask for none)."""
        key = tuple(sorted(drops))
        return self.ablations[key] if key else self.mask


@dataclass
class Analysis:
    """Everything every view shows for one image."""

    digest: str  # content hash of the input: the cache key
    sample: str | None  # the gallery sample's name, if it is one
    rgb: np.ndarray  # (h, w, 3) uint8 at the display size
    original_size: tuple[int, int]  # (H, W) of the upload
    gt: np.ndarray | None  # (h, w) ground truth at the display size (samples only)
    notes: list[str]  # what the input conversion did
    work_size: tuple[int, int]  # (h, w) the models ran at
    models: dict[str, ModelAnswer]
    unavailable: dict[str, str] = field(default_factory=dict)  # model name -> why it is not loaded
    ms: float = 0.0  # the whole model step (the GPU call)
    cached: bool = False  # served from the result cache: no model ran for this request

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]

    @property
    def label(self) -> str:
        """How the views name the image: the sample's name, or "your photo"."""
        return self.sample or "your photo"

    @functools.cached_property
    def disagreement(self) -> Disagreement:
        """Where the models' masks differ: computed on first use, once per request."""
        return disagreement({n: m.mask for n, m in self.models.items()}, self.gt)

    def no_pet(self) -> bool:
        """Whether every model found (almost) no pet: likely not a cat or dog at all."""
        return bool(self.models) and all(
            m.class_fractions()[CLASSES.index("pet")] < NO_PET_FRACTION for m in self.models.values()
        )


class Analyzer:
    """Runs the loaded models on prepared images: the model work of a request.

    Args:
        models: variant name -> nn.Module (eval mode, on ``device``); order is the display order.
        device: where the models live (chosen once by the caller).
    """

    def __init__(self, models: dict[str, nn.Module], device: torch.device | str = "cpu") -> None:
        self.models = dict(models)
        self.device = torch.device(device)
        self.dtype = autocast_dtype(self.device)
        # Every model's working size comes from its own config (fcn_demo.core.preprocess); they must share one.
        self.preprocess: Preprocess = shared(Preprocess.of(m) for m in self.models.values())

    def work_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """``rgb`` at the working size the models were trained at, (1, 3, h, w) float [0, 1], channels_last."""
        return self.preprocess.input_tensor(rgb, self.device)

    def warmup(self) -> None:
        """One forward per model at a typical working size, so the first visitor does not pay the
        one-time kernel set-up. (Not on ZeroGPU: there the server process runs no model.)"""
        short = self.preprocess.short_side
        rgb = np.zeros((short, short * 4 // 3, 3), dtype=np.uint8)  # a landscape photo
        self.analyze(PreparedImage(rgb, rgb.shape[:2], "warmup"), None, None)

    @torch.inference_mode()
    def _answer(self, name: str, x: torch.Tensor, size: tuple[int, int], gt: np.ndarray | None) -> ModelAnswer:
        variant, model = get_variant(name), self.models[name]
        t0 = time.perf_counter()
        with autocast(self.device, self.dtype):
            out = model(x)
            # The ablations: the same score maps, fused without some skips.
            fused = {drops: model.refuse(out, drops)["out"] for drops in combos(variant.skips)}

        def upsample(logits: torch.Tensor) -> torch.Tensor:
            return restore(logits.float(), size)

        def to_mask(logits: torch.Tensor) -> np.ndarray:
            return upsample(logits).argmax(1)[0].to(torch.uint8).cpu().numpy()

        conf, best = upsample(out["out"]).softmax(1).max(1)
        mask = best[0].to(torch.uint8).cpu().numpy()
        confidence = (conf[0] * 255).round().to(torch.uint8).cpu().numpy()
        ablations = {drops: to_mask(logits) for drops, logits in fused.items()}
        ms = (time.perf_counter() - t0) * 1000
        maps = {m.key: out[m.key][0].to(torch.float16).cpu().numpy() for m in variant.maps if m.key in out}
        metrics = image_metrics(mask, gt) if gt is not None else None
        ab_metrics = {d: (image_metrics(m, gt) if gt is not None else None) for d, m in ablations.items()}
        return ModelAnswer(name, variant.title, mask, maps, ms, confidence, metrics, ablations, ab_metrics)

    def analyze(
        self, image: PreparedImage, gt: np.ndarray | None, sample: str | None, names: list[str] | None = None
    ) -> Analysis:
        """All the model work for one image: every model (``names``, default all) once, with its
        ablations and metrics. Returns plain data; keeps nothing."""
        t0 = time.perf_counter()
        x = self.work_tensor(image.rgb)
        names = list(self.models) if names is None else names
        answers = {n: self._answer(n, x, image.size, gt) for n in names}
        return Analysis(
            digest=image.digest,
            sample=sample,
            rgb=image.rgb,
            original_size=image.original_size,
            gt=gt,
            notes=list(image.notes),
            work_size=tuple(x.shape[-2:]),
            models=answers,
            ms=(time.perf_counter() - t0) * 1000,
        )

    def probe(self, rgb: np.ndarray, x: int, y: int) -> Probe:
        """The pixel probe at (x, y) of ``rgb`` (the display-size image): every model's
        probabilities and receptive fields there (:func:`fcn_demo.request.probe.probe`). Model work, like
        :meth:`analyze`: plain data back, nothing kept."""
        return probe(self.models, rgb, x, y, self.preprocess, self.device, self.dtype)

    def gpu_seconds(self, kind: str, size: tuple[int, int], models: int | None = None) -> int:
        """Whole seconds a model step of ``kind`` ("analyze" or "probe") may take on an image of
        display ``size`` (h, w) with ``models`` models (default all): see :data:`GPU_S_PER_MPX`."""
        h, w = self.preprocess.working_size(*size)
        n = len(self.models) if models is None else models
        return math.ceil(GPU_COLD_S + n * GPU_S_PER_MPX[kind] * h * w / 1e6)

    def analyze_seconds(self, image: PreparedImage, gt=None, sample=None, names: list[str] | None = None) -> int:
        """spaces.GPU's duration for :meth:`analyze`, called with the same arguments."""
        return self.gpu_seconds("analyze", image.size, None if names is None else len(names))

    def probe_seconds(self, rgb: np.ndarray, x: int, y: int) -> int:
        """spaces.GPU's duration for :meth:`probe`, called with the same arguments."""
        return self.gpu_seconds("probe", rgb.shape[:2])


class Requests:
    """The request layer the UI, the API and the benchmark call: input in, :class:`Analysis` out.

    Args:
        run: the model step, ``run(image, gt, sample) -> Analysis``: :meth:`Analyzer.analyze`, or
            the same wrapped by ``spaces.GPU`` so that it runs in ZeroGPU's worker.
        unavailable: model name -> why it could not be loaded (reported with every answer).
        probe: the probe step, ``probe(rgb, x, y) -> Probe``: :meth:`Analyzer.probe`, or the same
            wrapped by ``spaces.GPU`` (the ``probe`` API runs it alone: :meth:`probe`).
        grid: the gallery samples' precomputed probes (:mod:`fcn_demo.request.probe_grid`), used for
            the models of ``weights`` (name -> weights digest) when it holds their answers.
    """

    def __init__(
        self,
        run: Callable[[PreparedImage, np.ndarray | None, str | None], Analysis],
        unavailable: dict[str, str] | None = None,
        cache_size: int = CACHE_SIZE,
        probe: Callable[[np.ndarray, int, int], Probe] | None = None,
        grid: ProbeGrid | None = None,
        weights: dict[str, str | None] | None = None,
    ) -> None:
        self.run = run
        self.run_probe = probe
        self.grid, self.weights = grid, dict(weights or {})
        self.unavailable = dict(unavailable or {})
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Analysis] = OrderedDict()
        self._lock = threading.Lock()

    def analyze(self, source) -> Analysis:
        """Validate ``source`` (path, bytes, PIL image or array; raises InputError with a fix-it
        message), then return its analysis, from the cache when this image was seen recently."""
        image = load_input(source)
        with self._lock:
            hit = self._cache.get(image.digest)
            if hit is not None:
                self._cache.move_to_end(image.digest)
                return replace(hit, cached=True, notes=list(image.notes))
        gt, sample = match_ground_truth(image.source_bytes, image.size, image.original_size)
        # The upload's bytes stay here: the model step gets (and pickles) only the pixels.
        result = self.run(replace(image, source_bytes=None), gt, sample)
        result.unavailable = dict(self.unavailable)
        with self._lock:
            self._cache[image.digest] = result
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return result

    def probe(self, source, x: float, y: float) -> Probe:
        """Validate ``source`` as :meth:`analyze` does and run only the probe step at pixel (x, y),
        column and row in the image's own (original) pixels: no analysis, no cache."""
        if self.run_probe is None:
            raise RuntimeError("Requests was made without a probe step")
        image = load_input(source)
        (h, w), (big_h, big_w) = image.size, image.original_size
        if not (0 <= x < big_w and 0 <= y < big_h):
            raise InputError.say("gen.error.point_outside", title="gen.error.title_point", x=x, y=y, w=big_w, h=big_h)
        return self.probe_pixel(image.digest, image.rgb, int(x * w / big_w), int(y * h / big_h))

    def precomputed(self, digest: str) -> bool:
        """Whether image ``digest``'s probes are precomputed for every loaded model (a gallery sample)."""
        return self.grid is not None and self.grid.covers(digest, self.weights)

    def probe_pixel(self, digest: str, rgb: np.ndarray, x: int, y: int) -> Probe:
        """The probe at display pixel (x, y) of ``rgb`` (image ``digest``): from the samples' grid,
        snapped to its cell, in milliseconds and without a model; otherwise the probe step, live."""
        if self.run_probe is None:
            raise RuntimeError("Requests was made without a probe step")
        hit = self.grid.probe(digest, rgb, x, y, self.weights) if self.precomputed(digest) else None
        return hit if hit is not None else self.run_probe(rgb, x, y)

    def clear(self) -> None:
        """Forget every cached analysis (the benchmark times uncached requests)."""
        with self._lock:
            self._cache.clear()
