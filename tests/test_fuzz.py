"""Fuzzed inputs to the request layer's entry point, :func:`fcn_demo.core.inputs.load_input`.

Whatever arrives (random bytes, damaged or truncated JPEG/PNG/GIF/WebP/BMP/TIFF files, every PIL
mode, 1x1 and 1xN images, huge declared sizes, odd arrays), ``load_input`` either returns an image
the models can run on (checked by running it through the :class:`Analyzer` with a stub model) or
raises :class:`InputError` whose message is written for a person: no traceback, no Python names.

    FCN_DEMO_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py    # a longer hunt (default 60)
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn

from fcn_demo.core.inputs import DISPLAY_MAX_SIDE, MAX_ASPECT, MIN_SIDE, InputError, load_input
from fcn_demo.core.runtime import WORKING_SHORT_SIDE
from fcn_demo.request.analysis import Analyzer

EXAMPLES = int(os.environ.get("FCN_DEMO_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

MODES = ["1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV",
         "I;16", "I;16B", "I", "F"]  # fmt: skip
FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"]
EXTREME_SIZES = [(1, 1), (1, 64), (64, 1), (31, 32), (32, 31), (32, 32), (32, 400), (400, 32), (33, 4000),
                 (4000, 33), (2, 3000)]  # fmt: skip
SIGNATURES = [b"", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"GIF87a", b"BM", b"II*\x00", b"MM\x00*",
              b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"\x00\x00\x00\x0cjP  "]  # fmt: skip
# Declared sizes written into real headers: zero, tiny, a bomb beyond the limit, the format maxima.
DECLARED = [0, 1, 31, 5000, 60_000, 65_535, 2**31 - 1, 2**32 - 1]

# What a message for a person must not contain: traceback text, exception or object reprs, paths.
LEAKS = re.compile(
    r"Traceback|File \"|line \d+, in|\w+(Error|Exception)\b|object at 0x|<[\w.]+|\bself\b|NoneType|\.py\b|PIL\b|"
    r"numpy|torch|errno|\\x[0-9a-f]{2}|b'"
)


def assert_user_facing(message: str) -> None:
    """One or two plain sentences that say what is wrong."""
    assert message and (message[0].isupper() or message[0].isdigit()) and message.endswith("."), message
    assert len(message) < 400 and "\n" not in message, message
    assert not LEAKS.search(message), f"internal detail in a user-facing message: {message!r}"


# ---------------------------------------------------------------------------- what must hold


class _Stub(nn.Module):
    """Stands in for a network: the image as class scores, plus a stride-32 map (like FCN-32s)."""

    working_short_side, size_multiple = WORKING_SHORT_SIDE, 32

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": x, "score_pool5": F.avg_pool2d(x, 32, ceil_mode=True)}


_ANALYZER = Analyzer({"fcn32s": _Stub().eval()}, "cpu")


def check(src) -> bool:
    """``load_input(src)`` gives a usable image (True) or a user-facing InputError (False); nothing else."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's and numpy's own warnings are not failures
            image = load_input(src)
    except InputError as e:
        assert_user_facing(str(e))
        return False
    h, w = image.size
    assert image.rgb.dtype == np.uint8 and image.rgb.shape == (h, w, 3)
    assert min(h, w) >= 1 and max(h, w) <= DISPLAY_MAX_SIDE
    oh, ow = image.original_size
    assert min(oh, ow) >= MIN_SIDE and max(oh, ow) <= MAX_ASPECT * min(oh, ow)
    for note in image.notes:
        assert_user_facing(note)
    # The models run at shorter side WORKING_SHORT_SIDE: an extreme aspect ratio must not blow that up.
    result = _ANALYZER.analyze(image, None, None)
    wh, ww = result.work_size
    assert wh * ww <= WORKING_SHORT_SIDE**2 * (MAX_ASPECT + 1), result.work_size
    mask = result.models["fcn32s"].mask
    assert mask.shape == (h, w) and mask.max() <= 2
    return True


# ---------------------------------------------------------------------------- generators


def random_image(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    """Random pixel bytes in ``mode`` (for F and I this includes NaN, inf and negative values)."""
    n = len(Image.new(mode, size).tobytes())
    im = Image.frombytes(mode, size, np.random.default_rng(seed).bytes(n))
    if mode in ("P", "PA"):
        im.putpalette(list(np.random.default_rng(seed + 1).integers(0, 256, 768)))
        if seed % 3 == 0:
            im.info["transparency"] = 0
    return im


def encode(im: Image.Image, fmt: str, variant: int) -> bytes:
    """``im`` saved as ``fmt`` (with one of a few options); formats that refuse the mode get TIFF, then PNG."""
    options = {
        "JPEG": [{}, {"progressive": True}, {"quality": 5}],
        "PNG": [{}, {"compress_level": 0}, {"save_all": True, "append_images": [im.transpose(0)]}],
        "GIF": [{}, {"save_all": True, "append_images": [im.transpose(1)], "duration": 50, "loop": 0}],
        "WEBP": [{}, {"lossless": True}, {"save_all": True, "append_images": [im.transpose(0)]}],
        "BMP": [{}],
        "TIFF": [{}, {"compression": "tiff_lzw"}, {"compression": "tiff_adobe_deflate"}],
    }[fmt]
    if variant % 4 == 3 and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        exif = Image.Exif()
        exif[0x0112] = variant % 9  # every EXIF orientation, including invalid 0
        kw = {"exif": exif.tobytes()}
    else:
        kw = options[variant % len(options)]
    for f, k in ((fmt, kw), ("TIFF", {}), ("PNG", {})):
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im.save(buf, f, **k)
            return buf.getvalue()
        except (OSError, ValueError, KeyError, TypeError):
            continue
    buf = io.BytesIO()
    (im.convert("LA") if im.mode == "La" else im).convert("RGB").save(buf, "PNG")  # PIL: no La -> RGB
    return buf.getvalue()


def declare_size(data: bytes, w: int, h: int) -> bytes:
    """Rewrite the width/height a PNG, GIF, BMP or JPEG header declares (pixel data unchanged)."""
    b = bytearray(data)
    if b.startswith(b"\x89PNG") and len(b) >= 33:
        b[16:24] = struct.pack(">II", w, h)
        b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))  # a valid CRC: only the size is a lie
    elif b.startswith(b"GIF") and len(b) >= 10:
        b[6:10] = struct.pack("<HH", w & 0xFFFF, h & 0xFFFF)
    elif b.startswith(b"BM") and len(b) >= 26:
        b[18:26] = struct.pack("<ii", min(w, 2**31 - 1), -min(h, 2**31 - 1) if h % 2 else min(h, 2**31 - 1))
    elif b.startswith(b"\xff\xd8"):
        i = max(b.find(b"\xff\xc0"), b.find(b"\xff\xc2"))
        if i > 0 and len(b) >= i + 9:
            b[i + 5 : i + 9] = struct.pack(">HH", h & 0xFFFF, w & 0xFFFF)
    return bytes(b)


@st.composite
def files(draw) -> bytes:
    """A real image file of any mode and size, then possibly damaged."""
    mode = draw(st.sampled_from(MODES))
    size = draw(st.one_of(st.sampled_from(EXTREME_SIZES), st.tuples(st.integers(1, 160), st.integers(1, 160))))
    data = encode(random_image(mode, size, draw(st.integers(0, 2**16))), draw(st.sampled_from(FORMATS)),
                  draw(st.integers(0, 11)))  # fmt: skip
    damage = draw(st.sampled_from(["none", "truncate", "flip", "insert", "declare"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    elif damage == "insert":
        i = draw(st.integers(0, len(data)))
        data = data[:i] + draw(st.binary(min_size=1, max_size=64)) + data[i:]
    elif damage == "declare":
        data = declare_size(data, draw(st.sampled_from(DECLARED)), draw(st.sampled_from(DECLARED)))
    return data


# ---------------------------------------------------------------------------- the properties

# Inputs that once got through as unhandled exceptions, replayed on every run.
_PNG_CUT_IN_IDAT = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00 \x00\x00\x00 \x01\x00\x00\x00\x00[\x01GY\x00\x00\x00\xabIDAT"
)


@FUZZ
@example(data=_PNG_CUT_IN_IDAT)  # PNG's getexif() decodes the pixels: OSError outside the decode guard
@given(data=files())
def test_damaged_and_unusual_files(data):
    check(data)


@FUZZ
@given(head=st.sampled_from(SIGNATURES), tail=st.binary(max_size=2048))
def test_random_bytes_behind_any_signature(head, tail):
    check(head + tail)


@FUZZ
@given(mode=st.sampled_from(MODES), size=st.sampled_from(EXTREME_SIZES + [(48, 40), (300, 200)]),
       seed=st.integers(0, 2**16))  # fmt: skip
@example(mode="La", size=(48, 40), seed=0)  # PIL cannot convert La to RGBA directly
@example(mode="1", size=(32, 400), seed=0)  # a strip: 256x3200 at the working size
def test_pil_images_of_every_mode(mode, size, seed):
    """Every mode converts: an image is refused for its size alone (a side under 32, a long strip)."""
    fits = min(size) >= MIN_SIDE and max(size) <= MAX_ASPECT * min(size)
    assert check(random_image(mode, size, seed)) == fits, f"{mode} {size}: {'refused' if fits else 'accepted'}"


DTYPES = [np.uint8, np.uint16, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_, np.complex64]


@FUZZ
@given(
    dtype=st.sampled_from(DTYPES),
    shape=st.one_of(
        st.tuples(st.integers(0, 120), st.integers(0, 120)),
        st.tuples(st.integers(0, 120), st.integers(0, 120), st.integers(0, 6)),
        st.lists(st.integers(0, 8), max_size=5).map(tuple),
        st.sampled_from([(32, 4000), (4000, 32, 3), (1, 1, 3)]),
    ),
    special=st.sampled_from([None, np.nan, np.inf, -np.inf, -1.0, 1e30]),
    seed=st.integers(0, 2**16),
)
@example(dtype=np.float32, shape=(0, 0), special=None, seed=0)  # max() of an empty array
def test_arrays(dtype, shape, special, seed):
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):  # 1e30 or 65535 into float16 overflows to inf: that is the point
        arr = (rng.random(shape) * rng.choice([1.0, 255.0, 65535.0])).astype(dtype)
        if special is not None and arr.size and arr.dtype.kind in "fc":
            arr.flat[rng.integers(0, arr.size)] = special
    check(arr)


@pytest.mark.parametrize("size", [(32, 4000), (4000, 32), (40, 2000)])
def test_long_strips_are_refused_before_they_reach_the_models(size):
    """A 32x4000 strip is a few kB and passes the pixel limit, but at the working size (shorter
    side 256) it would be 256x32000: minutes of compute and gigabytes of activations per model."""
    buf = io.BytesIO()
    Image.new("RGB", size).save(buf, "PNG")
    with pytest.raises(InputError, match="at most"):
        load_input(buf.getvalue())
