"""The lessons of fcn_demo.page (compare, lessons, upsampling, metrics): ground truth, disagreement, confidence, the upsampling lesson, confusion tables
and "what to notice", on tiny hand-built analyses (no model runs) and on freshly built FCNs."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from PIL import Image

from fcn_demo.core.metrics import image_metrics
from fcn_demo.models import build_model
from fcn_demo.models.fcn import bilinear_kernel
from fcn_demo.page import compare, lessons, metrics, parts, upsampling
from fcn_demo.request.analysis import Analysis, ModelAnswer, combos

H, W = 32, 48
WORK = (64, 96)  # the models "ran" at twice the display size: maps at stride 32/16/8 are 2x3/4x6/8x12
TITLES = {"fcn32s": "FCN-32s", "fcn16s": "FCN-16s", "fcn8s": "FCN-8s", "unet": "U-Net"}
SKIPS = {"fcn32s": (), "fcn16s": ("pool4",), "fcn8s": ("pool4", "pool3"), "unet": ()}


def trimap() -> np.ndarray:
    """Background, a pet rectangle, and a 2-pixel border band around it."""
    gt = np.zeros((H, W), np.uint8)
    gt[6:26, 10:38] = 2
    gt[8:24, 12:36] = 1
    return gt


def scores_for(mask: np.ndarray, stride: int) -> np.ndarray:
    """(3, h', w') scores whose winning class per cell is ``mask`` sampled at that cell."""
    h, w = -(-WORK[0] // stride), -(-WORK[1] // stride)
    ys = np.minimum((np.arange(h) * stride + stride // 2) * H // WORK[0], H - 1)
    xs = np.minimum((np.arange(w) * stride + stride // 2) * W // WORK[1], W - 1)
    cells = mask[ys[:, None], xs[None, :]]
    return np.stack([(cells == c).astype(np.float16) * 4 for c in range(3)])


def answer(
    name: str, mask: np.ndarray, gt: np.ndarray | None, confidence: np.ndarray, coarse: np.ndarray
) -> ModelAnswer:
    maps = {"score_pool5": scores_for(coarse, 32)}
    if name == "fcn8s":
        maps["fuse_pool4"] = scores_for(mask, 16)
        maps["fuse_pool3"] = scores_for(mask, 8)
    # Each switched-off skip turns one more row band to background: a known number of changed pixels.
    ablations = {}
    for drops in combos(SKIPS[name]):
        ab = mask.copy()
        ab[8 : 8 + 4 * len(drops), 12:36] = 0
        ablations[drops] = ab
    metrics = image_metrics(mask, gt) if gt is not None else None
    ab_metrics = {d: (image_metrics(m, gt) if gt is not None else None) for d, m in ablations.items()}
    return ModelAnswer(name, TITLES[name], mask, maps, 5.0, confidence, metrics, ablations, ab_metrics)


def make_analysis(sample: bool = True, sure_on_border: bool = False, fcn8s_worse: bool = False) -> Analysis:
    """Four models on a 32x48 image. FCN-32s misses the border band (labels it pet); FCN-8s gets it
    (``fcn8s_worse``: the other way round); FCN-16s and U-Net are exact. The
    confidence is 0.4 on the border band and 0.95 elsewhere (reversed with ``sure_on_border``)."""
    gt = trimap()
    band = gt == 2
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    low, high = (242, 102) if sure_on_border else (102, 242)
    conf = np.where(band, low, high).astype(np.uint8)
    coarse = np.where(gt > 0, 1, 0).astype(np.uint8)  # what pool5 alone sees: a pet blob, no border
    masks = {"fcn32s": coarse.copy(), "fcn16s": gt.copy(), "fcn8s": gt.copy(), "unet": gt.copy()}
    if fcn8s_worse:
        masks["fcn32s"], masks["fcn8s"] = gt.copy(), coarse.copy()
    truth = gt if sample else None
    models = {n: answer(n, m, truth, conf, coarse) for n, m in masks.items()}
    return Analysis(
        digest="d",
        sample="Bengal_1" if sample else None,
        rgb=rgb,
        original_size=(H, W),
        gt=truth,
        notes=[],
        work_size=WORK,
        models=models,
    )


class Images(HTMLParser):
    """Every <img> of a page with its attributes."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.imgs: list[dict] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs))


def pictures(page: str) -> list[tuple[str, np.ndarray]]:
    """(alt, RGB array) of every inlined picture; fails on a picture without alt text."""
    out = []
    for img in Images(page).imgs:
        assert img.get("alt", "").strip(), f"an <img> without alt text: {img.get('src', '')[:40]}"
        data = base64.b64decode(img["src"].split(",", 1)[1])
        out.append((img["alt"], np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))))
    return out


@pytest.fixture(scope="module")
def sample():
    return make_analysis()


@pytest.fixture(scope="module")
def upload():
    return make_analysis(sample=False)


# ---------------------------------------------------------------------------- ground truth


def test_ground_truth_panel_shows_the_trimap_with_its_shares(sample):
    page = compare.ground_truth_panel(sample)
    [(alt, picture)] = pictures(page)
    assert "Bengal_1" in alt and "Ground-truth" in alt
    band = (trimap() == 2).mean()
    assert f"border band {band:.0%}" in alt and f"{band:.0%}" in page
    assert "legend" in page and "background" in page
    assert picture.shape[:2] == (H, W)


def test_ground_truth_panel_for_uploads_and_before_any_image(upload):
    page = compare.ground_truth_panel(upload)
    assert "<img" not in page and "no ground truth for uploads" in page
    assert "<img" not in compare.ground_truth_panel(None) and "pick a sample" in compare.ground_truth_panel(None)


# ---------------------------------------------------------------------------- disagreement


@pytest.mark.parametrize("is_sample", [True, False])
def test_disagreement_marks_exactly_the_pixels_where_models_differ(is_sample):
    a = make_analysis(sample=is_sample)
    a.models["unet"].mask = a.models["unet"].mask.copy()
    a.models["unet"].mask[0, :5] = 2  # background elsewhere: two labels at these five pixels
    a.models["fcn16s"].mask = a.models["fcn16s"].mask.copy()
    a.models["fcn16s"].mask[0, :2] = 1  # ... and three at these two
    differ = (trimap() == 2).copy()  # FCN-32s labels the band pet, the others border
    differ[0, :5] = True
    page = compare.disagreement_panel(a)
    [(alt, picture)] = pictures(page)
    assert f"{differ.sum():,} px" in page and f"({differ.mean():.0%})" in page
    assert f"{differ.sum():,}" in alt and a.label in alt
    assert np.array_equal(np.all(picture == compare.THREE_LABELS, -1), np.pad(np.ones((1, 2), bool), ((0, H - 1), (0, W - 2))))  # fmt: skip
    marked = np.all(picture == compare.TWO_LABELS, -1) | np.all(picture == compare.THREE_LABELS, -1)
    assert np.array_equal(marked, differ)
    assert ("on the border band" in page) == is_sample


def test_disagreement_empty_states():
    assert "<img" not in compare.disagreement_panel(None)
    a = make_analysis()
    a.models = {"fcn8s": a.models["fcn8s"]}
    assert "at least two models" in compare.disagreement_panel(a)


# ---------------------------------------------------------------------------- confidence


def test_confidence_panels_report_the_border_band_vs_elsewhere(sample):
    page = lessons.confidence_panels(sample, list(TITLES))
    pics = pictures(page)
    assert len(pics) == 4
    for (alt, picture), title in zip(pics, TITLES.values()):
        assert (
            alt.startswith(f"{title} confidence map of Bengal_1") and "0.40 on the border band vs 0.95 elsewhere" in alt
        )
        band = trimap() == 2
        assert picture[band].mean(0)[2] < picture[~band].mean(0)[1], "viridis: unsure is dark blue-purple"
    assert page.count("lesson-scale-bar") == 4 and "1.00 certain" in page


def test_confidence_panels_for_uploads_and_missing_models():
    a = make_analysis(sample=False)
    page = lessons.confidence_panels(a, ["fcn8s", "unet"])
    assert "border band" not in page and "mean" in page and len(pictures(page)) == 2
    del a.models["unet"]
    assert "not loaded" in lessons.confidence_panels(a, ["fcn8s", "unet"])
    assert "<img" not in lessons.confidence_panels(None, ["fcn8s"])


# ---------------------------------------------------------------------------- the upsampling lesson


@pytest.fixture(scope="module")
def fcns():
    torch.manual_seed(0)
    return {n: build_model(n, fc_channels=8).eval() for n in ("fcn16s", "fcn8s")}


def test_bilinear_kernels_spread_one_cell_and_keep_a_flat_map_flat():
    w = bilinear_kernel(3, 4)
    cell = upsampling.one_cell(w, 1)
    assert np.allclose(cell[3:7, 3:7], w[1, 1].numpy()) and cell.sum() == pytest.approx(4.0)
    assert np.allclose(upsampling.flat_response(w, 2), 1.0)
    assert upsampling.ripple(w, 0) == 0.0
    scaled = w * 1.3  # louder, but every stride phase alike: no ripple
    assert upsampling.ripple(scaled, 0) == pytest.approx(0.0, abs=1e-6)
    checker = w.clone()
    checker[0, 0, 0::2, 0::2] += 0.3  # one of the four output phases gets more: a 2x2 ripple
    assert upsampling.ripple(checker, 0) > upsampling.RIPPLE_VISIBLE


def test_upsampling_lesson_on_the_bilinear_initialisation(fcns):
    page = upsampling.upsampling_lesson(fcns)
    assert "checkerboard" not in page.lower()
    pics = pictures(page)
    assert len(pics) == 3, "FCN-16s: pool4; FCN-8s: pool4 and pool3"
    assert all("FCN-" in alt and "bilinear" in alt for alt, _ in pics)
    assert "by at most 0.000" in page and page.count('<th scope="row">') == 9


def test_upsampling_lesson_finds_a_checkerboard_in_a_perturbed_kernel(fcns):
    with torch.no_grad():
        fcns["fcn8s"].upscore["pool3"].weight[2, 2, 1::2, 1::2] -= 0.25
    try:
        page = upsampling.upsampling_lesson(fcns)
    finally:
        with torch.no_grad():
            fcns["fcn8s"].upscore["pool3"].weight.copy_(bilinear_kernel(3, 4))
    assert "checkerboard" in page.lower()
    assert "1 of them now makes a checkerboard: FCN-8s&#x27;s 2x upsampling before adding pool3" in page
    rows = re.findall(r'<tr><th scope="row">(\w+)</th>(.*?)</tr>', page)
    assert [r for r, cells in rows if "checkerboard" in cells] == ["border"]
    assert "0.250" in page  # the change from bilinear


def test_upsampling_lesson_without_skip_nets():
    assert "neither is loaded" in upsampling.upsampling_lesson({"unet": None})


# ---------------------------------------------------------------------------- confusion tables

COUNTS = [[900, 80, 20], [50, 700, 250], [0, 0, 0]]


def fake_metrics(confusion: bool = True, ood: bool = False) -> dict:
    models = {n: {"title": t, "miou": 0.5, **({"confusion": COUNTS} if confusion else {})} for n, t in TITLES.items()}
    out = {"images": 298, "classes": ["background", "pet", "border"], "models": models}
    if ood:
        out["ood"] = {
            "images": 8,
            "models": {"fcn8s": {"title": "FCN-8s", "confusion": [[1, 1, 0], [0, 3, 1], [0, 0, 2]]}},
        }
    return out


def test_confusion_tables_are_row_normalised_accessible_and_readable():
    page = metrics.confusion_tables(fake_metrics())
    assert page.count("<caption>") == 4 and "Test split: 298 photos" in page
    assert "90.0%" in page and "8.0%" in page and "70.0%" in page and "25.0%" in page
    assert page.count('<th scope="col">') == 16 and page.count('<th scope="row">') == 12
    assert page.count("no pixels") == 12, "a class absent from the ground truth has no rates, not 0%"
    for bg, fg in re.findall(r"background:rgb\(([\d,]+)\);color:rgb\(([\d,]+)\)", page):
        ratio = metrics.contrast(tuple(map(int, bg.split(","))), tuple(map(int, fg.split(","))))
        assert ratio >= 4.5, (bg, fg, ratio)
    dark, _ = metrics.cell_colors(1.0)
    assert metrics.cell_colors(1.0)[1] == (255, 255, 255) and metrics.cell_colors(0.0)[1] == (0, 0, 0)
    assert dark == metrics.CONFUSION_BLUE


def test_confusion_tables_ood_and_old_metrics():
    assert "Breeds never trained on: 8 photos" in metrics.confusion_tables(fake_metrics(ood=True))
    assert "75.0%" in metrics.confusion_tables(fake_metrics(ood=True))
    old = metrics.confusion_tables(fake_metrics(confusion=False))
    assert "<table" not in old and "predates" in old and "python -m fcn_demo.training.evaluate" in old
    assert "not been evaluated" in metrics.confusion_tables(None)


def test_confusion_tables_for_the_current_sample_and_uploads(sample, upload):
    page = metrics.confusion_tables(None, sample)
    assert "This sample: Bengal_1" in page and page.count("<caption>") == 4
    band = trimap() == 2
    # FCN-32s labels the whole border band pet: that row reads 0% / 100% / 0%.
    fcn32 = page[page.index("FCN-32s · Bengal_1") :].split("</table>")[0]
    assert re.search(r"border</th><td[^>]*>0\.0%</td><td[^>]*>100\.0%</td><td[^>]*>0\.0%", fcn32), band.sum()
    assert "no confusion matrix of its own" in metrics.confusion_tables(fake_metrics(), upload)


# ---------------------------------------------------------------------------- what to notice


@pytest.mark.parametrize("view", lessons.NOTICE_VIEWS)
@pytest.mark.parametrize("is_sample", [True, False])
def test_every_notice_is_built_from_numbers(view, is_sample):
    a = make_analysis(sample=is_sample)
    text = lessons.notice(view, a)
    assert text.startswith('<p class="notice"') and re.search(r"\d", text.split("</b>", 1)[1]), text
    assert any(w in text for w in ("mIoU", "border IoU", "border band")) == is_sample, "scores only with ground truth"


def test_notice_compare_says_whether_the_skips_help():
    good = lessons.notice("compare", make_analysis())
    b0 = image_metrics(make_analysis().models["fcn32s"].mask, trimap())["border_iou"]
    assert f"FCN-8s raises border IoU from {b0:.2f} to 1.00 over FCN-32s" in good
    bad = lessons.notice("compare", make_analysis(fcn8s_worse=True))
    assert "do not pay off" in bad and "raises" not in bad
    up = lessons.notice("compare", make_analysis(sample=False))
    assert "no ground truth" in up and "agree on" in up


def test_notice_ablation_counts_the_changed_pixels(sample):
    # Each dropped skip blanks 4 rows of 24 pixels of pet (see answer()).
    one = 4 * 24 / (H * W)
    text = lessons.notice("ablation", sample, drops={"fcn16s": ("pool4",), "fcn8s": ("pool3",)})
    assert f"FCN-16s without pool4 changes {one:.1%} of the pixels" in text
    assert f"FCN-8s without pool3 changes {one:.1%}" in text
    default = lessons.notice("ablation", sample)
    assert f"FCN-8s without pool4 and pool3 would change {parts.pct(2 * one)}" in default
    mi = sample.models["fcn8s"].ablation_metrics[("pool3", "pool4")]["miou"]
    assert f"(mIoU 1.00 → {mi:.2f})" in default


def test_notice_confidence_and_disagreement_follow_the_numbers(sample):
    assert "least sure on the border band" in lessons.notice("confidence", sample)
    assert "mean confidence 0.40 there against 0.95 elsewhere" in lessons.notice("confidence", sample)
    up = lessons.notice("confidence", make_analysis(sample=False))
    assert (
        "below one half on 11% of the pixels" in up and "100% of its unsure pixels are where the models disagree" in up
    )
    flipped = lessons.notice("confidence", make_analysis(sure_on_border=True))
    assert "not where every model is least sure" in flipped
    band = trimap() == 2
    text = lessons.notice("disagreement", sample)
    assert f"disagree on {band.mean():.0%} of Bengal_1 ({band.sum():,} pixels)" in text
    assert "100% of those lie on the ground-truth border band" in text and "FCN-32s is the odd one out" in text


def test_notice_maps_measures_what_the_skips_add(sample):
    text = lessons.notice("maps", sample)
    assert "pool5 alone gives FCN-8s a 2x3 grid" in text and "8x12 (16x as many)" in text
    assert "mIoU" in text


def test_notice_rejects_unknown_views_and_waits_for_an_image(sample):
    with pytest.raises(ValueError, match="compare"):
        lessons.notice("probe", sample)
    assert lessons.notice("compare", None) == ""


def test_every_picture_of_every_lesson_has_alt_text(sample, upload, fcns):
    pages = [upsampling.upsampling_lesson(fcns), metrics.confusion_tables(fake_metrics(ood=True), sample)]
    for a in (sample, upload, None):
        pages += [
            compare.ground_truth_panel(a),
            compare.disagreement_panel(a),
            lessons.confidence_panels(a, list(TITLES)),
        ]
    assert sum(len(pictures(p)) for p in pages) == 3 + 1 + 1 + 4 + 1 + 4
