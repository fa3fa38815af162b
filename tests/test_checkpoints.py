"""The shipped checkpoints: they load strictly, reproduce their stored test metrics, replay, fit the
budget; and the tables evaluate writes from a metrics.json dict."""

from __future__ import annotations

import io
import json
from dataclasses import asdict

import numpy as np
import pytest
from fakes import metrics_json
from PIL import Image

from fcn_demo.core import lineage
from fcn_demo.core.checkpoint import TrainingHistory
from fcn_demo.core.data import PetSegmentation
from fcn_demo.core.runtime import autocast_dtype, pick_device
from fcn_demo.models import VARIANTS
from fcn_demo.training.evaluate import (
    README_END,
    README_START,
    confusion_per_image,
    load_checkpoint,
    markdown_table,
    metrics_from,
    ood_table,
    training_table,
)
from fcn_demo.training.loop import REPLAY_SIZE

SIZE_BUDGET = 120_000_000  # bytes, the whole checkpoints/ folder
N_IMAGES = 4  # test images re-evaluated here (the full split: python -m fcn_demo.training.evaluate)


@pytest.fixture(scope="module")
def metrics(checkpoints):
    return json.loads((checkpoints / "metrics.json").read_text())


@pytest.fixture(scope="module")
def per_image(checkpoints):
    return json.loads((checkpoints / "metrics_per_image.json").read_text())


@pytest.mark.parametrize("name", list(VARIANTS))
def test_reproduces_stored_test_metrics(name, checkpoints, data_root, per_image):
    device = pick_device()
    model = load_checkpoint(checkpoints, name, device)
    names = per_image["names"][:N_IMAGES]
    mats = confusion_per_image(model, PetSegmentation(data_root, names), device, autocast_dtype(device))
    for got, stored in zip(mats, per_image[name][:N_IMAGES]):
        stored = np.array(stored).reshape(3, 3)
        assert got.sum() == stored.sum()  # same image, same resolution
        # bf16 kernels may round differently on another CPU: allow 0.5% of the pixels to flip.
        assert np.abs(got - stored).sum() <= 0.005 * stored.sum() * 2


def _sets(metrics: dict, per_image: dict) -> list[tuple[dict, dict]]:
    """(metrics.json section, its per-image matrices): the test split, and the ood photos if scored."""
    return [(metrics, per_image)] + ([(metrics["ood"], per_image["ood"])] if "ood" in metrics else [])


@pytest.mark.parametrize("name", list(VARIANTS))
def test_stored_metrics_are_the_sum_of_the_per_image_ones(name, metrics, per_image):
    assert metrics["images"] == len(per_image["names"]) == 298
    for section, mats in _sets(metrics, per_image):
        mats = [np.array(m).reshape(3, 3) for m in mats[name]]
        assert len(mats) == section["images"]
        recomputed = metrics_from(mats)
        for key in ("pixel_acc", "mean_acc", "miou", "fwiou"):
            assert recomputed[key] == pytest.approx(section["models"][name][key])
        if "confusion" in section["models"][name]:
            assert section["models"][name]["confusion"] == np.sum(mats, axis=0).tolist()


def test_readme_tables_are_generated_from_the_checkpoint_files(metrics, checkpoints):
    readme = (checkpoints.parent / "README.md").read_text()
    block = readme.split(README_START)[1].split(README_END)[0].strip()
    assert block == markdown_table(metrics)
    if "ood" in metrics:  # metrics.json from before the ood photos were scored has none
        assert readme.split("<!-- ood:start -->")[1].split("<!-- ood:end -->")[0].strip() == ood_table(metrics)
    block = readme.split("<!-- training:start -->")[1].split("<!-- training:end -->")[0].strip()
    assert block == training_table(checkpoints, list(VARIANTS))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_history_and_replay_are_self_describing(name, checkpoints):
    folder = checkpoints / name
    history = TrainingHistory.read(folder)  # also what an old history.json must still load into
    epochs = history.epochs
    assert history.variant == name and [e.epoch for e in epochs] == list(range(len(epochs)))
    # A run stopped early (train --stop-after) records the epochs of its schedule it did not run.
    assert history.config["epochs"] == len(epochs) - 1 + history.summary.get("epochs_not_run", 0)
    for e in epochs[1:]:
        assert np.isfinite([e.train_loss, e.val_loss, e.val_miou, *e.val_iou]).all()
    sprite = Image.open(folder / "replay_masks.png")
    assert sprite.mode == "P"
    assert sprite.size == (REPLAY_SIZE * len(history.replay_images), REPLAY_SIZE * (len(epochs) + 1))
    assert set(np.unique(np.asarray(sprite))) <= {0, 1, 2}
    # A model trained in rounds replays its earlier rounds too (fcn_demo.core.lineage), up to its saved epoch.
    rows, best, joined = lineage.replay_rows(folder, [asdict(e) for e in epochs], history.best_epoch)
    if joined is not None:
        joined = Image.open(io.BytesIO(joined))
        assert joined.size == (sprite.width, REPLAY_SIZE * (len(rows) + 1))
        assert rows[best]["val_miou"] == history.best.val_miou and rows[0]["round"] == 1


def test_checkpoints_fit_the_size_budget(checkpoints):
    total = sum(p.stat().st_size for p in checkpoints.rglob("*") if p.is_file())
    assert total <= SIZE_BUDGET


# --- the tables, from a metrics.json dict (no checkpoints needed) --------------------------------


def _model(miou: float, title: str) -> dict:
    return {"title": title, "pixel_acc": 0.9, "mean_acc": 0.8, "miou": miou, "fwiou": 0.85, "iou": [0.9, miou, 0.4],
            "working_short_side": 256, "size_multiple": 32, "confusion": [[5, 1, 0], [0, 6, 1], [1, 0, 2]]}  # fmt: skip


def test_ood_table_comes_from_the_metrics_dict():
    metrics = metrics_json({"fcn8s": _model(0.7, "FCN-8s")}, {"fcn8s": _model(0.6123, "FCN-8s")})
    table = ood_table(metrics)
    assert table.splitlines()[:3] == [
        "| Model | Pixel acc | Mean acc | mIoU | FW IoU | IoU background | IoU pet | IoU border |",
        "|---|---|---|---|---|---|---|---|",
        "| FCN-8s | 0.900 | 0.800 | 0.612 | 0.850 | 0.900 | 0.612 | 0.400 |",  # the ood entry, not the test one
    ]
    assert "3 photos of breeds without a labelled training photo (Bombay 1, British Shorthair 2)" in table
    assert "saved epoch of FCN-8s" in table and table.endswith("Generated by `python -m fcn_demo.training.evaluate`.")
    metrics["ood"]["chose_epochs_of"] = []
    assert "saved epoch" not in ood_table(metrics)
    # the test-split table reads the top level only
    assert "| FCN-8s | 0.900 | 0.800 | 0.700 |" in markdown_table(metrics) and "0.612" not in markdown_table(metrics)


def test_tables_say_each_model_s_working_size_when_they_differ():
    metrics = metrics_json(
        {"fcn8s": _model(0.7, "FCN-8s"), "unet": {**_model(0.7, "U-Net"), "working_short_side": 320}}
    )
    assert "inference at shorter side 256 px, each side a multiple of 32" in markdown_table(metrics)
    metrics["working_short_side"] = metrics["size_multiple"] = None  # evaluate: the models disagree
    assert "FCN-8s 256 px / 32, U-Net 320 px / 32" in markdown_table(metrics)


def test_write_outputs_fills_every_readme_block(tmp_path):
    from fakes import history

    from fcn_demo.training.evaluate import write_outputs

    for name in VARIANTS:
        (tmp_path / name).mkdir()
        history(name).write(tmp_path / name)
    models = {n: _model(0.7, v.title) for n, v in VARIANTS.items()}
    metrics = metrics_json(models, {n: _model(0.5, m["title"]) for n, m in models.items()})
    readme = tmp_path / "README.md"
    readme.write_text("".join(f"<!-- {b}:start -->\nold\n<!-- {b}:end -->\n" for b in ("metrics", "ood", "training")))
    per_image = {"names": [], **{n: [] for n in VARIANTS}, "ood": {"names": [], **{n: [] for n in VARIANTS}}}
    text = write_outputs(metrics, per_image, tmp_path, readme, list(VARIANTS))
    assert text == f"{markdown_table(metrics)}\n\n{ood_table(metrics)}"
    assert (tmp_path / "metrics.md").read_text() == text + "\n"
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert json.loads((tmp_path / "metrics_per_image.json").read_text())["ood"]["names"] == []
    body = readme.read_text()
    assert "old" not in body and ood_table(metrics) in body and "OOD mIoU at best" in body
