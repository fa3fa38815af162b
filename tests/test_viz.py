"""fcn_demo.page.viz: overlays, error maps, palette masks, heatmaps, curves and the replay payload."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from fcn_demo.core.checkpoint import TrainingHistory
from fcn_demo.core.data import CLASS_COLORS, CLASSES, mask_png
from fcn_demo.models import VARIANTS, MapSpec
from fcn_demo.page.viz import (
    CHART_DPI,
    CHART_W,
    ERROR_COLOR,
    colorize,
    error_map,
    heatmaps,
    iou_bars,
    legend_html,
    map_stride,
    overlay,
    replay_payload,
    training_curves,
)


@pytest.fixture
def image_and_mask():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    mask = np.zeros((40, 60), np.uint8)
    mask[10:30, 20:40] = 1
    mask[10, 20:40] = 2
    return image, mask


def test_overlay_opacity_and_mask_only(image_and_mask):
    image, mask = image_and_mask
    assert np.array_equal(overlay(image, mask, 0.0), image)
    full = overlay(image, mask, 1.0)
    assert (full[mask == 1] == CLASS_COLORS[1]).all()
    assert not np.array_equal(full[mask == 0], colorize(mask)[mask == 0]), "background stays see-through"
    assert np.array_equal(overlay(image, mask, 0.3, mask_only=True), colorize(mask))


def test_error_map_marks_exactly_the_wrong_pixels(image_and_mask):
    image, mask = image_and_mask
    pred = mask.copy()
    pred[0, :5] = 1
    out = error_map(image, pred, mask)
    red = np.all(np.abs(out.astype(int) - ERROR_COLOR) < 60, axis=-1)
    assert red[0, :5].all() and red.sum() == 5


def test_mask_png_keeps_class_indices(image_and_mask):
    _, mask = image_and_mask
    buf = io.BytesIO()
    mask_png(mask).save(buf, "PNG")
    back = Image.open(io.BytesIO(buf.getvalue()))
    assert back.mode == "P"
    assert np.array_equal(np.asarray(back), mask)
    assert tuple(back.convert("RGB").getpixel((25, 15))) == CLASS_COLORS[1]


def test_legend_names_every_class():
    text = legend_html(errors=True)
    assert all(c in text for c in CLASSES) and "wrong pixel" in text


@pytest.mark.parametrize(("map_hw", "stride"), [((8, 11), 32), ((16, 22), 16), ((32, 43), 8), ((256, 341), 1)])
def test_map_stride_with_ceil_mode(map_hw, stride):
    assert map_stride(map_hw, (256, 341)) == stride


def test_heatmaps_draw_cells_without_smoothing():
    image = np.full((40, 60, 3), 128, np.uint8)  # flat, so every colour change comes from the map
    scores = np.zeros((3, 2, 2), np.float32)
    scores[1, 0, 0] = 5.0  # one hot cell
    out = heatmaps(
        image, [(MapSpec("score_pool5", "pool5 alone", 32), scores)], work_hw=(64, 64), cls=1, slots=5, panel=100
    )
    assert out.size[0] > 5 * 100  # five slots, one used
    assert out.mode == "P"  # palette: lossless and quick to PNG-encode
    arr = np.asarray(out.convert("RGB")).astype(int)
    # The first slot's picture is 100 px wide from x=12; its rows are the ones with no white pixel
    # at all (caption rows are text on white). A row through the top cells crosses two cells.
    picture_rows = np.flatnonzero((arr[:, 12:112] < 250).any(-1).all(-1))  # the palette may make white 254
    row = arr[picture_rows[0] + 5, 12:112]
    assert len({tuple(p) for p in row}) == 2, "two cells, two colours: nothing interpolated between them"
    assert (row[0] != row[-1]).any()


def test_training_curves_take_histories_or_their_dicts_and_iou_bars():
    from dataclasses import asdict

    from fakes import history

    new, old = history("fcn32s"), history("unet", ood=False, trained_on=None)
    curves = training_curves({"fcn32s": new, "unet": asdict(old)})  # a TrainingHistory, and a history.json dict
    assert len(curves) == 2  # loss and mIoU, each a phone's width (stacked there, side by side on a desk)
    for chart in curves:
        assert chart.size[0] == round(CHART_W * CHART_DPI)
        assert np.asarray(chart).std() > 0
    with pytest.raises(TypeError):  # a dict that is not a history.json says so
        training_curves({"fcn32s": {"epochs": [], "best_epoch": 0}})
    metrics = {"split": "test", "classes": list(CLASSES),
               "models": {n: {"title": n, "iou": [0.9, 0.8, 0.4]} for n in VARIANTS}}  # fmt: skip
    assert iou_bars(metrics).size[0] == round(CHART_W * CHART_DPI)


def test_replay_payload_from_checkpoint_folders(app_checkpoints):
    payload = replay_payload({n: (v.title, app_checkpoints / n) for n, v in VARIANTS.items()})
    assert [m["name"] for m in payload["models"]] == list(VARIANTS)
    assert payload["tile"] == 128 and len(payload["strips"]) >= 1
    for m in payload["models"]:
        hist = TrainingHistory.read(app_checkpoints / m["name"])
        # A model trained in rounds replays the earlier ones first (fcn_demo.core.lineage).
        lineage = app_checkpoints / m["name"] / "lineage.json"
        earlier = json.loads(lineage.read_text()) if lineage.exists() else []
        now = hist.epochs[1:] if earlier else hist.epochs
        assert [e["val_miou"] for e in m["epochs"]] == [r["val_miou"] for r in earlier] + [e.val_miou for e in now]
        assert [e["epoch"] for e in m["epochs"]] == list(range(len(m["epochs"])))
        assert m["epochs"][m["best_epoch"]]["val_miou"] == hist.best.val_miou
        assert m["masks"].startswith("data:image/png;base64,")
        assert m["strip"] < len(payload["strips"])
    assert json.dumps(payload)  # goes to the browser as JSON
    assert replay_payload({"fcn32s": ("FCN-32s", None)}) is None
