"""Image in -> per-model masks, the models' own intermediate maps, timings and metrics out. No UI.

The flow of one request:

1. :func:`load_input` validates and normalises whatever the user sent (a path, bytes, a PIL image
   or an array) into a :class:`PreparedImage`: RGB uint8 at a display size of at most
   ``DISPLAY_MAX_SIDE`` px, with the original size remembered. Anything that cannot be fixed raises
   :class:`InputError`, whose message says what to do; anything that can be fixed (CMYK,
   transparency, 16-bit, grayscale, animation) is converted and described in ``notes``.
2. :meth:`Segmenter.segment` resizes the image to the models' working size once and runs every
   model on that one tensor. Each :class:`ModelResult` keeps the mask (display size), the teaching
   maps exactly as the model's ``forward`` returned them (each at its own stride) and the latency.
3. Results are cached by image digest, model and ablation, so re-rendering (opacity, class,
   error map) and toggling an ablation back never run a model again.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import warnings
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn

from .data import CLASSES
from .metrics import ConfusionMatrix
from .models import get_variant
from .runtime import WORKING_SHORT_SIDE, autocast_dtype, run_model, working_size
from .samples import find_sample, ground_truth
from .viz import mask_png

MIN_SIDE = 32  # below this the stride-32 nets have less than one cell of output
# Long side / short side. The models run at shorter side WORKING_SHORT_SIDE, so a 32x4000 strip (a few kB)
# would become 256x32000: minutes of compute and gigabytes of activations per model.
MAX_ASPECT = 10
MAX_PIXELS = 50_000_000  # refuse beyond: decoding more is a memory risk (decompression bombs)
MAX_FILE_BYTES = 50 * 1024 * 1024
DISPLAY_MAX_SIDE = 1024  # images are shown and masks computed at this size; bigger inputs are downscaled
CACHE_SIZE = 64  # model results kept (a few MB each)

SUPPORTED = "JPEG, PNG, WebP, GIF, BMP or TIFF"


class InputError(ValueError):
    """The input cannot be segmented; the message tells the user how to fix it."""


@dataclass
class PreparedImage:
    """A validated input: RGB at display size, plus what the user should know about the conversion."""

    rgb: np.ndarray  # (h, w, 3) uint8, long side <= DISPLAY_MAX_SIDE
    original_size: tuple[int, int]  # (H, W) of the upload, after EXIF rotation
    digest: str  # content hash: the cache key
    notes: list[str] = field(default_factory=list)
    source_bytes: bytes | None = None  # the uploaded file, for matching it to a sample

    @property
    def size(self) -> tuple[int, int]:
        """(h, w) of ``rgb``."""
        return self.rgb.shape[0], self.rgb.shape[1]


@dataclass
class ModelResult:
    """One model's answer for one image."""

    name: str
    title: str
    mask: np.ndarray  # (h, w) uint8 class indices at the display size
    maps: dict[str, np.ndarray]  # forward-dict key -> (C, h', w') float32 class scores at the map's own stride
    ms: float  # model latency (forward pass on the device, excluding decoding and drawing)
    work_size: tuple[int, int]  # (h, w) the model ran at; each map covers it at its own stride
    drop_skips: tuple[str, ...] = ()

    def class_fractions(self) -> list[float]:
        """The share of the image each class covers in the mask."""
        return (np.bincount(self.mask.ravel(), minlength=len(CLASSES)) / self.mask.size).tolist()


# ---------------------------------------------------------------------------- input validation


def _too_small(w: int, h: int) -> InputError:
    return InputError(
        f"The image is {w}x{h} pixels; it needs to be at least {MIN_SIDE}x{MIN_SIDE}. Upload a larger photo."
    )


def _check_size(w: int, h: int) -> None:
    """Refuse sizes the models cannot (or must not) run on, before anything is decoded."""
    if w * h > MAX_PIXELS:
        raise _too_big(w, h)
    if min(w, h) < MIN_SIDE:
        raise _too_small(w, h)
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise InputError(
            f"The image is {w}x{h} pixels, a very long strip: its long side can be at most {MAX_ASPECT} times "
            "its short side. Crop it closer to the pet and upload it again."
        )


def _too_big(w: int | None, h: int | None) -> InputError:
    size = f"{w}x{h} pixels ({w * h / 1e6:.0f} megapixels)" if w and h else "too large to decode safely"
    return InputError(
        f"The image is {size}; the limit is {MAX_PIXELS // 1_000_000} megapixels. "
        "Downscale it (for example to 4000 pixels on the long side) and upload it again."
    )


# Magic numbers of formats we read: a file that starts like one but does not open is damaged, not foreign.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")


def _truncated() -> InputError:
    return InputError(
        "The image file is truncated (the upload was cut off or the file is damaged). "
        "Re-download or re-export the photo and upload it again."
    )


def _to_rgb(im: Image.Image, notes: list[str]) -> Image.Image:
    """Convert any PIL mode to RGB the way a person would expect, noting lossy or unusual steps."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(im).astype(np.float64)
        if mode == "F":
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) / (hi - lo or 1.0) * 255
            notes.append("Floating-point image: rescaled to 0-255 for display and inference.")
        else:
            arr = arr / 257 if arr.max() > 255 else arr
            notes.append("16-bit image: reduced to 8 bits per channel (the models see 8-bit photos).")
        gray = Image.fromarray(np.clip(arr.round(), 0, 255).astype(np.uint8), "L")
        notes.append("Grayscale image: the models were trained on colour photos, so expect weaker masks.")
        return gray.convert("RGB")
    if mode == "CMYK":
        notes.append("CMYK image (print colours): converted to RGB; colours may look slightly off.")
        return im.convert("RGB")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in im.info):
        rgba = (im.convert("LA") if mode == "La" else im).convert("RGBA")  # PIL has no La -> RGBA
        if rgba.getextrema()[3][0] < 255:
            notes.append("Transparent areas were filled with white.")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(bg, rgba).convert("RGB")
        if mode in ("LA", "La"):
            notes.append("Grayscale image: the models were trained on colour photos, so expect weaker masks.")
        return rgb
    if mode in ("L", "1"):
        notes.append("Grayscale image: the models were trained on colour photos, so expect weaker masks.")
    return im.convert("RGB")


def _display_size(w: int, h: int) -> tuple[int, int]:
    s = min(1.0, DISPLAY_MAX_SIDE / max(w, h))
    return max(1, round(w * s)), max(1, round(h * s))


def _decode(data: bytes, notes: list[str]) -> tuple[Image.Image, tuple[int, int]]:
    """Open, check, decode (at reduced size where JPEG allows) and convert; returns (RGB, (H, W))."""
    try:
        with warnings.catch_warnings():
            # PIL warns between 89 and 179 MP and raises above; we refuse anything over MAX_PIXELS anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise _too_big(None, None) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        if data.startswith(_SIGNATURES):
            raise _truncated() from e
        raise InputError(
            f"This file is not an image that can be read ({SUPPORTED}). "
            "If it is an iPhone HEIC photo or a RAW file, export it as JPEG first."
        ) from e
    w, h = im.size
    _check_size(w, h)
    try:  # everything that reads pixel data or metadata past the header (PNG's getexif() decodes the image)
        if getattr(im, "is_animated", False):
            notes.append(f"Animated {im.format} image: the first frame is used.")
            im.seek(0)
        orientation = im.getexif().get(0x0112, 1)  # EXIF orientation: phones store portraits rotated
        # Ask the JPEG decoder for a 1/2, 1/4 or 1/8 scale decode when the image is far bigger than needed.
        dw, dh = _display_size(w, h)
        if im.format == "JPEG" and orientation == 1:
            im.draft(im.mode, (dw, dh))
        im.load()
    except Exception as e:  # PIL's parsers raise OSError, SyntaxError, EOFError, struct.error, ... on damaged files
        if "truncated" in str(e) or "broken data stream" in str(e):
            raise _truncated() from e
        raise InputError(
            "The image could not be decoded: the file is damaged or uses a variant of its format we cannot read. "
            "Re-export it as JPEG or PNG and try again."
        ) from e
    if orientation != 1:
        im = ImageOps.exif_transpose(im)
        w, h = im.size
        notes.append("Rotated upright using the photo's EXIF orientation.")
    rgb = _to_rgb(im, notes)
    dw, dh = _display_size(w, h)
    if rgb.size != (dw, dh):
        rgb = rgb.resize((dw, dh), Image.LANCZOS, reducing_gap=3.0)
    if (dw, dh) != (w, h):
        notes.append(f"Large image ({w}x{h}): processed at {dw}x{dh}; downloaded masks are scaled back to {w}x{h}.")
    return rgb, (h, w)


def _from_array(arr: np.ndarray, notes: list[str]) -> Image.Image:
    arr = np.asarray(arr)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise InputError(f"Expected an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}.")
    if min(arr.shape[:2]) < MIN_SIDE:  # also an empty array, before min()/max() reductions on it
        raise _too_small(arr.shape[1], arr.shape[0])
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.dtype == np.uint16:
        arr = arr / 257
        notes.append("16-bit image: reduced to 8 bits per channel (the models see 8-bit photos).")
    elif arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise InputError("The image array contains NaN or infinite values.")
        arr = arr * 255 if arr.max() <= 1.0 else arr
    elif arr.dtype != np.uint8 and arr.dtype != bool:
        raise InputError(f"Unsupported pixel type {arr.dtype}; use uint8, uint16 or float in [0, 1].")
    arr = np.clip(np.asarray(arr, dtype=np.float64).round(), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def load_input(src: str | Path | bytes | Image.Image | np.ndarray | None) -> PreparedImage:
    """Validate and normalise an input image; raises :class:`InputError` with a fix-it message."""
    notes: list[str] = []
    if src is None:
        raise InputError("No image given. Upload a photo of a cat or dog, or pick a sample.")
    data = None
    if isinstance(src, (str, Path)):
        path = Path(src)
        if not path.is_file():
            raise InputError(f"No image file at {path.name!r}. Upload the photo again.")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"The file is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB. "
                "Save it as a JPEG or downscale it and try again."
            )
        data = path.read_bytes()
    elif isinstance(src, (bytes, bytearray)):
        data = bytes(src)
    if data is not None:
        if not data:
            raise InputError("The file is empty. Upload the photo again.")
        rgb, original = _decode(data, notes)
        digest = hashlib.sha256(data).hexdigest()[:24]
    else:
        im = src if isinstance(src, Image.Image) else _from_array(src, notes)
        w, h = im.size
        _check_size(w, h)
        rgb = _to_rgb(im, notes)
        original = (h, w)
        if rgb.size != _display_size(w, h):
            rgb = rgb.resize(_display_size(w, h), Image.LANCZOS)
        digest = hashlib.sha256(np.ascontiguousarray(rgb).tobytes() + bytes(str(original), "ascii")).hexdigest()[:24]
    return PreparedImage(np.asarray(rgb, dtype=np.uint8).copy(), original, digest, notes, data)


# ---------------------------------------------------------------------------- metrics and sizes


def image_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Pixel accuracy, mIoU (over classes present in either) and border IoU of one mask."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {target.shape} differ in size")
    m = ConfusionMatrix(len(CLASSES)).update(pred, target).compute()
    return {"pixel_acc": m["pixel_acc"], "miou": m["miou"], "border_iou": m["iou"][CLASSES.index("border")]}


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (h, w) class mask to ``size`` = (H, W)."""
    if mask.shape == tuple(size):
        return mask
    return np.asarray(Image.fromarray(mask).resize((size[1], size[0]), Image.NEAREST))


def match_ground_truth(image: PreparedImage) -> tuple[np.ndarray | None, str | None]:
    """(ground truth at display size, sample name) when ``image`` is a gallery sample file, else (None, None)."""
    sample = find_sample(image.source_bytes) if image.source_bytes else None
    if sample is None:
        return None, None
    gt = ground_truth(sample)
    if gt.shape != image.original_size:  # should not happen for an unmodified sample file
        return None, None
    return resize_mask(gt, image.size), sample.name


def export_masks(image: PreparedImage, results: dict[str, ModelResult], folder: Path, stem: str) -> list[Path]:
    """Write one palette PNG per model at the image's original size (pixel value = class index)
    and a zip of them (last in the list) to ``folder``; existing files are reused."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, r in results.items():
        path = folder / f"{stem}_{name}.png"
        if not path.exists():
            _atomic_save(
                path, lambda f, r=r: mask_png(resize_mask(r.mask, image.original_size)).save(f, "PNG", optimize=True)
            )
        paths.append(path)
    zpath = folder / f"{stem}_masks.zip"
    if not zpath.exists():

        def write_zip(f) -> None:
            with zipfile.ZipFile(f, "w") as zf:
                for p in paths:
                    zf.write(p, p.name)
                legend = ", ".join(f"{i} = {c}" for i, c in enumerate(CLASSES))
                zf.writestr(
                    "README.txt",
                    f"One palette PNG per model, at the size of your image.\nPixel values are class indices: {legend}.\n",
                )

        _atomic_save(zpath, write_zip)
    return [*paths, zpath]


def _atomic_save(path: Path, write) -> None:
    """Write through a temporary file and rename, so a concurrent reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- running the models


class Segmenter:
    """Runs the loaded models on prepared images, with a small result cache.

    Args:
        models: variant name -> nn.Module (eval mode, on ``device``); order is the display order.
        device: where the models live (chosen once by the caller).
    """

    def __init__(self, models: dict[str, nn.Module], device: torch.device | str = "cpu") -> None:
        self.models = dict(models)
        self.device = torch.device(device)
        self.dtype = autocast_dtype(self.device)
        self._cache: OrderedDict[tuple, ModelResult] = OrderedDict()
        self._lock = threading.Lock()

    def warmup(self) -> None:
        """One tiny forward per model, so the first user's latencies are not one-time setup costs."""
        x = torch.rand(3, *working_size(3, 4))  # a typical landscape photo at its working size
        for model in self.models.values():
            run_model(model, x, self.device, self.dtype, short=None)

    def _work_tensor(self, image: PreparedImage) -> torch.Tensor:
        """The image at the working size the models were trained at, (3, h, w) float [0, 1]."""
        x = torch.from_numpy(image.rgb).permute(2, 0, 1).float().div_(255)
        size = working_size(*image.size, WORKING_SHORT_SIDE)
        return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]

    def _run(self, name: str, image: PreparedImage, x: torch.Tensor, drop_skips: tuple[str, ...]) -> ModelResult:
        variant = get_variant(name)
        model = self.models[name]
        unknown = set(drop_skips) - set(getattr(model, "skips", ()))
        if unknown:
            raise ValueError(
                f"{variant.title} has no skip {sorted(unknown)}; it has {list(getattr(model, 'skips', ()))}"
            )
        kwargs = {"drop_skips": drop_skips} if drop_skips else {}
        t0 = time.perf_counter()
        out = run_model(model, x, self.device, self.dtype, short=None, **kwargs)
        ms = (time.perf_counter() - t0) * 1000
        logits = F.interpolate(out["out"], size=image.size, mode="bilinear", align_corners=False)
        mask = logits.argmax(1)[0].to(torch.uint8).numpy()
        maps = {key: out[key][0].numpy() for key, _ in variant.maps if key in out}
        return ModelResult(name, variant.title, mask, maps, ms, tuple(x.shape[-2:]), drop_skips)

    def segment(
        self, image: PreparedImage, names: list[str] | None = None, drop_skips: dict[str, tuple[str, ...]] | None = None
    ) -> dict[str, ModelResult]:
        """Run ``names`` (default: all loaded models) on ``image``; ``drop_skips`` maps a model
        name to the pool layers to leave out (FCN-16s/8s only). Cached results are reused."""
        names = list(self.models) if names is None else names
        drop_skips = drop_skips or {}
        results, x = {}, None
        for name in names:
            if name not in self.models:
                raise KeyError(f"model {name!r} is not loaded; loaded: {', '.join(self.models)}")
            skips = tuple(sorted(drop_skips.get(name, ())))
            key = (image.digest, name, skips)
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
            if hit is None:
                x = self._work_tensor(image) if x is None else x  # shared by all models of the request
                hit = self._run(name, image, x, skips)
                with self._lock:
                    self._cache[key] = hit
                    while len(self._cache) > CACHE_SIZE:
                        self._cache.popitem(last=False)
            results[name] = hit
        return results
