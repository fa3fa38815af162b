"""Upload validation: anything a visitor or an API client sends -> an RGB array, or a fix-it message.

:func:`load_input` takes a path, bytes, a PIL image or an array and returns a
:class:`PreparedImage`: RGB uint8 at a display size of at most ``DISPLAY_MAX_SIDE`` px, with the
original size remembered. Anything that cannot be fixed raises :class:`InputError`, whose message
says what to do; anything that can be fixed (CMYK, transparency, 16-bit, grayscale, animation) is
converted and described in ``notes``. :func:`payload_source` unwraps what Gradio or an API client
sends for an upload, and opens a path only inside the folders it is given (Gradio's upload folder,
the samples). No torch here: this runs in the server process, before any model work.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fcn_demo.core.i18n import Message, text

MIN_SIDE = 32  # below this the stride-32 nets have less than one cell of output
# Long side / short side. The models run at a shorter side of about 256 px, so a 32x4000 strip (a few kB)
# would become 256x32000: minutes of compute and gigabytes of activations per model.
MAX_ASPECT = 10
MAX_PIXELS = 50_000_000  # refuse beyond: decoding more is a memory risk (decompression bombs)
MAX_FILE_BYTES = 50 * 1024 * 1024
DISPLAY_MAX_SIDE = 1024  # images are shown and masks computed at this size; bigger inputs are downscaled

SUPPORTED = "JPEG, PNG, WebP, GIF, BMP or TIFF"


class InputError(ValueError):
    """The input cannot be used; the message tells the user how to fix it.

    Made with :meth:`say`, it also carries its phrase (``key`` in fcn_demo/core/locales, ``fmt``), so
    the page can say it in the visitor's language (:meth:`text`); the message itself, what the API
    returns, is English. ``title``: the key of the heading the page shows over it.
    """

    def __init__(self, message: str, key: str | None = None, title: str = "gen.error.title_image", **fmt) -> None:
        super().__init__(message)
        self.key, self.title, self.fmt = key, title, fmt

    @classmethod
    def say(cls, key: str, title: str = "gen.error.title_image", **fmt) -> InputError:
        """The error whose message is the phrase ``key`` (formatted with ``fmt``)."""
        return cls(text("en", key, **fmt), key, title, **fmt)

    def text(self, lang: str = "en") -> str:
        """The message in ``lang`` (English for a message without a phrase)."""
        return text(lang, self.key, **self.fmt) if self.key else str(self)


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


def _too_small(w: int, h: int) -> InputError:
    return InputError.say("gen.error.too_small", w=w, h=h, min=MIN_SIDE)


def _check_size(w: int, h: int) -> None:
    """Refuse sizes the models cannot (or must not) run on, before anything is decoded."""
    if w * h > MAX_PIXELS:
        raise _too_big(w, h)
    if min(w, h) < MIN_SIDE:
        raise _too_small(w, h)
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise InputError.say("gen.error.strip", w=w, h=h, ratio=MAX_ASPECT)


def _too_big(w: int | None, h: int | None) -> InputError:
    limit = MAX_PIXELS // 1_000_000
    if w and h:
        return InputError.say("gen.error.too_big", w=w, h=h, mp=w * h / 1e6, limit=limit)
    return InputError.say("gen.error.too_big_unknown", limit=limit)


# Magic numbers of formats we read: a file that starts like one but does not open is damaged, not foreign.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")


def _truncated() -> InputError:
    return InputError.say("gen.error.truncated")


def _to_rgb(im: Image.Image, notes: list[str]) -> Image.Image:
    """Convert any PIL mode to RGB the way a person would expect, noting lossy or unusual steps."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(im).astype(np.float64)
        if mode == "F":
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) / (hi - lo or 1.0) * 255
            notes.append(Message("gen.note.float"))
        else:
            arr = arr / 257 if arr.max() > 255 else arr
            notes.append(Message("gen.note.bits16"))
        gray = Image.fromarray(np.clip(arr.round(), 0, 255).astype(np.uint8), "L")
        notes.append(Message("gen.note.gray"))
        return gray.convert("RGB")
    if mode == "CMYK":
        notes.append(Message("gen.note.cmyk"))
        return im.convert("RGB")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in im.info):
        rgba = (im.convert("LA") if mode == "La" else im).convert("RGBA")  # PIL has no La -> RGBA
        if rgba.getextrema()[3][0] < 255:
            notes.append(Message("gen.note.alpha"))
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(bg, rgba).convert("RGB")
        if mode in ("LA", "La"):
            notes.append(Message("gen.note.gray"))
        return rgb
    if mode in ("L", "1"):
        notes.append(Message("gen.note.gray"))
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
        raise InputError.say("gen.error.unreadable", formats=SUPPORTED) from e
    w, h = im.size
    _check_size(w, h)
    try:  # everything that reads pixel data or metadata past the header (PNG's getexif() decodes the image)
        if getattr(im, "is_animated", False):
            notes.append(Message("gen.note.animated", format=im.format))
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
        raise InputError.say("gen.error.undecodable") from e
    if orientation != 1:
        im = ImageOps.exif_transpose(im)
        w, h = im.size
        notes.append(Message("gen.note.exif"))
    rgb = _to_rgb(im, notes)
    dw, dh = _display_size(w, h)
    if rgb.size != (dw, dh):
        rgb = rgb.resize((dw, dh), Image.LANCZOS, reducing_gap=3.0)
    if (dw, dh) != (w, h):
        notes.append(Message("gen.note.large", w=w, h=h, dw=dw, dh=dh))
    return rgb, (h, w)


def _from_array(arr: np.ndarray, notes: list[str]) -> Image.Image:
    arr = np.asarray(arr)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise InputError.say("gen.error.array_shape", shape=str(arr.shape))
    if min(arr.shape[:2]) < MIN_SIDE:  # also an empty array, before min()/max() reductions on it
        raise _too_small(arr.shape[1], arr.shape[0])
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.dtype == np.uint16:
        arr = arr / 257
        notes.append(Message("gen.note.bits16"))
    elif arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise InputError.say("gen.error.array_nan")
        arr = arr * 255 if arr.max() <= 1.0 else arr
    elif arr.dtype != np.uint8 and arr.dtype != bool:
        raise InputError.say("gen.error.array_dtype", dtype=str(arr.dtype))
    arr = np.clip(np.asarray(arr, dtype=np.float64).round(), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def load_input(src: str | Path | bytes | Image.Image | np.ndarray | None) -> PreparedImage:
    """Validate and normalise an input image; raises :class:`InputError` with a fix-it message."""
    notes: list[str] = []
    if src is None:
        raise InputError.say("gen.error.no_image")
    data = None
    if isinstance(src, (str, Path)):
        path = Path(src)
        if not path.is_file():  # the caller chose the folder (payload_source); its name is not repeated
            raise InputError.say("gen.error.gone")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError.say("gen.error.file_too_big", mb=size / 2**20, limit=MAX_FILE_BYTES // 2**20)
        data = path.read_bytes()
    elif isinstance(src, (bytes, bytearray)):
        data = bytes(src)
    if data is not None:
        if not data:
            raise InputError.say("gen.error.empty_file")
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


def trusted_path(path: str | Path, allowed: Sequence[Path]) -> Path:
    """``path`` with links and ".." resolved, if it lies in one of the ``allowed`` folders; otherwise
    the one refusal, whether a file is there or not (the answer says nothing about the server's files)."""
    try:
        real = Path(path).resolve()
        inside = any(real.is_relative_to(Path(folder).resolve()) for folder in allowed)
    except (OSError, ValueError, RuntimeError):  # a name too long, a NUL byte, a loop of links
        inside = False
    if not inside:
        raise InputError.say("gen.error.path")
    return real


def payload_source(payload, allowed: Sequence[Path]) -> str | bytes | None:
    """The file behind an unprocessed gr.Image payload: Gradio's FileData (or a bare path, from an
    API client) as a path inside the ``allowed`` folders (:func:`trusted_path`), or the bytes of a
    data URL. None for no image; anything else is refused with a message that says what to send."""
    if payload is None:
        return None
    if isinstance(payload, (str, Path)):
        return str(trusted_path(payload, allowed))
    if not isinstance(payload, dict):
        raise InputError.say("gen.error.not_file")
    path, url = payload.get("path"), payload.get("url")
    if path:
        if not isinstance(path, str):
            raise InputError.say("gen.error.not_file")
        return str(trusted_path(path, allowed))
    if isinstance(url, str) and url.startswith("data:"):
        try:
            return base64.b64decode(url.split(",", 1)[1], validate=True)
        except (IndexError, binascii.Error):
            raise InputError.say("gen.error.damaged_data") from None
    if url:  # a link to fetch: the server fetches nothing
        raise InputError.say("gen.error.not_file")
    return None
