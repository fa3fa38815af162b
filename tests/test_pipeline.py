"""fcn_demo.pipeline: input validation, masks and maps of every variant, metrics, ablation, caching."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from fcn_demo.models import VARIANTS, build_model, get_variant
from fcn_demo.pipeline import (
    DISPLAY_MAX_SIDE,
    MAX_ASPECT,
    InputError,
    Segmenter,
    export_masks,
    image_metrics,
    load_input,
    match_ground_truth,
    resize_mask,
)
from fcn_demo.samples import find_sample, ground_truth, list_samples
from fcn_demo.viz import map_stride


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
    with pytest.raises(InputError, match="No image file"):
        load_input(tmp_path / "nope.jpg")
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


def test_same_content_same_digest():
    data = _encode(_photo(), "PNG")
    assert load_input(data).digest == load_input(data).digest
    assert load_input(data).digest != load_input(_encode(_photo(97), "PNG")).digest


# ---------------------------------------------------------------------------- metrics and masks


def test_image_metrics():
    gt = np.array([[0, 0, 1, 1], [0, 2, 1, 1]], np.uint8)
    perfect = image_metrics(gt, gt)
    assert perfect == {"pixel_acc": 1.0, "miou": 1.0, "border_iou": 1.0}
    pred = gt.copy()
    pred[1, 1] = 1  # the one border pixel called pet
    m = image_metrics(pred, gt)
    assert m["pixel_acc"] == pytest.approx(7 / 8)
    assert m["border_iou"] == 0.0
    assert m["miou"] == pytest.approx((1 + 4 / 5 + 0) / 3)
    with pytest.raises(ValueError):
        image_metrics(pred[:, :3], gt)


@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), H=st.integers(1, 90), W=st.integers(1, 90))
def test_resize_mask_is_nearest(h, w, H, W):
    mask = np.random.default_rng(h * w).integers(0, 3, (h, w), dtype=np.uint8)
    out = resize_mask(mask, (H, W))
    assert out.shape == (H, W) and out.dtype == np.uint8
    assert set(np.unique(out)) <= set(np.unique(mask))


def test_samples_are_test_images_with_ground_truth():
    samples = list_samples()
    assert len(samples) >= 8
    assert len({s.breed for s in samples}) == 3
    for s in samples:
        image = load_input(s.image)
        assert find_sample(image.source_bytes) == s
        gt = ground_truth(s)
        assert gt.shape == image.original_size
        assert set(np.unique(gt)) <= {0, 1, 2}
        assert max(image.original_size) <= 500
    assert find_sample(b"not a sample") is None


# ---------------------------------------------------------------------------- running the models


@pytest.fixture(scope="module")
def sample_image():
    return load_input(list_samples()[0].image)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_gives_mask_and_its_own_maps(segmenter, sample_image, name):
    r = segmenter.segment(sample_image, [name])[name]
    assert r.mask.shape == sample_image.size and r.mask.dtype == np.uint8
    assert set(np.unique(r.mask)) <= {0, 1, 2}
    assert r.ms > 0
    variant = get_variant(name)
    assert list(r.maps) == [k for k, _ in variant.maps]
    strides = {"score_pool5": 32, "score_pool4": 16, "fuse_pool4": 16, "score_pool3": 8, "fuse_pool3": 8}
    strides.update({f"stage{s}": s for s in (16, 8, 4, 2, 1)})
    for key, arr in r.maps.items():
        assert arr.shape[0] == 3 and arr.dtype == np.float32
        assert map_stride(arr.shape[-2:], r.work_size) == strides[key], key


def test_all_models_share_one_call_and_results_are_cached(segmenter, sample_image):
    first = segmenter.segment(sample_image)
    assert list(first) == list(VARIANTS)
    again = segmenter.segment(sample_image)
    assert all(again[n] is first[n] for n in first), "a second request reuses the cached results"


def test_unknown_skip_and_model_are_rejected(segmenter, sample_image):
    with pytest.raises(ValueError, match="no skip"):
        segmenter.segment(sample_image, ["fcn32s"], drop_skips={"fcn32s": ("pool4",)})
    with pytest.raises(KeyError, match="not loaded"):
        segmenter.segment(sample_image, ["segformer"])


def test_ablation_changes_the_output(sample_image):
    torch.manual_seed(0)
    model = build_model("fcn8s").eval()
    with torch.no_grad():  # the skip scores start at zero; give them something to contribute
        for conv in model.score.values():
            conv.weight.normal_(0, 0.05)
    seg = Segmenter({"fcn8s": model}, "cpu")
    full = seg.segment(sample_image)["fcn8s"]
    cut = seg.segment(sample_image, drop_skips={"fcn8s": ("pool3",)})["fcn8s"]
    assert cut.drop_skips == ("pool3",)
    assert not cut.maps["score_pool3"].any(), "a dropped skip contributes zeros"
    assert np.array_equal(cut.maps["fuse_pool4"], full.maps["fuse_pool4"]), "layers before the cut are untouched"
    assert not np.allclose(cut.maps["fuse_pool3"], full.maps["fuse_pool3"])
    both = seg.segment(sample_image, drop_skips={"fcn8s": ("pool4", "pool3")})["fcn8s"]
    assert not np.allclose(both.maps["fuse_pool4"], full.maps["fuse_pool4"])


def test_ground_truth_only_for_unmodified_samples(tmp_path):
    sample = list_samples()[0]
    gt, name = match_ground_truth(load_input(sample.image))
    assert name == sample.name and gt.shape == load_input(sample.image).size
    copy = tmp_path / "copy.png"
    Image.open(sample.image).save(copy)  # same pixels, different file: not recognised
    assert match_ground_truth(load_input(copy)) == (None, None)


def test_export_masks_at_original_size(segmenter, tmp_path):
    image = load_input(_encode(_photo(1500, 1100), "JPEG"))
    results = segmenter.segment(image)
    paths = export_masks(image, results, tmp_path, "photo")
    assert [p.name for p in paths] == [f"photo_{n}.png" for n in VARIANTS] + ["photo_masks.zip"]
    for p, r in zip(paths, results.values()):
        with Image.open(p) as im:
            assert im.size == (1500, 1100) and im.mode == "P"
            assert np.array_equal(np.asarray(im.resize(r.mask.shape[::-1], Image.NEAREST)), r.mask)
    assert not list(tmp_path.glob(".*.tmp"))
