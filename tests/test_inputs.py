"""fcn_demo.core.inputs: what is refused (with a fix-it message), what is converted (with a note), sizes and digests."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from fcn_demo.core.inputs import DISPLAY_MAX_SIDE, MAX_ASPECT, InputError, load_input, payload_source, trusted_path


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _photo(w: int = 96, h: int = 64) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


# ---------------------------------------------------------------------------- inputs that are refused

REFUSED = {
    "not an image": (lambda: b"hello, I am a text file\n" * 10, "not an image"),
    "empty file": (lambda: b"", "empty"),
    "truncated JPEG": (lambda: _encode(_photo(400, 300), "JPEG", quality=95)[:3000], "truncated"),
    "1x1": (lambda: _encode(Image.new("RGB", (1, 1)), "PNG"), "at least 32x32"),
    "31 px wide": (lambda: _encode(Image.new("RGB", (31, 500)), "PNG"), "at least 32x32"),
    "4000x40 strip": (lambda: _encode(Image.new("RGB", (4000, 40)), "PNG"), "long strip"),
    # 100 megapixels in a few kB: refused from the header, never decoded.
    "10000x10000": (lambda: _encode(Image.new("1", (10000, 10000)), "PNG"), "limit is 50 megapixels"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_inputs_say_how_to_fix(case):
    make, hint = REFUSED[case]
    with pytest.raises(InputError) as e:
        load_input(make())
    assert hint in str(e.value)
    assert str(e.value).endswith(".")  # a full sentence, not an exception repr
    assert "Traceback" not in str(e.value)


def test_missing_path_and_none(tmp_path):
    with pytest.raises(InputError, match="no longer on the server") as e:
        load_input(tmp_path / "nope.jpg")
    assert "nope" not in str(e.value)  # a name sent by a request is not repeated
    with pytest.raises(InputError, match="No image given"):
        load_input(None)


def test_decompression_bomb_beyond_pil_limit_is_refused():
    # Over PIL's own hard limit (2 x 89 MP): PIL refuses at open; we still answer with our message.
    data = _encode(Image.new("1", (20000, 10000)), "PNG")
    with pytest.raises(InputError, match="megapixels"):
        load_input(data)


# ---------------------------------------------------------------------------- inputs that are converted


def _rgba() -> bytes:
    im = Image.new("RGBA", (64, 48), (255, 0, 0, 255))
    im.paste((0, 0, 0, 0), (0, 0, 32, 48))  # left half fully transparent
    return _encode(im, "PNG")


def _gif() -> bytes:
    frames = [Image.new("RGB", (64, 48), c) for c in ((0, 0, 255), (255, 0, 0))]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _png16() -> bytes:
    arr = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (48, 1))
    return _encode(Image.fromarray(arr), "PNG")


CONVERTED = {
    "16-bit PNG": (_png16, "16-bit"),
    "CMYK JPEG": (lambda: _encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG"), "CMYK"),
    "RGBA PNG": (_rgba, "Transparent"),
    "grayscale JPEG": (lambda: _encode(_photo().convert("L"), "JPEG"), "Grayscale"),
    "animated GIF": (_gif, "first frame"),
}


@pytest.mark.parametrize("case", list(CONVERTED))
def test_unusual_inputs_are_converted_with_a_note(case):
    make, hint = CONVERTED[case]
    image = load_input(make())
    assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3 and image.rgb.shape[2] == 3
    assert any(hint in n for n in image.notes), image.notes


def test_conversions_are_faithful():
    rgba = load_input(_rgba()).rgb
    assert (rgba[:, :32] == 255).all(), "transparent pixels become white, not black"
    assert tuple(rgba[0, -1]) == (255, 0, 0)
    gif = load_input(_gif()).rgb
    assert gif[..., 2].mean() > 200 and gif[..., 0].mean() < 50, "the first (blue) frame is used"
    png16 = load_input(_png16()).rgb
    assert png16[0, 0, 0] == 0 and png16[0, -1, 0] == 255, "16-bit range maps onto 0..255"
    cmyk = load_input(_encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG")).rgb
    assert cmyk[..., 0].mean() > 200 and cmyk[..., 1].mean() < 60, "CMYK red stays red"


def test_large_image_is_downscaled_and_remembers_its_size():
    image = load_input(_encode(_photo(3000, 2000), "JPEG"))
    assert image.original_size == (2000, 3000)
    assert max(image.size) == DISPLAY_MAX_SIDE and image.size == (683, 1024)
    assert any("scaled back to 3000x2000" in n for n in image.notes)


def test_exif_rotation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image = load_input(_encode(_photo(96, 64), "JPEG", exif=exif.tobytes()))
    assert image.size == (96, 64) and image.original_size == (96, 64)


def test_arrays_and_pil_images():
    assert load_input(np.zeros((40, 50, 3), np.uint8)).size == (40, 50)
    assert load_input(np.full((40, 50), 0.5, np.float32)).rgb[0, 0, 0] == 128
    assert load_input(np.full((40, 50, 3), 65535, np.uint16)).rgb.max() == 255
    assert load_input(_photo().convert("RGBA")).size == (64, 96)
    with pytest.raises(InputError, match="shape"):
        load_input(np.zeros((40, 50, 7), np.uint8))
    with pytest.raises(InputError, match="NaN"):
        load_input(np.full((40, 50), np.nan))


@settings(max_examples=25, deadline=None)
@given(h=st.integers(32, 1500), w=st.integers(32, 1500))
def test_display_size_keeps_aspect_and_cap(h, w):
    assume(max(h, w) <= MAX_ASPECT * min(h, w))
    image = load_input(Image.new("RGB", (w, h)))
    dh, dw = image.size
    assert max(dh, dw) <= DISPLAY_MAX_SIDE
    assert image.original_size == (h, w)
    assert abs((dh / dw) / (h / w) - 1) < 1 / min(dh, dw) + 1e-6  # rounding to whole pixels


def test_same_content_same_digest(tmp_path):
    """The cache key: a file's bytes however they arrive (bytes, a path); an array's pixels and size."""
    data = _encode(_photo(), "PNG")
    (tmp_path / "a.png").write_bytes(data)
    assert (
        load_input(data).digest == load_input(tmp_path / "a.png").digest == load_input(str(tmp_path / "a.png")).digest
    )
    assert load_input(np.asarray(_photo())).digest == load_input(_photo()).digest
    others = [_encode(_photo(97), "PNG"), _encode(_photo(), "BMP"), np.asarray(_photo(97)), np.asarray(_photo(96, 65))]
    digests = [load_input(x).digest for x in [data, np.asarray(_photo()), *others]]
    assert len(set(digests)) == len(digests), digests  # a pixel more, or another file, is another key


def test_payload_source_unwraps_what_gradio_sends(tmp_path):
    allowed = [tmp_path]
    assert payload_source(None, allowed) is None
    assert payload_source(str(tmp_path / "x.jpg"), allowed) == str(tmp_path / "x.jpg")
    assert payload_source({"path": str(tmp_path / "a.png"), "url": None}, allowed) == str(tmp_path / "a.png")
    assert payload_source({"path": None, "url": "data:image/png;base64,aGk="}, allowed) == b"hi"
    with pytest.raises(InputError, match="damaged"):
        payload_source({"path": None, "url": "data:image/png;base64,@@@"}, allowed)
    for wrong in (42, [1], {"path": 3}, {"url": "http://example.com/cat.jpg"}):
        with pytest.raises(InputError, match="handle_file"):
            payload_source(wrong, allowed)


def test_only_paths_inside_the_allowed_folders_open(tmp_path):
    """Links and ".." are resolved before the check; outside, one refusal whether a file is there or not."""
    inside, outside = tmp_path / "uploads", tmp_path / "private"
    inside.mkdir(), outside.mkdir()
    (outside / "secret.png").write_bytes(_encode(_photo(), "PNG"))
    (inside / "link.png").symlink_to(outside / "secret.png")
    (inside / "loop").symlink_to(inside / "loop")
    assert trusted_path(inside / "a" / ".." / "b.png", [inside]) == inside / "b.png"
    messages = set()
    for path in [outside / "secret.png", outside / "nothing.png", inside / "link.png", f"{inside}/../private/secret.png",
                 inside / "loop", "a\x00b", "x" * 100_000, "relative.png"]:  # fmt: skip
        with pytest.raises(InputError) as e:
            trusted_path(path, [inside])
        messages.add(str(e.value))
    assert len(messages) == 1 and "secret" not in messages.pop()
