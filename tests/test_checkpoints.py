"""The shipped checkpoints: they load strictly, reproduce their stored test metrics, replay, fit the budget."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fcn_demo.data import PetSegmentation
from fcn_demo.evaluate import (
    README_END,
    README_START,
    confusion_per_image,
    load_checkpoint,
    markdown_table,
    metrics_from,
    training_table,
)
from fcn_demo.models import VARIANTS
from fcn_demo.runtime import autocast_dtype, pick_device
from fcn_demo.train import REPLAY_SIZE

SIZE_BUDGET = 120_000_000  # bytes, the whole checkpoints/ folder
N_IMAGES = 4  # test images re-evaluated here (the full split: python -m fcn_demo.evaluate)


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


@pytest.mark.parametrize("name", list(VARIANTS))
def test_stored_metrics_are_the_sum_of_the_per_image_ones(name, metrics, per_image):
    mats = [np.array(m).reshape(3, 3) for m in per_image[name]]
    assert len(mats) == metrics["images"] == 298
    recomputed = metrics_from(mats)
    for key in ("pixel_acc", "mean_acc", "miou", "fwiou"):
        assert recomputed[key] == pytest.approx(metrics["models"][name][key])


def test_readme_tables_are_generated_from_the_checkpoint_files(metrics, checkpoints):
    readme = (checkpoints.parent / "README.md").read_text()
    block = readme.split(README_START)[1].split(README_END)[0].strip()
    assert block == markdown_table(metrics)
    block = readme.split("<!-- training:start -->")[1].split("<!-- training:end -->")[0].strip()
    assert block == training_table(checkpoints, list(VARIANTS))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_history_and_replay_are_self_describing(name, checkpoints):
    folder = checkpoints / name
    history = json.loads((folder / "history.json").read_text())
    epochs = history["epochs"]
    assert history["variant"] == name and [e["epoch"] for e in epochs] == list(range(len(epochs)))
    assert history["config"]["epochs"] == len(epochs) - 1
    for e in epochs[1:]:
        assert np.isfinite([e["train_loss"], e["val_loss"], e["val_miou"], *e["val_iou"]]).all()
    sprite = Image.open(folder / "replay_masks.png")
    assert sprite.mode == "P"
    assert sprite.size == (REPLAY_SIZE * len(history["replay_images"]), REPLAY_SIZE * (len(epochs) + 1))
    assert set(np.unique(np.asarray(sprite))) <= {0, 1, 2}


def test_checkpoints_fit_the_size_budget(checkpoints):
    total = sum(p.stat().st_size for p in checkpoints.rglob("*") if p.is_file())
    assert total <= SIZE_BUDGET
